"""The notice's and RCA's own words in Korean and English (the playbook's labels live
in `tlogcheck.playbook`), and the formatting both share."""

from __future__ import annotations

from typing import Any

from tlogcheck.playbook import ALERTS, SCENARIOS, Alert, Scenario, Text

__all__ = ["W", "alert_of", "clip_line", "scenario_of", "when"]

W: dict[str, Text] = {
    "missing": Text("보고서에서 확인할 수 없음", "not in the reports"),
    "to_fill": Text("기입 필요", "to fill in"),
    "resolved": Text("조치 완료", "resolved"),
    "mitigating": Text("조치 중", "mitigation in progress"),
    "investigating": Text("확인 중", "under investigation"),
    "checks_failed": Text("검사 실패", "checks failed"),
    "failed_check": Text("실패한 검사", "failing check"),
    "tests_failed": Text("테스트 {n}개 실패", "{n} test(s) failed"),
    "alert": Text("경보", "alert"),
    "playbook": Text("플레이북", "playbook"),
    "release_mix": Text("응답한 릴리스(X-TLog-Release)", "releases that answered (X-TLog-Release)"),
    "hit_ratio": Text("엣지 캐시 적중률", "edge cache hit ratio"),
    "of_responses": Text("엣지 응답 {n}개 기준", "over {n} edge responses"),
    "hypothesis": Text("가설", "hypothesis"),
    "unconfirmed": Text("미확인", "not confirmed"),
    "no_hypotheses": Text(
        "플레이북에 이 시나리오의 가설 없음", "the playbook gives no hypotheses for it"
    ),
    "evidence": Text("근거", "evidence"),
    "served_root": Text("{view} 루트", "{view} root"),
    "edge": Text("엣지", "edge"),
    "origin": Text("원본", "origin"),
    "release": Text("릴리스", "release"),
    "abort": Text("카나리 중단", "canary aborted"),
    "undo": Text("리비전 {rev}(으)로 롤백", "rolled back to revision {rev}"),
    "undo_skipped": Text(
        "롤백 불필요(이미 리비전 {rev})", "no rollback needed (already revision {rev})"
    ),
    "invalidated": Text("CDN 무효화", "CDN invalidated"),
    "invalidation_failed": Text("CDN 무효화 실패", "CDN invalidation failed"),
    "exit": Text("종료 코드 {code}", "exit status {code}"),
    "timed_out": Text("시간 초과로 종료됨", "killed at its deadline"),
    "dry_run": Text("게이트 dry run: 아무것도 보내지 않음", "gate dry run: nothing was sent"),
    "gate_off": Text("게이트가 켜져 있지 않았음", "the gate was not armed"),
    "gate_failed": Text("게이트 조치 실패", "the gate failed to act"),
    "gate_none": Text(
        "게이트 조치 없음(--gate-action none)", "no gate action (--gate-action none)"
    ),
    "recovered": Text("복구 확인(검사 통과)", "recovery confirmed (checks passed)"),
    "not_recovered": Text("복구 확인 전", "recovery not yet confirmed"),
    "report": Text("보고서", "report"),
}


def when(value: Any) -> str | None:
    """`2026-11-28T05:26:23.621Z` as `2026-11-28 05:26:23 UTC`; None stays None."""
    if not isinstance(value, str) or "T" not in value:
        return None
    day, _, clock = value.partition("T")
    return f"{day} {clock[:8]} UTC"


def clip_line(text: str, limit: int = 240) -> str:
    """The first non-empty line of a message, clipped."""
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""


def alert_of(name: str | None) -> Alert | None:
    return ALERTS.get(name) if name else None


def scenario_of(alert: Alert | None) -> Scenario | None:
    return SCENARIOS.get(alert.scenario) if alert else None
