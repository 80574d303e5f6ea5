"""From a real incident to its notice and RCA.

The suite runs as a user runs it (`pytest --pyargs tests_synthetic`, a subprocess)
against the embedded reference deployment with `corrupt-entry`, the gate armed
against the Kubernetes API stand-in with an invalidation command; then a passing run
against a healthy deployment. The notice and RCA drafted from the two reports carry
what was served and done (root hash, release, alert, gate time) and nothing else.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.k8s_standin import K8sStandIn
from tlogcheck.cli import main
from tlogcheck.runs import run_suite

TOKEN = "e2e-token-31c9a0f4b2"


@pytest.fixture
def standin() -> Iterator[K8sStandIn]:
    with K8sStandIn(token=TOKEN) as s:
        s.seed_rollout()
        yield s


def test_notice_and_rca_from_a_failing_and_a_passing_run(
    tmp_path: Path, standin: K8sStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = standin.write_kubeconfig(tmp_path / "kubeconfig")
    marker = tmp_path / "invalidated"
    hook = f'echo "$TLOG_ALERT $TLOG_RELEASE" > {shlex.quote(str(marker))}; echo purged'
    env = {"KUBECONFIG": str(kubeconfig)}
    common = ["--tlog-embedded-entries=256", "--rollout=tlog-ro", "--gate-action=abort+undo"]
    bundle = tmp_path / "bundle"
    failing = run_suite(
        [
            *common,
            "--tlog-embedded-fault=corrupt-entry",
            f"--gate-invalidate={hook}",
            f"--tlog-evidence={bundle}",
        ],
        env=env,
        timeout=300,
    )
    assert failing.exitstatus == 1, failing.output[-2000:]
    assert failing.failed_checks == {"inclusion"}
    assert marker.read_text().startswith("TLogInclusionProofFail v")
    passing = run_suite(common, env=env, timeout=300)
    assert passing.exitstatus == 0, passing.output[-2000:]

    paths = []
    for name, run in (("failing", failing), ("passing", passing)):
        p = tmp_path / f"{name}.json"
        p.write_text(json.dumps(run.report))
        paths.append(str(p))
    gate = failing.report["gate"]
    root = failing.report["served"]["edge"]["root_hash"]
    release = failing.report["served"]["edge"]["release"]
    acted = gate["acted_at"][:19].replace("T", " ")
    raw = failing.output + passing.output + str(failing.report) + str(passing.report)

    assert main(["notice", *paths]) == 0
    text = capsys.readouterr().out
    assert text.startswith("제목: [TLog] 포함증명 실패 (조치 완료)\n")
    assert root in text and f"릴리스 {release}" in text
    assert "TLogInclusionProofFail" in text and acted in text
    assert "리비전 2(으)로 롤백" in text and "CDN 무효화 (종료 코드 0" in text

    assert main(["rca", *paths, "--lang", "en"]) == 0
    draft = capsys.readouterr().out
    assert root in draft and release in draft and acted in draft
    assert failing.report["db"]["sha256"] in draft
    assert failing.report["replay"]["command"] in draft
    assert gate["outcome"]["event"] in draft and gate["invalidation"]["event"] in draft
    # The evidence: shown (served entries that are not the signed leaves), not proven.
    assert f"`{bundle}` — shown, not proven" in draft
    assert gate["triggered_by"]["evidence_level"] == "shown: entry"

    # Nothing invented: each hash and time printed is one the runs reported.
    for h in set(re.findall(r"\b[0-9a-f]{64}\b", text + draft)):
        assert h in raw
    for day, clock in set(re.findall(r"(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) UTC", text + draft)):
        assert f"{day}T{clock}" in raw
    assert TOKEN not in text + draft + raw
