"""`tlogcheck checklist daily|weekly|quarterly [target options]`: playbook §5, runnable.

Every item prints ✓ (verified), ✗ (proved wrong, under the alert of what was observed),
or – (not verified, with the reason). Exit 0 when nothing is ✗ or inconclusive, 1 when
an item is ✗, 6 when the target could not be asked (and nothing is ✗), 2 for a bad
option (never an item), 130 when interrupted. The target options are the suite's
(same flags and env twins); without `--tlog-url` the embedded reference deployment is
started (with `--tlog-embedded-fault`, for rehearsals). Each item is printed to stderr
as it is decided, so Ctrl-C keeps what was found.

    daily      health on both views, cache hit ratio of every immutable path class, 5xx
               rate and p95 over a short load phase (--load-seconds, default 10)
    weekly     canary rehearsal (the suite with the gate in dry run), the invalidation
               command (--gate-invalidate), the alert rules (promtool, if installed)
    quarterly  custody records (--tlog-custody FILE, --tlog-known-root, --tlog-state)
               proved against the served tree, the full db.jsonl audit, the signature
               policy
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tlogcheck.cli import optargs
from tlogcheck.errors import ConfigError
from tlogcheck.gate import session as gate_options
from tlogcheck.incident.checklist import CADENCES, Checklist, Item, TargetInfo
from tlogcheck.options import Option, positive_int
from tlogcheck.options import target as target_options

EMBEDDED = [target_options.EMBEDDED_FAULT, target_options.EMBEDDED_ENTRIES]
GATE = [gate_options.ROLLOUT, gate_options.GATE_INVALIDATE]
CUSTODY = Option(
    "--tlog-custody",
    "TLOG_CUSTODY",
    "quarterly: custody records, one `SIZE HEX [DATE]` a line (# comments).",
    metavar="FILE",
)
LOAD_SECONDS = Option(
    "--load-seconds",
    "TLOG_CHECKLIST_LOAD_SECONDS",
    "daily: seconds of the load phase.",
    default="10",
    convert=positive_int,
    metavar="SECONDS",
)
ALERT_RULES = Option(
    "--alert-rules",
    "TLOG_ALERT_RULES",
    "weekly: a directory of Prometheus rules (*.rules.yaml) and their promtool tests "
    "(*.test.yaml). Default: the alert rules of the installed package.",
    metavar="DIR",
)
OWN = [CUSTODY, LOAD_SECONDS, ALERT_RULES]
EXIT_INTERRUPTED = 130


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cadence", choices=CADENCES, help="which §5 checklist")
    # The same choices as every command that prints a report; text is the Markdown list.
    optargs.add_format(parser, default="markdown")
    optargs.add_options(parser, OWN)
    optargs.add_target(parser)
    optargs.add_options(parser.add_argument_group("the embedded deployment"), EMBEDDED)
    optargs.add_options(parser.add_argument_group("weekly (the gate's options)"), GATE)


@contextmanager
def _target(args: argparse.Namespace, reach: optargs.Reach) -> Iterator[TargetInfo]:
    if reach.url:
        yield TargetInfo(reach, reach.url)
        return
    from dataclasses import replace

    from tlogcheck.db import read_sha256_file
    from tlogcheck.refstack.stack import start_stack

    faults = tuple(optargs.resolve(args, target_options.EMBEDDED_FAULT))
    entries = int(optargs.resolve(args, target_options.EMBEDDED_ENTRIES))
    with start_stack(entries=entries, faults=faults) as stack:
        info = stack.info
        what = f"the embedded reference deployment at {info.edge_url} ({entries} entries"
        what += f", faults: {', '.join(faults)})" if faults else ")"
        # Its own key and release db unless given.
        embedded = replace(
            reach,
            url=info.edge_url,
            vkeys=reach.vkeys or (target_options.verifier_key(info.vkey),),
            db=reach.db or info.db_path,
        )
        if reach.db is None:
            embedded = replace(
                embedded,
                db_sha256=read_sha256_file(info.db_sha256_path),
                db_sha256_source=f"from {info.db_sha256_path}",
            )
        yield TargetInfo(embedded, what, faults, entries)


def _run(args: argparse.Namespace, t: TargetInfo, cl: Checklist) -> Checklist:
    if args.cadence == "daily":
        from tlogcheck.incident.daily import DailySettings, run_daily

        seconds = int(optargs.resolve(args, LOAD_SECONDS))
        return run_daily(t, DailySettings(load_seconds=seconds), cl)
    if args.cadence == "weekly":
        from tlogcheck.incident.weekly import WeeklySettings, run_weekly

        rollout = optargs.resolve(args, gate_options.ROLLOUT) or "tlog-ro"
        invalidate = optargs.resolve(args, gate_options.GATE_INVALIDATE)
        rules = optargs.resolve(args, ALERT_RULES)
        settings = WeeklySettings(rollout=rollout, invalidate=invalidate, rules_dir=rules)
        return run_weekly(t, settings, cl)
    from tlogcheck.incident.quarterly import parse_custody, run_quarterly

    custody_file = optargs.resolve(args, CUSTODY)
    custody = parse_custody(custody_file) if custody_file else []
    return run_quarterly(t, custody, cl)


def _progress(item: Item) -> None:
    print(f"tlogcheck checklist: {item.line()}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    # Options are checked before anything starts: a bad one is exit 2, never an item.
    reach = optargs.resolve_target(args)
    for opt in (*EMBEDDED, *GATE, *OWN):
        optargs.resolve(args, opt)
    if optargs.resolve(args, CUSTODY) and args.cadence != "quarterly":
        raise ConfigError("--tlog-custody is for the quarterly checklist")
    if reach.api != "v1" and args.cadence != "weekly":
        raise ConfigError(
            f"--tlog-api {reach.api}: the {args.cadence} checklist reads API v1 (the weekly "
            "rehearsal runs the suite, which checks a tiled log)"
        )
    if args.cadence == "quarterly" and optargs.resolve(args, CUSTODY):
        from tlogcheck.incident.quarterly import parse_custody

        parse_custody(optargs.resolve(args, CUSTODY))
    rules = optargs.resolve(args, ALERT_RULES)
    if rules is not None and args.cadence != "weekly":
        raise ConfigError("--alert-rules is for the weekly checklist")
    if rules is not None and not os.path.isdir(rules):
        raise ConfigError(f"--alert-rules {rules}: not a directory")
    cl = Checklist(args.cadence, reach.url or "the embedded reference deployment")
    cl.on_item = _progress
    try:
        with _target(args, reach) as t:
            cl.target = t.description
            print(
                f"tlogcheck checklist {args.cadence}: checking {t.description}",
                file=sys.stderr,
                flush=True,
            )
            try:
                _run(args, t, cl)
            except KeyboardInterrupt:
                t.abort()  # the requests in flight end now, not at their deadline
                raise
    except KeyboardInterrupt:
        cl.interrupted = True
        found = "; ".join(i.line() for i in cl.items) or "nothing yet"
        print(
            f"tlogcheck checklist: interrupted after {len(cl.items)} items; found so far: {found}",
            file=sys.stderr,
            flush=True,
        )
    sys.stdout.write(_render(cl, args.format))
    sys.stdout.flush()
    return cl.exit_status


def _render(cl: Checklist, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(cl.to_json(), indent=2, ensure_ascii=False) + "\n"
    return cl.render("markdown")
