"""Under xdist: one embedded deployment, one seed, one sample; the verdict of a serial run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tlogcheck.runs import run_suite

pytest_plugins = ["pytester"]

SHARED = """
import json, os, pytest

@pytest.mark.parametrize("n", range(6))
def test_sees(n, tlog_target, sample_indices, served_root, worker_id):
    out = os.path.join(os.environ["SEEN_DIR"], f"{worker_id}-{n}.json")
    with open(out, "w") as f:
        json.dump({"worker": worker_id, "url": tlog_target.url, "seed": tlog_target.seed,
                   "sample": sample_indices, "embedded": tlog_target.embedded,
                   "root": served_root.root.root_hash.hex()}, f)
"""


def test_workers_share_the_controllers_deployment_seed_and_sample(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SEEN_DIR", str(tmp_path))
    pytester.makepyfile(test_shared=SHARED)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-n", "2", "--tlog-embedded-entries=300"
    )
    result.assert_outcomes(passed=6)
    seen = [json.loads(p.read_text()) for p in tmp_path.glob("*.json")]
    assert len(seen) == 6
    assert {s["worker"] for s in seen} == {"gw0", "gw1"}
    # One deployment (a second one would listen elsewhere), one seed, one sample.
    for key in ("url", "seed", "sample", "root"):
        assert len({json.dumps(s[key]) for s in seen}) == 1, key
    assert seen[0]["embedded"] is True
    assert 64 <= len(seen[0]["sample"]) <= 64 + 2 * 9 + 4
    # The header, printed once by the controller, names that deployment.
    assert f"embedded reference deployment at {seen[0]['url']}" in result.stdout.str()


@pytest.mark.parametrize("fault", ["split-view", "bad-proof"])
def test_xdist_gives_the_serial_verdict(fault: str) -> None:
    args = [
        "--tlog-embedded-entries=256",
        f"--tlog-embedded-fault={fault}",
        "--tlog-seed=20240101",
        "--tlog-sample=16",
        "-m",
        "not load",
    ]
    serial = run_suite(args)
    parallel = run_suite([*args, "-n", "2"])
    assert serial.exitstatus == parallel.exitstatus == 1, serial.output + parallel.output
    assert serial.check_verdicts() == parallel.check_verdicts()
    assert serial.report["summary"]["counts"] == parallel.report["summary"]["counts"]
