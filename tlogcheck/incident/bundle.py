"""Evidence bundles on disk: what the target served, kept with a manifest of SHA-256s.

A bundle is a directory:

- `bundle.json`: format, tool version, target (URLs without credentials), options,
  verifier keys, verdicts, and one record per response (view, path, status, headers,
  its body file, whether the body was cut at the per-response cap, and why it was
  asked: the check and the purpose, `tlogcheck.client.purpose`);
- `responses/NNNN.body`: the bodies, byte for byte as served;
- `manifest.json`: the SHA-256 of every other file. A file missing, extra or changed
  makes the bundle unusable as evidence.

Bounded: a body is kept up to `max_response` bytes, the bundle up to `max_bundle` bytes
of bodies; what is dropped past the caps is counted in `bundle.json`, never silently.
Request headers are never recorded, and response headers that may carry credentials
(`Set-Cookie`, `Authorization`, ...) are redacted.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from tlogcheck import __version__
from tlogcheck.client import Purpose, Response
from tlogcheck.errors import FormatError

__all__ = [
    "FORMAT",
    "Bundle",
    "Recorder",
    "load_bundle",
    "redact_url",
    "write_bundle",
]

FORMAT = "tlogcheck-evidence/2"
# Bundles of the first format record no purposes: still read, their reads "unknown".
FORMATS = frozenset({"tlogcheck-evidence/1", FORMAT})
DEFAULT_MAX_RESPONSE = 1 * 2**20
DEFAULT_MAX_BUNDLE = 32 * 2**20
MAX_RESPONSES = 10_000
SECRET_HEADERS = frozenset(
    {"set-cookie", "cookie", "authorization", "proxy-authorization", "www-authenticate"}
)
REDACTED = "<redacted>"


def redact_url(url: str) -> str:
    """The URL without user:password and query (either may hold a token)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    if ":" in host:
        netloc = f"[{host}]:{parts.port}" if parts.port else f"[{host}]"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class Recorder:
    """Keeps the responses a `TLogClient` saw (its `recorder` hook), under the caps."""

    def __init__(
        self, *, max_response: int = DEFAULT_MAX_RESPONSE, max_bundle: int = DEFAULT_MAX_BUNDLE
    ) -> None:
        self.max_response = max_response
        self.max_bundle = max_bundle
        self._lock = threading.Lock()
        self._kept: list[tuple[Response, bool]] = []
        self._bytes = 0
        self.dropped = 0

    def __call__(self, response: Response) -> None:
        self.keep(response, truncated=False)

    def keep(self, response: Response, *, truncated: bool) -> None:
        """Keep a response (`truncated`: its body was already cut at a cap elsewhere)."""
        body = response.body[: self.max_response]
        with self._lock:
            if len(self._kept) >= MAX_RESPONSES or self._bytes + len(body) > self.max_bundle:
                self.dropped += 1
                return
            self._bytes += len(body)
            self._kept.append((response, truncated or len(body) < len(response.body)))

    @property
    def responses(self) -> list[tuple[Response, bool]]:
        with self._lock:
            return list(self._kept)


@dataclass(frozen=True)
class Bundle:
    """A bundle read back: its metadata and its responses (bodies as stored)."""

    path: Path
    meta: Mapping[str, Any]
    responses: tuple[Response, ...]
    # Bodies cut at the per-response cap: kept for reading, never verified (their hash
    # is not the served body's, so they would "prove" a failure that was not served).
    truncated: int = 0


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _headers(headers: httpx.Headers) -> list[list[str]]:
    return [[k, REDACTED if k.lower() in SECRET_HEADERS else v] for k, v in headers.multi_items()]


