"""Evidence bundles: what the target served, kept when a check fails.

Once the CDN or the pod moves on, a failure's proof is gone; a bundle keeps it. With
`--tlog-evidence DIR` every process of the run records the responses its client gets
(`Recorder`: status, headers, bytes; each body capped, each process capped), and when
any check failed the controller writes a self-contained bundle:

    DIR/responses/<process>.jsonl   one recorded response a line (body in base64)
    DIR/report.json                 the run's JSON report: verdicts, seed, options
    DIR/vkeys.txt                   the verifier keys the run used, one a line
    DIR/manifest.json               tool, version, time, and the SHA-256 of every file

Headers the user gave (`--tlog-header`) and credentials never enter a bundle: request
headers are not recorded, and response headers that carry credentials are dropped.
`tlogcheck evidence verify DIR` re-runs the verification from the bundle alone
(`tlogcheck.incident.proofs`). A passing run leaves nothing behind.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tlogcheck import __version__

if TYPE_CHECKING:
    from tlogcheck.client import Response

__all__ = [
    "MAX_BUNDLE",
    "MAX_RESPONSE",
    "Recorder",
    "finish",
    "write_responses",
]

MAX_RESPONSE = 256 * 1024  # body bytes kept of one response
MAX_BUNDLE = 32 * 2**20  # body bytes kept by one process
PENDING = ".pending"
# Response headers that may carry credentials: never kept.
_SECRET_HEADERS = frozenset({"set-cookie", "authorization", "proxy-authorization", "cookie"})


class Recorder:
    """Every response a client gets, bounded; thread-safe (the client maps in threads)."""

    def __init__(self, max_response: int = MAX_RESPONSE, max_total: int = MAX_BUNDLE) -> None:
        self.max_response = max_response
        self.max_total = max_total
        self._lock = threading.Lock()
        self._kept = 0
        self.records: list[dict[str, Any]] = []

    def __call__(self, response: Response) -> None:
        body = response.body
        with self._lock:
            room = max(0, min(self.max_response, self.max_total - self._kept))
            kept = body[:room]
            self._kept += len(kept)
            self.records.append(
                {
                    "view": response.view,
                    "url": response.url,
                    "path": response.path,
                    "status": response.status,
                    "headers": [
                        [k, v]
                        for k, v in response.headers.multi_items()
                        if k.lower() not in _SECRET_HEADERS
                    ],
                    "body_sha256": hashlib.sha256(body).hexdigest(),
                    "body_size": len(body),
                    "body": base64.b64encode(kept).decode("ascii"),
                    "truncated": len(kept) < len(body),
                    "at": time.time(),
                }
            )


def write_responses(directory: str, process: str, recorder: Recorder) -> None:
    """One process's responses, put aside until the controller knows the verdict."""
    pending = Path(directory) / PENDING
    pending.mkdir(parents=True, exist_ok=True)
    path = pending / f"{process}.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for record in recorder.records:
            out.write(json.dumps(record, separators=(",", ":")) + "\n")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def finish(
    directory: str, *, failed: bool, report: dict[str, Any], vkeys: list[str]
) -> Path | None:
    """Write the bundle when the run failed (and return its path); else leave nothing."""
    root = Path(directory)
    pending = root / PENDING
    if not failed:
        shutil.rmtree(pending, ignore_errors=True)
        if root.is_dir() and not any(root.iterdir()):
            root.rmdir()  # made for this run's responses: nothing to keep
        return None
    responses = root / "responses"
    if responses.exists():
        shutil.rmtree(responses)
    responses.mkdir(parents=True)
    for part in sorted(pending.glob("*.jsonl")) if pending.is_dir() else []:
        os.replace(part, responses / part.name)
    shutil.rmtree(pending, ignore_errors=True)
    (root / "report.json").write_text(
        json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8"
    )
    (root / "vkeys.txt").write_text("".join(f"{k}\n" for k in vkeys), encoding="utf-8")
    files = sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    )
    manifest = {
        "tool": "tlogcheck",
        "version": __version__,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": {name: _sha256(root / name) for name in files},
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return root
