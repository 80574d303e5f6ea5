"""The JSON reports of suite runs (`--tlog-report-json`), read for the notice and the RCA.

A report is untrusted input here: a file may be missing, huge, not JSON, or a JSON
document of another shape. Each is a ConfigError naming the file and what is wrong;
fields that are absent are simply not known (None), never guessed. `Incident` orders
the runs: the first failing one is the incident, the first passing one after it (if
given) is the recovery.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tlogcheck.errors import ConfigError
from tlogcheck.playbook.checks import CHECKS
from tlogcheck.verify.cache import cache_hit_ratio

__all__ = ["MAX_REPORT_BYTES", "Incident", "RunReport", "incident", "load_report"]

# A report of a full run with long failure messages is well under a MiB.
MAX_REPORT_BYTES = 32 * 1024 * 1024


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


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

    def hit_ratio(self) -> tuple[float, int] | None:
        return cache_hit_ratio(self.doc)

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

    def alert(self) -> str | None:
        """The alert of the failure: the gate's trigger, else the first failing check's."""
        trig = _dict(self.gate.get("triggered_by"))
        if _str(trig.get("alert")):
            return str(trig["alert"])
        for name in self.failed_checks:
            if name in CHECKS:
                return CHECKS[name].alert
        return None


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
class Incident:
    """The failing run and, if a later report passed, the recovery."""

    failing: RunReport
    recovery: RunReport | None
    runs: tuple[RunReport, ...]

    @property
    def resolved(self) -> bool:
        return self.recovery is not None


def incident(runs: Sequence[RunReport]) -> Incident:
    """The first failing run (in time order, else the order given) and the first later
    passing one. ConfigError when no report failed: there is nothing to announce."""
    ordered = sorted(
        enumerate(runs), key=lambda ir: (ir[1].started_at is None, ir[1].started_at or "", ir[0])
    )
    runs_sorted = [r for _, r in ordered]
    for i, run in enumerate(runs_sorted):
        if run.failed:
            later = next((r for r in runs_sorted[i + 1 :] if r.passed), None)
            return Incident(run, later, tuple(runs_sorted))
    verdicts = ", ".join(f"{r.path}: {r.verdict}" for r in runs_sorted)
    raise ConfigError(f"no report has a failing check ({verdicts}): nothing to report")
