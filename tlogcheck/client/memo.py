"""One run's shared answers: a read asked `shared` is fetched once and handed to every asker.

`ResponseMemo` keeps, per URL and request headers, the response or the failure
(`TargetUnreachable`, `TargetStalled`, `TargetCertificateError`, `FormatError`) of the
first fetch; threads asking while it runs wait for it. It also remembers every URL that
stalled, so the client does not ask it again in the run. One instance is given to every
client of a run (the plugin keeps it on `config.stash`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from tlogcheck.errors import (
    FormatError,
    TargetCertificateError,
    TargetStalled,
    TargetUnreachable,
)

if TYPE_CHECKING:
    from tlogcheck.client.response import Response

__all__ = ["Key", "ResponseMemo", "again"]

Key = tuple[str, tuple[tuple[str, str], ...]]


def again(exc: Exception) -> Exception:
    """A fresh copy of a recorded failure, to raise once more without a growing traceback."""
    if isinstance(exc, TargetStalled):
        return TargetStalled(str(exc), started=exc.started)
    return type(exc)(str(exc))


class ResponseMemo:
    """One run's shared answers: a GET asked `shared` is fetched once and handed to all.

    Also remembers every URL that stalled, so it is not asked again in the run. Threads
    asking for a key already being fetched wait for that fetch instead of asking twice.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done: dict[Key, Response | Exception] = {}
        self._pending: dict[Key, threading.Event] = {}
        self._stalled: dict[Key, TargetStalled] = {}

    def stalled(self, key: Key) -> TargetStalled | None:
        with self._lock:
            return self._stalled.get(key)

    def record_stall(self, key: Key, exc: TargetStalled) -> None:
        with self._lock:
            self._stalled.setdefault(key, exc)

    def fetch(self, key: Key, fetch: Callable[[], Response]) -> Response:
        while True:
            with self._lock:
                outcome = self._done.get(key)
                event = self._pending.get(key)
                if outcome is None and event is None:
                    self._pending[key] = threading.Event()
                    break
            if outcome is not None:
                if isinstance(outcome, Exception):
                    raise again(outcome)
                return outcome
            assert event is not None
            event.wait()
        result: Response | Exception
        try:
            result = fetch()
        except (TargetUnreachable, TargetStalled, TargetCertificateError, FormatError) as exc:
            result = exc
        except BaseException:
            # Not an outcome of the target (a bad argument, an interrupt): not recorded.
            with self._lock:
                self._pending.pop(key).set()
            raise
        with self._lock:
            self._done[key] = result
            done = self._pending.pop(key)
        done.set()
        if isinstance(result, Exception):
            raise result
        return result
