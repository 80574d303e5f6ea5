"""The recent probes, for the status page: bounded, failures kept a little longer.

Like blackbox_exporter's result history: the last `limit` probes, and once a failed
probe falls out of those, it is kept among the last `limit` failures, so the debug
output of a failure is still there after a burst of successes. Each entry's text is
capped at `MAX_TEXT` bytes.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

__all__ = ["Entry", "History"]

MAX_TEXT = 64 * 2**10


@dataclass(frozen=True)
class Entry:
    id: int
    module: str
    target: str
    success: bool
    duration: float
    text: str  # the probe's debug output


class History:
    def __init__(self, limit: int = 100) -> None:
        self.limit = max(1, limit)
        self._lock = threading.Lock()
        self._next = 0
        self._recent: deque[Entry] = deque()
        self._failures: deque[Entry] = deque()

    def add(self, module: str, target: str, success: bool, duration: float, text: str) -> int:
        if len(text) > MAX_TEXT:
            text = text[:MAX_TEXT] + "\n[cut at 64 KiB]\n"
        with self._lock:
            entry = Entry(self._next, module, target, success, duration, text)
            self._next += 1
            self._recent.append(entry)
            if len(self._recent) > self.limit:
                old = self._recent.popleft()
                if not old.success:
                    self._failures.append(old)
                    if len(self._failures) > self.limit:
                        self._failures.popleft()
            return entry.id

    def entries(self) -> list[Entry]:
        with self._lock:
            return [*self._failures, *self._recent]

    def get(self, entry_id: int) -> Entry | None:
        return next((e for e in self.entries() if e.id == entry_id), None)
