"""Playbook §5 as runnable checklists: the items, their marks, the report and exit status.

Each item ends ✓ (verified), ✗ (proved wrong), – (not verified: skipped, with the
reason) or – inconclusive (could not ask the target). The checklist exits 1 when any
item is ✗, else 6 when any is inconclusive, else 0: the suite's exit statuses. The
items of each cadence are in `daily.py`, `weekly.py` and `quarterly.py`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tlogcheck.errors import (
    EXIT_FAILED,
    EXIT_INCONCLUSIVE,
    EXIT_OK,
    FormatError,
    ProofError,
    TargetUnreachable,
    TLogCheckError,
)
from tlogcheck.playbook import CHECKLISTS

__all__ = ["CADENCES", "FORMATS", "Checklist", "Item", "TargetInfo", "judge"]

CADENCES = tuple(CHECKLISTS)
FORMATS = ("markdown", "json")
MARKS = {"pass": "✓", "fail": "✗", "skip": "–", "inconclusive": "–"}


@dataclass(frozen=True)
class TargetInfo:
    """What the checklist checks: the edge URL, the origin view, keys, db.jsonl."""

    url: str
    origin_url: str | None
    vkeys: tuple[str, ...]
    db: str | None
    db_sha256: str | None
    timeout: float
    description: str
    embedded_faults: tuple[str, ...] = ()
    embedded_entries: int = 0


@dataclass
class Item:
    name: str
    status: str  # pass | fail | skip | inconclusive
    reason: str
    alert: str | None = None

    @property
    def mark(self) -> str:
        return MARKS[self.status]

    def to_json(self) -> dict[str, Any]:
        return {
            "item": self.name,
            "status": self.status,
            "mark": self.mark,
            "reason": self.reason,
            "alert": self.alert,
        }


@dataclass
class Checklist:
    cadence: str
    target: str
    items: list[Item] = field(default_factory=list)

    def add(self, item: Item) -> Item:
        self.items.append(item)
        return item

    @property
    def exit_status(self) -> int:
        statuses = {i.status for i in self.items}
        if "fail" in statuses:
            return EXIT_FAILED
        if "inconclusive" in statuses:
            return EXIT_INCONCLUSIVE
        return EXIT_OK

    @property
    def verdict(self) -> str:
        return {EXIT_OK: "passed", EXIT_FAILED: "failed", EXIT_INCONCLUSIVE: "inconclusive"}[
            self.exit_status
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "cadence": self.cadence,
            "playbook": CHECKLISTS[self.cadence].ko,
            "target": self.target,
            "verdict": self.verdict,
            "exitstatus": self.exit_status,
            "items": [i.to_json() for i in self.items],
        }

    def render(self, fmt: str) -> str:
        if fmt == "json":
            return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"
        lines = [
            f"# tlogcheck checklist {self.cadence}: {CHECKLISTS[self.cadence].ko}",
            "",
            f"target: {self.target}",
            "",
        ]
        for i in self.items:
            alert = f" [{i.alert}]" if i.alert and i.status == "fail" else ""
            lines.append(f"- {i.mark} **{i.name}**{alert}: {i.reason}")
        lines += ["", f"verdict: {self.verdict.upper()} (exit {self.exit_status})"]
        return "\n".join(lines) + "\n"


def judge(checklist: Checklist, name: str, alert: str | None, fn: Callable[[], Item]) -> Item:
    """Run one item: "proved wrong" is ✗, "could not ask" is inconclusive, and any other
    error of tlogcheck's is ✗ with its message (a checklist never dies on one item)."""
    try:
        item = fn()
    except TargetUnreachable as exc:
        item = Item(name, "inconclusive", f"could not ask the target: {exc}")
    except (ProofError, FormatError) as exc:
        item = Item(name, "fail", str(exc))
    except TLogCheckError as exc:
        item = Item(name, "fail", f"{type(exc).__name__}: {exc}")
    if item.alert is None:
        item.alert = alert
    return checklist.add(item)
