"""Over time and across vantage points: the exporter remembers each target's verified
tree (across restarts with --state-dir), proves every new one extends it, keeps evidence
of a fork, and compares its trees with its peers' — an unreachable peer is never a
failure."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.exporter.running import probe, serving, statuses, value
from tlogcheck.exporter.peers import FORMAT
from tlogcheck.refstack.server import Receive, Scope, Send, free_port, run_in_thread
from tlogcheck.refstack.stack import RunningStack, start_stack


def config(tmp: Path, vkey: str, name: str = "exporter.yaml") -> str:
    path = tmp / name
    path.write_text(f"modules:\n  pop:\n    vkey: ['{vkey}']\n    sample: 2\n")
    return str(path)


@pytest.fixture
def stack() -> Iterator[RunningStack]:
    with start_stack(entries=300, subprocess=False) as s:
        yield s


def verify(bundle: Path, vkey: str) -> subprocess.CompletedProcess[str]:
    """`evidence verify` with the log's key pinned: only then can its signatures prove."""
    command = [sys.executable, "-m", "tlogcheck", "evidence", "verify", str(bundle)]
    return subprocess.run([*command, "--tlog-vkey", vkey],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_the_remembered_tree_survives_a_restart_and_a_fork_is_proven(
    tmp_path: Path, stack: RunningStack
) -> None:
    state = tmp_path / "state"
    with serving(config(tmp_path, stack.info.vkey), state_dir=str(state)) as (url, _):
        assert value(probe(url, stack.info.edge_url, "pop").text, "probe_success") == 1
    with serving(config(tmp_path, stack.info.vkey), state_dir=str(state)) as (url, _):
        (shown,) = json.loads(httpx.get(url + "/checkpoints").text)["checkpoints"]
        assert (shown["origin"], shown["tree_size"]) == ("tlog.example.com/log", 300)
        stack.set_faults(["history-rewrite"])
        stack.purge()
        text = probe(url, stack.info.edge_url, "pop").text
        # The remembered tree stays the one verified, not the fork.
        (kept,) = json.loads(httpx.get(url + "/checkpoints").text)["checkpoints"]
        assert kept["root_hash"] == shown["root_hash"]
    assert statuses(text)["consistency"] == "failed", text
    assert value(text, "probe_success") == 0
    (bundle,) = (state / "evidence").iterdir()
    done = verify(bundle, stack.info.vkey)
    assert done.returncode == 1, done.stdout
    assert done.stdout.startswith("PROVEN: ")
    assert "PROVEN: split view: the log 'tlog.example.com/log' signed two trees of size 300" in (
        done.stdout
    )


def test_a_lagging_edge_is_not_a_rollback(tmp_path: Path, stack: RunningStack) -> None:
    with serving(config(tmp_path, stack.info.vkey)) as (url, _):
        assert value(probe(url, stack.info.edge_url, "pop").text, "probe_success") == 1
        stack.set_faults(["edge-lag"])
        stack.purge()
        text = probe(url, stack.info.edge_url, "pop").text
    assert value(text, "tlogcheck_edge_lag_entries") > 0, text
    assert statuses(text)["consistency"] == "passed", text


def test_a_release_rolled_back_fails_consistency(tmp_path: Path) -> None:
    """An Argo undo to an older release: the log shows fewer entries than it signed."""
    state = tmp_path / "state"
    with start_stack(entries=300, canary_entries=320, canary_weight=100,
                     subprocess=False) as stack:  # fmt: skip
        with serving(config(tmp_path, stack.info.vkey), state_dir=str(state)) as (url, _):
            first = probe(url, stack.info.edge_url, "pop").text
            assert value(first, "tlogcheck_tree_size", view="edge") == 320, first
            stack.set_canary_weight(0)
            stack.purge()
            text = probe(url, stack.info.edge_url, "pop").text
    assert statuses(text)["consistency"] == "failed", text
    (bundle,) = (state / "evidence").iterdir()
    assert bundle.name.startswith("fork-")
    # Two signed checkpoints of 320 and 300 entries: both may be true, each in its time;
    # the bundle records the rollback, it cannot prove a contradiction by signatures.
    assert verify(bundle, stack.info.vkey).returncode == 0


# --- across vantage points -----------------------------------------------------------------


@pytest.fixture
def fork() -> Iterator[RunningStack]:
    """The same log signed by the same key, entry 1 changed: a POP serving a fork."""
    with start_stack(entries=300, subprocess=False, faults=["history-rewrite"]) as s:
        yield s


def test_peers_that_see_one_log_are_consistent(tmp_path: Path, stack: RunningStack) -> None:
    with serving(config(tmp_path, stack.info.vkey, "us.yaml"), vantage="us") as (us, _):
        probe(us, stack.info.origin_url, "pop")
        with serving(config(tmp_path, stack.info.vkey), vantage="eu", peers=(us,)) as (eu, _):
            text = probe(eu, stack.info.edge_url, "pop").text
    assert value(text, "tlogcheck_peer_consistency", peer=us, status="consistent") == 1, text
    assert value(text, "probe_success") == 1


def test_a_peer_that_saw_a_fork_fails_and_the_bundle_proves_it(
    tmp_path: Path, stack: RunningStack, fork: RunningStack
) -> None:
    state = tmp_path / "state"
    with serving(config(tmp_path, fork.info.vkey, "us.yaml"), vantage="us") as (us, _):
        alone = probe(us, fork.info.edge_url, "pop").text
        assert value(alone, "probe_success") == 1  # the fork alone is self-consistent
        with serving(config(tmp_path, stack.info.vkey), vantage="eu", peers=(us,),
                     state_dir=str(state)) as (eu, _):  # fmt: skip
            text = probe(eu, stack.info.edge_url, "pop").text
    assert value(text, "tlogcheck_peer_consistency", peer=us, status="failed") == 1, text
    assert value(text, "probe_success") == 0
    assert set(statuses(text).values()) == {"passed"}
    (bundle,) = (state / "evidence").iterdir()
    done = verify(bundle, stack.info.vkey)
    assert done.returncode == 1 and done.stdout.startswith("PROVEN: "), done.stdout
    assert "PROVEN: split view: the log 'tlog.example.com/log' signed two trees" in done.stdout


def test_an_unreachable_peer_is_inconclusive_never_a_failure(
    tmp_path: Path, stack: RunningStack
) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    with serving(config(tmp_path, stack.info.vkey), peers=(down,)) as (url, _):
        text = probe(url, stack.info.edge_url, "pop").text
    assert value(text, "tlogcheck_peer_consistency", peer=down, status="inconclusive") == 1
    assert value(text, "tlogcheck_peer_consistency", peer=down, status="failed") == 0
    assert value(text, "probe_success") == 1


def test_a_peer_that_has_not_seen_the_log_or_serves_a_bad_signature_is_inconclusive(
    tmp_path: Path, stack: RunningStack
) -> None:
    with serving(config(tmp_path, stack.info.vkey, "us.yaml"), vantage="us") as (fresh, _):
        note = httpx.get(stack.info.origin_url + "/v1/log/checkpoint").content
        tampered = note.replace(b"\n300\n", b"\n299\n")
        item = {"origin": "tlog.example.com/log", "note": base64.b64encode(tampered).decode()}
        doc = {"format": FORMAT, "vantage": "liar", "checkpoints": [item]}
        body = json.dumps(doc).encode()

        async def liar(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                return
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})

        servers = run_in_thread({"liar": liar})
        try:
            peers = (fresh, servers.urls["liar"])
            with serving(config(tmp_path, stack.info.vkey), peers=peers) as (url, _):
                text = probe(url, stack.info.edge_url, "pop").text
        finally:
            servers.stop()
    for peer in peers:
        assert value(text, "tlogcheck_peer_consistency", peer=peer, status="inconclusive") == 1
    assert value(text, "probe_success") == 1


