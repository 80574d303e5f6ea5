"""The run's report: one JSON document every part adds to, and the terminal summary.

Parts record their section on the controller with `record(config, key, value)` (keys:
"gate", "load", ... ; the suite writes "target", "releases", "checks", "summary") and
add lines to the terminal's "tlogcheck" section with `summary_line(config, text)`.
What a part records on an xdist worker travels to the controller in `workeroutput`
and is merged there: a key new to the controller is taken as it is, two dicts are
merged key by key (the worker's value wins), two lists are concatenated, anything
else is replaced.

Test outcomes are gathered on the controller from every report
(`pytest_runtest_logreport`), so they need no transfer. A failed test's record keeps
its alert (the one the failure named under `checks.ALERT_KEY`, else its check's) and
its explanation as data (`failure`: expected, served, extra, next step and the served
facts the check handed to `verdicts.fail`); it travels from a worker in the report's
user properties (`FAILURE_KEY`). The JSON document is written at the very end of
`pytest_sessionfinish` (a wrapper: every part has recorded, the evidence bundle is
written and the exit status is final), with `--tlog-report-json PATH`, atomically; a
write that fails is said in the summary and changes no verdict.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pytest

from tlogcheck.errors import ConfigError
from tlogcheck.options import Option
from tlogcheck.outputs import write_text
from tlogcheck.playbook.checks import (
    CHECKS,
    alert_of,
    check_of,
    failure_alert,
    inconclusive_reason,
    read_explanation,
)
from tlogcheck.plugin.options import value

__all__ = [
    "FAILURE_KEY",
    "REPORT_JSON",
    "VERIFIED_TREE_KEY",
    "ReportPlugin",
    "RunRecord",
    "TestRecord",
    "build",
    "record",
    "run",
    "summary_line",
]

REPORT_JSON = Option(
    "--tlog-report-json",
    "TLOG_REPORT_JSON",
    "write the run's JSON report here: target, per-check outcomes with their messages, "
    "summary and verdict, and what the gate and load phase recorded.",
    metavar="PATH",
)

# A test that verified the served tree against the state file puts (size, root hex)
# in its user_properties under this key; the state file records it after a full pass.
VERIFIED_TREE_KEY = "tlogcheck_verified_tree"
# An inconclusive test that could not ask the target (refused, DNS, budget spent) says so
# under this key; one without it was answered and could not judge what it got.
UNASKED_KEY = "tlogcheck_unasked"

# A failure's explanation as data (JSON text: it crosses xdist like any user property).
FAILURE_KEY = "tlogcheck_failure"

# Worse outcomes win when one test reports several phases.
_RANK = {"passed": 0, "skipped": 1, "inconclusive": 2, "failed": 3}
OUTCOMES = tuple(_RANK)
_MAX_MESSAGE = 4000


@dataclass
class TestRecord:
    nodeid: str
    check: str | None
    outcome: str
    when: str
    message: str
    duration: float
    stop: float | None = None  # Unix time the deciding phase ended
    alert: str | None = None  # a failure's alert: the one it named, else its check's
    failure: dict[str, Any] | None = None  # a failure's explanation as data
    unasked: bool = False  # inconclusive because the target could not be asked

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "nodeid": self.nodeid,
            "outcome": self.outcome,
            "when": self.when,
            "duration": round(self.duration, 3),
            "message": self.message,
            "finished_at": iso_time(self.stop),
        }
        if self.outcome == "failed":
            doc["alert"] = self.alert
            doc["failure"] = self.failure
        return doc


@dataclass
class RunRecord:
    sections: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    releases: Counter[str] = field(default_factory=Counter)
    tests: dict[str, TestRecord] = field(default_factory=dict)
    verified: list[tuple[int, str]] = field(default_factory=list)
    state_note: str | None = None
    started_at: float = field(default_factory=time.time)

    def count(self, outcome: str) -> int:
        return sum(1 for t in self.tests.values() if t.outcome == outcome)

    def counts(self) -> dict[str, int]:
        return {o: self.count(o) for o in OUTCOMES}

    def verified_tree(self) -> tuple[int, str] | None:
        """The largest tree a test verified against the state (all are consistent)."""
        return max(self.verified, default=None)

    def checks(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        order = {name: i for i, name in enumerate(CHECKS)}
        for rec in sorted(
            self.tests.values(), key=lambda r: (order.get(r.check or "", 99), r.nodeid)
        ):
            c = out.setdefault(rec.check or "other", {**{o: 0 for o in OUTCOMES}, "tests": []})
            c[rec.outcome] += 1
            c["tests"].append(rec.to_json())
        for c in out.values():
            c["verdict"] = _verdict(c)
        return out

    def verdict(self) -> str:
        return _verdict(self.counts())


def iso_time(ts: float | None) -> str | None:
    """A Unix time as UTC ISO 8601 with milliseconds: the report's times."""
    if ts is None:
        return None
    text = datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _verdict(counts: dict[str, Any]) -> str:
    if counts["failed"]:
        return "failed"
    if counts["inconclusive"]:
        return "inconclusive"
    if counts["passed"]:
        return "passed"
    return "skipped" if counts["skipped"] else "no tests"


