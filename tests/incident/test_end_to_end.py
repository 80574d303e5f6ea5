"""A scripted walk through the incident commands, from real runs to notice and RCA.

One reference deployment (origin + caching edge, 1,024 entries) is checked by the suite as
a user checks a deployment (`pytest --pyargs tests_synthetic --tlog-url ...` in a
subprocess, with its key and db.jsonl), its faults switched between runs and the edge
purged. The commands then read the runs' JSON reports as an SRE would:

- a health failure, then a later pass that ran only `-m inclusion` while /healthz still
  answered 503: no recovery, the health tests named; a pass of another target: refused,
  or with --combine listed as no evidence; then a health pass: recovery, at that run;
- `corrupt-entry:512` with the gate armed (abort+undo against the Kubernetes API
  stand-in, an invalidation command) and an evidence bundle: the RCA names 512, marks
  the §3.2 hypotheses from the run, lists the bundle; `--out` over the input report,
  over the bundle (triage) or a suite run into it: refused, and the bundle still verifies;
- a 5 % 5xx fault and a load phase with `latency:400`: each failure under the alert the
  report gives it, with its figures.

No traceback anywhere, no secret in any output, every hash and time printed is one the
runs reported.
"""

from __future__ import annotations

import json
import re
import shlex
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.k8s_standin import K8sStandIn
from tlogcheck.cli import main
from tlogcheck.errors import ConfigError
from tlogcheck.refstack.stack import RunningStack, start_stack
from tlogcheck.runs import SuiteRun, run_suite

TOKEN = "e2e-token-31c9a0f4b2"


@pytest.fixture
def stack() -> Iterator[RunningStack]:
    with start_stack(entries=1024) as s:
        yield s


def options(stack: RunningStack) -> list[str]:
    info = stack.info
    return [
        f"--tlog-url={info.edge_url}",
        f"--tlog-vkey={info.vkey_path}",
        f"--tlog-db={info.db_path}",
        f"--tlog-db-sha256={info.db_sha256_path}",
    ]


def suite(
    stack: RunningStack | None,
    faults: list[str],
    args: list[str],
    tmp: Path,
    name: str,
    env: dict[str, str] | None = None,
) -> tuple[SuiteRun, str]:
    """One run with these faults (the edge purged first); its report saved as NAME.json."""
    if stack is not None:
        stack.set_faults(faults)
        stack.purge()
    run = run_suite([*(options(stack) if stack else []), *args], env=env, timeout=300)
    assert "Traceback" not in run.output and "INTERNALERROR" not in run.output
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(run.report))
    return run, str(path)


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def nothing_invented(text: str, runs: list[SuiteRun]) -> None:
    raw = "\n".join(json.dumps(r.report) for r in runs)
    for h in set(re.findall(r"\b[0-9a-f]{64}\b", text)):
        assert h in raw, h
    for day, clock in set(re.findall(r"(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) UTC", text)):
        assert f"{day}T{clock}" in raw, (day, clock)


