"""Canary-aware targeting, against the reference deployment with its canary on.

The deployment: a stable origin (256 entries, v1.0.0), a canary origin (the same log
extended to 300 entries, v1.1.0) and the caching edge in front of both, sending the
canary's share of its origin requests there (`make_refstack(canary_entries=...,
canary_weight=...)`). The suite runs in a subprocess as a user runs it (`run_suite`).

- the suite at the canary origin (a Service URL: no edge) with `--tlog-stable-url` at the
  stable origin and the canary's release expected passes; the hit rate, which needs an
  edge, is skipped with the reason the header gives, every other check runs (parity
  compares the two views, here the same pods);
- at the public edge with the canary's release expected at 10 % it fails with the mix;
  at 100 % it passes;
- a canary built from a rewritten history fails the stable-vs-canary tests;
- at the public edge without an expected release a healthy canary passes whatever the
  two views hit (50 %), and the parity check proves, not assumes, that two releases'
  trees are one log (deterministic: the edge at 0 % or 100 % and the other release
  as the origin view; a rewritten canary fails it);
- the options, the bounded re-asking of `facts.answered_by`, the target's wire form.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import httpx
import pytest

from tlogcheck import verify as facts
from tlogcheck.client import Response, TLogClient
from tlogcheck.errors import EXIT_FAILED, EXIT_INCONCLUSIVE, EXIT_OK
from tlogcheck.plugin.target import Target, plan
from tlogcheck.refstack.stack import RunningStack
from tlogcheck.runs import SuiteRun, run_suite

pytest_plugins = ["pytester"]

MakeRefstack = Callable[..., RunningStack]
STABLE_ENTRIES = 256
CANARY_ENTRIES = 300
FUNCTIONAL = ("-m", "not load", "--tlog-sample=16")


def _why(run: SuiteRun) -> str:
    tail = "\n".join(run.output.splitlines()[-80:])
    return f"exit {run.exitstatus}, verdicts {run.check_verdicts()}\n--- output ---\n{tail}"


def _tests(run: SuiteRun, check: str) -> dict[str, dict[str, Any]]:
    """The check's tests in the JSON report, by test name."""
    tests = run.report["checks"][check]["tests"]
    return {t["nodeid"].rsplit("::", 1)[-1]: t for t in tests}


def _canary_stack(make_refstack: MakeRefstack, weight: int, **kwargs: Any) -> RunningStack:
    return make_refstack(
        entries=STABLE_ENTRIES, canary_entries=CANARY_ENTRIES, canary_weight=weight, **kwargs
    )


# --- the canary Service: origin only -------------------------------------------------------


def test_suite_at_the_canary_origin_with_the_stable_url_passes(
    make_refstack: MakeRefstack,
) -> None:
    stack = _canary_stack(make_refstack, 10)
    info = stack.info
    assert info.canary_origin_url and info.canary_release and info.canary_db_path
    run = run_suite(
        [
            f"--tlog-url={info.canary_origin_url}",
            f"--tlog-stable-url={info.origin_url}",
            f"--tlog-expect-release={info.canary_release}",
            f"--tlog-vkey={info.vkey}",
            f"--tlog-db={info.canary_db_path}",
            f"--tlog-db-sha256={info.canary_db_sha256_path}",
            *FUNCTIONAL,
            "-n",
            "2",
        ]
    )
    assert run.exitstatus == EXIT_OK, _why(run)
    assert f"tlogcheck: {facts.NO_EDGE}" in run.output
    verdicts = run.check_verdicts()
    assert verdicts["canary"] == "passed" and run.report["checks"]["canary"]["passed"] == 3
    # Parity needs only the two views: it ran (the same pods agree with themselves).
    assert verdicts["parity"] == "passed", _why(run)
    # Under xdist too: the controller's finding reached the workers.
    cache = _tests(run, "cache")
    assert cache["test_cache_control_follows_the_spec_table"]["outcome"] == "passed"
    assert cache["test_immutable_reads_hit_the_edge_cache"]["message"] == facts.NO_EDGE
    # Every check ran and passed.
    assert {c for c, v in verdicts.items() if v != "passed"} == set(), _why(run)
    assert run.report["target"]["has_edge"] is False
    assert run.report["releases"] == {info.canary_release: sum(run.report["releases"].values())}
    assert f"expected release {info.canary_release}: all " in run.output


