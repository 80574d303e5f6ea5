"""The faults on now, shared by the origin and edge apps of one process, and the
deterministic rate of `error-rate`."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from tlogcheck.refstack.faults.registry import parse_spec

__all__ = ["FaultSet", "RateGate"]


class FaultSet:
    """The faults on now; thread-safe.

    Readers get an immutable snapshot without locking (the mapping is replaced whole on
    every change), so a request sees one consistent set and the hot path stays cheap.
    """

    def __init__(self, specs: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._active: Mapping[str, str] = MappingProxyType(self._parse(specs))
        self._version = 0

    @staticmethod
    def _parse(specs: Iterable[str]) -> dict[str, str]:
        if isinstance(specs, str):
            specs = [specs]
        parsed: dict[str, str] = {}
        for spec in specs:
            name, arg = parse_spec(spec)
            parsed[name] = arg
        return parsed

    def _replace(self, active: dict[str, str]) -> None:
        self._active = MappingProxyType(active)
        self._version += 1

    def snapshot(self) -> Mapping[str, str]:
        """The faults on now: name -> arg ("" when none). Never changes after it is returned."""
        return self._active

    @property
    def version(self) -> int:
        """Bumped on every change, for apps that cache what they derive from the set."""
        return self._version

    def active(self, name: str) -> str | None:
        """The fault's ARG ("" when it has none) when it is on, else None."""
        return self._active.get(name)

    def set(self, specs: Iterable[str]) -> None:
        """Replace the whole set (all specs are checked before anything changes)."""
        parsed = self._parse(specs)
        with self._lock:
            self._replace(parsed)

    def add(self, spec: str) -> None:
        name, arg = parse_spec(spec)
        with self._lock:
            self._replace({**self._active, name: arg})

    def remove(self, name: str) -> None:
        with self._lock:
            self._replace({k: v for k, v in self._active.items() if k != name})

    def clear(self) -> None:
        with self._lock:
            self._replace({})

    def names(self) -> list[str]:
        return sorted(self._active)

    def specs(self) -> list[str]:
        """The set as `NAME[:ARG]` strings, sorted: what `set` takes back."""
        return [f"{k}:{v}" if v else k for k, v in sorted(self._active.items())]

    def __bool__(self) -> bool:
        return bool(self._active)

    def __repr__(self) -> str:
        return f"FaultSet({self.specs()!r})"


class RateGate:
    """Deterministic `error-rate`: fail PCT % of calls, the first one included.

    Call k (from 0) fails when (k * PCT) mod 100 < PCT, so any run of 100 / PCT calls
    holds one failure and a small sample is sure to see it (a seeded RNG could miss).
    """

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    def hit(self, pct: str | float) -> bool:
        # Hundredths of a percent keep fractional rates exact in integers.
        bp = round(float(pct) * 100)
        if bp <= 0:
            return False
        if bp >= 10_000:
            return True
        with self._lock:
            k = self._count
            self._count += 1
        return (k * bp) % 10_000 < bp