_RUN_KEY = pytest.StashKey[RunRecord]()


def run(config: pytest.Config) -> RunRecord:
    """This process's record of the run."""
    found = config.stash.get(_RUN_KEY, None)
    if found is None:
        found = config.stash[_RUN_KEY] = RunRecord()
    return found


def record(config: pytest.Config, key: str, value: Any) -> None:
    """Set the report's section `key` (JSON-able)."""
    run(config).sections[key] = value


def summary_line(config: pytest.Config, text: str) -> None:
    """Add a line to the terminal summary's "tlogcheck" section."""
    lines = run(config).lines
    if text not in lines:
        lines.append(text)


def add_served(config: pytest.Config, view: str, facts: dict[str, Any]) -> None:
    """What a view served (tree size, root hash, release...): the report's "served"
    section, one key per view, so a notice quotes the served facts, not a guess."""
    served = run(config).sections.setdefault("served", {})
    if isinstance(served, dict):
        served.setdefault(view, facts)


def add_cache_statuses(config: pytest.Config, counts: dict[str, int]) -> None:
    """Edge responses per cache status of one process: a list, which the controller
    concatenates over xdist workers; `tlogcheck.verify.cache.cache_hit_ratio` sums it."""
    if counts:
        found = run(config).sections.setdefault("edge_cache_status", [])
        if isinstance(found, list):
            found.append(dict(counts))


def add_fact(config: pytest.Config, name: str, fact: float | int | str) -> None:
    """One measured fact of the run (the report's "facts" section): what the metrics
    export reads, e.g. `cache_miss_ratio`, `healthz_status.edge`."""
    facts = run(config).sections.setdefault("facts", {})
    if isinstance(facts, dict):
        facts[name] = fact


def add_count(config: pytest.Config, name: str, n: int) -> None:
    """Add `n` to a count of the run (entries verified, ...); summed over xdist workers."""
    found = run(config).sections.setdefault("counts", [])
    if isinstance(found, list):
        found.append({name: n})


def add_releases(config: pytest.Config, counts: dict[str, int]) -> None:
    """Count responses per X-TLog-Release (the release mix of a canary)."""
    run(config).releases.update(counts)


def _message(rep: pytest.TestReport) -> str:
    if rep.skipped and isinstance(rep.longrepr, tuple):
        text = str(rep.longrepr[2])
        return text.removeprefix("Skipped: ")
    text = rep.longreprtext
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "\n[...]"


_MAX_FIELD = 2000  # characters of one text field of a failure's record
_MAX_RECORD = 16000  # characters of a whole record's JSON; past it the facts are dropped


