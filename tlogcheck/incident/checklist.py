"""Playbook §5 as runnable checklists: the items, their marks, the report and exit status.

Each item ends ✓ (verified), ✗ (proved wrong), – (not verified: skipped, with the
reason) or – inconclusive (could not ask the target). What was observed decides, as in
the suite: a 5xx, a request taken and never answered or a rejected certificate is ✗
under the alert it is a problem of; a bad option is a usage error, never an item. The
checklist exits 1 when any item is ✗, else 6 when any is inconclusive, else 0: the
suite's exit statuses; 130 when interrupted (the items decided so far are printed). The
items of each cadence are in `daily.py`, `weekly.py` and `quarterly.py`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tlogcheck.errors import (
    EXIT_FAILED,
    EXIT_INCONCLUSIVE,
    EXIT_OK,
    ConfigError,
    FormatError,
    ProofError,
    TargetUnreachable,
    TLogCheckError,
)
from tlogcheck.options.reach import Reach
from tlogcheck.playbook import CHECKLISTS
from tlogcheck.verify.served import finding_of

if TYPE_CHECKING:
    from tlogcheck.client import TLogClient

__all__ = ["CADENCES", "FORMATS", "Checklist", "Item", "TargetInfo", "judge"]

CADENCES = tuple(CHECKLISTS)
FORMATS = ("markdown", "json")
MARKS = {"pass": "✓", "fail": "✗", "skip": "–", "inconclusive": "–"}
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class TargetInfo:
    """What the checklist checks: the target options resolved (`Reach`), and what to call
    it; for the embedded deployment, how it was started."""

    reach: Reach
    description: str
    embedded_faults: tuple[str, ...] = ()
    embedded_entries: int = 0
    # The clients made (`client`), so an interrupt can end their requests at once.
    made: list[TLogClient] = field(default_factory=list, compare=False, repr=False)

    @property
    def url(self) -> str:
        assert self.reach.url is not None
        return self.reach.url

    def client(self, **kwargs: Any) -> TLogClient:
        """A client of the target, asked as the options say (headers, CAs, proxy)."""
        from tlogcheck.client import TLogClient

        made = TLogClient(self.url, **{**self.reach.client_kwargs(), **kwargs})
        self.made.append(made)
        return made

    def abort(self) -> None:
        """End every request in flight of the clients made (Ctrl-C)."""
        for made in self.made:
            made.abort()


@dataclass
class Item:
    name: str
    status: str  # pass | fail | skip | inconclusive
    reason: str
    alert: str | None = None

    @property
    def mark(self) -> str:
        return MARKS[self.status]

    def line(self) -> str:
        alert = f" [{self.alert}]" if self.alert and self.status == "fail" else ""
        return f"{self.mark} **{self.name}**{alert}: {self.reason}"

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
    # Called as each item is decided: an interrupted checklist keeps what it found.
    on_item: Callable[[Item], None] | None = field(default=None, repr=False)
    interrupted: bool = False

    def add(self, item: Item) -> Item:
        self.items.append(item)
        if self.on_item is not None:
            self.on_item(item)
        return item

    @property
    def exit_status(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        statuses = {i.status for i in self.items}
        if "fail" in statuses:
            return EXIT_FAILED
        if "inconclusive" in statuses:
            return EXIT_INCONCLUSIVE
        return EXIT_OK

    @property
    def verdict(self) -> str:
        return {
            EXIT_OK: "passed",
            EXIT_FAILED: "failed",
            EXIT_INCONCLUSIVE: "inconclusive",
            EXIT_INTERRUPTED: "interrupted",
        }[self.exit_status]

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
        lines += [f"- {i.line()}" for i in self.items]
        lines += ["", f"verdict: {self.verdict.upper()} (exit {self.exit_status})"]
        return "\n".join(lines) + "\n"


def judge(checklist: Checklist, name: str, alert: str | None, fn: Callable[[], Item]) -> Item:
    """Run one item, judged by what was observed (`verify.served`): a 5xx, a request taken
    and never answered or a rejected certificate is ✗ under the alert it is a problem of
    (the item's own question not judged); "could not ask" is inconclusive; "proved wrong"
    is ✗; a bad option is a usage error, never an item."""
    try:
        item = fn()
    except ConfigError:
        raise
    except TargetUnreachable as exc:
        item = Item(name, "inconclusive", f"could not ask the target: {exc}")
    except (ProofError, FormatError) as exc:
        item = Item(name, "fail", str(exc))
    except TLogCheckError as exc:
        found = finding_of(exc)
        if found is None:
            item = Item(name, "fail", f"{type(exc).__name__}: {exc}")
        else:
            item = Item(name, "fail", f"not judged, {found.served}", found.alert)
    if item.alert is None:
        item.alert = alert
    return checklist.add(item)
