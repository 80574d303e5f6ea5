"""The rules that separate a healthy deployment written elsewhere from a broken one.

The detection matrix holds every fault to its checks; these runs show what the matrix's
one argument per fault cannot: every CDN vendor's cache-status words pass, words nobody
documents make the hit rate inconclusive (exit 6) and never fail it, and an edge that
serves a root past max-age within the origin's stale-while-revalidate passes and says so.
"""

from __future__ import annotations

import pytest

from tlogcheck.cli.demo import matrix_common
from tlogcheck.errors import EXIT_INCONCLUSIVE
from tlogcheck.refstack.faults import DIALECT_NAMES
from tlogcheck.runs import SuiteRun, run_suite

COMMON = matrix_common("v1")


def _run(*faults: str) -> SuiteRun:
    return run_suite([*COMMON, *(f"--tlog-embedded-fault={f}" for f in faults)])


def _why(run: SuiteRun) -> str:
    return f"exit {run.exitstatus}, verdicts {run.check_verdicts()}\n" + "\n".join(
        run.output.splitlines()[-40:]
    )


HIT_RATE = "test_cache.py::test_immutable_reads_hit_the_edge_cache"


def _test(run: SuiteRun, check: str, name: str) -> dict[str, str]:
    tests = run.report["checks"][check]["tests"]
    return next(t for t in tests if t["nodeid"].endswith(name))


@pytest.mark.parametrize("vendor", [v for v in DIALECT_NAMES if v != "unknown"])
def test_every_vendors_cache_words_pass(vendor: str) -> None:
    run = _run(f"cdn-dialect:{vendor}")
    assert run.exitstatus == 0, _why(run)
    assert run.check_verdicts()["cache"] == "passed", _why(run)
    # Every cache is seen as one, whatever it says: the two views are compared.
    assert run.report["target"]["has_edge"] is True, _why(run)
    assert run.check_verdicts()["parity"] == "passed", _why(run)
    hit_rate = _test(run, "cache", HIT_RATE)
    if vendor == "age-only":
        # An Age on hits and nothing on misses: the hit rate cannot be told, and says so.
        assert hit_rate["outcome"] == "skipped", _why(run)
        assert "says no cache-status word" in hit_rate["message"], _why(run)
    else:
        assert hit_rate["outcome"] == "passed", _why(run)


def test_unknown_cache_words_are_inconclusive_and_quoted() -> None:
    run = _run("cdn-dialect:unknown")
    assert run.exitstatus == EXIT_INCONCLUSIVE, _why(run)
    assert run.report["summary"]["failed_checks"] == [], _why(run)
    assert run.report["summary"]["inconclusive_checks"] == ["cache"], _why(run)
    assert "X-Cache: 'WARM from tlog-edge'" in run.output, _why(run)
    # Every request was answered: the verdict says what could not be judged, and which
    # word, never that the target could not be asked.
    verdict = next(line for line in run.output.splitlines() if line.startswith("verdict:"))
    assert "could not ask" not in run.output, _why(run)
    assert "every request was answered" in verdict and "WARM from tlog-edge" in verdict


def test_unknown_words_do_not_hide_an_edge_that_never_caches() -> None:
    # Known misses beyond the line fail whatever else the edge says.
    run = _run("cdn-dialect:akamai", "cache-always-miss")
    assert run.exitstatus == 1 and run.report["summary"]["failed_checks"] == ["cache"], _why(run)


def test_stale_while_revalidate_passes_and_is_said() -> None:
    run = _run("edge-lag-swr")
    assert run.exitstatus == 0, _why(run)
    assert "within the stale-while-revalidate=600 the origin sent" in run.output, _why(run)


def test_an_edge_of_several_nodes_passes_and_one_that_never_caches_does_not() -> None:
    healthy = _run("multi-node-edge:5")
    assert healthy.exitstatus == 0, _why(healthy)
    broken = _run("multi-node-edge:5", "cache-always-miss")
    assert broken.report["summary"]["failed_checks"] == ["cache"], _why(broken)


@pytest.mark.parametrize("vendor", ["ats-via", "age-only"])
def test_a_quiet_edge_keeping_a_stale_root_fails_parity(vendor: str) -> None:
    # No cache-status word: the two views are compared all the same, and the root kept
    # past the origin's max-age is stale.
    run = _run(f"cdn-dialect:{vendor}", "stale-edge-root")
    assert run.exitstatus == 1, _why(run)
    assert "parity" in run.failed_checks, _why(run)
    assert "stale: the older tree" in run.output, _why(run)


def test_the_lag_allowance_is_the_origins_not_the_edge_copys() -> None:
    # The edge rewrote its copy's Cache-Control to grant itself 300 s: judged by the
    # origin's 60, and the rewrite is reported.
    run = _run("edge-cache-control-rewrite")
    assert run.failed_checks == {"parity", "cache"}, _why(run)
    assert "the origin's max-age is 60" in run.output, _why(run)
    assert "the edge serves Cache-Control: public, max-age=300, the origin sent" in run.output


def test_older_copies_with_fewer_cosignatures_pass_and_forged_ones_fail() -> None:
    assert _run("edge-fewer-cosignatures").exitstatus == 0
    forged = _run("edge-forged-cosignature")
    assert forged.failed_checks == {"parity"}, _why(forged)
    assert "signature lines the other has not (witness.example/w1)" in forged.output