def _clip(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _MAX_FIELD else text[: _MAX_FIELD - 1] + "…"


def _from_text(message: str) -> dict[str, Any] | None:
    """The record of a failure that handed none: its explanation read back."""
    found = read_explanation(message)
    return None if found is None else {**found, "extra": {}, "facts": {}}


def _failure(rep: pytest.TestReport, message: str) -> dict[str, Any] | None:
    record: Any = None
    for key, val in rep.user_properties:
        if key == FAILURE_KEY:
            try:
                record = json.loads(str(val))
            except ValueError:
                record = None
    if not isinstance(record, dict):
        return _from_text(message)
    for key in ("expected", "served", "next"):
        if record.get(key) is not None:
            record[key] = _clip(record[key])
    if isinstance(record.get("extra"), dict):
        record["extra"] = {str(k): _clip(v) for k, v in record["extra"].items()}
    if len(json.dumps(record, default=str)) > _MAX_RECORD:
        record["facts"] = {"dropped": f"more than {_MAX_RECORD} characters"}
    return record


def note_test(config: pytest.Config, rep: pytest.TestReport) -> None:
    """Fold one phase's report into the record of its test (controller side)."""
    inconclusive = inconclusive_reason(rep.user_properties) is not None
    if rep.failed:
        outcome = "failed"
    elif rep.skipped:
        outcome = "inconclusive" if inconclusive else "skipped"
    elif rep.when == "call":
        outcome = "passed"
    else:
        return
    r = run(config)
    if rep.when == "call" and not rep.failed:
        for key, val in rep.user_properties:
            if key == VERIFIED_TREE_KEY and isinstance(val, (list, tuple)) and len(val) == 2:
                r.verified.append((int(val[0]), str(val[1])))
    check = check_of(rep.keywords)
    message = _message(rep)
    alert = failure = None
    if outcome == "failed":
        failure = _failure(rep, message)
        # The alert the failure named after the fact (a stall, a 5xx) wins over the one
        # its explanation was written with, which wins over its check's.
        alert = (
            alert_of(rep.user_properties)
            or (failure or {}).get("alert")
            or failure_alert(check, rep.user_properties, message)
        )
        if failure is not None:
            failure["alert"] = alert
    new = TestRecord(
        rep.nodeid,
        check.name if check else None,
        outcome,
        rep.when,
        message,
        rep.duration,
        getattr(rep, "stop", None) or None,  # 0: a report built without times
        alert,
        failure,
        unasked=any(key == UNASKED_KEY for key, _ in rep.user_properties),
    )
    old = r.tests.get(rep.nodeid)
    if old is None or _RANK[outcome] > _RANK[old.outcome]:
        if old is not None:
            new.duration += old.duration
        r.tests[rep.nodeid] = new
    else:
        old.duration += rep.duration


def worker_payload(config: pytest.Config) -> dict[str, Any]:
    r = run(config)
    return {"sections": r.sections, "lines": r.lines, "releases": dict(r.releases)}


def merge_worker_payload(config: pytest.Config, payload: dict[str, Any]) -> None:
    r = run(config)
    for key, val in payload.get("sections", {}).items():
        mine = r.sections.get(key)
        if isinstance(mine, dict) and isinstance(val, dict):
            mine.update(val)
        elif isinstance(mine, list) and isinstance(val, list):
            mine.extend(val)
        else:
            r.sections[key] = val
    for line in payload.get("lines", []):
        summary_line(config, line)
    r.releases.update(payload.get("releases", {}))


def build(config: pytest.Config, exitstatus: int) -> dict[str, Any]:
    """The JSON report: every part's section, then releases, checks and summary."""
    r = run(config)
    doc: dict[str, Any] = dict(r.sections)
    doc["releases"] = dict(r.releases)
    doc["checks"] = r.checks()
    checks = doc["checks"]
    doc["run"] = {"started_at": iso_time(r.started_at), "finished_at": iso_time(time.time())}
    doc["summary"] = {
        "verdict": r.verdict(),
        "exitstatus": int(exitstatus),
        "counts": r.counts(),
        "failed_checks": [name for name, c in checks.items() if c["failed"]],
        "inconclusive_checks": [name for name, c in checks.items() if c["inconclusive"]],
        "state": r.state_note,
    }
    return doc


def inconclusive_head(config: pytest.Config) -> str:
    """Why a run without failures is inconclusive, for the summary's verdict line: it could
    not ask the target, or every request was answered and some answers could not be
    judged (then which, quoting the first reasons: an unknown cache word, ...)."""
    records = [t for t in run(config).tests.values() if t.outcome == "inconclusive"]
    if not records or any(t.unasked for t in records):
        return "could not ask the target: nothing proved wrong, nothing proved right"
    reasons = list(dict.fromkeys(t.message.splitlines()[0] for t in records if t.message))
    why = "; ".join(r.removeprefix("inconclusive: ") for r in reasons[:2])
    return f"every request was answered; could not judge: {why[:400]}"


def check_lines(config: pytest.Config) -> list[str]:
    """One line per check: its verdict and counts."""
    out = []
    for name, c in run(config).checks().items():
        counts = ", ".join(f"{c[o]} {o}" for o in OUTCOMES if c[o])
        out.append(f"  {name:<12} {c['verdict'].upper():<13} {counts}")
    return out


FOLD = 6  # tests skipped for one reason shown on one line from this many


def problem_lines(config: pytest.Config) -> list[str]:
    """What was not verified and why: inconclusive and skipped tests with their reasons."""
    groups: dict[tuple[str, str], list[str]] = {}
    for rec in run(config).tests.values():
        if rec.outcome in ("inconclusive", "skipped"):
            reason = rec.message.splitlines()[0] if rec.message else ""
            groups.setdefault((rec.outcome, reason), []).append(rec.nodeid)
    out = []
    for (outcome, reason), nodeids in groups.items():
        if len(nodeids) < FOLD:
            out += [f"  {outcome}: {nodeid}: {reason}" for nodeid in nodeids]
            continue
        # Many tests for one reason (every API v1 check of a tiled log): one line.
        modules = sorted({n.split("::", 1)[0].rsplit("/", 1)[-1] for n in nodeids})
        out.append(f"  {outcome}: {len(nodeids)} tests of {', '.join(modules)}: {reason}")
    return out


def write_json(path: str, doc: dict[str, Any]) -> None:
    """Write the report atomically; ConfigError naming --tlog-report-json if it fails."""
    text = json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n"
    write_text(path, text, option=REPORT_JSON.flag)


class ReportPlugin:
    """Writes the JSON report on the controller once everything else has finished, and
    keeps each failure's explanation as data in its report's user properties."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        rep = yield
        record = getattr(call.excinfo.value, "tlogcheck_record", None) if call.excinfo else None
        if rep.failed and isinstance(record, dict):
            text = json.dumps(record, default=str)
            rep.user_properties = [*rep.user_properties, (FAILURE_KEY, text)]
        return rep

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        result = yield
        config = session.config
        if not hasattr(config, "workerinput"):
            path = value(config, REPORT_JSON)
            if path:
                try:
                    write_json(path, build(config, int(session.exitstatus)))
                except ConfigError as exc:
                    # Said, never raised: a healthy run that cannot keep its report
                    # still passes (a crash here would abort a good canary).
                    summary_line(config, f"JSON report NOT written: {exc}")
        return result
