"""The TLog ops playbook (v1.0, Korean) as data: §1 alerts, §2 routine, §3 scenarios,
§5 checklists, §6 notice and §8 RCA labels.

One table read by triage, the notice and RCA drafts, the checklists and the alert rules,
so the playbook's words are written once. The Korean text is the playbook's own; the
English is its translation, used with `--lang en`. `checks.py` maps each check of the
suite to its alert; this module says what each alert means and what to do about it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ALERTS",
    "CHECKLISTS",
    "LANGS",
    "NOTICE_LABELS",
    "RCA_LABELS",
    "ROUTINE",
    "SCENARIOS",
    "Alert",
    "Scenario",
    "Text",
    "alert_named",
]

LANGS = ("ko", "en")


@dataclass(frozen=True)
class Text:
    """One phrase of the playbook, in Korean (the playbook's) and English."""

    ko: str
    en: str

    def __call__(self, lang: str) -> str:
        return self.ko if lang == "ko" else self.en


@dataclass(frozen=True)
class Alert:
    """A row of §1: the alert, what it means, its priority, the immediate actions."""

    name: str
    meaning: Text
    priority: str
    actions: tuple[Text, ...]
    scenario: str  # the §3 section that handles it


@dataclass(frozen=True)
class Scenario:
    """A section of §3: symptom, hypotheses, procedure, and what to do afterwards."""

    section: str
    title: Text
    priority: str
    symptom: Text
    hypotheses: tuple[Text, ...]
    steps: tuple[Text, ...]
    after: Text


ALERTS: dict[str, Alert] = {
    a.name: a
    for a in (
        Alert(
            "TLogAvailabilityDown",
            Text("`/healthz` 5xx 연속", "`/healthz` answers 5xx repeatedly"),
            "P1",
            (
                Text("카나리 중단/롤백", "abort / roll back the canary"),
                Text("CDN 스테일 서빙 허용 확인", "check that the CDN may serve stale"),
            ),
            "§3.1",
        ),
        Alert(
            "TLogCacheMissHigh",
            Text("캐시 미스율 > 30%", "cache miss ratio > 30%"),
            "P2",
            (
                Text("CDN 규칙/TTL 점검", "check the CDN rules / TTL"),
                Text("원본 QPS 관찰", "watch the origin's QPS"),
                Text("무효화 실행", "run the invalidation"),
            ),
            "§3.3",
        ),
        Alert(
            "TLogInclusionProofFail",
            Text("포함증명 실패", "inclusion proof failed"),
            "P1",
            (
                Text("`db.jsonl` 손상 여부 확인", "check whether `db.jsonl` is damaged"),
                Text("이미지 태그 재배포", "redeploy the image tag"),
            ),
            "§3.2",
        ),
        Alert(
            "Ingress5xxHigh",
            Text("5xx 비율 ↑", "5xx ratio up"),
            "P1",
            (
                Text("새 버전 카나리 중단", "abort the new version's canary"),
                Text("로그 확인", "read the logs"),
            ),
            "§3.4",
        ),
        Alert(
            "LatencyP95High",
            Text("p95 지연↑", "p95 latency up"),
            "P2",
            (
                Text("CDN 히트율/원본 부하 확인", "check the CDN hit ratio / origin load"),
                Text("HPA 동작 점검", "check the HPA"),
            ),
            "§3.4",
        ),
    )
}


def alert_named(name: str) -> Alert | None:
    """The §1 alert of that name, case-insensitive; None when there is none."""
    for alert in ALERTS.values():
        if alert.name.lower() == name.strip().lower():
            return alert
    return None


# §2, in its order.
ROUTINE: tuple[Text, ...] = (
    Text("버전 파악", "versions"),
    Text("서버 로그", "server logs"),
    Text("원본/엣지 비교", "origin vs edge"),
    Text("포함증명", "inclusion"),
    Text("CDN 히트율", "CDN hit ratio"),
)

SCENARIOS: dict[str, Scenario] = {
    s.section: s
    for s in (
        Scenario(
            "§3.1",
            Text("Health 체크 5xx", "Health check 5xx"),
            "P1",
            Text("`/healthz` 5xx 연속, 사용자 5xx 상승", "`/healthz` 5xx repeatedly, user 5xx up"),
            (
                Text("신규 이미지", "a new image"),
                Text("포드 죽음", "pods dying"),
                Text("리소스 고갈", "resources exhausted"),
                Text("잘못된 ConfigMap", "a wrong ConfigMap"),
            ),
            (
                Text(
                    "카나리 중단: `argo rollouts abort`", "abort the canary: `argo rollouts abort`"
                ),
                Text("러닝 포드 수 확인/HPA 상태 점검", "count running pods, check the HPA"),
                Text(
                    "ConfigMap 마운트 경로/권한 재확인",
                    "re-check ConfigMap mount paths/permissions",
                ),
                Text(
                    "즉시 롤백 필요 시: `argo rollouts undo`",
                    "if a rollback is needed now: `argo rollouts undo`",
                ),
                Text(
                    "CDN은 캐시로 대부분 흡수됨 → 사용자 영향 평가",
                    "the CDN absorbs most of it from cache → assess user impact",
                ),
            ),
            Text(
                "원인 RCA 작성, 재배포 전 Canary 단계 강화",
                "write the RCA, strengthen the canary steps before redeploying",
            ),
        ),
        Scenario(
            "§3.2",
            Text("포함증명 실패", "Inclusion proof failure"),
            "P1",
            Text("`TLogInclusionProofFail`", "`TLogInclusionProofFail`"),
            (
                Text("`db.jsonl` 불일치/손상", "`db.jsonl` mismatch/damage"),
                Text("빌드 스텝 누락", "a build step missed"),
                Text("CDN 구버전", "the CDN serving an old version"),
            ),
            (
                Text("원본 vs 캐시 비교(`X-Bypass`)", "compare origin vs cache (`X-Bypass`)"),
                Text(
                    "`db.jsonl` SHA256 계산 후 Git/CI 아티팩트와 대조",
                    "compute the SHA-256 of `db.jsonl`, compare with the Git/CI artefact",
                ),
                Text(
                    "문제 있으면 이전 정상 태그로 롤백 → CDN 무효화",
                    "if wrong, roll back to the last good tag → invalidate the CDN",
                ),
                Text("CI 파이프라인의 append 단계 점검", "check the CI pipeline's append step"),
            ),
            Text(
                "보호 규칙 추가(스키마 검증/CI 서명)",
                "add protection rules (schema validation / CI signing)",
            ),
        ),
        Scenario(
            "§3.3",
            Text("캐시 미스 급증", "Cache miss surge"),
            "P2",
            Text("원본 QPS↑, 레이턴시↑", "origin QPS up, latency up"),
            (),  # the playbook gives no hypotheses for §3.3
            (
                Text(
                    "CDN 규칙 재확인(Cache Everything/TTL)",
                    "re-check the CDN rules (Cache Everything/TTL)",
                ),
                Text(
                    "헤더 확인(`Cache-Control`, `ETag`, `immutable`)",
                    "check the headers (`Cache-Control`, `ETag`, `immutable`)",
                ),
                Text("무효화 스크립트 실행", "run the invalidation script"),
                Text("일시적으로 Edge TTL 상향", "raise the edge TTL for a while"),
            ),
            Text(
                "배포 태그마다 자동 무효화 연계 확인",
                "make sure every release tag triggers an invalidation",
            ),
        ),
        Scenario(
            "§3.4",
            Text("카나리 중단 결정", "Canary halt decision"),
            "P1/P2",
            Text("`error-rate>1%` or `p95>300ms`", "`error-rate>1%` or `p95>300ms`"),
            (),  # nor for §3.4
            (
                Text(
                    "Argo Rollouts Analysis 실패 자동 중단 확인",
                    "confirm the failed Argo Rollouts analysis aborted the rollout",
                ),
                Text("수동 `abort`/`undo`", "manual `abort`/`undo`"),
            ),
            Text(
                "변경점 축소 후 재시도(10%→30%→60%→100%)",
                "shrink the change and retry (10%→30%→60%→100%)",
            ),
        ),
    )
}

# §5: what each cadence checks.
CHECKLISTS: dict[str, Text] = {
    "daily": Text("헬스/5xx/히트율 확인(5분)", "health / 5xx / hit ratio (5 minutes)"),
    "weekly": Text(
        "카나리 리허설, 무효화 스크립트 점검, 대시보드/경보 테스트",
        "canary rehearsal, invalidation script check, dashboard/alert test",
    ),
    "quarterly": Text(
        "Custody 기록과 TLog 루트 지문 교차검증, SBOM/서명 정책 재점검",
        "cross-check custody records with the TLog root fingerprint, review SBOM/signing policy",
    ),
}

# §6, the notice's fields in the playbook's words.
NOTICE_LABELS: dict[str, Text] = {
    "title": Text("제목", "Title"),
    "impact": Text("영향", "Impact"),
    "cause": Text("원인", "Cause"),
    "action": Text("조치", "Action"),
    "prevention": Text("재발 방지", "Prevention"),
}

# §8, the RCA skeleton's headings.
RCA_LABELS: dict[str, Text] = {
    "timeline": Text("타임라인", "Timeline"),
    "hypotheses": Text("가설/검증", "Hypotheses and verification"),
    "root_cause": Text("근본 원인", "Root cause"),
    "kais": Text("교정 조치(KAIs)", "Corrective actions (KAIs)"),
    "evidence": Text("증빙", "Evidence"),
}
