"""Reading a C2SP tlog-tiles log over HTTP: the checkpoint and checked tiles via `TLogClient`.

The client's URL is the log's prefix (`<prefix>/checkpoint`, `<prefix>/tile/...`); its
views (edge, origin), deadline, size cap, retries and gzip decoding apply to every read.
Every response is kept in `responses` so checks can look at headers (cache rules, ETag).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tlogcheck import tiles
from tlogcheck.client.http import RETRY_STATUSES, TLogClient
from tlogcheck.client.purpose import READ, asking
from tlogcheck.client.response import Response
from tlogcheck.errors import FormatError, TargetUnreachable, TLogCheckError
from tlogcheck.note import Checkpoint, Verifier, parse_checkpoint, parse_note, verify_note
from tlogcheck.tiles import TiledTree
from tlogcheck.verify.served import answered
from tlogcheck.verify.views import answered_by

PATH_CHECKPOINT = "/" + tiles.PATH_CHECKPOINT


@dataclass
class TileReader:
    """Tiles of one log through one view; `fetch` is a `tlogcheck.tiles.Fetch`."""

    client: TLogClient
    view: str = "edge"
    responses: list[Response] = field(default_factory=list)
    # Key names whose signatures on the last checkpoint verified.
    signed_by: list[str] = field(default_factory=list)
    # The release (X-TLog-Release) whose checkpoint the tiles are read for: a 404 from a
    # pod of another release is asked again (bounded), as `verify.answered_by` does.
    release: str | None = None

    # Bodies read ahead by `prefetch` (None: a 404), each handed out once by `fetch`.
    _ahead: dict[str, bytes | None] = field(default_factory=dict)

    def prefetch(self, paths: Iterable[str]) -> None:
        """Read `paths` concurrently (the client's concurrency) so the checked reads that
        follow wait for one round trip, not one each. Failures are left for `fetch` to
        meet again, where they are reported in context."""
        todo = [p for p in dict.fromkeys(paths) if p not in self._ahead]

        def read(path: str) -> None:
            try:
                self._ahead[path] = self._read(path)
            except TLogCheckError:
                pass

        self.client.map(read, todo)

    def fetch(self, path: str) -> bytes | None:
        if path in self._ahead:
            return self._ahead.pop(path)
        return self._read(path)

    def _read(self, path: str) -> bytes | None:
        with asking(READ, f"tile for the tree's root and proofs: {path}"):
            response = self.client.get("/" + path, view=self.view)
            if response.status == 404 and self.release is not None:
                # During a canary a pod of the other release may not have this tree's tiles.
                response = answered_by(
                    self.client, "/" + path, view=self.view, release=self.release, first=response
                )
        self.responses.append(response)
        if response.status == 404:
            return None
        if response.status in RETRY_STATUSES:
            # Still unavailable after the client's retries: not asked, not proved wrong.
            raise TargetUnreachable(f"{path}: {response.describe()}")
        answered(response)  # any other 5xx: what was answered, never a tile verdict
        if response.status != 200:
            raise FormatError(
                f"{path}: HTTP {response.status}, expected 200 ({response.describe()})"
            )
        return response.body

    def checkpoint(self, verifiers: Sequence[Verifier] = ()) -> tuple[Checkpoint, Response]:
        """The log's checkpoint, its signature verified when keys are given."""
        with asking(READ, "the checkpoint"):
            response = self.client.get(PATH_CHECKPOINT, view=self.view)
        self.responses.append(response)
        answered(response)
        if response.status != 200:
            raise FormatError(
                f"checkpoint: HTTP {response.status}, expected 200 ({response.describe()})"
            )
        if verifiers:
            note = verify_note(response.body, verifiers)
            self.signed_by = sorted({s.key_name for s in note.signatures})
        else:
            note = parse_note(response.body)
        return parse_checkpoint(note.text), response

    def tree(self, size: int, root: bytes, tile_size: int | None = None) -> TiledTree:
        """The tree of (size, root) read from this log's tiles at `tile_size` (>= size)."""
        return TiledTree(self.fetch, size, root, tile_size)
