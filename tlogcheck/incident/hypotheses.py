"""The §3 hypotheses of an incident, each marked from what the reports show.

For every scenario the failures' alerts lead to (§3.1 for TLogAvailabilityDown, §3.2
for TLogInclusionProofFail; §3.3 and §3.4 give none), each hypothesis is

- **supported** (지지됨) when the report holds a failure or figure that points at it,
- **ruled out** (배제됨) when a check that would have caught it passed on the same
  run (the db check passed: the served root is the release's db.jsonl; the edge's root
  is the origin's and parity passed: the edge serves no older copy),
- **open** (미결) otherwise, with what the report does show and where to look.

Only failures under the scenario's own alerts count: a proof read that met a 5xx and
was classified Ingress5xxHigh (by the suite, in the report) supports no §3.2 hypothesis.
Each mark carries its basis, quoted from the report. The notice and the RCA both render
these; neither re-derives them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from tlogcheck.incident.reports import Failure, Incident, RunReport
from tlogcheck.incident.words import clip_line
from tlogcheck.playbook import ALERTS, SCENARIOS, Scenario, Text
from tlogcheck.verify import release_mix

__all__ = ["JUDGES", "STATUS", "Judged", "Seen", "judge", "scenarios"]

Status = Literal["supported", "ruled_out", "open"]
STATUS: dict[str, Text] = {
    "supported": Text("지지됨", "supported"),
    "ruled_out": Text("배제됨", "ruled out"),
    "open": Text("미결", "open"),
}


# A check's verdict as the report writes it, in the notice's language.
VERDICTS: dict[str, Text] = {
    "passed": Text("통과", "passed"),
    "failed": Text("실패", "failed"),
    "skipped": Text("건너뜀", "skipped"),
    "inconclusive": Text("판정 불가", "inconclusive"),
    "no tests": Text("테스트 없음", "no tests"),
}


def verdict_text(verdict: str | None) -> Text:
    if verdict is None:
        return Text("결과 없음", "no result")
    return VERDICTS.get(verdict, Text(verdict, verdict))


@dataclass(frozen=True)
class Judged:
    """One hypothesis (the playbook's words), its mark, and the report's facts behind it."""

    hypothesis: Text
    status: Status
    basis: Text


def short(hex_text: object) -> str:
    text = str(hex_text)
    return text[:16] + "…" if len(text) > 16 else text


@dataclass(frozen=True)
class Seen:
    """What a judge reads: the incident, the run, and the alerts of the scenario."""

    inc: Incident
    run: RunReport
    alerts: frozenset[str]

    def failures(self, check: str | None = None) -> list[Failure]:
        return [f for f in self.run.failures(check) if f.alert in self.alerts]

    def served(self, check: str) -> str | None:
        """The first two served lines of the check's first failure under these alerts."""
        for f in self.failures(check):
            lines = [x.strip() for x in (f.served or "").splitlines() if x.strip()][:2]
            if lines:
                return clip_line(" ".join(lines), 200)
        return None


def _verdict(run: RunReport, check: str) -> str | None:
    found = run.checks.get(check, {}).get("verdict")
    return str(found) if found else None


def _not_run(run: RunReport, check: str) -> Text:
    v = verdict_text(_verdict(run, check))
    tests = run.checks.get(check, {}).get("tests")
    reason = ""
    if isinstance(tests, list) and tests and isinstance(tests[0], dict):
        reason = clip_line(str(tests[0].get("message") or ""), 120)
    why = f": {reason}" if reason else ""
    return Text(f"{check} 검사 {v.ko}{why}", f"{check} check {v.en}{why}")


# --- §3.2 ---------------------------------------------------------------------------------


def _db_damage(seen: Seen) -> tuple[Status, Text]:
    run = seen.run
    served = seen.served("db")
    if served:
        return "supported", Text(f"db 검사 실패: {served}", f"db check failed: {served}")
    if _verdict(run, "db") != "passed":
        return "open", _not_run(run, "db")
    db, expected = run.db, run.target.get("db_sha256")
    ko, en = ["db 검사 통과"], ["db check passed"]
    sha = db.get("sha256")
    if sha and expected and sha == expected:
        ko.append(f"db.jsonl SHA-256 {short(sha)} = 릴리스 아티팩트")
        en.append(f"db.jsonl SHA-256 {short(sha)} = the release artefact's")
    elif not expected:
        ko.append("SHA-256은 대조하지 않음(--tlog-db-sha256 없음)")
        en.append("SHA-256 not compared (no --tlog-db-sha256)")
    edge = run.served.get("edge", {})
    if db.get("root_hash") and (db.get("tree_size"), db.get("root_hash")) == (
        edge.get("tree_size"),
        edge.get("root_hash"),
    ):
        tree = f"{db['tree_size']}:{short(db['root_hash'])}"
        ko.append(f"재구성한 루트 = 서빙된 루트 {tree}")
        en.append(f"rebuilt root = served root {tree}")
    return "ruled_out", Text("; ".join(ko), "; ".join(en))


def _build_step(seen: Seen) -> tuple[Status, Text]:
    for check in ("canary", "consistency"):
        served = seen.served(check)
        if served:
            return "supported", Text(
                f"{check} 검사 실패(로그가 덧붙이기만 하지 않음): {served}",
                f"{check} check failed (the log is not append-only): {served}",
            )
    return "open", Text(
        "보고서로 판단할 수 없음: CI 파이프라인의 append 단계 점검(§3.2 절차 4)",
        "the reports cannot tell: check the CI pipeline's append step (§3.2 step 4)",
    )


def _cdn_stale(seen: Seen) -> tuple[Status, Text]:
    run = seen.run
    served = seen.served("parity")
    if served:
        return "supported", Text(f"parity 검사 실패: {served}", f"parity check failed: {served}")
    edge, origin = run.served.get("edge", {}), run.served.get("origin", {})
    if not (edge.get("root_hash") and origin.get("root_hash")):
        return "open", Text(
            "엣지와 원본 루트가 모두 보고서에 있지 않음",
            "the reports lack the edge's or the origin's root",
        )
    e = f"{edge.get('tree_size')}:{short(edge['root_hash'])}"
    o = f"{origin.get('tree_size')}:{short(origin['root_hash'])}"
    parity = verdict_text(_verdict(run, "parity"))
    if (edge.get("tree_size"), edge["root_hash"]) == (origin.get("tree_size"), origin["root_hash"]):
        return "ruled_out", Text(
            f"엣지 루트 = 원본 루트 {e}; parity 검사 {parity.ko}",
            f"edge root = origin root {e}; parity check {parity.en}",
        )
    return "open", Text(
        f"엣지 루트 {e}, 원본 루트 {o} (parity 검사 {parity.ko}: 허용된 지연)",
        f"edge root {e}, origin root {o} (parity check {parity.en}: a lag within its max-age)",
    )


# --- §3.1 ---------------------------------------------------------------------------------


def _new_image(seen: Seen) -> tuple[Status, Text]:
    run, inc = seen.run, seen.inc
    mix = release_mix(run.releases) if run.releases else None
    if mix is None:
        return "open", Text("응답한 릴리스가 보고서에 없음", "no release recorded in the report")
    rec = inc.recovery
    if rec is not None and rec.releases and not set(rec.releases) & set(run.releases):
        after = release_mix(rec.releases)
        return "supported", Text(
            f"실패 시 응답한 릴리스 {mix}, 복구 확인 시 {after}",
            f"releases that answered the failing run: {mix}; the recovery: {after}",
        )
    return "open", Text(
        f"응답한 릴리스 {mix}; 이전 정상 릴리스와의 비교는 보고서에 없음",
        f"releases that answered: {mix}; no earlier good release to compare with",
    )


VIEWS = {"edge": Text("엣지", "edge"), "origin": Text("원본", "origin")}


def _health_figures(run: RunReport, lang: str) -> str:
    parts = []
    for view in ("edge", "origin"):
        status = run.facts.get(f"healthz_status.{view}")
        if isinstance(status, int):
            parts.append(f"{VIEWS[view](lang)} {status}")
    return f"/healthz HTTP {', '.join(parts)}; " if parts else ""


def _pods(seen: Seen) -> tuple[Status, Text]:
    ko, en = _health_figures(seen.run, "ko"), _health_figures(seen.run, "en")
    return "open", Text(
        ko + "포드 상태는 보고서에 없음(`tlogcheck triage TLogAvailabilityDown --rollout`)",
        en + "the pods' state is not in the reports (`tlogcheck triage TLogAvailabilityDown "
        "--rollout`)",
    )


def _resources(seen: Seen) -> tuple[Status, Text]:
    run = seen.run
    # A latency failure is another scenario's alert, but it is what exhaustion looks like.
    slow = [f for f in run.failures() if f.alert == "LatencyP95High"]
    if slow and slow[0].served:
        line = clip_line(slow[0].served, 160)
        return "supported", Text(
            f"지연 실패({slow[0].check}): {line}", f"latency failure ({slow[0].check}): {line}"
        )
    total = run.load.get("total")
    if isinstance(total, dict) and isinstance(total.get("p95_ms"), (int, float)):
        er = total.get("error_rate")
        rate = f"{er:.2%}" if isinstance(er, (int, float)) else "-"
        return "open", Text(
            f"부하 단계 p95 {total['p95_ms']} ms, 오류율 {rate}; 포드 자원 지표는 보고서에 없음",
            f"load phase p95 {total['p95_ms']} ms, error rate {rate}; the pods' resource "
            "figures are not in the reports",
        )
    return "open", Text(
        "자원 지표는 보고서에 없음(HPA 상태 점검, §3.1 절차 2)",
        "no resource figures in the reports (check the HPA, §3.1 step 2)",
    )


def _configmap(seen: Seen) -> tuple[Status, Text]:
    return "open", Text(
        "보고서로 판단할 수 없음: ConfigMap 마운트 경로/권한 재확인(§3.1 절차 3)",
        "the reports cannot tell: re-check the ConfigMap's mount paths and permissions "
        "(§3.1 step 3)",
    )


# The playbook's hypotheses by their Korean words (the seed's labels), and how each is judged.
JUDGES: dict[str, Callable[[Seen], tuple[Status, Text]]] = {
    "`db.jsonl` 불일치/손상": _db_damage,
    "빌드 스텝 누락": _build_step,
    "CDN 구버전": _cdn_stale,
    "신규 이미지": _new_image,
    "포드 죽음": _pods,
    "리소스 고갈": _resources,
    "잘못된 ConfigMap": _configmap,
}


def scenarios(alerts: list[str]) -> list[Scenario]:
    """The §3 scenarios of these alerts, each once, in the alerts' order."""
    found: dict[str, Scenario] = {}
    for name in alerts:
        alert = ALERTS.get(name)
        scenario = SCENARIOS.get(alert.scenario) if alert else None
        if scenario is not None:
            found.setdefault(scenario.section, scenario)
    return list(found.values())


def judge(inc: Incident, scenario: Scenario, run: RunReport | None = None) -> list[Judged]:
    """Each hypothesis of `scenario`, marked from `run` (default: the failing run)."""
    alerts = frozenset(a.name for a in ALERTS.values() if a.scenario == scenario.section)
    seen = Seen(inc, run or inc.failing, alerts)
    out = []
    for h in scenario.hypotheses:
        how = JUDGES.get(h.ko)
        if how is None:
            out.append(Judged(h, "open", Text("판정 규칙 없음", "no rule to judge it")))
            continue
        status, basis = how(seen)
        out.append(Judged(h, status, basis))
    return out
