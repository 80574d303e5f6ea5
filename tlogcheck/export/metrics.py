"""The run as Prometheus metrics: a textfile for node_exporter, or a Pushgateway push.

Built from the run's JSON report, so a metric says exactly what the report says. Names
follow Prometheus' conventions (base units, `_seconds`, `_ratio`, `_total` for counts).
Every sample carries `target` (the URL checked; the embedded deployment is `embedded`).

    tlogcheck_check_status{check, status}       1 for the check's verdict, 0 for the others
    tlogcheck_tests{check, outcome}             tests of the check per outcome
    tlogcheck_alert_failures{alert}             failed tests per §1 alert they name: a 5xx
                                                is Ingress5xxHigh whichever check met it
    tlogcheck_entries_verified            sampled entries whose inclusion verified
    tlogcheck_entries_failed              sampled entries whose inclusion failed
    tlogcheck_cache_miss_ratio                  steady-state miss ratio of immutable reads
    tlogcheck_healthz_status_code{view}         HTTP status of /healthz per view
    tlogcheck_tree_size{view}                   tree size each view served
    tlogcheck_edge_lag_entries                  origin tree size - edge tree size
    tlogcheck_load_p95_seconds{group}           p95 of the load phase (group "all" overall)
    tlogcheck_load_error_ratio{group}           error ratio of the load phase
    tlogcheck_load_requests{group}        requests of the load phase
    tlogcheck_gate_actions{action}        requests the gate sent (abort, undo, event...)
    tlogcheck_run_duration_seconds              wall time of the run
    tlogcheck_run_exit_status                   the run's exit status (0, 1, 4, 6)
    tlogcheck_last_run_timestamp_seconds        when this run ended
    tlogcheck_last_success_timestamp_seconds    when a run last passed fully
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway
from prometheus_client.exposition import generate_latest

from tlogcheck.errors import ConfigError
from tlogcheck.outputs import write_text
from tlogcheck.playbook import ALERTS
from tlogcheck.playbook.checks import CHECKS, failure_alert

__all__ = [
    "STATUSES",
    "build_registry",
    "push",
    "seconds",
    "target_label",
    "test_alert",
    "write_textfile",
]

STATUSES = ("passed", "failed", "inconclusive", "skipped")
VIEWS = ("edge", "origin")


def seconds(iso: object) -> float | None:
    if not isinstance(iso, str):
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _target(doc: Mapping[str, Any]) -> str:
    target = doc.get("target")
    if isinstance(target, dict):
        if target.get("embedded"):
            return "embedded"
        url = target.get("url")
        if isinstance(url, str) and url:
            return url
    return "unknown"


def test_alert(check: str, test: Mapping[str, Any]) -> str | None:
    """The §1 alert a failed test of a report is a problem of: the one it recorded, else
    the one its check and message say (`playbook.checks.failure_alert`)."""
    recorded = test.get("alert")
    if isinstance(recorded, str) and recorded in ALERTS:
        return recorded
    found = failure_alert(CHECKS.get(check), (), str(test.get("message", "")))
    return found if found in ALERTS else None


def build_registry(
    doc: Mapping[str, Any], *, last_success: float | None = None
) -> CollectorRegistry:
    """The metrics of one run's report. `last_success`: when a run last passed fully,
    for a run that did not (from the state file's `verified_at`)."""
    reg = CollectorRegistry()
    target = _target(doc)

    def gauge(name: str, text: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, text, ("target", *labels), registry=reg)

    status = gauge("tlogcheck_check_status", "1 for the check's verdict", ("check", "status"))
    tests = gauge("tlogcheck_tests", "tests of a check per outcome", ("check", "outcome"))
    checks = doc.get("checks")
    for name, c in (checks or {}).items() if isinstance(checks, dict) else ():
        if not isinstance(c, dict) or name == "other":
            continue
        for s in STATUSES:
            status.labels(target, name, s).set(1 if c.get("verdict") == s else 0)
            n = c.get(s)
            if isinstance(n, int):
                tests.labels(target, name, s).set(n)

    # Which alert each failure is a problem of is the test's own (a 5xx or a stall names
    # another than its check's), so a proof check that met a 5xx pages Ingress5xxHigh.
    named = gauge("tlogcheck_alert_failures", "failed tests per §1 alert", ("alert",))
    per_alert = {name: 0 for name in ALERTS}
    for name, c in (checks or {}).items() if isinstance(checks, dict) else ():
        for t in c.get("tests") or [] if isinstance(c, dict) else ():
            if isinstance(t, dict) and t.get("outcome") == "failed":
                alert = test_alert(name, t)
                if alert in per_alert:
                    per_alert[alert] += 1
    for alert, n in per_alert.items():
        named.labels(target, alert).set(n)

    counts = {"entries_verified": "tlogcheck_entries_verified",
              "entries_failed": "tlogcheck_entries_failed"}  # fmt: skip
    from tlogcheck.runs import total

    for key, metric in counts.items():
        n = total(dict(doc), key)
        if n is not None:
            gauge(metric, f"sampled entries ({key.split('_')[1]})").labels(target).set(n)

    facts = doc.get("facts") if isinstance(doc.get("facts"), dict) else {}
    assert isinstance(facts, dict)
    ratio = facts.get("cache_miss_ratio")
    if isinstance(ratio, (int, float)):
        gauge("tlogcheck_cache_miss_ratio", "steady-state cache miss ratio").labels(target).set(
            ratio
        )
    healthz = gauge("tlogcheck_healthz_status_code", "HTTP status of /healthz", ("view",))
    for view in VIEWS:
        code = facts.get(f"healthz_status.{view}")
        if isinstance(code, int):
            healthz.labels(target, view).set(code)

    served = doc.get("served") if isinstance(doc.get("served"), dict) else {}
    assert isinstance(served, dict)
    sizes = {}
    tree = gauge("tlogcheck_tree_size", "tree size a view served", ("view",))
    for view in VIEWS:
        facts_of = served.get(view)
        if isinstance(facts_of, dict) and isinstance(facts_of.get("tree_size"), int):
            sizes[view] = facts_of["tree_size"]
            tree.labels(target, view).set(sizes[view])
    if len(sizes) == 2:
        gauge("tlogcheck_edge_lag_entries", "origin tree size - edge tree size").labels(target).set(
            sizes["origin"] - sizes["edge"]
        )

    load = doc.get("load")
    if isinstance(load, dict) and isinstance(load.get("total"), dict):
        p95 = gauge("tlogcheck_load_p95_seconds", "p95 of the load phase", ("group",))
        errors = gauge("tlogcheck_load_error_ratio", "error ratio of the load phase", ("group",))
        requests = gauge("tlogcheck_load_requests", "requests of the load phase", ("group",))
        groups = [("all", load["total"])] + [
            (str(g.get("name")), g) for g in load.get("groups") or [] if isinstance(g, dict)
        ]
        for group, g in groups:
            if isinstance(g.get("p95_ms"), (int, float)):
                p95.labels(target, group).set(g["p95_ms"] / 1000)
            if isinstance(g.get("error_rate"), (int, float)):
                errors.labels(target, group).set(g["error_rate"])
            if isinstance(g.get("requests"), int):
                requests.labels(target, group).set(g["requests"])

    actions = gauge("tlogcheck_gate_actions", "requests the gate sent", ("action",))
    gate = doc.get("gate")
    outcome = gate.get("outcome") if isinstance(gate, dict) else None
    sent: dict[str, int] = {}
    for req in outcome.get("requests") or [] if isinstance(outcome, dict) else []:
        if isinstance(req, dict) and req.get("sent"):
            step = str(req.get("step", "unknown"))
            sent[step] = sent.get(step, 0) + 1
    for step in ("abort", "undo", "event", "annotation", *sorted(sent)):
        actions.labels(target, step).set(sent.get(step, 0))

    run = doc.get("run") if isinstance(doc.get("run"), dict) else {}
    assert isinstance(run, dict)
    started, finished = seconds(run.get("started_at")), seconds(run.get("finished_at"))
    ended = finished if finished is not None else time.time()
    if started is not None:
        gauge("tlogcheck_run_duration_seconds", "wall time of the run").labels(target).set(
            max(0.0, ended - started)
        )
    summary = doc.get("summary") if isinstance(doc.get("summary"), dict) else {}
    assert isinstance(summary, dict)
    exit_status = summary.get("exitstatus")
    if isinstance(exit_status, int):
        gauge("tlogcheck_run_exit_status", "the run's exit status").labels(target).set(exit_status)
    gauge("tlogcheck_last_run_timestamp_seconds", "when this run ended").labels(target).set(ended)
    passed = summary.get("verdict") == "passed" and exit_status == 0
    success = ended if passed else last_success
    if success is not None:
        gauge("tlogcheck_last_success_timestamp_seconds", "when a run last passed fully").labels(
            target
        ).set(success)
    return reg


def write_textfile(path: str, registry: CollectorRegistry) -> None:
    """node_exporter's textfile format, written atomically (a scrape never sees half);
    ConfigError naming the option when it cannot be written."""
    p = Path(path)
    if p.parent and not p.parent.is_dir():
        raise ConfigError(f"--tlog-metrics-file: directory {p.parent} does not exist")
    write_text(p, generate_latest(registry).decode("utf-8"), option="--tlog-metrics-file")


def push(gateway: str, job: str, target: str, registry: CollectorRegistry) -> None:
    """Push the run to a Pushgateway, grouped by target (one group per deployment)."""
    push_to_gateway(gateway, job=job, registry=registry, grouping_key={"target": target})


def target_label(doc: Mapping[str, Any]) -> str:
    return _target(doc)
