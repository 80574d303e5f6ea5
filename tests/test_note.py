"""C2SP signed notes and tlog checkpoints: signing, verifying, and every rejection."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tlogcheck.errors import FormatError, NoteError
from tlogcheck.note import (
    Checkpoint,
    Signature,
    SignedNote,
    Verifier,
    format_checkpoint,
    generate_signer,
    key_id,
    load_verifier_key,
    parse_checkpoint,
    parse_note,
    parse_verifier_key,
    sign_note,
    signer_from_seed,
    verifier_key_of,
    verify_checkpoint,
    verify_note,
)

SETTINGS = settings(database=None, deadline=None)

# The example keys and note of golang.org/x/mod/sumdb/note (its note_test.go): a second,
# independent implementation's output for the same key and text.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    b"If you think cryptography is the answer to your problem,\n"
    b"then you don't know what your problem is.\n"
)
GO_PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqd"
    "ngotpRZb6KE6RyyBwJnAM=\n"
).encode()
GO_ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnW"
    "Lox33WWd1RvMc+QQ=\n"
).encode()

ORIGIN = "tlog.example.com/log"
ROOT = hashlib.sha256(b"a root").digest()
SKEY, VKEY = signer_from_seed(ORIGIN, bytes(range(32)))
OTHER_SKEY, OTHER_VKEY = signer_from_seed("witness.example.org", bytes(range(1, 33)))


def checkpoint_note(*skeys: str, size: int = 2048, root: bytes = ROOT) -> bytes:
    return sign_note(format_checkpoint(ORIGIN, size, root), *(skeys or (SKEY,)))


def rejects(data: bytes, *verifiers: Verifier) -> str:
    with pytest.raises(NoteError) as info:
        verify_note(data, list(verifiers) or [parse_verifier_key(VKEY)])
    return str(info.value)


# --- Keys ---------------------------------------------------------------------------------


def test_key_id_known_answer_computed_here() -> None:
    private = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    public = private.public_key().public_bytes_raw()
    want = hashlib.sha256(ORIGIN.encode() + b"\n" + b"\x01" + public).digest()[:4]
    assert key_id(ORIGIN, public) == want
    b64 = base64.b64encode(b"\x01" + public).decode()
    assert VKEY == f"{ORIGIN}+{want.hex()}+{b64}"
    seed64 = base64.b64encode(b"\x01" + bytes(range(32))).decode()
    assert SKEY == f"PRIVATE+KEY+{ORIGIN}+{want.hex()}+{seed64}"
    v = parse_verifier_key(VKEY)
    assert v == Verifier(ORIGIN, want, public)
    assert str(v) == VKEY


def test_go_note_package_vectors() -> None:
    assert verifier_key_of(GO_SKEY) == GO_VKEY
    assert sign_note(GO_TEXT, GO_SKEY) == GO_TEXT + b"\n" + GO_PETER_SIG
    peter, enoch = parse_verifier_key(GO_VKEY), parse_verifier_key(GO_ENOCH_VKEY)
    assert peter.key_id == bytes.fromhex("c74f20a3")
    both = GO_TEXT + b"\n" + GO_PETER_SIG + GO_ENOCH_SIG
    # One known, one unknown: the unknown one is left out.
    assert [s.key for s in verify_note(both, [peter]).signatures] == ["PeterNeumann+c74f20a3"]
    assert [s.key for s in verify_note(both, [peter, enoch]).signatures] == [
        "PeterNeumann+c74f20a3",
        "EnochRoot+af0cfe78",
    ]
    with pytest.raises(NoteError, match="no signature by a known key"):
        verify_note(both, [])
    # A known key's signature with 4 characters inserted no longer verifies.
    broken = GO_PETER_SIG[:60] + b"ABCD" + GO_PETER_SIG[60:]
    assert "PeterNeumann+c74f20a3 does not verify" in rejects(GO_TEXT + b"\n" + broken, peter)


GO_BAD_MESSAGES = [
    GO_TEXT,
    GO_TEXT + b"\n",
    GO_TEXT + b"\n" + GO_PETER_SIG[:-1],
    b"\x01" + GO_TEXT + b"\n" + GO_PETER_SIG,
    b"\xff" + GO_TEXT + b"\n" + GO_PETER_SIG,
    GO_TEXT + b"\n" + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuG".encode(),
    GO_TEXT + b"\n" + GO_PETER_SIG + b"Unexpected line.\n",
    GO_TEXT + b"\n" + GO_PETER_SIG * 101,
]


@pytest.mark.parametrize("data", GO_BAD_MESSAGES, ids=range(len(GO_BAD_MESSAGES)))
def test_go_malformed_messages(data: bytes) -> None:
    with pytest.raises(NoteError):
        parse_note(data)
    rejects(data, parse_verifier_key(GO_VKEY))


def test_generated_keys_round_trip() -> None:
    skey, vkey = generate_signer("log.example")
    assert verifier_key_of(skey) == vkey
    assert skey.startswith("PRIVATE+KEY+log.example+")
    v = parse_verifier_key(vkey)
    assert verify_note(sign_note(b"hello\n", skey), [v]).text == b"hello\n"
    assert generate_signer("log.example") != (skey, vkey)


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        ("", "is not <name>+<key id>+<key>"),
        ("name+c74f20a3", "is not <name>+<key id>+<key>"),
        (GO_VKEY.replace("c74f20a3", "c74f20a"), "not 8 hex digits"),
        (GO_VKEY.replace("c74f20a3", "c74f20ag"), "not 8 hex digits"),
        (GO_VKEY.replace("c74f20a3", "c74f20a4"), "does not match the key"),
        (GO_VKEY.replace("PeterNeumann", "PeterNeuman"), "does not match the key"),
        (GO_VKEY.replace("PeterNeumann", ""), "key name is empty"),
        (GO_VKEY.replace("PeterNeumann", "Peter Neumann"), "contains a space"),
        (GO_VKEY.replace("ARpc", "Apc"), "not standard base64"),
        (GO_VKEY + "=", "not canonical base64"),
        (GO_VKEY.replace("ARpc", "Ahpc"), "not an Ed25519 key"),
        ("PeterNeumann+c74f20a3+" + base64.b64encode(b"\x01" + bytes(31)).decode(), "Ed25519"),
    ],
)
def test_bad_verifier_keys(vkey: str, message: str) -> None:
    with pytest.raises(NoteError) as info:
        parse_verifier_key(vkey)
    assert message in str(info.value)


def test_load_verifier_key_from_string_or_file(tmp_path: Path) -> None:
    assert load_verifier_key(GO_VKEY) == parse_verifier_key(GO_VKEY)
    assert load_verifier_key(f"  {GO_VKEY}\n") == parse_verifier_key(GO_VKEY)
    path = tmp_path / "log.vkey"
    path.write_text(f"# the log's key\n\n{VKEY}\n")
    assert load_verifier_key(str(path)) == parse_verifier_key(VKEY)
    path.write_text(f"{VKEY}\n{GO_VKEY}\n")
    with pytest.raises(NoteError, match="want one key line, found 2"):
        load_verifier_key(str(path))
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(NoteError, match="cannot read"):
        load_verifier_key(str(path))
    with pytest.raises(NoteError, match="neither a verifier key"):
        load_verifier_key(str(tmp_path / "missing.vkey"))


@pytest.mark.parametrize(
    ("skey", "message"),
    [
        (GO_VKEY, "is not PRIVATE"),
        (GO_SKEY.replace("PRIVATE", "private"), "is not PRIVATE"),
        (GO_SKEY.replace("c74f20a3", "c74f20a4"), "does not match the key"),
        (GO_SKEY.replace("c74f20a3", "xyz"), "not 8 hex digits"),
        (GO_SKEY.replace("AYEK", "AyEK"), "not an Ed25519 seed"),
        (GO_SKEY[:-4], "not an Ed25519 seed"),
        (GO_SKEY.replace("AYEK", "A!EK"), "not standard base64"),
    ],
)
def test_bad_signer_keys(skey: str, message: str) -> None:
    with pytest.raises(NoteError, match=message) as info:
        sign_note(b"text\n", skey)
    assert "AYEKFALV" not in str(info.value)


# --- Signing and verifying ----------------------------------------------------------------


def test_checkpoint_round_trip() -> None:
    data = checkpoint_note()
    assert data.startswith(f"{ORIGIN}\n2048\n{base64.b64encode(ROOT).decode()}\n\n— ".encode())
    note = verify_note(data, [parse_verifier_key(VKEY)])
    assert note == SignedNote(note.text, note.signatures)
    assert [s.key_name for s in note.signatures] == [ORIGIN]
    assert len(note.signatures[0].signature) == 64
    assert parse_checkpoint(note.text) == Checkpoint(ORIGIN, 2048, ROOT, ())
    assert verify_checkpoint(data, [parse_verifier_key(VKEY)]) == Checkpoint(ORIGIN, 2048, ROOT)


def test_multiple_keys() -> None:
    mine, other = parse_verifier_key(VKEY), parse_verifier_key(OTHER_VKEY)
    data = checkpoint_note(SKEY, OTHER_SKEY)
    assert [s.key_name for s in parse_note(data).signatures] == [ORIGIN, "witness.example.org"]
    assert [s.key_name for s in verify_note(data, [mine]).signatures] == [ORIGIN]
    assert [s.key_name for s in verify_note(data, [other]).signatures] == ["witness.example.org"]
    assert len(verify_note(data, [other, mine]).signatures) == 2
    # Either key alone is enough when the note carries only its signature.
    assert verify_note(checkpoint_note(OTHER_SKEY), [mine, other]).signatures[0].key_name == (
        "witness.example.org"
    )


def test_unknown_signature_is_ignored() -> None:
    stranger_skey, _ = generate_signer("stranger")
    data = checkpoint_note(stranger_skey, SKEY)
    assert [s.key_name for s in verify_note(data, [parse_verifier_key(VKEY)]).signatures] == [
        ORIGIN
    ]
    # Same name, other key id: also unknown, also ignored.
    impostor_skey, _ = generate_signer(ORIGIN)
    data = checkpoint_note(impostor_skey, SKEY)
    assert len(verify_note(data, [parse_verifier_key(VKEY)]).signatures) == 1


def test_duplicate_signature_counts_once() -> None:
    data = checkpoint_note(SKEY, SKEY)
    assert len(verify_note(data, [parse_verifier_key(VKEY)]).signatures) == 1


def test_no_known_key_is_rejected() -> None:
    message = rejects(checkpoint_note(OTHER_SKEY))
    assert "no signature by a known key" in message
    assert f"known: {parse_verifier_key(VKEY).key}" in message
    assert "signed by: witness.example.org+" in message


def test_tampered_text_is_rejected_naming_the_key() -> None:
    data = checkpoint_note().replace(b"\n2048\n", b"\n2049\n")
    message = rejects(data)
    assert f"known key {parse_verifier_key(VKEY).key} does not verify" in message


def test_wrong_public_key_under_a_known_name_and_id_is_rejected() -> None:
    real = parse_verifier_key(VKEY)
    other = parse_verifier_key(OTHER_VKEY)
    impostor = Verifier(real.name, real.key_id, other.public_key)
    assert "does not verify" in rejects(checkpoint_note(), impostor)


def test_bad_known_signature_rejects_even_beside_a_good_one() -> None:
    good = checkpoint_note(SKEY)
    # A valid signature by one known key plus a replayed signature (over other text) by
    # another known key.
    replayed = checkpoint_note(OTHER_SKEY, size=7).split(b"\n\n", 1)[1]
    data = good + replayed
    message = rejects(data, parse_verifier_key(VKEY), parse_verifier_key(OTHER_VKEY))
    assert "witness.example.org+" in message and "does not verify" in message


# --- Note format rejections ---------------------------------------------------------------


def _sig_line(name: str = ORIGIN, sig: bytes = bytes(68)) -> bytes:
    return f"— {name} {base64.b64encode(sig).decode()}\n".encode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"origin\n1\nroot\n" + _sig_line(), "no blank line"),
        (b"origin\n1\nroot\n\n", "no signature lines"),
        (b"text\n\n" + _sig_line()[:-1], "does not end in a newline"),
        (b"text\n\n- name AAAAAAAA\n", "does not start with an em dash"),
        (b"text\n\n" + _sig_line() + b"\n", "no signature lines"),
        (b"text\n\n\xe2\x80\x94 nameonly\n", "is not '\u2014 <key name> <base64 signature>'"),
        (b"text\n\n\xe2\x80\x94  AAAAAAAA\n", "key name is empty"),
        (b"text\n\n\xe2\x80\x94 a+b AAAAAAAA\n", "contains a space or '\\+'"),
        (b"text\n\n\xe2\x80\x94 name AAAA*AAA\n", "not standard base64"),
        (b"text\n\n\xe2\x80\x94 name AAAAAAB=\n", "not canonical base64"),
        (b"text\n\n\xe2\x80\x94 name AAAAAA==\n", "too short"),
        (b"text\n\n\xe2\x80\x94 name \n", "0 bytes, too short"),
        (b"te\xffxt\n\n" + _sig_line(), "not UTF-8"),
        (b"te\rxt\n\n" + _sig_line(), "control character"),
        (b"te\txt\n\n" + _sig_line(), "control character"),
        (b"text\n\n" + _sig_line() * 101, "101 signature lines, over the limit of 100"),
        (b"x" * (1 << 20) + b"\n\n" + _sig_line(), "over the 1 MiB limit"),
    ],
)
def test_malformed_notes_are_rejected(data: bytes, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        parse_note(data)
    with pytest.raises(NoteError, match=message):
        verify_note(data, [parse_verifier_key(VKEY)])


def test_limits_are_inclusive() -> None:
    note = parse_note(b"text\n\n" + _sig_line() * 100)
    assert len(note.signatures) == 100
    assert note.signatures[0] == Signature(ORIGIN, bytes(4), bytes(64))
    body = b"x" * ((1 << 20) - 6 - len(_sig_line())) + b"\n"
    assert len(parse_note(body + b"\n" + _sig_line()).text) == len(body)


def test_text_may_hold_blank_lines_before_the_last_one() -> None:
    text = b"first\n\nsecond\n"
    note = verify_note(sign_note(text, SKEY), [parse_verifier_key(VKEY)])
    assert note.text == text


def test_sign_refuses_bad_text() -> None:
    with pytest.raises(NoteError, match="does not end in a newline"):
        sign_note(b"no newline", SKEY)
    with pytest.raises(NoteError, match="not UTF-8"):
        sign_note(b"\xff\n", SKEY)
    with pytest.raises(NoteError, match="control character"):
        sign_note(b"a\x00b\n", SKEY)
    with pytest.raises(NoteError, match="over the 1 MiB limit"):
        sign_note(b"x" * (1 << 20) + b"\n", SKEY)


# --- Checkpoint rejections ----------------------------------------------------------------

B64_ROOT = base64.b64encode(ROOT).decode()


def _cp(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize(
    ("size", "value"),
    [("0", 0), ("1", 1), ("2048", 2048), ("18446744073709551615", 2**64 - 1)],
)
def test_checkpoint_sizes_accepted(size: str, value: int) -> None:
    assert parse_checkpoint(_cp(ORIGIN, size, B64_ROOT)).tree_size == value


@pytest.mark.parametrize(
    "size",
    [
        "",
        "00",
        "01",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1.0",
        "1e3",
        "0x10",
        "\uff11",
        "\u0661",
        "1_000",
        "18446744073709551616",
        "9" * 5000,
    ],
)
def test_checkpoint_sizes_rejected(size: str) -> None:
    with pytest.raises(NoteError, match="tree size"):
        parse_checkpoint(_cp(ORIGIN, size, B64_ROOT))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_cp("", "1", B64_ROOT), "origin line is empty"),
        (_cp(ORIGIN, "1"), "needs origin, tree size and root hash"),
        (_cp(ORIGIN), "needs origin"),
        (b"\n", "needs origin"),
        (_cp(ORIGIN, "1", B64_ROOT)[:-1], "does not end in a newline"),
        (_cp(ORIGIN, "1", B64_ROOT.rstrip("=")), "not standard base64"),
        (_cp(ORIGIN, "1", B64_ROOT.replace("=", "A")), "root hash is 33 bytes"),
        (_cp(ORIGIN, "1", ROOT.hex()), "root hash is 48 bytes"),
        (_cp(ORIGIN, "1", base64.b64encode(ROOT[:31]).decode()), "root hash is 31 bytes"),
        (_cp(ORIGIN, "1", base64.urlsafe_b64encode(b"\xff" * 32).decode()), "not standard"),
        (_cp(ORIGIN, "1", B64_ROOT[:-2] + "B="), "not canonical base64"),
        (_cp(ORIGIN, "1", B64_ROOT, "ext", ""), "line 5 \\(an extension line\\) is empty"),
        (_cp(ORIGIN, "1", B64_ROOT).replace(b"1", b"\xff"), "not UTF-8"),
        (_cp(ORIGIN + "\r", "1", B64_ROOT), "control character"),
    ],
)
def test_checkpoint_rejections(text: bytes, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        parse_checkpoint(text)


def test_checkpoint_extensions_round_trip() -> None:
    text = format_checkpoint(ORIGIN, 5, ROOT, extensions=["ext one", "ext two"])
    assert text == _cp(ORIGIN, "5", B64_ROOT, "ext one", "ext two")
    assert parse_checkpoint(text).extensions == ("ext one", "ext two")


@pytest.mark.parametrize(
    ("origin", "size", "root", "message"),
    [
        ("", 1, ROOT, "empty or holds a newline"),
        ("a\nb", 1, ROOT, "empty or holds a newline"),
        (ORIGIN, -1, ROOT, "not a 64-bit"),
        (ORIGIN, 2**64, ROOT, "not a 64-bit"),
        (ORIGIN, 1, ROOT[:31], "31 bytes"),
    ],
)
def test_format_checkpoint_refuses(origin: str, size: int, root: bytes, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        format_checkpoint(origin, size, root)


def test_note_error_is_a_format_error() -> None:
    assert issubclass(NoteError, FormatError)
    assert issubclass(NoteError, ValueError)


# --- Properties ---------------------------------------------------------------------------

note_like = st.lists(
    st.one_of(
        st.sampled_from(["\n", "\n\n", "— ", "—", " ", "+", "=", "0", "\r", "\xff"]),
        st.text(max_size=12),
        st.sampled_from([base64.b64encode(bytes(68)).decode(), ORIGIN, B64_ROOT, "2048"]),
    ),
    max_size=30,
).map(lambda parts: "".join(parts).encode("utf-8", "surrogatepass"))


@SETTINGS
@given(st.one_of(st.binary(max_size=400), note_like))
@example(GO_TEXT + b"\n" + GO_PETER_SIG)
@example(b"\n\n" + _sig_line("a"))
def test_parsers_raise_only_note_error(data: bytes) -> None:
    verifiers = [parse_verifier_key(VKEY), parse_verifier_key(GO_VKEY)]
    for fn in (parse_note, parse_checkpoint, lambda d: verify_note(d, verifiers)):
        try:
            fn(data)
        except NoteError:
            pass
    try:
        load_verifier_key(data.decode("utf-8", "replace").replace("\x00", "") or "+")
    except NoteError:
        pass


SIGNED = checkpoint_note(SKEY) + _sig_line("stranger", bytes(range(68)))
SIGNED_TEXT = parse_note(SIGNED).text


@SETTINGS
@given(
    st.integers(0, len(SIGNED) - 1),
    st.one_of(st.integers(0, 255).map(lambda b: bytes([b])), st.just(b""), st.binary(max_size=2)),
)
def test_any_byte_change_is_rejected_or_changes_nothing_signed(pos: int, new: bytes) -> None:
    mutated = SIGNED[:pos] + new + SIGNED[pos + 1 :]
    assert mutated != SIGNED or new == SIGNED[pos : pos + 1]
    try:
        note = verify_note(mutated, [parse_verifier_key(VKEY)])
    except NoteError:
        return
    # Only the stranger's line may have changed: the signed text and its checkpoint hold.
    assert note.text == SIGNED_TEXT
    assert parse_checkpoint(note.text) == Checkpoint(ORIGIN, 2048, ROOT)
    assert pos >= len(checkpoint_note(SKEY)) or mutated == SIGNED


def test_every_byte_of_a_signed_checkpoint_is_covered() -> None:
    verifiers = [parse_verifier_key(VKEY)]
    signed_part = len(checkpoint_note(SKEY))
    accepted_at = []
    for pos in range(len(SIGNED)):
        for mutated in (
            SIGNED[:pos] + bytes([SIGNED[pos] ^ 0x01]) + SIGNED[pos + 1 :],
            SIGNED[:pos] + bytes([SIGNED[pos] ^ 0x20]) + SIGNED[pos + 1 :],
            SIGNED[:pos] + SIGNED[pos + 1 :],
        ):
            try:
                note = verify_note(mutated, verifiers)
            except NoteError:
                continue
            assert note.text == SIGNED_TEXT
            accepted_at.append(pos)
    # What may change without rejection is the stranger's line, and only there.
    assert accepted_at and min(accepted_at) >= signed_part


@SETTINGS
@given(
    st.text(
        st.characters(
            blacklist_categories=["Cs", "Cc", "Zs", "Zl", "Zp"], blacklist_characters="+"
        ),
        min_size=1,
        max_size=20,
    ),
    st.integers(0, 2**64 - 1),
    st.binary(min_size=32, max_size=32),
    st.lists(st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1), max_size=3),
)
def test_round_trip_any_checkpoint(
    origin: str, size: int, root: bytes, extensions: list[str]
) -> None:
    skey, vkey = signer_from_seed(origin, hashlib.sha256(origin.encode()).digest())
    text = format_checkpoint(origin, size, root, extensions=extensions)
    assert verify_checkpoint(sign_note(text, skey), [parse_verifier_key(vkey)]) == Checkpoint(
        origin, size, root, tuple(extensions)
    )
