"""Across vantage points: the signed checkpoints this exporter verified, and its peers'.

`/checkpoints` serves, for every target probed, the latest checkpoint whose signature
verified and that the log proved consistent with the one before — the signed notes
themselves, so whoever reads them verifies them with the log's key and needs to trust
no exporter. With `--peer URL`, a probe reads the peer's `/checkpoints` (cached a few
seconds, bounded in time and size) and, for every peer checkpoint of the same log
(origin line) that verifies with the module's keys, proves the peer's tree and the one
this probe verified are one log, with the log's own consistency proofs (`verify.chain`):

- the same tree: consistent;
- one size, two roots: failed — two signed checkpoints that cannot both be true;
- different sizes: the larger must extend the smaller by a proof the target serves
  (`verify.prove_extends`); a proof that does not verify fails, and when the target
  cannot serve one (the peer's tree is newer than ours) it is inconclusive: the peer,
  which holds the newer tree, proves it from its side.

A peer that cannot be reached, has not verified this log yet, or serves nothing that
verifies is inconclusive, never a failure.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from tlogcheck.client import TLogClient
from tlogcheck.errors import ConfigError, FormatError, NoteError, ProofError, TLogCheckError
from tlogcheck.exporter.state import Remembered, Track
from tlogcheck.note import Verifier, verify_checkpoint
from tlogcheck.verify import Tree, prove_extends

__all__ = [
    "FORMAT",
    "PEER_STATUSES",
    "PeerBook",
    "PeerVerdict",
    "checkpoints_document",
    "judge_peer",
]

FORMAT = "tlogcheck-exporter-checkpoints/1"
PEER_STATUSES = ("consistent", "failed", "inconclusive")
PATH = "/checkpoints"
REFRESH = 5.0  # seconds a peer's document is reused
PEER_TIMEOUT = 2.0
MAX_DOCUMENT = 4 * 2**20
MAX_CHECKPOINTS = 10_000


def checkpoints_document(vantage: str, tracks: Sequence[Track]) -> bytes:
    """The `/checkpoints` JSON: one entry per distinct verified checkpoint."""
    seen: dict[tuple[str, int, bytes], Remembered] = {}
    for t in tracks:
        r = t.latest
        seen.setdefault((r.origin, r.tree_size, r.root_hash), r)
    doc = {
        "format": FORMAT,
        "vantage": vantage,
        "checkpoints": [
            {
                "origin": r.origin,
                "tree_size": r.tree_size,
                "root_hash": r.root_hash.hex(),
                "note": base64.b64encode(r.note).decode("ascii"),
                "verified_at": r.verified_at,
            }
            for r in sorted(seen.values(), key=lambda r: (r.origin, r.tree_size))
        ],
    }
    return (json.dumps(doc, indent=1) + "\n").encode()


@dataclass(frozen=True)
class PeerNote:
    """A signed note a peer served (signature not verified yet)."""

    origin: str
    note: bytes


@dataclass
class _Fetched:
    at: float = -1e9
    notes: tuple[PeerNote, ...] = ()
    vantage: str = ""
    problem: str | None = "not asked yet"
    lock: threading.Lock = field(default_factory=threading.Lock)


def _parse(body: bytes) -> tuple[str, tuple[PeerNote, ...]]:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormatError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise FormatError(f"not a {FORMAT} document")
    items = doc.get("checkpoints")
    if not isinstance(items, list) or len(items) > MAX_CHECKPOINTS:
        raise FormatError("`checkpoints` is not a list (of at most 10000)")
    notes = []
    for item in items:
        try:
            note = base64.b64decode(item["note"], validate=True)
            notes.append(PeerNote(str(item["origin"]), note))
        except (KeyError, TypeError, ValueError):
            continue  # one unreadable entry does not hide the others
    return str(doc.get("vantage", "")), tuple(notes)


class PeerBook:
    """The peers' `/checkpoints`, each fetched at most every REFRESH seconds."""

    def __init__(self, urls: Sequence[str]) -> None:
        self.urls = list(urls)
        self._fetched = {url: _Fetched() for url in self.urls}
        self._clients: dict[str, TLogClient] = {}
        for url in self.urls:
            try:
                self._clients[url] = TLogClient(
                    url, timeout=PEER_TIMEOUT, retries=0, max_body=MAX_DOCUMENT, concurrency=1
                )
            except ConfigError as exc:
                raise ConfigError(f"--peer {url}: {exc}") from None

    def notes(self, url: str, *, end: float) -> tuple[tuple[PeerNote, ...], str | None]:
        """The peer's notes and, when it could not be read, why (never raises)."""
        state = self._fetched[url]
        # Another probe may be reading this peer: wait for it within this probe's budget.
        if not state.lock.acquire(timeout=max(0.0, end - time.monotonic())):
            return (), f"peer {url} is being read by another probe"
        try:
            now = time.monotonic()
            if now - state.at >= REFRESH and end - now > 0.05:
                client = self._clients[url]
                client.deadline = max(0.05, min(PEER_TIMEOUT, end - now))
                try:
                    response = client.get(PATH)
                    if response.status != 200:
                        raise FormatError(f"{PATH} answered HTTP {response.status}")
                    state.vantage, state.notes = _parse(response.body)
                    state.problem = None
                except TLogCheckError as exc:
                    state.notes, state.problem = (), f"peer {url} not read: {exc}"
                state.at = time.monotonic()
            return state.notes, state.problem
        finally:
            state.lock.release()

    def up(self) -> dict[str, bool]:
        return {url: f.problem is None for url, f in self._fetched.items()}

    def close(self) -> None:
        for c in self._clients.values():
            c.close()


