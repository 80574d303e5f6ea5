"""The load profile: a realistic read mix of TLog clients through the edge (playbook §3.4).

This module imports locust, and locust monkey-patches sockets with gevent at import,
so only a locust process may import it: `locustfiles/tlog.py` re-exports it for plain
`locust -f`, and `tlogcheck.load.plugin` writes the same one-line locustfile into its work
directory. The pytest plugin never imports it.

What one simulated client does: read the root once to learn the tree size it pins
(as a verifier does before asking for proofs), then loop over weighted reads through
the edge, each in a named request group so locust's stats read per endpoint. The
reads and the indices they ask for are `tlogcheck.load.mix`'s (triage's probe reads the
same mix).

Environment (all optional):

    TLOG_LOAD_WEIGHTS       "root=2,checkpoint=2,entry=10,proof=5,consistency=1"
    TLOG_LOAD_HOT_SET       size of the hot set, the newest entries (default 32)
    TLOG_LOAD_HOT_SHARE     share of entry/proof reads that go to the hot set (default 0.8)
    TLOG_LOAD_TREE_SIZE     pin proofs to this tree size instead of the served root's
    TLOG_LOAD_WAIT          "MIN,MAX" seconds between two reads of one client (default
                            "0.1,0.5"); "0" for back-to-back reads
    TLOG_LOAD_TIMEOUT       seconds before a request counts as failed (default 10)
    TLOG_LOAD_SEED          seed of the index choice (default: random)
    TLOG_LOAD_CLIENT        "fast" (FastHttpUser, default) or "http" (HttpUser)
    TLOG_LOAD_INSECURE      1 to skip TLS certificate verification
    TLOG_LOAD_CA_BUNDLE     PEM file of the CAs to trust (the suite's --tlog-ca-bundle)
    TLOG_LOAD_HEADERS       `Name: value` lines sent on every request (--tlog-header)
    TLOG_LOAD_MAX_REQUESTS_PER_PROCESS
                            requests one load-generator process sends at most (default
                            100000); when spent, it stops its clients, and the run ends
                            once every process has spent its share
    TLOG_LOAD_RAW_DIR       a directory: each process appends every response time it
                            measures to raw-<pid>.tsv there (name, method, ms, ok)

The target is locust's `--host` (or LOCUST_HOST), e.g. the edge URL.
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any

import gevent
from locust import FastHttpUser, HttpUser, TaskSet, between, constant, events
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

# The mix (groups, weights, hot set) is `tlogcheck.load.mix`'s, shared with triage's
# errors and p95 probe; its names stay importable from here.
from tlogcheck.load.mix import (  # noqa: F401
    DEFAULT_HOT_SET,
    DEFAULT_HOT_SHARE,
    DEFAULT_WEIGHTS,
    GROUPS,
    parse_weights,
    pick_index,
)
from tlogcheck.spec import (
    PATH_CHECKPOINT,
    PATH_ROOT,
    consistency_path,
    entry_path,
    proof_path,
)

__all__ = ["TLogHttpUser", "TLogUser"]

log = logging.getLogger("tlogcheck.load.plugin")

DEFAULT_MAX_REQUESTS_PER_PROCESS = 100_000
# Grep-able lines: tlogcheck.load.plugin reads them from locust's log to say why a run ended.
CAP_REACHED = "tlogcheck: request cap reached"
ALL_CAPS_REACHED = "tlogcheck: every load generator reached its request cap"
_SPENT_MESSAGE = "tlogcheck_cap_spent"


def parse_wait(text: str) -> tuple[float, float]:
    """`MIN,MAX` seconds (or one number for a constant wait)."""
    parts = [float(p) for p in text.replace(" ", "").split(",") if p]
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or not 0 <= parts[0] <= parts[1]:
        raise ValueError(f"TLOG_LOAD_WAIT: {text!r} is not MIN,MAX with 0 <= MIN <= MAX")
    return parts[0], parts[1]


@dataclass(frozen=True)
class Profile:
    weights: Mapping[str, int]
    hot_set: int
    hot_share: float
    tree_size: int | None
    wait: tuple[float, float]
    timeout: float
    seed: str
    client: str
    insecure: bool
    max_requests: int
    raw_dir: str | None
    ca_bundle: str | None = None
    headers: Mapping[str, str] | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Profile:
        hot_share = float(env.get("TLOG_LOAD_HOT_SHARE", "") or DEFAULT_HOT_SHARE)
        if not 0 <= hot_share <= 1:
            raise ValueError("TLOG_LOAD_HOT_SHARE must be between 0 and 1")
        tree_size = env.get("TLOG_LOAD_TREE_SIZE", "")
        client = env.get("TLOG_LOAD_CLIENT", "fast") or "fast"
        if client not in ("fast", "http"):
            raise ValueError("TLOG_LOAD_CLIENT must be 'fast' or 'http'")
        max_requests = int(
            env.get("TLOG_LOAD_MAX_REQUESTS_PER_PROCESS", "") or DEFAULT_MAX_REQUESTS_PER_PROCESS
        )
        if max_requests <= 0:
            raise ValueError("TLOG_LOAD_MAX_REQUESTS_PER_PROCESS must be positive")
        timeout = float(env.get("TLOG_LOAD_TIMEOUT", "") or 10)
        if not timeout > 0:
            raise ValueError("TLOG_LOAD_TIMEOUT must be positive")
        return cls(
            weights=parse_weights(env.get("TLOG_LOAD_WEIGHTS", "")),
            hot_set=max(1, int(env.get("TLOG_LOAD_HOT_SET", "") or DEFAULT_HOT_SET)),
            hot_share=hot_share,
            tree_size=int(tree_size) if tree_size else None,
            wait=parse_wait(env.get("TLOG_LOAD_WAIT", "") or "0.1,0.5"),
            timeout=timeout,
            seed=env.get("TLOG_LOAD_SEED", "") or f"{random.SystemRandom().getrandbits(64):x}",
            client=client,
            insecure=env.get("TLOG_LOAD_INSECURE", "").lower() in ("1", "true", "yes"),
            max_requests=max_requests,
            raw_dir=env.get("TLOG_LOAD_RAW_DIR") or None,
            ca_bundle=env.get("TLOG_LOAD_CA_BUNDLE") or None,
            headers=_header_lines(env.get("TLOG_LOAD_HEADERS", "")),
        )


def _header_lines(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip():
            out[name.strip()] = value.strip()
    return out


PROFILE = Profile.from_env(os.environ)


class _Budget:
    """The request cap of this process: taken before a request is sent, so never exceeded."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0
        self.spent_reported = False

    def reset(self) -> None:
        self.taken = 0
        self.spent_reported = False

    def take(self) -> bool:
        if self.taken >= self.limit:
            return False
        self.taken += 1
        return True


