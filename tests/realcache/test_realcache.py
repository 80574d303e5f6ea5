"""The suite against the reference ORIGIN behind real caching software (ATS, Squid, HAProxy).

Each edge of `tests.realcache` is started in front of the origin of a reference
deployment (`start_stack`; its own builtin edge is not used) and the functional suite
(`-m "not load"`) is run as users run it: `--tlog-url EDGE --tlog-origin-url ORIGIN`,
with the verifier key, the release's db.jsonl and a custody record of the first half of
the log, so every check that can run does.

What must happen (and is asserted, whatever the suite does today):

- a healthy deployment behind any of these caches passes (exit 0), and the suite knows
  a cache answers: the hit rate and edge/origin parity are checked, not skipped; the
  same with the origin view through the cache (`X-Bypass: 1`, no --tlog-origin-url);
- an origin-side fault (`healthz-5xx`, `wrong-root`, `corrupt-entry:512`,
  `unicode-index`, `ims-wins`) fails the checks of the detection matrix that catch it,
  and nothing else;
- a cache that keeps the root past the origin's max-age (the operator's override) while
  the origin moved one release ahead fails parity: the edge serves an older tree older
  than the origin's Cache-Control allows. The control (the same caches without the
  override, after the same wait) passes. The origin of this scenario is given a short
  max-age (`tlogcheck serve --short-max-age`) so the wait past it is seconds, not a
  minute.

An edge that says no cache-status word at all (Traffic Server with only Via and Age is
read by its Via codes; HAProxy's cache with only Age is not) leaves the hit rate
unmeasured, skipped with the reason; every other check runs as behind any cache.
`test_edge_is_a_cache` proves each configuration is what it claims (hits, misses, bypass
not stored) by the software's own signals, read here without tlogcheck.

Run: `.venv/bin/python -m pytest tests/realcache -q -p no:cacheprovider`; each software
missing from the machine skips with the reason. With TLOGCHECK_REALCACHE_OUT=DIR every
suite run's JSON report and a headers.json of sample answers are written to DIR.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.realcache import CacheEdge, free_port
from tests.realcache.ats import AtsEdge, AtsViaAgeEdge
from tests.realcache.haproxy import HaproxyAgeEdge, HaproxyEdge
from tests.realcache.squid import SquidEdge
from tlogcheck.merkle import root_of
from tlogcheck.refstack.stack import start_stack
from tlogcheck.runs import SuiteRun, run_suite

EDGES: list[type[CacheEdge]] = [AtsEdge, AtsViaAgeEdge, SquidEdge, HaproxyEdge, HaproxyAgeEdge]
ENTRIES = 1024
NEXT_ENTRIES = 1152  # the next release: the log extended by 128 entries
RELEASE, NEXT_RELEASE = "v1.0.0", "v1.1.0"
# The max-age of root and checkpoint of the origin that moves a release ahead (the
# reference origin's default is 60 s): the scenario waits past it before the move.
ROOT_MAX_AGE = 5
PIN = 900  # what a pinning cache keeps root and checkpoint for
SUITE_TIMEOUT = 240
OUT = os.environ.get("TLOGCHECK_REALCACHE_OUT")
EXIT_OK, EXIT_FAILED, EXIT_INCONCLUSIVE = 0, 1, 6

# Origin-side faults and the checks that must catch them (README's detection matrix),
# with those that may fail too.
FAULTS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "healthz-5xx": (frozenset({"health"}), frozenset()),
    "wrong-root": (frozenset({"inclusion", "consistency", "db"}), frozenset()),
    "corrupt-entry:512": (frozenset({"inclusion"}), frozenset()),
    # Through the cache too: a digit of another script read as a number, and a date that
    # wins over a validator that does not match.
    "unicode-index": (frozenset({"root"}), frozenset()),
    "ims-wins": (frozenset({"etag"}), frozenset()),
}
# A root older than its max-age at the edge: stale-edge-root's row of the matrix.
STALE_CAUGHT, STALE_ALSO = frozenset({"parity"}), frozenset({"consistency", "cache"})

# With Age on hits and nothing on misses the hit rate cannot be told: it is skipped,
# saying so; every other edge says enough to measure it.
HIT_RATE_SKIPS = {"haproxy-age"}


def _edge_params(scenario: str) -> list[Any]:
    params = []
    for cls in EDGES:
        marks = []
        why = cls.missing_reason()
        if why is not None:
            marks.append(pytest.mark.skip(reason=why))
        params.append(pytest.param(cls, id=cls.kind, marks=marks))
    return params


# -- running the suite ---------------------------------------------------------------------


def _custody_root(db_path: str, size: int) -> str:
    """`SIZE:HEX` of the first `size` entries of db.jsonl: a custody record (§5)."""
    with open(db_path, "rb") as db:
        entries = [next(db).rstrip(b"\n") for _ in range(size)]
    return f"{size}:{root_of(entries).hex()}"


@dataclass
class Origin:
    url: str
    vkey_path: str
    db_path: str
    db_sha256_path: str


def _suite(edge_url: str, origin: Origin, *, origin_view: bool = True, name: str = "") -> SuiteRun:
    args = [
        f"--tlog-url={edge_url}",
        f"--tlog-vkey={origin.vkey_path}",
        f"--tlog-db={origin.db_path}",
        f"--tlog-db-sha256={origin.db_sha256_path}",
        f"--tlog-known-root={_custody_root(origin.db_path, ENTRIES // 2)}",
        "--tlog-sample=16",
        "--tlog-seed=20261206",
        "--tlog-timeout=5",
        f"--tlog-run-timeout={SUITE_TIMEOUT - 60}",
        "-m",
        "not load",
    ]
    if origin_view:
        args.insert(1, f"--tlog-origin-url={origin.url}")
    run = run_suite(args, timeout=SUITE_TIMEOUT)
    if OUT:
        Path(OUT).mkdir(parents=True, exist_ok=True)
        Path(OUT, f"{name or 'run'}.json").write_text(
            json.dumps(
                {
                    "args": list(run.args),
                    "exitstatus": run.exitstatus,
                    "report": run.report,
                    "output_tail": run.output.splitlines()[-60:],
                },  # fmt: skip
                indent=1,
            )
        )
    return run


def _why(run: SuiteRun) -> str:
    lines = [f"exit {run.exitstatus}, verdicts {run.check_verdicts()}"]
    for name, check in run.report.get("checks", {}).items():
        for test in check.get("tests", []):
            if test.get("outcome") not in ("passed", "skipped") and test.get("message"):
                lines.append(f"  {name}: {test['nodeid']}: {test['message'][:600]}")
    lines += run.output.splitlines()[-25:]
    return "\n".join(lines)


HIT_RATE_TEST = "test_cache.py::test_immutable_reads_hit_the_edge_cache"


def _test(run: SuiteRun, check: str, nodeid: str) -> dict[str, Any]:
    tests = run.report.get("checks", {}).get(check, {}).get("tests", [])
    return next((t for t in tests if t["nodeid"] == nodeid), {})


def _assert_healthy(run: SuiteRun, kind: str) -> None:
    """Exit 0, and the suite saw the cache: it knew one answers, parity compared both
    views, and the hit rate was measured (or, from an edge that says too little, skipped
    saying why)."""
    verdicts = run.check_verdicts()
    assert run.exitstatus == EXIT_OK, _why(run)
    assert run.report["target"]["has_edge"] is True, _why(run)
    assert verdicts.get("parity") == "passed", _why(run)
    hit_rate = _test(run, "cache", HIT_RATE_TEST)
    if kind in HIT_RATE_SKIPS:
        assert hit_rate.get("outcome") == "skipped", _why(run)
        assert "says no cache-status word" in hit_rate["message"], _why(run)
    else:
        assert hit_rate.get("outcome") == "passed", _why(run)


def _assert_caught(run: SuiteRun, caught: frozenset[str], also: frozenset[str]) -> None:
    failed = run.failed_checks
    assert run.exitstatus == EXIT_FAILED, _why(run)
    assert caught <= failed, f"not caught by {sorted(caught - failed)}\n" + _why(run)
    assert failed <= caught | also, f"also failed: {sorted(failed - caught - also)}\n" + _why(run)


# -- the origins ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def healthy_origin() -> Iterator[Origin]:
    with start_stack(entries=ENTRIES, subprocess=True) as stack:
        info = stack.info
        yield Origin(info.origin_url, info.vkey_path, info.db_path, info.db_sha256_path)


# -- the edge configurations are what they claim -------------------------------------------


def _served_from_cache(kind: str, headers: httpx.Headers) -> bool | None:
    """The software's own word on one answer, read here without tlogcheck."""
    if kind.startswith("ats"):
        via = str(headers.get("via", ""))
        return "[cH" in via or "[cR" in via
    if kind == "squid":
        return str(headers.get("x-cache", "")).startswith("HIT")
    if kind.startswith("haproxy"):
        return bool("age" in headers)
    return None


