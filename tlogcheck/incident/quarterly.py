"""§5 quarterly: custody records cross-checked with the TLog root, and the signature policy.

Custody cross-check: every recorded tree (`--tlog-known-root SIZE:HEX`, or a custody
file with one `SIZE HEX [DATE]` a line) must be one log with the served tree, proved
by a consistency proof the log serves (`verify.check_recorded`); and a full audit of
the release's db.jsonl (`--tlog-db`): its SHA-256 against `--tlog-db-sha256`, its
rebuilt root against the served root. Signature policy: which of the `--tlog-vkey`
keys verify the served checkpoint, their key ids, and the checkpoint's origin line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tlogcheck import note, spec, verify
from tlogcheck.client import TLogClient
from tlogcheck.errors import ConfigError, DbError, FormatError, NoteError, ProofError
from tlogcheck.incident.checklist import Checklist, Item, TargetInfo, judge
from tlogcheck.state import KnownTree

__all__ = ["MAX_CUSTODY_BYTES", "CustodyRecord", "parse_custody", "run_quarterly"]

MAX_CUSTODY_BYTES = 4 * 1024 * 1024
# Each record costs one consistency proof from the log: a quarter's records, not a dump.
MAX_CUSTODY_RECORDS = 10_000
_LINE = re.compile(r"^(?P<size>[1-9][0-9]*)\s+(?P<hex>[0-9a-fA-F]{64})(?:\s+(?P<date>\S+))?\s*$")


@dataclass(frozen=True)
class CustodyRecord:
    tree_size: int
    root_hash: bytes
    date: str | None
    source: str

    def describe(self) -> str:
        when = f" of {self.date}" if self.date else ""
        return f"{self.tree_size}:{self.root_hash.hex()}{when} ({self.source})"


def parse_custody(path: str) -> list[CustodyRecord]:
    """`SIZE HEX [DATE]` a line; blank lines and `#` comments are skipped.
    ConfigError names the file and line of anything else."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_CUSTODY_BYTES:
            raise ConfigError(f"--tlog-custody {p}: larger than {MAX_CUSTODY_BYTES} bytes")
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"--tlog-custody {p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--tlog-custody {p}: cannot read: {exc}") from None
    out: list[CustodyRecord] = []
    for n, line in enumerate(text.splitlines(), 1):
        bare = line.strip()
        if not bare or bare.startswith("#"):
            continue
        m = _LINE.match(bare)
        if m is None:
            raise ConfigError(
                f"--tlog-custody {p}:{n}: expected `SIZE HEX [DATE]` (a positive tree size "
                f"and a 64-hex root hash), got {bare[:80]!r}"
            )
        if len(out) == MAX_CUSTODY_RECORDS:
            raise ConfigError(
                f"--tlog-custody {p}: more than {MAX_CUSTODY_RECORDS} records (line {n}); "
                "each costs a consistency proof: give the quarter's records"
            )
        out.append(
            CustodyRecord(int(m["size"]), bytes.fromhex(m["hex"]), m["date"], f"{p.name}:{n}")
        )
    return out


def _records(known: list[KnownTree], custody: list[CustodyRecord]) -> list[CustodyRecord]:
    return [CustodyRecord(k.tree_size, k.root_hash, None, k.source) for k in known] + custody


def _served(client: TLogClient) -> verify.Tree:
    r = client.get(spec.PATH_ROOT)
    root = verify.read_root(r)
    return verify.Tree(root.tree_size, root.root_hash, r.release)


def _custody_name(rec: CustodyRecord) -> str:
    return f"custody {rec.tree_size}:{rec.root_hash.hex()[:16]}…"


def _custody_item(client: TLogClient, rec: CustodyRecord, served: verify.Tree) -> Item:
    name = _custody_name(rec)
    old = verify.Tree(rec.tree_size, rec.root_hash)
    try:
        evidence = verify.check_recorded(client, old, served)
    except (ProofError, FormatError) as exc:
        return Item(name, "fail", f"{rec.describe()} and served {served.describe()}: {exc}")
    return Item(name, "pass", f"{rec.describe()} and served {served.describe()}: {evidence}")


