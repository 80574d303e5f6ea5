"""nginx as the edge: render `ci/edge/nginx.conf` and run it as a child process.

`NginxEdge(upstreams).start()` writes the rendered config into a work directory, checks
it with `nginx -t`, runs `nginx -p WORKDIR -c nginx.conf -g 'daemon off;'` in its own
process group, and returns once the port accepts connections; `stop()` asks nginx to
quit, waits, and kills the group only if it has to.

nginx is the edge users can put in front of a staging origin, so it is what CI runs the
conformance module against. It sends no `Age` and cannot misbehave on demand: the
edge-side faults (`stale-edge-root`, `edge-lag`, `split-view`, `cache-always-miss`) exist
only in the builtin edge; origin-side faults reach nginx like any CDN.

    python -m tlogcheck.refstack.nginx --origin http://origin:8080 --listen 127.0.0.1:8081 \
        --workdir /var/tmp/tlog-edge            # prints the config
    ... --run                                   # and runs it in the foreground
"""

from __future__ import annotations

import argparse
import contextlib
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from tlogcheck.errors import ConfigError
from tlogcheck.refstack.server import free_port, log_tail
from tlogcheck.refstack.upstream import Upstream, canary_step, canary_weight_of

__all__ = ["NginxEdge", "nginx_available", "render", "template_path"]

PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
SEARCH_PATH = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")


def nginx_available() -> str | None:
    """The path of an nginx binary, or None when this machine has none."""
    found = shutil.which("nginx")
    if found:
        return found
    return next((p for p in SEARCH_PATH if os.access(p, os.X_OK)), None)


def template_path() -> Path:
    """The edge template, shipped in the package; `ci/edge/nginx.conf` links to it so users
    and tests read the same file."""
    path = Path(__file__).resolve().parent / "nginx.conf"
    if not path.is_file():
        raise ConfigError(f"nginx template not found at {path} (a broken installation)")
    return path


def _server_lines(upstreams: Sequence[Upstream]) -> tuple[str, str, str, str]:
    """(`server` lines, scheme, Host, TLS server name) for the upstream block; nginx
    takes no weight 0, so a server at 0 % is left out."""
    schemes = {urlsplit(u.url).scheme for u in upstreams}
    if len(schemes) != 1:
        raise ConfigError("nginx needs all upstreams on one scheme (http or https)")
    scheme = schemes.pop()
    lines = []
    for upstream in upstreams:
        parts = urlsplit(upstream.url)
        if parts.path not in ("", "/") or parts.query or not parts.hostname:
            raise ConfigError(f"nginx upstream {upstream.url!r} must be scheme://host[:port]")
        port = parts.port or (443 if scheme == "https" else 80)
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        if upstream.weight > 0:
            lines.append(f"        server {host}:{port} weight={upstream.weight};")
    if not lines:
        raise ConfigError("nginx needs at least one upstream with a positive weight")
    first = urlsplit(upstreams[0].url)
    return "\n".join(lines), scheme, first.netloc, first.hostname or ""


def _reachable_by_others(path: Path) -> bool:
    """Whether a user who is neither owner nor group can get to `path` (o+x all the way)."""
    for directory in [path, *path.parents]:
        try:
            if not directory.stat().st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def _worker_user(workdir: str) -> str | None:
    """The `user` directive's value when nginx starts as root, else None (it is ignored).

    nginx creates its cache and temp directories and hands them to this user, who only
    has to reach the work directory: `nobody` when it can, else the directory's owner
    (a work directory inside a private one, e.g. a 0700 temp dir)."""
    if os.geteuid() != 0:
        return None
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        nobody = None
    if nobody is not None and _reachable_by_others(Path(workdir)):
        return f"{nobody.pw_name} {grp.getgrgid(nobody.pw_gid).gr_name}"
    try:
        owner = os.stat(workdir).st_uid
    except OSError:
        owner = os.geteuid()
    entry = pwd.getpwuid(owner)
    return f"{entry.pw_name} {grp.getgrgid(entry.pw_gid).gr_name}"


