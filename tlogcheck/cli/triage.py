"""`tlogcheck triage ALERT`: the playbook's §1 row, the §2 routine and the §3 checklist.

Exit 0 nothing wrong found; 1 the alert's problem confirmed; 2 usage error; 6 could
not ask the target. `--out DIR` also writes an evidence bundle of what was served.
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

from tlogcheck import note
from tlogcheck.client import TLogClient
from tlogcheck.errors import (
    EXIT_FAILED,
    EXIT_INCONCLUSIVE,
    EXIT_OK,
    EXIT_USAGE,
    ConfigError,
    NoteError,
)
from tlogcheck.gate.session import ROLLOUT as GATE_ROLLOUT
from tlogcheck.gate.session import ROLLOUT_NAMESPACE as GATE_ROLLOUT_NAMESPACE
from tlogcheck.incident.bundle import Recorder, write_bundle
from tlogcheck.incident.kube import kube_steps
from tlogcheck.incident.triage import Triage, run_triage
from tlogcheck.options import Option
from tlogcheck.options.target import CA_BUNDLE, HEADER, ORIGIN_URL, PROXY, TIMEOUT, VKEY
from tlogcheck.options.target import URL as SUITE_URL
from tlogcheck.outputs import Output, check_outputs, new_directory
from tlogcheck.playbook import ALERTS, SCENARIOS, alert_named

# The suite's target options; --tlog-url is required here (triage has no embedded target).
URL = replace(
    SUITE_URL, help="the deployment to triage: its public (edge / CDN) base URL (required)."
)
TARGET_OPTIONS: tuple[Option, ...] = (URL, ORIGIN_URL, VKEY, TIMEOUT, HEADER, CA_BUNDLE, PROXY)
# The gate's own flags and env twins, with triage's meaning.
ROLLOUT = replace(
    GATE_ROLLOUT,
    help="the Argo Rollout behind the target: §2.1 reads it and its pods, §2.2 their logs "
    "(read-only; without it, or without Kubernetes access, both are skipped with the reason).",
)
ROLLOUT_NAMESPACE = replace(GATE_ROLLOUT_NAMESPACE, help=GATE_ROLLOUT_NAMESPACE.help)


def add_target_options(parser: argparse.ArgumentParser, options: Sequence[Option]) -> None:
    """The suite's options on an argparse parser: same flags, env twins and help."""
    group = parser.add_argument_group("target (the suite's options, with their env twins)")
    for opt in options:
        kwargs: dict[str, Any] = {
            "dest": opt.dest,
            "default": None,
            "help": f"{opt.help} [env {opt.env}]",
        }
        if opt.metavar:
            kwargs["metavar"] = opt.metavar
        if opt.multiple:
            kwargs["action"] = "append"
        parser_group = group
        parser_group.add_argument(opt.flag, **kwargs)


def resolve_option(args: argparse.Namespace, opt: Option) -> Any:
    """CLI > env > default, converted like the suite does; ConfigError naming the source."""
    raw: Any = getattr(args, opt.dest)
    source = f"command line {opt.flag}"
    if raw is None and os.environ.get(opt.env, "").strip():
        value = os.environ[opt.env]
        if opt.multiple and opt.env_separator is not None:
            raw = [v for v in value.split(opt.env_separator) if v.strip()]
        else:
            raw = value.replace(",", " ").split() if opt.multiple else value
        source = f"environment {opt.env}"
    if raw is None:
        raw, source = opt.default, "default"
    if raw is None:
        return [] if opt.multiple else None
    try:
        if opt.multiple:
            return [opt.convert(v) for v in raw]
        return opt.convert(raw)
    except (ValueError, ConfigError) as exc:
        why = "a malformed value (not shown: it is a secret)" if opt.secret else str(exc)
        raise ConfigError(f"{opt.flag} (from {source}): {why}") from None


