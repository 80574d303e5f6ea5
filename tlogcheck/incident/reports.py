"""The JSON reports of suite runs (`--tlog-report-json`), read for the notice and the RCA.

A report is untrusted input here: a file may be missing, huge, not JSON, or a JSON
document of another shape. Each is a ConfigError naming the file and what is wrong;
fields that are absent are simply not known (None), never guessed.

`incident` orders the runs by their start: the first failing one is the incident.
Reports of different targets are refused unless asked to combine them, and a report
of another target never speaks for this one. The incident is over (`recovery`) only
when every test that failed has passed again in a later report of the same target,
and none of them failed since: a later pass that ran other checks (`-m inclusion` after
a health failure) confirms nothing about the ones it did not run, and each of those
is named (`pending`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tlogcheck.errors import ConfigError
from tlogcheck.playbook.checks import CHECKS, read_explanation

__all__ = [
    "MAX_REPORT_BYTES",
    "Failure",
    "Incident",
    "Pending",
    "RunReport",
    "incident",
    "load_report",
    "test_key",
]

# A report of a full run with long failure messages is well under a MiB.
MAX_REPORT_BYTES = 32 * 1024 * 1024


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def test_key(nodeid: str) -> str:
    """A test's name whatever directory the run started in: the file's base name and the
    rest (`tests_synthetic/test_health.py::t[edge]` and `test_health.py::t[edge]` are
    one test; a parameter may hold a `/`)."""
    path, sep, rest = nodeid.partition("::")
    return f"{path.rsplit('/', 1)[-1]}{sep}{rest}"


def _target_id(target: dict[str, Any]) -> str | None:
    """What a run checked, comparable across runs: its URLs without user, query or a
    trailing slash, host in lower case, and its API."""
    urls = []
    for key in ("url", "origin_url"):
        raw = _str(target.get(key))
        if raw is None:
            urls.append("")
            continue
        parts = urlsplit(raw.strip())
        host = (parts.hostname or "").lower()
        netloc = f"{host}:{parts.port}" if parts.port else host
        urls.append(f"{parts.scheme.lower()}://{netloc}{parts.path.rstrip('/')}")
    if not urls[0]:
        return None
    api = _str(target.get("api")) or "v1"
    return " ".join([*urls, api]).replace("  ", " ")


@dataclass(frozen=True)
class Failure:
    """One failed test as the report holds it: its check and alert, what was expected
    and served, and the served facts the check recorded (status, indices, hashes...)."""

    check: str
    nodeid: str
    alert: str | None
    expected: str | None
    served: str | None
    facts: dict[str, Any]
    finished_at: str | None
    message: str


@dataclass(frozen=True)
class RunReport:
    """One run's report, with accessors that say None for what it does not hold."""

    path: str
    doc: dict[str, Any]

    @property
    def summary(self) -> dict[str, Any]:
        return _dict(self.doc.get("summary"))

    @property
    def verdict(self) -> str:
        return str(self.summary.get("verdict") or "unknown")

    @property
    def failed(self) -> bool:
        return self.verdict == "failed"

    @property
    def passed(self) -> bool:
        return self.verdict == "passed"

    @property
    def failed_checks(self) -> list[str]:
        found = self.summary.get("failed_checks")
        return [str(c) for c in found] if isinstance(found, list) else []

    @property
    def checks(self) -> dict[str, dict[str, Any]]:
        return {str(k): _dict(v) for k, v in _dict(self.doc.get("checks")).items()}

    @property
    def gate(self) -> dict[str, Any]:
        return _dict(self.doc.get("gate"))

    @property
    def target(self) -> dict[str, Any]:
        return _dict(self.doc.get("target"))

    @property
    def started_at(self) -> str | None:
        return _str(_dict(self.doc.get("run")).get("started_at"))

    @property
    def finished_at(self) -> str | None:
        return _str(_dict(self.doc.get("run")).get("finished_at"))

    @property
    def releases(self) -> dict[str, int]:
        raw = _dict(self.doc.get("releases"))
        return {str(k): v for k, v in raw.items() if isinstance(v, int)}

    @property
    def served(self) -> dict[str, dict[str, Any]]:
        return {str(k): _dict(v) for k, v in _dict(self.doc.get("served")).items()}

    @property
    def db(self) -> dict[str, Any]:
        return _dict(self.doc.get("db"))

    @property
    def replay(self) -> dict[str, Any]:
        return _dict(self.doc.get("replay"))

    @property
    def facts(self) -> dict[str, Any]:
        """What the run measured (`cache_miss_ratio`, `healthz_status.edge`, ...)."""
        return _dict(self.doc.get("facts"))

    @property
    def load(self) -> dict[str, Any]:
        return _dict(self.doc.get("load"))

    @property
    def target_id(self) -> str | None:
        return _target_id(self.target)

    @property
    def target_label(self) -> str:
        return _str(self.target.get("url")) or "no target recorded"

    @property
    def bundle(self) -> str | None:
        """The evidence bundle the run wrote (`--tlog-evidence`), if it was written."""
        found = _dict(self.doc.get("evidence"))
        return _str(found.get("bundle")) if found.get("written") is True else None

    def miss_ratio(self) -> float | None:
        """The edge's steady-state cache miss ratio the cache check measured (immutable
        paths once warm), never a ratio over the suite's own first reads."""
        found = self.facts.get("cache_miss_ratio")
        if isinstance(found, (int, float)) and not isinstance(found, bool) and 0 <= found <= 1:
            return float(found)
        return None

    def failing_tests(self, check: str) -> list[dict[str, Any]]:
        tests = self.checks.get(check, {}).get("tests")
        if not isinstance(tests, list):
            return []
        return [_dict(t) for t in tests if _dict(t).get("outcome") == "failed"]

    def first_failure_at(self) -> str | None:
        """When the first failing test ended (the detection time)."""
        times = [
            str(t["finished_at"])
            for c in self.failed_checks
            for t in self.failing_tests(c)
            if _str(t.get("finished_at"))
        ]
        return min(times, default=None)

    def failures(self, check: str | None = None) -> list[Failure]:
        """The failed tests (of one check, or of every failing check in order)."""
        return [f for f in self._failures if check is None or f.check == check]

    @cached_property
    def _failures(self) -> list[Failure]:
        # Read once: the drafts ask for them check by check, hypothesis by hypothesis.
        out = []
        for name in self.failed_checks:
            for t in self.failing_tests(name):
                message = str(t.get("message") or "")
                record = _dict(t.get("failure")) or _dict(read_explanation(message))
                alert = _str(t.get("alert")) or _str(record.get("alert"))
                if alert is None and name in CHECKS:
                    alert = CHECKS[name].alert
                out.append(
                    Failure(
                        name,
                        str(t.get("nodeid") or ""),
                        alert,
                        _str(record.get("expected")),
                        _str(record.get("served")),
                        _dict(record.get("facts")),
                        _str(t.get("finished_at")),
                        message,
                    )
                )
        return out

    def alerts(self) -> list[str]:
        """The alerts the failures carry, the most frequent first (ties: check order)."""
        counts: dict[str, int] = {}
        for f in self.failures():
            if f.alert:
                counts[f.alert] = counts.get(f.alert, 0) + 1
        return sorted(counts, key=lambda a: -counts[a])

    def alert(self) -> str | None:
        """The alert of the incident: the gate's trigger, else the one most failures
        carry (each failure's own: a 5xx met by a proof check is Ingress5xxHigh)."""
        trig = _dict(self.gate.get("triggered_by"))
        if _str(trig.get("alert")):
            return str(trig["alert"])
        found = self.alerts()
        return found[0] if found else None

    @cached_property
    def _outcomes(self) -> dict[str, tuple[str, str]]:
        return self._read_outcomes()

    def outcomes(self) -> dict[str, tuple[str, str]]:
        """test key -> (check, outcome) of every test the run reported."""
        return dict(self._outcomes)

    def _read_outcomes(self) -> dict[str, tuple[str, str]]:
        """test key -> (check, outcome) of every test the run reported."""
        out = {}
        for name, c in self.checks.items():
            tests = c.get("tests")
            for t in tests if isinstance(tests, list) else []:
                t = _dict(t)
                if _str(t.get("nodeid")) and _str(t.get("outcome")):
                    out[test_key(str(t["nodeid"]))] = (name, str(t["outcome"]))
        return out