@pytest.mark.parametrize("edge_cls", _edge_params("config"))
def test_edge_is_a_cache(edge_cls: type[CacheEdge], healthy_origin: Origin) -> None:
    with edge_cls(healthy_origin.url) as edge, httpx.Client(timeout=10) as http:
        origin_root = http.get(healthy_origin.url + "/v1/log/root")
        path = "/v1/log/entry/17"
        bypassed = http.get(edge.url + path, headers={"X-Bypass": "1"})
        first = http.get(edge.url + path)
        second = http.get(edge.url + path)
        root = http.get(edge.url + "/v1/log/root")
        health = [http.get(edge.url + "/healthz") for _ in range(2)]
        for answer in (bypassed, first, second, root, *health):
            assert answer.status_code == 200, (answer.url, answer.headers)
        assert not _served_from_cache(edge.kind, bypassed.headers), bypassed.headers
        # The bypass was not stored: the next plain read is a miss, then a hit.
        assert not _served_from_cache(edge.kind, first.headers), first.headers
        assert _served_from_cache(edge.kind, second.headers), second.headers
        assert not _served_from_cache(edge.kind, health[1].headers), "no-store was cached"
        for name in ("etag", "cache-control", "x-tlog-release", "content-type"):
            assert root.headers.get(name) == origin_root.headers.get(name), name
        assert root.content == origin_root.content


