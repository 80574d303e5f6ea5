"""The edge's cache: answers made ready to send, how long each may be kept, and the LRU
store that keeps them within a byte budget.

An entry holds one answer as the edge passes it on: the headers it keeps (hop-by-hop
ones and those describing another cache dropped), the identity body, and a gzip copy
made the first time a client asks for it. Only `200` answers whose `Cache-Control` lets
a shared cache keep them get a lifetime; the store charges each entry its body, headers
and gzip copy, and drops the least recently used entries once they exceed `max_bytes`.
An `Answer` is an entry as one request gets it, with its `X-Cache` label and `Age`.
"""

from __future__ import annotations

import gzip
import json
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "BYPASS",
    "DROPPED_RESPONSE",
    "ERROR",
    "HIT",
    "HOP_BY_HOP",
    "MISS",
    "STALE",
    "Answer",
    "Entry",
    "RawHeaders",
    "Store",
    "error_entry",
    "freshness",
    "make_entry",
]

RawHeaders = list[tuple[bytes, bytes]]

# What `X-Cache` says about an answer; ERROR: the edge made it up because the origin
# could not be asked.
HIT, MISS, BYPASS, STALE, ERROR = b"HIT", b"MISS", b"BYPASS", b"STALE", b"ERROR"

GZIP_TYPES = frozenset({b"application/json", b"text/plain"})
GZIP_MIN_LENGTH = 20  # nginx's gzip_min_length default: tiny bodies are not worth coding
# Bytes charged per entry beyond its body and headers: key, object, bookkeeping.
ENTRY_OVERHEAD = 128

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Besides hop-by-hop: the edge recodes the body, its own server writes Date and Server,
# and Age / X-Cache describe this cache, not one upstream of it.
DROPPED_RESPONSE = HOP_BY_HOP | {
    b"content-length",
    b"content-encoding",
    b"date",
    b"server",
    b"age",
    b"x-cache",
    b"vary",
}


def freshness(cache_control: str | bytes | None) -> int | None:
    """Seconds a shared cache may keep an answer with this Cache-Control; None: not at all."""
    if not cache_control:
        return None
    text = cache_control.decode("latin-1") if isinstance(cache_control, bytes) else cache_control
    directives: dict[str, str] = {}
    for part in text.split(","):
        name, _, value = part.strip().partition("=")
        directives[name.strip().lower()] = value.strip().strip('"')
    if directives.keys() & {"no-store", "no-cache", "private"}:
        return None
    for name in ("s-maxage", "max-age"):
        if name in directives:
            value = directives[name]
            return int(value) if value.isdigit() and int(value) > 0 else None
    return None


@dataclass(eq=False)
class Entry:
    """One answer, ready to send: the identity body and, made on demand, its gzip copy."""

    status: int
    head: RawHeaders  # passed-through headers + content-length, without Age / X-Cache
    bare: RawHeaders  # the same without content-type / content-length: for 304
    body: bytes
    etag: bytes | None
    compressible: bool
    stored_at: float  # clock time the answer was made, corrected by an upstream Age
    expires: float  # stored_at + lifetime; an entry past it is served only STALE
    ttl: int | None
    gzip_head: RawHeaders | None = None
    gzip_body: bytes | None = None
    size: int = 0
    cached: bool = False  # held by a Store, which charges its gzip copy once made

    def gzipped(self) -> tuple[RawHeaders, bytes]:
        if self.gzip_body is None or self.gzip_head is None:
            # mtime=0: the same identity body always codes to the same bytes.
            self.gzip_body = gzip.compress(self.body, compresslevel=6, mtime=0)
            self.gzip_head = [
                *self.bare,
                *((n, v) for n, v in self.head if n == b"content-type"),
                (b"content-encoding", b"gzip"),
                (b"content-length", str(len(self.gzip_body)).encode()),
            ]
        return self.gzip_head, self.gzip_body

    def immutable(self) -> bool:
        return any(n == b"cache-control" and b"immutable" in v.lower() for n, v in self.head)