def test_suite_at_the_stable_origin_alone_runs_every_check_that_applies(
    make_refstack: MakeRefstack,
) -> None:
    info = _canary_stack(make_refstack, 10).info
    run = run_suite([f"--tlog-url={info.origin_url}", f"--tlog-vkey={info.vkey}", *FUNCTIONAL])
    assert run.exitstatus == EXIT_OK, _why(run)
    skipped = {c for c, v in run.check_verdicts().items() if v == "skipped"}
    assert skipped == {"db", "canary"}, _why(run)
    assert "responses by X-TLog-Release: v1.0.0: " in run.output


# --- the public edge ---------------------------------------------------------------------


def test_public_edge_expecting_the_canary_at_10_percent_fails_with_the_mix(
    make_refstack: MakeRefstack,
) -> None:
    info = _canary_stack(make_refstack, 10).info
    run = run_suite([f"--tlog-url={info.edge_url}", "--tlog-expect-release=v1.1.0", "-m", "canary"])
    assert run.exitstatus == EXIT_FAILED, _why(run)
    assert run.failed_checks == {"canary"}
    test = _tests(run, "canary")["test_every_response_comes_from_the_expected_release"]
    assert test["outcome"] == "failed"
    found = re.search(r"64 sampled reads: (.*)", test["message"])
    assert found, test["message"]
    mix = dict(re.findall(r"(v[\d.]+): (\d+)", found.group(1)))
    # Nine in ten reads reach the stable pods: the gate would mostly test the old release.
    assert int(mix["v1.0.0"]) > 32, mix
    assert sum(map(int, mix.values())) == 64
    assert "alert:    none: the target is not only the release under test" in test["message"]
    assert "expected release v1.1.0: " in run.output and " not" in run.output


def test_public_edge_expecting_the_canary_at_100_percent_passes(
    make_refstack: MakeRefstack,
) -> None:
    info = _canary_stack(make_refstack, 100).info
    run = run_suite([f"--tlog-url={info.edge_url}", "--tlog-expect-release=v1.1.0", "-m", "canary"])
    assert run.exitstatus == EXIT_OK, _why(run)
    assert (
        _tests(run, "canary")["test_every_response_comes_from_the_expected_release"]["outcome"]
        == "passed"
    )
    assert "edge: a cache answers at the target (X-Cache: " in run.output


def test_public_edge_of_a_healthy_canary_passes_without_an_expected_release(
    make_refstack: MakeRefstack,
) -> None:
    # 50 %: the edge's cached copies and the bypassed reads hit both releases often.
    info = _canary_stack(make_refstack, 50).info
    run = run_suite([f"--tlog-url={info.edge_url}", f"--tlog-vkey={info.vkey}", *FUNCTIONAL])
    assert run.exitstatus == EXIT_OK, _why(run)
    assert run.report["summary"]["counts"]["failed"] == 0
    assert set(run.report["releases"]) == {"v1.0.0", "v1.1.0"}, run.report["releases"]
    assert re.search(
        r"releases that answered the first requests \(X-TLog-Release\): v1", run.output
    )


@pytest.mark.parametrize("weight, origin", [(0, "canary"), (100, "stable")])
def test_parity_proves_two_releases_are_one_log(
    make_refstack: MakeRefstack, weight: int, origin: str
) -> None:
    """The edge reaches one release only, the origin view the other: every comparison
    between the two views is between two releases' trees."""
    info = _canary_stack(make_refstack, weight).info
    origin_url = info.canary_origin_url if origin == "canary" else info.origin_url
    run = run_suite(
        [
            f"--tlog-url={info.edge_url}",
            f"--tlog-origin-url={origin_url}",
            f"--tlog-vkey={info.vkey}",
            *FUNCTIONAL,
        ]
    )
    assert run.exitstatus == EXIT_OK, _why(run)
    # Root, checkpoint, entries, proofs, the reads as other clients, and the compressed
    # reads (test_encoding.py).
    assert run.report["checks"]["parity"]["passed"] == 6, _why(run)
    assert set(run.report["releases"]) == {"v1.0.0", "v1.1.0"}


