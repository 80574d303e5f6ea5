"""`tlogcheck verify URL INDEX`: the playbook's verify_client.py, exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MakeRefstack
from tests.spec_server import SpecServer, make_entries
from tlogcheck.cli import main
from tlogcheck.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from tlogcheck.refstack.server import free_port

N = 64


@pytest.fixture
def server() -> Iterator[SpecServer]:
    with SpecServer(make_entries(N)) as s:
        yield s


def verify(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["verify", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def verify_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, _ = verify(capsys, *argv, "--json")
    result: dict[str, Any] = json.loads(out)
    assert result["exit"] == code
    return result


def test_verified(server: SpecServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = verify(capsys, server.url, "17")
    root = server.tree.root().hex()
    assert code == EXIT_OK, out + err
    assert out == f"verified: entry 17 in tree {N} root {root} (release v1.0.0)\n"
    assert [p.split("?")[0] for p in server.paths()] == [
        "/v1/log/root",
        "/v1/log/entry/17",
        "/v1/log/proof/17",
    ]
    assert server.seen[2].path == f"/v1/log/proof/17?tree_size={N}"


@pytest.mark.parametrize("index", [0, 31, 32, N - 1])
def test_verified_at_the_edges_of_the_tree(
    server: SpecServer, capsys: pytest.CaptureFixture[str], index: int
) -> None:
    assert verify(capsys, server.url, str(index))[0] == EXIT_OK


def test_verified_as_json(server: SpecServer, capsys: pytest.CaptureFixture[str]) -> None:
    result = verify_json(capsys, server.url, "5")
    assert result["result"] == "verified" and result["exit"] == EXIT_OK
    assert result["tree_size"] == N and result["root_hash"] == server.tree.root().hex()
    assert result["leaf_hash"] == server.tree.leaf_hash(5).hex()
    assert result["rule"] is None


def test_origin_sends_bypass(server: SpecServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = verify(capsys, server.url, "3", "--origin")
    assert code == EXIT_OK and "via origin (X-Bypass: 1)" in out
    assert all(s.headers.get("x-bypass") == "1" for s in server.seen)


# -- the target proved wrong: exit 1, the rule named -------------------------------------


def test_corrupted_entry(server: SpecServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.knobs.corrupt_entries = {9}
    code, out, _ = verify(capsys, server.url, "9")
    assert code == EXIT_FAILED
    assert out.startswith("FAILED: leaf hash: entry 9 as served hashes to ")
    assert "evidence: edge GET /v1/log/entry/9 -> HTTP 200" in out
    assert verify(capsys, server.url, "8")[0] == EXIT_OK


def test_bad_proof(server: SpecServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.knobs.proof_flip_bit = True
    code, out, _ = verify(capsys, server.url, "9")
    assert code == EXIT_FAILED
    assert re.match(r"FAILED: inclusion proof: calculated root [0-9a-f]{64} does not match", out)


def test_extra_proof_hash(server: SpecServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.knobs.proof_extra_hash = True
    result = verify_json(capsys, server.url, "9")
    assert result["exit"] == EXIT_FAILED and result["rule"] == "inclusion proof"
    assert "extra hash" in result["detail"]
    assert any("/v1/log/proof/9" in e for e in result["evidence"])


def test_wrong_root(server: SpecServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.knobs.root_hash = bytes(32)
    code, out, _ = verify(capsys, server.url, "9")
    assert code == EXIT_FAILED
    assert f"does not match root {'00' * 32}" in out


def test_malformed_root(server: SpecServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.knobs.bodies = {"/v1/log/root": b'{"tree_size": "64"}'}
    code, out, _ = verify(capsys, server.url, "9")
    assert code == EXIT_FAILED
    assert out.startswith("FAILED: root format: root: field 'tree_size' is '64' (string)")


def test_malformed_proof(server: SpecServer, capsys: pytest.CaptureFixture[str]) -> None:
    good = json.loads(server.answer("/v1/log/proof/9", {"tree_size": str(N)})[1])
    good["leaf_hash"] = good["leaf_hash"].upper()
    server.knobs.bodies = {"/v1/log/proof/9": json.dumps(good).encode()}
    code, out, _ = verify(capsys, server.url, "9")
    assert code == EXIT_FAILED and out.startswith("FAILED: proof format: ")


def test_proof_for_another_question(server: SpecServer, capsys: pytest.CaptureFixture[str]) -> None:
    other = server.answer("/v1/log/proof/8", {"tree_size": str(N)})[1]
    server.knobs.bodies = {"/v1/log/proof/9": other}
    code, out, _ = verify(capsys, server.url, "9")
    assert code == EXIT_FAILED
    assert out.startswith(
        f"FAILED: proof question: asked for leaf 9 in tree {N}, the proof is for leaf 8 in tree {N}"
    )


def test_entry_not_200(
    server: SpecServer, other_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    server.knobs.redirects = {"/v1/log/entry/9": f"http://localhost:{other_port}/x"}
    code, out, _ = verify(capsys, server.url, "9")
    assert code == EXIT_FAILED
    assert out.startswith("FAILED: entry: entry 9: HTTP 302, expected 200")


def test_root_unavailable(server: SpecServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.knobs.status = 500
    code, out, _ = verify(capsys, server.url, "9")
    # A 5xx is what was answered, never a verdict about the log.
    assert code == EXIT_FAILED
    assert out.startswith("FAILED: server error: HTTP 500 after retries (Ingress5xxHigh)")


def test_trickling_target_fails(server: SpecServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.knobs.trickle = 0.2
    code, out, _ = verify(capsys, server.url, "9", "--timeout", "0.3")
    assert code == EXIT_FAILED
    assert out.startswith("FAILED: response: edge GET ") and "deadline" in out


def test_oversized_body_fails(server: SpecServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.knobs.huge = "length"
    code, out, _ = verify(capsys, server.url, "9")
    assert code == EXIT_FAILED
    assert out.startswith("FAILED: response: GET ") and "16 MiB cap" in out


# -- usage errors and an unreachable target: exit 2 --------------------------------------


@pytest.fixture
def other_port() -> int:
    """A loopback port nothing listens on."""
    return free_port()


def test_unreachable(other_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = verify(capsys, f"http://127.0.0.1:{other_port}", "0", "--timeout", "2")
    assert code == EXIT_USAGE and out == ""
    assert "unreachable" in err and "inconclusive" in err and "ConnectError" in err


def test_unreachable_as_json(other_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    result = verify_json(capsys, f"http://127.0.0.1:{other_port}", "0")
    assert (result["result"], result["exit"]) == ("unreachable", EXIT_USAGE)


def test_index_outside_the_tree(server: SpecServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = verify(capsys, server.url, str(N))
    assert code == EXIT_USAGE and out == ""
    assert f"index {N} is outside the tree: its size is {N}" in err
    assert not any("/entry/" in p for p in server.paths())


@pytest.mark.parametrize("index", ["-1", "x", "1.5", "١"])
def test_malformed_index(capsys: pytest.CaptureFixture[str], index: str) -> None:
    with pytest.raises(SystemExit) as info:
        main(["verify", "http://127.0.0.1:9", index])
    assert info.value.code == EXIT_USAGE
    assert "INDEX" in capsys.readouterr().err


@pytest.mark.parametrize("url", ["ftp://example.com", "not a url", "http://"])
def test_bad_url(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, _, err = verify(capsys, url, "0")
    assert code == EXIT_USAGE and "usage error" in err


# -- a remembered tree (custody record) --------------------------------------------------


def test_remembered_tree(server: SpecServer, capsys: pytest.CaptureFixture[str]) -> None:
    old = server.tree.root(40).hex()
    code, out, _ = verify(capsys, server.url, "5", "--tree-size", "40", "--root-hash", old)
    assert code == EXIT_OK, out
    assert f"in remembered tree 40 root {old}, consistent with served tree {N}" in out
    assert "/v1/log/proof/5?tree_size=40" in server.paths()
    assert f"/v1/log/consistency?first=40&second={N}" in server.paths()


def test_remembered_tree_with_another_root(
    server: SpecServer, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = server.tree.root(41).hex()
    code, out, _ = verify(capsys, server.url, "5", "--tree-size", "40", "--root-hash", wrong)
    assert code == EXIT_FAILED and out.startswith("FAILED: inclusion proof")
    same_size = verify(capsys, server.url, "5", "--tree-size", str(N), "--root-hash", wrong)
    assert same_size[0] == EXIT_FAILED
    assert same_size[1].startswith("FAILED: inclusion proof")


def test_remembered_tree_larger_than_served(
    server: SpecServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = verify(capsys, server.url, "5", "--tree-size", "65", "--root-hash", "ab" * 32)
    assert code == EXIT_FAILED
    assert out.startswith(f"FAILED: remembered tree: the served tree has {N} entries, fewer")


def test_remembered_tree_options_go_together(
    server: SpecServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = verify(capsys, server.url, "5", "--tree-size", "40")
    assert code == EXIT_USAGE and "go together" in err
    code, _, err = verify(capsys, server.url, "45", "--tree-size", "40", "--root-hash", "ab" * 32)
    assert code == EXIT_USAGE and "its size is 40" in err


# -- the checkpoint (--vkey) -------------------------------------------------------------


@pytest.fixture
def note() -> Any:
    return pytest.importorskip("tlogcheck.note")


@pytest.fixture
def signed(note: Any) -> Iterator[tuple[SpecServer, str]]:
    signer, vkey = note.generate_signer("tlog.example.com/log")
    with SpecServer(make_entries(N), signer_key=signer) as s:
        yield s, vkey


def test_checkpoint_verified(
    signed: tuple[SpecServer, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server, vkey = signed
    code, out, _ = verify(capsys, server.url, "17", "--vkey", vkey)
    assert code == EXIT_OK, out
    assert "checkpoint signed by tlog.example.com/log" in out
    assert "/v1/log/checkpoint" in server.paths()
    key_file = tmp_path / "tlog.vkey"
    key_file.write_text(vkey + "\n")
    assert verify(capsys, server.url, "17", "--vkey", str(key_file))[0] == EXIT_OK


def test_checkpoint_by_an_unknown_key(
    signed: tuple[SpecServer, str], note: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    server, _ = signed
    _, stranger = note.generate_signer("tlog.example.com/log")
    code, out, _ = verify(capsys, server.url, "17", "--vkey", stranger)
    assert code == EXIT_FAILED and out.startswith("FAILED: checkpoint signature: ")


def test_one_of_several_keys_is_enough(
    signed: tuple[SpecServer, str], note: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    server, vkey = signed
    _, stranger = note.generate_signer("other.example/log")
    assert verify(capsys, server.url, "1", "--vkey", stranger, "--vkey", vkey)[0] == EXIT_OK


def test_checkpoint_of_another_tree(
    signed: tuple[SpecServer, str], capsys: pytest.CaptureFixture[str]
) -> None:
    server, vkey = signed
    server.knobs.checkpoint_size = N - 1
    code, out, _ = verify(capsys, server.url, "17", "--vkey", vkey)
    assert code == EXIT_FAILED
    assert out.startswith(f"FAILED: checkpoint vs root: the checkpoint describes tree {N - 1}")


@pytest.mark.parametrize("bad", ["not-a-key", "name+zz+AAAA", "/nonexistent/tlog.vkey"])
def test_bad_vkey(server: SpecServer, capsys: pytest.CaptureFixture[str], bad: str) -> None:
    pytest.importorskip("tlogcheck.note")
    code, out, err = verify(capsys, server.url, "0", "--vkey", bad)
    assert code == EXIT_USAGE and out == ""
    assert "usage error: --tlog-vkey (command line)" in err
    assert server.seen == []  # nothing fetched with a key that cannot verify anything


# -- the suite's target options ------------------------------------------------------------


def test_the_suites_target_options_reach_a_gateway(
    make_refstack: MakeRefstack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "X-Access-Token: verify-s3cret"
    info = make_refstack(entries=256, require_header=secret).info
    code, out, _ = verify(capsys, info.edge_url, "7")
    assert code == EXIT_FAILED and "HTTP 401" in out and "--tlog-header" in out
    code, out, err = verify(capsys, info.edge_url, "7", "--tlog-header", secret,
                            "--tlog-vkey", info.vkey)  # fmt: skip
    assert code == EXIT_OK, out + err
    assert "verify-s3cret" not in out + err
    monkeypatch.setenv("TLOG_HEADER", secret)
    monkeypatch.setenv("TLOG_URL", info.edge_url)
    monkeypatch.setenv("TLOG_INDEX", "9")
    code, out, err = verify(capsys)
    assert code == EXIT_OK and out.startswith("verified: entry 9 "), out + err


def test_the_release_db_is_checked_against_the_served_tree(
    make_refstack: MakeRefstack, capsys: pytest.CaptureFixture[str]
) -> None:
    info = make_refstack(entries=256).info
    db = ("--tlog-db", info.db_path, "--tlog-db-sha256", info.db_sha256_path)
    assert verify(capsys, info.edge_url, "3", *db)[0] == EXIT_OK
    code, out, _ = verify(capsys, info.edge_url, "3", "--tlog-db", info.db_path,
                          "--tlog-db-sha256", "ab" * 32)  # fmt: skip
    assert code == EXIT_FAILED and out.startswith("FAILED: db.jsonl: sha256sum ")


def test_an_unknown_argument_never_echoes_a_header_or_credential(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for wrong in (
        ["--tlog-hedaer", "X-Access-Token: s3cret-value"],
        ["--tlog-hedaer=X-Access-Token: s3cret-value"],
        ["X-Access-Token: s3cret-value"],
        ["--proxy", "http://user:s3cret-value@proxy:3128"],
    ):
        with pytest.raises(SystemExit) as info:
            main(["verify", "http://127.0.0.1:9", "0", *wrong])
        assert info.value.code == EXIT_USAGE
        err = capsys.readouterr().err
        assert "s3cret-value" not in err and "unrecognized" in err, err
