"""`--tlog-evidence DIR`: a failing run leaves a bundle that says what was served, and
why each read was asked, so that `evidence verify` proves only what the log signed.

The embedded deployment is stopped when the run ends, so `evidence verify` works from the
bundle alone. Serial and under xdist (workers send their records to the controller).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tlogcheck.cli import main
from tlogcheck.refstack.data import demo_signer
from tlogcheck.runs import run_suite

ARGS = ["--tlog-embedded-entries=256", "--tlog-seed=7", "--tlog-sample=8", "-m", "not load"]
# The embedded deployment signs with the demo key: what its operator would pin.
KEY = demo_signer()[1]


def verify(capsys: pytest.CaptureFixture[str], bundle: Path, *extra: str) -> tuple[int, str]:
    code = main(["evidence", "verify", str(bundle), "--tlog-vkey", KEY, *extra])
    return code, capsys.readouterr().out


@pytest.mark.parametrize("xdist", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_a_split_view_run_leaves_a_bundle_that_proves_it_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], xdist: tuple[str, ...]
) -> None:
    out = tmp_path / "bundle"
    run = run_suite(
        [*ARGS, "--tlog-embedded-fault=split-view", *xdist], env={"TLOG_EVIDENCE": str(out)}
    )
    assert run.exitstatus == 1, run.output
    assert f"evidence bundle: {out} (proven: split view)" in run.output
    code, text = verify(capsys, out)
    assert code == 1
    assert text.startswith("PROVEN: misbehaviour proven by the log's own signatures")
    assert "PROVEN: split view" in text
    # One side's entries are not "missing" from the other side's tree: the split is it.
    assert "SHOWN: entry" not in text
    evidence = run.report["evidence"]
    assert evidence["bundle"] == str(out) and evidence["level"] == "proven"
    assert evidence["strongest"].startswith("PROVEN: split view")


def test_a_corrupt_entry_run_is_shown_not_proven(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bundle"
    run = run_suite([*ARGS, "--tlog-embedded-fault=corrupt-entry", f"--tlog-evidence={out}"])
    assert run.exitstatus == 1, run.output
    code, text = verify(capsys, out)
    assert code == 1
    assert text.startswith("SHOWN (not proven)") and "PROVEN:" not in text
    # Each endpoint that served it with its own verifying proof is shown serving it.
    assert "SHOWN: entry: entry 0 as served (edge /v1/log/entry/0" in text
    assert "against the tree the log signed" in text


@pytest.mark.parametrize(
    "fault, extra",
    [
        ("healthz-5xx", ()),
        ("cache-always-miss", ()),
        ("inm-always-304", ()),
        ("lenient-index", ()),
        (
            "latency:400",
            ("--load", "--load-duration=2", "--load-users=4", "-m", "load or inclusion or root"),
        ),
    ],
)
def test_an_honest_logs_failing_run_shows_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fault: str, extra: tuple[str, ...]
) -> None:
    out = tmp_path / "bundle"
    run = run_suite([*ARGS, f"--tlog-embedded-fault={fault}", f"--tlog-evidence={out}", *extra])
    assert run.exitstatus == 1, run.output
    assert f"evidence bundle: {out} (nothing shown)" in run.output
    # As a new user runs it, no key given: the bundle's own keys, and still nothing.
    assert main(["evidence", "verify", str(out)]) == 0
    assert "PROVEN" not in capsys.readouterr().out
    code, text = verify(capsys, out, "--verbose")
    assert code == 0, text
    assert text.startswith("nothing shown") and "nothing here accuses the log" in text
    assert "PROVEN" not in text and "SHOWN" not in text
    # The malformed-index probes and the conditional requests were asked, and not read.
    if fault != "latency:400":
        assert "asked as probe" in text and "asked as conditional" in text


def test_every_recorded_answer_says_why_it_was_asked(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    run = run_suite([*ARGS, "--tlog-embedded-fault=healthz-5xx", f"--tlog-evidence={out}"])
    assert run.exitstatus == 1, run.output
    records = json.loads((out / "bundle.json").read_text())["responses"]
    assert records and all(r["purpose"] is not None for r in records)
    kinds = {r["purpose"]["kind"] for r in records}
    assert {"read", "probe", "conditional", "client-identity", "encoding", "health"} <= kinds
    assert all(r["purpose"]["check"] for r in records)
    # The malformed requests go as clients send them: `+0` percent-encoded.
    probes = [r for r in records if r["path"] == "/v1/log/entry/%2B0"]
    assert probes and {r["purpose"]["kind"] for r in probes} == {"probe"}
    assert {r["purpose"]["check"] for r in probes} == {"root"}


def test_a_passing_run_writes_no_bundle(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    run = run_suite([*ARGS, f"--tlog-evidence={out}"])
    assert run.exitstatus == 0, run.output
    assert not out.exists()


TILES = ["--tlog-api=tiles", "--tlog-embedded-entries=1000", "--tlog-sample=8", "-m", "not load"]


@pytest.mark.parametrize(
    "fault, shown",
    [
        ("tiles-corrupt-entry", "SHOWN: inclusion: edge /tile/entries/000"),
        ("tiles-corrupt-hash", "tile/0/000 hashes to"),
        ("tiles-corrupt-level1", "SHOWN: tiles: checkpoint 1000:"),
        ("tiles-partial-short", "SHOWN: tiles: checkpoint 1000:"),
    ],
)
def test_a_tiled_log_bundle_shows_tiles_against_the_signed_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fault: str, shown: str
) -> None:
    out = tmp_path / "bundle"
    run = run_suite([*TILES, f"--tlog-embedded-fault={fault}", f"--tlog-evidence={out}"])
    assert run.exitstatus == 1, run.output
    code, text = verify(capsys, out)
    assert code == 1
    assert text.startswith("SHOWN (not proven)") and shown in text
    assert "against the tree the log signed" in text


def test_a_tiled_checkpoint_ahead_of_its_tiles_is_a_404_not_a_claim(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The tiles the signed checkpoint needs answered 404: the run fails on it, but an
    # absence is not the log's word on its tree (a pod not yet filled answers so too).
    out = tmp_path / "bundle"
    run = run_suite(
        [*TILES, "--tlog-embedded-fault=tiles-checkpoint-ahead", f"--tlog-evidence={out}"]
    )
    assert run.exitstatus == 1, run.output
    code, text = verify(capsys, out)
    assert code == 0
    assert "not rebuilt" in text and "answered 404 in the run: an absence is not a claim" in text


def test_a_tiled_log_bundle_of_a_header_failure_shows_no_misbehaviour(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bundle"
    run = run_suite([*TILES, "--tlog-embedded-fault=missing-immutable", f"--tlog-evidence={out}"])
    assert run.exitstatus == 1, run.output
    code, text = verify(capsys, out, "--verbose")
    assert code == 0
    assert "root rebuilt from the right edge" in text
    assert "/tile/entries/000 (edge) in checkpoint" in text
    assert "/tile/entries/000 (origin) in checkpoint" in text
