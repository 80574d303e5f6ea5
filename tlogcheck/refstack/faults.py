"""Named faults of the reference stack: what each breaks, the alert it imitates, who catches it.

A fault is chosen at start (`tlogcheck serve --fault NAME[:ARG]`, repeatable) or switched
at runtime through the admin endpoint (`PUT /faults`). `FAULTS` documents every fault
(the README's detection matrix is made from it); `FaultSet` is the live set, shared by
the origin and edge apps of one process.

Sides:

- "origin": the origin pods misbehave (`log.py` / `origin.py`); the edge passes it on.
- "edge": the CDN misbehaves (`edge_faults.py`); the origin stays healthy.
- "release": the release itself is wrong (the log the origin serves is not the one the
  release's db.jsonl / the previous release describe); served by the origin.

The module's length is the registry itself: one `FaultDoc` per fault, each saying what
it breaks and who must catch it.

`caught_by` lists the checks of tests_synthetic that must fail while the fault is on;
`also` lists checks that may fail too depending on sampling or timing. An empty
`caught_by` with `legitimate=True` means the suite must pass (a state the spec allows).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from tlogcheck.errors import ConfigError

__all__ = [
    "CHECK_NAMES",
    "FAULTS",
    "FaultDoc",
    "FaultSet",
    "BLIP_AFTER",
    "DEFAULT_BEHIND",
    "DIALECT_NAMES",
    "RateGate",
    "parse_spec",
]

Side = Literal["origin", "edge", "release"]
# "none": no argument; "optional": NAME or NAME:ARG; "required": NAME:ARG only.
ArgMode = Literal["none", "optional", "required"]
Api = Literal["v1", "tiles"]

# The checks of tests_synthetic, by marker name (tlogcheck.plugin.CHECK_MARKERS).
CHECK_NAMES = (
    "health",
    "root",
    "checkpoint",
    "etag",
    "cache",
    "parity",
    "inclusion",
    "consistency",
    "db",
    "canary",
    "load",
)

# Every check but load and canary: what a fault that fails random responses may fail.
# The canary check runs only with a stable side or an expected release, which the
# detection matrix's one deployment has not (tests/synthetic/test_canary.py exercises it).
_FUNCTIONAL = tuple(c for c in CHECK_NAMES if c not in ("load", "canary"))

# The checks that read the served root (a hung or trickled root fails them all; /healthz
# and the checkpoint stay readable).
_READS_ROOT = ("etag", "cache", "parity", "inclusion", "consistency", "db")

# Defaults of the faults whose argument is optional.
DEFAULT_OVERSIZE_MIB = 64
DEFAULT_TRUNCATED_EXTRA = 16
DEFAULT_BEHIND = 16  # signer-stall, origin-behind
SLOW_BODY_INTERVAL = 0.1  # seconds between two trickled bytes
SLOW_BODY_LIMIT = 60.0  # seconds of trickling before the rest of the body goes at once


@dataclass(frozen=True)
class FaultDoc:
    name: str
    side: Side
    arg: ArgMode
    arg_help: str  # what ARG means ("" when none)
    breaks: str  # what changes at the HTTP level
    alert: str  # the playbook §1 alert it imitates ("" when none: a legitimate state)
    section: str  # playbook section(s)
    caught_by: tuple[str, ...]  # checks that must fail
    also: tuple[str, ...] = ()  # checks that may fail as well
    legitimate: bool = False  # a state the spec allows: the suite must pass
    api: Api = "v1"  # the API the fault breaks: the suite checks it with --tlog-api API

    @property
    def takes_arg(self) -> bool:
        return self.arg != "none"

    @property
    def usage(self) -> str:
        if self.arg == "none":
            return self.name
        if self.arg == "required":
            return f"{self.name}:{self.arg_help.split()[0]}"
        return f"{self.name}[:{self.arg_help.split()[0]}]"


def _doc(*docs: FaultDoc) -> dict[str, FaultDoc]:
    return {d.name: d for d in docs}


FAULTS: dict[str, FaultDoc] = _doc(
    FaultDoc(
        "healthz-5xx",
        "origin",
        "none",
        "",
        "GET /healthz answers 503 with a JSON error; every other path stays healthy.",
        "TLogAvailabilityDown",
        "§1, §3.1",
        ("health",),
    ),
    FaultDoc(
        "wrong-root",
        "origin",
        "none",
        "",
        "/v1/log/root lies: its root_hash has one byte flipped (ETag matches the lying "
        "body). The checkpoint, entries and proofs stay right, so root != checkpoint and "
        "proofs fail against the served root.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("inclusion", "consistency", "db"),
    ),
    FaultDoc(
        "corrupt-entry",
        "origin",
        "optional",
        "INDEX (only that entry; default: every entry)",
        "GET /v1/log/entry/{i} serves altered bytes (one hex digit of the entry changed, "
        "still valid JSON of the same length; ETag matches the altered body). Root, "
        "checkpoint and proofs describe the real log, so the leaf hash of the served "
        "entry is not in the tree.",
        "TLogInclusionProofFail",
        "§1, §3.2, §4",
        ("inclusion",),
    ),
    FaultDoc(
        "bad-proof",
        "origin",
        "none",
        "",
        "Inclusion and consistency proofs have their first hash flipped (proofs with an "
        "empty path are unchanged).",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("inclusion", "consistency"),
    ),
    FaultDoc(
        "extra-proof-hash",
        "origin",
        "none",
        "",
        "Inclusion and consistency proofs carry one extra hash at the end (RFC 9162 "
        "verification must reject it, not ignore it).",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("inclusion", "consistency"),
    ),
    FaultDoc(
        "checkpoint-bad-signature",
        "origin",
        "none",
        "",
        "The checkpoint's signature has one byte flipped: same key name and key id, "
        "the Ed25519 signature does not verify.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("checkpoint",),
        also=("consistency",),
    ),
    FaultDoc(
        "checkpoint-root-mismatch",
        "origin",
        "none",
        "",
        "The checkpoint is signed correctly, but over the same tree size with another "
        "root hash: the signature verifies, the tree does not match /v1/log/root.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("consistency",),
    ),
    FaultDoc(
        "etag-mismatch",
        "origin",
        "none",
        "",
        "Every 200 carries a strong ETag that is not the SHA-256 of its body.",
        "TLogCacheMissHigh",
        "§1, §3.3, §4",
        ("etag",),
    ),
    FaultDoc(
        "weak-etag",
        "origin",
        "none",
        "",
        'Every 200 carries a weak ETag W/"<sha256 of the body>" instead of a strong one.',
        "TLogCacheMissHigh",
        "§1, §3.3, §4",
        ("etag",),
    ),
    FaultDoc(
        "missing-immutable",
        "origin",
        "none",
        "",
        "Immutable paths (entries, proofs with tree_size, consistency proofs) are served "
        "with `Cache-Control: public, max-age=60` instead of one year + immutable.",
        "TLogCacheMissHigh",
        "§1, §3.3",
        ("cache",),
    ),
    FaultDoc(
        "root-immutable",
        "origin",
        "none",
        "",
        "Root and checkpoint are served with `public, max-age=31536000, immutable`: a "
        "CDN would pin the tree forever.",
        "TLogCacheMissHigh",
        "§1, §3.3",
        ("cache",),
    ),
    FaultDoc(
        "stale-edge-root",
        "edge",
        "none",
        "",
        "The edge keeps serving an older, consistent tree (a prefix of the origin's) "
        "past its max-age: root and checkpoint differ from the origin's (X-Bypass: 1) "
        "and the edge's Age exceeds the max-age.",
        "TLogInclusionProofFail",
        "§1, §2.3, §3.2",
        ("parity",),
        also=("consistency", "cache"),
    ),
    FaultDoc(
        "edge-lag",
        "edge",
        "none",
        "",
        "The edge serves an older, consistent tree within its max-age (Age <= max-age): "
        "what any CDN does for up to max-age after a release. The suite must accept it.",
        "",
        "§2.3",
        (),
        legitimate=True,
    ),
    FaultDoc(
        "split-view",
        "edge",
        "none",
        "",
        "The edge serves a tree of the same size whose entries differ from the "
        "origin's: the edge's tree is not a prefix of the origin's (a split view).",
        "TLogInclusionProofFail",
        "§1, §2.3, §3.2",
        ("parity",),
        also=("consistency", "db"),
    ),
    FaultDoc(
        "cache-always-miss",
        "edge",
        "none",
        "",
        "The edge never caches (X-Cache: MISS on every read, every request reaches the "
        "origin) while the origin's headers stay right: a CDN rule gone wrong.",
        "TLogCacheMissHigh",
        "§1, §3.3",
        ("cache",),
    ),
    FaultDoc(
        "history-rewrite",
        "release",
        "none",
        "",
        "The served log (the canary origin when a canary runs, else the origin) has entry "
        "1 changed: same size (or extended, for the canary), consistently signed and "
        "proved, but not an extension of the release's db.jsonl nor of the stable log.",
        "TLogInclusionProofFail",
        "§1, §3.2, §5",
        ("consistency", "db"),
    ),
    FaultDoc(
        "truncated",
        "release",
        "optional",
        "K (extra tree size announced; default 16)",
        "Root and checkpoint (signed) announce tree_size N+K, the root of the log with K "
        "more entries that are never served: /v1/log/entry/{i} for i >= N answers 404 "
        "while proofs up to N+K are served.",
        "TLogInclusionProofFail",
        "§1, §3.2, §4",
        ("root", "inclusion", "db"),
        also=("consistency", "parity"),
    ),
    FaultDoc(
        "latency",
        "origin",
        "required",
        "MS (delay of every response, milliseconds)",
        "Every origin response is delayed MS ms (without blocking the server); the edge "
        "delays every response it sends too, cache hits included.",
        "LatencyP95High",
        "§1, §3.4",
        ("load",),
        also=("health",),
    ),
    FaultDoc(
        "error-rate",
        "origin",
        "required",
        "PCT (share of responses that are 500, 0-100)",
        "PCT % of responses are 500 with a JSON error, /healthz included; deterministic: "
        "the first response fails, then one in every 100/PCT (a counter, not chance). "
        "The edge fails the same share of its own responses, cache hits included.",
        "Ingress5xxHigh",
        "§1, §3.4",
        ("load",),
        also=_FUNCTIONAL,
    ),
    FaultDoc(
        "slow-body",
        "origin",
        "none",
        "",
        "Every origin body is trickled one byte per 100 ms (for at most 60 s, then the "
        "rest at once); headers come at once. A bounded client stops at its deadline: "
        "the tests that read a body fail under LatencyP95High rather than hanging.",
        "LatencyP95High",
        "§1, §3.4",
        ("load",),
        also=_FUNCTIONAL,
    ),
    FaultDoc(
        "oversize-body",
        "origin",
        "optional",
        "MB (body size in MiB; default 64)",
        "GET /v1/log/entry/{i} answers 200 with a body of MB MiB (whitespace then the "
        "entry, streamed, ETag right): far beyond any sane entry; a bounded client "
        "refuses it.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("inclusion", "parity"),
        also=("root", "etag", "cache"),
    ),
    FaultDoc(
        "signer-stall",
        "origin",
        "optional",
        "K (entries the signed tree is behind; default 16)",
        "The checkpoint is validly signed, for the tree of the first N-K entries (a proven "
        "prefix), while root, entries and proofs are of N: the signer stopped and the log "
        "grew. Every view serves it, the origin included.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("consistency",),
    ),
    FaultDoc(
        "origin-behind",
        "release",
        "optional",
        "K (entries of the release's db.jsonl the origin lacks; default 16)",
        "The origin serves the log of the first N-K entries of the release's db.jsonl: "
        "root, checkpoint, entries and proofs of that older tree, consistent and signed. "
        "The pods run the release's image without all of its data.",
        "TLogInclusionProofFail",
        "§1, §3.2, §4",
        ("db",),
    ),
    FaultDoc(
        "latest-proof-wrong",
        "origin",
        "none",
        "",
        "GET /v1/log/proof/{i} without tree_size (what verify_client.py URL INDEX reads) "
        "serves an audit path with its first hash flipped; proofs at a given tree_size "
        "stay right.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("inclusion",),
    ),
    FaultDoc(
        "inm-always-304",
        "origin",
        "none",
        "",
        "Any If-None-Match, matching or not, is answered 304 without a body: a client "
        "revalidating an old root is stranded on it.",
        "TLogCacheMissHigh",
        "§1, §3.3, §4",
        ("etag",),
    ),
    FaultDoc(
        "no-release-header",
        "origin",
        "none",
        "",
        "Entries and proofs are served without X-TLog-Release: the answer no longer says "
        "which release's pod made it.",
        "TLogInclusionProofFail",
        "§1, §2, §3.2",
        ("root",),
    ),
    FaultDoc(
        "wrong-content-type",
        "origin",
        "none",
        "",
        "Entries are served as `text/html; charset=utf-8` instead of application/json.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("root",),
    ),
    FaultDoc(
        "lenient-index",
        "origin",
        "none",
        "",
        "Indices and sizes with a sign, leading zeros or spaces (`+5`, `05`, ` 5`), in the "
        "path and in the query, are read as numbers and answered 200 instead of 400.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("root",),
    ),
    FaultDoc(
        "ua-split-view",
        "edge",
        "none",
        "",
        "The edge serves clients that do not say they are tlogcheck (curl, Python "
        "requests, browsers) a forked log of the same size (another root, one entry "
        "altered); tlogcheck's own reads and X-Bypass get the honest log: the monitor and "
        "the users see two logs.",
        "TLogInclusionProofFail",
        "§1, §2.3, §3.2",
        ("parity",),
    ),
    FaultDoc(
        "healthz-weak-etag",
        "origin",
        "none",
        "",
        "/healthz carries a weak ETag, as web frameworks add one: /healthz is not a log "
        "path, its ETag is nobody's business. The suite must pass.",
        "",
        "§0",
        (),
        legitimate=True,
    ),
    FaultDoc(
        "edge-lag-swr",
        "edge",
        "none",
        "",
        "The origin sends `stale-while-revalidate=600` on root and checkpoint, and the "
        "edge serves an older, consistent tree past its max-age but within that window "
        "(Age = max-age + 60): the edge follows the origin's instructions. The suite must "
        "pass, and say so in the run summary.",
        "",
        "§2.3",
        (),
        legitimate=True,
    ),
    FaultDoc(
        "cdn-dialect",
        "edge",
        "required",
        "VENDOR (cloudfront, akamai, fastly, azure, rfc9211, unknown)",
        "The edge reports its cache status in a vendor's words (`X-Cache: TCP_MEM_HIT from "
        "a23-...` for akamai, `Cache-Status: tlog-edge; hit` for rfc9211, ...). The suite "
        "must pass; with `unknown` (words no vendor documents) the hit rate is "
        "inconclusive, quoting them, never failed.",
        "",
        "§3.3",
        (),
        legitimate=True,
    ),
    FaultDoc(
        "multi-node-edge",
        "edge",
        "optional",
        "K (nodes, each with its own cache; default 3)",
        "The edge is K nodes behind one name, each with its own cache, taking requests in "
        "turn: a second read lands on another node and misses. The steady-state miss "
        "ratio stays low; the suite must pass.",
        "",
        "§3.3",
        (),
        legitimate=True,
    ),
    FaultDoc(
        "blip",
        "origin",
        "optional",
        "SECONDS (how long; default 1)",
        "Once, after the origin's 40th request, every origin request is answered 503 for "
        "SECONDS seconds: a healthy target's blip. The suite must not fail (retries carry "
        "it; at worst a test is inconclusive).",
        "",
        "§3.1",
        (),
        legitimate=True,
    ),
    FaultDoc(
        "hang",
        "origin",
        "required",
        "PATH (e.g. /v1/log/root)",
        "A GET of PATH is accepted and never answered (the connection is held until the "
        "client leaves); every other path stays healthy, /healthz included. On both views.",
        "TLogAvailabilityDown",
        "§1, §3.1",
        ("root",),
        also=_READS_ROOT,
    ),
    FaultDoc(
        "trickle",
        "origin",
        "required",
        "PATH (e.g. /v1/log/root)",
        "A GET of PATH gets its status line and headers at once, then its body one byte "
        "a second; every other path stays healthy, /healthz included. On both views.",
        "LatencyP95High",
        "§1, §3.4",
        ("root",),
        also=_READS_ROOT,
    ),
    FaultDoc(
        "gzip-variant",
        "edge",
        "none",
        "",
        "The edge's gzip copies differ from what it serves plain: a request with "
        "Accept-Encoding: gzip gets the identity body with one hex digit changed, gzipped "
        "(ETag unchanged); identity reads and X-Bypass stay right.",
        "TLogInclusionProofFail",
        "§2.3, §3.2",
        ("parity",),
    ),
    # The tiled log (C2SP tlog-tiles) the origin serves beside API v1: checked with
    # --tlog-api tiles (the detection matrix runs these on a log of 1,000 entries).
    FaultDoc(
        "tiles-corrupt-hash",
        "origin",
        "none",
        "",
        "Hash 0 of the full level-0 tile tile/0/000 is flipped (needs 256 entries or more): "
        "the tile no longer hashes to its parent in tile/1/000; checkpoint and bundles stay "
        "right.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("inclusion",),
        also=("consistency",),
        api="tiles",
    ),
    FaultDoc(
        "tiles-corrupt-entry",
        "origin",
        "none",
        "",
        "Entry 0 of bundle tile/entries/000 is altered (one digit changed, same length): "
        "it no longer hashes to hash 0 of tile/0/000.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("inclusion",),
        api="tiles",
    ),
    FaultDoc(
        "tiles-corrupt-level1",
        "origin",
        "none",
        "",
        "Hash 0 of level-1 tile tile/1/000 is flipped: the root rebuilt from the right "
        "edge and every proof through it are wrong.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("root", "inclusion"),
        also=("consistency",),
        api="tiles",
    ),
    FaultDoc(
        "tiles-partial-short",
        "origin",
        "none",
        "",
        "Every partial hash tile is served one hash short (tile/0/003.p/232 holds 231 "
        "hashes): the right edge cannot be rebuilt.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("root", "inclusion"),
        also=("consistency",),
        api="tiles",
    ),
    FaultDoc(
        "tiles-checkpoint-other-key",
        "origin",
        "none",
        "",
        "/checkpoint is signed by another key of the same name (the tree is right): no "
        "signature verifies with the log's verifier key.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("checkpoint",),
        api="tiles",
    ),
    FaultDoc(
        "tiles-checkpoint-ahead",
        "origin",
        "optional",
        "N (entries the checkpoint is ahead; default 16)",
        "/checkpoint signs the tree N entries on while the tiles and bundles served stay "
        "those of the release: the tiles the checkpoint needs answer 404.",
        "TLogInclusionProofFail",
        "§1, §3.2",
        ("root", "inclusion", "db"),
        also=("consistency",),
        api="tiles",
    ),
)

DIALECT_NAMES = ("cloudfront", "akamai", "fastly", "azure", "rfc9211", "unknown")
BLIP_AFTER = 40  # origin requests before a `blip` starts


def _check_arg(doc: FaultDoc, arg: str | None, spec: str) -> str:
    if arg is None:
        if doc.arg == "required":
            raise ConfigError(f"fault {doc.name!r} needs an argument: {doc.usage}")
        return ""
    if doc.arg == "none":
        raise ConfigError(f"fault {doc.name!r} takes no argument (got {spec!r})")
    if doc.name == "error-rate":
        try:
            pct = float(arg)
        except ValueError:
            raise ConfigError(f"fault {spec!r}: PCT must be a number in 0..100") from None
        if not 0 <= pct <= 100:
            raise ConfigError(f"fault {spec!r}: PCT must be in 0..100")
        return arg
    if doc.name == "cdn-dialect":
        if arg not in DIALECT_NAMES:
            raise ConfigError(f"fault {spec!r}: VENDOR is one of {', '.join(DIALECT_NAMES)}")
        return arg
    if doc.name in ("hang", "trickle"):
        if not arg.startswith("/") or any(c in arg for c in "?# ") or not arg.isprintable():
            raise ConfigError(f"fault {spec!r}: PATH must be a path like /v1/log/root")
        return arg
    if not arg.isdigit():
        raise ConfigError(f"fault {spec!r}: {doc.arg_help.split()[0]} must be a decimal integer")
    positive = (
        "oversize-body", "truncated", "signer-stall", "origin-behind", "multi-node-edge",
        "tiles-checkpoint-ahead",
    )  # fmt: skip
    if doc.name in (*positive, "blip") and int(arg) == 0:
        raise ConfigError(f"fault {spec!r}: {doc.arg_help.split()[0]} must be positive")
    return str(int(arg))


def parse_spec(spec: str) -> tuple[str, str]:
    """`NAME[:ARG]` -> (name, arg) with arg "" when none; ConfigError when unknown or bad."""
    name, sep, arg = spec.strip().partition(":")
    doc = FAULTS.get(name)
    if doc is None:
        raise ConfigError(f"unknown fault {name!r}; known: {', '.join(sorted(FAULTS))}")
    return name, _check_arg(doc, arg if sep else None, spec)


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
