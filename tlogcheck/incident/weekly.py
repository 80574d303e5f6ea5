"""§5 weekly: canary rehearsal, the invalidation script, the alert rules.

Canary rehearsal: the suite (`pytest --pyargs tests_synthetic`, a subprocess) against
the target with the gate armed in dry run must pass and leave the gate "not needed";
and against the embedded canary with a broken entry the gate must say it would abort
(so the abort path is exercised every week without touching a cluster). The
invalidation command (`--gate-invalidate`) must exist and be executable; without one
configured the step cannot be judged and says so (–, not ✗). The alert rules — the
installed package's own (`tlogcheck.export.rules`), or a directory given with
`--alert-rules` — must pass `promtool test rules` (or `check rules` without test files)
where promtool is installed; otherwise the item is skipped with the reason.

The rehearsal asks the target as the other commands do: the target options go on the
suite's command line, the secret ones (headers, a proxy with credentials) in its
environment, never on an argv; the state file is offered as a known root (a rehearsal
never writes it).
"""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tlogcheck.incident.checklist import Checklist, Item, TargetInfo
from tlogcheck.runs import run_suite

__all__ = ["WeeklySettings", "run_weekly"]

REHEARSAL_ENTRIES = 256


@dataclass(frozen=True)
class WeeklySettings:
    rollout: str = "tlog-ro"
    invalidate: str | None = None
    rules_dir: str | None = None  # *.rules.yaml and *.test.yaml; None: the package's rules
    suite_timeout: float = 600.0


def _target_args(t: TargetInfo) -> tuple[list[str], dict[str, str]]:
    """The suite's options (argv) and its secret ones (environment) for this target."""
    # The URL even for the embedded deployment the checklist started: the suite then
    # checks the very deployment the other items checked.
    r = t.reach
    args = [f"--tlog-url={t.url}", f"--tlog-api={r.api}", f"--tlog-timeout={r.timeout:g}"]
    if r.origin_url:
        args.append(f"--tlog-origin-url={r.origin_url}")
    args += [f"--tlog-vkey={k}" for k in r.vkeys]
    if r.db:
        args.append(f"--tlog-db={r.db}")
    if r.db_sha256:
        args.append(f"--tlog-db-sha256={r.db_sha256.hex()}")
    args += [f"--tlog-known-root={k.tree_size}:{k.root_hash.hex()}" for k in r.recorded()]
    args += [f"--tlog-index={i}" for i in r.indices]
    if r.ca_bundle:
        args.append(f"--tlog-ca-bundle={r.ca_bundle}")
    env = {}
    if r.headers:
        env["TLOG_HEADER"] = "\n".join(f"{name}: {value}" for name, value in r.headers)
    if r.proxy:
        env["TLOG_PROXY"] = r.proxy
    return args, env


def _rehearse_target(t: TargetInfo, s: WeeklySettings) -> Item:
    name = "canary rehearsal: suite with the gate in dry run"
    args, env = _target_args(t)
    run = run_suite(
        [*args, f"--rollout={s.rollout}", "--gate-dry-run"], timeout=s.suite_timeout, env=env
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
        # Nothing to judge: not a broken hook, a missing setting (said, never passed).
        return Item(
            name,
            "skip",
            "not judged: no invalidation command configured; give --gate-invalidate CMD (or "
            "TLOG_GATE_INVALIDATE) to check the one the gate would run",
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


def _package_rules(directory: Path) -> list[str]:
    """The alert rules of the installed package, written where promtool can read them."""
    from tlogcheck.export import rules

    path = directory / "tlog-alerts.rules.yaml"
    path.write_text(rules.render(rules.rules_file()), encoding="utf-8")
    return [str(path)]


def _rules(s: WeeklySettings) -> Item:
    name = "alert rules (promtool)"
    promtool = shutil.which("promtool")
    if promtool is None:
        return Item(name, "skip", "promtool is not installed (apt-get install prometheus)")
    with tempfile.TemporaryDirectory(prefix="tlogcheck-rules-") as tmp:
        if s.rules_dir is None:
            rules, tests, where = _package_rules(Path(tmp)), [], "the installed package's rules"
        else:
            rules = sorted(glob.glob(os.path.join(s.rules_dir, "*.rules.yaml")))
            tests = sorted(glob.glob(os.path.join(s.rules_dir, "*.test.yaml")))
            where = s.rules_dir
            if not rules:
                return Item(name, "skip", f"no *.rules.yaml in {s.rules_dir}")
        cmd = [promtool, "test", "rules", *tests] if tests else [promtool, "check", "rules", *rules]
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=120, cwd=s.rules_dir or tmp
        )
    shown = " ".join(["promtool", *cmd[1:3], *(os.path.basename(p) for p in tests or rules)])
    if done.returncode == 0:
        return Item(name, "pass", f"{shown} ({where}): ok")
    tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-5:])
    return Item(name, "fail", f"{shown} ({where}): exit {done.returncode}: {tail}")


def run_weekly(
    t: TargetInfo, settings: WeeklySettings | None = None, cl: Checklist | None = None
) -> Checklist:
    """The weekly items, added to `cl` (a new checklist by default) as each is decided."""
    s = settings or WeeklySettings()
    cl = cl or Checklist("weekly", t.description)
    cl.add(_rehearse_target(t, s))
    cl.add(_rehearse_abort(s))
    cl.add(_invalidation(s))
    cl.add(_rules(s))
    return cl
