"""`tlogcheck triage ALERT`: the playbook's §1 row, the §2 routine and the §3 checklist,
judged by the suite's own rules (`tlogcheck.incident.triage`).

The verdict and the findings come first, and the report fits a screen; `--verbose` adds
the request-level evidence of every step. Each step is printed to stderr as it
completes, so an interrupted triage (Ctrl-C) keeps what it found: it then prints the
findings so far and exits 130.

Exit 0 the alert's problem was looked for and not found; 1 confirmed; 2 usage error; 6
not judged (the target could not be asked, or what would judge the alert met a 5xx or a
stall first — those findings are shown); 130 interrupted. `--out DIR` also writes an
evidence bundle of what was served.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from tlogcheck.cli import optargs
from tlogcheck.client import ResponseMemo, TLogClient
from tlogcheck.errors import (
    EXIT_FAILED,
    EXIT_INCONCLUSIVE,
    EXIT_OK,
    EXIT_USAGE,
    ConfigError,
)
from tlogcheck.incident.bundle import Recorder, write_bundle
from tlogcheck.incident.kube import kube_steps
from tlogcheck.incident.triage import Step, Triage, TriageInput, run_triage
from tlogcheck.options import Option, non_negative_int
from tlogcheck.options import rollout as rollout_options
from tlogcheck.options import target as target_options
from tlogcheck.outputs import Output, check_outputs, new_directory
from tlogcheck.playbook import ALERTS, SCENARIOS, alert_named

EXIT_INTERRUPTED = 130
# The gate's flags and env twins, with triage's meaning.
ROLLOUT = replace(
    rollout_options.ROLLOUT,
    help="the Argo Rollout behind the target: §2.1 reads it and its pods, §2.2 their logs "
    "(read-only; without it, or without Kubernetes access, both are skipped with the reason).",
)
ROLLOUT_NAMESPACE = rollout_options.ROLLOUT_NAMESPACE
TAIL = Option(
    "--tail",
    "TLOG_TRIAGE_TAIL",
    "log lines read per pod (§2.2).",
    default="200",
    convert=non_negative_int,
    metavar="N",
)
SHOWN = 3  # findings of other alerts shown without --verbose
# Without --verbose a line is cut to this many characters: the report fits a screen.
WIDTH = 160
STEP_WIDTH = 110


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("alert", metavar="ALERT", help=f"one of the §1 alerts: {', '.join(ALERTS)}")
    optargs.add_target(
        parser,
        url_help="the deployment to triage: its public (edge / CDN) base URL (required).",
    )
    parser.add_argument(
        "--index",
        dest=target_options.INDEX.dest,
        action="append",
        metavar="I",
        help="the same as --tlog-index: re-verify this entry too (repeatable)",
    )
    group = parser.add_argument_group("Kubernetes (read-only, the gate's flags)")
    optargs.add_options(group, (ROLLOUT, ROLLOUT_NAMESPACE, TAIL))
    parser.add_argument(
        "--from-report",
        metavar="PATH",
        help="also re-verify the failing indices of a suite JSON report (--tlog-report-json)",
    )
    optargs.add_format(parser)
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="the request-level evidence of every step (responses, hashes, headers)",
    )
    parser.add_argument(
        "--out", metavar="DIR", help="write an evidence bundle of every response seen to DIR"
    )


_FAILING_INDEX = re.compile(r"\bindex ([0-9]{1,20}):")
MAX_REPORT_BYTES = 64 * 2**20


def failing_indices(path: str) -> list[int]:
    """The entry indices named as failing in the messages of a report's failed tests."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_REPORT_BYTES + 1)
        if len(data) > MAX_REPORT_BYTES:
            raise ConfigError(f"--from-report {path}: larger than {MAX_REPORT_BYTES} bytes")
        doc = json.loads(data)
        checks = doc["checks"]
        messages = [
            str(t.get("message", ""))
            for c in checks.values()
            for t in c["tests"]
            if t.get("outcome") == "failed"
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"--from-report {path}: not a tlogcheck JSON report: {exc}") from None
    return sorted({int(m) for text in messages for m in _FAILING_INDEX.findall(text)})


