"""The load generator: locust in a subprocess, its final stats read back (playbook §3.4).

Locust monkey-patches sockets with gevent when it is imported, so this module never
imports it (nor gevent): `run_load` starts `python -m locust` on the profile of
`tlogcheck.load.profile`, headless, bounded in time (`-t`, plus a hard timeout that
kills the process groups) and in requests (a per-process cap the profile enforces), and
reads locust's final stats from its JSON file. That file holds each request group's
histogram of response times, so percentiles here are computed exactly as locust
computes them (`percentile`), overall and per group.

With `LoadSettings.workers` a locust master and that many worker processes run on this
machine and talk locust's master/worker protocol on loopback; `remote_workers` makes the
master also wait for workers started elsewhere (the CronJob of `ci/load-cronjob.yaml`).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import tlogcheck
from tlogcheck.errors import ConfigError, TargetUnreachable, TLogCheckError

# The profile's request groups (in the order the table shows them), and the §3.4 line:
# the rule is `verify.probe`'s, which triage's probe is judged by too.
from tlogcheck.load.mix import GROUPS as GROUPS
from tlogcheck.verify.probe import ERROR_ALERT as ERROR_ALERT
from tlogcheck.verify.probe import LATENCY_ALERT as LATENCY_ALERT
from tlogcheck.verify.probe import Figures, breaches
from tlogcheck.verify.probe import Thresholds as Thresholds
from tlogcheck.verify.probe import Violation as Violation
from tlogcheck.verify.probe import raw_percentile as raw_percentile

START_GRACE = 30  # seconds locust may take to start and to write its reports
STOP_TIMEOUT = 5  # seconds a stopping client may finish its request in
WORKER_WAIT_LOCAL = 60  # seconds the master waits for local workers to connect
WORKER_WAIT_REMOTE = 600  # ... and for remote ones (pods being scheduled)
# Log lines of tlogcheck.load.profile (kept equal by tests/load/test_profile.py).
CAP_REACHED = "tlogcheck: request cap reached"
ALL_CAPS_REACHED = "tlogcheck: every load generator reached its request cap"
# locust's own warnings when a load generator's CPU passes 90 %.
CPU_WARNING = "CPU usage"
PROFILE_MODULE = "tlogcheck.load.profile"
LOCUSTFILE = f"from {PROFILE_MODULE} import *  # noqa: F403\n"


# -- response times as locust counts them ----------------------------------------------


def bucket_response_time(ms: float) -> int:
    """locust.stats.bucket_response_time: the histogram key a response time lands in."""
    if ms < 100:
        return round(ms)
    if ms < 1000:
        return int(round(ms, -1))
    if ms < 10000:
        return int(round(ms, -2))
    return int(round(ms, -3))


def bucket_resolution(ms: float) -> float:
    """How far a response time may be from its bucket key (half a bucket's width)."""
    if ms < 100:
        return 0.5
    if ms < 1000:
        return 5.0
    if ms < 10000:
        return 50.0
    return 500.0


def percentile(histogram: Mapping[int, int], count: int, p: float) -> int:
    """locust.stats.calculate_response_time_percentile, on a histogram of bucketed times.

    The answer is the bucket of the (floor(p * count) + 1)-th smallest time.
    """
    rank = int(count * p)
    processed = 0
    for ms in sorted(histogram, reverse=True):
        processed += histogram[ms]
        if count - processed <= rank:
            return ms
    return 0


# -- what a run measured -----------------------------------------------------------------


@dataclass(frozen=True)
class GroupStats:
    """One request group (or "all"), as locust's final stats hold it."""

    name: str
    requests: int
    failures: int
    histogram: Mapping[int, int]  # bucketed response time (ms) -> requests
    max_ms: float
    none_requests: int = 0  # requests without a response time (locust's async ones)

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    def percentile(self, p: float) -> int:
        return percentile(self.histogram, self.requests - self.none_requests, p)

    @classmethod
    def merged(cls, name: str, groups: Iterable[GroupStats]) -> GroupStats:
        # locust logs every request into its group and into the total with the same
        # bucketed key, so summing the groups' histograms gives its "Aggregated" row.
        histogram: dict[int, int] = {}
        requests = failures = none = 0
        max_ms = 0.0
        for g in groups:
            requests += g.requests
            failures += g.failures
            none += g.none_requests
            max_ms = max(max_ms, g.max_ms)
            for ms, n in g.histogram.items():
                histogram[ms] = histogram.get(ms, 0) + n
        return cls(name, requests, failures, histogram, max_ms, none)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "requests": self.requests,
            "failures": self.failures,
            "error_rate": round(self.error_rate, 6),
            "p50_ms": self.percentile(0.50),
            "p95_ms": self.percentile(0.95),
            "p99_ms": self.percentile(0.99),
            "max_ms": round(self.max_ms, 3),
            "none_requests": self.none_requests,
            "histogram": {str(k): v for k, v in sorted(self.histogram.items())},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GroupStats:
        return cls(
            name=str(data["name"]),
            requests=int(data["requests"]),
            failures=int(data["failures"]),
            histogram={int(k): int(v) for k, v in data["histogram"].items()},
            max_ms=float(data["max_ms"]),
            none_requests=int(data.get("none_requests", 0)),
        )


@dataclass(frozen=True)
class LoadError:
    group: str
    error: str
    occurrences: int


@dataclass(frozen=True)
class LoadSettings:
    duration: int = 15
    users: int = 20
    spawn_rate: float | None = None  # None: every user within the first second
    max_requests: int = 200_000
    workers: int = 0
    remote_workers: int = 0
    master_bind: str = "0.0.0.0:5557"
    report_dir: str | None = None
    client: Literal["fast", "http"] = "fast"
    raw_times: bool = False  # keep every response time (TLOG_LOAD_RAW_DIR of the profile)
    profile_env: Mapping[str, str] = field(default_factory=dict)  # TLOG_LOAD_WAIT=...
    # Like profile_env, but never reported (header values): TLOG_LOAD_HEADERS=...
    secret_env: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def processes(self) -> int:
        """Load generators: the single process, or every worker."""
        return max(1, self.workers + self.remote_workers)

    @property
    def cap_per_process(self) -> int:
        # Floor, so the whole run never exceeds --load-max-requests.
        return max(1, self.max_requests // self.processes)

    def describe(self) -> str:
        if not self.workers and not self.remote_workers:
            gen = "1 process"
        else:
            gen = f"master + {self.workers} local + {self.remote_workers} remote workers"
        return (
            f"{self.users} users for {self.duration} s ({gen}), "
            f"at most {self.max_requests} requests"
        )


@dataclass(frozen=True)
class LoadResult:
    url: str
    settings: LoadSettings
    groups: tuple[GroupStats, ...]
    total: GroupStats
    errors: tuple[LoadError, ...]
    elapsed_s: float  # first request start to last request, from locust's stats
    stopped_by: str  # "duration" or "request cap"
    report_dir: str | None = None
    raw: Mapping[str, tuple[float, ...]] | None = None  # group -> every response time (ms)
    raw_files: int = 0  # load-generator processes that wrote response times
    generator_busy: bool = False  # locust warned its CPU went over 90 %

    @property
    def rps(self) -> float:
        return self.total.requests / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def group(self, name: str) -> GroupStats:
        for g in (*self.groups, self.total):
            if g.name == name:
                return g
        raise KeyError(name)

    def violations(self, thresholds: Thresholds) -> list[Violation]:
        """Every breach of the thresholds, overall ("all") first, then per group."""
        return breaches(
            (
                Figures(g.name, g.requests, g.error_rate, g.percentile(0.95))
                for g in (self.total, *self.groups)
            ),
            thresholds,
        )

    def table(self) -> str:
        """The per-group table a failure prints."""
        head = f"{'group':<12} {'requests':>9} {'failures':>9} {'errors':>7} " + " ".join(
            f"{h:>7}" for h in ("p50 ms", "p95 ms", "p99 ms", "max ms")
        )
        rows = [head]
        for g in (*self.groups, self.total):
            rows.append(
                f"{g.name:<12} {g.requests:>9} {g.failures:>9} {g.error_rate:>7.2%} "
                + " ".join(
                    f"{v:>7}" for v in (g.percentile(0.5), g.percentile(0.95), g.percentile(0.99))
                )
                + f" {g.max_ms:>7.0f}"
            )
        return "\n".join(rows)

    def summary(self) -> str:
        t = self.total
        busy = "; load generator CPU above 90 %" if self.generator_busy else ""
        return (
            f"load: {t.requests} requests in {self.elapsed_s:.1f} s ({self.rps:.0f}/s, "
            f"{self.settings.describe()}, stopped by {self.stopped_by}): "
            f"errors {t.error_rate:.2%}, p95 {t.percentile(0.95)} ms, "
            f"p99 {t.percentile(0.99)} ms{busy}"
        )

    def to_json(self, *, raw: bool = False) -> dict[str, Any]:
        settings = asdict(self.settings)
        settings["profile_env"] = dict(self.settings.profile_env)
        del settings["secret_env"]  # header values: never written anywhere
        data: dict[str, Any] = {
            "url": self.url,
            "settings": settings,
            "groups": [g.to_json() for g in self.groups],
            "total": self.total.to_json(),
            "errors": [asdict(e) for e in self.errors],
            "elapsed_s": round(self.elapsed_s, 3),
            "rps": round(self.rps, 1),
            "stopped_by": self.stopped_by,
            "report_dir": self.report_dir,
            "raw_files": self.raw_files,
            "generator_busy": self.generator_busy,
        }
        if raw and self.raw is not None:
            data["raw"] = {k: list(v) for k, v in self.raw.items()}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LoadResult:
        raw = data.get("raw")
        return cls(
            url=str(data["url"]),
            settings=LoadSettings(**data["settings"]),
            groups=tuple(GroupStats.from_json(g) for g in data["groups"]),
            total=GroupStats.from_json(data["total"]),
            errors=tuple(LoadError(**e) for e in data["errors"]),
            elapsed_s=float(data["elapsed_s"]),
            stopped_by=str(data["stopped_by"]),
            report_dir=data.get("report_dir"),
            raw=None if raw is None else {k: tuple(v) for k, v in raw.items()},
            raw_files=int(data.get("raw_files", 0)),
            generator_busy=bool(data.get("generator_busy", False)),
        )


def read_locust_json(path: str | os.PathLike[str]) -> tuple[list[GroupStats], float]:
    """Groups of locust's `--json-file` output, and the span from first start to last request."""
    try:
        entries = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TLogCheckError(f"locust's stats file {path} is unreadable: {exc}") from None
    groups: dict[str, list[GroupStats]] = {}
    starts: list[float] = []
    ends: list[float] = []
    for e in entries:
        name = str(e["name"])
        groups.setdefault(name, []).append(
            GroupStats(
                name=name,
                requests=int(e["num_requests"]),
                failures=int(e["num_failures"]),
                histogram={int(k): int(v) for k, v in e["response_times"].items()},
                max_ms=float(e["max_response_time"] or 0),
                none_requests=int(e.get("num_none_requests") or 0),
            )
        )
        if e.get("start_time"):
            starts.append(float(e["start_time"]))
        if e.get("last_request_timestamp"):
            ends.append(float(e["last_request_timestamp"]))
    order = {g: i for i, g in enumerate(GROUPS)}
    merged = [
        GroupStats.merged(name, parts) if len(parts) > 1 else parts[0]
        for name, parts in sorted(groups.items(), key=lambda kv: (order.get(kv[0], 99), kv[0]))
    ]
    elapsed = max(ends) - min(starts) if starts and ends else 0.0
    return merged, max(elapsed, 0.0)


def read_failures_csv(path: str | os.PathLike[str]) -> list[LoadError]:
    """locust's `<prefix>_failures.csv`: the distinct errors, most frequent first."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError:
        return []
    errors = [
        LoadError(r.get("Name", ""), r.get("Error", ""), int(r.get("Occurrences") or 0))
        for r in rows
    ]
    return sorted(errors, key=lambda e: -e.occurrences)


def read_raw_times(directory: str | os.PathLike[str]) -> tuple[dict[str, tuple[float, ...]], int]:
    """Every response time the profile wrote (TLOG_LOAD_RAW_DIR), per group, and file count."""
    found: dict[str, list[float]] = {}
    files = sorted(Path(directory).glob("raw-*.tsv"))
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            name, _method, ms, _ok = line.split("\t")
            found.setdefault(name, []).append(float(ms))
    return {k: tuple(v) for k, v in found.items()}, len(files)


# -- running locust ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _split_bind(bind: str) -> tuple[str, int]:
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"--load-master-bind: {bind!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def _kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)


def _stop_all(procs: Iterable[subprocess.Popen[bytes]]) -> None:
    procs = [p for p in procs if p.poll() is None]
    for p in procs:
        _kill_group(p, signal.SIGTERM)
    deadline = time.monotonic() + 5
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _kill_group(p, signal.SIGKILL)
            p.wait(timeout=5)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def _work_dir(report_dir: str | None) -> Iterator[tuple[Path, Path]]:
    """(scratch dir, where locust writes its reports): the report dir when one is kept."""
    scratch = Path(tempfile.mkdtemp(prefix="tlogcheck-load-"))
    try:
        if report_dir:
            out = Path(report_dir).resolve()
            out.mkdir(parents=True, exist_ok=True)
        else:
            out = scratch
        yield scratch, out
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _environment(settings: LoadSettings, raw_dir: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    # The locust process must import this very tlogcheck, installed or not.
    package_parent = str(Path(tlogcheck.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    env.update(settings.profile_env)
    env.update(settings.secret_env)
    env["TLOG_LOAD_CLIENT"] = settings.client
    env["TLOG_LOAD_MAX_REQUESTS_PER_PROCESS"] = str(settings.cap_per_process)
    if raw_dir is not None:
        env["TLOG_LOAD_RAW_DIR"] = str(raw_dir)
    else:
        env.pop("TLOG_LOAD_RAW_DIR", None)
    return env


def locust_commands(
    url: str, settings: LoadSettings, *, locustfile: Path, out: Path, master_port: int | None
) -> tuple[list[str], list[list[str]]]:
    """The command of the master (or single process) and those of the local workers."""
    locust = [sys.executable, "-m", "locust", "-f", str(locustfile)]
    spawn_rate = settings.spawn_rate or float(settings.users)
    main = [
        *locust,
        "--headless",
        "--host",
        url,
        "-u",
        str(settings.users),
        "-r",
        f"{spawn_rate:g}",
        "-t",
        f"{settings.duration}s",
        "--stop-timeout",
        str(STOP_TIMEOUT),
        "--json-file",
        str(out / "load"),
        "--csv",
        str(out / "load"),
        "--only-summary",
        "--exit-code-on-error",
        "0",
    ]
    if settings.report_dir:
        main += ["--html", str(out / "load.html")]
    workers: list[list[str]] = []
    if settings.workers or settings.remote_workers:
        if settings.remote_workers:
            host, port = _split_bind(settings.master_bind)
            wait = WORKER_WAIT_REMOTE
        else:
            host, port, wait = "127.0.0.1", master_port or _free_port(), WORKER_WAIT_LOCAL
        main += [
            "--master",
            "--master-bind-host",
            host,
            "--master-bind-port",
            str(port),
            "--expect-workers",
            str(settings.workers + settings.remote_workers),
            "--expect-workers-max-wait",
            str(wait),
        ]
        connect = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        for _ in range(settings.workers):
            workers.append(
                [*locust, "--worker", "--master-host", connect, "--master-port", str(port)]
            )
    return main, workers


def run_load(url: str, settings: LoadSettings) -> LoadResult:
    """Run one load phase against `url` (the edge) and return what locust measured.

    Raises TargetUnreachable when locust overruns its time budget (killed: inconclusive)
    and TLogCheckError when locust fails to run or writes no stats.
    """
    if settings.workers and settings.users < settings.workers:
        raise ConfigError(
            f"--load-users {settings.users} is fewer than --load-workers {settings.workers}"
        )
    with _work_dir(settings.report_dir) as (scratch, out):
        locustfile = scratch / "tlog_locustfile.py"
        locustfile.write_text(LOCUSTFILE, encoding="utf-8")
        raw_dir = scratch / "raw" if settings.raw_times else None
        env = _environment(settings, raw_dir)
        main_cmd, worker_cmds = locust_commands(
            url, settings, locustfile=locustfile, out=out, master_port=None
        )
        wait = WORKER_WAIT_REMOTE if settings.remote_workers else WORKER_WAIT_LOCAL
        budget = START_GRACE + settings.duration + STOP_TIMEOUT + (wait if worker_cmds else 0)
        logs = [out / "locust-master.log" if worker_cmds else out / "locust.log"]
        logs += [out / f"locust-worker-{i + 1}.log" for i in range(len(worker_cmds))]
        procs: list[subprocess.Popen[bytes]] = []
        try:
            for cmd, log_path in zip([main_cmd, *worker_cmds], logs, strict=True):
                with open(log_path, "wb") as log_file:
                    procs.append(
                        subprocess.Popen(
                            cmd,
                            cwd=scratch,
                            env=env,
                            stdin=subprocess.DEVNULL,
                            stdout=log_file,
                            stderr=subprocess.STDOUT,
                            start_new_session=True,
                        )
                    )
            try:
                code = procs[0].wait(timeout=budget)
            except subprocess.TimeoutExpired:
                raise TargetUnreachable(
                    f"the load phase overran its {budget} s budget and was killed "
                    f"({settings.describe()}); locust said:\n{_tail(logs[0])}"
                ) from None
            # Workers leave once the master says quit; a straggler is only slow to exit.
            deadline = time.monotonic() + 15
            for p in procs[1:]:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=max(0.1, deadline - time.monotonic()))
        finally:
            _stop_all(procs)
        stats_file = out / "load.json"
        if code != 0 or not stats_file.exists():
            raise TLogCheckError(
                f"locust exited with status {code} and "
                f"{'wrote' if stats_file.exists() else 'no'} stats; it said:\n{_tail(logs[0])}"
            )
        groups, elapsed = read_locust_json(stats_file)
        if not groups:
            raise TLogCheckError(f"locust sent no request; it said:\n{_tail(logs[0])}")
        log_text = logs[0].read_text(encoding="utf-8", errors="replace")
        busy = any(
            CPU_WARNING in path.read_text(encoding="utf-8", errors="replace") for path in logs
        )
        capped = ALL_CAPS_REACHED if worker_cmds or settings.remote_workers else CAP_REACHED
        raw, raw_files = read_raw_times(raw_dir) if raw_dir is not None else (None, 0)
        return LoadResult(
            url=url,
            settings=settings,
            groups=tuple(groups),
            total=GroupStats.merged("all", groups),
            errors=tuple(read_failures_csv(out / "load_failures.csv")),
            elapsed_s=elapsed,
            stopped_by="request cap" if capped in log_text else "duration",
            generator_busy=busy,
            report_dir=str(out) if settings.report_dir else None,
            raw=raw,
            raw_files=raw_files,
        )
