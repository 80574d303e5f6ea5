"""`tlogcheck checklist daily|weekly|quarterly [target options]`: playbook §5, runnable.

Every item prints ✓ (verified), ✗ (proved wrong) or – (not verified, with the
reason). Exit 0 when nothing is ✗ or inconclusive, 1 when an item is ✗, 6 when the
target could not be asked (and nothing is ✗), 2 for bad options. The target options
are the suite's (same flags and env twins); without `--tlog-url` the embedded
reference deployment is started (with `--tlog-embedded-fault`, for rehearsals).

    daily      health on both views, cache hit ratio, 5xx rate and p95 over a short
               load phase (--load-seconds, default 10)
    weekly     canary rehearsal (the suite with the gate in dry run), the invalidation
               command (--gate-invalidate), the alert rules (promtool, if installed)
    quarterly  custody records (--tlog-custody FILE, --tlog-known-root) proved against
               the served tree, the full db.jsonl audit, the signature policy
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tlogcheck.cli import optargs
from tlogcheck.errors import ConfigError
from tlogcheck.gate import session as gate_options
from tlogcheck.incident.checklist import CADENCES, FORMATS, Checklist, TargetInfo
from tlogcheck.options import Option, positive_int
from tlogcheck.options import target as target_options

TARGET = [
    target_options.URL,
    target_options.ORIGIN_URL,
    target_options.VKEY,
    target_options.DB,
    target_options.DB_SHA256,
    target_options.KNOWN_ROOT,
    target_options.TIMEOUT,
    target_options.EMBEDDED_FAULT,
    target_options.EMBEDDED_ENTRIES,
]
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
OWN = [CUSTODY, LOAD_SECONDS]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cadence", choices=CADENCES, help="which §5 checklist")
    parser.add_argument(
        "--format", choices=FORMATS, default="markdown", help="markdown (default) or json"
    )
    optargs.add_options(parser, OWN)
    group = parser.add_argument_group("target (the suite's options)")
    optargs.add_options(group, TARGET)
    group = parser.add_argument_group("weekly (the gate's options)")
    optargs.add_options(group, GATE)


@contextmanager
def _target(args: argparse.Namespace) -> Iterator[TargetInfo]:
    url = optargs.resolve(args, target_options.URL)
    vkeys = tuple(optargs.resolve(args, target_options.VKEY))
    db = optargs.resolve(args, target_options.DB)
    db_sha = optargs.resolve(args, target_options.DB_SHA256)
    timeout = float(optargs.resolve(args, target_options.TIMEOUT))
    if url:
        yield TargetInfo(
            url, optargs.resolve(args, target_options.ORIGIN_URL), vkeys, db, db_sha, timeout, url
        )
        return
    from tlogcheck.refstack.stack import start_stack

    faults = tuple(optargs.resolve(args, target_options.EMBEDDED_FAULT))
    entries = int(optargs.resolve(args, target_options.EMBEDDED_ENTRIES))
    with start_stack(entries=entries, faults=faults) as stack:
        info = stack.info
        what = f"the embedded reference deployment at {info.edge_url} ({entries} entries"
        what += f", faults: {', '.join(faults)})" if faults else ")"
        yield TargetInfo(
            info.edge_url,
            None,
            vkeys or (info.vkey,),
            db or info.db_path,
            db_sha or (None if db else info.db_sha256_path),
            timeout,
            what,
            faults,
            entries,
        )


def _run(args: argparse.Namespace, t: TargetInfo) -> Checklist:
    if args.cadence == "daily":
        from tlogcheck.incident.daily import DailySettings, run_daily

        seconds = int(optargs.resolve(args, LOAD_SECONDS))
        return run_daily(t, DailySettings(load_seconds=seconds))
    if args.cadence == "weekly":
        from tlogcheck.incident.weekly import WeeklySettings, run_weekly

        rollout = optargs.resolve(args, gate_options.ROLLOUT) or "tlog-ro"
        invalidate = optargs.resolve(args, gate_options.GATE_INVALIDATE)
        return run_weekly(t, WeeklySettings(rollout=rollout, invalidate=invalidate))
    from tlogcheck.incident.quarterly import parse_custody, run_quarterly

    custody_file = optargs.resolve(args, CUSTODY)
    custody = parse_custody(custody_file) if custody_file else []
    known = optargs.resolve(args, target_options.KNOWN_ROOT)
    return run_quarterly(t, known, custody)


def run(args: argparse.Namespace) -> int:
    # Options are checked before anything starts: a bad one is exit 2, not a failed item.
    for opt in (*TARGET, *GATE, *OWN):
        optargs.resolve(args, opt)
    if optargs.resolve(args, CUSTODY) and args.cadence != "quarterly":
        raise ConfigError("--tlog-custody is for the quarterly checklist")
    with _target(args) as t:
        checklist = _run(args, t)
    sys.stdout.write(checklist.render(args.format))
    return checklist.exit_status
