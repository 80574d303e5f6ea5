"""The exporter with the real thing: Debian's Prometheus on loopback scrapes two exporters
(vantage eu and us), blackbox-style, and evaluates the exporter group of the shipped
rules. Two POPs of one log, one serving a validly signed fork of the same size: the
TLogSplitView alert fires. A healthy log fires nothing. `/healthz` answering 503 fires
TLogAvailabilityDown.

Time is bounded with a scrape every 2 s and a test copy of the rules whose `for:` is a
few seconds (`rules.exporter_group(holds)`); the shipped files keep the playbook's
durations (tests/export/test_rules.py holds them)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.exporter.prometheus import Prometheus, probe_job
from tests.exporter.running import ExporterProcess
from tlogcheck.export import rules
from tlogcheck.playbook import ALERTS
from tlogcheck.refstack.stack import RunningStack, start_stack

HOLDS = {name: "0s" for name in ALERTS} | {"TLogAvailabilityDown": "4s"}


def rules_text() -> str:
    return rules.render({"groups": [rules.exporter_group(HOLDS)]})


def config(tmp: Path, vkey: str) -> str:
    path = tmp / "exporter.yaml"
    path.write_text(f"modules:\n  pop:\n    vkey: ['{vkey}']\n    sample: 4\n")
    return str(path)


@pytest.fixture
def honest() -> Iterator[RunningStack]:
    with start_stack(entries=300, subprocess=False) as s:
        yield s


def _exporters(tmp: Path, vkey: str) -> tuple[ExporterProcess, ExporterProcess]:
    """Two exporters, each the other's peer (the second learns its peer's port first)."""
    cfg = config(tmp, vkey)
    us = ExporterProcess(cfg, tmp, "--vantage", "us", name="us")
    eu = ExporterProcess(cfg, tmp, "--vantage", "eu", "--peer", us.url, name="eu")
    return eu, us


def fired_set(firing: list[dict[str, str]]) -> set[tuple[str, str]]:
    """(alert, what tells it apart: found_by for TLogSplitView, else the target)."""
    return {(a["alertname"], a.get("found_by") or a.get("target", "")) for a in firing}


def test_a_healthy_log_seen_from_two_vantage_points_fires_nothing(
    tmp_path: Path, honest: RunningStack
) -> None:
    eu, us = _exporters(tmp_path, honest.info.vkey)
    prometheus = None
    try:
        prometheus = Prometheus(
            tmp_path / "prometheus",
            [
                probe_job("eu", eu.url, [honest.info.edge_url], "pop"),
                probe_job("us", us.url, [honest.info.origin_url], "pop"),
            ],  # fmt: skip
            rules_text(),
        )
        prom = prometheus

        def probed_a_while() -> bool:
            found = prom.query("count_over_time(probe_success[1m])")
            return len(found) == 2 and all(float(r["value"][1]) >= 6 for r in found)

        prometheus.wait(probed_a_while)
        time.sleep(2)  # a few evaluations past the longest hold of the test rules
        assert {r["metric"]["job"]: r["value"][1] for r in prom.query("probe_success")} == {
            "eu": "1", "us": "1"
        }  # fmt: skip
        peers = prom.query('tlogcheck_peer_consistency{status="consistent"} == 1')
        assert [r["metric"]["vantage"] for r in peers] == ["eu"]
        assert prometheus.pending_or_firing() == []
    finally:
        if prometheus is not None:
            prometheus.stop()
        eu.stop()
        us.stop()


def test_split_view_and_healthz_503_fire_their_alerts(tmp_path: Path, honest: RunningStack) -> None:
    with start_stack(entries=300, subprocess=False, faults=["history-rewrite"]) as fork, \
            start_stack(entries=300, subprocess=False, faults=["healthz-5xx"]) as down:  # fmt: skip
        eu, us = _exporters(tmp_path, honest.info.vkey)
        prometheus = None
        try:
            prometheus = Prometheus(
                tmp_path / "prometheus",
                [
                    probe_job("eu", eu.url, [honest.info.edge_url, down.info.edge_url], "pop"),
                    probe_job("us", us.url, [fork.info.edge_url], "pop"),
                ],  # fmt: skip
                rules_text(),
            )
            prom = prometheus

            expected = {
                ("TLogSplitView", "checkpoints"),
                ("TLogSplitView", "peer"),
                ("TLogAvailabilityDown", down.info.edge_url),
            }
            prometheus.wait(lambda: expected <= fired_set(prom.firing()))
            firing = prometheus.firing()
        finally:
            if prometheus is not None:
                prometheus.stop()
            eu.stop()
            us.stop()
    assert fired_set(firing) == expected, firing
    split = next(a for a in firing if a.get("found_by") == "checkpoints")
    assert (split["origin"], split["tree_size"]) == ("tlog.example.com/log", "300")
    by_peer = next(a for a in firing if a.get("found_by") == "peer")
    assert by_peer["vantage"] == "eu" and by_peer["peer"] == us.url
    down_alert = next(a for a in firing if a["alertname"] == "TLogAvailabilityDown")
    assert (down_alert["vantage"], down_alert["severity"]) == ("eu", "P1")
