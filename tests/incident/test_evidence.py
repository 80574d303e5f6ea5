"""Evidence bundles: a failing run keeps what was served, and the bundle proves it offline,
after the deployment is gone; a passing run leaves nothing; a tampered bundle is refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tlogcheck.cli.demo import MATRIX_ARGS
from tlogcheck.cli.runs import run_suite
from tlogcheck.incident.proofs import BadBundle, verify_bundle

SECRET = "Bearer s3cr3t-evidence-token"


def _bundle(tmp_path: Path, fault: str, *extra: str) -> Path:
    bundle = tmp_path / "bundle"
    args = [*MATRIX_ARGS, f"--tlog-evidence={bundle}", *extra]
    if fault:
        args.append(f"--tlog-embedded-fault={fault}")
    # The embedded deployment stops with the run: whatever is verified after is offline.
    run = run_suite(args)
    assert run.exitstatus in (0, 1), run.output[-2000:]
    return bundle


def _verify(bundle: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tlogcheck", "evidence", "verify", str(bundle), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("fault", "what"),
    [("corrupt-entry", "entry not in the signed tree"), ("split-view", "split view")],
)
def test_a_failing_run_leaves_a_bundle_that_proves_it_offline(
    tmp_path: Path, fault: str, what: str
) -> None:
    bundle = _bundle(tmp_path, fault)
    assert (bundle / "manifest.json").is_file()
    done = _verify(bundle)
    assert done.returncode == 1, done.stdout + done.stderr
    doc = json.loads(done.stdout)
    assert doc["result"] == "misbehaviour confirmed" and doc["signed"] is True
    assert what in {f["what"] for f in doc["findings"]}, doc
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert {"report.json", "vkeys.txt"} <= set(manifest["files"])
    assert any(name.startswith("responses/") for name in manifest["files"])


def test_a_passing_run_leaves_nothing(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, "")
    assert not bundle.exists()


def test_a_failure_the_bundle_cannot_prove_exits_0(tmp_path: Path) -> None:
    # A Cache-Control failure is real, but no signature proves a header: nothing confirmed.
    bundle = _bundle(tmp_path, "missing-immutable")
    done = _verify(bundle)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["result"] == "no failure shown"


def test_a_tampered_bundle_is_refused(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, "corrupt-entry")
    responses = next((bundle / "responses").glob("*.jsonl"))
    responses.write_text(responses.read_text().replace('"status":200', '"status":201', 1))
    with pytest.raises(BadBundle, match="tampered with"):
        verify_bundle(str(bundle))
    done = _verify(bundle)
    assert done.returncode == 2 and "tampered with" in done.stderr
    (bundle / "extra.txt").write_text("not written by the run")
    done = _verify(bundle)
    assert done.returncode == 2 and "not in the manifest" in done.stderr


@pytest.mark.parametrize("content", [None, "{}", '{"files": []}'])
def test_a_malformed_bundle_is_refused(tmp_path: Path, content: str | None) -> None:
    tmp_path.joinpath("x").mkdir()
    if content is not None:
        (tmp_path / "x" / "manifest.json").write_text(content)
    done = _verify(tmp_path / "x")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_under_xdist_every_worker_keeps_its_responses(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, "corrupt-entry", "-n", "2")
    names = {p.name for p in (bundle / "responses").glob("*.jsonl")}
    assert {"gw0.jsonl", "gw1.jsonl"} <= names, names
    assert _verify(bundle).returncode == 1


def test_secrets_never_enter_a_bundle(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, "corrupt-entry", f"--tlog-header=Authorization: {SECRET}")
    for path in bundle.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace"), path
