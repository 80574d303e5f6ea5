"""The detection matrix: the suite against every fault of the reference deployment.

For each fault of `refstack.faults.FAULTS` the functional suite (`-m "not load"`; the
load check has its own self-tests) runs in a subprocess against the embedded deployment
with that fault (`demo.matrix_run`: 256 entries, sample 16, and a custody record of the
first 128 entries as `--tlog-known-root`, which is what makes a rewritten history visible
to the consistency check), and:

- every check the registry says catches it (`caught_by`, load aside) fails;
- no check outside `caught_by` and `also` fails or is inconclusive.

Also: every check has a fault it must catch; a healthy deployment passes with zero
failures 10 runs in a row, serially and with `-n 2`; a slow but correct one (400 ms a
request) passes every functional check; the README's matrix table is the registry's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tlogcheck.cli.demo import (
    FUNCTIONAL_CHECKS,
    MATRIX_FAULT_SPEC,
    SuiteRun,
    matrix_common,
    matrix_misses,
    matrix_run,
    matrix_table,
    run_suite,
)
from tlogcheck.playbook.checks import CHECK_MARKERS
from tlogcheck.refstack.faults import FAULTS

COMMON = matrix_common("v1")
TILES_COMMON = matrix_common("tiles")
FUNCTIONAL = set(FUNCTIONAL_CHECKS)
README = Path(__file__).resolve().parents[2] / "README.md"


def _why(run: SuiteRun) -> str:
    tail = "\n".join(run.output.splitlines()[-60:])
    return f"exit {run.exitstatus}, verdicts {run.check_verdicts()}\n--- output (tail) ---\n{tail}"


def _troubled(run: SuiteRun) -> set[str]:
    return {name for name, v in run.check_verdicts().items() if v in ("failed", "inconclusive")}


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_is_caught_by_its_checks_only(name: str) -> None:
    doc = FAULTS[name]
    spec = MATRIX_FAULT_SPEC.get(name, name)
    run = matrix_run(name)
    assert run.report, _why(run)
    missed, unexpected = matrix_misses(doc.caught_by, doc.also, run)
    assert not missed, f"{spec}: {missed} passed\n{_why(run)}"
    assert not unexpected, f"{spec}: {unexpected} did not pass\n{_why(run)}"
    if set(doc.caught_by) & FUNCTIONAL:
        assert run.exitstatus == 1, _why(run)
    elif not _troubled(run):
        assert run.exitstatus == 0, _why(run)


def test_every_check_has_a_fault_it_must_catch() -> None:
    caught = {check for doc in FAULTS.values() for check in doc.caught_by}
    # The canary check needs a stable side and a canary (--tlog-stable-url), which the
    # matrix's one deployment has not: tests/synthetic/test_canary.py shows it catching
    # history-rewrite on the reference deployment's canary.
    checks = set(CHECK_MARKERS) - {"canary"}
    assert checks <= caught, checks - caught


def test_legitimate_states_are_declared_with_no_catcher() -> None:
    for doc in FAULTS.values():
        if doc.legitimate:
            assert not doc.caught_by and not doc.also, doc.name


@pytest.mark.parametrize("mode", ["serial", "xdist"])
def test_healthy_deployment_passes_10_runs_in_a_row(mode: str) -> None:
    extra = ("-n", "2") if mode == "xdist" else ()
    for attempt in range(10):
        # A fresh random seed each time: ten different samples of the log.
        run = run_suite([*COMMON, *extra])
        assert run.exitstatus == 0, f"run {attempt + 1} of 10 ({mode}): {_why(run)}"
        assert run.report["summary"]["counts"]["failed"] == 0
        assert _troubled(run) == set(), _why(run)
        # Every functional check ran: a pass, not a deselection.
        assert set(run.check_verdicts()) == FUNCTIONAL, _why(run)


# The checks of a tiled log: every functional check but the canary's (API v1 only).
TILES_CHECKS = FUNCTIONAL - {"canary"}


@pytest.mark.parametrize("mode", ["serial", "xdist"])
def test_healthy_tiled_log_passes_5_runs_in_a_row(mode: str) -> None:
    extra = ("-n", "2") if mode == "xdist" else ()
    for attempt in range(5):
        run = run_suite([*TILES_COMMON, *extra])
        assert run.exitstatus == 0, f"run {attempt + 1} of 5 ({mode}): {_why(run)}"
        assert _troubled(run) == set(), _why(run)
        verdicts = run.check_verdicts()
        # Each check of a tiled log passed (some of its tests skip: the API v1 ones).
        assert {c for c, v in verdicts.items() if v == "passed"} == TILES_CHECKS, _why(run)
        assert verdicts["canary"] == "skipped", _why(run)


def test_every_tiles_check_has_a_tiles_fault_it_must_catch() -> None:
    caught = {c for doc in FAULTS.values() if doc.api == "tiles" for c in doc.caught_by}
    # health and the cache/ETag/parity rules are shared with API v1's faults, which the
    # tiled log's checks are shown catching in tests/synthetic/test_tiles_suite.py.
    assert {"checkpoint", "root", "inclusion", "db"} <= caught, caught


def test_slow_but_correct_deployment_passes_every_functional_check() -> None:
    run = run_suite([*COMMON, "--tlog-embedded-fault=latency:400"])
    assert run.exitstatus == 0, _why(run)
    verdicts = run.check_verdicts()
    # No stable side, no expected release: the canary check is skipped, saying why.
    assert verdicts.pop("canary") == "skipped", _why(run)
    assert set(verdicts.values()) == {"passed"}, _why(run)


def test_readme_matrix_is_the_registry() -> None:
    text = README.read_text(encoding="utf-8") if README.exists() else ""
    assert matrix_table() in text, (
        "README.md's detection matrix differs from refstack.faults.FAULTS; paste the "
        "output of `tlogcheck demo --matrix`"
    )
