"""`tlogcheck checklist`: each §5 checklist passes on a healthy deployment and fails on
the fault it exists for, against the embedded reference deployment (real servers on
loopback, real locust, the real suite in a subprocess, Debian's promtool)."""

from __future__ import annotations

import json
import shutil
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MakeRefstack
from tlogcheck import note, verify
from tlogcheck.cli import main
from tlogcheck.client import TLogClient
from tlogcheck.refstack.stack import start_stack

REPO = Path(__file__).resolve().parents[2]
ENTRIES = "--tlog-embedded-entries=256"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TLOG_URL", "TLOG_VKEY", "TLOG_DB", "TLOG_KNOWN_ROOT", "TLOG_TIMEOUT",
                 "TLOG_EMBEDDED_FAULT", "TLOG_ROLLOUT", "TLOG_GATE_INVALIDATE", "TLOG_CUSTODY",
                 "TLOG_CHECKLIST_LOAD_SECONDS", "TLOG_HEADER", "TLOG_STATE", "TLOG_INDEX",
                 "TLOG_ALERT_RULES", "TLOG_DB_SHA256", "TLOG_API"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def checklist(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["checklist", *args, "--format", "json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def marks(doc: dict[str, Any]) -> dict[str, str]:
    return {i["item"]: i["mark"] for i in doc["items"]}


# --- daily ------------------------------------------------------------------------------


def test_daily_passes_on_a_healthy_deployment(capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = checklist(capsys, "daily", ENTRIES, "--load-seconds", "2")
    assert code == 0, doc
    assert set(marks(doc).values()) == {"✓"}
    assert list(marks(doc)) == [
        "health (edge)",
        "health (origin)",
        "cache hit ratio (edge)",
        "5xx rate (load)",
        "p95 (load)",
    ]


@pytest.mark.parametrize(
    ("fault", "item"),
    [
        ("healthz-5xx", "health (edge)"),
        ("healthz-degraded", "health (edge)"),
        ("cache-always-miss", "cache hit ratio (edge)"),
        ("edge-no-query-cache", "cache hit ratio (edge)"),
        ("error-rate:20", "5xx rate (load)"),
    ],
)
def test_daily_fails_on_its_faults(
    capsys: pytest.CaptureFixture[str], fault: str, item: str
) -> None:
    code, doc = checklist(
        capsys, "daily", ENTRIES, "--load-seconds", "2", f"--tlog-embedded-fault={fault}"
    )
    assert code == 1
    assert marks(doc)[item] == "✗"


def test_daily_on_a_target_that_does_not_answer_is_inconclusive(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, doc = checklist(
        capsys, "daily", "--tlog-url", "http://127.0.0.1:9", "--tlog-timeout", "0.5"
    )
    assert code == 6
    assert all(i["status"] == "inconclusive" for i in doc["items"])


# --- weekly -----------------------------------------------------------------------------


def test_weekly_passes_with_an_executable_invalidation_script(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no ci/prometheus here: the rules item is skipped
    script = str(REPO / "ci" / "cdn" / "cloudflare-purge.sh")
    code, doc = checklist(capsys, "weekly", ENTRIES, "--gate-invalidate", script)
    assert code == 0, doc
    m = marks(doc)
    assert m["canary rehearsal: suite with the gate in dry run"] == "✓"
    assert m["canary rehearsal: the gate would abort a broken canary"] == "✓"
    assert m["invalidation command exists and is executable"] == "✓"
    # The rules come from the installed package, wherever the checklist runs.
    rules = next(i for i in doc["items"] if i["item"] == "alert rules (promtool)")
    if shutil.which("promtool") is None:
        assert rules["mark"] == "–"
    else:
        assert rules["mark"] == "✓" and "installed package" in rules["reason"], rules


def test_weekly_fails_without_a_usable_invalidation_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    plain = tmp_path / "invalidate.sh"
    plain.write_text("#!/bin/sh\necho hi\n")  # not executable
    for command in ("./infra/cdn/invalidate.sh", str(plain)):
        code, doc = checklist(capsys, "weekly", ENTRIES, "--gate-invalidate", command)
        assert code == 1
        assert marks(doc)["invalidation command exists and is executable"] == "✗"


def test_weekly_marks_a_step_it_cannot_judge_not_a_failure(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, doc = checklist(capsys, "weekly", ENTRIES)  # no invalidation hook configured
    hook = next(i for i in doc["items"] if i["item"].startswith("invalidation command"))
    assert hook["mark"] == "–" and "not judged" in hook["reason"], hook
    assert code == 0, doc


def test_weekly_fails_on_a_broken_deployment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, doc = checklist(
        capsys, "weekly", ENTRIES, "--tlog-embedded-fault=wrong-root", "--gate-invalidate", "true"
    )
    assert code == 1
    assert marks(doc)["canary rehearsal: suite with the gate in dry run"] == "✗"


RULES = """groups:
  - name: tlog
    rules:
      - alert: TLogAvailabilityDown
        expr: up{job="tlog"} == 0
        for: 1m
"""
RULES_TEST = """rule_files: [tlog.rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'up{job="tlog"}'
        values: '0x5'
    alert_rule_test:
      - eval_time: 3m
        alertname: TLogAvailabilityDown
        exp_alerts:
          - exp_labels: {job: tlog}
"""


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_weekly_runs_promtool_on_the_alert_rules(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rules = tmp_path / "rules"
    rules.mkdir(parents=True)
    (rules / "tlog.rules.yaml").write_text(RULES)
    (rules / "tlog.test.yaml").write_text(RULES_TEST)
    hook = tmp_path / "purge.sh"
    hook.write_text("#!/bin/sh\ntrue\n")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    given = ("--gate-invalidate", str(hook), "--alert-rules", str(rules))
    code, doc = checklist(capsys, "weekly", ENTRIES, *given)
    assert code == 0 and marks(doc)["alert rules (promtool)"] == "✓"
    # A test that expects what the rule does not do fails the item.
    (rules / "tlog.test.yaml").write_text(RULES_TEST.replace("eval_time: 3m", "eval_time: 0m"))
    code, doc = checklist(capsys, "weekly", ENTRIES, *given)
    assert code == 1 and marks(doc)["alert rules (promtool)"] == "✗"


# --- quarterly --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def custody_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Custody records of the healthy demo log: its trees at 128 and 256 entries."""
    path = tmp_path_factory.mktemp("custody") / "custody.txt"
    with start_stack(entries=256) as stack, TLogClient(stack.info.edge_url) as client:
        lines = ["# size root date"]
        for n in (128, 256):
            lines.append(f"{n} {verify.root_of_size(client, n).root_hash.hex()} 2026-09-30")
    path.write_text("\n".join(lines) + "\n")
    yield path


def test_quarterly_passes_with_matching_custody_records(
    capsys: pytest.CaptureFixture[str], custody_file: Path
) -> None:
    code, doc = checklist(capsys, "quarterly", ENTRIES, "--tlog-custody", str(custody_file))
    assert code == 0, doc
    m = marks(doc)
    assert [k for k in m if k.startswith("custody ")] == [
        k for k in m if k.startswith("custody ") and m[k] == "✓"
    ]
    assert len([k for k in m if k.startswith("custody ")]) == 2
    assert m["db.jsonl audit (full)"] == "✓" and m["signature policy (checkpoint)"] == "✓"
    sig = next(i for i in doc["items"] if i["item"] == "signature policy (checkpoint)")
    assert "origin line 'tlog.example.com/log'" in sig["reason"] and "verifies" in sig["reason"]


def test_quarterly_fails_on_a_rewritten_history(
    capsys: pytest.CaptureFixture[str], custody_file: Path
) -> None:
    code, doc = checklist(
        capsys,
        "quarterly",
        ENTRIES,
        "--tlog-embedded-fault=history-rewrite",
        "--tlog-custody",
        str(custody_file),
    )
    assert code == 1
    failed = [i for i in doc["items"] if i["mark"] == "✗"]
    assert {i["item"].split(":")[0] for i in failed} >= {"custody 128", "custody 256"}
    assert any("custody.txt:2" in i["reason"] for i in failed)


def test_quarterly_fails_when_no_verifier_key_verifies(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, other = note.generate_signer("tlog.example.com/log")  # the right name, another key
    code, doc = checklist(capsys, "quarterly", ENTRIES, "--tlog-vkey", other)
    sig = next(i for i in doc["items"] if i["item"] == "signature policy (checkpoint)")
    assert code == 1 and sig["mark"] == "✗"


def test_a_malformed_custody_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "custody.txt"
    bad.write_text("128 " + "ab" * 32 + "\n128 nothex\n")
    assert main(["checklist", "quarterly", ENTRIES, "--tlog-custody", str(bad)]) == 2
    assert f"--tlog-custody {bad}:2: expected `SIZE HEX [DATE]`" in capsys.readouterr().err


def test_a_bad_option_from_the_environment_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TLOG_TIMEOUT", "-3")
    assert main(["checklist", "daily", ENTRIES]) == 2
    assert "--tlog-timeout (env TLOG_TIMEOUT): bad value '-3'" in capsys.readouterr().err


def test_the_checklists_own_options_have_env_twins(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, custody_file: Path
) -> None:
    monkeypatch.setenv("TLOG_CHECKLIST_LOAD_SECONDS", "0")
    assert main(["checklist", "daily", ENTRIES]) == 2
    assert "--load-seconds (env TLOG_CHECKLIST_LOAD_SECONDS): bad value '0'" in (
        capsys.readouterr().err
    )
    monkeypatch.delenv("TLOG_CHECKLIST_LOAD_SECONDS")
    monkeypatch.setenv("TLOG_CUSTODY", str(custody_file))
    code, doc = checklist(capsys, "quarterly", ENTRIES, "--tlog-embedded-fault=history-rewrite")
    assert code == 1 and any(i["item"].startswith("custody 128") for i in doc["items"])


# --- the options, bounded, never silent ----------------------------------------------------


def test_a_missing_vkey_file_is_a_usage_error_not_an_item(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "no-such.vkey"
    assert main(["checklist", "quarterly", ENTRIES, "--tlog-vkey", str(missing)]) == 2
    captured = capsys.readouterr()
    assert "--tlog-vkey (command line)" in captured.err and str(missing) in captured.err
    assert "✗" not in captured.out


def test_daily_reaches_a_deployment_behind_an_access_gateway(
    capsys: pytest.CaptureFixture[str], make_refstack: MakeRefstack
) -> None:
    secret = "X-Gateway-Token: checklist-s3cret"
    info = make_refstack(entries=256, require_header=secret).info
    code, doc = checklist(
        capsys, "daily", "--tlog-url", info.edge_url, "--tlog-header", secret, "--load-seconds", "2"
    )
    assert code == 0, doc
    assert "checklist-s3cret" not in json.dumps(doc)


def test_a_hung_healthz_is_a_failed_health_item_in_bounded_time(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, doc = checklist(
        capsys, "daily", ENTRIES, "--tlog-embedded-fault=hang:/healthz", "--tlog-timeout=0.5",
        "--load-seconds", "2",
    )  # fmt: skip
    assert code == 1, doc
    health = next(i for i in doc["items"] if i["item"] == "health (edge)")
    assert health["mark"] == "✗" and health["alert"] == "TLogAvailabilityDown", health
    assert marks(doc)["cache hit ratio (edge)"] == "✓"


def test_ctrl_c_keeps_what_was_found(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "tlogcheck", "checklist", "daily", ENTRIES,
         "--tlog-embedded-fault=hang:/healthz", "--tlog-timeout=30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    assert proc.stderr is not None
    started = proc.stderr.readline()
    assert "checking the embedded reference deployment" in started, started
    # The edge's /healthz hangs for 90 s: interrupt while it is being asked.
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "interrupted after" in err and "found so far" in err
    assert "verdict: INTERRUPTED" in out


# --- the suite's verdict on the same deployment ---------------------------------------------

AGREE = ("", "edge-lag", "multi-node-edge", "hang:/healthz", "healthz-degraded",
         "cache-always-miss", "edge-no-query-cache", "proof-5xx")  # fmt: skip


@pytest.mark.parametrize("fault", AGREE, ids=lambda f: f or "healthy")
def test_daily_reaches_the_suites_verdict(
    capsys: pytest.CaptureFixture[str], make_refstack: MakeRefstack, fault: str
) -> None:
    from tlogcheck.runs import run_suite

    info = make_refstack(entries=256, faults=[fault] if fault else []).info
    timeout = ["--tlog-timeout=1"] if fault.startswith("hang") else []
    run = run_suite(["--tlog-url", info.edge_url, "-m", "health or cache", *timeout])
    # The alerts the suite's health and cache checks failed under, and the daily items'
    # (the load items aside: the suite ran no load phase here).
    suite = {
        t.get("alert")
        for name in ("health", "cache")
        for t in run.report["checks"][name]["tests"]
        if t["outcome"] == "failed"
    }
    _, doc = checklist(
        capsys, "daily", "--tlog-url", info.edge_url, "--load-seconds", "2", *timeout
    )
    daily = {
        i["alert"] for i in doc["items"] if i["mark"] == "✗" and "(load)" not in i["item"]
    }
    assert daily == suite, (fault, suite, doc["items"])
    if not fault:
        assert suite == set() and all(i["mark"] == "✓" for i in doc["items"]), doc
