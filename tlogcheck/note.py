"""C2SP signed notes and tlog checkpoints, signed and verified with Ed25519.

A signed note (c2sp.org/signed-note) is UTF-8 text ending in a newline, a blank line,
then one signature line per signer::

    tlog.example.com/log
    2048
    <base64 root hash>

    — tlog.example.com/log <base64(4-byte key id || 64-byte Ed25519 signature)>

The signature covers the text up to and including its final newline. The key id is
the first 4 bytes of SHA-256(key name || "\\n" || 0x01 || public key). Keys are written
`<name>+<8 hex key id>+<base64(0x01 || public key)>` (verifier) and
`PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || 32-byte seed)>` (signer).

A checkpoint (c2sp.org/tlog-checkpoint) is the text of such a note: the origin line,
the tree size in decimal, the root hash in standard base64, then optional extension
lines.

Every rejection raises `NoteError` with a message that says what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from tlogcheck.errors import NoteError

__all__ = [
    "MAX_NOTE_SIZE",
    "MAX_SIGNATURES",
    "Checkpoint",
    "NoteError",
    "Signature",
    "SignedNote",
    "Verifier",
    "format_checkpoint",
    "generate_signer",
    "key_id",
    "load_verifier_key",
    "parse_checkpoint",
    "parse_note",
    "parse_verifier_key",
    "sign_note",
    "signer_from_seed",
    "verifier_key_of",
    "verify_checkpoint",
    "verify_note",
]

# Bounds that keep a hostile note from costing more than a legitimate one.
MAX_NOTE_SIZE = 1 << 20
MAX_SIGNATURES = 100
ALG_ED25519 = 0x01
HASH_SIZE = 32
_ED25519_SIG_SIZE = 64
_SIG_PREFIX = "\u2014 "  # em dash, space
# Every ASCII control character except newline, as the Go note package refuses them.
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")
_KEY_ID_HEX = re.compile("[0-9a-fA-F]{8}")
_DECIMAL = re.compile("0|[1-9][0-9]*")
_MAX_TREE_SIZE = (1 << 64) - 1


@dataclass(frozen=True)
class Signature:
    """One signature line: the key's name and id, and the signature bytes after the id."""

    key_name: str
    key_id: bytes
    signature: bytes

    @property
    def key(self) -> str:
        """`<name>+<8 hex key id>`, how messages name the key."""
        return f"{self.key_name}+{self.key_id.hex()}"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()


@dataclass(frozen=True)
class SignedNote:
    """The signed text (ending in a newline) and its signatures.

    From `parse_note`: every signature line. From `verify_note`: the ones that verified.
    """

    text: bytes
    signatures: tuple[Signature, ...]


@dataclass(frozen=True)
class Verifier:
    """An Ed25519 verifier key: name, 4-byte key id, 32-byte public key."""

    name: str
    key_id: bytes
    public_key: bytes

    @property
    def key(self) -> str:
        return f"{self.name}+{self.key_id.hex()}"

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.key}+{encoded}"


# --- Helpers ------------------------------------------------------------------------------


def _short(value: str, limit: int = 60) -> str:
    """A value quoted for a message, cut so a 1 MiB note does not end up in a log line."""
    if len(value) > limit:
        return repr(value[:limit]) + f"... ({len(value)} chars)"
    return repr(value)


def key_id(name: str, public_key: bytes) -> bytes:
    """First 4 bytes of SHA-256(name || "\\n" || 0x01 || public key)."""
    return hashlib.sha256(
        name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key
    ).digest()[:4]


def _check_name(name: str, what: str) -> None:
    # Names are what the Go note package accepts: non-empty, no space, no "+".
    if not name:
        raise NoteError(f"{what}: key name is empty")
    if "+" in name or any(ch.isspace() for ch in name):
        raise NoteError(f"{what}: key name {_short(name)} contains a space or '+'")
    if _CONTROL.search(name) or "\n" in name:
        raise NoteError(f"{what}: key name {_short(name)} contains a control character")


