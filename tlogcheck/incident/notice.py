"""Playbook §6: the incident notice (제목/영향/원인/조치/재발 방지) drafted from reports.

Every field is filled from what the reports hold: the failing alert and checks, the
releases that answered, the edge's cache hit ratio, the §3 hypotheses of the alert's
scenario with the failing test's own evidence, what the gate did and when, the
scenario's 사후 line. A field the reports cannot fill says so; nothing is made up.
"""

from __future__ import annotations

from typing import Any

from tlogcheck.incident.reports import Incident, RunReport
from tlogcheck.incident.words import W, alert_of, clip_line, scenario_of, when
from tlogcheck.playbook import NOTICE_LABELS
from tlogcheck.playbook.checks import CHECKS
from tlogcheck.verify import release_mix

__all__ = ["FORMATS", "actions", "fields", "render", "title"]

FORMATS = ("text", "markdown")


def title(inc: Incident, lang: str) -> str:
    run = inc.failing
    alert = alert_of(run.alert())
    what = (
        alert.meaning(lang)
        if alert
        else f"{', '.join(run.failed_checks)} {W['checks_failed'](lang)}"
    )
    if inc.resolved:
        status = W["resolved"](lang)
    elif run.gate.get("verdict") == "acted":
        status = W["mitigating"](lang)
    else:
        status = W["investigating"](lang)
    return f"[TLog] {what.replace('`', '')} ({status})"


def impact(run: RunReport, lang: str) -> list[str]:
    out = []
    for name in run.failed_checks:
        c = run.checks.get(name, {})
        n = c.get("failed") if isinstance(c.get("failed"), int) else len(run.failing_tests(name))
        check = CHECKS.get(name)
        where = (
            f"; {W['alert'](lang)} {check.alert}, {W['playbook'](lang)} {check.section}"
            if check
            else ""
        )
        out.append(
            f"{W['failed_check'](lang)}: {name} ({W['tests_failed'](lang).format(n=n)}{where})"
        )
    releases = run.releases
    mix = release_mix(releases) if releases else W["missing"](lang)
    out.append(f"{W['release_mix'](lang)}: {mix}")
    ratio = run.hit_ratio()
    hits = (
        f"{ratio[0] * 100:.0f}% ({W['of_responses'](lang).format(n=ratio[1])})"
        if ratio
        else W["missing"](lang)
    )
    out.append(f"{W['hit_ratio'](lang)}: {hits}")
    return out


def cause(run: RunReport, lang: str) -> list[str]:
    alert = alert_of(run.alert())
    scenario = scenario_of(alert)
    out = []
    if scenario is None:
        out.append(f"{W['hypothesis'](lang)}: {W['missing'](lang)}")
    elif scenario.hypotheses:
        hyps = ", ".join(h(lang).replace("`", "") for h in scenario.hypotheses)
        out.append(
            f"{W['hypothesis'](lang)} ({scenario.section}, {W['unconfirmed'](lang)}): {hyps}"
        )
    else:
        out.append(f"{W['hypothesis'](lang)} ({scenario.section}): {W['no_hypotheses'](lang)}")
    for name in run.failed_checks:
        tests = run.failing_tests(name)
        if tests:
            out.append(
                f"{W['evidence'](lang)} ({name}): {clip_line(str(tests[0].get('message', '')))}"
            )
    for view, facts in run.served.items():
        if facts.get("root_hash"):
            label = W["served_root"](lang).format(view=W[view](lang) if view in W else view)
            rel = f", {W['release'](lang)} {facts['release']}" if facts.get("release") else ""
            out.append(f"{label}: {facts.get('tree_size')}:{facts['root_hash']}{rel}")
    return out


def actions(inc: Incident, lang: str) -> list[str]:
    """What was done, with times: the gate's abort/undo, the invalidation, the recovery."""
    gate = inc.failing.gate
    out: list[str] = []
    verdict = gate.get("verdict")
    target = f"{gate.get('namespace')}/{gate.get('rollout')}"
    if not gate or verdict == "off":
        out.append(f"{W['gate_off'](lang)}: {W['missing'](lang)}")
    elif verdict == "would act (dry run)":
        out.append(W["dry_run"](lang))
    elif verdict == "failed":
        out.append(f"{W['gate_failed'](lang)} ({target}): {gate.get('error')}")
    elif str(verdict).startswith("no action"):
        out.append(W["gate_none"](lang))
    elif verdict == "acted":
        raw = gate.get("outcome")
        outcome: dict[str, Any] = raw if isinstance(raw, dict) else {}
        at = when(gate.get("acted_at"))
        step = f"{W['abort'](lang)} ({target}{', ' + at if at else ''})"
        undo = outcome.get("undo")
        if isinstance(undo, dict) and undo.get("to_revision") is not None:
            key = "undo_skipped" if undo.get("skipped") else "undo"
            step += " → " + W[key](lang).format(rev=undo["to_revision"])
            if undo.get("image"):
                step += f" ({undo['image']})"
        inv = gate.get("invalidation")
        if isinstance(inv, dict) and inv.get("ran"):
            key = "invalidated" if inv.get("ok") else "invalidation_failed"
            detail = (
                W["timed_out"](lang)
                if inv.get("timed_out")
                else W["exit"](lang).format(code=inv.get("exit_status"))
            )
            fin = when(inv.get("finished_at"))
            step += f" → {W[key](lang)} ({detail}{', ' + fin if fin else ''})"
        out.append(step)
    if inc.recovery is not None:
        fin = when(inc.recovery.finished_at) or W["missing"](lang)
        out.append(f"{W['recovered'](lang)}: {fin} ({W['report'](lang)} {inc.recovery.path})")
    else:
        out.append(W["not_recovered"](lang))
    return out


def prevention(run: RunReport, lang: str) -> list[str]:
    scenario = scenario_of(alert_of(run.alert()))
    if scenario is None:
        return [W["missing"](lang)]
    return [f"{scenario.after(lang)} ({scenario.section})"]


def fields(inc: Incident, lang: str) -> list[tuple[str, list[str]]]:
    """The five fields in the playbook's order: (label, lines)."""
    run = inc.failing
    return [
        (NOTICE_LABELS["title"](lang), [title(inc, lang)]),
        (NOTICE_LABELS["impact"](lang), impact(run, lang)),
        (NOTICE_LABELS["cause"](lang), cause(run, lang)),
        (NOTICE_LABELS["action"](lang), actions(inc, lang)),
        (NOTICE_LABELS["prevention"](lang), prevention(run, lang)),
    ]


def render(inc: Incident, lang: str = "ko", fmt: str = "text") -> str:
    """The notice as §6 lays it out (`label: text`), or as Markdown."""
    lines = []
    for label, values in fields(inc, lang):
        if fmt == "markdown":
            if len(values) == 1:
                lines.append(f"- **{label}**: {values[0]}")
            else:
                lines.append(f"- **{label}**:")
                lines += [f"  - {v}" for v in values]
        else:
            lines.append(f"{label}: {values[0]}")
            pad = " " * (len(label) + 2)
            lines += [f"{pad}{v}" for v in values[1:]]
    return "\n".join(lines) + "\n"