def load_report(path: str | Path) -> RunReport:
    """Read one report; ConfigError names the file and the problem."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_REPORT_BYTES:
            raise ConfigError(f"{p}: {size} bytes: larger than a report ({MAX_REPORT_BYTES})")
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such report file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read the report: {exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{p}: not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("summary"), dict):
        raise ConfigError(
            f'{p}: not a tlogcheck report (a JSON object with a "summary"; '
            "write one with --tlog-report-json)"
        )
    return RunReport(str(p), doc)


@dataclass(frozen=True)
class Pending:
    """A test that failed and has not passed since in a report of the same target."""

    check: str
    test: str  # its key (`test_key`)
    outcome: str  # its last outcome: "failed", "inconclusive", "skipped"; "" not re-run
    report: str  # the report of that outcome (the failing run's when not re-run)


@dataclass(frozen=True)
class Incident:
    """The failing run; the later report of the same target in which every test that
    had failed passed again (the recovery), or what is still not shown (`pending`)."""

    failing: RunReport
    recovery: RunReport | None
    runs: tuple[RunReport, ...]
    pending: tuple[Pending, ...] = ()
    later: tuple[RunReport, ...] = ()  # later reports of the failing run's target
    others: tuple[RunReport, ...] = ()  # reports of other targets (combined on request)

    @property
    def resolved(self) -> bool:
        return self.recovery is not None

    def checks_run_later(self) -> list[str]:
        """The checks the later reports of this target ran (a test passed or failed)."""
        found: dict[str, None] = {}
        for run in self.later:
            for check, outcome in run.outcomes().values():
                if outcome in ("passed", "failed"):
                    found[check] = None
        return list(found)


def _targets(runs: Sequence[RunReport]) -> str:
    return "; ".join(f"{r.path}: {r.target_label}" for r in runs)


def incident(runs: Sequence[RunReport], *, combine: bool = False) -> Incident:
    """The first failing run (in time order, else the order given) and whether, and
    when, later reports of its target showed every failed test passing again.

    ConfigError when no report failed (nothing to report), or when the reports are of
    different targets and `combine` is not set."""
    ordered = sorted(
        enumerate(runs), key=lambda ir: (ir[1].started_at is None, ir[1].started_at or "", ir[0])
    )
    runs_sorted = [r for _, r in ordered]
    failing = next((r for r in runs_sorted if r.failed), None)
    if failing is None:
        verdicts = ", ".join(f"{r.path}: {r.verdict}" for r in runs_sorted)
        raise ConfigError(f"no report has a failing check ({verdicts}): nothing to report")
    if len({r.target_id for r in runs_sorted}) > 1 and not combine:
        raise ConfigError(
            f"the reports are of different targets ({_targets(runs_sorted)}): give the "
            "reports of one target, or --combine to draft them together (a report of "
            "one target never confirms another's recovery)"
        )
    same = [r for r in runs_sorted if r.target_id == failing.target_id]
    others = tuple(r for r in runs_sorted if r.target_id != failing.target_id)
    # A run that recorded no target cannot be matched with any other: no recovery.
    later = tuple(same[same.index(failing) + 1 :]) if failing.target_id else ()
    # Each failed test's last outcome, report by report: a test passes again only in a
    # report that ran it; one that fails in a later report joins the incident.
    state = {
        key: (check, "failed", failing.path)
        for key, (check, outcome) in failing.outcomes().items()
        if outcome == "failed"
    }
    ran: set[str] = set()
    recovery: RunReport | None = None
    for run in later:
        for key, (check, outcome) in run.outcomes().items():
            if outcome == "failed" or key in state:
                state[key] = (check, outcome, run.path)
                ran.add(key)
        done = all(outcome == "passed" for _, outcome, _ in state.values())
        recovery = (recovery or run) if done and state else None
    pending = tuple(
        Pending(check, key, outcome if key in ran else "", path)
        for key, (check, outcome, path) in state.items()
        if outcome != "passed"
    )
    if not state:  # a failed run whose failed tests cannot be read: nothing is shown
        recovery = None
    return Incident(failing, recovery, tuple(runs_sorted), pending, later, others)
