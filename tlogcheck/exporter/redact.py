"""Secrets kept out of everything the exporter says.

The config never prints a header value or a proxy password (`Module.describe`), and no
message is built from one. As a second line, every text the exporter sends out — its
log, `/probe` errors, the `debug=true` probe log, the status page — passes through
`Redactor.scrub`, which replaces any secret value it knows (and its URL-encoded
spelling) with `<redacted>`: a hostile target that echoes the token back in a header
or a body still cannot have it repeated by the exporter. Values shorter than
`MIN_SECRET` characters are left alone (`X-Bypass: 1` is no secret, and hiding every
"1" would garble every figure).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from urllib.parse import quote

__all__ = ["MIN_SECRET", "REDACTED", "Redactor", "ScrubFilter"]

REDACTED = "<redacted>"
# A value this short would hide every digit of a report, and guards nothing anyway.
MIN_SECRET = 4


class Redactor:
    """The secret values of the running config; `scrub` hides them in any text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._values: tuple[str, ...] = ()
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        """Add the secrets of a (re)loaded config. Old ones are kept: a log line of a
        probe that began under the previous config may still mention one."""
        found = set(self._values)
        for s in secrets:
            if len(s) >= MIN_SECRET:
                found.update({s, quote(s, safe="")})
        # Longest first, so a secret inside another is not replaced half-way.
        with self._lock:
            self._values = tuple(sorted(found, key=len, reverse=True))

    def scrub(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text


class ScrubFilter(logging.Filter):
    """A logging filter that scrubs each record's final message."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = self.redactor.scrub(message)
        record.args = None
        if record.exc_info:
            # A traceback could quote a local; the exporter logs none.
            record.exc_info = None
            record.exc_text = None
        return True