class Answer(NamedTuple):
    """An entry as one request gets it: how `X-Cache` labels it and the `Age` it shows."""

    entry: Entry
    label: bytes
    age: int | None


def make_entry(status: int, raw: Iterable[tuple[bytes, bytes]], body: bytes, now: float) -> Entry:
    """Turn an upstream answer into an entry: drop what is not passed on, note what caches."""
    kept: RawHeaders = []
    cache_control: bytes | None = None
    etag: bytes | None = None
    ctype = b""
    vary: list[bytes] = []
    age = 0
    for name, value in raw:
        name = name.lower()
        if name in DROPPED_RESPONSE:
            if name == b"age" and value.strip().isdigit():
                age = int(value)
            elif name == b"vary":
                vary.extend(v.strip().lower() for v in value.split(b",") if v.strip())
            continue
        if name == b"cache-control":
            cache_control = value
        elif name == b"etag":
            etag = value
        elif name == b"content-type":
            ctype = value.split(b";")[0].strip().lower()
        kept.append((name, value))
    compressible = ctype in GZIP_TYPES and len(body) >= GZIP_MIN_LENGTH
    if compressible and b"accept-encoding" not in vary:
        vary.append(b"accept-encoding")
    # The edge answers every Accept-Encoding itself; any other Vary it cannot honour.
    ttl = freshness(cache_control) if status == 200 and set(vary) <= {b"accept-encoding"} else None
    if vary:
        kept.append((b"vary", b", ".join(vary)))
    bare = [(n, v) for n, v in kept if n != b"content-type"]
    head = kept if status in (204, 304) else [*kept, (b"content-length", str(len(body)).encode())]
    stored_at = now - age
    return Entry(
        status=status,
        head=head,
        bare=bare,
        body=body,
        etag=etag,
        compressible=compressible,
        stored_at=stored_at,
        expires=stored_at + (ttl or 0),
        ttl=ttl,
        size=len(body) + sum(len(n) + len(v) for n, v in head) + ENTRY_OVERHEAD,
    )


def error_entry(status: int, text: str, now: float) -> Entry:
    """An answer the edge makes up itself: `{"error": text}`, never cached."""
    body = json.dumps({"error": text}).encode()
    raw = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
    return make_entry(status, raw, body, now)


class Store:
    """Entries by path+query, least recently used first, within `max_bytes`."""

    def __init__(self, max_bytes: int, clock: Callable[[], float]) -> None:
        self._max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[bytes, Entry] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def used_bytes(self) -> int:
        return self._bytes

    def get(self, key: bytes) -> Entry | None:
        """The entry for `key` however old: expired ones still serve STALE."""
        return self._entries.get(key)

    def hit(self, key: bytes) -> Answer | None:
        """`key`'s entry while it is fresh, marked recently used, as a HIT of its age."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        now = self._clock()
        if now >= entry.expires:
            return None
        self._entries.move_to_end(key)
        return Answer(entry, HIT, int(now - entry.stored_at))

    def put(self, key: bytes, entry: Entry) -> None:
        self._forget(key)
        if entry.size > self._max_bytes:
            return
        entry.cached = True
        self._entries[key] = entry
        self._charge(entry.size)

    def gzipped(self, entry: Entry) -> tuple[RawHeaders, bytes]:
        """The entry's gzip copy; a stored entry's first copy counts against the budget."""
        had_copy = entry.gzip_body is not None
        headers, body = entry.gzipped()
        if entry.cached and not had_copy:
            self._charge(len(body))
        return headers, body

    def purge(self, prefix: bytes) -> int:
        gone = [key for key in self._entries if key.startswith(prefix)]
        for key in gone:
            self._forget(key)
        return len(gone)

    def _charge(self, size: int) -> None:
        self._bytes += size
        while self._bytes > self._max_bytes and self._entries:
            self._forget(next(iter(self._entries)))

    def _forget(self, key: bytes) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            old.cached = False
            self._bytes -= old.size + (len(old.gzip_body) if old.gzip_body is not None else 0)
