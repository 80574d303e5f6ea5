"""The exporter hands credentials only to the targets they belong to (issue 26).

A module carrying an access gateway's header probes its own targets with it, refuses any
other target with 403 before a byte is sent, never follows a redirect out of its targets
with it, and the header's value appears in nothing the exporter produces — even when a
hostile target echoes it back."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.exporter.running import ExporterProcess, probe, serving, statuses, value
from tests.spec_server import SpecServer, make_entries
from tlogcheck.merkle import StoredTree
from tlogcheck.note import signer_from_seed
from tlogcheck.refstack.stack import start_stack

SECRET = "tok-9f8e7d6c5b4a-SECRET"
SKEY, VKEY = signer_from_seed("tlog.example.com/log", bytes(range(32)))


def gate_config(tmp: Path, targets: list[str], vkey: str = VKEY, extra: str = "") -> str:
    (tmp / "headers").write_text(f"# the access gateway\nX-Access-Token: {SECRET}\n")
    path = tmp / "exporter.yaml"
    path.write_text(
        "modules:\n  gate:\n    headers_file: headers\n    sample: 2\n"
        f"    vkey: ['{vkey}']\n    targets: {json.dumps(targets)}\n" + extra
    )
    return str(path)


@pytest.fixture
def log_server() -> Iterator[SpecServer]:
    with SpecServer(make_entries(64), signer_key=SKEY) as s:
        yield s


@pytest.fixture
def foreign() -> Iterator[SpecServer]:
    """Another server: what a probe names to steal the token. It records every connection."""
    with SpecServer(make_entries(64), signer_key=SKEY) as s:
        yield s


def test_its_own_target_is_probed_with_the_header(tmp_path: Path) -> None:
    with start_stack(entries=128, subprocess=False,
                     require_header=f"X-Access-Token: {SECRET}") as stack:  # fmt: skip
        config = gate_config(tmp_path, [stack.info.edge_url], stack.info.vkey)
        with serving(config) as (url, _):
            text = probe(url, stack.info.edge_url, "gate").text
    assert value(text, "probe_success") == 1, text
    assert set(statuses(text).values()) == {"passed"}


def test_a_foreign_target_is_refused_and_sent_nothing(
    tmp_path: Path, log_server: SpecServer, foreign: SpecServer
) -> None:
    with serving(gate_config(tmp_path, [log_server.url + "/"])) as (url, _):
        tries = [
            foreign.url,
            foreign.url.replace("127.0.0.1", "localhost"),
            f"{log_server.url}@127.0.0.1:{foreign.port}",
            f"http://127.0.0.1:{foreign.port}/#{log_server.url}",
            log_server.url.replace("http://", "https://"),
        ]
        answers = [probe(url, t, "gate") for t in tries]
    for target, answer in zip(tries, answers, strict=True):
        assert answer.status_code in (400, 403), (target, answer.text)
        assert len(answer.text.strip().splitlines()) == 1
    assert answers[0].status_code == 403
    assert "is not one of module gate's targets: not probed, nothing sent" in answers[0].text
    assert foreign.connections == 0 and foreign.seen == []
    assert log_server.connections == 0  # nor the https twin of the allowed one


def test_spellings_of_the_allowed_target_are_the_allowed_target(
    tmp_path: Path, log_server: SpecServer
) -> None:
    with serving(gate_config(tmp_path, [log_server.url])) as (url, _):
        for spelling in (log_server.url + "/", log_server.url.upper().replace("HTTP", "http")):
            assert probe(url, spelling, "gate").status_code == 200
    assert {s.headers.get("x-access-token") for s in log_server.seen} == {SECRET}


def test_a_redirect_to_another_origin_is_not_followed_with_the_header(
    tmp_path: Path, log_server: SpecServer, foreign: SpecServer
) -> None:
    log_server.knobs.redirects = {
        "/v1/log/root": f"{foreign.url}/v1/log/root",
        "/healthz": f"http://localhost:{foreign.port}/healthz",
    }
    with serving(gate_config(tmp_path, [log_server.url])) as (url, _):
        text = probe(url, log_server.url, "gate").text
    assert foreign.connections == 0 and foreign.seen == []
    assert statuses(text)["health"] == "failed" and statuses(text)["root"] == "failed"


def test_a_redirect_out_of_the_targets_path_is_not_followed_either(
    tmp_path: Path, log_server: SpecServer
) -> None:
    log_server.knobs.redirects = {"/pop/healthz": "/healthz", "/pop/v1/log/root": "/admin"}
    with serving(gate_config(tmp_path, [log_server.url + "/pop"])) as (url, _):
        probe(url, log_server.url + "/pop", "gate")
    paths = log_server.paths()
    assert "/pop/healthz" in paths
    assert not [p for p in paths if not p.startswith("/pop/")], paths


def _fork(server: SpecServer) -> None:
    """The server now signs another log of the same size (entry 5 changed)."""
    entries = make_entries(64)
    entries[5] = entries[5].replace(b'"i":5', b'"i":500')
    server.entries = entries
    server.tree = StoredTree.from_entries(entries)


def test_the_secret_appears_in_nothing_the_exporter_produces(
    tmp_path: Path, log_server: SpecServer
) -> None:
    """A hostile target echoes the token in headers and bodies; every output is read."""
    log_server.knobs.headers = {"X-Echo": SECRET, "X-Tlog-Release": SECRET}
    log_server.knobs.bodies = {"/v1/log/entry/3": SECRET.encode()}
    state = tmp_path / "state"
    config = gate_config(tmp_path, [log_server.url])
    exporter = ExporterProcess(config, tmp_path, "--state-dir", str(state), "--vantage", "eu")
    try:
        outputs = [probe(exporter.url, log_server.url, "gate", debug="true").text]
        _fork(log_server)
        outputs.append(probe(exporter.url, log_server.url, "gate").text)
        outputs.append(probe(exporter.url, log_server.url, "gate", debug="true").text)
        outputs.append(probe(exporter.url, f"http://{SECRET}.example/", "gate").text)
        outputs.append(probe(exporter.url, f"http://x:{SECRET}@a.example/", "gate").text)
        page = httpx.get(exporter.url + "/").text
        outputs += [page, httpx.get(exporter.url + "/metrics").text,
                    httpx.get(exporter.url + "/checkpoints").text]  # fmt: skip
        outputs += [httpx.get(exporter.url + f"/logs?id={n}").text
                    for n in re.findall(r"^ +(\d+) ", page, re.M)]  # fmt: skip
        Path(config).write_text(Path(config).read_text() + f"    {SECRET}: 1\n")
        outputs.append(httpx.post(exporter.url + "/-/reload").text)
    finally:
        exporter.stop()
    log = exporter.output()
    assert "consistency" in outputs[1] and value(outputs[1], "probe_success") == 0
    assert "config not reloaded" in outputs[-1]
    bundles = list((state / "evidence").iterdir())
    assert len(bundles) == 1, bundles
    files = [p.read_bytes() for p in state.rglob("*") if p.is_file()]
    assert any(b"<redacted>" in f for f in files)  # the echoed header, kept scrubbed
    for secret in (SECRET, quote(SECRET, safe="")):
        for text in [*outputs, log]:
            assert secret not in text
        for data in files:
            assert secret.encode() not in data
    assert "<redacted>" in log


def test_the_bundle_of_a_fork_is_proven_offline(tmp_path: Path, log_server: SpecServer) -> None:
    import subprocess
    import sys

    state = tmp_path / "state"
    with serving(gate_config(tmp_path, [log_server.url]), state_dir=str(state)) as (url, _):
        assert value(probe(url, log_server.url, "gate").text, "probe_success") == 1
        _fork(log_server)
        text = probe(url, log_server.url, "gate").text
    assert statuses(text)["consistency"] == "failed"
    (bundle,) = (state / "evidence").iterdir()
    command = [sys.executable, "-m", "tlogcheck", "evidence", "verify", str(bundle)]
    done = subprocess.run([*command, "--tlog-vkey", VKEY],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1, done.stdout
    assert done.stdout.startswith("PROVEN: ")
    assert "PROVEN: split view: the log 'tlog.example.com/log' signed two trees of size 64" in (
        done.stdout
    )
