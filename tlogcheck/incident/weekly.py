"""§5 weekly: canary rehearsal, the invalidation script, the alert rules.

Canary rehearsal: the suite (`pytest --pyargs tests_synthetic`, a subprocess) against
the target with the gate armed in dry run must pass and leave the gate "not needed";
and against the embedded canary with a broken entry the gate must say it would abort
(so the abort path is exercised every week without touching a cluster). The
invalidation command (`--gate-invalidate`) must exist and be executable. The alert
rules must pass `promtool test rules` (or `check rules` without test files) where
promtool and rule files exist; otherwise the item is skipped with the reason.
"""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass

from tlogcheck.incident.checklist import Checklist, Item, TargetInfo
from tlogcheck.runs import run_suite

__all__ = ["RULES_GLOB", "WeeklySettings", "run_weekly"]

RULES_GLOB = "ci/prometheus/*.rules.yaml"
TESTS_GLOB = "ci/prometheus/*.test.yaml"
REHEARSAL_ENTRIES = 256


@dataclass(frozen=True)
class WeeklySettings:
    rollout: str = "tlog-ro"
    invalidate: str | None = None
    rules_glob: str = RULES_GLOB
    tests_glob: str = TESTS_GLOB
    suite_timeout: float = 600.0


def _target_args(t: TargetInfo) -> list[str]:
    # The URL even for the embedded deployment the checklist started: the suite then
    # checks the very deployment the other items checked.
    args = [f"--tlog-url={t.url}"]
    if t.origin_url:
        args.append(f"--tlog-origin-url={t.origin_url}")
    args += [f"--tlog-vkey={k}" for k in t.vkeys]
    if t.db:
        args.append(f"--tlog-db={t.db}")
    if t.db_sha256:
        args.append(f"--tlog-db-sha256={t.db_sha256}")
    return args


def _rehearse_target(t: TargetInfo, s: WeeklySettings) -> Item:
    name = "canary rehearsal: suite with the gate in dry run"
    run = run_suite(
        [*_target_args(t), f"--rollout={s.rollout}", "--gate-dry-run"], timeout=s.suite_timeout
    )
    gate = run.report.get("gate") or {}
    seen = f"exit {run.exitstatus}, gate {gate.get('verdict', 'absent')}, {run.seconds:.1f} s"
    if run.exitstatus == 0 and gate.get("verdict") == "not needed":
        return Item(name, "pass", f"every check passed; {seen}")
    if run.exitstatus == 6:
        return Item(name, "inconclusive", f"could not ask the target: {seen}")
    failed = ", ".join(sorted(run.failed_checks)) or "none"
    return Item(name, "fail", f"failing checks: {failed}; {seen}")


def _rehearse_abort(s: WeeklySettings) -> Item:
    name = "canary rehearsal: the gate would abort a broken canary"
    run = run_suite(
        [
            f"--tlog-embedded-entries={REHEARSAL_ENTRIES}",
            "--tlog-embedded-fault=corrupt-entry",
            "-m",
            "inclusion",
            f"--rollout={s.rollout}",
            "--gate-dry-run",
        ],
        timeout=s.suite_timeout,
    )
    gate = run.report.get("gate") or {}
    requests = (gate.get("outcome") or {}).get("requests") or []
    abort = [r for r in requests if r.get("step") == "abort"]
    if gate.get("verdict") == "would act (dry run)" and abort:
        return Item(
            name,
            "pass",
            f"embedded canary with corrupt-entry: {abort[0]['method']} {abort[0]['url']}",
        )
    return Item(name, "fail", f"the gate did not act: verdict {gate.get('verdict')!r}")


def _invalidation(s: WeeklySettings) -> Item:
    name = "invalidation command exists and is executable"
    if not s.invalidate:
        return Item(
            name, "fail", "none configured: give --gate-invalidate CMD (or TLOG_GATE_INVALIDATE)"
        )
    try:
        words = shlex.split(s.invalidate)
    except ValueError as exc:
        return Item(name, "fail", f"{s.invalidate!r} does not parse as a command: {exc}")
    if not words:
        return Item(name, "fail", "the command is empty")
    exe = words[0]
    found = shutil.which(exe) if "/" not in exe else (exe if os.path.exists(exe) else None)
    if found is None:
        return Item(name, "fail", f"{exe}: not found (cwd {os.getcwd()}, PATH)")
    if not os.access(found, os.X_OK) or os.path.isdir(found):
        return Item(name, "fail", f"{found}: not executable")
    syntax = ""
    with open(found, "rb") as f:
        first = f.readline(200)
    if first.startswith(b"#!") and b"sh" in first.split(b"/")[-1]:
        done = subprocess.run(["sh", "-n", found], capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            return Item(name, "fail", f"{found}: sh -n: {done.stderr.strip()}")
        syntax = "; sh -n: no syntax error"
    return Item(name, "pass", f"{found} is executable{syntax}")


def _rules(s: WeeklySettings) -> Item:
    name = "alert rules (promtool)"
    rules = sorted(glob.glob(s.rules_glob))
    if not rules:
        return Item(name, "skip", f"no alert rules file ({s.rules_glob})")
    promtool = shutil.which("promtool")
    if promtool is None:
        return Item(name, "skip", "promtool is not installed (apt-get install prometheus)")
    tests = sorted(glob.glob(s.tests_glob))
    cmd = [promtool, "test", "rules", *tests] if tests else [promtool, "check", "rules", *rules]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    shown = " ".join(["promtool", *cmd[1:3], *(tests or rules)])
    if done.returncode == 0:
        return Item(name, "pass", f"{shown}: ok")
    tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-5:])
    return Item(name, "fail", f"{shown}: exit {done.returncode}: {tail}")


def run_weekly(t: TargetInfo, settings: WeeklySettings | None = None) -> Checklist:
    s = settings or WeeklySettings()
    cl = Checklist("weekly", t.description)
    cl.add(_rehearse_target(t, s))
    cl.add(_rehearse_abort(s))
    cl.add(_invalidation(s))
    cl.add(_rules(s))
    return cl
