"""The suite with `--tlog-api tiles`: options, what runs and what skips, and the checks of a
tiled log against the reference deployment's faults that are not tiles-only.

The tiles faults themselves are in the detection matrix (test_detection_matrix.py). Here:
every fault of API v1 that also breaks the tiled log (the checkpoint, the cache rules,
ETags, the edge, the release) is caught by the tiled log's own check, and the legitimate
states pass. The faults of v1-only paths (the root, entries, proofs) leave the tiled log
healthy: that it then passes is the healthy half.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tlogcheck.cli.demo import MATRIX_FAULT_OPTIONS, MATRIX_FAULT_SPEC, matrix_common
from tlogcheck.plugin.suite import Target
from tlogcheck.plugin.target import plan
from tlogcheck.refstack.stack import RunningStack
from tlogcheck.runs import SuiteRun, run_suite

pytest_plugins = ["pytester"]

TILES = matrix_common("tiles")

# fault -> (checks that must fail, checks that may fail too), for the tiled log's checks.
SHARED: dict[str, tuple[set[str], set[str]]] = {
    "healthz-5xx": ({"health"}, set()),
    "checkpoint-bad-signature": ({"checkpoint"}, set()),
    "checkpoint-root-mismatch": ({"root", "inclusion", "consistency", "db"}, set()),
    "etag-mismatch": ({"etag"}, set()),
    "weak-etag": ({"etag"}, set()),
    "inm-always-304": ({"etag"}, set()),
    "checkpoint-inm-304": ({"etag"}, set()),
    "ims-wins": ({"etag"}, set()),
    "missing-immutable": ({"cache"}, set()),
    "root-immutable": ({"cache"}, set()),
    "cache-always-miss": ({"cache"}, set()),
    "stale-edge-root": ({"parity"}, set()),
    "split-view": ({"parity"}, {"db"}),
    "history-rewrite": ({"consistency", "db"}, set()),
    "truncated": ({"inclusion", "db"}, set()),
    "origin-behind": ({"db"}, set()),
    "origin-ahead": ({"db"}, set()),
    "hang": (
        {"health"},
        {"checkpoint", "root", "inclusion", "consistency", "parity", "cache", "etag", "db"},
    ),  # fmt: skip
    "edge-forged-cosignature": ({"parity"}, set()),
    # Every client reads a tiled log too, gzip and identity.
    "ua-split-view": ({"parity"}, set()),
    "go-split-view": ({"parity"}, set()),
    "curl-split-view": ({"parity"}, set()),
    "gzip-variant": ({"parity"}, set()),
    "edge-cache-control-rewrite": ({"parity", "cache"}, set()),
    "long-stale-while-revalidate": ({"parity", "cache"}, set()),
    "long-s-maxage": ({"parity", "cache"}, set()),
    # Legitimate states and v1-only faults: the tiled log passes.
    "edge-fewer-cosignatures": (set(), set()),
    "edge-brotli": (set(), set()),
    "edge-lag-s-maxage": (set(), set()),
    "proof-redirect": (set(), set()),
    "edge-lag": (set(), set()),
    "edge-lag-swr": (set(), set()),
    "multi-node-edge": (set(), set()),
    "cdn-dialect": (set(), set()),
    "blip": (set(), set()),
    "wrong-root": (set(), set()),
    "corrupt-entry": (set(), set()),
    "bad-proof": (set(), set()),
    "latest-proof-wrong": (set(), set()),
    "origin-proofs-wrong": (set(), set()),
    "unicode-index": (set(), set()),
    "old-consistency-wrong": (set(), set()),
}
SPEC = {**MATRIX_FAULT_SPEC, "hang": "hang:/checkpoint"}


def _tests(run: SuiteRun) -> list[dict[str, str]]:
    return [t for c in run.report.get("checks", {}).values() for t in c["tests"]]


def _why(run: SuiteRun) -> str:
    tail = "\n".join(run.output.splitlines()[-50:])
    return f"exit {run.exitstatus}, verdicts {run.check_verdicts()}\n--- output (tail) ---\n{tail}"


@pytest.mark.parametrize("name", sorted(SHARED))
def test_tiled_log_checks_catch_what_breaks_the_tiled_log(name: str) -> None:
    must, may = SHARED[name]
    run = run_suite(
        [
            *TILES,
            f"--tlog-embedded-fault={SPEC.get(name, name)}",
            *MATRIX_FAULT_OPTIONS.get(name, ()),
        ]
    )
    assert run.report, _why(run)
    assert must <= run.failed_checks, f"{name}: {must - run.failed_checks} passed\n{_why(run)}"
    troubled = run.failed_checks | run.inconclusive_checks
    assert troubled <= must | may, f"{name}: {troubled - must - may} did not pass\n{_why(run)}"
    assert run.exitstatus == (1 if must else 0), _why(run)


def test_v1_checks_skip_saying_why_and_fold_into_one_line() -> None:
    run = run_suite(TILES)
    assert run.exitstatus == 0, _why(run)
    tests = _tests(run)
    v1 = [t for t in tests if "test_tiles.py" not in t["nodeid"]]
    tiled = [t for t in tests if "test_tiles.py" in t["nodeid"]]
    assert tiled and all(t["outcome"] in ("passed", "skipped") for t in tiled)
    # Only the db.jsonl checks and the checkpoint's hold for both APIs; every other API v1
    # check skips, naming --tlog-api tiles.
    both = {
        "test_db_jsonl_matches_the_release_hash",
        "test_db_jsonl_rebuilds_the_served_root",
        "test_db_jsonl_rebuilds_the_origins_root",
        "test_origin_serves_the_whole_release",
        "test_checkpoint_is_a_well_formed_signed_note",
        "test_checkpoint_signature_verifies",
    }
    for t in v1:
        name = t["nodeid"].split("::")[-1].split("[")[0]
        if name in both:
            assert t["outcome"] == "passed", t
        else:
            assert t["outcome"] == "skipped" and "--tlog-api tiles" in t["message"], t
    assert "read as a tiled log" in run.output
    folded = [line for line in run.output.splitlines() if "tests of test_cache.py" in line]
    assert len(folded) == 1 and "an API v1 check" in folded[0], run.output


def test_a_v1_run_does_not_collect_the_tiles_checks() -> None:
    run = run_suite(matrix_common("v1"))
    assert run.exitstatus == 0, _why(run)
    assert not [t for t in _tests(run) if "test_tiles.py" in t["nodeid"]]
    assert "an API v1 check" not in run.output


def test_state_file_records_the_checkpoint_tree_and_proves_from_it(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    first = run_suite([*TILES, f"--tlog-state={state}"])
    assert first.exitstatus == 0, _why(first)
    recorded = json.loads(state.read_text())
    assert recorded["tree_size"] == 1000
    second = run_suite([*TILES, f"--tlog-state={state}", "-m", "consistency"])
    assert second.exitstatus == 0, _why(second)
    verdict = {t["nodeid"].split("::")[-1]: t["outcome"] for t in _tests(second)}
    assert verdict["test_log_extends_the_state_tree"] == "passed", _why(second)


def test_state_of_another_log_fails_consistency(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    assert run_suite([*TILES, f"--tlog-state={state}"]).exitstatus == 0
    forked = run_suite([*TILES, f"--tlog-state={state}", "--tlog-embedded-fault=history-rewrite"])
    assert forked.exitstatus == 1, _why(forked)
    assert "consistency" in forked.failed_checks, _why(forked)


def test_inclusion_failure_names_the_tile_and_the_tiles_command() -> None:
    run = run_suite([*TILES, "--tlog-embedded-fault=tiles-corrupt-entry", "-m", "inclusion"])
    assert run.exitstatus == 1, _why(run)
    assert "tile/entries/000: entry 0 (leaf 0) hashes to" in run.output
    assert "--tlog-api=tiles" in run.output and "--tlog-index=0" in run.output
    # The next step names the run's own target and options (and the tiled API).
    named = r"tlogcheck verify http://\S+ INDEX --tlog-vkey=\S+ --tlog-api tiles"
    assert re.search(named, run.output), run.output[-2000:]


# --- the option -------------------------------------------------------------------------


def _plan(pytester: pytest.Pytester, *args: str) -> Target:
    return plan(pytester.parseconfig("--pyargs", "tests_synthetic", *args))


def test_api_option_with_env_twin_and_usage_errors(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _plan(pytester).api == "v1"
    assert _plan(pytester, "--tlog-api=tiles").api == "tiles"
    monkeypatch.setenv("TLOG_API", "tiles")
    assert _plan(pytester).api == "tiles"
    assert _plan(pytester, "--tlog-api=v1").api == "v1"
    monkeypatch.setenv("TLOG_API", "v2")
    with pytest.raises(pytest.UsageError, match=r"--tlog-api \(env TLOG_API\).*'v2'.*v1, tiles"):
        _plan(pytester)


def test_bad_api_on_the_command_line_ends_the_run_with_exit_4(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--pyargs", "tests_synthetic", "--tlog-api=v2")
    assert result.ret == 4
    assert "--tlog-api" in result.stderr.str() and "v2" in result.stderr.str()


def test_api_travels_to_workers_and_into_the_replay_command() -> None:
    t = Target(url="https://log.example.com/prefix", origin_url=None, vkeys=(), embedded=False,
               seed=7, timeout=1.0, sample=1, api="tiles")  # fmt: skip
    assert Target.from_wire(t.to_wire()).api == "tiles"
    assert "--tlog-api=tiles" in t.replay_command()


def test_the_demos_tiles_step_ends_as_it_says() -> None:
    from tlogcheck.cli.demo import STEPS

    step = next(s for s in STEPS if "--tlog-api=tiles" in s.args)
    run = run_suite(step.args)
    assert step.succeeded(run), _why(run)
    assert run.failed_checks == {"inclusion"}, _why(run)
    assert "tile/0/000 hashes to" in run.output


# --- a canary, read as tiles --------------------------------------------------------------

MakeRefstack = Callable[..., RunningStack]
CANARY = ("--tlog-api=tiles", "-m", "not load", "--tlog-sample=16")


def _canary(make_refstack: MakeRefstack, weight: int, **kwargs: Any) -> RunningStack:
    return make_refstack(entries=256, canary_entries=300, canary_weight=weight, **kwargs)


def test_public_edge_of_a_healthy_canary_passes(make_refstack: MakeRefstack) -> None:
    info = _canary(make_refstack, 50).info
    run = run_suite([f"--tlog-url={info.edge_url}", f"--tlog-vkey={info.vkey}", *CANARY])
    assert run.exitstatus == 0, _why(run)
    assert set(run.report["releases"]) == {"v1.0.0", "v1.1.0"}, run.report["releases"]


@pytest.mark.parametrize("weight, origin", [(0, "canary"), (100, "stable")])
def test_parity_proves_two_releases_tiles_are_one_log(
    make_refstack: MakeRefstack, weight: int, origin: str
) -> None:
    """The edge reaches one release only, the origin view the other."""
    info = _canary(make_refstack, weight).info
    origin_url = info.canary_origin_url if origin == "canary" else info.origin_url
    run = run_suite(
        [f"--tlog-url={info.edge_url}", f"--tlog-origin-url={origin_url}", *CANARY, "-m", "parity"]
    )
    assert run.exitstatus == 0, _why(run)
    assert run.check_verdicts()["parity"] == "passed", _why(run)


def test_parity_fails_a_canary_whose_tiles_are_not_an_extension(
    make_refstack: MakeRefstack,
) -> None:
    info = _canary(make_refstack, 0, faults=["history-rewrite"]).info
    run = run_suite(
        [f"--tlog-url={info.edge_url}", f"--tlog-origin-url={info.canary_origin_url}", *CANARY,
         "-m", "parity"]
    )  # fmt: skip
    assert run.exitstatus == 1, _why(run)
    assert "split view: tree" in run.output and "is not a prefix of tree" in run.output
