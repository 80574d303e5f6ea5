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
    "miss_ratio": Text("엣지 캐시 미스율(정상 상태)", "edge cache miss ratio (steady state)"),
    "miss_basis": Text(
        "cache 검사가 워밍업 후 측정, 경보 기준 > 30%",
        "measured by the cache check once warm; the alert fires above 30%",
    ),
    "entries": Text("항목", "entries"),
    "and_more": Text(" 외 {n}개", " and {n} more"),
    "error_rate": Text("오류율", "error rate"),
    "load_figures": Text(
        "부하 단계: 요청 {n}개, 오류율 {er}, p95 {p95} ms, p99 {p99} ms",
        "load phase: {n} requests, error rate {er}, p95 {p95} ms, p99 {p99} ms",
    ),
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
    "recovered": Text(
        "복구 확인(실패했던 테스트가 모두 다시 통과)",
        "recovery confirmed (every test that failed passed again)",
    ),
    "not_recovered": Text("복구 확인 전", "recovery not yet confirmed"),
    "unverified": Text("다시 통과한 것이 확인되지 않은 테스트", "not shown passing again"),
    "no_later": Text(
        "이 대상의 이후 보고서가 주어지지 않음", "no later report of this target was given"
    ),
    "not_rerun": Text("이후 보고서에서 실행되지 않음", "not run by a later report"),
    "failed_again": Text("{report}에서 다시 실패", "failed again in {report}"),
    "inconclusive_later": Text("{report}에서 판정 불가", "inconclusive in {report}"),
    "skipped_later": Text("{report}에서 건너뜀", "skipped in {report}"),
    "ran_later": Text("이후 보고서가 실행한 검사", "checks the later reports ran"),
    "none": Text("없음", "none"),
    "other_targets": Text(
        "다른 대상의 보고서(이 대상의 복구 근거가 아님)",
        "reports of other targets (no evidence of this target's recovery)",
    ),
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
