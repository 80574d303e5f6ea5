"""`tlogcheck triage ALERT` against the reference deployment's faults, and its bundles.

Each alert's triage confirms its fault (exit 1) and finds nothing on a healthy
deployment (exit 0); on held-out deployments (hung, degraded, a stalled signer, 5xx or
slow proofs, uncached query strings, a lagging or multi-node edge) its verdict for each
alert is the suite's; the bundle it writes verifies offline after the deployment stopped.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import MakeRefstack
from tlogcheck.cli import main
from tlogcheck.playbook import ALERTS

ENTRIES = 1024


def triage(
    capsys: pytest.CaptureFixture[str], stack_info: object, alert: str, *extra: str
) -> tuple[int, dict[str, object]]:
    info = stack_info
    code = main(
        [
            "triage",
            alert,
            "--tlog-url",
            info.edge_url,  # type: ignore[attr-defined]
            "--tlog-vkey",
            info.vkey,  # type: ignore[attr-defined]
            "--format",
            "json",
            *extra,
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    return code, doc


def info_of(stack: object) -> object:
    return getattr(stack, "info", stack)


def test_healthy_deployment_confirms_no_alert(
    make_refstack: MakeRefstack, capsys: pytest.CaptureFixture[str]
) -> None:
    info = info_of(make_refstack(entries=ENTRIES))
    for name in ALERTS:
        code, doc = triage(capsys, info, name.lower())
        assert code == 0, doc
        assert doc["alert"] == name and doc["confirmed"] is False
        assert not any(s["problem_of"] for s in doc["steps"]), doc["steps"]  # type: ignore[index,union-attr]


@pytest.mark.parametrize(
    ("fault", "alert", "extra"),
    [
        ("corrupt-entry:512", "TLogInclusionProofFail", ("--index", "512")),
        ("split-view", "TLogInclusionProofFail", ()),
        ("stale-edge-root", "TLogInclusionProofFail", ()),
        ("healthz-5xx", "TLogAvailabilityDown", ()),
        ("healthz-degraded", "TLogAvailabilityDown", ()),
        ("signer-stall", "TLogInclusionProofFail", ()),
        ("cache-always-miss", "TLogCacheMissHigh", ()),
        ("edge-no-query-cache", "TLogCacheMissHigh", ()),
        ("proof-5xx", "Ingress5xxHigh", ()),
        ("proof-slow", "LatencyP95High", ()),
        ("error-rate:20", "Ingress5xxHigh", ()),
        ("latency:400", "LatencyP95High", ()),
    ],
)
def test_triage_confirms_the_fault(
    make_refstack: MakeRefstack,
    capsys: pytest.CaptureFixture[str],
    fault: str,
    alert: str,
    extra: tuple[str, ...],
) -> None:
    info = info_of(make_refstack(entries=ENTRIES, faults=[fault]))
    code, doc = triage(capsys, info, alert, *extra)
    assert code == 1, doc
    assert doc["confirmed"] is True
    steps = [s for s in doc["steps"] if alert in s["problem_of"]]  # type: ignore[union-attr,index]
    assert steps, doc["steps"]


def test_kubernetes_steps_say_why_they_did_not_run(
    make_refstack: MakeRefstack, capsys: pytest.CaptureFixture[str]
) -> None:
    info = info_of(make_refstack(entries=ENTRIES))
    code, doc = triage(capsys, info, "Ingress5xxHigh")
    skipped = {s["section"]: s["skipped"] for s in doc["steps"]}  # type: ignore[union-attr,index]
    assert skipped["§2.1"] and skipped["§2.2"]


@pytest.mark.parametrize(
    ("fault", "extra", "verdict", "finding"),
    [
        ("corrupt-entry:512", ("--index", "512"), "SHOWN (not proven)", "SHOWN: entry: entry 512"),
        ("split-view", (), "PROVEN", "PROVEN: split view: the log 'tlog.example.com/log' signed "
         "two trees of size 1024"),
    ],
)  # fmt: skip
def test_bundle_shows_the_fault_after_the_deployment_stopped(
    make_refstack: MakeRefstack,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    fault: str,
    extra: tuple[str, ...],
    verdict: str,
    finding: str,
) -> None:
    stack = make_refstack(entries=ENTRIES, faults=[fault])
    out = tmp_path / "bundle"
    info = info_of(stack)
    code, _ = triage(capsys, info, "TLogInclusionProofFail", *extra, "--out", str(out))
    assert code == 1
    stack.close()
    assert main(["evidence", "verify", str(out), "--tlog-vkey", info.vkey]) == 1
    text = capsys.readouterr().out
    assert text.startswith(verdict) and finding in text
    records = json.loads((out / "bundle.json").read_text())["responses"]
    assert all(r["purpose"] and r["purpose"]["check"] == "triage" for r in records)


def test_healthy_bundle_shows_nothing(
    make_refstack: MakeRefstack, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    stack = make_refstack(entries=ENTRIES)
    out = tmp_path / "bundle"
    info = info_of(stack)
    code, _ = triage(capsys, info, "TLogInclusionProofFail", "--index", "700", "--out", str(out))
    assert code == 0
    stack.close()
    assert main(["evidence", "verify", str(out), "--tlog-vkey", info.vkey, "--verbose"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("nothing shown")
    assert "checked: entry 700 (edge) is the leaf its tree holds" in text
    # The same choices of --format as every command that prints a report.
    assert main(["evidence", "verify", str(out), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"].startswith("nothing shown") and doc["findings"] == []
    assert doc["level"] == "none"


def test_unknown_alert_is_a_usage_error_listing_the_alerts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["triage", "DiskFull", "--tlog-url", "http://127.0.0.1:9"]) == 2
    out = capsys.readouterr().out
    assert all(name in out for name in ALERTS)


def test_bad_env_twin_is_a_usage_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TLOG_URL", "ftp://nowhere")
    assert main(["triage", "TLogCacheMissHigh"]) == 2
    assert "--tlog-url (env TLOG_URL)" in capsys.readouterr().err


def test_unreachable_target_is_could_not_ask(capsys: pytest.CaptureFixture[str]) -> None:
    # Port 9 on loopback: nothing listens (refused at once).
    code = main(
        [
            "triage",
            "TLogAvailabilityDown",
            "--tlog-url",
            "http://127.0.0.1:9",
            "--tlog-timeout",
            "1",
        ]
    )
    assert code == 6
    assert "could not ask" in capsys.readouterr().out


def test_from_report_re_verifies_the_reports_failing_indices(
    make_refstack: MakeRefstack, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from tlogcheck.runs import run_suite

    info = info_of(make_refstack(entries=ENTRIES, faults=["corrupt-entry:300"]))
    run = run_suite(
        ["--tlog-url", info.edge_url, "--tlog-index=300", "-m", "inclusion"]  # type: ignore[attr-defined]
    )
    assert run.exitstatus == 1, run.output
    report = tmp_path / "report.json"
    report.write_text(json.dumps(run.report))
    code, doc = triage(capsys, info, "TLogInclusionProofFail", "--from-report", str(report))
    assert code == 1
    (step,) = [s for s in doc["steps"] if s["section"] == "§2.4"]  # type: ignore[union-attr,index]
    assert "[300]" in step["finding"]  # type: ignore[index]


def test_from_report_that_is_not_a_report_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "r.json"
    bad.write_text("[1, 2]")
    code = main(
        [
            "triage",
            "TLogInclusionProofFail",
            "--tlog-url",
            "http://127.0.0.1:9",
            "--from-report",
            str(bad),
        ]
    )
    assert code == 2
    assert "not a tlogcheck JSON report" in capsys.readouterr().err


def test_immediate_actions_are_commands_with_the_rollout_filled_in(
    make_refstack: MakeRefstack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/kubeconfig")
    info = info_of(make_refstack(entries=ENTRIES))
    code, doc = triage(
        capsys, info, "TLogAvailabilityDown", "--rollout", "tlog-ro", "--rollout-namespace", "prod"
    )
    assert code == 0
    assert "kubectl argo rollouts abort tlog-ro -n prod" in doc["commands"]  # type: ignore[operator]


def test_triage_reaches_a_deployment_behind_an_access_gateway(
    make_refstack: MakeRefstack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "X-Gateway-Token: triage-s3cret"
    info = info_of(make_refstack(entries=ENTRIES, require_header=secret))
    # Without the header the gateway answers 401: that is what triage reports.
    code, doc = triage(capsys, info, "TLogAvailabilityDown")
    assert code == 1 and doc["confirmed"] is True, doc
    # With it, from the command line or from the environment (one header a line):
    code, doc = triage(capsys, info, "TLogAvailabilityDown", "--tlog-header", secret)
    assert code == 0 and doc["confirmed"] is False, doc
    assert "triage-s3cret" not in json.dumps(doc)
    monkeypatch.setenv("TLOG_HEADER", secret)
    code, doc = triage(capsys, info, "TLogCacheMissHigh")
    assert code == 0, doc


# --- the suite's verdict, held-out deployments ----------------------------------------------

# fault -> the suite's options for it (the load phase for the latency of one group).
HELD_OUT: dict[str, tuple[str, ...]] = {
    "": (),
    "edge-lag": (),
    "multi-node-edge": (),
    "hang:/healthz": ("--tlog-timeout=1",),
    "hang:/v1/log/root": ("--tlog-timeout=1",),
    "healthz-degraded": (),
    "signer-stall": (),
    "proof-5xx": (),
    "proof-slow": ("--load", "--load-duration=4", "--load-users=6"),
    "edge-no-query-cache": (),
}


def _suite_alerts(report: dict[str, object]) -> set[str]:
    """The alerts the suite's failed tests are problems of (as the metrics count them)."""
    from tlogcheck.export.metrics import test_alert

    found = set()
    for name, check in report.get("checks", {}).items():  # type: ignore[attr-defined]
        for t in check["tests"]:
            if t["outcome"] == "failed":
                alert = test_alert(name, t)
                assert alert is not None, t
                found.add(alert)
    return found


