"""Playbook §6: the incident notice (제목/영향/원인/조치/재발 방지) drafted from reports.

Every field is filled from what the reports hold, and only from that: the alert each
failure carries (a 5xx met by a proof check is the 5xx alert, not a proof failure) and
its served figures (status codes, failing indices, the load phase's p95 and error rate),
the releases that answered, the edge's steady-state cache miss ratio as the cache check
measured it, each §3 hypothesis marked supported / ruled out / open from the report,
what the gate did and when, and whether a later report of the same target showed every
failed test passing again (only then "조치 완료"; otherwise what is not yet shown is
named). A field the reports cannot fill says so; nothing is made up.
"""

from __future__ import annotations

from typing import Any

from tlogcheck.incident.hypotheses import STATUS, judge, scenarios
from tlogcheck.incident.reports import Failure, Incident, RunReport
from tlogcheck.incident.words import W, alert_of, clip_line, when
from tlogcheck.playbook import ALERTS, NOTICE_LABELS
from tlogcheck.verify import release_mix

__all__ = [
    "FORMATS",
    "actions",
    "alert_names",
    "evidence",
    "figures",
    "fields",
    "recovery",
    "render",
    "title",
]

FORMATS = ("text", "markdown")
SHOWN_INDICES = 5


def _load_figures(run: RunReport, alert: str, lang: str) -> list[str]:
    """The breaches of the load phase under `alert`, overall first: `p95 410 ms > 300 ms`."""
    found = run.load.get("violations")
    out = []
    for v in found if isinstance(found, list) else []:
        if not isinstance(v, dict) or v.get("alert") != alert:
            continue
        value, limit, group = v.get("value"), v.get("limit"), v.get("group")
        if not isinstance(value, (int, float)) or not isinstance(limit, (int, float)):
            continue
        where = "" if group == "all" else f"{group} "
        if v.get("kind") == "p95":
            out.append(f"{where}p95 {value:.0f} ms > {limit:.0f} ms")
        else:
            out.append(f"{where}{W['error_rate'](lang)} {value:.2%} > {limit:.2%}")
    return out


def _indices(failures: list[Failure]) -> list[int]:
    found: dict[int, None] = {}
    for f in failures:
        raw = f.facts.get("indices")
        for i in raw if isinstance(raw, list) else []:
            if isinstance(i, int) and not isinstance(i, bool):
                found[i] = None
    return sorted(found)


def _statuses(failures: list[Failure]) -> list[int]:
    """The HTTP statuses of 500 and above among the failures' served facts."""
    found: dict[int, None] = {}

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            status = node.get("status")
            if isinstance(status, int) and not isinstance(status, bool) and status >= 500:
                found[status] = None
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    for f in failures:
        visit(f.facts)
    return sorted(found)


def figures(run: RunReport, alert: str | None, lang: str) -> str | None:
    """The served figures that name this failure in a few words, or None: the load
    phase's breach, the failing entries of a proof failure, the 5xx statuses served."""
    failures = [f for f in run.failures() if f.alert == alert]
    if alert in ("LatencyP95High", "Ingress5xxHigh"):
        found = _load_figures(run, alert, lang)
        if found:
            return found[0]
    if alert == "TLogInclusionProofFail":
        indices = _indices(failures)
        if indices:
            shown = ", ".join(map(str, indices[:SHOWN_INDICES]))
            more = len(indices) - SHOWN_INDICES
            if more > 0:
                shown += W["and_more"](lang).format(n=more)
            return f"{W['entries'](lang)} {shown}"
    if alert == "TLogAvailabilityDown":
        bad = []
        for view in ("edge", "origin"):
            status = run.facts.get(f"healthz_status.{view}")
            if isinstance(status, int) and status != 200:
                bad.append(f"{W[view](lang)} {status}")
        if bad:
            return f"/healthz HTTP {', '.join(bad)}"
    statuses = _statuses(failures)
    if statuses:
        return "HTTP " + ", ".join(map(str, statuses))
    return None


def title(inc: Incident, lang: str) -> str:
    run = inc.failing
    name = run.alert()
    alert = alert_of(name)
    what = (
        f"{alert.meaning(lang).replace('`', '')} ({alert.name})"
        if alert
        else f"{', '.join(run.failed_checks)} {W['checks_failed'](lang)}"
    )
    shown = figures(run, name, lang)
    if shown:
        what += f": {shown}"
    if inc.resolved:
        status = W["resolved"](lang)
    elif run.gate.get("verdict") == "acted":
        status = W["mitigating"](lang)
    else:
        status = W["investigating"](lang)
    return f"[TLog] {what} ({status})"


def _alert_of_check(run: RunReport, check: str, lang: str) -> str:
    names = list(dict.fromkeys(f.alert for f in run.failures(check) if f.alert))
    shown = []
    for name in names:
        alert = ALERTS.get(name)
        section = f", {W['playbook'](lang)} {alert.scenario}" if alert else ""
        shown.append(f"{W['alert'](lang)} {name}{section}")
    return "; ".join(shown)


def impact(run: RunReport, lang: str) -> list[str]:
    out = []
    for name in run.failed_checks:
        c = run.checks.get(name, {})
        n = c.get("failed") if isinstance(c.get("failed"), int) else len(run.failing_tests(name))
        where = _alert_of_check(run, name, lang)
        where = f"; {where}" if where else ""
        out.append(
            f"{W['failed_check'](lang)}: {name} ({W['tests_failed'](lang).format(n=n)}{where})"
        )
    releases = run.releases
    mix = release_mix(releases) if releases else W["missing"](lang)
    out.append(f"{W['release_mix'](lang)}: {mix}")
    ratio = run.miss_ratio()
    if ratio is None:
        verdict = run.checks.get("cache", {}).get("verdict")
        shown = W["missing"](lang) + (f" (cache {verdict})" if verdict else "")
    else:
        shown = f"{ratio * 100:.0f}% ({W['miss_basis'](lang)})"
    out.append(f"{W['miss_ratio'](lang)}: {shown}")
    return out


