"""`--tlog-evidence DIR`: a failing run leaves a bundle that proves what was served.

The embedded deployment is stopped when the run ends, so `evidence verify` works from the
bundle alone. Serial and under xdist (workers send their records to the controller).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tlogcheck.cli import main
from tlogcheck.runs import run_suite

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


TILES = ["--tlog-api=tiles", "--tlog-embedded-entries=1000", "--tlog-sample=8", "-m", "not load"]


@pytest.mark.parametrize(
    "fault, proven",
    [
        ("tiles-corrupt-entry", "inclusion: PROVEN: edge /tile/entries/000"),
        ("tiles-corrupt-hash", "tile/0/000 hashes to"),
        ("tiles-corrupt-level1", "tiles: PROVEN"),
        ("tiles-checkpoint-ahead", "the log promises what it does not serve"),
    ],
)
def test_a_tiled_log_bundle_proves_tiles_against_the_signed_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fault: str, proven: str
) -> None:
    out = tmp_path / "bundle"
    run = run_suite([*TILES, f"--tlog-embedded-fault={fault}", f"--tlog-evidence={out}"])
    assert run.exitstatus == 1, run.output
    assert main(["evidence", "verify", str(out)]) == 1
    assert proven in capsys.readouterr().out


def test_a_tiled_log_bundle_of_a_header_failure_shows_no_misbehaviour(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bundle"
    run = run_suite([*TILES, "--tlog-embedded-fault=missing-immutable", f"--tlog-evidence={out}"])
    assert run.exitstatus == 1, run.output
    assert main(["evidence", "verify", str(out)]) == 0
    text = capsys.readouterr().out
    assert "root rebuilt from the right edge" in text and "tile/entries/000 (edge)" in text