def test_a_peer_ahead_is_proven_from_the_side_that_has_both_trees(tmp_path: Path) -> None:
    with (
        start_stack(entries=300, subprocess=False) as old,
        start_stack(entries=300, canary_entries=320, canary_weight=100, subprocess=False) as new,
    ):
        with serving(config(tmp_path, old.info.vkey, "old.yaml"), vantage="old") as (a, _):
            with serving(config(tmp_path, new.info.vkey), vantage="new", peers=(a,)) as (b, _):
                probe(a, old.info.edge_url, "pop")
                ahead = probe(b, new.info.edge_url, "pop").text
                behind_book = serving(config(tmp_path, old.info.vkey, "old2.yaml"), peers=(b,))
                with behind_book as (c, _):
                    behind = probe(c, old.info.edge_url, "pop").text
    assert value(ahead, "tlogcheck_peer_consistency", peer=a, status="consistent") == 1, ahead
    assert value(behind, "tlogcheck_peer_consistency", peer=b, status="inconclusive") == 1
    assert value(behind, "probe_success") == 1


def test_the_peer_listener_serves_checkpoints_alone(tmp_path: Path, stack: RunningStack) -> None:
    from tests.exporter.running import ExporterProcess

    port = free_port()
    exporter = ExporterProcess(config(tmp_path, stack.info.vkey), tmp_path,
                               "--peer-listen", f"127.0.0.1:{port}")  # fmt: skip
    try:
        probe(exporter.url, stack.info.edge_url, "pop")
        peers = f"http://127.0.0.1:{port}"
        doc = httpx.get(peers + "/checkpoints").json()
        refused = httpx.get(peers + "/probe", params={"target": stack.info.edge_url,
                                                      "module": "pop"})  # fmt: skip
    finally:
        exporter.stop()
    assert [c["tree_size"] for c in doc["checkpoints"]] == [300]
    assert refused.status_code == 404 and "serves /checkpoints only" in refused.text
