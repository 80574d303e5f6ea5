"""What the exporter remembers between probes: the last verified tree of each target.

Per (module, target): the latest checkpoint whose signature verified and that the log
proved consistent with the one before, as served (the signed note, byte for byte), and
a few earlier ones (`HISTORY`). Each new tree must extend the latest (the consistency
check proves it); a log that forks back to a size it showed before is then caught with
two signed checkpoints of one size, which `tlogcheck evidence verify` proves.

In memory always, bounded (`max_targets`, least recently probed forgotten first); with
`--state-dir` also on disk, one JSON file per (module, target), written atomically, read
back at start, so a restart does not forget the tree it protects. A target is forgotten
in memory only: its file stays, and once the directory holds `max_targets` files new
targets are remembered in memory alone (said in the log) rather than pushing out the
tree of an older one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from tlogcheck.client import Response
from tlogcheck.client.purpose import READ, Purpose
from tlogcheck.state import now_rfc3339
from tlogcheck.verify import Tree

__all__ = ["HISTORY", "Remembered", "StateBook", "Track"]

HISTORY = 8
FORMAT = "tlogcheck-exporter-state/1"
# Response headers worth keeping with a checkpoint (what evidence readers look at);
# nothing else a target sent is stored.
KEPT_HEADERS = ("content-type", "etag", "cache-control", "age", "x-tlog-release", "date")
log = logging.getLogger("tlogcheck.exporter")


@dataclass(frozen=True)
class Remembered:
    """A checkpoint whose signature verified, as it was served."""

    origin: str  # the checkpoint's first line
    tree_size: int
    root_hash: bytes
    note: bytes  # the signed note, byte for byte
    url: str  # where it was read
    path: str  # /v1/log/checkpoint or /checkpoint
    headers: tuple[tuple[str, str], ...] = ()
    verified_at: str = ""

    @property
    def tree(self) -> Tree:
        return Tree(self.tree_size, self.root_hash)

    def response(self, view: str = "edge") -> Response:
        """The checkpoint as a response, for an evidence bundle."""
        return Response(
            url=self.url,
            path=self.path,
            view=view,
            status=200,
            headers=httpx.Headers(list(self.headers)),
            body=self.note,
            elapsed=0.0,
            purpose=Purpose(READ, "the signed checkpoint a probe verified", "checkpoint"),
        )

    @classmethod
    def served(
        cls, origin: str, tree: Tree, response: Response, scrub: Callable[[str], str]
    ) -> Remembered:
        """`scrub` hides secrets a hostile target may echo in the headers kept."""
        kept = tuple(
            (k, scrub(v)) for k, v in response.headers.items() if k.lower() in KEPT_HEADERS
        )
        return cls(
            origin, tree.tree_size, tree.root_hash, response.body,
            response.url, response.path.partition("?")[0], kept, now_rfc3339(),
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "note": base64.b64encode(self.note).decode("ascii"),
            "url": self.url,
            "path": self.path,
            "headers": [list(h) for h in self.headers],
            "verified_at": self.verified_at,
        }

    @classmethod
    def from_json(cls, doc: Any) -> Remembered:
        return cls(
            origin=str(doc["origin"]),
            tree_size=int(doc["tree_size"]),
            root_hash=bytes.fromhex(str(doc["root_hash"])),
            note=base64.b64decode(str(doc["note"]), validate=True),
            url=str(doc["url"]),
            path=str(doc["path"]),
            headers=tuple((str(k), str(v)) for k, v in doc.get("headers") or []),
            verified_at=str(doc.get("verified_at", "")),
        )


@dataclass(frozen=True)
class Track:
    """One target's remembered trees: the latest, and earlier ones (newest first)."""

    module: str
    target: str
    latest: Remembered
    earlier: tuple[Remembered, ...] = ()

    def all(self) -> tuple[Remembered, ...]:
        return (self.latest, *self.earlier)


def _name(module: str, target: str) -> str:
    return hashlib.sha256(f"{module}\0{target}".encode()).hexdigest()[:32] + ".json"


class StateBook:
    """The remembered trees of every (module, target), in memory and in `directory`."""

    def __init__(self, directory: str | None = None, *, max_targets: int = 1000) -> None:
        self.directory = Path(directory) if directory else None
        self.max_targets = max_targets
        self._lock = threading.Lock()
        self._tracks: OrderedDict[tuple[str, str], Track] = OrderedDict()
        self._files = 0
        self._warned = False
        if self.directory is not None:
            (self.directory / "targets").mkdir(parents=True, exist_ok=True)
            self._load()

    def _load(self) -> None:
        assert self.directory is not None
        for path in sorted((self.directory / "targets").glob("*.json")):
            self._files += 1
            try:
                doc = json.loads(path.read_bytes())
                if doc.get("format") != FORMAT:
                    raise ValueError(f"format is not {FORMAT}")
                track = Track(
                    str(doc["module"]),
                    str(doc["target"]),
                    Remembered.from_json(doc["latest"]),
                    tuple(Remembered.from_json(d) for d in doc.get("earlier") or [])[:HISTORY],
                )
            except (OSError, ValueError, KeyError, TypeError) as exc:
                # Never silently start over: a bad file stays for a person to read.
                log.error("state file %s is unreadable (%s): its target starts afresh", path, exc)
                continue
            if len(self._tracks) < self.max_targets:
                self._tracks[(track.module, track.target)] = track

    def get(self, module: str, target: str) -> Track | None:
        with self._lock:
            track = self._tracks.get((module, target))
            if track is not None:
                self._tracks.move_to_end((module, target))
            return track

    def remember(self, module: str, target: str, seen: Remembered) -> Track:
        """Record a verified checkpoint that the log proved consistent with the latest.
        The latest stays the larger tree (an edge may lag behind what it showed before);
        the tree it replaces joins the earlier ones."""
        with self._lock:
            old = self._tracks.get((module, target))
            if old is None:
                track = Track(module, target, seen)
            elif seen.tree_size > old.latest.tree_size:
                earlier = (old.latest, *old.earlier)[:HISTORY]
                track = Track(module, target, seen, earlier)
            elif seen.tree == old.latest.tree:
                track = replace(old, latest=replace(old.latest, verified_at=seen.verified_at))
            else:
                track = old
            self._tracks[(module, target)] = track
            self._tracks.move_to_end((module, target))
            while len(self._tracks) > self.max_targets:
                self._tracks.popitem(last=False)
            changed = old is None or track.latest.tree != old.latest.tree
        if changed:
            self._save(track, new=old is None)
        return track

    def _save(self, track: Track, *, new: bool) -> None:
        if self.directory is None:
            return
        path = self.directory / "targets" / _name(track.module, track.target)
        with self._lock:
            if not path.exists():
                if self._files >= self.max_targets:
                    if not self._warned:
                        log.warning(
                            "state directory holds %d targets (--max-targets): new targets "
                            "are remembered in memory only",
                            self._files,
                        )
                        self._warned = True
                    return
                self._files += 1
        doc = {
            "format": FORMAT,
            "module": track.module,
            "target": track.target,
            "latest": track.latest.to_json(),
            "earlier": [r.to_json() for r in track.earlier],
        }
        data = (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()
        fd, tmp = tempfile.mkstemp(prefix=".state.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            log.error("cannot write state file %s: %s", path, exc.strerror or exc)
            try:
                os.unlink(tmp)
            except OSError:
                pass

    def latest(self) -> list[Track]:
        with self._lock:
            return list(self._tracks.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._tracks)