def render(
    upstreams: Sequence[Upstream],
    *,
    listen: str,
    workdir: str,
    cache_dir: str | None = None,
    worker_processes: str = "auto",
    template: str | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    origin_ca: str | None = None,
) -> str:
    """The config for these upstreams, listening on `listen` ("host:port"); HTTPS with
    `tls_cert` / `tls_key`, verifying an https origin against `origin_ca`."""
    text = template if template is not None else template_path().read_text()
    servers, scheme, origin_host, server_name = _server_lines(upstreams)
    user = _worker_user(workdir)
    values = {
        "user": user or "nobody",
        "worker_processes": worker_processes,
        "workdir": workdir,
        "cache_dir": cache_dir or f"{workdir}/cache",
        "upstream_servers": servers,
        "origin_scheme": scheme,
        "origin_host": origin_host,
        "origin_server_name": server_name,
        "listen": f"{listen} ssl" if tls_cert else listen,
        "tls_server": (
            f"        ssl_certificate {tls_cert};\n        ssl_certificate_key {tls_key};"
            if tls_cert
            else ""
        ),
        "origin_tls": (
            f"            proxy_ssl_verify on;\n"
            f"            proxy_ssl_trusted_certificate {origin_ca};"
            if origin_ca
            else ""
        ),
    }
    if user is None:
        # Not root: nginx keeps our uid and would only warn about the directive.
        text = re.sub(r"(?m)^user \{\{user\}\};$", "# user: nginx does not start as root", text)

    def fill(match: re.Match[str]) -> str:
        try:
            return values[match.group(1)]
        except KeyError:
            raise ConfigError(
                f"nginx template has an unknown placeholder {match.group(0)}"
            ) from None

    # Comments keep their placeholders: they are the template's own documentation.
    return "".join(
        line if line.lstrip().startswith("#") else PLACEHOLDER.sub(fill, line)
        for line in text.splitlines(keepends=True)
    )


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def _children(pid: int) -> set[int]:
    """Pids whose parent is `pid` (nginx's workers), read from /proc."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields start after the last ")".
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


class NginxEdge:
    """nginx in front of `upstreams`, on 127.0.0.1 (a free port unless `port` is given)."""

    def __init__(
        self,
        upstreams: Sequence[Upstream],
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        workdir: str | None = None,
        worker_processes: str = "1",
        nginx: str | None = None,
        start_timeout: float = 10.0,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        origin_ca: str | None = None,
    ) -> None:
        binary = nginx or nginx_available()
        if binary is None:
            raise ConfigError("nginx is not installed (apt-get install nginx)")
        self.binary = binary
        self.upstreams = tuple(upstreams)
        self.host = host
        self.port = port
        self.worker_processes = worker_processes
        self.start_timeout = start_timeout
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="tlogcheck-nginx-"))
        self._process: subprocess.Popen[bytes] | None = None
        self.tls_cert, self.tls_key, self.origin_ca = tls_cert, tls_key, origin_ca

    @property
    def url(self) -> str:
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def conf_path(self) -> Path:
        return self.workdir / "nginx.conf"

    @property
    def error_log(self) -> Path:
        return self.workdir / "error.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def child_pids(self) -> set[int]:
        return _children(self._process.pid) if self._process is not None else set()

    def _args(self, *extra: str) -> list[str]:
        return [
            self.binary,
            "-p",
            str(self.workdir),
            "-c",
            str(self.conf_path),
            "-e",
            str(self.error_log),
            *extra,
        ]

    def _write_config(self) -> None:
        text = render(
            self.upstreams,
            listen=f"{self.host}:{self.port}",
            workdir=str(self.workdir),
            worker_processes=self.worker_processes,
            tls_cert=self.tls_cert,
            tls_key=self.tls_key,
            origin_ca=self.origin_ca,
        )
        self.conf_path.write_text(text)
        # nginx makes only the last component of a temp path; their parent is ours.
        (self.workdir / "tmp").mkdir(mode=0o755, exist_ok=True)

    def check_config(self) -> str:
        """`nginx -t` on the rendered config: its output, or ConfigError with it."""
        self._write_config()
        done = subprocess.run(self._args("-t"), capture_output=True, timeout=30, check=False)
        output = (done.stdout + done.stderr).decode(errors="replace")
        if done.returncode != 0:
            raise ConfigError(f"nginx -t rejected {self.conf_path}:\n{output}")
        return output

    def start(self) -> NginxEdge:
        if self._process is not None:
            raise ConfigError("nginx edge already started")
        if self._own_workdir:
            # Workers run as nobody when we are root: they must reach the workdir.
            self.workdir.chmod(0o755)
        if self.port == 0:
            self.port = free_port(self.host)
        try:
            self.check_config()
        except BaseException:
            self.stop()  # removes a work directory of our own
            raise
        stderr = (self.workdir / "stderr.log").open("wb")
        with stderr:
            self._process = subprocess.Popen(
                self._args("-g", "daemon off;"),
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.start_timeout
        # The master listens before it forks its workers: ready means both.
        while not (_accepts(self.host, self.port) and self.child_pids()):
            if self._process.poll() is not None or time.monotonic() > deadline:
                why = log_tail(self.error_log, 20) or log_tail(self.workdir / "stderr.log", 20)
                self.stop()
                raise ConfigError(f"nginx did not start on {self.url}:\n{why}")
            time.sleep(0.02)
        return self

    def reload(self) -> None:
        """Re-render the config and reload it: new workers take over, the old ones quit."""
        process = self._process
        if process is None:
            self._write_config()
            return
        old = self.child_pids()
        self.check_config()
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + self.start_timeout
        # Done when the old workers have gone and new ones listen.
        while time.monotonic() < deadline:
            now = self.child_pids()
            if now and not (now & old):
                return
            time.sleep(0.02)
        raise ConfigError(f"nginx did not reload within {self.start_timeout} s")

    @property
    def canary_weight(self) -> int:
        return canary_weight_of(self.upstreams)

    def set_canary_weight(self, weight: int) -> None:
        """Move the canary step: re-render the upstream weights and reload."""
        self.upstreams = canary_step(self.upstreams, weight)
        self.reload()

    def purge(self, prefix: str = "") -> int:
        """Delete cached files whose request URI starts with `prefix`; nginx then misses."""
        cache = self.workdir / "cache"
        if not cache.is_dir():
            return 0
        removed = 0
        for path in cache.rglob("*"):
            if not path.is_file():
                continue
            try:
                with path.open("rb") as cached:
                    head = cached.read(4096)
            except OSError:
                continue
            key = head.partition(b"\nKEY: ")[2].partition(b"\n")[0].decode(errors="replace")
            # The key is $scheme$proxy_host$request_uri: the URI starts at the first "/".
            uri = key[key.find("/") :] if "/" in key else ""
            if uri.startswith(prefix or "/"):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed += 1
        return removed

    def stop(self) -> None:
        """Graceful quit; after 5 s a fast stop, after 3 more the whole group is killed."""
        process, self._process = self._process, None
        if process is not None:
            workers = _children(process.pid)
            for sig, wait in ((signal.SIGQUIT, 5.0), (signal.SIGTERM, 3.0)):
                if process.poll() is not None:
                    break
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=wait)
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
            for pid in workers:
                # Workers quit with their master; this only catches one that did not.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> NginxEdge:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tlogcheck.refstack.nginx",
        description="Render ci/edge/nginx.conf for an origin (and a canary); optionally run it.",
    )
    parser.add_argument("--origin", required=True, help="origin URL, e.g. http://origin:8080")
    parser.add_argument("--canary", help="canary origin URL")
    parser.add_argument("--canary-weight", type=int, default=0, help="percent to the canary")
    parser.add_argument("--listen", default="127.0.0.1:8081", help="address:port to listen on")
    parser.add_argument("--workdir", required=True, help="pid file, logs, temp files, cache")
    parser.add_argument("--worker-processes", default="auto")
    parser.add_argument("--run", action="store_true", help="run nginx in the foreground")
    args = parser.parse_args(argv)
    upstreams = [Upstream(args.origin, 100 - args.canary_weight if args.canary else 100)]
    if args.canary:
        upstreams.append(Upstream(args.canary, args.canary_weight))
    os.makedirs(args.workdir, exist_ok=True)
    text = render(
        upstreams,
        listen=args.listen,
        workdir=os.path.abspath(args.workdir),
        worker_processes=args.worker_processes,
    )
    if not args.run:
        sys.stdout.write(text)
        return 0
    conf = Path(args.workdir, "nginx.conf")
    conf.write_text(text)
    binary = nginx_available()
    if binary is None:
        raise ConfigError("nginx is not installed")
    os.execv(
        binary,
        [binary, "-p", str(conf.parent.resolve()), "-c", str(conf.resolve()), "-g", "daemon off;"],
    )


if __name__ == "__main__":
    sys.exit(main())
