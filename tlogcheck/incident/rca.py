"""Playbook §8: the RCA skeleton (타임라인, 가설/검증, 근본 원인, 교정 조치(KAIs), 증빙)
as Markdown, drafted from the reports of a failing run and, if given, a later passing one.

What the reports say is filled in (detection, mitigation, recovery times; each failing
check's observation as served, and every §3 hypothesis marked supported / ruled out /
open with the report's facts behind it; the served root hashes, db.jsonl SHA-256,
release tags, seed and replay command). Recovery is claimed only as the notice claims
it (a later report of the same target re-ran and passed every failed test); otherwise
the 복구 row names what is not yet shown. What only people know (closing time, the root
cause, PR, screenshots) is left as a marked blank with the playbook's candidates beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath

from tlogcheck.incident.hypotheses import STATUS, Judged, judge, scenarios
from tlogcheck.incident.notice import alert_names, evidence, gate_actions, recovery, title
from tlogcheck.incident.reports import Incident, RunReport
from tlogcheck.incident.words import W, clip_line, when
from tlogcheck.playbook import ALERTS, RCA_LABELS, Text
from tlogcheck.verify import release_mix

__all__ = ["render"]

R: dict[str, Text] = {
    "rca": Text("사후 분석(RCA)", "Post-incident analysis (RCA)"),
    "stage": Text("단계", "Stage"),
    "time": Text("시각", "Time"),
    "basis": Text("근거", "Basis"),
    "detect": Text("감지", "Detection"),
    "mitigate": Text("완화", "Mitigation"),
    "recover": Text("복구", "Recovery"),
    "close": Text("종료", "Close"),
    "first_failure": Text("첫 실패 테스트", "first failing test"),
    "observation": Text("관측", "Observation"),
    "verdict": Text("판정", "Verdict"),
    "to_verify": Text("검증 필요", "to verify"),
    "check_failed": Text("검사 실패: 테스트 {n}개", "check failed: {n} test(s)"),
    "expected": Text("기대", "Expected"),
    "indices": Text("실패한 항목", "Failing entries"),
    "process": Text("프로세스", "Process"),
    "code": Text("코드", "Code"),
    "infra": Text("인프라", "Infrastructure"),
    "candidates": Text("후보(§3 가설)", "candidates (§3 hypotheses)"),
    "now": Text("즉시", "Immediate"),
    "mid": Text("중기", "Mid-term"),
    "long": Text("장기", "Long-term"),
    "done": Text("완료", "done"),
    "roots": Text("서빙된 루트 해시", "served root hashes"),
    "db_sha": Text("db.jsonl SHA-256", "db.jsonl SHA-256"),
    "db_expected": Text("릴리스 아티팩트 기대값", "release artefact's expected value"),
    "tags": Text("릴리스 태그", "release tags"),
    "seed": Text("시드와 재현 명령", "seed and replay command"),
    "events": Text("Kubernetes Event", "Kubernetes Events"),
    "bundle": Text("증거 번들", "evidence bundle"),
    "pr": Text("PR", "PR"),
    "screens": Text("스크린샷", "screenshots"),
    "reports": Text("보고서", "reports"),
    "failing_run": Text("실패 실행", "failing run"),
    "passing_run": Text("통과 실행", "passing run"),
}

# Which §3 hypotheses point at which kind of root cause (§8: process / code / infra).
_KIND = {
    "`db.jsonl` 불일치/손상": "process",
    "빌드 스텝 누락": "process",
    "CDN 구버전": "infra",
    "신규 이미지": "code",
    "포드 죽음": "infra",
    "리소스 고갈": "infra",
    "잘못된 ConfigMap": "process",
}


def _timeline(inc: Incident, lang: str) -> list[str]:
    run, gate = inc.failing, inc.failing.gate
    missing, fill = W["missing"](lang), W["to_fill"](lang)
    trig = gate.get("triggered_by") if isinstance(gate.get("triggered_by"), dict) else {}
    first = run.first_failure_at()
    first_test = next((f.nodeid for f in run.failures() if f.finished_at == first), None)
    if inc.recovery is not None:
        recovered = (
            when(inc.recovery.finished_at) or missing,
            f"{R['passing_run'](lang)} `{inc.recovery.path}`",
        )
    else:
        recovered = (missing, "; ".join(recovery(inc, lang)))
    rows = [
        (
            R["detect"](lang),
            when(first) or missing,
            f"{R['first_failure'](lang)} `{first_test}`" if first_test else missing,
        ),
        (
            R["mitigate"](lang),
            when(gate.get("acted_at")) or missing,
            "; ".join(gate_actions(inc, lang)[:1])
            + (f" — `{trig.get('nodeid')}`" if trig else ""),
        ),
        (R["recover"](lang), *recovered),
        (R["close"](lang), fill, fill),
    ]
    out = [
        f"| {R['stage'](lang)} | {R['time'](lang)} (UTC) | {R['basis'](lang)} |",
        "|---|---|---|",
    ]
    out += [f"| {a} | {b} | {c.replace('|', '/')} |" for a, b, c in rows]
    return out


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")


def _judged(inc: Incident, alerts: list[str]) -> list[tuple[str, list[Judged]]]:
    return [(s.section, judge(inc, s)) for s in scenarios(alerts)]


def _hypotheses(inc: Incident, lang: str) -> list[str]:
    run = inc.failing
    out: list[str] = []
    for name in run.failed_checks:
        failures = run.failures(name)
        alerts = list(dict.fromkeys(f.alert for f in failures if f.alert))
        head = f"### {name}"
        if alerts:
            where = ", ".join(
                f"{a}, {W['playbook'](lang)} {ALERTS[a].scenario}" if a in ALERTS else a
                for a in alerts
            )
            head += f" ({where})"
        out += [head, ""]
        if failures:
            f = failures[0]
            if f.expected:
                out.append(f"- {R['expected'](lang)}: {clip_line(f.expected, 400)}")
            out.append(f"- {R['observation'](lang)}: {evidence(run, f, lang, 400)}")
        else:
            out.append(f"- {R['observation'](lang)}: {W['missing'](lang)}")
        indices = sorted(
            {
                i
                for f in failures
                for i in (f.facts.get("indices") or [])
                if isinstance(i, int) and not isinstance(i, bool)
            }
        )
        if indices:
            out.append(f"- {R['indices'](lang)}: {', '.join(map(str, indices[:64]))}")
        out.append(f"- {R['verdict'](lang)}: {R['check_failed'](lang).format(n=len(failures))}")
        out += [
            "",
            f"| {W['hypothesis'](lang)} | {R['observation'](lang)} | {R['verdict'](lang)} |",
            "|---|---|---|",
        ]
        judged = _judged(inc, alerts)
        if not any(found for _, found in judged):
            out.append(f"| {W['no_hypotheses'](lang)} | | {R['to_verify'](lang)} |")
        for section, found in judged:
            for j in found:
                out.append(
                    f"| {j.hypothesis(lang)} ({section}) | {_cell(j.basis(lang))} "
                    f"| {STATUS[j.status](lang)} |"
                )
        out.append("")
    return out


def _root_cause(inc: Incident, lang: str) -> list[str]:
    by_kind: dict[str, list[str]] = {"process": [], "code": [], "infra": []}
    for _, found in _judged(inc, alert_names(inc.failing)):
        for j in found:
            kind = _KIND.get(j.hypothesis.ko, "infra")
            shown = f"{j.hypothesis(lang)} ({STATUS[j.status](lang)})"
            if shown not in by_kind[kind]:
                by_kind[kind].append(shown)
    out = []
    for kind in ("process", "code", "infra"):
        cands = by_kind[kind]
        extra = f" — {R['candidates'](lang)}: {', '.join(cands)}" if cands else ""
        out.append(f"- **{R[kind](lang)}**: {W['to_fill'](lang)}{extra}")
    return out


def _kais(inc: Incident, lang: str) -> list[str]:
    run = inc.failing
    after = [f"{s.after(lang)} ({s.section})" for s in scenarios(alert_names(run))]
    out = [f"- **{R['now'](lang)}**:"]
    done = gate_actions(inc, lang) if run.gate.get("verdict") == "acted" else []
    out += [f"  - [x] {a}" for a in done]
    # Ticked only when a later report showed every failed test passing again.
    mark = "x" if inc.resolved else " "
    out += [f"  - [{mark}] {a}" for a in recovery(inc, lang)[:1]]
    out.append(f"- **{R['mid'](lang)}**:")
    out += [f"  - [ ] {a}" for a in after] or [f"  - [ ] {W['to_fill'](lang)}"]
    out.append(f"- **{R['long'](lang)}**:")
    out.append(f"  - [ ] {W['to_fill'](lang)}")
    return out


def _evidence(inc: Incident, lang: str, bundles: Sequence[str]) -> list[str]:
    missing, fill = W["missing"](lang), W["to_fill"](lang)
    out = [
        f"- **{R['reports'](lang)}**: {R['failing_run'](lang)} `{inc.failing.path}`"
        + (f", {R['passing_run'](lang)} `{inc.recovery.path}`" if inc.recovery else "")
    ]
    runs = [(R["failing_run"](lang), inc.failing)]
    if inc.recovery:
        runs.append((R["passing_run"](lang), inc.recovery))
    out.append(f"- **{R['roots'](lang)}**:")
    any_root = False
    for label, run in runs:
        for view, facts in run.served.items():
            if facts.get("root_hash"):
                any_root = True
                rel = f", {W['release'](lang)} {facts['release']}" if facts.get("release") else ""
                at = when(facts.get("fetched_at"))
                out.append(
                    f"  - {label}, {W[view](lang) if view in W else view}: "
                    f"`{facts.get('tree_size')}:{facts['root_hash']}`{rel}"
                    + (f" ({at})" if at else "")
                )
    if not any_root:
        out.append(f"  - {missing}")
    db = inc.failing.db
    expected = inc.failing.target.get("db_sha256")
    sha = f"`{db['sha256']}` ({db.get('path')})" if db.get("sha256") else missing
    if expected:
        sha += f"; {R['db_expected'](lang)} `{expected}`"
    out.append(f"- **{R['db_sha'](lang)}**: {sha}")
    tags = []
    for label, run in runs:
        tags.append(f"{label}: {release_mix(run.releases) if run.releases else missing}")
    out.append(f"- **{R['tags'](lang)}**: " + "; ".join(tags))
    replay = inc.failing.replay
    if replay.get("command"):
        out.append(f"- **{R['seed'](lang)}**: {replay.get('seed')} — `{replay['command']}`")
    else:
        out.append(f"- **{R['seed'](lang)}**: {missing}")
    gate = inc.failing.gate
    outcome = gate.get("outcome")
    events = [str(outcome.get("event") or "")] if isinstance(outcome, dict) else []
    inv = gate.get("invalidation")
    if isinstance(inv, dict):
        events.append(str(inv.get("event") or ""))
    events = [e for e in events if e]
    where = f" (`kubectl -n {gate.get('namespace')} get events`)" if events else ""
    out.append(f"- **{R['events'](lang)}**: {', '.join(events) + where if events else missing}")
    out.append(f"- **{R['bundle'](lang)}**: {_bundles(inc.failing, lang, bundles) or missing}")
    out.append(f"- **{R['pr'](lang)}**: {fill}")
    out.append(f"- **{R['screens'](lang)}**: {fill}")
    return out


# The level of an evidence bundle, as `tlogcheck evidence verify` decides it.
_LEVEL = {
    "proven": Text(
        "입증됨 (로그 자신의 서명: 함께 참일 수 없는 두 서명)",
        "proven (the log's own signatures: two signed statements that cannot both be true)",
    ),
    "shown": Text(
        "관측됨, 입증 아님 (실행이 기록한 응답의 오프라인 재검증: "
        "번들 작성자를 신뢰하는 만큼만 참)",
        "shown, not proven (the run's recorded answers re-verified offline: true as far as "
        "the bundle's author is trusted)",
    ),
    "none": Text("보인 것 없음 (로그를 탓할 근거 없음)", "nothing shown (nothing accuses the log)"),
}


def _bundles(run: RunReport, lang: str, given: Sequence[str]) -> str:
    """The bundles, each with the level the run's verification gave it (`evidence`)."""
    found = run.doc.get("evidence")
    ev = found if isinstance(found, dict) else {}
    own = ev.get("bundle") if isinstance(ev.get("bundle"), str) else None
    level = _LEVEL.get(str(ev.get("level")))
    parts = []
    # `given`: what the command found on disk (the run's own bundle where its report says
    # or moved beside the report) and what `--bundle` named; a bundle the report names but
    # that is nowhere is not listed as if at hand.
    for b in dict.fromkeys(given):
        text = f"`{b}`"
        if own is not None and PurePath(b).name == PurePath(own).name and level is not None:
            text += f" — {level(lang)}"
            if isinstance(ev.get("strongest"), str):
                text += f": {clip_line(ev['strongest'], 300)}"
        parts.append(text)
    return ", ".join(parts)


def render(inc: Incident, lang: str = "ko", bundles: Sequence[str] = ()) -> str:
    """The §8 skeleton as Markdown; `bundles`: evidence bundles to list under 증빙."""
    lines = [f"# {R['rca'](lang)}: {title(inc, lang)}", ""]
    lines += [f"## {RCA_LABELS['timeline'](lang)}", "", *_timeline(inc, lang), ""]
    lines += [f"## {RCA_LABELS['hypotheses'](lang)}", "", *_hypotheses(inc, lang)]
    lines += [f"## {RCA_LABELS['root_cause'](lang)}", "", *_root_cause(inc, lang), ""]
    lines += [f"## {RCA_LABELS['kais'](lang)}", "", *_kais(inc, lang), ""]
    lines += [f"## {RCA_LABELS['evidence'](lang)}", "", *_evidence(inc, lang, bundles)]
    return "\n".join(lines) + "\n"
