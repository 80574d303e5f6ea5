"""The load profile (locustfiles/tlog.py -> tlogcheck.load.profile) and its isolation.

Locust monkey-patches sockets with gevent when imported, so everything that touches it
runs in a subprocess: this test process must never import locust or gevent either.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.spec_server import SpecServer, make_entries
from tlogcheck.refstack.server import free_port

REPO = Path(__file__).resolve().parents[2]
LOCUSTFILE = REPO / "locustfiles" / "tlog.py"
PATCHERS = ("locust", "gevent", "geventhttpclient", "zmq")
GROUPS = ("root", "checkpoint", "entry", "proof", "consistency")


def python(code: str, **env: str) -> Any:
    """Run `code` in a fresh interpreter; it prints one JSON value, returned here."""
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def locust(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


def test_the_plugin_never_imports_locust_or_gevent() -> None:
    loaded = python(
        "import json, sys\n"
        "import tlogcheck.plugin, tlogcheck.load.plugin, tlogcheck.load.runner\n"
        "import tlogcheck.cli.nightly\n"
        "tlogcheck.plugin.all_options()\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {PATCHERS!r})))"
    )
    assert loaded == []


def test_this_test_process_is_clean_too() -> None:
    assert not [m for m in sys.modules if m.split(".")[0] in PATCHERS]


def test_plain_locust_runs_one_user_class_with_weights_from_the_environment() -> None:
    default = locust("--show-task-ratio-json")
    assert default.returncode == 0, default.stderr
    ratios = json.loads(default.stdout)["total"]
    assert list(ratios) == ["TLogUser"]
    tasks = {name: t["ratio"] for name, t in ratios["TLogUser"]["tasks"].items()}
    assert set(tasks) == {f"read_{g}" for g in GROUPS}
    assert tasks["read_entry"] > tasks["read_proof"] > tasks["read_root"]
    http = locust(
        "--show-task-ratio-json",
        TLOG_LOAD_CLIENT="http",
        TLOG_LOAD_WEIGHTS="root=1,checkpoint=0,entry=3,proof=0,consistency=0",
    )
    assert http.returncode == 0, http.stderr
    ratios = json.loads(http.stdout)["total"]
    assert list(ratios) == ["TLogHttpUser"]
    assert {n: t["ratio"] for n, t in ratios["TLogHttpUser"]["tasks"].items()} == {
        "read_root": 0.25,
        "read_entry": 0.75,
    }


def test_a_bad_profile_setting_stops_locust() -> None:
    bad = locust("--list", TLOG_LOAD_WEIGHTS="entry=x")
    assert bad.returncode != 0 and "TLOG_LOAD_WEIGHTS" in bad.stderr


# One interpreter for the profile's pure parts and locust's own stats functions.
PURE = """
import json, random
from locust.stats import bucket_response_time, calculate_response_time_percentile
from tlogcheck.load import profile as p

rng = random.Random(7)
out = {"draws": [p.pick_index(rng, 1000, 32, 0.8) for _ in range(20000)]}
out["tiny"] = sorted({p.pick_index(rng, 3, 32, 0.8) for _ in range(200)})
out["lines"] = [p.CAP_REACHED, p.ALL_CAPS_REACHED]
out["bad"] = {}
bad = [
    ("TLOG_LOAD_WEIGHTS", "entry=x"),
    ("TLOG_LOAD_WEIGHTS", "root=0,checkpoint=0,entry=0,proof=0,consistency=0"),
    ("TLOG_LOAD_WEIGHTS", "blob=1"),
    ("TLOG_LOAD_WAIT", "2,1"),
    ("TLOG_LOAD_CLIENT", "curl"),
    ("TLOG_LOAD_HOT_SHARE", "1.5"),
    ("TLOG_LOAD_MAX_REQUESTS_PER_PROCESS", "0"),
]
for name, raw in bad:
    try:
        p.Profile.from_env({name: raw})
        out["bad"][name + "=" + raw] = None
    except ValueError as exc:
        out["bad"][name + "=" + raw] = str(exc)