@pytest.mark.parametrize("fault", sorted(HELD_OUT), ids=lambda f: f or "healthy")
def test_triage_reaches_the_suites_verdict_for_every_alert(
    make_refstack: MakeRefstack, capsys: pytest.CaptureFixture[str], fault: str
) -> None:
    from tlogcheck.runs import run_suite

    extra = HELD_OUT[fault]
    info = info_of(make_refstack(entries=ENTRIES, faults=[fault] if fault else []))
    # The functional checks; and the load phase where the fault is a latency's.
    marker = () if "--load" in extra else ("-m", "not load")
    run = run_suite(["--tlog-url", info.edge_url, *marker, *extra])  # type: ignore[attr-defined]
    suite = _suite_alerts(run.report)
    assert run.report, run.output[-3000:]
    timeout = [a for a in extra if a.startswith("--tlog-timeout")]
    for name in ALERTS:
        code, doc = triage(capsys, info, name, *timeout)
        assert code != 2, doc  # never a usage error, whatever the target does
        assert doc["confirmed"] is (name in suite), (fault, name, suite, doc["steps"])
        if not fault:
            assert code == 0, doc


def test_a_hung_healthz_confirms_availability_not_a_usage_error(
    make_refstack: MakeRefstack, capsys: pytest.CaptureFixture[str]
) -> None:
    info = info_of(make_refstack(entries=ENTRIES, faults=["hang:/healthz"]))
    code, doc = triage(capsys, info, "TLogAvailabilityDown", "--tlog-timeout", "1")
    assert code == 1 and doc["verdict"] == "confirmed", doc
    # What a hung root leaves unjudged is said, never "nothing wrong".
    hung = info_of(make_refstack(entries=ENTRIES, faults=["hang:/v1/log/root"]))
    code, doc = triage(capsys, hung, "TLogInclusionProofFail", "--tlog-timeout", "1")
    assert code == 6 and doc["verdict"] == "not judged", doc
    assert any("TLogAvailabilityDown" in s["problem_of"] for s in doc["steps"]), doc