def test_no_recovery_is_claimed_before_every_failed_test_passed_again(
    stack: RunningStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    health, h = suite(stack, ["healthz-5xx"], ["-m", "not load"], tmp_path, "health")
    assert health.exitstatus == 1 and health.failed_checks == {"health"}
    partial, p = suite(stack, ["healthz-5xx"], ["-m", "inclusion"], tmp_path, "inclusion")
    assert partial.exitstatus == 0  # /healthz still answers 503: inclusion does not look

    code, text, _ = cli(["notice", h, p], capsys)
    assert code == 0
    assert text.startswith("제목: [TLog] /healthz 5xx 연속 (TLogAvailabilityDown): ")
    assert "503" in text.splitlines()[0] and "(확인 중)" in text.splitlines()[0]
    assert "조치 완료" not in text and "복구 확인(" not in text
    assert "복구 확인 전 — 다시 통과한 것이 확인되지 않은 테스트: health (" in text
    assert "이후 보고서가 실행한 검사 (" in text and "): inclusion" in text
    assert "근거 (health): edge GET /healthz -> HTTP 503" in text

    # Another deployment's pass is no recovery of this one: refused, or listed as such.
    other, o = suite(None, [], ["--tlog-embedded-entries=64", "-m", "health"], tmp_path, "other")
    assert other.exitstatus == 0
    code, out, err = cli(["notice", h, o], capsys)
    assert code == 2 and out == ""
    assert f"{h}: {stack.info.edge_url}" in err and f"{o}: http://127.0.0.1:" in err
    code, out, _ = cli(["notice", h, o, "--combine", "--lang", "en"], capsys)
    assert code == 0 and "(resolved)" not in out and "recovery not yet confirmed" in out
    assert f"reports of other targets (no evidence of this target's recovery): {o}" in out

    fixed, f = suite(stack, [], ["-m", "health"], tmp_path, "fixed")
    assert fixed.exitstatus == 0
    code, text, _ = cli(["notice", h, p, f, "--lang", "en"], capsys)
    assert code == 0 and text.splitlines()[0].endswith("(resolved)")
    finished = fixed.report["run"]["finished_at"][:19].replace("T", " ")
    assert f"recovery confirmed (every test that failed passed again): {finished} UTC" in text
    code, draft, _ = cli(["rca", h, p, f], capsys)
    assert code == 0 and f"| 복구 | {finished} UTC | 통과 실행 `{f}` |" in draft
    nothing_invented(text + draft, [health, partial, fixed])


def test_corrupt_entry_512_from_the_run_to_its_rca_and_no_bundle_lost(
    stack: RunningStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "evidence"
    with K8sStandIn(token=TOKEN) as k8s:
        k8s.seed_rollout()
        kubeconfig = k8s.write_kubeconfig(tmp_path / "kubeconfig")
        marker = tmp_path / "invalidated"
        hook = f'echo "$TLOG_ALERT" > {shlex.quote(str(marker))}'
        gate = ["--rollout=tlog-ro", "--gate-action=abort+undo", f"--gate-invalidate={hook}"]
        run, r = suite(
            stack,
            ["corrupt-entry:512"],
            [*gate, f"--tlog-evidence={bundle}"],
            tmp_path,
            "c512",
            env={"KUBECONFIG": str(kubeconfig)},
        )
    assert run.exitstatus == 1 and run.failed_checks == {"inclusion"}, run.output[-2000:]
    assert marker.read_text().strip() == "TLogInclusionProofFail"
    evidence = run.report["evidence"]
    assert (evidence["bundle"], evidence["written"], evidence["error"]) == (str(bundle), True, None)
    # Served entries that are not the signed leaves: shown, not proven.
    assert evidence["level"] == "shown"
    assert run.report["gate"]["triggered_by"]["evidence_level"] == "shown: entry"

    code, draft, _ = cli(["rca", r], capsys)
    assert code == 0
    assert draft.startswith(
        "# 사후 분석(RCA): [TLog] 포함증명 실패 (TLogInclusionProofFail): 항목 512 (조치 중)\n"
    )
    assert "- 실패한 항목: 512\n" in draft and "index 512: leaf hash: entry 512" in draft
    assert "| `db.jsonl` 불일치/손상 (§3.2) | db 검사 통과; " in draft
    assert re.search(
        r"\| CDN 구버전 \(§3\.2\) \| 엣지 루트 = 원본 루트 1024:[^|]*\| 배제됨 \|", draft
    )
    assert "| 빌드 스텝 누락 (§3.2) | " in draft and "| 미결 |" in draft
    assert f"- **증거 번들**: `{bundle}` — 관측됨, 입증 아님" in draft
    assert "리비전 2(으)로 롤백" in draft and TOKEN not in draft + run.output
    nothing_invented(draft, [run])

    # Nothing written over an input or an earlier bundle, and the bundle still verifies.
    before = Path(r).read_bytes()
    code, out, err = cli(["rca", r, "--out", r], capsys)
    assert code == 2 and out == "" and f"--out {r}: is the input REPORT.json" in err
    assert Path(r).read_bytes() == before
    listing = sorted(p.name for p in bundle.rglob("*"))
    code, verified, _ = cli(["evidence", "verify", str(bundle)], capsys)
    assert code == 1 and "512" in verified
    url = stack.info.edge_url
    code, out, err = cli(
        ["triage", "TLogInclusionProofFail", "--tlog-url", url, "--out", str(bundle)], capsys
    )
    assert code == 2 and f"--out {bundle}: already holds" in out + err
    again, _ = suite(stack, ["corrupt-entry:512"], [f"--tlog-evidence={bundle}"], tmp_path, "again")
    assert again.exitstatus == 4 and f"--tlog-evidence {bundle}: already holds" in again.output
    assert sorted(p.name for p in bundle.rglob("*")) == listing
    assert cli(["evidence", "verify", str(bundle)], capsys)[0] == 1


def test_a_triage_bundle_that_cannot_be_written_keeps_the_verdict(
    stack: RunningStack,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tlogcheck.cli import triage

    stack.set_faults(["healthz-5xx"])

    class Full:
        def __init__(self, path: Any, *, option: str) -> None:
            self.option, self.path = option, path

        def __enter__(self) -> Path:
            return tmp_path / "scratch"

        def __exit__(self, *exc: object) -> None:
            raise ConfigError(f"{self.option} {self.path}: not written: No space left on device")

    (tmp_path / "scratch").mkdir()
    monkeypatch.setattr(triage, "new_directory", Full)
    out = tmp_path / "bundle"
    argv = ["triage", "TLogAvailabilityDown", "--tlog-url", stack.info.edge_url, "--out", str(out)]
    code, text, _ = cli(argv, capsys)
    assert code == 1  # the alert's problem confirmed, as without --out
    assert text.rstrip().endswith(
        f"evidence bundle NOT written: --out {out}: not written: No space left on device"
    )
    assert "verdict: CONFIRMED" in text and not out.exists()


def _alert_counts(report: dict[str, Any]) -> Counter[str]:
    return Counter(
        str(t.get("alert"))
        for c in report["checks"].values()
        for t in c["tests"]
        if t["outcome"] == "failed"
    )


def test_a_5xx_fault_and_a_slow_deployment_under_the_alerts_the_report_gives(
    stack: RunningStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    errors, e = suite(stack, ["error-rate:5"], ["-m", "not load"], tmp_path, "5xx")
    assert errors.exitstatus == 1
    counts = _alert_counts(errors.report)
    top = max(counts, key=lambda a: (counts[a], a == "Ingress5xxHigh"))
    code, text, _ = cli(["notice", e, "--lang", "en"], capsys)
    assert code == 0
    # The title follows the alerts the report's failures carry (the suite classifies).
    assert f"({top})" in text.splitlines()[0] and "HTTP 500" in text
    if set(counts) <= {"Ingress5xxHigh", "TLogAvailabilityDown"}:
        assert "supported" not in text and "inclusion proof failed" not in text

    slow, s = suite(
        stack,
        ["latency:400"],
        ["-m", "load", "--load", "--load-duration=3", "--load-users=5"],
        tmp_path,
        "slow",
    )
    assert slow.exitstatus == 1 and slow.failed_checks == {"load"}
    assert "load_result = " not in slow.output and "alert:    LatencyP95High" in slow.output
    p95 = slow.report["load"]["total"]["p95_ms"]
    for lang, head in (("ko", "제목: [TLog] p95 지연↑"), ("en", "Title: [TLog] p95 latency up")):
        code, text, _ = cli(["notice", s, "--lang", lang], capsys)
        assert code == 0
        assert text.startswith(f"{head} (LatencyP95High): p95 {p95} ms > 300 ms (")
        assert "load 검사 실패" not in text and "보고서에서 확인할 수 없음\n재발" not in text


def test_unwritable_outputs_are_refused_before_anything_is_asked(
    stack: RunningStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Paths no one can write (root included): each command says which option, exit 2
    (4 under pytest), before it asks the deployment anything."""
    stack.set_faults([])
    run = run_suite([*options(stack), "--tlog-metrics-file=/proc/no/tlogcheck.prom"], timeout=120)
    assert run.exitstatus == 4 and run.report == {}
    assert "--tlog-metrics-file /proc/no/tlogcheck.prom: " in run.output
    assert "Traceback" not in run.output and "collected" not in run.output
    url = stack.info.edge_url
    for argv, option in (
        (["triage", "TLogAvailabilityDown", "--tlog-url", url, "--out", "/proc/no/b"], "--out"),
        (
            ["nightly", "--tlog-url", url, "--skip-db-audit", "--report-dir", "/proc/no/n"],
            "--report-dir",
        ),
    ):
        code, out, err = cli(argv, capsys)
        assert code == 2 and f"{option} /proc/no/" in out + err, argv
        assert "verdict" not in out and "pytest --pyargs" not in out
