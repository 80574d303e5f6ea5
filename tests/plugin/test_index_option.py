"""--tlog-index outside the served tree is a usage error naming the tree's size (exit 4),
never a failed deployment; inside it, the index is verified."""

from __future__ import annotations

from tlogcheck.runs import run_suite


def test_an_index_outside_the_served_tree_is_a_usage_error() -> None:
    run = run_suite(["--tlog-embedded-entries=1024", "--tlog-index=99999", "-m", "inclusion"])
    assert run.exitstatus == 4, run.output[-2000:]
    assert "--tlog-index (command line): 99999 is outside the served tree: its size is 1024" in (
        run.output
    )
    inside = run_suite(["--tlog-embedded-entries=1024", "--tlog-index=1023", "-m", "inclusion"])
    assert inside.exitstatus == 0, inside.output[-2000:]


def test_the_env_twin_is_named_as_the_source() -> None:
    run = run_suite(
        ["--tlog-embedded-entries=64", "-m", "inclusion"], env={"TLOG_INDEX": "64"}
    )
    assert run.exitstatus == 4 and "--tlog-index (env TLOG_INDEX): 64" in run.output
