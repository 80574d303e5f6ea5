"""Real caching software as the CDN edge in front of the reference deployment's origin.

The reference deployment's own edges (the builtin one and nginx) are the project's; a
production CDN is somebody else's software, configured by an operator. This package puts
the reference ORIGIN behind the caches operators actually run, each configured the way an
operator configures it as a CDN edge for this API (docs/edge.md, the spec's "The edge"):

- cache `200`s as the origin's `Cache-Control` says (short root/checkpoint, immutable
  entries and pinned proofs); never store `no-store` answers or errors;
- `X-Bypass: 1` (any value but empty or `0`, as the nginx edge reads it) goes to the
  origin, neither looked up nor stored;
- ETag, Cache-Control, X-TLog-Release and Content-Type passed through;
- the software's own cache signals, nothing invented: Apache Traffic Server's `Via`
  cache codes and `Age` (and, in one configuration, the `X-Cache` header operators add
  with header_rewrite's `%{CACHE}`), Squid's `X-Cache` / `X-Cache-Lookup` / `Via` /
  `Age`, HAProxy's `Age` (and, in one configuration, the `X-Cache-Status` operators add
  from `res.cache_hit`).

Each edge is a small class like `tlogcheck.refstack.nginx.NginxEdge`: `available()` (the
binary's path, or None: tests skip with `missing_reason()`), `start(origin_url)` -> the
edge's URL on 127.0.0.1, `stop()`, a context manager. Each runs as a child process in
its own session with its config, logs, pid file and cache under a temporary work
directory; `stop()` sends SIGTERM, then SIGKILL to the whole process group.

`pin_short_paths=SECONDS` is the misconfiguration the stale-root tests need: the cache
keeps `/v1/log/root` and `/v1/log/checkpoint` that long whatever the origin's max-age
says (ATS `cache.config` ttl-in-cache, Squid `refresh_pattern ... override-expire`,
HAProxy a CDN-only `s-maxage` added to the origin's Cache-Control).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

__all__ = ["CacheEdge", "EdgeError", "free_port", "log_tail"]

LOOPBACK = "127.0.0.1"
# The short paths of the spec's Cache-Control table a pinning operator keeps too long.
SHORT_PATHS = ("/v1/log/root", "/v1/log/checkpoint")


class EdgeError(RuntimeError):
    """A real cache could not be configured or started (the message has its log tail)."""


def free_port(host: str = LOOPBACK) -> int:
    """A port that was free a moment ago (the child binds it itself)."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def origin_hostport(origin_url: str) -> tuple[str, int]:
    """(host, port) of an http origin URL `http://host:port` (no path)."""
    parts = urlsplit(origin_url)
    if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
        raise EdgeError(f"origin must be http://host:port, got {origin_url!r}")
    return parts.hostname, parts.port or 80


