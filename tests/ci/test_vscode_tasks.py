"""ci/vscode/tasks.json (playbook §7) and the ci/cdn scripts: what each task calls exists.

Every `tlogcheck SUBCOMMAND` a task runs answers `--help`; every suite option it
passes is one `pytest --help` lists; the problem matcher matches pytest's FAILED
line; the validators of tests/ci refuse the defects they exist for.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ci import file_checks
from tlogcheck.cli import COMMANDS

REPO = Path(__file__).resolve().parents[2]
TASKS = REPO / "ci" / "vscode" / "tasks.json"
# Subcommands a task calls that another part of the project adds; when one lands,
# the first test fails until it is taken off this list (and its --help is run).
PENDING: dict[str, str] = {}


def tasks() -> list[dict[str, object]]:
    doc = file_checks.load_jsonc(TASKS)
    return list(doc["tasks"])


def tlogcheck_calls() -> list[tuple[str, list[str]]]:
    """(label, argv after `tlogcheck`) of every tlogcheck call in a task's command."""
    calls = []
    for task in tasks():
        command = str(task["command"])
        for part in re.split(r"&&|\|\||;|\|", command):
            words = shlex.split(part.replace("$(", " ").replace(")", " "))
            if words and words[0] == "tlogcheck":
                calls.append((str(task["label"]), words[1:]))
    return calls


def test_the_playbooks_two_tasks_and_tlogchecks_are_there() -> None:
    labels = [t["label"] for t in tasks()]
    assert labels[:2] == ["lumen:ops:quick-health", "lumen:ops:purge-cdn"]
    purge = next(t for t in tasks() if t["label"] == "lumen:ops:purge-cdn")
    assert purge["command"] == "./infra/cdn/invalidate.sh"
    subcommands = {argv[0] for _, argv in tlogcheck_calls()}
    assert subcommands == {"verify", "triage", "checklist", "notice", "rca"}
    assert file_checks.vscode_tasks_errors(TASKS) == []


def test_every_tlogcheck_subcommand_a_task_calls_answers_help() -> None:
    for name in PENDING:
        assert name not in COMMANDS, f"tlogcheck {name} exists now: take it off PENDING"
    called = sorted({argv[0] for _, argv in tlogcheck_calls()} - set(PENDING))
    assert called
    for name in called:
        assert name in COMMANDS, f"a task calls `tlogcheck {name}`, which does not exist"
        done = subprocess.run(
            [sys.executable, "-m", "tlogcheck", name, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        # Each option the task passes is one the subcommand has.
        for label, argv in tlogcheck_calls():
            if argv[0] == name:
                for opt in (a for a in argv if a.startswith("--")):
                    assert opt in done.stdout, f"{label}: tlogcheck {name} has no {opt}"


def test_the_suite_task_passes_options_the_suite_has() -> None:
    suite = next(t for t in tasks() if t["label"] == "tlogcheck:suite")
    options = set(re.findall(r"(--tlog-[a-z0-9-]+)", str(suite["command"])))
    assert options == {"--tlog-url", "--tlog-report-json"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    for opt in options:
        assert opt in done.stdout


def test_the_problem_matcher_matches_a_failing_check() -> None:
    suite = next(t for t in tasks() if t["label"] == "tlogcheck:suite")
    pattern = suite["problemMatcher"]["pattern"]  # type: ignore[index]
    line = (
        "FAILED tests_synthetic/test_inclusion.py::test_sampled_entries_are_included_in_the_"
        "served_root - Failed: expected: each of 81 sampled entries is included"
    )
    m = re.match(pattern["regexp"], line)
    assert m is not None
    assert m.group(pattern["file"]) == "tests_synthetic/test_inclusion.py"
    assert m.group(pattern["message"]).startswith("Failed: expected")
    assert re.match(pattern["regexp"], "PASSED tests_synthetic/test_root.py::test_x") is None


def test_the_alert_input_offers_the_five_alerts() -> None:
    from tlogcheck.playbook import ALERTS

    doc = file_checks.load_jsonc(TASKS)
    alert = next(i for i in doc["inputs"] if i["id"] == "alert")
    assert alert["type"] == "pickString" and sorted(alert["options"]) == sorted(ALERTS)


# --- the validators refuse what they exist for ------------------------------------------------


def test_comments_are_stripped_but_not_inside_strings() -> None:
    text = '// c\n{"a": "http://x/*y*/", /* b */ "c": 1}\n'
    assert json.loads(file_checks.strip_jsonc(text)) == {"a": "http://x/*y*/", "c": 1}


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda d: d["tasks"].pop(0), "the playbook's task 'lumen:ops:quick-health' is missing"),
        (lambda d: d["inputs"].pop(0), "${input:tlogUrl} is not in inputs"),
        (lambda d: d["tasks"][2].pop("command"), "tlogcheck:suite: no command"),
        (lambda d: d.update(version="0.1.0"), "version '0.1.0'"),
    ],
)
def test_the_tasks_validator_refuses_defects(tmp_path: Path, change: object, error: str) -> None:
    doc = file_checks.load_jsonc(TASKS)
    change(doc)  # type: ignore[operator]
    broken = tmp_path / "tasks.json"
    broken.write_text(json.dumps(doc))
    assert any(error in e for e in file_checks.vscode_tasks_errors(broken))


def test_the_script_validator_refuses_defects(tmp_path: Path) -> None:
    good = (REPO / "ci" / "cdn" / "cloudfront-invalidate.sh").read_text()
    script = tmp_path / "x.sh"
    script.write_text(good.replace("set -eu\n", ""))
    script.chmod(0o755)
    assert any("set -eu" in e for e in file_checks.shell_script_errors(script))
    script.write_text(good)
    script.chmod(0o644)
    assert any("not executable" in e for e in file_checks.shell_script_errors(script))
    script.chmod(0o755)
    script.write_text(good + "\nif then fi\n")
    assert any("sh -n" in e for e in file_checks.shell_script_errors(script))
