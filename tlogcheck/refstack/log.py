"""One release's log in memory and every endpoint of API v1.

`Log.respond(method, path, query, headers, faults)` is the whole HTTP contract of
spec/tlog-ro-api-v1.md as a function: status, headers, body. The origin app (and the
edge, for the older or forked trees it serves under a fault) call it; the content
faults of `faults.py` (wrong-root, bad-proof, weak-etag, ...) are applied here, the
transport ones (latency, slow-body, ...) in `origin.py`.

The tree is a `merkle.StoredTree` built once; roots and proofs of any size are
O(log n) look-ups. Derived logs share what they can: `prefix(k)` shares the tree and
the entries (an older release's view), `forked(i)` and `extended(...)` build their
tree lazily, on first use.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from urllib.parse import unquote

from tlogcheck import note, spec, tiles
from tlogcheck.errors import ConfigError
from tlogcheck.merkle import StoredTree
from tlogcheck.refstack import tileserve
from tlogcheck.refstack.data import Chained, Patched, alter_entry
from tlogcheck.refstack.faults import DEFAULT_BEHIND, DEFAULT_TRUNCATED_EXTRA, FaultSet

__all__ = [
    "DEFAULT_ORIGIN_NAME",
    "IMMUTABLE",
    "NO_STORE",
    "Answer",
    "Log",
    "alter_entry",
]

DEFAULT_ORIGIN_NAME = "tlog.example.com/log"
DEFAULT_SHORT_MAX_AGE = 60
SWR_WINDOW = 600  # stale-while-revalidate of root and checkpoint under `edge-lag-swr`
# What root and checkpoint carry beyond max-age under the Cache-Control faults.
SHORT_EXTRA = {
    "edge-lag-swr": f"stale-while-revalidate={SWR_WINDOW}",
    "edge-lag-s-maxage": "s-maxage=240",
    "long-stale-while-revalidate": "stale-while-revalidate=31536000",
    "long-s-maxage": "s-maxage=900",
}
IMMUTABLE = spec.IMMUTABLE_CACHE_CONTROL
NO_STORE = spec.NO_STORE
JSON = spec.JSON_TYPE
TEXT = spec.TEXT_TYPE

Headers = list[tuple[str, str]]
Answer = tuple[int, Headers, bytes]
FaultMap = Mapping[str, str]

_NO_FAULTS: FaultMap = {}
_sha256 = hashlib.sha256
_LEAF = b"\x00"
# Decimal ints beyond this many digits are out of range for any log; not parsed at all.
_MAX_DIGITS = 19
_HUGE = 1 << 63
_EXTRA_HASH = _sha256(b"tlogcheck refstack: extra-proof-hash").digest()
_SIG_PREFIX = "\u2014 ".encode()
_TILES_CHECKPOINT = "/" + tiles.PATH_CHECKPOINT
# A witness that cosigns the log's checkpoints under `edge-fewer-cosignatures` (the
# origin's copy) and `edge-forged-cosignature` (the edge's): a second note signature.
WITNESS_NAME = "witness.example/w1"
WITNESS_KEY, _ = note.signer_from_seed(
    WITNESS_NAME, _sha256(b"tlogcheck refstack: a witness").digest()
)
# In a fault map: the checkpoint carries the witness's cosignature after the log's.
COSIGNED = "+cosigned"


def _flip(digest: bytes) -> bytes:
    return bytes([digest[0] ^ 0xFF]) + digest[1:]


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = _json({"error": message})


class _Redirect(Exception):
    """A same-origin redirect to the pinned form of what was asked (`proof-redirect`)."""

    def __init__(self, location: str, cache: str) -> None:
        super().__init__(location)
        self.location = location
        self.cache = cache


def _json(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _decimal(text: str, what: str, faults: FaultMap = _NO_FAULTS) -> int:
    """Decimal without sign or leading zeros (400 otherwise); absurdly long -> out of range."""
    if "lenient-index" in faults:
        try:
            value = int(unquote(text).strip())
        except ValueError:
            value = -1
        if value >= 0:
            return min(value, _HUGE)
    if "unicode-index" in faults:
        # The common slip: str.isdigit() without isascii(), so `５` (or `٥`) reads as 5;
        # signs, spaces and leading zeros are still refused.
        decoded = unquote(text)
        if decoded.isdigit() and not decoded.isascii() and decoded[:1] not in ("0", "０"):
            return min(int(decoded), _HUGE)
    if not text or not text.isascii() or not text.isdigit() or (text[0] == "0" and text != "0"):
        raise _HttpError(400, f"{what} must be a decimal integer without sign or leading zeros")
    if len(text) > _MAX_DIGITS:
        return _HUGE
    return int(text)


def _params(query: str, allowed: tuple[str, ...]) -> dict[str, str]:
    if not query:
        return {}
    params: dict[str, str] = {}
    for part in query.split("&"):
        key, sep, value = part.partition("=")
        if not sep:
            raise _HttpError(400, f"malformed query parameter {part[:40]!r}")
        if key not in allowed:
            if allowed:
                raise _HttpError(400, f"unknown query parameter {key[:40]!r}")
            raise _HttpError(400, "this path takes no query parameters")
        if key in params:
            raise _HttpError(400, f"query parameter {key!r} given twice")
        params[key] = value
    return params


def _etag_matches(if_none_match: str, etag: str) -> bool:
    # If-None-Match uses the weak comparison (RFC 9110 §13.1.2).
    opaque = etag[2:] if etag.startswith("W/") else etag
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*":
            return True
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == opaque:
            return True
    return False


TreeSource = StoredTree | Callable[[], StoredTree]


class Log:
    """One release's log: entries, tree, release id, signing key, and the API over them.

    `size` may be smaller than the tree (a prefix: an older tree of the same log) and
    larger than the entries (a log that announces entries it cannot serve).
    """

    def __init__(
        self,
        entries: Sequence[bytes],
        release: str,
        signer_key: str,
        origin_name: str = DEFAULT_ORIGIN_NAME,
        *,
        tree: TreeSource | None = None,
        size: int | None = None,
        timestamp: str | None = None,
        short_max_age: int = DEFAULT_SHORT_MAX_AGE,
    ) -> None:
        self._entries = entries
        self.release = release
        self.signer_key = signer_key
        self.origin_name = origin_name
        self.size = len(entries) if size is None else size
        if isinstance(tree, StoredTree) and tree.size < self.size:
            raise ConfigError(f"tree of {tree.size} leaves is smaller than the log ({self.size})")
        self._tree: StoredTree | None = tree if isinstance(tree, StoredTree) else None
        self._tree_factory: Callable[[], StoredTree] | None = (
            tree if tree is not None and not isinstance(tree, StoredTree) else None
        )
        if self._tree is None and self._tree_factory is None:
            self._tree_factory = lambda: StoredTree.from_entries(self._entries)
        # RFC 3339, fixed when the log is made: a release's root does not change.
        self.timestamp = timestamp or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.short = f"public, max-age={short_max_age}"
        self.short_max_age = short_max_age
        self._bodies: dict[str, bytes] = {}
        self._ahead: dict[int, Log] = {}

    # -- the log -------------------------------------------------------------------

    @classmethod
    def from_leaves(
        cls,
        entries: Sequence[bytes],
        leaves: Sequence[bytes],
        release: str,
        signer_key: str,
        origin_name: str = DEFAULT_ORIGIN_NAME,
        *,
        timestamp: str | None = None,
        short_max_age: int = DEFAULT_SHORT_MAX_AGE,
    ) -> Log:
        """A log whose leaf hashes are already known (db.jsonl loading hashes as it reads)."""
        if len(leaves) != len(entries):
            raise ConfigError(f"{len(leaves)} leaf hashes for {len(entries)} entries")
        return cls(
            entries,
            release,
            signer_key,
            origin_name,
            tree=StoredTree(leaves),
            timestamp=timestamp,
            short_max_age=short_max_age,
        )

    @property
    def last_modified(self) -> str:
        """The release's time as an HTTP date (what `ims-wins` sends as Last-Modified)."""
        try:
            when = datetime.strptime(self.timestamp, "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            return email.utils.formatdate(usegmt=True)
        return email.utils.format_datetime(when.replace(tzinfo=timezone.utc), usegmt=True)

    @property
    def tree(self) -> StoredTree:
        """The stored tree (built on first use for derived logs); it may be larger than
        `size` for a prefix: ask it for `root(log.size)`, or use `log.root`."""
        if self._tree is None:
            assert self._tree_factory is not None
            self._tree = self._tree_factory()
            self._tree_factory = None
        return self._tree

    @property
    def root(self) -> bytes:
        return self.tree.root(self.size)

    @property
    def entries(self) -> Sequence[bytes]:
        return self._entries

    def warm(self) -> Log:
        """Build the tree and the root / checkpoint bodies now rather than on a request."""
        self._root_body(_NO_FAULTS)
        self.checkpoint_body(_NO_FAULTS)
        return self

    def _leaves(self) -> list[bytes]:
        tree = self.tree
        return [tree.leaf_hash(i) for i in range(self.size)]

    def _derived(
        self,
        entries: Sequence[bytes],
        tree: TreeSource,
        *,
        size: int | None = None,
        release: str | None = None,
        timestamp: str | None = None,
    ) -> Log:
        return Log(
            entries,
            self.release if release is None else release,
            self.signer_key,
            self.origin_name,
            tree=tree,
            size=size,
            timestamp=timestamp,
            short_max_age=self.short_max_age,
        )

    def prefix(self, size: int) -> Log:
        """The older tree of `size` entries of this log (shares entries and tree)."""
        if not 1 <= size <= self.size:
            raise ConfigError(f"prefix size {size} outside 1..{self.size}")
        return self._derived(self._entries, self.tree, size=size, timestamp=self.timestamp)

    def forked(self, index: int, *, release: str | None = None) -> Log:
        """Same size, entry `index` altered: a log that is not an extension of this one."""
        if not 0 <= index < self.size:
            raise ConfigError(f"fork index {index} outside 0..{self.size - 1}")
        changed = alter_entry(self._entries[index])
        entries = Patched(self._entries, index, changed)

        def build() -> StoredTree:
            leaves = self._leaves()
            leaves[index] = _sha256(_LEAF + changed).digest()
            return StoredTree(leaves)

        return self._derived(entries, build, size=self.size, release=release)

    def extended(self, entries: Iterable[bytes], *, release: str | None = None) -> Log:
        """This log with `entries` appended (a newer release: the canary)."""
        extra = list(entries)

        def build() -> StoredTree:
            leaves = self._leaves()
            leaves.extend(_sha256(_LEAF + e).digest() for e in extra)
            return StoredTree(leaves)

        base = self._entries if len(self._entries) == self.size else self._entries[: self.size]
        return self._derived(Chained(base, extra), build, release=release)

    def truncated(self, extra: int = DEFAULT_TRUNCATED_EXTRA) -> Log:
        """Announces `size + extra` entries (root, checkpoint, proofs) but serves `size`."""
        if extra < 1:
            raise ConfigError(f"truncated needs at least one missing entry, got {extra}")
        n = self.size
        missing = [b'{"sequence":%d,"truncated":true}' % (n + j) for j in range(extra)]

        def build() -> StoredTree:
            leaves = self._leaves()
            leaves.extend(_sha256(_LEAF + e).digest() for e in missing)
            return StoredTree(leaves)

        served = self._entries if len(self._entries) == n else self._entries[:n]
        return self._derived(served, build, size=n + extra)

    def ahead(self, extra: int) -> Log:
        """The tree `extra` entries on (this log `truncated`), made once: what a checkpoint
        ahead of the tiles served describes."""
        log = self._ahead.get(extra)
        if log is None:
            log = self._ahead[extra] = self.truncated(extra)
        return log

    # -- bodies --------------------------------------------------------------------

    def _root_body(self, faults: FaultMap) -> bytes:
        key = "root!" if "wrong-root" in faults else "root"
        body = self._bodies.get(key)
        if body is None:
            root = self.root
            if key == "root!":
                root = _flip(root)
            body = _json(
                {
                    "tree_size": self.size,
                    "root_hash": root.hex(),
                    "timestamp": self.timestamp,
                    "release": self.release,
                }
            )
            self._bodies[key] = body
        return body

    def checkpoint_body(self, faults: FaultMap) -> bytes:
        """The signed checkpoint as served under `faults` (also the tiled log's)."""
        mismatch = "checkpoint-root-mismatch" in faults
        bad_sig = "checkpoint-bad-signature" in faults
        stall = faults.get("signer-stall")
        size = self.size
        if stall is not None:
            size = max(1, size - (int(stall) if stall else DEFAULT_BEHIND))
        cosigned = COSIGNED in faults or "edge-fewer-cosignatures" in faults
        key = f"checkpoint{'!' if mismatch else ''}{'?' if bad_sig else ''}"
        key += f"{'+' if cosigned else ''}{size}"
        body = self._bodies.get(key)
        if body is None:
            root = self.tree.root(size)
            if mismatch:
                root = _sha256(b"checkpoint-root-mismatch" + root).digest()
            text = note.format_checkpoint(self.origin_name, size, root)
            signers = (WITNESS_KEY,) if cosigned else ()
            body = note.sign_note(text, self.signer_key, *signers)
            if bad_sig:
                body = _spoil_signature(body)
            self._bodies[key] = body
        return body

    def _healthz_body(self) -> bytes:
        body = self._bodies.get("healthz")
        if body is None:
            body = _json({"status": "ok", "tree_size": self.size, "release": self.release})
            self._bodies["healthz"] = body
        return body

    # -- the API -------------------------------------------------------------------

    def respond(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        faults: FaultMap | FaultSet | None = None,
    ) -> Answer:
        """Answer one request of API v1: (status, headers with lower-case names, body).

        `headers` has lower-case names (only `if-none-match` and, under `ims-wins`,
        `if-modified-since` are read); `query` is the raw
        query string without `?`. For HEAD the body is empty and content-length is the
        GET's. `faults`: the content faults to apply (None or {} for a clean answer).
        """
        f: FaultMap
        if faults is None:
            f = _NO_FAULTS
        elif isinstance(faults, FaultSet):
            f = faults.snapshot()
        else:
            f = faults
        allow = False
        try:
            status, ctype, cache, body = self._route(method, path, query, f)
        except _Redirect as moved:
            release_only = [("x-tlog-release", self.release)]
            head = [("location", moved.location), ("cache-control", moved.cache)]
            return 302, [*head, ("content-length", "0"), *release_only], b""
        except _HttpError as exc:
            status, ctype, cache, body = exc.status, JSON, NO_STORE, exc.body
            allow = exc.status == 405
        etag = spec.etag_of(body)
        if "healthz-weak-etag" in f and path == spec.PATH_HEALTH:
            etag = "W/" + etag
        if status == 200 and f:
            if "etag-mismatch" in f:
                etag = '"' + _sha256(b"etag-mismatch" + body).hexdigest() + '"'
            if "weak-etag" in f:
                etag = "W/" + etag
        release = [("x-tlog-release", self.release)]
        if "no-release-header" in f and path.startswith(
            (spec.PATH_ENTRY_PREFIX, spec.PATH_PROOF_PREFIX)
        ):
            release = []
        modified = [("last-modified", self.last_modified)] if "ims-wins" in f else []
        if status == 200:
            inm = headers.get("if-none-match")
            if inm is not None and (
                _etag_matches(inm, etag)
                or "inm-always-304" in f
                or ("checkpoint-inm-304" in f and path in (spec.PATH_CHECKPOINT, _TILES_CHECKPOINT))
            ):
                return 304, [("etag", etag), ("cache-control", cache), *release], b""
            if "ims-wins" in f and headers.get("if-modified-since") is not None:
                # The date decides, whatever If-None-Match said (RFC 9110 §13.2.2: wrong).
                return 304, [("etag", etag), ("cache-control", cache), *release, *modified], b""
        out = [
            ("content-type", ctype),
            ("content-length", str(len(body))),
            ("etag", etag),
            ("cache-control", cache),
            *release,
            *modified,
        ]
        if allow:
            out.append(("allow", "GET, HEAD"))
        return status, out, b"" if method == "HEAD" else body

    def _route(
        self, method: str, path: str, query: str, f: FaultMap
    ) -> tuple[int, str, str, bytes]:
        if path.startswith(spec.PATH_ENTRY_PREFIX):
            _method(method)
            _params(query, ())
            return self._entry(path[len(spec.PATH_ENTRY_PREFIX) :], f)
        if path.startswith(spec.PATH_PROOF_PREFIX):
            _method(method)
            return self._proof(path[len(spec.PATH_PROOF_PREFIX) :], query, f)
        if path == spec.PATH_ROOT:
            _method(method)
            _params(query, ())
            return 200, JSON, self.short_cache(f), self._root_body(f)
        if path == spec.PATH_CHECKPOINT:
            _method(method)
            _params(query, ())
            return 200, TEXT, self.short_cache(f), self.checkpoint_body(f)
        if path == spec.PATH_CONSISTENCY:
            _method(method)
            return self._consistency(query, f)
        if path == spec.PATH_HEALTH:
            _method(method)
            _params(query, ())
            if "healthz-5xx" in f:
                raise _HttpError(503, "unhealthy (fault healthz-5xx)")
            if "healthz-degraded" in f:
                degraded = {"status": "degraded", "tree_size": self.size, "release": self.release}
                return 200, JSON, NO_STORE, _json(degraded)
            return 200, JSON, NO_STORE, self._healthz_body()
        if path == _TILES_CHECKPOINT or path.startswith("/tile/"):
            _method(method)
            _params(query, ())
            found = tileserve.answer(self, path, f)
            if found is None:
                raise _HttpError(404, f"no such tile at tree size {self.size}")
            return 200, *found
        raise _HttpError(404, "unknown path")

    def immutable_cache(self, f: FaultMap) -> str:
        """Cache-Control of what never changes, under the cache faults on."""
        return self.short if "missing-immutable" in f else IMMUTABLE

    def short_cache(self, f: FaultMap) -> str:
        """Cache-Control of the root and checkpoint, under the cache faults on."""
        if "root-immutable" in f:
            return IMMUTABLE
        for name, extra in SHORT_EXTRA.items():
            if name in f:
                return f"{self.short}, {extra}"
        return self.short

    def _entry(self, raw: str, f: FaultMap) -> tuple[int, str, str, bytes]:
        if "/" in raw:
            raise _HttpError(404, "unknown path")
        i = _decimal(raw, "entry index", f)
        if i >= self.size:
            raise _HttpError(404, f"entry {raw[:40]} out of range: 0 <= i < {self.size}")
        if i >= len(self._entries):
            raise _HttpError(404, f"entry {i} not found")
        body = self._entries[i]
        ctype = JSON
        if f:
            which = f.get("corrupt-entry")
            if which is not None and (which == "" or int(which) == i):
                body = alter_entry(body)
            if "wrong-content-type" in f:
                ctype = "text/html; charset=utf-8"
        return 200, ctype, self.immutable_cache(f), body

    def _proof(self, raw: str, query: str, f: FaultMap) -> tuple[int, str, str, bytes]:
        if "/" in raw:
            raise _HttpError(404, "unknown path")
        i = _decimal(raw, "leaf index", f)
        params = _params(query, ("tree_size",))
        size = self.size
        latest = "tree_size" not in params
        if not latest:
            n = _decimal(params["tree_size"], "tree_size", f)
            cache = self.immutable_cache(f)
            if not 1 <= n <= size:
                raise _HttpError(
                    404, f"tree_size {params['tree_size'][:40]} out of range: 1..{size}"
                )
        else:
            n, cache = size, self.short
            if "proof-redirect" in f and i < n:
                # What some deployments do: the latest proof is its pinned form's.
                raise _Redirect(spec.proof_path(i, n), self.short)
        if i >= n:
            raise _HttpError(404, f"leaf index {raw[:40]} out of range: 0 <= i < {n}")
        tree = self.tree
        path = tree.inclusion_proof(i, n)
        if latest and "latest-proof-wrong" in f and path:
            path = [_flip(path[0]), *path[1:]]
        body = _json(
            {
                "leaf_index": i,
                "tree_size": n,
                "leaf_hash": tree.leaf_hash(i).hex(),
                "audit_path": [h.hex() for h in _spoil_path(path, f)],
            }
        )
        return 200, JSON, cache, body

    def _consistency(self, query: str, f: FaultMap) -> tuple[int, str, str, bytes]:
        params = _params(query, ("first", "second"))
        for name in ("first", "second"):
            if name not in params:
                raise _HttpError(400, f"query parameter {name!r} is required")
        m = _decimal(params["first"], "first", f)
        n = _decimal(params["second"], "second", f)
        size = self.size
        if not 1 <= m <= n <= size:
            raise _HttpError(
                404,
                f"first={params['first'][:40]}, second={params['second'][:40]} out of range: "
                f"1 <= first <= second <= {size}",
            )
        path = self.tree.consistency_proof(m, n)
        if "old-consistency-wrong" in f and n < size and path:
            # Right up to the current size only: between two older trees, wrong.
            path = [_flip(path[0]), *path[1:]]
        body = _json(
            {
                "first": m,
                "second": n,
                "consistency_path": [h.hex() for h in _spoil_path(path, f)],
            }
        )
        return 200, JSON, self.immutable_cache(f), body


def _method(method: str) -> None:
    if method != "GET" and method != "HEAD":
        raise _HttpError(405, f"method {method[:20]} not allowed: GET, HEAD")


def _spoil_path(path: list[bytes], f: FaultMap) -> list[bytes]:
    if not f:
        return path
    if "bad-proof" in f and path:
        path = [_flip(path[0]), *path[1:]]
    if "extra-proof-hash" in f:
        path = [*path, _EXTRA_HASH]
    return path


def _spoil_signature(signed: bytes) -> bytes:
    """The same note with one byte of its first signature flipped (key id left alone)."""
    text, sep, sigs = signed.partition(b"\n\n")
    lines = sigs.split(b"\n")
    for n, line in enumerate(lines):
        if line.startswith(_SIG_PREFIX):
            head, _, b64 = line.rpartition(b" ")
            raw = bytearray(base64.b64decode(b64))
            raw[-1] ^= 0x01
            lines[n] = head + b" " + base64.b64encode(bytes(raw))
            break
    return text + sep + b"\n".join(lines)