def _db_item(t: TargetInfo, served: verify.Tree) -> Item:
    from tlogcheck.db import audit, read_sha256_file

    name = "db.jsonl audit (full)"
    if t.db is None:
        return Item(name, "skip", "no --tlog-db given: the release's db.jsonl is not audited")
    try:
        found = audit(t.db, strict=True, prefix_sizes=[served.tree_size])
    except DbError:
        # The served tree is larger than the file: the whole file is what is compared.
        found = audit(t.db, strict=True)
    problems = []
    expected = t.db_sha256
    if expected and not re.fullmatch(r"[0-9a-fA-F]{64}", expected):
        expected = read_sha256_file(expected).hex()
    if expected and found.sha256.hex() != expected.lower():
        problems.append(f"SHA-256 {found.sha256.hex()} != the release's {expected.lower()}")
    at_served = found.prefix_roots.get(served.tree_size)
    if found.tree_size == served.tree_size and found.root_hash != served.root_hash:
        problems.append(
            f"rebuilt root {found.root_hash.hex()} != served {served.root_hash.hex()} "
            f"(size {served.tree_size})"
        )
    elif at_served is not None and at_served != served.root_hash:
        problems.append(f"root of its first {served.tree_size} entries != the served root")
    text = (
        f"{t.db}: {found.tree_size} entries, SHA-256 {found.sha256.hex()}, root "
        f"{found.root_hash.hex()}; served {served.describe()}"
    )
    if expected is None:
        text += "; no --tlog-db-sha256 to compare the SHA-256 with"
    if problems:
        return Item(name, "fail", "; ".join(problems) + f" — {text}", "TLogInclusionProofFail")
    return Item(name, "pass", text)


def _signature_item(client: TLogClient, t: TargetInfo) -> Item:
    name = "signature policy (checkpoint)"
    r = client.get(spec.PATH_CHECKPOINT)
    signed, cp = verify.read_checkpoint(r)
    signers = ", ".join(s.key for s in signed.signatures) or "none"
    head = f"origin line {cp.origin!r}, tree {cp.tree_size}; signed by {signers}"
    if not t.vkeys:
        return Item(name, "skip", f"no --tlog-vkey given: {head}; nothing to verify against")
    verifiers = [note.load_verifier_key(k) for k in t.vkeys]
    rows = []
    verified_by = []
    for v in verifiers:
        try:
            note.verify_note(r.body, [v])
            rows.append(f"{v.key}: verifies")
            verified_by.append(v)
        except NoteError as exc:
            rows.append(f"{v.key}: does not verify ({exc})")
    names = {v.name for v in verifiers}
    origin_ok = cp.origin in names
    text = f"{head}; " + "; ".join(rows)
    if not origin_ok:
        text += f"; the origin line names no verifier key ({', '.join(sorted(names))})"
    if not verified_by:
        return Item(name, "fail", text, "TLogInclusionProofFail")
    return Item(name, "pass", text)


def run_quarterly(t: TargetInfo, known: list[KnownTree], custody: list[CustodyRecord]) -> Checklist:
    cl = Checklist("quarterly", t.description)
    records = _records(known, custody)
    with TLogClient(t.url, origin_url=t.origin_url, timeout=t.timeout) as client:
        served_box: list[verify.Tree] = []

        def served_item() -> Item:
            served_box.append(_served(client))
            return Item("served root", "pass", served_box[0].describe())

        judge(cl, "served root", "TLogInclusionProofFail", served_item)
        if not records:
            cl.add(
                Item(
                    "custody records",
                    "skip",
                    "no --tlog-custody FILE or --tlog-known-root given: nothing to cross-check",
                )
            )
        for rec in records:
            if served_box:
                judge(
                    cl,
                    _custody_name(rec),
                    "TLogInclusionProofFail",
                    lambda rec=rec: _custody_item(client, rec, served_box[0]),  # type: ignore[misc]
                )
        if served_box:
            judge(
                cl,
                "db.jsonl audit (full)",
                "TLogInclusionProofFail",
                lambda: _db_item(t, served_box[0]),
            )
        judge(
            cl,
            "signature policy (checkpoint)",
            "TLogInclusionProofFail",
            lambda: _signature_item(client, t),
        )
    return cl
