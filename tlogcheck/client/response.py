"""One answer of the target: status, headers, the whole (capped) body, and the facts the
checks read from them (cache status, release, ETag, Cache-Control, Age), with the one-line
evidence a failure message quotes. Made by `tlogcheck.client.TLogClient`."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import httpx

from tlogcheck.client.cdn import CACHE_STATUS_HEADERS, cache_status_of
from tlogcheck.client.purpose import Purpose

__all__ = ["Response"]

_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Response:
    """One answer of the target: the status, headers and the whole (capped) body."""

    url: str
    path: str
    view: str
    status: int
    headers: httpx.Headers
    body: bytes
    # Wall time of the whole `get`, retry waits included: what the check waited.
    elapsed: float
    attempts: int = 1
    # Why it was asked (`tlogcheck.client.purpose`); None when the caller did not say.
    purpose: Purpose | None = None
    # The path (and query) that finally answered, relative to the view's base URL, when
    # a same-origin redirect was followed; None when `path` answered itself.
    redirected_to: str | None = None

    @property
    def served_path(self) -> str:
        """What answered: the path a redirect led to, else the path asked. A rule that
        depends on the kind of path (its Cache-Control class, its Content-Type) is about
        what was finally served (spec: The edge)."""
        return self.redirected_to or self.path

    def header(self, name: str) -> str | None:
        """A response header (repeated lines joined with ", "), or None."""
        value: str | None = self.headers.get(name)
        return value

    @property
    def cache_status(self) -> str | None:
        return cache_status_of(self.headers)

    @property
    def release(self) -> str | None:
        return self.header("x-tlog-release")

    @property
    def etag(self) -> str | None:
        return self.header("etag")

    @property
    def cache_control(self) -> str | None:
        return self.header("cache-control")

    @property
    def age(self) -> int | None:
        value = (self.header("age") or "").strip()
        return int(value) if _DIGITS.fullmatch(value) else None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    def describe(self) -> str:
        """One line of evidence: view, path, status, the headers checks read, body hash."""
        parts = [f"{self.view} GET {self.path} -> HTTP {self.status}"]
        if self.redirected_to is not None:
            parts[0] += f" (redirected to {self.redirected_to})"
        names = ("etag", "cache-control", "x-tlog-release", "content-encoding", "age")
        for name in (*names, *(h.lower() for h in CACHE_STATUS_HEADERS), "location"):
            value = self.header(name)
            if value is not None:
                parts.append(f"{name}: {value}")
        parts.append(f"body {len(self.body)} bytes sha256 {self.sha256}")
        if self.attempts > 1:
            parts.append(f"after {self.attempts} attempts")
        return ", ".join(parts)
