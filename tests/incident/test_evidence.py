"""Evidence bundles: the manifest guards every file, secrets stay out, the caps hold; and
the offline verifier proves only what the log signed, whatever a bundle's author put in.

The bundles of `forge` are built by hand: genuine checkpoints signed by the log's key
(`forge.SIGNER`), and beside them made-up entries and proofs, another key, a key only the
bundle names, another origin line, unsigned roots, answers that are no claim at all.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.conftest import MakeRefstack
from tests.incident import forge
from tests.incident.forge import ENTRIES, FORKED, OTHER_SIGNER, OTHER_VKEY, VKEY, answer
from tlogcheck import note, spec
from tlogcheck.cli import main
from tlogcheck.client import Purpose, Response, TLogClient, asking
from tlogcheck.client.purpose import CLIENT_IDENTITY, CONDITIONAL, ENCODING, PROBE, READ
from tlogcheck.incident.bundle import Recorder, load_bundle, redact_url, write_bundle
from tlogcheck.incident.evidence import verify_responses
from tlogcheck.refstack.data import demo_signer

CP = spec.PATH_CHECKPOINT


def verify(
    capsys: pytest.CaptureFixture[str], bundle: Path, *keys: str, verbose: bool = False
) -> tuple[int, str]:
    args = ["evidence", "verify", str(bundle), *(a for k in keys for a in ("--tlog-vkey", k))]
    code = main([*args, "-v"] if verbose else args)
    return code, capsys.readouterr().out


# --- bundles of the reference deployment --------------------------------------------------


def _bundle(make_refstack: MakeRefstack, tmp_path: Path, faults: list[str]) -> Path:
    stack = make_refstack(entries=256, faults=faults)
    info = getattr(stack, "info", stack)
    recorder = Recorder()
    with TLogClient(info.edge_url, recorder=recorder) as client, asking(READ, "the trees"):
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


def test_a_genuine_signed_split_view_is_proven_after_the_servers_are_gone(
    split_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = verify(capsys, split_bundle, demo_signer()[1])
    assert code == 1
    first = out.splitlines()[0]
    assert first.startswith("PROVEN: misbehaviour proven by the log's own signatures")
    assert "PROVEN: split view: the log 'tlog.example.com/log' signed two trees of size 256" in out


def test_without_a_pinned_key_the_same_split_view_is_only_shown(
    split_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = verify(capsys, split_bundle)
    assert code == 1
    assert out.startswith("SHOWN (not proven)") and "PROVEN:" not in out
    assert "a key only the bundle names: pin the log's key with --tlog-vkey" in out


def test_the_key_is_taken_from_the_suites_environment_twin(
    split_bundle: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TLOG_VKEY", demo_signer()[1])
    code, out = verify(capsys, split_bundle)
    assert code == 1 and out.startswith("PROVEN")


def test_a_malformed_pinned_key_is_a_usage_error(
    split_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evidence", "verify", str(split_bundle), "--tlog-vkey", "not+a+key"]) == 2
    assert "--tlog-vkey" in capsys.readouterr().err


def test_healthy_checkpoints_show_nothing(
    make_refstack: MakeRefstack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _bundle(make_refstack, tmp_path, [])
    code, text = verify(capsys, out, demo_signer()[1])
    assert code == 0 and text.startswith("nothing shown")


# --- hand-forged bundles: never PROVEN ---------------------------------------------------


def test_made_up_entries_and_proofs_beside_a_genuine_checkpoint_are_never_proven(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    made_up = b'{"n": 5, "v": "forged"}'
    lie = json.loads(forge.proof_body(ENTRIES, 5))
    lie["leaf_hash"] = forge.StoredTree.from_entries([made_up]).leaf_hash(0).hex()
    bundle = forge.write(
        tmp_path / "b",
        [
            answer(CP, forge.checkpoint(ENTRIES)),
            answer(spec.entry_path(5), made_up),
            answer(spec.proof_path(5, 16), json.dumps(lie).encode()),
            answer(spec.entry_path(6), b'{"n": 6, "v": "forged"}'),
            *forge.read_of(ENTRIES, 6)[1:],  # a genuine proof beside a made-up entry
        ],
        vkeys=[VKEY],
    )
    code, out = verify(capsys, bundle, VKEY)
    assert code == 1
    assert out.startswith("SHOWN (not proven)") and "PROVEN:" not in out
    assert "SHOWN: proof: the proof of leaf 5 in 16 served" in out
    assert "SHOWN: entry: entry 6 as served" in out
    assert "true as far as the bundle's author is trusted" in out


def test_a_made_up_consistency_proof_between_genuine_checkpoints_is_never_proven(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lie = {"first": 8, "second": 16, "consistency_path": ["00" * 32] * 2}
    bundle = forge.write(
        tmp_path / "b",
        [
            answer(CP, forge.checkpoint(ENTRIES, 8)),
            answer(CP, forge.checkpoint(ENTRIES)),
            answer(spec.consistency_path(8, 16), json.dumps(lie).encode()),
        ],
    )
    code, out = verify(capsys, bundle, VKEY)
    assert code == 1 and "PROVEN:" not in out
    assert "SHOWN: consistency: the consistency proof served" in out


def test_two_keys_are_two_logs_not_a_split_view(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = forge.write(
        tmp_path / "b",
        [
            answer(CP, forge.checkpoint(ENTRIES)),
            answer(CP, forge.checkpoint(FORKED, signers=[OTHER_SIGNER]), view="origin"),
        ],
        vkeys=[VKEY, OTHER_VKEY],
    )
    # The log's key pinned: the other key's checkpoint is another log's.
    code, out = verify(capsys, bundle, VKEY)
    assert code == 0 and out.startswith("nothing shown")
    assert "another log's checkpoint, never evidence against this one" in out
    # Both keys pinned, or none (the bundle names both): two logs, never one split view.
    for keys in ([VKEY, OTHER_VKEY], []):
        code, out = verify(capsys, bundle, *keys)
        assert code == 0, out
        assert "a log is its origin line and its key, so this is not a split view" in out


def test_a_key_only_the_bundle_names_convicts_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The attacker's key signs a split view of "the log"; the bundle names that key.
    bundle = forge.write(
        tmp_path / "b",
        [
            answer(CP, forge.checkpoint(ENTRIES, signers=[OTHER_SIGNER])),
            answer(CP, forge.checkpoint(FORKED, signers=[OTHER_SIGNER]), view="origin"),
        ],
        vkeys=[OTHER_VKEY],
    )
    code, out = verify(capsys, bundle)
    assert code == 1 and "PROVEN:" not in out
    assert "SHOWN: split view" in out and "a key only the bundle names" in out
    # With the log's own key pinned, they are another log's and say nothing of this one.
    code, out = verify(capsys, bundle, VKEY)
    assert code == 0 and out.startswith("nothing shown")


def test_another_origin_line_is_another_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = forge.write(
        tmp_path / "b",
        [
            answer(CP, forge.checkpoint(ENTRIES)),
            answer(CP, forge.checkpoint(FORKED, origin="tlog.example.com/staging"), view="origin"),
        ],
    )
    code, out = verify(capsys, bundle, VKEY)
    assert code == 0 and "PROVEN:" not in out
    assert "origin 'tlog.example.com/staging'" in out
    # No key anywhere: read unsigned, and still two logs, not one split view.
    code, out = verify(capsys, bundle)
    assert code == 0 and "different logs, not one split view" in out


def test_unsigned_roots_are_at_most_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = spec.PATH_ROOT
    bundle = forge.write(
        tmp_path / "b",
        [
            answer(root, forge.root_body(ENTRIES)),
            answer(root, forge.root_body(FORKED), view="origin"),
        ],
    )
    code, out = verify(capsys, bundle, VKEY)
    assert code == 1 and "PROVEN:" not in out
    assert "SHOWN: split view: two roots served for size 16" in out
    # Beside a signed checkpoint: the unsigned root that is not the signed tree is shown.
    bundle = forge.write(
        tmp_path / "c",
        [answer(CP, forge.checkpoint(ENTRIES)), answer(root, forge.root_body(FORKED))],
    )
    code, out = verify(capsys, bundle, VKEY)
    assert code == 1 and "PROVEN:" not in out
    assert "SHOWN: root: unsigned root 16:" in out and "is not the tree signed at size 16" in out


def test_a_signature_naming_the_key_that_does_not_verify_is_no_statement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = forge.checkpoint(ENTRIES)
    text, _, sig = good.rpartition(b"\n\n")
    broken = text + b"\n\n" + sig.replace(sig[-6:-2], b"AAAA")  # same key name and id
    bundle = forge.write(
        tmp_path / "b",
        [answer(CP, broken), answer(CP, forge.checkpoint(FORKED), view="origin")],
    )
    code, out = verify(capsys, bundle, VKEY)
    assert code == 1 and "PROVEN:" not in out  # one signed tree: nothing to conflict with
    assert "SHOWN: signature:" in out and "its signature does not verify" in out
    # Read as another client, it is not even shown.
    bundle = forge.write(tmp_path / "c", [answer(CP, broken, purpose=Purpose(CLIENT_IDENTITY))])
    code, out = verify(capsys, bundle, VKEY)
    assert code == 0 and "its signature does not verify (not a claim" in out


# --- what the log's signatures do prove ---------------------------------------------------


def test_a_split_view_of_one_log_is_proven_whoever_asked_for_the_checkpoints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A signature speaks for itself: read as curl or conditionally, it is still the log's.
    bundle = forge.write(
        tmp_path / "b",
        [
            answer(CP, forge.checkpoint(ENTRIES), purpose=Purpose(CLIENT_IDENTITY)),
            answer(CP, forge.checkpoint(FORKED), purpose=Purpose(CONDITIONAL), view="origin"),
        ],
    )
    code, out = verify(capsys, bundle, VKEY)
    assert code == 1 and out.startswith("PROVEN")
    assert "signed two trees of size 16, which cannot both be true" in out


def test_a_fork_between_two_sizes_is_proven_by_verifying_proofs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Tree 8 of the log, and tree 16 of a history where entry 3 was rewritten: both
    # signed, each with a proof of leaf 3 that verifies against its own signed root.
    bundle = forge.write(
        tmp_path / "b",
        [
            answer(CP, forge.checkpoint(ENTRIES, 8)),
            *forge.read_of(ENTRIES, 3, 8),
            answer(CP, forge.checkpoint(FORKED), view="origin"),
            *forge.read_of(FORKED, 3, view="origin"),
        ],
        vkeys=[VKEY],
    )
    code, out = verify(capsys, bundle, VKEY)
    assert code == 1 and out.startswith("PROVEN")
    assert "PROVEN: fork:" in out and "leaf 3 is" in out
    # The entries served agree with the trees they were read from: nothing else shown.
    assert "  SHOWN:" not in out
    # The same key named only by the bundle: the bundle's word, shown, not proven.
    code, out = verify(capsys, bundle)
    assert code == 1 and "SHOWN: fork:" in out and "PROVEN:" not in out


def test_an_honest_growing_log_is_no_fork(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = forge.write(
        tmp_path / "b",
        [
            answer(CP, forge.checkpoint(ENTRIES, 8)),
            *forge.read_of(ENTRIES, 3, 8),
            answer(CP, forge.checkpoint(ENTRIES)),
            *forge.read_of(ENTRIES, 3),
            answer(spec.consistency_path(8, 16), forge.consistency_body(ENTRIES, 8, 16)),
        ],
    )
    code, out = verify(capsys, bundle, VKEY, verbose=True)
    assert code == 0, out
    assert "checked: consistency 8 -> 16" in out and "checked: entry 3" in out


def test_a_signed_empty_tree_with_another_root_is_a_false_statement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lie = forge.note.sign_note(
        forge.note.format_checkpoint(forge.ORIGIN, 0, b"\x07" * 32), forge.SIGNER
    )
    code, out = verify(capsys, forge.write(tmp_path / "b", [answer(CP, lie)]), VKEY)
    assert code == 1 and "PROVEN: false tree" in out


# --- what is not a claim is never read as one ---------------------------------------------


def test_probes_refusals_and_other_clients_reads_are_not_claims(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = b"<html>not the entry</html>"
    bundle = forge.write(
        tmp_path / "b",
        [
            answer(CP, forge.checkpoint(ENTRIES)),
            *forge.read_of(ENTRIES, 0),
            # The malformed-index probes: `+0`, `-0`, `00`, `%200` are not entry 0.
            *(
                answer(p, wrong, purpose=Purpose(PROBE))
                for p in ("/v1/log/entry/+0", "/v1/log/entry/-0", "/v1/log/entry/00")
            ),
            answer("/v1/log/entry/%200", wrong, purpose=None),  # not even a purpose
            answer("/v1/log/proof/00?tree_size=16", wrong, status=400),
            answer(spec.proof_path(0, 16), b'{"error": "bad"}', status=400),
            answer(spec.entry_path(0), b"", status=304, purpose=Purpose(CONDITIONAL)),
            answer(spec.entry_path(0), wrong, purpose=Purpose(CONDITIONAL)),
            answer(spec.entry_path(0), wrong, purpose=Purpose(CLIENT_IDENTITY)),
            answer(spec.entry_path(0), wrong, purpose=Purpose(ENCODING)),
            answer(spec.entry_path(16), wrong, purpose=Purpose(PROBE)),
            answer(spec.entry_path(0), wrong, status=500),
            answer(spec.proof_path(0, 16), wrong, status=503),
        ],
    )
    code, out = verify(capsys, bundle, VKEY, verbose=True)
    assert code == 0, out
    assert out.startswith("nothing shown") and "PROVEN" not in out and "SHOWN" not in out
    # Two asked with no purpose or a refused one: their path asks nothing of the API.
    assert "not a claim: 2 answer(s): not a request of the API as the spec spells it" in out
    assert "not a claim: 4 answer(s): asked as probe" in out
    assert "asked as conditional" in out
    assert "asked as client-identity" in out and "asked as encoding" in out
    assert "HTTP 400" in out and "HTTP 500" in out and "HTTP 503" in out


def test_a_bundle_without_purposes_shows_but_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = forge.write(
        tmp_path / "b",
        [
            answer(CP, forge.checkpoint(ENTRIES)),
            *forge.read_of(ENTRIES, 2)[1:],
            answer(spec.entry_path(2), ENTRIES[9]),
        ],
        old_format=True,
    )
    assert load_bundle(bundle).meta["format"] == "tlogcheck-evidence/1"
    code, out = verify(capsys, bundle, VKEY)
    assert code == 1 and "PROVEN:" not in out
    assert "SHOWN: entry: entry 2" in out and "(recorded without a purpose)" in out
    assert "recorded without a purpose (a bundle of an older format)" in out
    # A signature needs no purpose: an older bundle's signed split view is still proven.
    bundle = forge.write(
        tmp_path / "c",
        [answer(CP, forge.checkpoint(ENTRIES)), answer(CP, forge.checkpoint(FORKED))],
        old_format=True,
    )
    code, out = verify(capsys, bundle, VKEY)
    assert code == 1 and "PROVEN: split view" in out


def test_the_verdict_comes_first_and_what_was_checked_with_verbose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = forge.write(
        tmp_path / "b", [answer(CP, forge.checkpoint(ENTRIES)), *forge.read_of(ENTRIES, 1)]
    )
    code, out = verify(capsys, bundle, VKEY)
    assert code == 0 and out.startswith("nothing shown") and "checked:" not in out
    code, out = verify(capsys, bundle, VKEY, verbose=True)
    assert "checked: proof of 1 in 16 (edge)" in out


# --- tiled logs: the same rules -----------------------------------------------------------


def test_tiles_that_do_not_rebuild_a_genuine_checkpoint_are_only_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The tiles of another history, beside the log's genuine signed checkpoint.
    cp = answer("/checkpoint", forge.checkpoint(ENTRIES))
    bundle = forge.write(tmp_path / "b", [cp, *forge.tiles_answers(FORKED)])
    code, out = verify(capsys, bundle, VKEY)
    assert code == 1 and "PROVEN:" not in out
    assert "SHOWN: tiles: checkpoint 16:" in out


def test_a_tiled_split_view_is_proven_and_honest_tiles_show_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    honest = [answer("/checkpoint", forge.checkpoint(ENTRIES)), *forge.tiles_answers(ENTRIES)]
    code, out = verify(capsys, forge.write(tmp_path / "a", honest), VKEY, verbose=True)
    assert code == 0 and "root rebuilt from the right edge" in out
    split = [
        *honest,
        answer("/checkpoint", forge.checkpoint(FORKED), view="origin"),
        *forge.tiles_answers(FORKED, view="origin"),
    ]
    code, out = verify(capsys, forge.write(tmp_path / "b", split), VKEY)
    assert code == 1 and "PROVEN: split view" in out


def test_a_tile_answered_404_is_no_claim(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = [
        answer(r.path, b'{"error":"not found"}', status=404) if r.path == "/tile/0/000.p/16" else r
        for r in forge.tiles_answers(ENTRIES)
    ]
    bundle = forge.write(tmp_path / "b", [answer("/checkpoint", forge.checkpoint(ENTRIES)), *gone])
    code, out = verify(capsys, bundle, VKEY)
    assert code == 0
    assert "not rebuilt" in out and "an absence is not a claim" in out


# --- the bundle itself ---------------------------------------------------------------------


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


def test_a_malformed_purpose_is_a_malformed_bundle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = forge.write(tmp_path / "b", [answer(CP, forge.checkpoint(ENTRIES))])
    meta = json.loads((bundle / "bundle.json").read_text())
    meta["responses"][0]["purpose"] = {"kind": "trust me"}
    forge._rewrite(bundle, meta)
    assert main(["evidence", "verify", str(bundle)]) == 2
    assert "response 0 is malformed" in capsys.readouterr().out


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
    recorder(answer(spec.PATH_ROOT, b'{"tree_size": 1}'))
    out = write_bundle(tmp_path / "b", recorder, target={}, vkeys=[], verdicts=[])
    assert main(["evidence", "verify", str(out)]) == 0
    assert "cut at the size cap" in capsys.readouterr().out


def test_findings_name_no_credential_of_the_target(tmp_path: Path) -> None:
    # What the run verifies in memory (for its report and the gate) has the URLs as asked.
    base = "https://ops:hunter2@tlog.example.com"
    result = verify_responses(
        [
            answer(CP, forge.checkpoint(ENTRIES), base=base),
            answer(CP, forge.checkpoint(FORKED), base=base, view="origin"),
            answer(spec.PATH_ROOT, forge.root_body(FORKED, 16), base=base),
        ],
        pinned=[note.parse_verifier_key(VKEY)],
    )
    assert result.level == "proven"
    text = json.dumps([f.to_json() for f in result.findings]) + "\n".join(result.notes)
    assert "hunter2" not in text and "tlog.example.com/v1/log/checkpoint" in text


def test_a_live_answer_and_its_recorded_copy_come_from_the_same_endpoint() -> None:
    """The run verifies its live answers (their URLs keep the query), `evidence verify`
    the recorded ones (query removed): an entry and its proof pair up either way."""
    from tlogcheck.incident.claims import classify

    path = spec.proof_path(5, 8)
    live = Response(
        url="http://127.0.0.1:8080" + path,
        path=path,
        view="edge",
        status=200,
        headers=httpx.Headers(),
        body=b"{}",
        elapsed=0.0,
        purpose=Purpose(READ, "inclusion"),
    )
    recorded = Response(**{**live.__dict__, "url": redact_url(live.url)})
    entry = Response(**{**live.__dict__, "url": "http://127.0.0.1:8080/v1/log/entry/5"})
    entry = Response(**{**entry.__dict__, "path": "/v1/log/entry/5"})
    assert classify(live).source == classify(recorded).source == classify(entry).source