def test_parity_fails_a_canary_that_is_not_an_extension(make_refstack: MakeRefstack) -> None:
    info = _canary_stack(make_refstack, 0, faults=["history-rewrite"]).info
    run = run_suite(
        [
            f"--tlog-url={info.edge_url}",
            f"--tlog-origin-url={info.canary_origin_url}",
            "-m",
            "parity",
        ]
    )
    assert run.exitstatus == EXIT_FAILED, _why(run)
    root = _tests(run, "parity")["test_edge_and_origin_serve_the_same_root"]
    assert "(release v1.0.0) is not a prefix of tree 300:" in root["message"], root["message"]


# --- a canary that rewrote history -------------------------------------------------------


def test_rewritten_history_fails_the_stable_vs_canary_check(make_refstack: MakeRefstack) -> None:
    stack = _canary_stack(make_refstack, 10, faults=["history-rewrite"])
    info = stack.info
    run = run_suite(
        [
            f"--tlog-url={info.canary_origin_url}",
            f"--tlog-stable-url={info.origin_url}",
            f"--tlog-expect-release={info.canary_release}",
            "-m",
            "canary",
        ]
    )
    assert run.exitstatus == EXIT_FAILED, _why(run)
    tests = _tests(run, "canary")
    assert tests["test_every_response_comes_from_the_expected_release"]["outcome"] == "passed"
    extends = tests["test_canary_extends_stable"]
    assert extends["outcome"] == "failed"
    assert "extends the stable tree 256:" in extends["message"]
    assert "TLogInclusionProofFail (playbook §3.2, §3.4)" in extends["message"]
    identical = tests["test_stable_entries_identical_on_canary"]
    assert identical["outcome"] == "failed"
    # Entry 1 is the one rewritten; the edge indices always include it.
    assert re.search(r"1 differ:\n\s+entry 1: stable sha256 [0-9a-f]{64}", identical["message"])
    # Healthy again: the same canary check passes.
    stack.set_faults([])
    again = run_suite(
        [
            f"--tlog-url={info.canary_origin_url}",
            f"--tlog-stable-url={info.origin_url}",
            "-m",
            "canary",
        ]
    )
    assert again.exitstatus == EXIT_OK, _why(again)


# --- options, header -----------------------------------------------------------------------

NOWHERE = "http://127.0.0.1:9"


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--pyargs", "tests_synthetic", "-p", "no:cacheprovider", *args
    )


@pytest.mark.parametrize(
    "args, words",
    [
        (("--tlog-stable-url=http://stable.example.com",), r"--tlog-stable-url.*needs --tlog-url"),
        ((f"--tlog-url={NOWHERE}", "--tlog-stable-url=ftp://x.example.com"), r"http://"),
        ((f"--tlog-url={NOWHERE}", f"--tlog-stable-url={NOWHERE}/"), r"is the target itself"),
        ((f"--tlog-url={NOWHERE}", "--tlog-expect-release=v1 2"), r"--tlog-expect-release.*token"),
    ],
)
def test_bad_canary_option_is_a_usage_error(
    pytester: pytest.Pytester, args: tuple[str, ...], words: str
) -> None:
    config = pytester.parseconfig("--pyargs", "tests_synthetic", *args)
    with pytest.raises(pytest.UsageError) as info:
        plan(config)
    assert re.search(words, str(info.value)), str(info.value)


