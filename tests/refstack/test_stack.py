"""The reference stack as a whole: start, stop, `tlogcheck serve`, the admin endpoint, the canary.

Every test checks that what it started is gone afterwards: processes, ports, temp dirs.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tlogcheck import note
from tlogcheck.errors import ConfigError
from tlogcheck.merkle import root_of, verify_consistency
from tlogcheck.refstack import data
from tlogcheck.refstack.nginx import nginx_available
from tlogcheck.refstack.server import free_port
from tlogcheck.refstack.stack import RunningStack, StackInfo, start_stack

IDENTITY = {"Accept-Encoding": "identity"}
MakeRefstack = Callable[..., RunningStack]


def urls(info: StackInfo) -> list[str]:
    found = [info.edge_url, info.origin_url, info.admin_url]
    return found + ([info.canary_origin_url] if info.canary_origin_url else [])


def refused(url: str) -> bool:
    parts = urlsplit(url)
    with socket.socket() as sock:
        sock.settimeout(2)
        try:
            sock.connect((parts.hostname or "", parts.port or 0))
        except ConnectionRefusedError:
            return True
    return False


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie has exited but not been reaped (not our child): /proc says so.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def get_json(url: str) -> dict[str, object]:
    r = httpx.get(url, headers=IDENTITY, timeout=10)
    assert r.status_code == 200, r.text
    answer: dict[str, object] = r.json()
    return answer


def assert_healthy(info: StackInfo) -> None:
    edge = get_json(info.edge_url + "/v1/log/root")
    origin = get_json(info.origin_url + "/v1/log/root")
    assert edge == origin
    assert edge["tree_size"] == info.tree_size
    raw = Path(info.db_path).read_bytes()
    assert edge["root_hash"] == root_of(raw.split(b"\n")[:-1]).hex()
    checkpoint = httpx.get(info.edge_url + "/v1/log/checkpoint", headers=IDENTITY).content
    signed = note.verify_note(checkpoint, [note.parse_verifier_key(info.vkey)])
    assert note.parse_checkpoint(signed.text).root_hash.hex() == edge["root_hash"]


# -- start / stop ---------------------------------------------------------------------------


def test_thread_mode_starts_and_leaves_nothing_behind() -> None:
    threads = set(threading.enumerate())
    stack = start_stack(entries=300, subprocess=False)
    info = stack.info
    try:
        assert info.edge_url != info.origin_url
        assert info.pid == os.getpid()
        assert info.edge_kind == "builtin"
        assert_healthy(info)
        assert (
            Path(info.db_sha256_path)
            .read_text()
            .startswith(hashlib.sha256(Path(info.db_path).read_bytes()).hexdigest())
        )
    finally:
        stack.close()
    assert all(refused(url) for url in urls(info))
    assert not Path(info.data_dir).exists()
    assert set(threading.enumerate()) <= threads


def test_subprocess_mode_starts_and_leaves_nothing_behind() -> None:
    stack = start_stack(entries=300, subprocess=True)
    info = stack.info
    try:
        assert info.pid != os.getpid()
        assert_healthy(info)
    finally:
        stack.close()
    assert stack.returncode == 0  # stopped by SIGTERM, cleanly
    assert group_gone(info.pid)
    assert all(refused(url) for url in urls(info))
    assert not Path(info.data_dir).exists()


def test_a_stack_that_cannot_start_says_why_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(ConfigError, match="canary-entries"):
        start_stack(entries=100, canary_entries=100, subprocess=False)
    with pytest.raises(ConfigError, match="unknown fault"):
        start_stack(entries=10, faults=["no-such-fault"], subprocess=False)
    with pytest.raises(ConfigError, match="canary-weight needs"):
        start_stack(entries=10, canary_weight=30, subprocess=False)
    with pytest.raises(ConfigError, match="exited with 2"):
        start_stack(entries=100, canary_entries=50, subprocess=True)
    assert list(tmp_path.iterdir()) == []  # no data dir, ready file or log left


def test_refstack_fixture_is_a_healthy_stack(refstack: RunningStack) -> None:
    assert refstack.info.tree_size == 2048
    assert refstack.faults() == []
    assert_healthy(refstack.info)


def test_data_dir_is_kept_and_db_can_be_served_again(
    make_refstack: MakeRefstack, tmp_path: Path
) -> None:
    first = make_refstack(entries=120, data_dir=str(tmp_path / "demo"))
    first.close()
    db = tmp_path / "demo" / "db.jsonl"
    assert db.exists() and (tmp_path / "demo" / "db.jsonl.sha256").exists()
    assert (tmp_path / "demo" / "verifier.vkey").read_text().strip() == first.info.vkey
    again = make_refstack(db=str(db), signer_key=str(tmp_path / "demo" / "signer.key"))
    assert again.info.tree_size == 120
    assert again.info.vkey == first.info.vkey
    assert_healthy(again.info)


def test_db_with_its_own_signer_key(make_refstack: MakeRefstack, tmp_path: Path) -> None:
    signer, vkey = note.generate_signer("tlog.example.com/log")
    (tmp_path / "signer.key").write_text(signer + "\n")
    data.write_db(tmp_path / "db.jsonl", data.demo_entries(0, 33))
    stack = make_refstack(db=str(tmp_path / "db.jsonl"), signer_key=str(tmp_path / "signer.key"))
    assert stack.info.vkey == vkey != data.demo_signer()[1]
    assert stack.info.db_path == str(tmp_path / "db.jsonl")
    assert_healthy(stack.info)


# -- tlogcheck serve -------------------------------------------------------------------------------


def _serve(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tlogcheck", "serve", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no ready file"
        time.sleep(0.02)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_urls_and_vkey_and_stops_cleanly(tmp_path: Path, stop: signal.Signals) -> None:
    ready = tmp_path / "ready.json"
    process = _serve("--entries", "64", "--ready-file", str(ready), "--fault", "weak-etag")
    try:
        _wait_for(ready, process)
        info = StackInfo.from_json(ready.read_text())
        assert info.faults == ["weak-etag"]
        assert get_json(info.edge_url + "/healthz")["status"] == "ok"
        process.send_signal(stop)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, err
    for url in urls(info):
        assert url in out
    assert info.vkey in out and info.vkey == data.demo_signer()[1]
    assert "weak-etag" in out
    assert f"tiles    {info.edge_url}/checkpoint" in out
    assert f"--tlog-api tiles --tlog-url {info.edge_url}" in out
    assert not ready.exists()
    assert not Path(info.data_dir).exists()
    assert all(refused(url) for url in urls(info))


def test_serve_json_and_fixed_ports(tmp_path: Path) -> None:
    ports = [free_port() for _ in range(2)]
    ready = tmp_path / "ready.json"
    process = _serve(
        "--entries", "10", "--json", "--ready-file", str(ready),
        "--port", str(ports[0]), "--origin-port", str(ports[1]),
        "--data-dir", str(tmp_path / "d"),
    )  # fmt: skip
    try:
        _wait_for(ready, process)
        process.terminate()
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, err
    info = StackInfo.from_json(out)
    assert info.edge_url == f"http://127.0.0.1:{ports[0]}"
    assert info.origin_url == f"http://127.0.0.1:{ports[1]}"
    assert (tmp_path / "d" / "db.jsonl").exists()  # a given data dir stays


def test_serve_usage_errors_exit_2() -> None:
    for args in (["--fault", "bogus"], ["--entries", "0"], ["--edge", "cloudfront"]):
        done = subprocess.run(
            [sys.executable, "-m", "tlogcheck", "serve", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, args
        assert "error" in done.stderr


# -- admin endpoint ------------------------------------------------------------------------------


def test_admin_switches_faults_at_runtime(refstack: RunningStack) -> None:
    info = refstack.info
    clean = get_json(info.origin_url + "/v1/log/root")["root_hash"]
    refstack.set_faults(["wrong-root", "latency:1"])
    assert refstack.faults() == ["latency:1", "wrong-root"]
    assert get_json(info.origin_url + "/v1/log/root")["root_hash"] != clean
    with pytest.raises(ConfigError, match="unknown fault"):
        refstack.set_faults(["wrong-root", "nope"])
    assert refstack.faults() == ["latency:1", "wrong-root"]
    refstack.set_faults([])
    assert get_json(info.origin_url + "/v1/log/root")["root_hash"] == clean
    admin = get_json(info.admin_url + "/info")
    assert admin["edge_url"] == info.edge_url
    for method, path, body in (
        ("PUT", "/faults", b"not json"),
        ("PUT", "/faults", b'{"faults": "wrong-root"}'),
        ("DELETE", "/faults", b""),
        ("GET", "/nothing", b""),
        ("PUT", "/canary", b'{"weight": 10}'),  # no canary in this stack
    ):
        r = httpx.request(method, info.admin_url + path, content=body)
        assert r.status_code in (400, 404, 405), (method, path)
        assert "error" in r.json()


def test_admin_purges_the_edge(refstack: RunningStack) -> None:
    url = refstack.info.edge_url + "/v1/log/entry/3"
    httpx.get(url, headers=IDENTITY)
    assert httpx.get(url, headers=IDENTITY).headers["x-cache"] == "HIT"
    assert refstack.purge("/v1/log/entry/") >= 1
    assert httpx.get(url, headers=IDENTITY).headers["x-cache"] == "MISS"


# -- canary ----------------------------------------------------------------------------------------


def test_canary_serves_the_extended_log_with_its_release(make_refstack: MakeRefstack) -> None:
    stack = make_refstack(entries=100, canary_entries=150, canary_weight=100)
    info = stack.info
    assert (info.canary_release, info.canary_tree_size, info.canary_weight) == ("v1.1.0", 150, 100)
    assert info.canary_origin_url is not None and info.canary_db_path is not None
    stable = get_json(info.origin_url + "/v1/log/root")
    canary_response = httpx.get(info.canary_origin_url + "/v1/log/root")
    canary = canary_response.json()
    assert canary_response.headers["x-tlog-release"] == "v1.1.0" == canary["release"]
    assert canary["tree_size"] == 150
    raw = Path(info.canary_db_path).read_bytes()
    assert raw.startswith(Path(info.db_path).read_bytes())
    assert canary["root_hash"] == root_of(raw.split(b"\n")[:-1]).hex()
    assert Path(info.canary_db_sha256_path or "").read_text().split()[0] == (
        hashlib.sha256(raw).hexdigest()
    )
    proof = get_json(info.canary_origin_url + "/v1/log/consistency?first=100&second=150")
    verify_consistency(
        100,
        150,
        [bytes.fromhex(h) for h in proof["consistency_path"]],  # type: ignore[attr-defined]
        bytes.fromhex(str(stable["root_hash"])),
        bytes.fromhex(str(canary["root_hash"])),
    )
    # Weight 100: the edge's origin requests all go to the canary; 0 (and a purge): none.
    assert httpx.get(info.edge_url + "/v1/log/root").headers["x-tlog-release"] == "v1.1.0"
    stack.set_canary_weight(0)
    stack.purge()
    releases = {httpx.get(info.edge_url + "/healthz").headers["x-tlog-release"] for _ in range(10)}
    assert releases == {"v1.0.0"}
    with pytest.raises(ConfigError):
        stack.set_canary_weight(101)


def test_history_rewrite_hits_the_canary_not_the_stable_origin(
    make_refstack: MakeRefstack,
) -> None:
    stack = make_refstack(entries=40, canary_entries=60, faults=["history-rewrite"])
    info = stack.info
    assert info.canary_origin_url is not None
    assert httpx.get(info.origin_url + "/v1/log/entry/1").content == data.demo_entry(1)
    assert httpx.get(info.canary_origin_url + "/v1/log/entry/1").content != data.demo_entry(1)


# -- the nginx edge ------------------------------------------------------------------------------

needs_nginx = pytest.mark.skipif(nginx_available() is None, reason="nginx is not installed")


@needs_nginx
@pytest.mark.parametrize("in_subprocess", [False, True])
def test_nginx_edge_starts_and_stops(in_subprocess: bool) -> None:
    stack = start_stack(entries=50, edge="nginx", subprocess=in_subprocess)
    info = stack.info
    try:
        assert info.edge_kind == "nginx" and info.edge_pid
        assert_healthy(info)
        with pytest.raises(ConfigError):
            stack.set_faults(["split-view"])
    finally:
        stack.close()
    assert info.edge_pid is not None and gone(info.edge_pid)
    assert all(refused(url) for url in urls(info))


def test_nginx_edge_refuses_edge_faults() -> None:
    with pytest.raises(ConfigError, match="nginx edge cannot show"):
        start_stack(entries=10, edge="nginx", faults=["stale-edge-root"], subprocess=False)


def test_stack_info_round_trips_as_json() -> None:
    info = StackInfo(
        edge_url="e", origin_url="o", canary_origin_url=None, admin_url="a", vkey="v",
        db_path="d", db_sha256_path="s", release="r", canary_release=None, tree_size=3,
        canary_tree_size=None, edge_kind="builtin",
    )  # fmt: skip
    text = info.to_json()
    assert StackInfo.from_json(text) == info
    assert StackInfo.from_json(json.dumps({**json.loads(text), "future_field": 1})) == info
