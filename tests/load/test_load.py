"""tlogcheck.load.plugin and tlogcheck.load.runner: locust's numbers read back right, the
thresholds, the runner's bounds, and the load check against the embedded deployment
(healthy, latency:400, error-rate:5, a master with two workers).

Every load phase here is short (a few seconds, a few users) and capped in requests.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from tlogcheck.errors import ConfigError, TargetUnreachable, TLogCheckError
from tlogcheck.load import plugin as load
from tlogcheck.load import runner as loadgen
from tlogcheck.load.plugin import failure_message
from tlogcheck.load.runner import (
    GroupStats,
    LoadError,
    LoadResult,
    LoadSettings,
    Thresholds,
    bucket_resolution,
    bucket_response_time,
    locust_commands,
    raw_percentile,
    read_failures_csv,
    read_locust_json,
    run_load,
)

SHORT = {"TLOG_LOAD_WAIT": "0.05,0.2"}
# The embedded stack shares this busy machine with other tests, so a healthy run is judged
# on errors and on a p95 only a fault reaches; the faults' tests keep the playbook's 300 ms
# (latency:400 adds 400 ms to every response: a floor, not a race).
BUSY_MACHINE_P95_MS = "2000"


def group(name: str, times: Sequence[float], failures: int = 0) -> GroupStats:
    histogram = Counter(bucket_response_time(t) for t in times)
    return GroupStats(name, len(times), failures, dict(histogram), max(times, default=0.0))


def result_of(*groups: GroupStats, errors: Sequence[LoadError] = ()) -> LoadResult:
    return LoadResult(
        url="http://127.0.0.1:1",
        settings=LoadSettings(duration=4, users=5),
        groups=groups,
        total=GroupStats.merged("all", groups),
        errors=tuple(errors),
        elapsed_s=4.0,
        stopped_by="duration",
    )


# -- response times as locust counts them ------------------------------------------------


@pytest.mark.parametrize(
    ("ms", "bucket"),
    [(0.4, 0), (99.4, 99), (147, 150), (145.0, 140), (3432, 3400), (58760, 59000)],
)
def test_bucket_rounds_like_locust(ms: float, bucket: int) -> None:
    # locust's docstring examples, and Python's half-to-even rounding at 145.
    assert bucket_response_time(ms) == bucket
    assert abs(bucket - ms) <= bucket_resolution(ms)


def test_percentile_is_the_bucket_of_locusts_rank() -> None:
    times = [float(ms) for ms in range(1, 201)]
    g = group("entry", times)
    # rank floor(0.95 * 200) + 1 = the 191st smallest time, 191 ms, in bucket 190.
    assert raw_percentile(times, 0.95) == 191.0
    assert g.percentile(0.95) == 190
    assert g.percentile(0.5) == 100
    assert g.percentile(1.0) == 200


def test_merged_is_locusts_aggregated_row() -> None:
    a, b = group("root", [1, 2, 3], failures=1), group("entry", [2, 400])
    total = GroupStats.merged("all", [a, b])
    assert (total.requests, total.failures, total.max_ms) == (5, 1, 400)
    assert total.histogram == {1: 1, 2: 2, 3: 1, 400: 1}


def test_violations_overall_and_per_group() -> None:
    fast = group("root", [5.0] * 199 + [6.0], failures=0)
    slow = group("proof", [350.0] * 10, failures=1)
    found = result_of(fast, slow).violations(Thresholds(max_error_rate=0.01, p95_ms=300))
    assert [(v.group, v.kind, v.alert) for v in found] == [
        ("proof", "error-rate", "Ingress5xxHigh"),
        ("proof", "p95", "LatencyP95High"),
    ]
    # overall: 1 failure in 210 requests is 0.5 %, and the slow 10 are under 5 % of them
    assert result_of(fast, slow).total.error_rate < 0.01


def test_violations_overall_first_and_groups_without_requests_ignored() -> None:
    bad = group("entry", [10.0] * 50, failures=5)
    empty = GroupStats("consistency", 0, 0, {}, 0.0)
    found = result_of(bad, empty).violations(Thresholds())
    assert [(v.group, v.kind) for v in found] == [("all", "error-rate"), ("entry", "error-rate")]


def test_failure_message_names_the_alert_and_prints_the_table() -> None:
    r = result_of(
        group("root", [5.0] * 20),
        group("entry", [420.0] * 20, failures=2),
        errors=[LoadError("entry", "CatchResponseError('HTTP 500')", 2)],
    )
    p95 = failure_message(r, Thresholds(), "p95")
    assert "LatencyP95High" in p95 and "entry: p95 420 ms > 300 ms" in p95
    assert "playbook §3.4" in p95 and "next:" in p95
    for row in ("group", "root", "entry", "all"):
        assert any(line.startswith(row) for line in p95.splitlines())
    errors = failure_message(r, Thresholds(), "error-rate")
    assert "Ingress5xxHigh" in errors and "HTTP 500" in errors
    assert "entry: error rate 10.00% > 1.00%" in errors


def test_result_round_trips_through_json() -> None:
    r = result_of(group("root", [1.5, 2.5]), group("proof", [120.0], failures=1))
    again = LoadResult.from_json(json.loads(json.dumps(r.to_json())))
    assert again == r


def test_read_locust_json_and_failures_csv(tmp_path: Path) -> None:
    entry: dict[str, Any] = {
        "name": "entry",
        "method": "GET",
        "last_request_timestamp": 1010.0,
        "start_time": 1000.0,
        "num_requests": 3,
        "num_none_requests": 0,
        "num_failures": 1,
        "total_response_time": 30.0,
        "max_response_time": 14.2,
        "min_response_time": 7.0,
        "total_content_length": 300,
        "response_times": {"7": 1, "9": 1, "14": 1},
        "num_reqs_per_sec": {"1000": 3},
        "num_fail_per_sec": {"1000": 1},
    }
    root = {**entry, "name": "root", "start_time": 1001.0, "last_request_timestamp": 1012.0}
    (tmp_path / "load.json").write_text(json.dumps([root, entry]))
    groups, elapsed = read_locust_json(tmp_path / "load.json")
    assert [g.name for g in groups] == ["root", "entry"]  # playbook order, not file order
    assert groups[1].histogram == {7: 1, 9: 1, 14: 1} and groups[1].percentile(0.95) == 14
    assert elapsed == 12.0
    (tmp_path / "f.csv").write_text(
        "Method,Name,Error,Occurrences\n"
        "GET,entry,CatchResponseError('HTTP 500'),2\n"
        "GET,root,CatchResponseError('HTTP 503'),7\n"
    )
    assert read_failures_csv(tmp_path / "f.csv")[0] == LoadError(
        "root", "CatchResponseError('HTTP 503')", 7
    )


def test_the_request_cap_is_shared_without_exceeding_it() -> None:
    assert LoadSettings(max_requests=1000).cap_per_process == 1000
    assert LoadSettings(max_requests=1000, workers=3).cap_per_process * 3 <= 1000
    assert LoadSettings(max_requests=10, workers=2, remote_workers=2).cap_per_process == 2


def test_commands_single_process_and_master_with_workers(tmp_path: Path) -> None:
    lf = tmp_path / "lf.py"
    main, workers = locust_commands(
        "http://127.0.0.1:8080", LoadSettings(), locustfile=lf, out=tmp_path, master_port=None
    )
    assert main[:3] == [sys.executable, "-m", "locust"] and "--headless" in main
    assert main[main.index("-t") + 1] == "15s" and main[main.index("-u") + 1] == "20"
    assert "--master" not in main and workers == [] and "--html" not in main
    main, workers = locust_commands(
        "http://127.0.0.1:8080",
        LoadSettings(workers=2, report_dir=str(tmp_path)),
        locustfile=lf,
        out=tmp_path,
        master_port=5999,
    )
    assert main[main.index("--expect-workers") + 1] == "2" and "--html" in main
    assert main[main.index("--master-bind-host") + 1] == "127.0.0.1"
    assert len(workers) == 2
    assert all(w[-4:] == ["--master-host", "127.0.0.1", "--master-port", "5999"] for w in workers)


def test_remote_workers_bind_where_asked(tmp_path: Path) -> None:
    main, workers = locust_commands(
        "https://tlog.example.com",
        LoadSettings(remote_workers=4, master_bind="0.0.0.0:5557"),
        locustfile=tmp_path / "lf.py",
        out=tmp_path,
        master_port=None,
    )
    assert main[main.index("--master-bind-host") + 1] == "0.0.0.0"
    assert main[main.index("--expect-workers") + 1] == "4" and workers == []
    with pytest.raises(ConfigError, match="HOST:PORT"):
        locust_commands(
            "https://x.example",
            LoadSettings(remote_workers=1, master_bind="5557"),
            locustfile=tmp_path / "lf.py",
            out=tmp_path,
            master_port=None,
        )


@pytest.mark.parametrize(
    ("expr", "selects"),
    [
        ("load", True),
        ("health or load", True),
        ("load and not gate", True),
        ("not load", False),
        ("not gate", False),
        ("health", False),
        ("", False),
    ],
)
def test_which_marker_expressions_ask_for_load(expr: str, selects: bool) -> None:
    assert load._selects_load(expr) is selects


class _Worker:
    """What `_shared` reads of an xdist worker's config."""

    workerinput: dict[str, Any] = {"workerid": "gw0"}