def _inputs(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The files triage reads, which --out must never name."""
    found = [("--from-report", args.from_report)] if args.from_report else []
    found += [
        (target_options.VKEY.flag, k) for k in args.tlog_vkey or [] if os.path.isfile(k)
    ]
    return found


def commands(alert: str, url: str, rollout: str | None, namespace: str | None) -> list[str]:
    """The §1 immediate actions as commands, with the Rollout and namespace filled in."""
    name, ns = rollout or "<rollout>", namespace or "<namespace>"
    abort = f"kubectl argo rollouts abort {name} -n {ns}"
    undo = f"kubectl argo rollouts undo {name} -n {ns}"
    by_alert = {
        "TLogAvailabilityDown": [abort, undo, f"curl -sI {url}/healthz"],
        "TLogCacheMissHigh": [
            f"curl -sI {url}/v1/log/entry/0 | grep -i -e cache -e age",
            f"tlogcheck triage TLogCacheMissHigh --tlog-url {url}",
        ],
        "TLogInclusionProofFail": [
            "sha256sum db.jsonl",
            f"tlogcheck verify {url} <INDEX>",
            f"kubectl argo rollouts set image {name} -n {ns} tlog-ro=<last good tag>",
        ],
        "Ingress5xxHigh": [abort, f"kubectl logs -n {ns} -l <the Rollout's selector> --tail=200"],
        "LatencyP95High": [f"kubectl get hpa -n {ns}", f"kubectl top pods -n {ns}"],
    }
    return by_alert.get(alert, [])


# --- what is printed -----------------------------------------------------------------------

VERDICTS = {
    "confirmed": "CONFIRMED: the alert's problem is there",
    "not found": "not found: the alert's problem was looked for and is not there",
    "not judged": "NOT JUDGED: what would judge the alert could not (see below)",
    "interrupted": "INTERRUPTED: what was found so far is below",
}


def _step_doc(s: Step) -> dict[str, Any]:
    return {
        "section": s.section,
        "title": s.title,
        "mark": s.mark,
        "finding": s.finding,
        "skipped": s.skipped,
        "unjudged": s.unjudged,
        "problem_of": sorted(s.problem_of),
        "findings": [
            {
                "alert": f.alert,
                "check": f.check,
                "how": f.how,
                "expected": f.expected,
                "served": f.served,
            }
            for f in s.findings
        ],
        "evidence": s.evidence,
    }


def as_dict(t: Triage, bundle: str | None, cmds: Sequence[str] = ()) -> dict[str, Any]:
    a = t.alert
    scenario = SCENARIOS.get(a.scenario)
    return {
        "alert": a.name,
        "meaning": a.meaning("en"),
        "priority": a.priority,
        "verdict": t.verdict,
        "confirmed": t.confirmed,
        "could_not_ask": t.could_not_ask,
        "interrupted": t.interrupted,
        "not_judged": [f"{s.section} {s.title}: {s.unjudged or s.finding}" for s in t.not_judged],
        "actions": [x("en") for x in a.actions],
        "commands": list(cmds),
        "steps": [_step_doc(s) for s in t.steps],
        "procedure": {
            "section": a.scenario,
            "steps": [x("en") for x in scenario.steps] if scenario else [],
        },
        "bundle": bundle,
    }


def _clip(text: str, verbose: bool, width: int = WIDTH) -> str:
    first = text.splitlines()[0] if text else ""
    return first if verbose or len(first) <= width else first[: width - 1] + "…"


def step_line(s: dict[str, Any], verbose: bool = False) -> str:
    what = f"skipped: {s['skipped']}" if s["skipped"] else s["finding"]
    head = f"{s['mark']} {s['section']} {s['title']}: "
    return head + _clip(what, verbose, max(40, STEP_WIDTH - len(head)))


def render(doc: dict[str, Any], fmt: str, *, verbose: bool = False) -> str:
    if fmt == "json":
        return json.dumps(doc, indent=2, ensure_ascii=False)
    h = "## " if fmt == "markdown" else ""
    li = "- " if fmt == "markdown" else "  "
    alert = doc["alert"]
    mine = [
        (s, f) for s in doc["steps"] for f in s["findings"] if f["alert"] == alert
    ]
    others = [(s, f) for s in doc["steps"] for f in s["findings"] if f["alert"] != alert]
    lines = [
        f"{h}{alert} ({doc['priority']}): {doc['meaning']}",
        f"verdict: {VERDICTS[doc['verdict']]}",
    ]
    if mine:
        lines.append("findings:")
        for s, f in mine:
            lines.append(f"{li}✗ {s['section']} ({f['how']}): {_clip(f['served'], verbose)}")
    if doc["verdict"] != "confirmed":
        for text in doc["not_judged"]:
            lines.append(f"{li}? not judged: {_clip(text, verbose)}")
    if others:
        lines.append("also found (other alerts):")
        for s, f in others[: None if verbose else SHOWN]:
            lines.append(
                f"{li}✗ {f['alert']} ({s['section']}, {f['how']}): {_clip(f['served'], verbose)}"
            )
        if len(others) > SHOWN and not verbose:
            lines.append(f"{li}... and {len(others) - SHOWN} more (--verbose)")
    lines += ["", f"{h}steps"]
    for s in doc["steps"]:
        lines.append(f"{li}{step_line(s, verbose)}")
        if verbose:
            for f in s["findings"]:
                lines.append(f"      expected: {f['expected']}")
                lines.extend(f"      served:   {x}" for x in f["served"].splitlines())
            lines.extend(f"      {e}" for e in s["evidence"])
    lines += ["", f"{h}immediate actions: " + "; ".join(doc["actions"])]
    lines.extend(f"{li}$ {c}" for c in doc["commands"])
    lines.append(f"{h}procedure {doc['procedure']['section']}")
    lines.extend(f"{li}[ ] {x}" for x in doc["procedure"]["steps"])
    if doc["bundle"]:
        bundle = doc["bundle"]
        lines.append(
            f"evidence bundle: {bundle} (`tlogcheck evidence verify {bundle} --tlog-vkey KEY`: "
            "the log's key, pinned from outside the bundle, is what can prove)"
        )
    if not verbose:
        lines.append("(request-level evidence: --verbose)")
    return "\n".join(lines)


def _progress(step: Step) -> None:
    print(f"tlogcheck triage: {step_line(_step_doc(step))}", file=sys.stderr, flush=True)


def exit_status(t: Triage) -> int:
    if t.interrupted:
        return EXIT_INTERRUPTED
    if t.confirmed:
        return EXIT_FAILED
    if t.verdict == "not judged":
        return EXIT_INCONCLUSIVE
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    alert = alert_named(args.alert)
    if alert is None:
        print(f"tlogcheck triage: error: unknown alert {args.alert!r}; one of: {', '.join(ALERTS)}")
        return EXIT_USAGE
    # Every option is checked before the first request: a bad one is exit 2, never a step;
    # a bundle is never written over another.
    if args.out:
        check_outputs([Output("--out", args.out, "bundle")], _inputs(args))
    reach = optargs.resolve_target(args)
    if reach.url is None:
        raise ConfigError("--tlog-url (or TLOG_URL) is required: the deployment to triage")
    if reach.api != "v1":
        raise ConfigError("--tlog-api tiles: triage reads API v1 (the suite checks a tiled log)")
    url = reach.url
    rollout = optargs.resolve(args, ROLLOUT)
    namespace = optargs.resolve(args, ROLLOUT_NAMESPACE)
    tail = optargs.resolve(args, TAIL)
    from tlogcheck.note import parse_verifier_key

    given = TriageInput(
        vkeys=[parse_verifier_key(k) for k in reach.vkeys],
        indices=reach.indices,
        report_indices=failing_indices(args.from_report) if args.from_report else (),
        db=reach.db,
        db_sha256=reach.db_sha256,
        db_sha256_source=reach.db_sha256_source,
        known_roots=reach.recorded(),
    )
    triage = Triage(alert)
    cmds = commands(alert.name, url, rollout, namespace)
    recorder = Recorder() if args.out else None
    # One memo for both clients: a URL that stalled is not asked again by either.
    memo = ResponseMemo()
    try:
        for step in kube_steps(rollout, namespace, tail):
            triage.steps.append(step)
            _progress(step)
        with (
            TLogClient(url, recorder=recorder, memo=memo, **reach.client_kwargs()) as client,
            # Without retries: a 5xx the suite's client would retry is what a user saw.
            TLogClient(url, retries=0, memo=memo, **reach.client_kwargs()) as probe,
        ):
            try:
                run_triage(triage, client, probe, given, on_step=_progress)
            except KeyboardInterrupt:
                # The requests in flight end now, not at their deadline.
                client.abort()
                probe.abort()
                raise
    except KeyboardInterrupt:
        triage.interrupted = True
        found = "; ".join(f.line() for _, f in triage.findings) or "nothing yet"
        print(
            f"tlogcheck triage: interrupted after {len(triage.steps)} steps; found so far: "
            f"{found}",
            file=sys.stderr,
            flush=True,
        )
        print(render(as_dict(triage, None, cmds), args.format, verbose=args.verbose), flush=True)
        return EXIT_INTERRUPTED
    bundle = bundle_error = None
    if recorder is not None:
        doc = as_dict(triage, None)
        try:  # whole or not at all (tlogcheck.outputs); a failure changes no verdict
            with new_directory(args.out, option="--out") as work:
                write_bundle(
                    work,
                    recorder,
                    target={"url": url, "origin_url": reach.origin_url},
                    vkeys=list(reach.vkeys),
                    verdicts=doc["steps"],
                    options={
                        "alert": alert.name,
                        "index": list(reach.indices),
                        "timeout": reach.timeout,
                    },
                )
            bundle = str(args.out)
        except ConfigError as exc:
            bundle_error = f"evidence bundle NOT written: {exc}"
    print(render(as_dict(triage, bundle, cmds), args.format, verbose=args.verbose), flush=True)
    if bundle_error:  # after the verdict, never in place of it (JSON stays parseable)
        print(bundle_error, file=sys.stderr if args.format == "json" else sys.stdout)
    return exit_status(triage)