# -- healthy and faulty origins behind each cache ------------------------------------------


@pytest.mark.parametrize("edge_cls", _edge_params("healthy"))
def test_healthy_passes_behind_real_cache(
    edge_cls: type[CacheEdge], healthy_origin: Origin
) -> None:
    with edge_cls(healthy_origin.url) as edge:
        run = _suite(edge.url, healthy_origin, name=f"healthy-{edge.kind}")
    _assert_healthy(run, edge_cls.kind)


@pytest.mark.parametrize("edge_cls", _edge_params("healthy-bypass"))
def test_healthy_passes_with_origin_view_through_bypass(
    edge_cls: type[CacheEdge], healthy_origin: Origin
) -> None:
    # No --tlog-origin-url: the origin view is X-Bypass: 1 through the cache.
    with edge_cls(healthy_origin.url) as edge:
        run = _suite(edge.url, healthy_origin, origin_view=False, name=f"bypass-{edge.kind}")
    _assert_healthy(run, edge_cls.kind)


@pytest.fixture(scope="module")
def faulty_origin(request: pytest.FixtureRequest) -> Iterator[Origin]:
    with start_stack(entries=ENTRIES, faults=[request.param], subprocess=True) as stack:
        info = stack.info
        yield Origin(info.origin_url, info.vkey_path, info.db_path, info.db_sha256_path)


@pytest.mark.parametrize("faulty_origin", list(FAULTS), indirect=True)
@pytest.mark.parametrize("edge_cls", _edge_params("fault"))
def test_origin_fault_fails_behind_real_cache(
    edge_cls: type[CacheEdge], faulty_origin: Origin, request: pytest.FixtureRequest
) -> None:
    fault = request.node.callspec.params["faulty_origin"]
    with edge_cls(faulty_origin.url) as edge:
        run = _suite(edge.url, faulty_origin, name=f"{fault}-{edge.kind}".replace(":", "_"))
    caught, also = FAULTS[fault]
    _assert_caught(run, caught, also)


# -- the origin moves one release ahead behind a warm cache --------------------------------