_budget = _Budget(PROFILE.max_requests)
_spent_workers: set[str] = set()


def _end_run(environment: Environment) -> None:
    runner = environment.runner
    if runner is None:
        return
    options = environment.parsed_options
    # A headless run ends (and writes its reports); the web UI only stops the test.
    action = runner.quit if options is not None and options.headless else runner.stop
    # Never from inside a user or message greenlet: stopping kills those.
    gevent.spawn(action)


def _cap_spent(environment: Environment) -> None:
    if _budget.spent_reported:
        return
    _budget.spent_reported = True
    log.warning("%s (%d requests)", CAP_REACHED, _budget.limit)
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        runner.send_message(_SPENT_MESSAGE, {"worker": runner.client_id})
    else:
        _end_run(environment)


def _on_worker_spent(environment: Environment, msg: Any, **_kwargs: Any) -> None:
    runner = environment.runner
    _spent_workers.add(str(msg.data.get("worker", msg.node_id)))
    if isinstance(runner, MasterRunner) and len(_spent_workers) >= runner.worker_count:
        log.warning(ALL_CAPS_REACHED)
        _end_run(environment)


def _on_init(environment: Environment, **_kwargs: Any) -> None:
    # locust schedules its -t timer on the gevent hub's cached clock, stale by the time
    # the locustfile took to import (a second or more): refresh it, so a run lasts as
    # long as asked.
    gevent.get_hub().loop.update_now()
    if isinstance(environment.runner, MasterRunner):
        environment.runner.register_message(_SPENT_MESSAGE, _on_worker_spent)


def _on_test_start(environment: Environment, **_kwargs: Any) -> None:
    _budget.reset()
    _spent_workers.clear()
    log.info("tlogcheck profile: %s", PROFILE)