out["weights"] = p.parse_weights("entry=1, proof=0")
out["wait"] = [p.parse_wait("0"), p.parse_wait("0.1,0.5")]
times = [rng.uniform(0, 20000) for _ in range(3000)] + [0.5, 1.5, 145.0, 155.0, 99.5]
out["buckets"] = [[t, bucket_response_time(t)] for t in times]
out["hists"] = []
for _ in range(40):
    h = {}
    for t in rng.sample(times, rng.randrange(1, 300)):
        k = bucket_response_time(t)
        h[k] = h.get(k, 0) + 1
    n = sum(h.values())
    want = {str(q): calculate_response_time_percentile(h, n, q) for q in (0.5, 0.95, 0.99, 1.0)}
    out["hists"].append([{str(k): v for k, v in h.items()}, n, want])
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def pure() -> dict[str, Any]:
    found: dict[str, Any] = python(PURE)
    return found


def test_indices_cover_the_index_space_with_a_hot_set(pure: dict[str, Any]) -> None:
    draws = pure["draws"]
    assert min(draws) >= 0 and max(draws) == 999
    hot = sum(1 for i in draws if i >= 1000 - 32)
    # 80 % aimed at the hot set, plus the cold draws that land there by chance.
    assert 0.78 < hot / len(draws) < 0.84
    assert {i // 100 for i in draws if i < 1000 - 32} == set(range(10))
    assert pure["tiny"] == [0, 1, 2]  # a log smaller than the hot set


def test_profile_settings_are_checked(pure: dict[str, Any]) -> None:
    assert all(message for message in pure["bad"].values()), pure["bad"]
    assert pure["weights"] == {"root": 2, "checkpoint": 2, "entry": 1, "proof": 0, "consistency": 1}
    assert pure["wait"] == [[0.0, 0.0], [0.1, 0.5]]


def test_log_lines_the_runner_greps_for_are_the_profiles(pure: dict[str, Any]) -> None:
    from tlogcheck.load import runner as loadgen

    assert pure["lines"] == [loadgen.CAP_REACHED, loadgen.ALL_CAPS_REACHED]


def test_bucket_and_percentile_are_locusts(pure: dict[str, Any]) -> None:
    from tlogcheck.load.runner import bucket_response_time, percentile

    for t, bucket in pure["buckets"]:
        assert bucket_response_time(t) == bucket, t
    for hist, n, expected in pure["hists"]:
        h = {int(k): v for k, v in hist.items()}
        for q, want in expected.items():
            assert percentile(h, n, float(q)) == want


@pytest.fixture
def small_log() -> Iterator[SpecServer]:
    with SpecServer(make_entries(64)) as server:
        yield server


def test_the_web_ui_runs_the_profile_and_the_cap_stops_it(small_log: SpecServer) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", small_log.url]
        + f"--web-host 127.0.0.1 --web-port {port} --autostart -u 2 -r 2 -t 60s".split(),
        env={**os.environ, "TLOG_LOAD_MAX_REQUESTS_PER_PROCESS": "12", "TLOG_LOAD_WAIT": "0.02"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
        start_new_session=True,
    )
    try:
        stats: dict[str, Any] = {}
        for _ in range(150):  # at most ~30 s: the web UI must come up and stop itself
            time.sleep(0.2)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats/requests") as r:
                    stats = json.load(r)
            except OSError:
                continue
            if stats.get("state") == "stopped":
                break
        assert stats.get("state") == "stopped", stats.get("state")
        rows = {s["name"]: s["num_requests"] for s in stats["stats"]}
        assert rows["Aggregated"] == 12
        assert set(rows) - {"Aggregated"} <= set(GROUPS)
        assert proc.poll() is None  # the web UI stays up after the test stopped
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
