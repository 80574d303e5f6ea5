"""A tiled log as a static file server would serve it: bytes by path, nothing else.

A test fixture (the reference deployment is `tlogcheck.refstack`): what a bucket or a
plain web server in front of a Tessera log answers — 200 with the file, 404 otherwise,
no ETag, no cache-status header, no /healthz. `cache="rules"` adds Cache-Control as a
well-configured CDN origin would (full tiles immutable, the rest short); `cache=None`
sends none.
"""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tlogcheck import tiles

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=30"


def files_of(directory: Path, checkpoint: str) -> dict[str, bytes]:
    """Every file under `directory` by its relative path; `checkpoint` served as such."""
    files = {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }
    files["checkpoint"] = files[checkpoint]
    return files


class StaticTiles:
    """`files` (kept, not copied: a test may change them while serving) under `prefix`;
    `gzip = True` sends every body gzipped, asked or not; `paths` records what was asked."""

    def __init__(
        self, files: dict[str, bytes], *, prefix: str = "", cache: str | None = "rules"
    ) -> None:
        self.files = files
        self.prefix = prefix
        self.cache = cache
        self.gzip = False
        self.paths: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 -- http.server's name
                path = self.path.split("?", 1)[0].removeprefix(owner.prefix).lstrip("/")
                owner.paths.append(path)
                body = owner.files.get(path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                if owner.gzip:
                    body = gzip.compress(body)
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(body)))
                if owner.cache == "rules":
                    parsed = tiles.parse_tile_path(path)
                    full = parsed is not None and parsed.full
                    self.send_header("Cache-Control", IMMUTABLE if full else SHORT)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.prefix}"

    def __enter__(self) -> StaticTiles:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
