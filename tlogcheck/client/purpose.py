"""Why a request was asked: the check and the purpose that travel with each response.

An evidence bundle keeps what the target answered; the offline verifier must know which
answers the log gave as its word on the log (a read of entry 5 to verify it) and which
were asked to be refused or to test the HTTP layer (a malformed index that must be 400,
a conditional request, a read as curl). The purpose is set by the caller, around the
reads it makes, with a context variable, so that it reaches the client through every
layer (`verify` functions, `answered_by`, `client.map`'s threads) without a parameter on
each:

    with asking(PROBE, "malformed index or size: each must be 400"):
        client.map(client.get, paths)

The check (the suite's marker, `triage §2.4`) is set the same way, once around a test
(`checking`). The client also classifies a request by its form, whatever the caller
said: one with a validator (`If-None-Match`, ...) is CONDITIONAL, one that says it is
another client (`User-Agent`, `Accept`) is CLIENT_IDENTITY, one asking for a content
coding is ENCODING. A request asked with no purpose at all records none ("unknown").

Which purposes are the log's claims is data here (`CLAIMS`); what a claim is worth is
the offline verifier's business (`tlogcheck.incident.evidence`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CACHE",
    "CLAIMS",
    "CLIENT_IDENTITY",
    "CONDITIONAL",
    "ENCODING",
    "HEALTH",
    "KINDS",
    "PROBE",
    "READ",
    "Purpose",
    "asking",
    "checking",
    "current",
    "of_request",
]

READ = "read"
CACHE = "cache"
PROBE = "probe"
CONDITIONAL = "conditional"
CLIENT_IDENTITY = "client-identity"
ENCODING = "encoding"
HEALTH = "health"

# Every purpose, with what it means. A claim: the answer (a 200 of a canonical path) is
# the log's word on the log, asked by tlogcheck as itself, bytes as sent.
KINDS: dict[str, str] = {
    READ: "a read of the log's data, its answer taken as the log's word",
    CACHE: "a read repeated to measure the edge's cache: the bytes everyone is served",
    PROBE: "a request meant to be refused or to find nothing (a malformed index, an "
    "entry past the tree): its answer is never the log's word on the log",
    CONDITIONAL: "a conditional request (If-None-Match, ...): a 304 has no body, and the "
    "answer is about validators",
    CLIENT_IDENTITY: "a read as another client (curl, Python requests, a browser): what a "
    "CDN or gateway gives that client, not what tlogcheck asked the log",
    ENCODING: "a read with a content coding (gzip), decoded: what the edge keeps for it",
    HEALTH: "/healthz: not a log path",
}
CLAIMS = frozenset({READ, CACHE})

# Request headers that make a request conditional (RFC 9110 §13.1) or partial.
_VALIDATORS = frozenset(
    {"if-none-match", "if-match", "if-modified-since", "if-unmodified-since", "if-range", "range"}
)
_IDENTITY = frozenset({"user-agent", "accept"})


@dataclass(frozen=True)
class Purpose:
    """Why one request was asked: its kind (`KINDS`), in words, and the check asking."""

    kind: str
    what: str = ""
    check: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"purpose kind {self.kind!r} is not one of {', '.join(KINDS)}")

    @property
    def claim(self) -> bool:
        return self.kind in CLAIMS

    def describe(self) -> str:
        what = f": {self.what}" if self.what else ""
        check = f" ({self.check})" if self.check else ""
        return f"{self.kind}{what}{check}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "what": self.what, "check": self.check}

    @classmethod
    def from_json(cls, doc: object) -> Purpose | None:
        """A recorded purpose, None when none was recorded; ValueError when malformed."""
        if doc is None:
            return None
        if not isinstance(doc, Mapping):
            raise ValueError(f"purpose is a {type(doc).__name__}, not an object")
        check = doc.get("check")
        return cls(
            str(doc["kind"]), str(doc.get("what") or ""), None if check is None else str(check)
        )


_PURPOSE: ContextVar[Purpose | None] = ContextVar("tlogcheck_purpose", default=None)
_CHECK: ContextVar[str | None] = ContextVar("tlogcheck_check", default=None)


@contextmanager
def asking(kind: str, what: str = "") -> Iterator[Purpose]:
    """Every request asked in this block (and in the threads `client.map` starts from
    it) is asked for this purpose, on behalf of the current check."""
    purpose = Purpose(kind, what, _CHECK.get())
    token = _PURPOSE.set(purpose)
    try:
        yield purpose
    finally:
        _PURPOSE.reset(token)


@contextmanager
def checking(check: str | None) -> Iterator[None]:
    """Requests asked in this block are on behalf of `check` (a marker, `triage §2.4`)."""
    token = _CHECK.set(check)
    try:
        yield
    finally:
        _CHECK.reset(token)


def current() -> Purpose | None:
    """The purpose in force here, None when no caller said one."""
    return _PURPOSE.get()


def of_request(
    stated: Purpose | None, headers: Mapping[str, str], accept_encoding: str
) -> Purpose | None:
    """The purpose a request is recorded with: its form decides first (a validator, a
    client identity, a content coding), then what the caller stated (or the context)."""
    stated = stated if stated is not None else current()
    names = {k.lower() for k in headers}
    kind = None
    if names & _VALIDATORS:
        kind = CONDITIONAL
    elif names & _IDENTITY:
        kind = CLIENT_IDENTITY
    elif {c.strip().lower() for c in accept_encoding.split(",")} != {"identity"}:
        kind = ENCODING
    if kind is None:
        return stated
    what = stated.what if stated is not None else ""
    check = stated.check if stated is not None else _CHECK.get()
    return Purpose(kind, what, check)
