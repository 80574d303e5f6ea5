"""The playbook table holds the seed's own words: §1's five alerts and their priorities,
§6's and §8's labels, and nothing the playbook does not say."""

from __future__ import annotations

import pytest

from tlogcheck.playbook import ALERTS, NOTICE_LABELS, RCA_LABELS, SCENARIOS, alert_named
from tlogcheck.playbook.checks import CHECKS


def test_the_five_alerts_of_section_1_with_their_priorities() -> None:
    assert {a.name: a.priority for a in ALERTS.values()} == {
        "TLogAvailabilityDown": "P1",
        "TLogCacheMissHigh": "P2",
        "TLogInclusionProofFail": "P1",
        "Ingress5xxHigh": "P1",
        "LatencyP95High": "P2",
    }
    assert ALERTS["TLogCacheMissHigh"].meaning("ko") == "캐시 미스율 > 30%"


@pytest.mark.parametrize("spelling", ["tloginclusionprooffail", " TLOGINCLUSIONPROOFFAIL "])
def test_alert_names_are_case_insensitive(spelling: str) -> None:
    alert = alert_named(spelling)
    assert alert is not None and alert.name == "TLogInclusionProofFail"
    assert alert_named("DiskFull") is None


def test_every_alert_and_check_leads_to_a_scenario() -> None:
    assert {a.scenario for a in ALERTS.values()} <= set(SCENARIOS)
    # The load check answers for two alerts ("Ingress5xxHigh / LatencyP95High").
    named = {name.strip() for c in CHECKS.values() for name in c.alert.split("/")}
    assert named <= set(ALERTS)


def test_notice_and_rca_labels_are_the_seeds() -> None:
    ko = ["제목", "영향", "원인", "조치", "재발 방지"]
    assert [t("ko") for t in NOTICE_LABELS.values()] == ko
    assert [t("ko") for t in RCA_LABELS.values()] == [
        "타임라인",
        "가설/검증",
        "근본 원인",
        "교정 조치(KAIs)",
        "증빙",
    ]
    assert [t("en") for t in NOTICE_LABELS.values()] == [
        "Title",
        "Impact",
        "Cause",
        "Action",
        "Prevention",
    ]


def test_seed_text_where_the_seed_is_at_hand() -> None:
    from pathlib import Path

    seed = Path(__file__).resolve().parents[3] / "shared" / "seed" / "000_5b077ebb8fc2250d.txt"
    if not seed.exists():
        pytest.skip(f"{seed} is not beside this clone")
    text = seed.read_text(encoding="utf-8")
    for alert in ALERTS.values():
        assert alert.meaning("ko") in text
    for scenario in SCENARIOS.values():
        for phrase in (*scenario.hypotheses, *scenario.steps, scenario.after):
            assert phrase("ko") in text, phrase.ko
