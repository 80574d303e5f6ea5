"""Which alert a probe's check pages is what its findings name, as the suite says: a 5xx
met by a proof check is Ingress5xxHigh (TLogAvailabilityDown on /healthz), a hung read
TLogAvailabilityDown — never the check's own alert, whose question is then not judged.

`result_of` and the metrics on crafted verdicts; the live probes are below it: a
reference deployment whose proofs answer 5xx (`proof-5xx`) or with 5xx everywhere
(`error-rate:50`) pages Ingress5xxHigh and never TLogInclusionProofFail."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.exporter.running import probe, serving, statuses, value
from tlogcheck.errors import ServerError, TargetStalled
from tlogcheck.exporter.context import Facts, result_of
from tlogcheck.exporter.metrics import probe_metrics
from tlogcheck.exporter.probe import ProbeResult
from tlogcheck.playbook import ALERTS
from tlogcheck.refstack.stack import RunningStack, start_stack
from tlogcheck.verify.served import Verdict, finding, finding_of, verdict_of

PROOF_5XX = ServerError("edge GET /v1/log/proof/3?tree_size=8 -> HTTP 500", status=500,
                        view="edge", path="/v1/log/proof/3?tree_size=8")  # fmt: skip
HEALTHZ_5XX = ServerError("edge GET /healthz -> HTTP 503", status=503, view="edge",
                          path="/healthz")  # fmt: skip


def _5xx(check: str, exc: ServerError = PROOF_5XX) -> Verdict:
    verdict = verdict_of(exc, check, f"the {check} check")
    assert verdict is not None
    return verdict


def test_a_5xx_met_by_a_proof_check_pages_ingress5xxhigh_and_leaves_it_not_judged() -> None:
    result = result_of("inclusion", _5xx("inclusion"))
    assert (result.status, result.alerts) == ("inconclusive", ("Ingress5xxHigh",))
    assert "Ingress5xxHigh: edge GET /v1/log/proof/3" in result.detail
    assert "not judged (Ingress5xxHigh)" in result.detail
    # Found wrong as well: the check fails under its own alert, and the 5xx pages too.
    wrong = finding("inclusion", expected="index 1 included", served="hash differs", how="proved")
    answered = finding_of(PROOF_5XX, "inclusion")
    assert answered is not None
    both = result_of("inclusion", Verdict.failed(wrong, answered))
    assert (both.status, both.alerts) == ("failed", ("Ingress5xxHigh", "TLogInclusionProofFail"))


def test_health_fails_on_its_own_alert_and_a_stall_elsewhere_is_availability() -> None:
    assert result_of("health", _5xx("health", HEALTHZ_5XX)).status == "failed"
    stalled = TargetStalled("edge GET /v1/log/root: no answer", started=False)
    hung = verdict_of(stalled, "root", "the root")
    assert hung is not None
    result = result_of("root", hung)
    assert (result.status, result.alerts) == ("inconclusive", ("TLogAvailabilityDown",))
    trickled = verdict_of(TargetStalled("trickled", started=True), "health", "/healthz")
    assert trickled is not None and result_of("health", trickled).alerts == ("LatencyP95High",)
    assert result_of("cache", Verdict.passed("ok")).status == "passed"


def test_the_probe_answers_failures_per_alert_for_every_alert() -> None:
    verdicts = (
        result_of("health", Verdict.passed("ok")),
        result_of("inclusion", _5xx("inclusion")),
        result_of("cache", _5xx("cache")),
        result_of("parity", Verdict.failed(finding("parity", expected="e", served="s"))),
    )
    result = ProbeResult(module="pop", target="http://t", success=False, duration=0.1,
                         timeout=9.5, verdicts=verdicts, facts=Facts(), peers=(), lines=(),
                         finished=True)  # fmt: skip
    text = probe_metrics(result, "eu").decode()
    found = {a: value(text, "tlogcheck_probe_alert_failures", alert=a, vantage="eu")
             for a in ALERTS}  # fmt: skip
    assert found == {"TLogAvailabilityDown": 0, "TLogCacheMissHigh": 0,
                     "TLogInclusionProofFail": 1, "Ingress5xxHigh": 2,
                     "LatencyP95High": 0}  # fmt: skip
    assert statuses(text) == {"health": "passed", "inclusion": "inconclusive",
                              "cache": "inconclusive", "parity": "failed"}  # fmt: skip


# --- live: the reference deployment ------------------------------------------------------------


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with start_stack(entries=300, subprocess=False) as s:
        yield s


@pytest.fixture
def exporter(tmp_path: Path, stack: RunningStack) -> Iterator[str]:
    config = tmp_path / "exporter.yaml"
    config.write_text(f"modules:\n  pop:\n    vkey: ['{stack.info.vkey}']\n    sample: 4\n")
    with serving(str(config)) as (url, _):
        yield url
    stack.set_faults([])
    stack.purge()


def test_a_healthy_probe_pages_nothing(exporter: str, stack: RunningStack) -> None:
    stack.set_faults([])
    stack.purge()
    text = probe(exporter, stack.info.edge_url, "pop").text
    assert [value(text, "tlogcheck_probe_alert_failures", alert=a) for a in ALERTS] == [0] * 5


@pytest.mark.parametrize(
    ("fault", "not_judged"),
    [("proof-5xx", {"inclusion", "cache"}), ("error-rate:50", set())],
)
def test_5xx_page_ingress5xxhigh_and_never_the_integrity_alert(
    exporter: str, stack: RunningStack, fault: str, not_judged: set[str]
) -> None:
    stack.set_faults([fault])
    stack.purge()
    text = probe(exporter, stack.info.edge_url, "pop").text
    assert (value(text, "tlogcheck_probe_alert_failures", alert="Ingress5xxHigh") or 0) >= 1, text
    assert value(text, "tlogcheck_probe_alert_failures", alert="TLogInclusionProofFail") == 0, text
    assert value(text, "probe_success") == 0
    found = statuses(text)
    assert not {c for c, s in found.items() if s == "failed"} - {"health"}, text
    assert {c for c, s in found.items() if s == "inconclusive"} >= not_judged, text
    if fault == "proof-5xx":
        # Only proofs answer 5xx: nothing else is wrong, /healthz included.
        assert found["health"] == found["root"] == found["checkpoint"] == "passed", text
        assert value(text, "tlogcheck_probe_alert_failures", alert="TLogAvailabilityDown") == 0
