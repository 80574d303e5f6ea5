"""The rule functions of `tlogcheck.verify` on crafted answers: each verdict both ways.

The suite, triage and the checklists call these; here each rule is shown to pass what
is healthy and fail what is not, with the alert and the how (proved / observed) its
finding names. Live deployments exercise them in tests/synthetic and tests/incident.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.spec_server import SpecServer, make_entries
from tlogcheck.client import Response, TLogClient
from tlogcheck.errors import ServerError, TargetStalled, TargetUnreachable
from tlogcheck.playbook.checks import CHECKS, explain, failure_alert, fill_next
from tlogcheck.verify.cache import MissRatio, immutable_paths, judge_miss_ratio, path_class
from tlogcheck.verify.health import judge_health
from tlogcheck.verify.probe import Figures, Read, Thresholds, breaches, judge_reads
from tlogcheck.verify.served import (
    answered,
    asked_once_more,
    finding_of,
    server_error,
    verdict_of,
)


def answer(
    path: str, status: int = 200, body: bytes = b"{}", *, elapsed: float = 0.01, **headers: str
) -> Response:
    return Response(
        url=f"http://t{path}",
        path=path,
        view="edge",
        status=status,
        headers=httpx.Headers(headers),
        body=body,
        elapsed=elapsed,
    )


OK = json.dumps({"status": "ok", "tree_size": 8, "release": "v1"}).encode()


# --- health ------------------------------------------------------------------------------------


def test_health_passes_an_ok_body_in_time() -> None:
    verdict = judge_health(answer("/healthz", body=OK), 10)
    assert verdict.status == "passed" and not verdict.findings


@pytest.mark.parametrize(
    ("status", "body", "elapsed", "served"),
    [
        (503, b'{"error":"x"}', 0.01, "HTTP 503"),
        (200, json.dumps({"status": "degraded", "tree_size": 8}).encode(), 0.01, "'degraded'"),
        (200, b"not json", 0.01, ""),
        (200, OK, 11.0, "11.00s"),
    ],
)
def test_health_fails_under_availability_down(
    status: int, body: bytes, elapsed: float, served: str
) -> None:
    verdict = judge_health(answer("/healthz", status, body, elapsed=elapsed), 10)
    (found,) = verdict.findings
    assert verdict.status == "failed" and found.alert == "TLogAvailabilityDown"
    assert served in found.served


# --- what was answered -------------------------------------------------------------------------


def test_a_5xx_is_a_server_error_never_a_verdict_about_the_log() -> None:
    assert server_error(answer("/v1/log/entry/3", 404)) is None
    exc = server_error(answer("/v1/log/entry/3", 500))
    assert isinstance(exc, ServerError) and (exc.status, exc.path) == (500, "/v1/log/entry/3")
    with pytest.raises(ServerError):
        answered(answer("/v1/log/root"), answer("/v1/log/proof/1?tree_size=8", 502))
    found = finding_of(exc)
    assert found is not None and found.alert == "Ingress5xxHigh" and found.how == "observed"
    healthz = finding_of(ServerError("x", status=503, view="edge", path="/healthz"))
    assert healthz is not None and healthz.alert == "TLogAvailabilityDown"


def test_a_stall_is_availability_or_latency_and_unreachable_is_inconclusive() -> None:
    hung = finding_of(TargetStalled("no answer", started=False))
    slow = finding_of(TargetStalled("trickled", started=True))
    assert hung is not None and hung.alert == "TLogAvailabilityDown"
    assert slow is not None and slow.alert == "LatencyP95High"
    stalled = verdict_of(TargetStalled("no answer", started=False), "inclusion", "proofs")
    assert stalled is not None and stalled.unjudged and stalled.status == "failed"
    unreachable = verdict_of(TargetUnreachable("refused"), "inclusion", "proofs")
    assert unreachable is not None and unreachable.status == "inconclusive"


# --- cache ---------------------------------------------------------------------------------------


def test_immutable_paths_cover_every_class_with_their_query_strings() -> None:
    paths = immutable_paths(range(0, 64, 8), 64)
    classes = {path_class(p) for p in paths}
    assert classes == {"entry", "proof", "consistency"}
    assert any("?tree_size=64" in p for p in paths)
    assert any(p.startswith("/v1/log/consistency?first=") for p in paths)


def _reads(hits: dict[str, bool]) -> tuple[Response, ...]:
    return tuple(
        answer(path, **{"x-cache": "HIT" if hit else "MISS"}) for path, hit in hits.items()
    )


def test_a_cdn_that_never_caches_query_strings_fails_though_entries_hit() -> None:
    paths = immutable_paths(range(16), 1024)
    reads = _reads({p: "?" not in p for p in paths})
    found = MissRatio(reads + reads, rounds=2, paths=len(paths))
    assert found.overall < 0.6  # diluted by the entries ...
    verdict = judge_miss_ratio(found)  # ... but judged per class
    (finding,) = verdict.findings
    assert finding.alert == "TLogCacheMissHigh" and finding.served.startswith("proof reads")
    warm = MissRatio(_reads(dict.fromkeys(paths, True)) * 2, rounds=3, paths=len(paths))
    assert judge_miss_ratio(warm).status == "passed"
    # One class of few paths: 4 of 36 reads overall, all of its own.
    some = _reads({p: path_class(p) != "consistency" for p in paths})
    found = MissRatio(some * 2, rounds=2, paths=len(paths))
    assert found.overall <= 0.30 < found.ratio and found.worst() == "consistency"
    assert judge_miss_ratio(found).status == "failed"


def test_a_5xx_among_the_reads_is_not_a_cache_verdict() -> None:
    reads = (
        answer("/v1/log/entry/1", **{"x-cache": "HIT"}),
        answer("/v1/log/proof/1?tree_size=8", 500),
    )
    with pytest.raises(ServerError):
        judge_miss_ratio(MissRatio(reads, rounds=2, paths=2))


# --- errors and p95 ----------------------------------------------------------------------------


def test_the_line_holds_overall_and_per_group() -> None:
    limits = Thresholds()
    assert breaches([Figures("all", 100, 0.0, 120)], limits) == []
    found = breaches([Figures("all", 100, 0.005, 250), Figures("proof", 20, 0.05, 400)], limits)
    assert [(v.group, v.kind, v.alert) for v in found] == [
        ("proof", "error-rate", "Ingress5xxHigh"),
        ("proof", "p95", "LatencyP95High"),
    ]


def test_the_probe_judges_its_reads_by_the_line() -> None:
    fast = [Read("entry", f"/v1/log/entry/{i}", 20, 200) for i in range(30)]
    assert judge_reads(fast).status == "passed"
    slow_proofs = [Read("proof", f"/v1/log/proof/{i}?tree_size=64", 400, 200) for i in range(10)]
    verdict = judge_reads(fast + slow_proofs)
    assert {f.alert for f in verdict.findings} == {"LatencyP95High"}
    hung = [Read("root", "/v1/log/root", 3000, None, stalled=True, started=False)]
    assert "TLogAvailabilityDown" in judge_reads(fast + hung).alerts
    errors = [Read("proof", "/v1/log/proof/1?tree_size=64", 5, 500) for _ in range(3)]
    assert "Ingress5xxHigh" in judge_reads(fast + errors).alerts


# --- the failure's words -----------------------------------------------------------------------


def test_next_steps_name_the_runs_rollout_namespace_and_target() -> None:
    text = explain("consistency", expected="e", served="s")
    assert "<rollout>" in text and "<namespace>" in text
    filled = fill_next(text, rollout="tlog-canary", namespace="prod", url="https://t")
    assert "kubectl argo rollouts undo tlog-canary -n prod" in filled
    assert "expected: e" in filled  # only the next line changes
    verify = fill_next(explain("inclusion", expected="e", served="s"), url="https://t",
                       verify_args=" --tlog-vkey=k")  # fmt: skip
    assert "`tlogcheck verify https://t INDEX --tlog-vkey=k`" in verify


def test_a_failures_alert_is_the_one_it_named_else_its_checks() -> None:
    load = CHECKS["load"]
    message = "E   expected: p95\nE   fired: LatencyP95High (playbook §3.4)\nalert: Ingress5xxHigh"
    assert failure_alert(load, (), message) == "LatencyP95High"
    assert failure_alert(CHECKS["inclusion"], (), "") == "TLogInclusionProofFail"
    named = [("tlogcheck_alert", "Ingress5xxHigh")]
    assert failure_alert(CHECKS["inclusion"], named, "") == "Ingress5xxHigh"


def test_a_proof_or_format_error_that_escaped_a_rule_is_a_finding_of_its_check() -> None:
    from tlogcheck.errors import FormatError, ProofError

    proved = verdict_of(ProofError("root mismatch"), "consistency", "the consistency check")
    assert proved is not None and proved.status == "failed"
    (found,) = proved.findings
    assert (found.check, found.alert, found.how) == ("consistency", "TLogInclusionProofFail",
                                                     "proved")  # fmt: skip
    observed = verdict_of(FormatError("not JSON"), "cache", "the cache check")
    assert observed is not None and observed.findings[0].how == "observed"
    assert observed.alerts == {"TLogCacheMissHigh"}


def test_a_short_run_of_503s_is_asked_once_more_and_a_lasting_5xx_stays() -> None:
    with SpecServer(make_entries(8)) as server:
        # Three 503s: the client's own retries (3 attempts) end on the last; once more, 200.
        server.knobs.failures = [(503, {})] * 3
        with TLogClient(server.url, timeout=5.0, backoff=0.01) as client:
            first = client.get("/v1/log/root")
            assert (first.status, first.attempts) == (503, 3)
            settled = asked_once_more(client, [first, client.get("/v1/log/entry/1")])
            assert [r.status for r in settled] == [200, 200]
            answered(*settled)
            # Still 503 when asked once more: what was answered, Ingress5xxHigh.
            server.knobs.status = 503
            lasting = asked_once_more(client, [client.get("/v1/log/root")])
            with pytest.raises(ServerError, match="503"):
                answered(*lasting)