class CacheEdge:
    """One real cache on 127.0.0.1 in front of one origin. Subclasses say how to find the
    binary, write the config, run it and tell that it is ready."""

    software = ""  # e.g. "Apache Traffic Server"
    binaries: tuple[str, ...] = ()  # names or absolute paths, the first found is used
    install = ""  # e.g. "apt-get install trafficserver"
    kind = ""  # a short id for test names: ats, squid, haproxy, ...

    def __init__(
        self,
        origin_url: str | None = None,
        *,
        port: int = 0,
        host: str = LOOPBACK,
        workdir: str | None = None,
        pin_short_paths: int | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        binary = self.available()
        if binary is None:
            raise EdgeError(self.missing_reason() or f"{self.software} is not installed")
        self.binary = binary
        self.origin_url = origin_url
        self.host = host
        self.port = port
        self.pin_short_paths = pin_short_paths
        self.start_timeout = start_timeout
        self._own_workdir = workdir is None
        self._workdir_arg = workdir
        self.workdir = Path(workdir) if workdir else Path()
        self._process: subprocess.Popen[bytes] | None = None

    # -- what the software is --------------------------------------------------------

    @classmethod
    def available(cls) -> str | None:
        """The path of the binary, or None when this machine does not have it."""
        for name in cls.binaries:
            if os.path.isabs(name):
                if os.access(name, os.X_OK):
                    return name
                continue
            found = shutil.which(name) or next(
                (
                    f"{d}/{name}"
                    for d in ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin")
                    if os.access(f"{d}/{name}", os.X_OK)
                ),
                None,
            )
            if found:
                return found
        return None

    @classmethod
    def missing_reason(cls) -> str | None:
        """Why the edge cannot run here (a skip reason), or None when it can."""
        if cls.available() is None:
            return f"{cls.software} is not installed ({cls.install})"
        return None

    # How the software says its version: the arguments, and where the number stands.
    version_args: tuple[str, ...] = ("-v",)
    version_pattern = r"[Vv]ersion (\S+)"

    @classmethod
    def version(cls) -> str:
        binary = cls.available()
        if binary is None:
            return ""
        done = subprocess.run(
            [binary, *cls.version_args], capture_output=True, timeout=30, check=False
        )
        text = (done.stdout + done.stderr).decode(errors="replace")
        found = re.search(cls.version_pattern, text)
        return found.group(1) if found else text.strip()[:80]

    # -- what subclasses provide -----------------------------------------------------

    def write_config(self, origin_host: str, origin_port: int) -> None:
        raise NotImplementedError

    def command(self) -> list[str]:
        raise NotImplementedError

    def check_config(self) -> None:
        """Validate the written config with the software's own checker (if it has one)."""

    def ready(self) -> bool:
        """Whether the edge serves (called once the port accepts)."""
        return True

    def log_files(self) -> Sequence[Path]:
        return [self.workdir / "console.log"]

    # -- running it ------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _run_checked(self, argv: list[str], what: str) -> str:
        done = subprocess.run(argv, capture_output=True, timeout=60, check=False)
        output = (done.stdout + done.stderr).decode(errors="replace")
        if done.returncode != 0:
            raise EdgeError(f"{what} rejected the config in {self.workdir}:\n{output[-3000:]}")
        return output

    def _why(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{tail}" for path in self.log_files() if (tail := log_tail(path))
        )

    def start(self, origin_url: str | None = None) -> str:
        """Write the config, start the software, wait until it serves; the edge's URL."""
        if self._process is not None:
            raise EdgeError(f"{self.software} edge already started")
        origin_url = origin_url or self.origin_url
        if origin_url is None:
            raise EdgeError("start(origin_url): no origin given")
        self.origin_url = origin_url
        origin_host, origin_port = origin_hostport(origin_url)
        if self._own_workdir:
            self.workdir = Path(tempfile.mkdtemp(prefix=f"tlogcheck-{self.kind}-"))
        else:
            self.workdir.mkdir(parents=True, exist_ok=True)
        # Daemons that drop root (Squid) must reach the directory.
        self.workdir.chmod(0o755)
        if self.port == 0:
            self.port = free_port(self.host)
        try:
            self.write_config(origin_host, origin_port)
            self.check_config()
            console = (self.workdir / "console.log").open("ab")
            with console:
                self._process = subprocess.Popen(
                    self.command(),
                    stdin=subprocess.DEVNULL,
                    stdout=console,
                    stderr=console,
                    start_new_session=True,
                    cwd=self.workdir,
                )
            deadline = time.monotonic() + self.start_timeout
            while not (_accepts(self.host, self.port) and self.ready()):
                if self._process.poll() is not None or time.monotonic() > deadline:
                    why = self._why()
                    raise EdgeError(
                        f"{self.software} did not start on {self.url} "
                        f"(exit {self._process.poll()}):\n{why}"
                    )
                time.sleep(0.05)
        except BaseException:
            self.stop()
            raise
        return self.url

    def stop(self) -> None:
        """SIGTERM to the process, after 5 s SIGKILL to its group; the work dir removed."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=5)
            # Helpers (ATS's crash logger, Squid's) live in the same session and group.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        if self._own_workdir and self.workdir != Path() and self.workdir.is_dir():
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> CacheEdge:
        if self._process is None and self.origin_url is not None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url} -> {self.origin_url}>"


def unprivileged_user() -> tuple[int, int, str] | None:
    """(uid, gid, name) a daemon that refuses root should run as, or None when not root."""
    if os.geteuid() != 0:
        return None
    for name in ("proxy", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid, entry.pw_name
    raise EdgeError("running as root and neither 'proxy' nor 'nobody' exists")


def chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            with contextlib.suppress(FileNotFoundError):
                os.chown(os.path.join(root, name), uid, gid)
