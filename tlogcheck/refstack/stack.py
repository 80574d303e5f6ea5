"""The whole reference deployment: data, origin(s), edge, admin; started and stopped as one.

`Stack` builds it in this process (demo data or a given db.jsonl, the stable `Log`,
an optional canary `Log` with more entries and its own release, the edge's older and
forked views for the edge faults) and serves it on loopback in one asyncio loop.
`tlogcheck serve` runs a `Stack` in the main thread; `start_stack` runs one either in a
background thread of this process or as a `tlogcheck serve` subprocess, and hands
back a `RunningStack` whose `info` says where everything is.

    with start_stack(entries=4096, faults=["wrong-root"]) as stack:
        httpx.get(stack.info.edge_url + "/v1/log/root")
        stack.set_faults([])            # through the admin endpoint
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess as _subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from tlogcheck.errors import ConfigError
from tlogcheck.refstack import certs, data
from tlogcheck.refstack.admin import Admin
from tlogcheck.refstack.edge import Edge
from tlogcheck.refstack.faults import FAULTS, FaultSet, parse_spec
from tlogcheck.refstack.log import DEFAULT_ORIGIN_NAME, DEFAULT_SHORT_MAX_AGE, Log
from tlogcheck.refstack.nginx import NginxEdge
from tlogcheck.refstack.origin import Origin
from tlogcheck.refstack.server import (
    ASGIApp,
    BackgroundServers,
    Listener,
    ServerGroup,
    free_port,
    log_tail,
)
from tlogcheck.refstack.stall import RequireHeader, Stalling
from tlogcheck.refstack.upstream import Upstream
from tlogcheck.refstack.variant import GzipVariant
from tlogcheck.spec import parse_header

__all__ = [
    "EDGE_KINDS",
    "RunningStack",
    "Stack",
    "StackConfig",
    "StackInfo",
    "start_stack",
]

EDGE_KINDS = ("builtin", "nginx")
EDGE_FAULTS = frozenset(name for name, doc in FAULTS.items() if doc.side == "edge")
# How long a subprocess stack gets to write its ready file: data generation and the
# tree build of a million entries take a few seconds; a slow CI machine more.
READY_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0


@dataclass
class StackInfo:
    """Where a running stack is and what it serves (the `--ready-file` JSON)."""

    edge_url: str
    origin_url: str
    canary_origin_url: str | None
    admin_url: str
    vkey: str
    db_path: str
    db_sha256_path: str
    release: str
    canary_release: str | None
    tree_size: int
    canary_tree_size: int | None
    edge_kind: str
    canary_weight: int = 0
    canary_db_path: str | None = None
    canary_db_sha256_path: str | None = None
    vkey_path: str = ""
    data_dir: str = ""
    origin_name: str = DEFAULT_ORIGIN_NAME
    faults: list[str] = field(default_factory=list)
    pid: int = 0
    edge_pid: int | None = None  # the nginx master, when the edge is nginx
    ca_path: str | None = None  # with --tls: the CA that signed every listener's certificate
    require_header: str | None = None  # with --require-header: its name (never the value)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> StackInfo:
        raw = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})


@dataclass
class StackConfig:
    """What to run; the options of `tlogcheck serve` one for one."""

    entries: int = 2048
    db: str | None = None
    signer_key: str | None = None  # path to a signer key file (with `db`)
    release: str = "v1.0.0"
    faults: tuple[str, ...] = ()
    canary_entries: int | None = None  # the canary's total tree size (> the stable's)
    canary_weight: int = 0
    canary_release: str = "v1.1.0"
    edge: str = "builtin"
    data_dir: str | None = None  # None: a temporary directory, removed at stop
    port: int = 0  # the edge's
    origin_port: int = 0
    canary_port: int = 0
    admin_port: int = 0
    origin_name: str = DEFAULT_ORIGIN_NAME
    tls: bool = False  # origin(s) and edge over HTTPS, with a CA made at start
    require_header: str | None = None  # "Name: value" every request must carry (else 401)
    short_max_age: int = DEFAULT_SHORT_MAX_AGE  # root, checkpoint, latest proofs

    def check(self) -> None:
        """ConfigError for what cannot run; the tree sizes of a given db are checked on load."""
        if self.db is None and self.entries < 1:
            raise ConfigError(f"--entries must be at least 1, got {self.entries}")
        if self.signer_key is not None and self.db is None:
            raise ConfigError("--signer-key goes with --db (demo data has its own key)")
        if self.require_header is not None:
            try:
                parse_header(self.require_header)
            except ValueError as exc:
                raise ConfigError(f"--require-header: {exc}") from None
        if not 1 <= self.short_max_age <= 300:
            raise ConfigError(
                f"--short-max-age must be within 1..300 (the spec's short paths), got "
                f"{self.short_max_age}"
            )
        if self.edge not in EDGE_KINDS:
            raise ConfigError(f"--edge must be one of {', '.join(EDGE_KINDS)}, got {self.edge!r}")
        if not 0 <= self.canary_weight <= 100:
            raise ConfigError(f"--canary-weight must be within 0..100, got {self.canary_weight}")
        if self.canary_weight and self.canary_entries is None:
            raise ConfigError("--canary-weight needs --canary-entries")
        if self.canary_entries is not None and self.canary_release == self.release:
            raise ConfigError(f"the canary needs its own release id, not {self.release!r}")
        names = [parse_spec(spec)[0] for spec in self.faults]
        if self.edge == "nginx":
            bad = sorted(set(names) & EDGE_FAULTS)
            if bad:
                raise ConfigError(
                    f"the nginx edge cannot show edge-side faults ({', '.join(bad)}): "
                    "use --edge builtin"
                )
        for name, port in (
            ("--port", self.port),
            ("--origin-port", self.origin_port),
            ("--canary-port", self.canary_port),
            ("--admin-port", self.admin_port),
        ):
            if not 0 <= port <= 65535:
                raise ConfigError(f"{name} must be within 0..65535, got {port}")

    def argv(self) -> list[str]:
        """The `tlogcheck serve` arguments that run this configuration."""
        args = ["--release", self.release, "--edge", self.edge]
        if self.db is not None:
            args += ["--db", self.db]
            if self.signer_key is not None:
                args += ["--signer-key", self.signer_key]
        else:
            args += ["--entries", str(self.entries)]
        for spec in self.faults:
            args += ["--fault", spec]
        if self.canary_entries is not None:
            args += [
                "--canary-entries",
                str(self.canary_entries),
                "--canary-weight",
                str(self.canary_weight),
                "--canary-release",
                self.canary_release,
            ]
        if self.data_dir is not None:
            args += ["--data-dir", self.data_dir]
        args += ["--port", str(self.port), "--origin-port", str(self.origin_port)]
        args += ["--canary-port", str(self.canary_port), "--admin-port", str(self.admin_port)]
        args += ["--origin-name", self.origin_name]
        if self.tls:
            args.append("--tls")
        if self.require_header is not None:
            args += ["--require-header", self.require_header]
        if self.short_max_age != DEFAULT_SHORT_MAX_AGE:
            args += ["--short-max-age", str(self.short_max_age)]
        return args


class Stack:
    """One reference deployment in this process: built at construction (data, logs,
    bound sockets), served by `run_until`, its temporary data removed by `cleanup`."""

    def __init__(self, config: StackConfig) -> None:
        config.check()
        self.config = config
        self.faults = FaultSet(config.faults)
        self._temp_dir: str | None = None
        if config.data_dir is None:
            self._temp_dir = tempfile.mkdtemp(prefix="tlogcheck-serve-")
        self.data_dir = Path(config.data_dir or str(self._temp_dir))
        self.nginx: NginxEdge | None = None
        self.info: StackInfo | None = None
        try:
            self._build()
        except BaseException:
            self.cleanup()
            raise

    def _build(self) -> None:
        cfg = self.config
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if cfg.db is None:
            demo = data.write_demo_data(self.data_dir, cfg.entries, key_name=cfg.origin_name)
            db_path, sha_path = demo.db_path, demo.sha256_path
            signer_key, vkey, vkey_path = demo.signer_key, demo.vkey, demo.vkey_path
        else:
            db_path = Path(cfg.db).resolve()
            sha_path = db_path.with_name(db_path.name + ".sha256")
            if cfg.signer_key is not None:
                try:
                    signer_key = Path(cfg.signer_key).read_text(encoding="ascii").strip()
                except (OSError, UnicodeDecodeError) as exc:
                    raise ConfigError(f"--signer-key {cfg.signer_key}: {exc}") from None
                vkey = data.verifier_for(signer_key)
                vkey_path = self.data_dir / "verifier.vkey"
                vkey_path.write_text(vkey + "\n", encoding="ascii")
            else:
                signer_key, vkey = data.demo_signer(cfg.origin_name)
                _, vkey_path = data.write_key_files(self.data_dir, signer_key, vkey)
        entries, leaves = data.load_db(db_path)
        if not entries:
            raise ConfigError(f"{db_path}: the log is empty; the API needs at least one entry")
        self.stable = Log.from_leaves(
            entries, leaves, cfg.release, signer_key, cfg.origin_name,
            short_max_age=cfg.short_max_age,
        ).warm()  # fmt: skip
        del leaves
        n = self.stable.size
        self.canary: Log | None = None
        canary_db: Path | None = None
        if cfg.canary_entries is not None:
            m = cfg.canary_entries
            if m <= n:
                raise ConfigError(
                    f"--canary-entries is the canary's tree size and must exceed the stable "
                    f"one ({n}), got {m}"
                )
            extra = list(data.demo_entries(n, m))
            (self.data_dir / "canary").mkdir(exist_ok=True)
            canary_db = self.data_dir / "canary" / "db.jsonl"
            data.append_db(db_path, canary_db, extra)
            self.canary = self.stable.extended(extra, release=cfg.canary_release).warm()

        self.ca_path: str | None = None
        self._tls_files: tuple[str, str] | None = None
        if cfg.tls:
            tls_dir = self.data_dir / "tls"
            ca = certs.make_ca(tls_dir)
            leaf = ca.issue(tls_dir)
            self.ca_path = str(ca.path)
            self._tls_files = (str(leaf.cert), str(leaf.key))
        group = ServerGroup([])
        self.group = group
        try:
            self._listen(group)
        except BaseException:
            group.close()
            raise
        self.info = StackInfo(
            edge_url=self.edge_url,
            origin_url=group.urls["origin"],
            canary_origin_url=group.urls.get("canary"),
            admin_url=group.urls["admin"],
            vkey=vkey,
            db_path=str(db_path),
            db_sha256_path=str(sha_path),
            release=cfg.release,
            canary_release=cfg.canary_release if self.canary is not None else None,
            tree_size=n,
            canary_tree_size=self.canary.size if self.canary is not None else None,
            edge_kind=cfg.edge,
            canary_weight=cfg.canary_weight if self.canary is not None else 0,
            canary_db_path=str(canary_db) if canary_db is not None else None,
            canary_db_sha256_path=str(canary_db) + ".sha256" if canary_db is not None else None,
            vkey_path=str(vkey_path),
            data_dir=str(self.data_dir),
            origin_name=cfg.origin_name,
            faults=self.faults.specs(),
            ca_path=self.ca_path,
            require_header=(cfg.require_header or "").partition(":")[0].strip() or None,
            pid=os.getpid(),
        )

    def _listen(self, group: ServerGroup) -> None:
        cfg = self.config
        stable, canary = self.stable, self.canary
        # The release faults (history-rewrite, truncated) hit the release under test:
        # the canary when there is one.
        origin = Origin(stable, self.faults, release_faults=canary is None)
        tls_files = self._tls_files or (None, None)
        # hang:PATH / trickle:PATH stall at the builtin edge for both views, and at an
        # origin asked directly (or through nginx); the builtin edge's own fetches pass.
        # The same for --require-header: the edge's own fetches carry no client header.
        from_edge = b"tlogcheck-edge"

        def front(app: ASGIApp, skip: bytes | None) -> ASGIApp:
            app = Stalling(app, self.faults, skip_agent=skip)
            if cfg.require_header is not None:
                name, value = parse_header(cfg.require_header)
                app = RequireHeader(app, name, value, skip_agent=skip)
            return app

        cert, key = tls_files
        origin_app = front(origin, from_edge)
        upstreams = [
            group.add(
                Listener("origin", origin_app, cfg.origin_port, ssl_certfile=cert, ssl_keyfile=key)
            )
        ]
        if canary is not None:
            canary_app = front(Origin(canary, self.faults), from_edge)
            upstreams.append(
                group.add(
                    Listener(
                        "canary", canary_app, cfg.canary_port, ssl_certfile=cert, ssl_keyfile=key
                    )
                )
            )
        weights = [100 - cfg.canary_weight, cfg.canary_weight] if canary is not None else [100]
        ups = [Upstream(url, w) for url, w in zip(upstreams, weights, strict=True)]
        edge_control: Any
        if cfg.edge == "builtin":
            n = stable.size
            # An older tree an eighth back, and a same-size tree forked in the middle.
            lagging = stable.prefix(max(1, n - max(1, n // 8))) if n > 1 else None
            edge = Edge(
                ups,
                faults=self.faults,
                lagging=lagging,
                split=stable.forked(n // 2),
                current=stable,
                ca_file=self.ca_path,
            )
            self.edge_url = group.add(
                Listener(
                    "edge",
                    front(GzipVariant(edge, self.faults), None),
                    cfg.port,
                    lifespan=True,
                    ssl_certfile=cert,
                    ssl_keyfile=key,
                )
            )
            edge_control = edge
            unsupported: frozenset[str] = frozenset()
        else:
            # Its own work dir: nginx workers (nobody, when we are root) must reach it,
            # and a temporary data dir is private to us.
            self.nginx = NginxEdge(
                ups, port=cfg.port, tls_cert=cert, tls_key=key, origin_ca=self.ca_path
            )
            if self.nginx.port == 0:
                self.nginx.port = free_port()
            self.edge_url = self.nginx.url
            edge_control = self.nginx
            unsupported = EDGE_FAULTS
        self.admin = Admin(
            self.faults,
            edge=edge_control,
            canary=canary is not None,
            weight=cfg.canary_weight if canary is not None else None,
            info=lambda: asdict(self.info) if self.info is not None else {},
            unsupported=unsupported,
            edge_blocks=cfg.edge == "nginx",
        )
        group.add(Listener("admin", self.admin, cfg.admin_port))

    async def run_until(
        self, stop: asyncio.Event, started: Callable[[], None] | None = None
    ) -> None:
        """Serve until `stop` is set; `started` is called once every listener accepts."""
        await self.group.start()
        try:
            if self.nginx is not None:
                await asyncio.to_thread(self.nginx.start)
                assert self.info is not None
                self.info.edge_pid = self.nginx.pid
            if started is not None:
                started()
            await stop.wait()
        finally:
            if self.nginx is not None:
                await asyncio.to_thread(self.nginx.stop)
            await self.group.stop()

    def cleanup(self) -> None:
        """Release the sockets and remove the temporary data directory (a given
        --data-dir is left as it is)."""
        group = getattr(self, "group", None)
        if group is not None:
            group.close()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None


# -- start_stack ---------------------------------------------------------------------------


class RunningStack:
    """A started stack (thread or subprocess); a context manager that stops it."""

    info: StackInfo

    def __init__(self, info: StackInfo) -> None:
        self.info = info
        self._http = httpx.Client(timeout=30.0)

    def _admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._http.request(method, self.info.admin_url + path, json=body)
        if response.status_code != 200:
            try:
                why = response.json().get("error", response.text)
            except ValueError:
                why = response.text
            raise ConfigError(f"admin {method} {path}: {response.status_code} {why}")
        return response.json()

    def set_faults(self, specs: Iterable[str]) -> None:
        """Replace the faults on now (an empty list: healthy again)."""
        self._admin("PUT", "/faults", {"faults": list(specs)})

    def faults(self) -> list[str]:
        answer: list[str] = self._admin("GET", "/faults")["faults"]
        return answer

    def set_canary_weight(self, weight: int) -> None:
        self._admin("PUT", "/canary", {"weight": weight})

    def purge(self, prefix: str = "") -> int:
        purged: int = self._admin("POST", "/purge", {"prefix": prefix})["purged"]
        return purged

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RunningStack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _ThreadStack(RunningStack):
    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self._runner = BackgroundServers(stack, start_timeout=READY_TIMEOUT)
        try:
            self._runner.start()
        except BaseException:
            with contextlib.suppress(Exception):
                self._runner.stop()
            stack.cleanup()
            raise
        assert stack.info is not None
        super().__init__(stack.info)

    def close(self) -> None:
        try:
            super().close()
            self._runner.stop(STOP_TIMEOUT)
        finally:
            self._stack.cleanup()


class _ProcessStack(RunningStack):
    def __init__(self, config: StackConfig, timeout: float) -> None:
        self._dir = tempfile.mkdtemp(prefix="tlogcheck-stack-")
        self._temp_data = config.data_dir is None
        ready = Path(self._dir) / "ready.json"
        self.log_path = Path(self._dir) / "serve.log"
        argv = [sys.executable, "-m", "tlogcheck", "serve", "--ready-file", str(ready)]
        argv += config.argv()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.log_path, "wb") as log:
            self.process = _subprocess.Popen(
                argv,
                stdin=_subprocess.DEVNULL,
                stdout=log,
                stderr=_subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
        try:
            info = self._wait_ready(ready, timeout)
        except BaseException:
            self._kill()
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        super().__init__(info)

    def _wait_ready(self, ready: Path, timeout: float) -> StackInfo:
        deadline = time.monotonic() + timeout
        while True:
            if ready.exists():
                return StackInfo.from_json(ready.read_text(encoding="utf-8"))
            if self.process.poll() is not None:
                raise ConfigError(
                    f"tlogcheck serve exited with {self.process.returncode} before it was "
                    f"ready:\n{log_tail(self.log_path, 30)}"
                )
            if time.monotonic() > deadline:
                raise ConfigError(
                    f"tlogcheck serve was not ready within {timeout} s:\n"
                    f"{log_tail(self.log_path, 30)}"
                )
            time.sleep(0.02)

    def _kill(self) -> None:
        """SIGTERM to the process group (a clean stop), SIGKILL when it does not go."""
        process = self.process
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except _subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(STOP_TIMEOUT)
                self._forced()
        # Children left in the group (none after a clean stop).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)

    def _forced(self) -> None:
        # A killed serve could not stop its nginx (own session) nor remove its data.
        info = getattr(self, "info", None)
        if info is None:
            return
        if info.edge_pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(info.edge_pid, signal.SIGKILL)
        if self._temp_data and info.data_dir:
            shutil.rmtree(info.data_dir, ignore_errors=True)

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def close(self) -> None:
        try:
            super().close()
            self._kill()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)


def start_stack(
    *,
    entries: int = 2048,
    db: str | None = None,
    signer_key: str | None = None,
    release: str = "v1.0.0",
    faults: Iterable[str] = (),
    canary_entries: int | None = None,
    canary_weight: int = 0,
    canary_release: str = "v1.1.0",
    edge: str = "builtin",
    data_dir: str | None = None,
    subprocess: bool = True,
    port: int = 0,
    origin_name: str = DEFAULT_ORIGIN_NAME,
    timeout: float = READY_TIMEOUT,
    tls: bool = False,
    require_header: str | None = None,
    short_max_age: int = DEFAULT_SHORT_MAX_AGE,
) -> RunningStack:
    """Start a reference stack on free loopback ports and return once it serves.

    `subprocess=True` runs `python -m tlogcheck serve --ready-file ...` in its own process
    group (stopped with SIGTERM, then SIGKILL); `False` serves it from a daemon thread of
    this process. Either way `close()` (or leaving the `with` block) stops everything and
    removes the temporary data directory.
    """
    config = StackConfig(
        entries=entries,
        db=db,
        signer_key=signer_key,
        release=release,
        faults=tuple(faults),
        canary_entries=canary_entries,
        canary_weight=canary_weight,
        canary_release=canary_release,
        edge=edge,
        data_dir=data_dir,
        port=port,
        origin_name=origin_name,
        tls=tls,
        require_header=require_header,
        short_max_age=short_max_age,
    )
    config.check()
    if subprocess:
        return _ProcessStack(config, timeout)
    return _ThreadStack(Stack(config))
