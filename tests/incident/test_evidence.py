"""Evidence bundles: the manifest guards every file, secrets stay out, the caps hold."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.conftest import MakeRefstack
from tlogcheck.cli import main
from tlogcheck.client import Response, TLogClient
from tlogcheck.incident.bundle import Recorder, load_bundle, redact_url, write_bundle


def _bundle(make_refstack: MakeRefstack, tmp_path: Path, faults: list[str]) -> Path:
    stack = make_refstack(entries=256, faults=faults)
    info = getattr(stack, "info", stack)
    recorder = Recorder()
    with TLogClient(info.edge_url, recorder=recorder) as client:
        for view in ("edge", "origin"):
            client.get("/v1/log/root", view=view)
            client.get("/v1/log/checkpoint", view=view)
    out = tmp_path / "b"
    write_bundle(
        out,
        recorder,
        target={"url": "https://ops:hunter2@tlog.example.com/?token=s3cret"},
        vkeys=[info.vkey],
        verdicts=[],
    )
    stack.close()
    return out


@pytest.fixture
def split_bundle(make_refstack: MakeRefstack, tmp_path: Path) -> Path:
    return _bundle(make_refstack, tmp_path, ["split-view"])


def test_split_view_is_proven_from_checkpoints_alone(
    split_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evidence", "verify", str(split_bundle)]) == 1
    assert "split view: PROVEN" in capsys.readouterr().out


def test_healthy_checkpoints_show_no_failure(
    make_refstack: MakeRefstack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _bundle(make_refstack, tmp_path, [])
    assert main(["evidence", "verify", str(out)]) == 0


def test_a_changed_body_is_rejected(split_bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = split_bundle / "responses" / "0000.body"
    body.write_bytes(body.read_bytes().replace(b"1", b"2", 1))
    assert main(["evidence", "verify", str(split_bundle)]) == 2
    out = capsys.readouterr().out
    assert "responses/0000.body" in out and "altered" in out


@pytest.mark.parametrize("tamper", ["extra", "missing", "manifest", "meta"])
def test_a_bundle_not_matching_its_manifest_is_rejected(
    split_bundle: Path, capsys: pytest.CaptureFixture[str], tamper: str
) -> None:
    if tamper == "extra":
        (split_bundle / "responses" / "9999.body").write_bytes(b"{}")
    elif tamper == "missing":
        (split_bundle / "responses" / "0001.body").unlink()
    elif tamper == "manifest":
        (split_bundle / "manifest.json").write_text("not json")
    else:
        meta = json.loads((split_bundle / "bundle.json").read_text())
        meta["vkeys"] = []
        (split_bundle / "bundle.json").write_text(json.dumps(meta))
    assert main(["evidence", "verify", str(split_bundle)]) == 2
    assert "bundle rejected" in capsys.readouterr().out


def test_not_a_directory_is_rejected(tmp_path: Path) -> None:
    assert main(["evidence", "verify", str(tmp_path / "nope")]) == 2


def test_secrets_never_reach_the_bundle(split_bundle: Path) -> None:
    text = "".join(p.read_text(errors="replace") for p in split_bundle.rglob("*") if p.is_file())
    assert "hunter2" not in text and "s3cret" not in text
    assert redact_url("https://u:p@h:8443/x?t=1") == "https://h:8443/x"


def test_response_headers_carrying_credentials_are_redacted(tmp_path: Path) -> None:
    recorder = Recorder()
    recorder(
        Response(
            url="http://h/v1/log/root",
            path="/v1/log/root",
            view="edge",
            status=200,
            headers=httpx.Headers({"Set-Cookie": "session=abc123", "ETag": '"x"'}),
            body=b"{}",
            elapsed=0.0,
        )
    )
    out = write_bundle(tmp_path / "b", recorder, target={}, vkeys=[], verdicts=[])
    assert "abc123" not in (out / "bundle.json").read_text()
    assert load_bundle(out).responses[0].header("etag") == '"x"'


def test_caps_bound_each_response_and_the_bundle() -> None:
    recorder = Recorder(max_response=10, max_bundle=25)
    for _ in range(4):
        recorder(
            Response(
                url="http://h/e",
                path="/v1/log/entry/0",
                view="edge",
                status=200,
                headers=httpx.Headers(),
                body=b"x" * 100,
                elapsed=0.0,
            )
        )
    kept = recorder.responses
    assert len(kept) == 2 and all(truncated for _, truncated in kept)
    assert recorder.dropped == 2


def test_a_truncated_body_is_never_taken_for_proof(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = Recorder(max_response=4)
    recorder(
        Response(
            url="http://h/v1/log/root",
            path="/v1/log/root",
            view="edge",
            status=200,
            headers=httpx.Headers(),
            body=b'{"tree_size": 1}',
            elapsed=0.0,
        )
    )
    out = write_bundle(tmp_path / "b", recorder, target={}, vkeys=[], verdicts=[])
    assert main(["evidence", "verify", str(out)]) == 0
    assert "cut at the size cap" in capsys.readouterr().out