@contextlib.contextmanager
def _serve(port: int, entries: int, release: str, data_dir: str) -> Iterator[Origin]:
    """`tlogcheck serve` with the origin on a given port (start_stack picks its own), so
    the next release can replace this one behind the same caches; root and checkpoint
    with a max-age of ROOT_MAX_AGE."""
    ready = Path(data_dir) / f"ready-{release}.json"
    log = Path(data_dir) / f"serve-{release}.log"
    argv = [
        sys.executable, "-m", "tlogcheck", "serve", "--entries", str(entries),
        "--release", release, "--origin-port", str(port), "--data-dir", f"{data_dir}/{release}",
        "--ready-file", str(ready), "--short-max-age", str(ROOT_MAX_AGE),
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tlogcheck serve did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        yield Origin(info["origin_url"], info["vkey_path"], info["db_path"], info["db_sha256_path"])
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(15)


@dataclass
class MovedAhead:
    origin: Origin
    edges: dict[tuple[str, bool], CacheEdge]
    headers: dict[str, Any] = field(default_factory=dict)


def _headers(response: httpx.Response) -> dict[str, str]:
    keep = ("age", "via", "x-cache", "x-cache-lookup", "x-cache-status", "cache-control",
            "etag", "x-tlog-release")  # fmt: skip
    shown = {k: v for k, v in response.headers.items() if k.lower() in keep}
    return {"status": str(response.status_code), **shown}


@pytest.fixture(scope="module")
def moved_ahead() -> Iterator[MovedAhead]:
    """Every available cache, pinned and honest, warm with release v1.0.0's root and
    checkpoint; a wait past their max-age; then the origin replaced by release v1.1.0
    (the log extended by 128 entries) on the same port."""
    data_dir = tempfile.mkdtemp(prefix="tlogcheck-realcache-")
    port = free_port()
    edges: dict[tuple[str, bool], CacheEdge] = {}
    samples: dict[str, Any] = {}
    try:
        with _serve(port, ENTRIES, RELEASE, data_dir) as old:
            for cls in EDGES:
                if cls.missing_reason() is not None:
                    continue
                for pinned in (True, False):
                    edge = cls(old.url, pin_short_paths=PIN if pinned else None)
                    edges[(cls.kind, pinned)] = edge
                    edge.start()
            headers = {"Accept-Encoding": "identity"}
            with httpx.Client(timeout=10, headers=headers) as http:
                for (kind, pinned), edge in edges.items():
                    for path in ("/v1/log/root", "/v1/log/checkpoint"):
                        for attempt in ("miss", "hit"):
                            answer = http.get(edge.url + path)
                            if path.endswith("root"):
                                samples[f"{kind}{'-pinned' if pinned else ''} {attempt}"] = (
                                    _headers(answer)
                                )
                    bypass = http.get(edge.url + "/v1/log/root", headers={"X-Bypass": "1"})
                    samples[f"{kind}{'-pinned' if pinned else ''} bypass"] = _headers(bypass)
            time.sleep(ROOT_MAX_AGE + 5)  # every cached root is now past its max-age
        with _serve(port, NEXT_ENTRIES, NEXT_RELEASE, data_dir) as new:
            with httpx.Client(timeout=10, headers={"Accept-Encoding": "identity"}) as http:
                for (kind, pinned), edge in edges.items():
                    # What the suite's first read will get: the pinned caches' old root,
                    # the honest ones' revalidated, new one.
                    answer = http.get(edge.url + "/v1/log/root")
                    samples[f"{kind}{'-pinned' if pinned else ''} after release"] = _headers(answer)
            if OUT:
                Path(OUT).mkdir(parents=True, exist_ok=True)
                Path(OUT, "headers.json").write_text(json.dumps(samples, indent=1))
            yield MovedAhead(new, edges, samples)
    finally:
        for edge in edges.values():
            edge.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.mark.parametrize("edge_cls", _edge_params("stale-after-release"))
def test_root_pinned_past_max_age_fails_parity(
    edge_cls: type[CacheEdge], moved_ahead: MovedAhead
) -> None:
    edge = moved_ahead.edges[(edge_cls.kind, True)]
    run = _suite(edge.url, moved_ahead.origin, name=f"stale-{edge_cls.kind}")
    _assert_caught(run, STALE_CAUGHT, STALE_ALSO)


@pytest.mark.parametrize("edge_cls", _edge_params("fresh-after-release"))
def test_honest_cache_after_release_passes(
    edge_cls: type[CacheEdge], moved_ahead: MovedAhead
) -> None:
    edge = moved_ahead.edges[(edge_cls.kind, False)]
    run = _suite(edge.url, moved_ahead.origin, name=f"fresh-{edge_cls.kind}")
    _assert_healthy(run, edge_cls.kind)
