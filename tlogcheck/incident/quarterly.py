"""§5 quarterly: custody records cross-checked with the TLog root, and the signature policy.

Custody cross-check: every recorded tree (`--tlog-known-root SIZE:HEX`, or a custody
file with one `SIZE HEX [DATE]` a line) must be one log with the served tree, proved
by a consistency proof the log serves (`verify.check_recorded`); and a full audit of
the release's db.jsonl (`--tlog-db`): its SHA-256 against `--tlog-db-sha256`, its
rebuilt root against the served root (`verify.release`, the suite's db rules).
Signature policy: which of the `--tlog-vkey`
keys verify the served checkpoint, their key ids, and the checkpoint's origin line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tlogcheck import note, spec, verify
from tlogcheck.client import Response, TLogClient
from tlogcheck.errors import ConfigError, FormatError, NoteError, ProofError
from tlogcheck.incident.checklist import Checklist, Item, TargetInfo, judge
from tlogcheck.state import KnownTree
from tlogcheck.verify.release import audit_against, judge_db_hash, judge_db_root

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


def _served(client: TLogClient) -> tuple[verify.Tree, Response]:
    r = client.get(spec.PATH_ROOT)
    root = verify.read_root(r)
    return verify.Tree(root.tree_size, root.root_hash, r.release), r


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


def _db_item(t: TargetInfo, served: verify.Tree, response: Response) -> Item:
    """The full audit, judged by the suite's db rules (`verify.release`)."""
    name = "db.jsonl audit (full)"
    r = t.reach
    if r.db is None:
        return Item(name, "skip", "no --tlog-db given: the release's db.jsonl is not audited")
    found = audit_against(r.db, served.tree_size)
    verdicts = [
        judge_db_hash(found, r.db_sha256, r.db_sha256_source, r.db),
        judge_db_root(found, served, response, r.db),
    ]
    text = (
        f"{r.db}: {found.tree_size} entries, SHA-256 {found.sha256.hex()}, root "
        f"{found.root_hash.hex()}; served {served.describe()}"
    )
    if r.db_sha256 is None:
        text += "; no --tlog-db-sha256 to compare the SHA-256 with"
    problems = [f.served.replace("\n", " ") for v in verdicts for f in v.findings]
    if problems:
        return Item(name, "fail", "; ".join(problems) + f" — {text}", "TLogInclusionProofFail")
    return Item(name, "pass", text)


def _signature_item(client: TLogClient, t: TargetInfo) -> Item:
    name = "signature policy (checkpoint)"
    r = client.get(spec.PATH_CHECKPOINT)
    signed, cp = verify.read_checkpoint(r)
    signers = ", ".join(s.key for s in signed.signatures) or "none"
    head = f"origin line {cp.origin!r}, tree {cp.tree_size}; signed by {signers}"
    if not t.reach.vkeys:
        return Item(name, "skip", f"no --tlog-vkey given: {head}; nothing to verify against")
    verifiers = [note.parse_verifier_key(k) for k in t.reach.vkeys]
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


def run_quarterly(
    t: TargetInfo, custody: list[CustodyRecord], cl: Checklist | None = None
) -> Checklist:
    """The quarterly items, added to `cl` (a new checklist by default) as each is decided.
    The records: --tlog-known-root, the tree of --tlog-state, and `custody`."""
    cl = cl or Checklist("quarterly", t.description)
    records = _records(t.reach.recorded(), custody)
    with t.client() as client:
        served_box: list[tuple[verify.Tree, Response]] = []

        def served_item() -> Item:
            served_box.append(_served(client))
            return Item("served root", "pass", served_box[0][0].describe())

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
                    lambda rec=rec: _custody_item(client, rec, served_box[0][0]),  # type: ignore[misc]
                )
        if served_box:
            judge(
                cl,
                "db.jsonl audit (full)",
                "TLogInclusionProofFail",
                lambda: _db_item(t, *served_box[0]),
            )
        judge(
            cl,
            "signature policy (checkpoint)",
            "TLogInclusionProofFail",
            lambda: _signature_item(client, t),
        )
    return cl