def evidence(run: RunReport, f: Failure, lang: str, limit: int = 240) -> str:
    """What was served, from a failure's record: its first two served lines (the count
    and the first instance), and the load phase's figures for a load breach."""
    lines = [clip_line(x, limit) for x in (f.served or "").splitlines() if x.strip()][:2]
    text = " — ".join(lines) if lines else clip_line(f.message, limit) or W["missing"](lang)
    total = run.load.get("total")
    if f.check == "load" and isinstance(total, dict):
        er = total.get("error_rate")
        text += "; " + W["load_figures"](lang).format(
            n=total.get("requests", "-"),
            er=f"{er:.2%}" if isinstance(er, (int, float)) else "-",
            p95=total.get("p95_ms", "-"),
            p99=total.get("p99_ms", "-"),
        )
    return text


def cause(inc: Incident, lang: str) -> list[str]:
    run = inc.failing
    out = []
    for name in run.failed_checks:
        found = run.failures(name)
        if found:
            out.append(f"{W['evidence'](lang)} ({name}): {evidence(run, found[0], lang)}")
    found_scenarios = scenarios(alert_names(run))
    if not found_scenarios:
        out.append(f"{W['hypothesis'](lang)}: {W['missing'](lang)}")
    for scenario in found_scenarios:
        if not scenario.hypotheses:
            out.append(f"{W['hypothesis'](lang)} ({scenario.section}): {W['no_hypotheses'](lang)}")
        for j in judge(inc, scenario):
            label = j.hypothesis(lang)  # the playbook's own words, backquotes and all
            out.append(
                f"{W['hypothesis'](lang)} ({scenario.section}) {label}: "
                f"{STATUS[j.status](lang)} — {j.basis(lang)}"
            )
    for view, facts in run.served.items():
        if facts.get("root_hash"):
            label = W["served_root"](lang).format(view=W[view](lang) if view in W else view)
            rel = f", {W['release'](lang)} {facts['release']}" if facts.get("release") else ""
            out.append(f"{label}: {facts.get('tree_size')}:{facts['root_hash']}{rel}")
    return out


def gate_actions(inc: Incident, lang: str) -> list[str]:
    """What the gate did, with times: the abort/undo and the invalidation."""
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
    return out


def recovery(inc: Incident, lang: str) -> list[str]:
    """Recovery confirmed with its report and time; or not yet, naming every failed test
    no later report of the target has shown passing, and why."""
    if inc.recovery is not None:
        fin = when(inc.recovery.finished_at) or W["missing"](lang)
        return [f"{W['recovered'](lang)}: {fin} ({W['report'](lang)} {inc.recovery.path})"]
    if not inc.later:
        return [f"{W['not_recovered'](lang)} — {W['no_later'](lang)}"] + _others(inc, lang)
    if not inc.pending:
        return [W["not_recovered"](lang)] + _others(inc, lang)
    grouped: dict[tuple[str, str], list[str]] = {}
    for p in inc.pending:
        why = {
            "": W["not_rerun"](lang),
            "failed": W["failed_again"](lang).format(report=p.report),
            "inconclusive": W["inconclusive_later"](lang).format(report=p.report),
        }.get(p.outcome, W["skipped_later"](lang).format(report=p.report))
        grouped.setdefault((p.check, why), []).append(p.test.split("::", 1)[-1])
    shown = "; ".join(
        f"{check} ({', '.join(tests)}): {why}" for (check, why), tests in grouped.items()
    )
    out = [f"{W['not_recovered'](lang)} — {W['unverified'](lang)}: {shown}"]
    ran = ", ".join(inc.checks_run_later()) or W["none"](lang)
    reports = ", ".join(r.path for r in inc.later)
    out.append(f"{W['ran_later'](lang)} ({reports}): {ran}")
    return out + _others(inc, lang)


def _others(inc: Incident, lang: str) -> list[str]:
    if not inc.others:
        return []
    others = ", ".join(f"{r.path} ({r.target_label}, {r.verdict})" for r in inc.others)
    return [f"{W['other_targets'](lang)}: {others}"]


def actions(inc: Incident, lang: str) -> list[str]:
    """What was done (the gate), then whether the recovery is shown."""
    return gate_actions(inc, lang) + recovery(inc, lang)


def alert_names(run: RunReport) -> list[str]:
    """The incident's alert first, then every other alert its failures carry."""
    return list(dict.fromkeys(a for a in (run.alert(), *run.alerts()) if a))


def prevention(inc: Incident, lang: str) -> list[str]:
    found = [f"{s.after(lang)} ({s.section})" for s in scenarios(alert_names(inc.failing))]
    return found or [W["missing"](lang)]


def fields(inc: Incident, lang: str) -> list[tuple[str, list[str]]]:
    """The five fields in the playbook's order: (label, lines)."""
    return [
        (NOTICE_LABELS["title"](lang), [title(inc, lang)]),
        (NOTICE_LABELS["impact"](lang), impact(inc.failing, lang)),
        (NOTICE_LABELS["cause"](lang), cause(inc, lang)),
        (NOTICE_LABELS["action"](lang), actions(inc, lang)),
        (NOTICE_LABELS["prevention"](lang), prevention(inc, lang)),
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
