"""Evidence bundles of a fork or rollback, in the state directory.

When a target's tree does not extend the one remembered, or a peer's signed tree and
ours cannot be one log, the exporter writes what it holds as a bundle in the format of
`tlogcheck.incident.bundle` (`tlogcheck evidence verify DIR` reads it): the two signed
checkpoints exactly as they were served, the log's verifier keys, and the consistency
proof the log served between them when there is one. Two checkpoints signed by the
log's key with one size and two roots cannot both be true: the bundle proves a split
view on its own. Between sizes, a served proof that does not verify proves the log
inconsistent; a rollback the log simply refuses to prove is recorded, not proven.

Bounded: a bundle is written once per pair of checkpoints (named by their hashes), and
at most `MAX_BUNDLES` are kept; past that they are counted, not written.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tlogcheck.client import Response
from tlogcheck.incident.bundle import Recorder, write_bundle

__all__ = ["MAX_BUNDLES", "EvidenceShelf"]

MAX_BUNDLES = 100
log = logging.getLogger("tlogcheck.exporter")


class EvidenceShelf:
    """Where bundles go (`<state-dir>/evidence/`); None: no state dir, none kept."""

    def __init__(self, state_dir: str | None, scrub: Callable[[str], str]) -> None:
        self.directory = Path(state_dir) / "evidence" if state_dir else None
        self.scrub = scrub
        self._lock = threading.Lock()
        self.written = 0
        self.dropped = 0

    def keep(
        self,
        *,
        what: str,
        responses: Sequence[Response],
        vkeys: Sequence[str],
        target: dict[str, Any],
        detail: str,
    ) -> Path | None:
        """Write a bundle of `responses` (the signed checkpoints first); its path, or None
        when it exists already, there is no state directory, or the shelf is full."""
        if self.directory is None:
            return None
        digest = hashlib.sha256(b"".join(hashlib.sha256(r.body).digest() for r in responses))
        path = self.directory / f"{what.replace(' ', '-')}-{digest.hexdigest()[:16]}"
        with self._lock:
            if path.exists():
                return None
            self.directory.mkdir(parents=True, exist_ok=True)
            if sum(1 for _ in self.directory.iterdir()) >= MAX_BUNDLES:
                self.dropped += 1
                log.error("evidence of %s not kept: %d bundles already in %s",
                          what, MAX_BUNDLES, self.directory)  # fmt: skip
                return None
            recorder = Recorder()
            for r in responses:
                recorder.keep(r, truncated=False)
            write_bundle(
                path,
                recorder,
                target={k: self.scrub(str(v)) for k, v in target.items()},
                vkeys=list(vkeys),
                verdicts=[
                    {"check": "consistency", "outcome": "failed", "message": self.scrub(detail)}
                ],  # fmt: skip
                options={"source": "tlogcheck exporter"},
            )
            self.written += 1
        log.warning("evidence of %s kept in %s", what, path)
        return path