def test_a_5xx_is_never_an_integrity_verdict(
    make_refstack: MakeRefstack, capsys: pytest.CaptureFixture[str]
) -> None:
    info = info_of(make_refstack(entries=ENTRIES, faults=["proof-5xx"]))
    code, doc = triage(capsys, info, "TLogInclusionProofFail")
    assert code == 6 and doc["confirmed"] is False, doc
    (step,) = [s for s in doc["steps"] if s["section"] == "§2.4"]
    assert step["problem_of"] == ["Ingress5xxHigh"], step
    assert "HTTP 500" in step["findings"][0]["served"]


def test_an_index_outside_the_served_tree_is_a_usage_error(
    make_refstack: MakeRefstack, capsys: pytest.CaptureFixture[str]
) -> None:
    info = info_of(make_refstack(entries=ENTRIES))
    code = main(
        ["triage", "TLogInclusionProofFail", "--tlog-url", info.edge_url, "--tlog-index", "99999"]  # type: ignore[attr-defined]
    )
    assert code == 2
    assert "its size is 1024" in capsys.readouterr().err


def test_the_release_db_and_recorded_trees_are_checked(
    make_refstack: MakeRefstack, capsys: pytest.CaptureFixture[str]
) -> None:
    from tlogcheck.cli.demo import custody_root

    info = info_of(make_refstack(entries=ENTRIES))
    db = ("--tlog-db", info.db_path, "--tlog-db-sha256", info.db_sha256_path)  # type: ignore[attr-defined]
    known = ("--tlog-known-root", custody_root(512))
    code, doc = triage(capsys, info, "TLogInclusionProofFail", *db, *known)
    assert code == 0, doc
    marks = {s["section"] + " " + s["title"]: s["mark"] for s in doc["steps"]}
    assert marks["§3.2 db.jsonl (SHA-256, root rebuilt)"] == "✓", doc["steps"]
    assert marks["§5 recorded trees (known roots, state)"] == "✓", doc["steps"]
    # Another release's hash: §3.2 step 2 fails, proved.
    code, doc = triage(
        capsys, info, "TLogInclusionProofFail", "--tlog-db", info.db_path,  # type: ignore[attr-defined]
        "--tlog-db-sha256", "ab" * 32,
    )  # fmt: skip
    assert code == 1, doc
    (step,) = [s for s in doc["steps"] if s["title"].startswith("db.jsonl")]
    assert step["findings"][0]["how"] == "proved" and "ab" * 32 in step["findings"][0]["expected"]
    # A recorded tree the log does not extend.
    wrong = ("--tlog-known-root", "512:" + "cd" * 32)
    code, doc = triage(capsys, info, "TLogInclusionProofFail", *wrong)
    assert code == 1, doc