def _b64decode(value: str, what: str) -> bytes:
    """Standard base64 with padding, in its one canonical spelling."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"{what} is not standard base64: {_short(value)}") from None
    # b64decode lets unused low bits through; a second spelling of the same bytes would
    # let a note change without its signed content changing.
    if base64.b64encode(raw).decode("ascii") != value:
        raise NoteError(f"{what} is not canonical base64: {_short(value)}")
    return raw


def _decode_text(data: bytes, what: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NoteError(f"{what} is not UTF-8 (byte {exc.start})") from None
    bad = _CONTROL.search(text)
    if bad:
        raise NoteError(f"{what} has control character {bad.group()!r} at character {bad.start()}")
    return text


def _check_size(data: bytes, what: str) -> None:
    if len(data) > MAX_NOTE_SIZE:
        raise NoteError(f"{what} is {len(data)} bytes, over the 1 MiB limit")


# --- Keys ---------------------------------------------------------------------------------


def parse_verifier_key(vkey: str) -> Verifier:
    """`<name>+<8 hex key id>+<base64(0x01 || 32-byte Ed25519 public key)>`."""
    name, sep1, rest = vkey.partition("+")
    id_hex, sep2, key64 = rest.partition("+")
    if not (sep1 and sep2):
        raise NoteError(f"verifier key {_short(vkey)} is not <name>+<key id>+<key>")
    _check_name(name, "verifier key")
    if not _KEY_ID_HEX.fullmatch(id_hex):
        raise NoteError(f"verifier key {name}: key id {_short(id_hex)} is not 8 hex digits")
    key = _b64decode(key64, f"verifier key {name}")
    if len(key) != 1 + HASH_SIZE or key[0] != ALG_ED25519:
        raise NoteError(
            f"verifier key {name}: not an Ed25519 key (want algorithm byte 0x01 and "
            f"32 key bytes, got {len(key)} bytes)"
        )
    public_key = key[1:]
    want = key_id(name, public_key)
    if bytes.fromhex(id_hex) != want:
        raise NoteError(
            f"verifier key {name}: key id {id_hex.lower()} does not match the key "
            f"(computed {want.hex()})"
        )
    return Verifier(name, want, public_key)


def load_verifier_key(text_or_path: str) -> Verifier:
    """A verifier key given as such, or the path of a file holding one.

    In a file, blank lines and lines starting with '#' are skipped; exactly one key
    line must remain.
    """
    if os.path.isfile(text_or_path):
        try:
            with open(text_or_path, encoding="utf-8") as f:
                content = f.read(MAX_NOTE_SIZE + 1)
        except (OSError, UnicodeDecodeError) as exc:
            raise NoteError(f"cannot read verifier key file {text_or_path}: {exc}") from None
        lines = [
            line.strip()
            for line in content.splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        if len(lines) != 1:
            raise NoteError(
                f"verifier key file {text_or_path}: want one key line, found {len(lines)}"
            )
        return parse_verifier_key(lines[0])
    if "+" not in text_or_path:
        raise NoteError(
            f"{_short(text_or_path)} is neither a verifier key (<name>+<key id>+<key>) nor a file"
        )
    return parse_verifier_key(text_or_path.strip())


def _parse_signer_key(skey: str) -> tuple[str, bytes, Ed25519PrivateKey]:
    parts = skey.split("+", 4)
    if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
        raise NoteError("signer key is not PRIVATE+KEY+<name>+<key id>+<key>")
    _, _, name, id_hex, key64 = parts
    _check_name(name, "signer key")
    if not _KEY_ID_HEX.fullmatch(id_hex):
        raise NoteError(f"signer key {name}: key id is not 8 hex digits")
    # The key bytes stay out of every message.
    try:
        key = base64.b64decode(key64, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"signer key {name}: key is not standard base64") from None
    if len(key) != 1 + HASH_SIZE or key[0] != ALG_ED25519:
        raise NoteError(f"signer key {name}: not an Ed25519 seed (0x01 and 32 bytes)")
    private = Ed25519PrivateKey.from_private_bytes(key[1:])
    kid = key_id(name, private.public_key().public_bytes_raw())
    if bytes.fromhex(id_hex) != kid:
        raise NoteError(f"signer key {name}: key id {id_hex.lower()} does not match the key")
    return name, kid, private


def signer_from_seed(name: str, seed: bytes) -> tuple[str, str]:
    """(signer key, verifier key) of the Ed25519 key with this 32-byte seed."""
    _check_name(name, "signer key")
    if len(seed) != HASH_SIZE:
        raise NoteError(f"signer key {name}: seed is {len(seed)} bytes, not 32")
    public_key = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    kid = key_id(name, public_key).hex()
    alg = bytes([ALG_ED25519])
    skey = f"PRIVATE+KEY+{name}+{kid}+{base64.b64encode(alg + seed).decode()}"
    vkey = f"{name}+{kid}+{base64.b64encode(alg + public_key).decode()}"
    return skey, vkey


def generate_signer(name: str) -> tuple[str, str]:
    """(signer key, verifier key) of a new random Ed25519 key."""
    return signer_from_seed(name, Ed25519PrivateKey.generate().private_bytes_raw())


def verifier_key_of(signer_key: str) -> str:
    """The verifier key string that goes with a signer key."""
    name, kid, private = _parse_signer_key(signer_key)
    public_key = private.public_key().public_bytes_raw()
    return str(Verifier(name, kid, public_key))


# --- Signed notes -------------------------------------------------------------------------


def sign_note(text: bytes, signer_key: str, *more_signer_keys: str) -> bytes:
    """The signed note: `text`, a blank line and one signature line per signer key."""
    _check_size(text, "note text")
    _decode_text(text, "note text")
    if not text.endswith(b"\n"):
        raise NoteError("note text does not end in a newline")
    lines = []
    for skey in (signer_key, *more_signer_keys):
        name, kid, private = _parse_signer_key(skey)
        encoded = base64.b64encode(kid + private.sign(text)).decode("ascii")
        lines.append(f"{_SIG_PREFIX}{name} {encoded}\n")
    return text + b"\n" + "".join(lines).encode("utf-8")


def _parse_signature_line(line: str, number: int) -> Signature:
    where = f"signature line {number}"
    if not line.startswith(_SIG_PREFIX):
        raise NoteError(f"{where} does not start with an em dash and a space: {_short(line)}")
    name, sep, encoded = line[len(_SIG_PREFIX) :].partition(" ")
    if not sep:
        raise NoteError(f"{where} is not '— <key name> <base64 signature>': {_short(line)}")
    _check_name(name, where)
    raw = _b64decode(encoded, f"{where} ({name})")
    if len(raw) < 5:
        raise NoteError(
            f"{where} ({name}): {len(raw)} bytes, too short for a key id and a signature"
        )
    return Signature(name, raw[:4], raw[4:])


def parse_note(data: bytes) -> SignedNote:
    """Split a signed note into its text and signature lines, checking the format only."""
    _check_size(data, "note")
    _decode_text(data, "note")
    # The last blank line starts the signatures: the text itself may hold blank lines.
    split = data.rfind(b"\n\n")
    if split < 0:
        raise NoteError("note has no blank line between its text and its signatures")
    text, block = data[: split + 1], data[split + 2 :]
    if not block:
        raise NoteError("note has no signature lines after the blank line")
    if not block.endswith(b"\n"):
        raise NoteError("note does not end in a newline after its last signature line")
    lines = block[:-1].decode("utf-8").split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has {len(lines)} signature lines, over the limit of 100")
    signatures = tuple(_parse_signature_line(line, i) for i, line in enumerate(lines, 1))
    return SignedNote(text, signatures)


def _ed25519_verifies(public_key: bytes, message: bytes, signature: bytes) -> bool:
    if len(signature) != _ED25519_SIG_SIZE:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_note(data: bytes, verifiers: Sequence[Verifier]) -> SignedNote:
    """Parse a signed note and check its signatures against the known keys.

    Signatures by unknown keys are ignored. A signature line naming a known key (name
    and id) that does not verify rejects the note, and so does a note with no verified
    signature. Returns the text with the signatures that verified.
    """
    note = parse_note(data)
    known: dict[tuple[str, bytes], list[Verifier]] = {}
    for v in verifiers:
        known.setdefault((v.name, v.key_id), []).append(v)
    verified: list[Signature] = []
    for sig in note.signatures:
        candidates = known.get((sig.key_name, sig.key_id))
        if candidates is None:
            continue
        if not any(_ed25519_verifies(v.public_key, note.text, sig.signature) for v in candidates):
            raise NoteError(f"signature by known key {sig.key} does not verify")
        if sig not in verified:
            verified.append(sig)
    if not verified:
        want = ", ".join(sorted(v.key for v in verifiers)) or "none given"
        seen = ", ".join(sorted({s.key for s in note.signatures}))
        raise NoteError(f"no signature by a known key (known: {want}; signed by: {seen})")
    return SignedNote(note.text, tuple(verified))


# --- Checkpoints --------------------------------------------------------------------------


def parse_checkpoint(text: bytes) -> Checkpoint:
    """The checkpoint in a note's text: origin, tree size, root hash, extension lines."""
    _check_size(text, "checkpoint")
    decoded = _decode_text(text, "checkpoint")
    if not decoded.endswith("\n"):
        raise NoteError("checkpoint does not end in a newline")
    lines = decoded[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError(
            f"checkpoint has {len(lines)} line(s); it needs origin, tree size and root hash"
        )
    origin, size_line, root_line, *extensions = lines
    if not origin:
        raise NoteError("checkpoint origin line is empty")
    # The length test comes first: int() of a huge string is slow, then refused.
    if len(size_line) > 20 or not _DECIMAL.fullmatch(size_line):
        raise NoteError(
            f"checkpoint tree size {_short(size_line)} is not a decimal number "
            f"without sign or leading zeros"
        )
    tree_size = int(size_line)
    if tree_size > _MAX_TREE_SIZE:
        raise NoteError(f"checkpoint tree size {tree_size} does not fit in 64 bits")
    root_hash = _b64decode(root_line, "checkpoint root hash")
    if len(root_hash) != HASH_SIZE:
        raise NoteError(f"checkpoint root hash is {len(root_hash)} bytes, not 32")
    for i, line in enumerate(extensions, 4):
        if not line:
            raise NoteError(f"checkpoint line {i} (an extension line) is empty")
    return Checkpoint(origin, tree_size, root_hash, tuple(extensions))


def format_checkpoint(
    origin: str, tree_size: int, root_hash: bytes, *, extensions: Sequence[str] = ()
) -> bytes:
    """The checkpoint text (to be signed with `sign_note`)."""
    lines = [origin, str(tree_size), base64.b64encode(root_hash).decode("ascii"), *extensions]
    if not 0 <= tree_size <= _MAX_TREE_SIZE:
        raise NoteError(f"checkpoint tree size {tree_size} is not a 64-bit unsigned number")
    if len(root_hash) != HASH_SIZE:
        raise NoteError(f"checkpoint root hash is {len(root_hash)} bytes, not 32")
    for line in (origin, *extensions):
        if not line or "\n" in line:
            raise NoteError(f"checkpoint line {_short(line)} is empty or holds a newline")
    text = ("\n".join(lines) + "\n").encode("utf-8")
    parse_checkpoint(text)
    return text


def verify_checkpoint(data: bytes, verifiers: Sequence[Verifier]) -> Checkpoint:
    """`verify_note`, then `parse_checkpoint` of the verified text."""
    return parse_checkpoint(verify_note(data, verifiers).text)