@dataclass(frozen=True)
class PeerVerdict:
    peer: str
    status: str  # consistent, failed, inconclusive
    detail: str
    # With a failure: the peer's signed checkpoint that contradicts ours.
    theirs: Remembered | None = None


def judge_peer(
    client: TLogClient,
    *,
    peer: str,
    ours: Remembered,
    notes: Sequence[PeerNote],
    problem: str | None,
    verifiers: Sequence[Verifier],
) -> PeerVerdict:
    """Our verified tree and every verified tree of the same log the peer holds."""
    if problem is not None:
        return PeerVerdict(peer, "inconclusive", problem)
    verdicts: list[PeerVerdict] = []
    for n in notes:
        if n.origin != ours.origin:
            continue
        try:
            cp = verify_checkpoint(n.note, verifiers)
        except (NoteError, FormatError) as exc:
            verdicts.append(PeerVerdict(peer, "inconclusive", f"a peer checkpoint: {exc}"))
            continue
        if cp.origin != ours.origin:
            continue
        theirs = Tree(cp.tree_size, cp.root_hash)
        remembered = Remembered(cp.origin, cp.tree_size, cp.root_hash, n.note, peer, ours.path)
        verdicts.append(_compare(client, peer, ours, theirs, remembered))
    if not verdicts:
        return PeerVerdict(peer, "inconclusive", f"the peer holds no checkpoint of {ours.origin}")
    for status in ("failed", "inconclusive"):
        found = [v for v in verdicts if v.status == status]
        if found:
            return found[0]
    return verdicts[0]


def _compare(
    client: TLogClient, peer: str, ours: Remembered, theirs: Tree, remembered: Remembered
) -> PeerVerdict:
    mine = ours.tree
    if mine == theirs:
        return PeerVerdict(peer, "consistent", f"the same {mine.describe()}")
    older, newer = sorted((mine, theirs), key=lambda t: t.tree_size)
    try:
        evidence = prove_extends(client, older, newer)
    except ProofError as exc:
        return PeerVerdict(
            peer, "failed", f"ours {mine.describe()}, the peer's {theirs.describe()}: {exc}",
            remembered,
        )  # fmt: skip
    except FormatError as exc:
        side = "the peer's tree is newer: its exporter proves it" if newer is theirs else str(exc)
        return PeerVerdict(peer, "inconclusive", f"{theirs.describe()}: {side}")
    except TLogCheckError as exc:
        return PeerVerdict(peer, "inconclusive", f"{theirs.describe()}: could not ask: {exc}")
    return PeerVerdict(peer, "consistent", evidence)