def test_a_bad_option_is_a_usage_error_before_any_request(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = str(tmp_path / "nope.vkey")
    code = main(["triage", "TLogAvailabilityDown", "--tlog-url", "http://127.0.0.1:9",
                 "--tlog-vkey", missing])  # fmt: skip
    assert code == 2
    captured = capsys.readouterr()
    assert "--tlog-vkey (command line)" in captured.err and "§3.1" not in captured.err


def test_the_default_report_fits_a_screen_and_verbose_has_the_requests(
    make_refstack: MakeRefstack, capsys: pytest.CaptureFixture[str]
) -> None:
    info = info_of(make_refstack(entries=ENTRIES, faults=["corrupt-entry:512"]))
    url = info.edge_url  # type: ignore[attr-defined]
    assert main(["triage", "TLogInclusionProofFail", "--tlog-url", url]) == 1
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[1].startswith("verdict: CONFIRMED") and lines[2] == "findings:", text
    assert "index 512" in lines[3], text
    assert len(lines) <= 40 and max(map(len, lines)) <= 180, text
    assert main(["triage", "TLogInclusionProofFail", "--tlog-url", url, "--verbose"]) == 1
    verbose = capsys.readouterr().out
    assert "edge GET /v1/log/entry/512 -> HTTP 200" in verbose
    assert len(verbose.splitlines()) > len(lines)


def test_ctrl_c_prints_what_was_found_and_exits_130(make_refstack: MakeRefstack) -> None:
    import signal
    import subprocess
    import sys
    import time

    info = info_of(make_refstack(entries=ENTRIES, faults=["hang:/healthz"]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tlogcheck", "triage", "TLogAvailabilityDown",
         "--tlog-url", info.edge_url, "--tlog-timeout", "30"],  # type: ignore[attr-defined]
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    assert proc.stderr is not None
    # The Kubernetes steps come first (skipped): /healthz is being asked after them.
    for _ in range(2):
        assert "§2." in proc.stderr.readline()
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "interrupted after 2 steps" in err
    assert "verdict: INTERRUPTED" in out