def _index(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a non-negative decimal integer")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("alert", metavar="ALERT", help=f"one of the §1 alerts: {', '.join(ALERTS)}")
    add_target_options(parser, TARGET_OPTIONS)
    parser.add_argument(
        "--index",
        type=_index,
        action="append",
        default=[],
        metavar="I",
        help="re-verify this entry index too (repeatable); the edge indices always are",
    )
    add_target_options(parser, (ROLLOUT, ROLLOUT_NAMESPACE))
    parser.add_argument(
        "--tail",
        type=_index,
        default=200,
        metavar="N",
        help="log lines read per pod (§2.2). Default: 200",
    )
    parser.add_argument(
        "--from-report",
        metavar="PATH",
        help="also re-verify the failing indices of a suite JSON report (--tlog-report-json)",
    )
    parser.add_argument("--format", choices=("text", "markdown", "json"), default="text")
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
    found += [(VKEY.flag, k) for k in args.tlog_vkey or [] if os.path.isfile(k)]
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


def _as_dict(t: Triage, bundle: str | None, cmds: Sequence[str] = ()) -> dict[str, Any]:
    a = t.alert
    scenario = SCENARIOS.get(a.scenario)
    return {
        "alert": a.name,
        "meaning": a.meaning("en"),
        "priority": a.priority,
        "actions": [x("en") for x in a.actions],
        "commands": list(cmds),
        "confirmed": t.confirmed,
        "could_not_ask": t.could_not_ask,
        "steps": [
            {
                "section": s.section,
                "title": s.title,
                "finding": s.finding,
                "skipped": s.skipped,
                "problem_of": sorted(s.problem_of),
                "evidence": s.evidence,
            }
            for s in t.steps
        ],
        "procedure": {
            "section": a.scenario,
            "steps": [x("en") for x in scenario.steps] if scenario else [],
        },
        "bundle": bundle,
    }


def _render(doc: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(doc, indent=2)
    h = "## " if fmt == "markdown" else ""
    lines = [
        f"{h}{doc['alert']} ({doc['priority']}): {doc['meaning']}",
        "immediate actions: " + "; ".join(doc["actions"]),
        *(f"  $ {c}" for c in doc["commands"]),
        "",
    ]
    for s in doc["steps"]:
        lines.append(f"{h}{s['section']} {s['title']}")
        if s["skipped"]:
            lines.append(f"  skipped: {s['skipped']}")
            continue
        mark = f" [problem: {', '.join(s['problem_of'])}]" if s["problem_of"] else ""
        lines.append(f"  finding: {s['finding']}{mark}")
        lines.extend(f"    {e}" for e in s["evidence"])
    lines.append("")
    lines.append(f"{h}procedure {doc['procedure']['section']}")
    lines.extend(f"  [ ] {x}" for x in doc["procedure"]["steps"])
    found = [s for s in doc["steps"] if doc["alert"] in s["problem_of"]]
    for s in found:
        lines.append(f"  tlogcheck found ({s['section']}): {s['finding']}")
    verdict = "CONFIRMED" if doc["confirmed"] else "nothing wrong found"
    if doc["could_not_ask"]:
        verdict = "could not ask the target"
    lines.append(f"verdict: {verdict}")
    if doc["bundle"]:
        bundle = doc["bundle"]
        lines.append(
            f"evidence bundle: {bundle} (`tlogcheck evidence verify {bundle} --tlog-vkey KEY`: "
            "the log's key, pinned from outside the bundle, is what can prove)"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    alert = alert_named(args.alert)
    if alert is None:
        print(f"tlogcheck triage: error: unknown alert {args.alert!r}; one of: {', '.join(ALERTS)}")
        return EXIT_USAGE
    if args.out:  # before the first request: a bundle is never written over another
        check_outputs([Output("--out", args.out, "bundle")], _inputs(args))
    url = resolve_option(args, URL)
    if url is None:
        raise ConfigError("--tlog-url (or TLOG_URL) is required: the deployment to triage")
    origin_url = resolve_option(args, ORIGIN_URL)
    timeout = resolve_option(args, TIMEOUT)
    raw_keys = resolve_option(args, VKEY)
    try:
        vkeys = [note.load_verifier_key(k) for k in raw_keys]
    except NoteError as exc:
        raise ConfigError(f"--tlog-vkey: {exc}") from None
    indices = [*args.index, *(failing_indices(args.from_report) if args.from_report else [])]
    kube = kube_steps(
        resolve_option(args, ROLLOUT), resolve_option(args, ROLLOUT_NAMESPACE), args.tail
    )
    recorder = Recorder() if args.out else None
    # What real deployments need: an access gateway's header, the org's CA, a proxy.
    reach: dict[str, Any] = {
        "headers": resolve_option(args, HEADER),
        "ca_bundle": resolve_option(args, CA_BUNDLE),
        "proxy": resolve_option(args, PROXY),
    }

    def probe() -> TLogClient:
        # Without retries: a 5xx the suite's client would retry is what a user saw.
        return TLogClient(url, origin_url=origin_url, timeout=timeout, retries=0, **reach)

    with TLogClient(
        url, origin_url=origin_url, timeout=timeout, recorder=recorder, **reach
    ) as client:
        result = run_triage(alert, client, vkeys=vkeys, indices=indices, kube=kube, probe=probe)
    bundle = bundle_error = None
    if recorder is not None:
        doc = _as_dict(result, None)
        try:  # whole or not at all (tlogcheck.outputs); a failure changes no verdict
            with new_directory(args.out, option="--out") as work:
                write_bundle(
                    work,
                    recorder,
                    target={"url": url, "origin_url": origin_url},
                    vkeys=[str(k) for k in vkeys],
                    verdicts=doc["steps"],
                    options={"alert": alert.name, "index": indices, "timeout": timeout},
                )
            bundle = str(args.out)
        except ConfigError as exc:
            bundle_error = f"evidence bundle NOT written: {exc}"
    rollout, namespace = resolve_option(args, ROLLOUT), resolve_option(args, ROLLOUT_NAMESPACE)
    cmds = commands(alert.name, url, rollout, namespace)
    print(_render(_as_dict(result, bundle, cmds), args.format))
    if bundle_error:  # after the verdict, never in place of it (JSON stays parseable)
        print(bundle_error, file=sys.stderr if args.format == "json" else sys.stdout)
    if result.could_not_ask:
        return EXIT_INCONCLUSIVE
    return EXIT_FAILED if result.confirmed else EXIT_OK