def write_bundle(
    directory: str | os.PathLike[str],
    recorder: Recorder,
    *,
    target: Mapping[str, Any],
    vkeys: Sequence[str],
    verdicts: Sequence[Mapping[str, Any]],
    options: Mapping[str, Any] | None = None,
) -> Path:
    """Write the recorded responses and verdicts as a bundle in `directory` (created)."""
    root = Path(directory)
    (root / "responses").mkdir(parents=True, exist_ok=True)
    records = []
    files: dict[str, str] = {}
    for n, (response, truncated) in enumerate(recorder.responses):
        name = f"responses/{n:04d}.body"
        body = response.body[: recorder.max_response]
        (root / name).write_bytes(body)
        files[name] = _sha256(body)
        records.append(
            {
                "view": response.view,
                "url": redact_url(response.url),
                "path": response.path,
                "status": response.status,
                "headers": _headers(response.headers),
                "body": name,
                "body_sha256": files[name],
                "truncated": truncated,
                "purpose": response.purpose.to_json() if response.purpose else None,
            }
        )
    meta = {
        "format": FORMAT,
        "tool_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "target": {k: redact_url(v) if k.endswith("url") and v else v for k, v in target.items()},
        "options": dict(options or {}),
        "vkeys": list(vkeys),
        "verdicts": list(verdicts),
        "responses": records,
        "dropped_responses": recorder.dropped,
        "caps": {"per_response": recorder.max_response, "per_bundle": recorder.max_bundle},
    }
    data = json.dumps(meta, indent=2, sort_keys=True).encode()
    (root / "bundle.json").write_bytes(data)
    files["bundle.json"] = _sha256(data)
    manifest = {"format": FORMAT, "files": dict(sorted(files.items()))}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return root


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise FormatError(f"{what} is missing: {path}") from None
    except (OSError, ValueError) as exc:
        raise FormatError(f"{what} {path} is not readable JSON: {exc}") from None


def _check_manifest(root: Path) -> dict[str, str]:
    manifest = _read_json(root / "manifest.json", "the manifest")
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(manifest, dict) or manifest.get("format") not in FORMATS:
        raise FormatError(f"{root}/manifest.json is not a {FORMAT} manifest")
    if not isinstance(files, dict) or "bundle.json" not in files:
        raise FormatError(f"{root}/manifest.json lists no bundle.json")
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {
        "manifest.json"
    }
    extra = sorted(present - set(files))
    if extra:
        raise FormatError(f"files not in the manifest: {', '.join(extra)}")
    for name, digest in files.items():
        path = root / name
        if ".." in Path(name).parts or not path.is_file():
            raise FormatError(f"{name}: listed in the manifest, missing from the bundle")
        actual = _sha256(path.read_bytes())
        if actual != digest:
            raise FormatError(
                f"{name}: sha256 {actual} but the manifest says {digest}: the bundle was altered"
            )
    return files


def load_bundle(directory: str | os.PathLike[str]) -> Bundle:
    """Read a bundle, its manifest checked first; FormatError naming what is wrong."""
    root = Path(directory)
    if not root.is_dir():
        raise FormatError(f"{root} is not a directory")
    files = _check_manifest(root)
    meta = _read_json(root / "bundle.json", "bundle.json")
    if not isinstance(meta, dict) or meta.get("format") not in FORMATS:
        raise FormatError(f"{root}/bundle.json is not a {FORMAT} bundle")
    responses = []
    records = meta.get("responses")
    if not isinstance(records, list):
        raise FormatError("bundle.json: `responses` is not a list")
    truncated = 0
    for n, rec in enumerate(records):
        try:
            if rec.get("truncated"):
                truncated += 1
                continue
            name = str(rec["body"])
            if name not in files:
                raise FormatError(f"response {n}: body {name} is not in the manifest")
            responses.append(
                Response(
                    url=str(rec["url"]),
                    path=str(rec["path"]),
                    view=str(rec["view"]),
                    status=int(rec["status"]),
                    headers=httpx.Headers([(str(k), str(v)) for k, v in rec["headers"]]),
                    body=(root / name).read_bytes(),
                    elapsed=0.0,
                    purpose=Purpose.from_json(rec.get("purpose")),
                )
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"bundle.json: response {n} is malformed: {exc!r}") from None
    return Bundle(root, meta, tuple(responses), truncated)