def test_xdist_workers_share_one_load_phase(tmp_path: Path) -> None:
    runs: list[int] = []

    def run() -> LoadResult:
        runs.append(1)
        return result_of(group("root", [1.0, 2.0]))

    config: Any = _Worker()
    first = load._shared(config, tmp_path / "popen-gw0", run)
    second = load._shared(config, tmp_path / "popen-gw1", run)
    assert runs == [1] and first == second


def test_xdist_workers_share_an_inconclusive_phase_as_inconclusive(tmp_path: Path) -> None:
    def unreachable() -> LoadResult:
        raise TargetUnreachable("edge GET /healthz: connection refused")

    config: Any = _Worker()
    with pytest.raises(TargetUnreachable):
        load._shared(config, tmp_path / "popen-gw0", unreachable)
    with pytest.raises(TargetUnreachable, match="another worker: edge GET"):
        load._shared(config, tmp_path / "popen-gw1", unreachable)


def test_fewer_users_than_workers_is_a_usage_error() -> None:
    with pytest.raises(ConfigError, match="fewer than"):
        run_load("http://127.0.0.1:9", LoadSettings(users=1, workers=2))


# -- the runner's bounds ---------------------------------------------------------------------


def test_an_overrun_is_killed_with_its_children_and_inconclusive(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    hang = f"sleep 120 & echo $! > {pids}; echo $$ >> {pids}; wait"

    def fake(*_args: Any, **_kwargs: Any) -> tuple[list[str], list[list[str]]]:
        return ["sh", "-c", hang], []

    monkeypatch.setattr(loadgen, "locust_commands", fake)
    monkeypatch.setattr(loadgen, "START_GRACE", 0)
    monkeypatch.setattr(loadgen, "STOP_TIMEOUT", 1)
    with pytest.raises(TargetUnreachable, match="overran its 2 s budget"):
        run_load("http://127.0.0.1:9", LoadSettings(duration=1))
    pid_list = [int(p) for p in pids.read_text().split()]
    # The group got its signal; give the orphaned `sleep` a moment to act on it.
    for _ in range(50):
        if not any(alive(pid) for pid in pid_list):
            break
        time.sleep(0.1)
    assert not [pid for pid in pid_list if alive(pid)]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie nobody has reaped yet is dead too
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def test_the_runner_reads_what_locust_wrote(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A stand-in for locust that writes its three outputs: stats JSON, failures CSV, log.
    stats = [
        {
            "name": "entry", "num_requests": 40, "num_failures": 2, "num_none_requests": 0,
            "max_response_time": 31.0, "response_times": {"12": 30, "30": 10},
            "start_time": 100.0, "last_request_timestamp": 104.0,
        }
    ]  # fmt: skip
    script = (
        "import json, pathlib, sys\n"
        "out = pathlib.Path(sys.argv[1])\n"
        f"(out / 'load.json').write_text({json.dumps(json.dumps(stats))})\n"
        "(out / 'load_failures.csv').write_text("
        "'Method,Name,Error,Occurrences\\nGET,entry,HTTP 500,2\\n')\n"
        "print('WARNING/locust.runners: CPU usage above 90%! This may constrain ...')\n"
        "print('tlogcheck: request cap reached (40 requests)')\n"
    )

    def fake(*_args: Any, out: Path, **_kwargs: Any) -> tuple[list[str], list[list[str]]]:
        return [sys.executable, "-c", script, str(out)], []

    monkeypatch.setattr(loadgen, "locust_commands", fake)
    r = run_load("http://127.0.0.1:9", LoadSettings(duration=1, max_requests=40))
    assert (r.total.requests, r.total.failures, r.elapsed_s) == (40, 2, 4.0)
    assert r.group("entry").percentile(0.95) == 30
    assert r.errors == (LoadError("entry", "HTTP 500", 2),)
    assert r.stopped_by == "request cap" and r.generator_busy
    assert "CPU above 90 %" in failure_message(r, Thresholds(), "error-rate")
    assert "load generator CPU above 90 %" in r.summary()


def test_a_locust_that_cannot_start_says_why() -> None:
    with pytest.raises(TLogCheckError, match="TLOG_LOAD_WEIGHTS"):
        run_load(
            "http://127.0.0.1:9",
            LoadSettings(duration=2, users=1, profile_env={"TLOG_LOAD_WEIGHTS": "bogus=1"}),
        )


# -- against the embedded deployment ----------------------------------------------------------


def test_the_request_cap_ends_the_run_by_itself(make_refstack: Callable[..., Any]) -> None:
    stack = make_refstack(entries=256)
    # 120 s asked, 40 requests allowed: the cap, not the clock, ends this run.
    r = run_load(
        stack.info.edge_url,
        LoadSettings(duration=120, users=4, max_requests=40, profile_env=SHORT),
    )
    assert r.stopped_by == "request cap"
    assert r.total.requests == 40


def test_locusts_p95_is_honest(make_refstack: Callable[..., Any]) -> None:
    # 120 ms of latency puts responses in locust's 10-ms buckets, where rounding shows.
    stack = make_refstack(entries=512, faults=["latency:120"])
    r = run_load(
        stack.info.edge_url,
        LoadSettings(duration=4, users=8, raw_times=True, profile_env=SHORT),
    )
    assert r.raw is not None and r.raw_files == 1
    raw_all = [ms for times in r.raw.values() for ms in times]
    for g in (*r.groups, r.total):
        times = raw_all if g.name == "all" else r.raw[g.name]
        assert len(times) == g.requests, g.name
        exact = raw_percentile(times, 0.95)
        assert g.percentile(0.95) == bucket_response_time(exact), g.name
        assert abs(g.percentile(0.95) - exact) <= bucket_resolution(exact), g.name
    assert r.total.percentile(0.95) >= 120


def test_master_with_two_workers_aggregates(make_refstack: Callable[..., Any]) -> None:
    stack = make_refstack(entries=512)
    r = run_load(
        stack.info.edge_url,
        LoadSettings(duration=4, users=6, workers=2, raw_times=True, profile_env=SHORT),
    )
    # Each worker wrote its own response times; the master's stats hold them all.
    assert r.raw is not None and r.raw_files == 2
    assert sum(len(t) for t in r.raw.values()) == r.total.requests > 0
    for g in r.groups:
        assert len(r.raw[g.name]) == g.requests
    assert r.violations(Thresholds(p95_ms=float(BUSY_MACHINE_P95_MS))) == []
    assert "master + 2 local" in r.summary()


# -- the check, through pytest ---------------------------------------------------------------

CHECK = ["--pyargs", "tests_synthetic", "-p", "no:cacheprovider", "-m", "load"]
QUICK = ["--load-duration", "4", "--load-users", "5"]


@pytest.fixture
def run_check(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., pytest.RunResult]:
    monkeypatch.setenv("TLOG_LOAD_WAIT", "0.05,0.2")

    def run(*args: str) -> pytest.RunResult:
        return pytester.runpytest_subprocess(*CHECK, *QUICK, *args, timeout=120)

    return run


def test_healthy_deployment_passes_and_keeps_reports(
    pytester: pytest.Pytester, run_check: Callable[..., pytest.RunResult]
) -> None:
    reports = pytester.path / "reports"
    res = run_check("--load-report-dir", str(reports), "--load-p95-ms", BUSY_MACHINE_P95_MS)
    res.assert_outcomes(passed=2)
    assert (reports / "load.html").is_file() and (reports / "load_stats.csv").is_file()
    assert (reports / "load.json").is_file()


def test_latency_400_fails_on_p95(run_check: Callable[..., pytest.RunResult]) -> None:
    res = run_check("--tlog-embedded-fault", "latency:400")
    res.assert_outcomes(passed=1, failed=1)
    out = res.stdout.str()
    assert "FAILED" in out and "test_p95_under_load" in out and "LatencyP95High" in out
    assert "p95 ms" in out  # the per-group table


def test_error_rate_5_fails_on_error_rate(run_check: Callable[..., pytest.RunResult]) -> None:
    res = run_check("--tlog-embedded-fault", "error-rate:5")
    out = res.stdout.str()
    assert "test_error_rate_under_load FAILED" in out or "FAILED" in out
    res.assert_outcomes(failed=1, passed=1)
    assert "Ingress5xxHigh" in out and "HTTP 500" in out


def test_load_is_skipped_unless_asked(pytester: pytest.Pytester) -> None:
    res = pytester.runpytest_subprocess(
        "--pyargs", "tests_synthetic", "-p", "no:cacheprovider", "-k", "load", "-rs", timeout=60
    )
    res.assert_outcomes(skipped=2)
    assert "load phase not requested" in res.stdout.str()