class _RawTimes:
    """Every response time this process measured, for comparison with locust's stats."""

    def __init__(self, directory: str | None) -> None:
        self.directory = directory
        self._file: IO[str] | None = None

    def write(self, name: str, method: str, ms: float, ok: bool) -> None:
        if self.directory is None:
            return
        if self._file is None:
            os.makedirs(self.directory, exist_ok=True)
            path = os.path.join(self.directory, f"raw-{os.getpid()}.tsv")
            # Line-buffered: a worker killed at the end of a run loses no whole line.
            self._file = open(path, "a", encoding="utf-8", buffering=1)
        self._file.write(f"{name}\t{method}\t{ms!r}\t{int(ok)}\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


_raw = _RawTimes(PROFILE.raw_dir)


def _on_request(
    request_type: str,
    name: str,
    response_time: float,
    exception: BaseException | None = None,
    **_kwargs: Any,
) -> None:
    _raw.write(name, request_type, response_time, exception is None)


def _on_quitting(**_kwargs: Any) -> None:
    _raw.close()


def _listen(hook: Any, listener: Callable[..., None]) -> None:
    # `hook` as Any: locust's EventHook.add_listener is untyped.
    hook.add_listener(listener)


_listen(events.init, _on_init)
_listen(events.test_start, _on_test_start)
_listen(events.request, _on_request)
_listen(events.quitting, _on_quitting)


class _Reads:
    """The read mix, shared by the FastHttpUser and the HttpUser flavour."""

    environment: Environment
    _counter = 0

    def _setup(self) -> None:
        _Reads._counter += 1
        self.rng = random.Random(f"{PROFILE.seed}:{os.getpid()}:{_Reads._counter}")
        self.tree_size: int | None = PROFILE.tree_size

    def _fetch(self, path: str, name: str) -> bytes | None:
        raise NotImplementedError

    def _get(self, path: str, name: str) -> bytes | None:
        if not _budget.take():
            _cap_spent(self.environment)
            raise StopUser()
        return self._fetch(path, name)

    def _pinned_size(self) -> int | None:
        # The first reads learn the tree size from the root; a failed root read is
        # recorded and retried by the next task.
        if self.tree_size is None:
            body = self._get(PATH_ROOT, "root")
            if body is not None:
                self.tree_size = _tree_size_of(body)
        return self.tree_size

    def _index(self, n: int) -> int:
        return pick_index(self.rng, n, PROFILE.hot_set, PROFILE.hot_share)

    def read_root(self) -> None:
        self._get(PATH_ROOT, "root")

    def read_checkpoint(self) -> None:
        self._get(PATH_CHECKPOINT, "checkpoint")

    def read_entry(self) -> None:
        n = self._pinned_size()
        if n:
            self._get(entry_path(self._index(n)), "entry")

    def read_proof(self) -> None:
        n = self._pinned_size()
        if n:
            self._get(proof_path(self._index(n), n), "proof")

    def read_consistency(self) -> None:
        n = self._pinned_size()
        if n:
            first = self.rng.randrange(1, n + 1)
            self._get(consistency_path(first, n), "consistency")


def _tree_size_of(body: bytes) -> int | None:
    try:
        size = json.loads(body)["tree_size"]
    except (ValueError, KeyError, TypeError):
        return None
    return size if isinstance(size, int) and size > 0 else None


def _tasks() -> list[TaskSet | Callable[..., Any]]:
    """Each read repeated by its weight: locust's list form of weighted tasks."""
    methods = {
        "root": _Reads.read_root,
        "checkpoint": _Reads.read_checkpoint,
        "entry": _Reads.read_entry,
        "proof": _Reads.read_proof,
        "consistency": _Reads.read_consistency,
    }
    return [methods[g] for g, w in PROFILE.weights.items() for _ in range(w)]


def _wait_time() -> Callable[..., float]:
    low, high = PROFILE.wait
    return constant(low) if low == high else between(low, high)


def _failure(status: int, error: object) -> str | None:
    if status == 200:
        return None
    return f"HTTP {status}" if status else f"no response: {error}"


def _trusting(cafile: str) -> Callable[..., Any]:
    """An SSL context factory for geventhttpclient that trusts `cafile` (and not certifi's
    bundle, which geventhttpclient would pass as `cafile=`)."""
    import gevent.ssl

    def factory(**_: Any) -> Any:
        return gevent.ssl.create_default_context(cafile=cafile)

    return factory


class TLogUser(_Reads, FastHttpUser):
    """A TLog client reading through the edge (geventhttpclient: one core goes far)."""

    tasks = _tasks()
    wait_time = _wait_time()
    network_timeout = PROFILE.timeout
    connection_timeout = PROFILE.timeout
    insecure = PROFILE.insecure
    default_headers = dict(PROFILE.headers or {}) or None
    if PROFILE.ca_bundle and not PROFILE.insecure:
        ssl_context_factory = staticmethod(_trusting(PROFILE.ca_bundle))

    def on_start(self) -> None:
        self._setup()

    def _fetch(self, path: str, name: str) -> bytes | None:
        with self.client.get(path, name=name, catch_response=True) as resp:
            problem = _failure(getattr(resp, "status_code", 0) or 0, getattr(resp, "error", None))
            if problem is not None:
                resp.failure(problem)
                return None
            resp.success()
            content = resp.content
            return bytes(content) if content is not None else b""


class TLogHttpUser(_Reads, HttpUser):
    """The same client on `requests` (HttpUser): the benchmark's baseline."""

    tasks = _tasks()
    wait_time = _wait_time()

    def on_start(self) -> None:
        self.client.verify = PROFILE.ca_bundle or not PROFILE.insecure
        self.client.headers.update(PROFILE.headers or {})
        self._setup()

    def _fetch(self, path: str, name: str) -> bytes | None:
        with self.client.get(path, name=name, catch_response=True, timeout=PROFILE.timeout) as resp:
            problem = _failure(getattr(resp, "status_code", 0) or 0, getattr(resp, "error", None))
            if problem is not None:
                resp.failure(problem)
                return None
            resp.success()
            return bytes(resp.content or b"")


# `from tlogcheck.load.profile import *` exports the one class TLOG_LOAD_CLIENT picks,
# so a locustfile that re-exports this module runs a single kind of client.
if PROFILE.client == "http":
    __all__ = ["TLogHttpUser"]
else:
    __all__ = ["TLogUser"]
