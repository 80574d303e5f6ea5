"""`--tlog-evidence DIR`: a failing run leaves a bundle that proves what was served.

The embedded deployment is stopped when the run ends, so `evidence verify` works from the
bundle alone. Serial and under xdist (workers send their records to the controller).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tlogcheck.cli import main
from tlogcheck.cli.runs import run_suite

ARGS = ["--tlog-embedded-entries=256", "--tlog-seed=7", "--tlog-sample=8", "-m", "not load"]


@pytest.mark.parametrize("xdist", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_a_failing_run_leaves_a_bundle_that_verifies_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], xdist: tuple[str, ...]
) -> None:
    out = tmp_path / "bundle"
    run = run_suite(
        [*ARGS, "--tlog-embedded-fault=split-view", *xdist],
        env={"TLOG_EVIDENCE": str(out)},
    )
    assert run.exitstatus == 1, run.output
    assert f"evidence bundle: {out}" in run.output
    assert main(["evidence", "verify", str(out)]) == 1
    assert "split view: PROVEN" in capsys.readouterr().out


def test_a_passing_run_writes_no_bundle(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    run = run_suite([*ARGS, f"--tlog-evidence={out}"])
    assert run.exitstatus == 0, run.output
    assert not out.exists()
