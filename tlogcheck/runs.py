"""Running the suite as a user does (`pytest --pyargs tests_synthetic` in a subprocess),
and reading the JSON report it writes.

`run_suite` is how the demo, the project's self-tests and benchmarks run the suite: a
subprocess, a JSON report, the exit status. `DemoStep` is one step of `tlogcheck demo`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DEMO_ENTRIES", "DemoStep", "SuiteRun", "run_suite", "suite_command", "total"]

# Small enough to start in a blink, large enough for several levels of the tree.
DEMO_ENTRIES = 1024


@dataclass(frozen=True)
class SuiteRun:
    """One run of the suite: its exit status, JSON report and output."""

    args: tuple[str, ...]
    exitstatus: int
    report: dict[str, Any]
    output: str
    seconds: float

    @property
    def failed_checks(self) -> set[str]:
        return set(self.report.get("summary", {}).get("failed_checks", []))

    @property
    def inconclusive_checks(self) -> set[str]:
        return set(self.report.get("summary", {}).get("inconclusive_checks", []))

    def check_verdicts(self) -> dict[str, str]:
        return {name: c["verdict"] for name, c in self.report.get("checks", {}).items()}


def suite_command(args: Sequence[str]) -> list[str]:
    return [
        sys.executable, "-m", "pytest", "--pyargs", "tests_synthetic", "-p", "no:cacheprovider",
        *args,
    ]  # fmt: skip


def run_suite(
    args: Sequence[str],
    *,
    timeout: float = 600,
    env: dict[str, str] | None = None,
    echo: bool = False,
    cwd: str | None = None,
) -> SuiteRun:
    """Run `pytest --pyargs tests_synthetic ARGS` in a subprocess; its report and status."""
    with tempfile.TemporaryDirectory(prefix="tlogcheck-run-") as tmp:
        report_path = os.path.join(tmp, "report.json")
        command = [*suite_command(args), f"--tlog-report-json={report_path}"]
        full_env = {**os.environ, **(env or {})}
        # Options come from this call only, never from the caller's environment; nor does
        # a CI job's step summary, which this run would otherwise append to.
        for name in list(full_env):
            if (name.startswith("TLOG_") or name == "GITHUB_STEP_SUMMARY") and name not in (
                env or {}
            ):
                del full_env[name]
        start = time.monotonic()
        proc = subprocess.run(
            command,
            stdout=None if echo else subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            env=full_env,
            cwd=cwd or tmp,
            check=False,
        )
        seconds = time.monotonic() - start
        try:
            report = json.loads(Path(report_path).read_text())
        except (OSError, ValueError):
            report = {}
    return SuiteRun(tuple(args), proc.returncode, report, proc.stdout or "", seconds)


@dataclass(frozen=True)
class DemoStep:
    title: str
    before: str  # what is about to happen
    args: tuple[str, ...]
    expect_status: int
    expect_failed: frozenset[str] = field(default_factory=frozenset)
    after: str = ""  # what to look at in the output

    def succeeded(self, run: SuiteRun) -> bool:
        return run.exitstatus == self.expect_status and self.expect_failed <= run.failed_checks


def total(doc: dict[str, Any], name: str) -> int | None:
    """The sum of a count over the report's processes; None when nothing counted it."""
    found = doc.get("counts")
    if not isinstance(found, list):
        return None
    values = [c[name] for c in found if isinstance(c, dict) and isinstance(c.get(name), int)]
    return sum(values) if values else None
