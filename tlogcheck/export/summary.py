"""The CI step summary (GitHub Actions' `GITHUB_STEP_SUMMARY`): checks and verdicts as a
Markdown table, the failing messages (short), what the gate did, the replay command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tlogcheck.playbook.checks import CHECKS

__all__ = ["append", "markdown"]

_SHORT = 300  # characters of a failing message in the summary
_ICON = {
    "passed": "✅",
    "failed": "❌",
    "inconclusive": "⚠️",
    "skipped": "➖",
    "no tests": "➖",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(doc: dict[str, Any]) -> str:
    """The summary of one run's report."""
    summary = doc.get("summary") or {}
    verdict = str(summary.get("verdict", "unknown"))
    target = doc.get("target") or {}
    lines = [
        f"### tlogcheck: {_ICON.get(verdict, '')} {verdict.upper()} "
        f"(exit {summary.get('exitstatus', '?')})",
        "",
        f"Target: `{target.get('description') or target.get('url') or 'unknown'}`",
        "",
        "| check | verdict | passed | failed | inconclusive | skipped | alert (playbook) |",
        "|---|---|---|---|---|---|---|",
    ]
    failing: list[str] = []
    for name, c in (doc.get("checks") or {}).items():
        check = CHECKS.get(name)
        alert = f"{check.alert} ({check.section})" if check else ""
        v = str(c.get("verdict", ""))
        lines.append(
            f"| {name} | {_ICON.get(v, '')} {v} | {c.get('passed', 0)} | {c.get('failed', 0)} "
            f"| {c.get('inconclusive', 0)} | {c.get('skipped', 0)} | {_cell(alert)} |"
        )
        for test in c.get("tests") or []:
            if test.get("outcome") == "failed":
                message = str(test.get("message", "")).strip()
                short = message if len(message) <= _SHORT else message[:_SHORT] + " …"
                failing.append(f"- `{test.get('nodeid')}`: {_cell(short)}")
    if failing:
        lines += ["", "**Failing**", "", *failing[:20]]
    gate = doc.get("gate")
    if isinstance(gate, dict) and gate.get("rollout"):
        acted = gate.get("verdict", "")
        lines += [
            "",
            f"**Gate**: {acted} — Rollout `{gate.get('namespace')}/{gate.get('rollout')}`, "
            f"action `{gate.get('action')}`"
            + (f", at {gate['acted_at']}" if gate.get("acted_at") else ""),
        ]
    replay = doc.get("replay")
    command = replay.get("command") if isinstance(replay, dict) else None
    if command:
        lines += ["", f"Replay: `{command}`"]
    return "\n".join(lines) + "\n"


def append(path: str, doc: dict[str, Any]) -> None:
    """Append the run's summary to the step summary file (GitHub keeps appending)."""
    with Path(path).open("a", encoding="utf-8") as out:
        out.write(markdown(doc) + "\n")
