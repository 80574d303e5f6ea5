"""`tlogcheck triage ALERT` against the reference deployment's faults, and its bundles.

Each alert's triage confirms its fault (exit 1) and finds nothing on a healthy
deployment (exit 0); the bundle it writes verifies offline after the deployment stopped.
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
        ("cache-always-miss", "TLogCacheMissHigh", ()),
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
    assert "environment TLOG_URL" in capsys.readouterr().err


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