def test_env_twins_reach_the_header(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TLOG_EXPECT_RELEASE", "v2.7.1")
    monkeypatch.setenv("TLOG_STABLE_URL", "http://stable.example.com:8080/")
    out = _run(pytester, "--co", f"--tlog-url={NOWHERE}").stdout.str()
    assert "expected release v2.7.1: every response must carry X-TLog-Release: v2.7.1" in out
    assert "stable side http://stable.example.com:8080: the target's tree" in out
    # An empty twin is no value: what a pipeline passes when it has no stable side.
    monkeypatch.setenv("TLOG_STABLE_URL", "")
    t = plan(pytester.parseconfig("--pyargs", "tests_synthetic", f"--tlog-url={NOWHERE}"))
    assert t.stable_url is None and t.expect_release == "v2.7.1"


def test_an_unreachable_target_leaves_the_edge_unknown_and_parity_inconclusive() -> None:
    run = run_suite([f"--tlog-url={NOWHERE}", "--tlog-timeout=0.5", "-m", "parity"])
    assert run.exitstatus == EXIT_INCONCLUSIVE, _why(run)
    assert "tlogcheck: edge: not known, the first requests got no answer" in run.output
    assert run.report["target"]["has_edge"] is None
    # Nothing answered: the verdict says it could not ask, not that it could not judge.
    assert "verdict: INCONCLUSIVE (could not ask the target" in run.output, _why(run)


def test_target_wire_form_carries_the_canary_facts() -> None:
    t = Target(
        url="http://canary:8080",
        origin_url=None,
        vkeys=(),
        embedded=False,
        seed=5,
        timeout=10.0,
        sample=64,
        stable_url="http://stable:8080",
        expect_release="v1.1.0",
        has_edge=False,
        edge_evidence="no cache-status header on 3 answers",
    )
    assert Target.from_wire(t.to_wire()) == t
    assert t.replay_command().endswith(
        "--tlog-url=http://canary:8080 --tlog-stable-url=http://stable:8080 "
        "--tlog-expect-release=v1.1.0 --tlog-seed=5"
    )


# --- facts: asking again during a canary -----------------------------------------------------


@dataclass
class _Scripted:
    """Stands in for a TLogClient: answers from a script, then its last answer forever."""

    answers: list[tuple[int, str | None]]
    deadline: float = 30.0
    asked: int = 0

    def get(self, path: str, *, view: str = "edge", headers: Any = None, **_: Any) -> Response:
        status, release = self.answers[min(self.asked, len(self.answers) - 1)]
        self.asked += 1
        extra = {"x-tlog-release": release} if release else {}
        return Response("http://t" + path, path, view, status, httpx.Headers(extra), b"", 0.0)


def _ask(script: _Scripted, release: str | None) -> Response:
    return facts.answered_by(cast(TLogClient, script), "/v1/log/entry/9", release=release)


def test_answered_by_asks_again_only_for_another_release_that_lacks_the_tree() -> None:
    script = _Scripted([(404, "v1.0.0"), (404, "v1.0.0"), (200, "v1.1.0")])
    assert _ask(script, "v1.1.0").status == 200 and script.asked == 3
    # The tree's own release saying 404 is an answer: the tree announces a missing entry.
    script = _Scripted([(404, "v1.1.0"), (200, "v1.1.0")])
    assert _ask(script, "v1.1.0").status == 404 and script.asked == 1
    # No release to go by, or no header: nothing to tell the pods apart by.
    script = _Scripted([(404, "v1.0.0"), (200, "v1.1.0")])
    assert _ask(script, None).status == 404 and script.asked == 1
    script = _Scripted([(404, None), (200, "v1.1.0")])
    assert _ask(script, "v1.1.0").status == 404 and script.asked == 1
    # A 200 of another release is verified like any answer, not asked again.
    script = _Scripted([(200, "v1.0.0")])
    assert _ask(script, "v1.1.0").status == 200 and script.asked == 1


def test_answered_by_is_bounded() -> None:
    script = _Scripted([(404, "v1.0.0")])
    answer = _ask(script, "v1.1.0")
    assert (answer.status, answer.release) == (404, "v1.0.0")
    assert script.asked == facts.MIX_ATTEMPTS
    script = _Scripted([(404, "v1.0.0")], deadline=0.0)
    _ask(script, "v1.1.0")
    assert script.asked == 1


def test_release_mix_puts_the_most_first() -> None:
    assert facts.release_mix({"v2.7.0": 7, "v2.7.1": 57}) == "v2.7.1: 57, v2.7.0: 7"
    assert facts.release_mix({}) == "no responses"
