"""A probe against the reference deployment: each check fails on the fault it exists for,
a healthy or legitimately lagging deployment passes, bad requests get a clear 400, and
a target that hangs holds its own probe only."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.exporter.running import Silent, probe, serving, statuses, value
from tests.spec_server import SpecServer, make_entries
from tlogcheck.note import signer_from_seed
from tlogcheck.refstack.stack import RunningStack, start_stack

CHECKS = ["health", "root", "checkpoint", "inclusion", "parity", "cache", "consistency"]


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with start_stack(entries=300, subprocess=False) as s:
        yield s


def config(tmp: Path, vkey: str, extra: str = "") -> str:
    path = tmp / "exporter.yaml"
    path.write_text(
        "modules:\n"
        f"  pop:\n    vkey: ['{vkey}']\n    sample: 4\n"
        f"  tiles:\n    api: tiles\n    vkey: ['{vkey}']\n    sample: 4\n"
        "  health:\n    checks: [health]\n    timeout: 3\n"
        f"  big:\n    vkey: ['{vkey}']\n    max_body: 4194304\n" + extra
    )
    return str(path)


@pytest.fixture
def exporter(tmp_path: Path, stack: RunningStack) -> Iterator[str]:
    stack.set_faults([])
    stack.purge()
    with serving(config(tmp_path, stack.info.vkey)) as (url, _):
        yield url
    stack.set_faults([])
    stack.purge()


def failed(text: str) -> set[str]:
    return {c for c, s in statuses(text).items() if s == "failed"}


def test_a_healthy_deployment_passes_every_check(exporter: str, stack: RunningStack) -> None:
    answer = probe(exporter, stack.info.edge_url, "pop", scrape_timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = answer.text
    assert statuses(text) == dict.fromkeys(CHECKS, "passed"), text
    assert value(text, "probe_success") == 1
    assert value(text, "probe_timeout_seconds") == 9.5  # the scrape timeout less 0.5 s
    assert value(text, "tlogcheck_healthz_status_code", view="origin", vantage="test") == 200
    assert value(text, "tlogcheck_tree_size", view="edge") == 300
    assert value(text, "tlogcheck_edge_lag_entries") == 0
    assert value(text, "tlogcheck_cache_miss_ratio") is not None
    assert value(text, "tlogcheck_entries_verified") == 8  # the 4 newest + a sample of 4
    assert value(text, "tlogcheck_entries_failed") == 0
    assert value(text, "tlogcheck_probe_reads") == 16
    assert value(text, "tlogcheck_probe_5xx_reads") == 0
    info = value(text, "tlogcheck_checkpoint_info", origin="tlog.example.com/log",
                 tree_size="300", vantage="test")  # fmt: skip
    assert info == 1


@pytest.mark.parametrize(
    ("fault", "must_fail", "may_fail"),
    [
        ("edge-lag", set(), set()),
        ("edge-lag-swr", set(), set()),
        ("multi-node-edge", set(), set()),
        ("cdn-dialect:fastly", set(), set()),
        ("healthz-weak-etag", set(), set()),
        ("edge-lag-s-maxage", set(), set()),
        ("edge-fewer-cosignatures", set(), set()),
        ("healthz-5xx", {"health"}, set()),
        ("wrong-root", {"inclusion", "consistency"}, set()),
        ("corrupt-entry", {"inclusion"}, set()),
        ("bad-proof", {"inclusion"}, set()),
        ("checkpoint-bad-signature", {"checkpoint"}, set()),
        ("checkpoint-root-mismatch", {"consistency"}, set()),
        ("signer-stall", {"consistency"}, set()),
        ("split-view", {"parity"}, {"consistency"}),
        ("stale-edge-root", {"parity"}, {"consistency", "cache"}),
        ("cache-always-miss", {"cache"}, set()),
        ("missing-immutable", {"cache"}, set()),
        ("root-immutable", {"cache"}, set()),
        # The suite's rule: the edge passes the origin's Cache-Control through.
        ("edge-cache-control-rewrite", {"cache"}, {"parity"}),
        ("oversize-body:2", {"inclusion"}, {"parity", "cache"}),
    ],
)
def test_each_check_fails_on_its_fault(
    exporter: str, stack: RunningStack, fault: str, must_fail: set[str], may_fail: set[str]
) -> None:
    stack.set_faults([fault])
    stack.purge()
    text = probe(exporter, stack.info.edge_url, "pop").text
    found = failed(text)
    assert must_fail <= found <= must_fail | may_fail, text
    assert value(text, "probe_success") == (0 if must_fail else 1), text
    if fault == "healthz-5xx":
        assert value(text, "tlogcheck_healthz_status_code", view="edge") == 503


def test_parity_compares_the_views_whatever_the_edge_probe_says(
    tmp_path: Path, stack: RunningStack
) -> None:
    """A target that leaves no sign of a cache (here an origin) is still held to its origin
    view: one serving an older tree with one release answering fails parity; the same
    target with its own origin view passes."""
    with start_stack(entries=200, subprocess=False) as behind:
        targets = f"['{stack.info.origin_url}', '{behind.info.origin_url}']"
        extra = (f"  mirror:\n    checks: [parity]\n    targets: {targets}\n"
                 f"    origin_url: '{behind.info.origin_url}'\n")  # fmt: skip
        with serving(config(tmp_path, stack.info.vkey, extra)) as (url, _):
            split = probe(url, stack.info.origin_url, "mirror").text
            whole = probe(url, stack.info.origin_url, "pop").text
    assert statuses(split)["parity"] == "failed", split
    assert statuses(whole)["parity"] == "passed", whole


def test_an_unreadable_root_is_the_root_checks_finding_only(tmp_path: Path) -> None:
    """The checks that only needed the root to start are inconclusive, never a finding of
    their own alert (a malformed root must not page TLogCacheMissHigh)."""
    conf = tmp_path / "exporter.yaml"
    conf.write_text("modules:\n  bare:\n    checks: [root, inclusion, parity, cache]\n")
    skey, _ = signer_from_seed("tlog.example.com/log", bytes(range(32)))
    with SpecServer(make_entries(8), signer_key=skey) as server:
        with serving(str(conf)) as (url, _):
            healthy = statuses(probe(url, server.url, "bare").text)
            server.knobs.bodies["/v1/log/root"] = b'{"tree_size": "eight"}'
            text = probe(url, server.url, "bare").text
    assert set(healthy.values()) == {"passed"}, healthy
    assert statuses(text) == {"root": "failed", "inclusion": "inconclusive",
                              "parity": "inconclusive", "cache": "inconclusive"}, text  # fmt: skip


def test_a_cache_word_nobody_knows_is_inconclusive_not_failed(
    exporter: str, stack: RunningStack
) -> None:
    stack.set_faults(["cdn-dialect:unknown"])
    stack.purge()
    text = probe(exporter, stack.info.edge_url, "pop").text
    assert statuses(text)["cache"] == "inconclusive" and not failed(text), text
    assert value(text, "probe_success") == 0


def test_5xx_are_measured_and_never_taken_for_a_proof_failure(
    exporter: str, stack: RunningStack
) -> None:
    stack.set_faults(["error-rate:50"])
    text = probe(exporter, stack.info.edge_url, "pop").text
    assert (value(text, "tlogcheck_probe_5xx_reads") or 0) > 0, text
    assert failed(text) <= {"health"}, text
    assert value(text, "probe_success") == 0


def test_latency_is_measured(exporter: str, stack: RunningStack) -> None:
    stack.set_faults(["latency:400"])
    stack.purge()
    text = probe(exporter, stack.info.edge_url, "pop", scrape_timeout=30).text
    assert (value(text, "tlogcheck_probe_latency_p95_seconds") or 0) >= 0.4, text


@pytest.mark.parametrize(
    ("fault", "must_fail"),
    [("", set()), ("tiles-corrupt-entry", {"inclusion"}),
     ("tiles-checkpoint-other-key", {"checkpoint"})],
)  # fmt: skip
def test_a_tiled_log_is_probed_with_the_tiles_checks(
    exporter: str, stack: RunningStack, fault: str, must_fail: set[str]
) -> None:
    stack.set_faults([fault] if fault else [])
    stack.purge()
    text = probe(exporter, stack.info.edge_url, "tiles").text
    assert failed(text) == must_fail, text
    assert set(statuses(text)) == set(CHECKS)


def test_what_a_probe_holds_is_bounded_whatever_the_target_serves(
    exporter: str, stack: RunningStack
) -> None:
    """Entries of 3 MiB each, under a body cap of 4 MiB: the probe stops reading once it
    was served 8 MiB in all, and says so as a failure of what it was reading."""
    stack.set_faults(["oversize-body:3"])
    stack.purge()
    text = probe(exporter, stack.info.edge_url, "big", debug="true").text
    assert "was served over 8 MiB in all: stopped reading" in text, text
    assert "inclusion: failed" in text


def test_the_debug_log_history_and_own_metrics(exporter: str, stack: RunningStack) -> None:
    debug = probe(exporter, stack.info.edge_url, "pop", debug="true")
    assert debug.headers["content-type"].startswith("text/plain; charset=utf-8")
    for part in ("Verdicts:", "Logs for the probe:", "inclusion: seed ",
                 "Metrics that would have been returned:", "probe_success 1.0",
                 "Module configuration:", "checks:\n- health"):  # fmt: skip
        assert part in debug.text, debug.text
    page = httpx.get(exporter + "/").text
    assert "recent probes" in page and stack.info.edge_url in page
    entry_id = re.findall(r"^ +(\d+) success", page, re.M)[0]
    assert "Logs for the probe" in httpx.get(exporter + f"/logs?id={entry_id}").text
    assert httpx.get(exporter + "/logs?id=999999").status_code == 404
    own = httpx.get(exporter + "/metrics").text
    assert value(own, "tlogcheck_exporter_probes_total", module="pop", result="success") == 1
    assert (value(own, "process_resident_memory_bytes") or 0) > 0


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"module": "pop"}, 400, "target parameter is missing"),
        ({"target": "http://127.0.0.1:9"}, 400, "module parameter is missing"),
        (
            {"target": "http://127.0.0.1:9", "module": "nope"},
            400,
            "unknown module 'nope' (known: big, health, pop, tiles)",
        ),  # fmt: skip
        ({"target": "file:///etc/passwd", "module": "pop"}, 400, "target: the URL is not http"),
        ({"target": "http://u:p@127.0.0.1:9", "module": "pop"}, 400, "user:password@"),
    ],
)
def test_bad_requests_are_400_with_the_reason(
    exporter: str, params: dict[str, str], status: int, says: str
) -> None:
    answer = httpx.get(exporter + "/probe", params=params)
    assert (answer.status_code, answer.text.strip()) == (status, answer.text.strip())
    assert answer.status_code == status and says in answer.text, answer.text
    assert "\n" not in answer.text.strip()


def test_other_bad_requests(exporter: str) -> None:
    twice = httpx.get(exporter + "/probe?module=pop&target=http://a&target=http://b")
    assert twice.status_code == 400 and "target given 2 times" in twice.text
    header = {"X-Prometheus-Scrape-Timeout-Seconds": "soon"}
    bad = httpx.get(exporter + "/probe", params={"module": "pop", "target": "http://a"},
                    headers=header)  # fmt: skip
    assert bad.status_code == 400 and "X-Prometheus-Scrape-Timeout-Seconds" in bad.text
    assert httpx.get(exporter + "/-/reload").status_code == 405
    assert httpx.get(exporter + "/nowhere").status_code == 404
    own = httpx.get(exporter + "/metrics").text
    assert (value(own, "tlogcheck_exporter_probe_requests_refused_total", reason="bad_request")
            == 2)  # fmt: skip


def test_the_budget_is_the_scrape_timeout_less_the_offset_at_most_the_modules(
    exporter: str, stack: RunningStack
) -> None:
    short = probe(exporter, stack.info.edge_url, "health", scrape_timeout=2).text
    assert value(short, "probe_timeout_seconds") == 1.5
    capped = probe(exporter, stack.info.edge_url, "health", scrape_timeout=60).text
    assert value(capped, "probe_timeout_seconds") == 3  # the module's timeout
    none = probe(exporter, stack.info.edge_url, "health", scrape_timeout=None).text
    assert value(none, "probe_timeout_seconds") == 3


def test_a_hanging_target_holds_its_own_probe_only(exporter: str, stack: RunningStack) -> None:
    silent = Silent()
    answers: dict[str, httpx.Response] = {}
    try:
        hung = threading.Thread(
            target=lambda: answers.setdefault(
                "hung", probe(exporter, silent.url, "pop", scrape_timeout=6.5)
            )
        )
        hung.start()
        while silent.accepted == 0:
            time.sleep(0.01)
        healthy = probe(exporter, stack.info.edge_url, "pop", scrape_timeout=10)
        still_hanging = hung.is_alive()
        hung.join(30)
    finally:
        silent.close()
    assert still_hanging, "the healthy probe waited for the hung one"
    assert value(healthy.text, "probe_success") == 1
    text = answers["hung"].text
    assert value(text, "probe_success") == 0
    assert value(text, "probe_timeout_seconds") == 6
    assert statuses(text)["health"] == "failed", text  # asked, no answer: TLogAvailabilityDown
    assert all(s in ("failed", "inconclusive") for s in statuses(text).values()), text
    # A hung read pages TLogAvailabilityDown whichever check met it, never a proof alert.
    assert (value(text, "tlogcheck_probe_alert_failures", alert="TLogAvailabilityDown") or 0) >= 1
    assert value(text, "tlogcheck_probe_alert_failures", alert="TLogInclusionProofFail") == 0


def test_probes_past_the_concurrency_limit_wait_within_their_budget(
    tmp_path: Path, stack: RunningStack
) -> None:
    silent = Silent()
    try:
        with serving(config(tmp_path, stack.info.vkey), max_concurrent=1) as (url, _):
            hung = threading.Thread(target=probe, args=(url, silent.url, "health"),
                                    kwargs={"scrape_timeout": 3.5})  # fmt: skip
            hung.start()
            while silent.accepted == 0:
                time.sleep(0.01)
            waited = probe(url, stack.info.edge_url, "health", scrape_timeout=1.5).text
            hung.join(30)
    finally:
        silent.close()
    assert value(waited, "probe_success") == 0
    assert statuses(waited) == {"health": "inconclusive"}
