"""`tlogcheck verify URL INDEX`: the playbook's `verify_client.py URL INDEX` (§0, §3.2 step 4).

Fetches the root (and the checkpoint when a verifier key is given), the entry and its
inclusion proof, and verifies:

1. the root is well-formed; INDEX is inside the served tree;
2. with --vkey: the checkpoint's signature verifies with one of the keys and the checkpoint
   describes the same tree as the root;
3. the entry answers 200; the proof answers the question asked (leaf_index, tree_size);
4. the entry's bytes hash to the proof's leaf hash;
5. the audit path leads from that leaf hash to the root (RFC 9162 §2.1.3.2);
6. with --tree-size/--root-hash (a remembered tree, e.g. a custody record): the entry is
   in that tree, and the served tree is consistent with it (§2.1.4.2).

With `--api tiles`, URL is a C2SP tlog-tiles log's prefix: the checkpoint (its signature
with --vkey) gives the tree; the entry comes from its bundle, every tile read is checked
(length, bundle vs level-0 tile, full tile vs its parent), the root rebuilt from the
right-edge tiles must be the checkpoint's, and the inclusion (and, with a remembered tree,
consistency) proof is computed from tiles and verified.

The target options are the suite's, with their env twins (--tlog-vkey, --tlog-timeout,
--tlog-api, --tlog-header, --tlog-ca-bundle, --tlog-proxy, --tlog-origin-url, ...; the
earlier --vkey, --timeout and --api are aliases): a deployment behind an access gateway
is asked with its header (TLOG_HEADER), never printed. With --tlog-db (and
--tlog-db-sha256) the release's db.jsonl is checked against the served tree, with
--tlog-known-root / --tlog-state the recorded trees are proved one log with it — the
suite's rules (`verify.release`, `verify.trees`).

A 5xx (after retries) is what was answered, not a verdict about the log: FAILED: server
error, naming Ingress5xxHigh.

Exit 0 verified; 1 verification failed (the rule that failed is named, with evidence);
2 usage error or target unreachable.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from tlogcheck.cli import optargs
from tlogcheck.client import Response, TLogClient
from tlogcheck.errors import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    ConfigError,
    FormatError,
    NoteError,
    ProofError,
    ServerError,
    TargetCertificateError,
    TargetStalled,
    TargetUnreachable,
)
from tlogcheck.options import target as target_options
from tlogcheck.options.reach import Reach
from tlogcheck.spec import (
    PATH_ROOT,
    Root,
    parse_root,
    proof_path,
)
from tlogcheck.verify import Tree, check_inclusion, prove_extends
from tlogcheck.verify.served import answered, server_error_alert

if TYPE_CHECKING:
    from tlogcheck.note import Verifier

_HEX64 = re.compile(r"[0-9a-f]{64}")
GATEWAY_HINT = " (an access gateway? give its header with --tlog-header or TLOG_HEADER)"


def _index(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a non-negative decimal integer")
    return int(text)


def _size(text: str) -> int:
    n = _index(text)
    if n == 0:
        raise argparse.ArgumentTypeError("a tree size must be positive")
    return n


def _hash(text: str) -> bytes:
    if not _HEX64.fullmatch(text):
        raise argparse.ArgumentTypeError("a root hash is 64 lowercase hex characters")
    return bytes.fromhex(text)


# The suite's target options; the URL and the index are the positionals (or --tlog-url /
# TLOG_URL and --tlog-index), and --vkey, --timeout, --api keep working as aliases.
TARGET = tuple(o for o in target_options.TARGET if o not in (target_options.URL,))
ALIASES = {
    "--vkey": target_options.VKEY,
    "--timeout": target_options.TIMEOUT,
    "--api": target_options.API,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "url",
        metavar="URL",
        nargs="?",
        help="the deployment, e.g. https://tlog.example.com (or --tlog-url / TLOG_URL)",
    )
    parser.add_argument(
        "index",
        metavar="INDEX",
        type=_index,
        nargs="?",
        help="the entry to verify, 0-based (or --tlog-index / TLOG_INDEX)",
    )
    optargs.add_target(parser, (target_options.URL, *TARGET))
    aliases = parser.add_argument_group("the earlier names (aliases)")
    for flag, opt in ALIASES.items():
        aliases.add_argument(
            flag,
            dest=opt.dest,
            action="append" if opt.multiple else "store",
            metavar=opt.metavar,
            help=f"the same as {opt.flag}",
        )
    parser.add_argument(
        "--origin",
        action="store_true",
        help="ask the origin view: X-Bypass: 1, or --tlog-origin-url when given (playbook §2.3)",
    )
    parser.add_argument(
        "--tree-size",
        type=_size,
        metavar="N",
        help="verify against a remembered tree of N entries (needs --root-hash); also checks "
        "that the served tree is consistent with it",
    )
    parser.add_argument(
        "--root-hash", type=_hash, metavar="HEX", help="the root hash of the --tree-size tree"
    )
    optargs.add_format(parser)
    parser.add_argument("--json", action="store_true", help="the same as --format json")


@dataclass
class Outcome:
    """What `verify` found; printed as a line or as JSON."""

    url: str
    index: int
    view: str
    result: str = "verified"
    exit: int = EXIT_OK
    rule: str | None = None
    detail: str | None = None
    tree_size: int | None = None
    root_hash: str | None = None
    release: str | None = None
    leaf_hash: str | None = None
    checkpoint_origin: str | None = None
    checkpoint_signed_by: list[str] = field(default_factory=list)
    remembered_tree: dict[str, Any] | None = None
    evidence: list[str] = field(default_factory=list)

    def fail(self, rule: str, detail: str, *responses: Response | None) -> int:
        self.result, self.exit, self.rule, self.detail = "failed", EXIT_FAILED, rule, detail
        self.evidence += [r.describe() for r in responses if r is not None]
        return EXIT_FAILED

    def error(self, result: str, detail: str) -> int:
        self.result, self.exit, self.detail = result, EXIT_USAGE, detail
        return EXIT_USAGE


def run(args: argparse.Namespace) -> int:
    view = "origin" if args.origin else "edge"
    outcome = Outcome(url=args.url or "", index=args.index or 0, view=view)
    fmt = "json" if args.json else args.format
    try:
        code = _run(args, outcome)
    except ConfigError as exc:
        code = outcome.error("usage error", str(exc))
    except TargetUnreachable as exc:
        code = outcome.error("unreachable", f"{exc} (inconclusive: nothing was verified)")
    except ServerError as exc:
        code = outcome.fail("server error", _unanswered(exc))
    except (FormatError, TargetStalled, TargetCertificateError) as exc:
        # The client's own refusals (a body over the cap), an answer that did not come
        # within the deadline, a certificate clients reject: the target failed.
        code = outcome.fail("response", str(exc))
    _print(outcome, fmt)
    return code


def _unanswered(exc: ServerError) -> str:
    """A 5xx is what was answered, never a verdict about the log (`verify.served`)."""
    alert = server_error_alert(exc.path)
    return f"HTTP {exc.status} after retries ({alert}): nothing was verified; {exc}"


def _run(args: argparse.Namespace, out: Outcome) -> int:
    reach = optargs.resolve_target(args, (target_options.URL, *TARGET))
    url = args.url or reach.url
    if url is None:
        return out.error("usage error", "URL (or --tlog-url / TLOG_URL) is required")
    out.url = url
    if args.index is None:
        if len(reach.indices) != 1:
            return out.error("usage error", "INDEX (or one --tlog-index / TLOG_INDEX) is required")
        out.index = reach.indices[0]
    if (args.tree_size is None) != (args.root_hash is None):
        return out.error("usage error", "--tree-size and --root-hash go together")
    from tlogcheck.note import parse_verifier_key

    verifiers = [parse_verifier_key(k) for k in reach.vkeys]
    with TLogClient(url, **reach.client_kwargs()) as client:
        if reach.api == "tiles":
            return _verify_tiles(client, out, verifiers, args.tree_size, args.root_hash)
        code = _verify(client, out, verifiers, args.tree_size, args.root_hash)
        if code == EXIT_OK:
            code = _also(client, out, reach)
        return code


def _also(client: TLogClient, out: Outcome, reach: Reach) -> int:
    """What the other target options ask, judged by the suite's rules: the release's
    db.jsonl (§3.2 step 2) and the trees recorded elsewhere (known roots, state)."""
    from tlogcheck.verify.release import audit_against, judge_db_hash, judge_db_root
    from tlogcheck.verify.trees import judge_recorded

    assert out.tree_size is not None and out.root_hash is not None
    served = Tree(out.tree_size, bytes.fromhex(out.root_hash))
    recorded = reach.recorded()
    if recorded:
        verdict = judge_recorded(client, recorded, served, "every recorded tree")
        if verdict.findings:
            return out.fail("recorded tree", verdict.findings[0].served)
        out.evidence.append(verdict.summary)
    if reach.db is not None:
        root = client.get(PATH_ROOT, view=out.view)
        found = audit_against(reach.db, served.tree_size)
        for verdict in (
            judge_db_hash(found, reach.db_sha256, reach.db_sha256_source, reach.db),
            judge_db_root(found, served, root, reach.db),
        ):
            if verdict.findings:
                return out.fail("db.jsonl", verdict.findings[0].served, root)
            out.evidence.append(verdict.summary)
    return EXIT_OK


def _verify_tiles(
    client: TLogClient,
    out: Outcome,
    verifiers: Sequence[Verifier],
    remembered_size: int | None,
    remembered_root: bytes | None,
) -> int:
    from tlogcheck.merkle import leaf_hash
    from tlogcheck.verify.tiles import TileReader

    reader = TileReader(client, view=out.view)
    try:
        cp, cp_resp = reader.checkpoint(verifiers)
    except NoteError as exc:
        rule = "checkpoint signature" if verifiers else "checkpoint format"
        return out.fail(rule, str(exc), *reader.responses[-1:])
    except FormatError as exc:
        return out.fail("checkpoint", str(exc), *reader.responses[-1:])
    out.tree_size, out.root_hash = cp.tree_size, cp.root_hash.hex()
    out.checkpoint_origin = cp.origin
    out.checkpoint_signed_by = reader.signed_by
    size, root = cp.tree_size, cp.root_hash
    if remembered_size is not None and remembered_root is not None:
        shrank = _remember(out, "the checkpoint", cp.tree_size, remembered_size, remembered_root)
        if shrank:
            return out.fail("remembered tree", shrank, cp_resp)
        size, root = remembered_size, remembered_root
    if out.index >= size:
        return out.error(
            "usage error",
            f"index {out.index} is outside the tree: its size is {size} "
            f"(valid indices 0..{size - 1})",
        )
    served = reader.tree(cp.tree_size, cp.root_hash)
    rule = "tiles root"
    try:
        served.check_root()
        tree = served if size == cp.tree_size else reader.tree(size, root, cp.tree_size)
        if tree is not served:
            rule = "remembered tree"
            tree.check_root()
        rule = "inclusion proof"
        entry = tree.verify_entry(out.index)
        out.leaf_hash = leaf_hash(entry).hex()
        if tree is not served:
            rule = "consistency"
            served.verify_extends(size, root)
    except (FormatError, ProofError) as exc:
        return out.fail(rule, str(exc), *reader.responses[-1:])
    return EXIT_OK


def _remember(
    out: Outcome, what: str, served: int, remembered_size: int, remembered_root: bytes
) -> str | None:
    """Note the remembered tree; why the log cannot extend it (it shrank), or None."""
    out.remembered_tree = {"tree_size": remembered_size, "root_hash": remembered_root.hex()}
    if remembered_size > served:
        return (
            f"{what} has {served} entries, fewer than the remembered {remembered_size}: "
            "the log is not append-only"
        )
    return None


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _verify(
    client: TLogClient,
    out: Outcome,
    verifiers: Sequence[Verifier],
    remembered_size: int | None,
    remembered_root: bytes | None,
) -> int:
    view, index = out.view, out.index
    root_resp = client.get(PATH_ROOT, view=view)
    answered(root_resp)
    if root_resp.status != 200:
        hint = GATEWAY_HINT if root_resp.status in (401, 403) else ""
        return out.fail("root", f"HTTP {root_resp.status}, expected 200{hint}", root_resp)
    try:
        root = parse_root(root_resp.body)
    except FormatError as exc:
        return out.fail("root format", str(exc), root_resp)
    out.tree_size, out.root_hash = root.tree_size, root.root_hash.hex()
    out.release = root.release or root_resp.release

    if verifiers:
        code = _check_checkpoint(client, out, verifiers, root, root_resp)
        if code != EXIT_OK:
            return code

    size, tree_root = root.tree_size, root.root_hash
    if remembered_size is not None and remembered_root is not None:
        shrank = _remember(out, "the served tree", root.tree_size, remembered_size, remembered_root)
        if shrank:
            return out.fail("remembered tree", shrank, root_resp)
        size, tree_root = remembered_size, remembered_root
    if index >= size:
        return out.error(
            "usage error",
            f"index {index} is outside the tree: its size is {size} (valid indices 0..{size - 1})",
        )

    entry_resp = client.entry(index, view=view)
    proof_resp = None
    if entry_resp.status == 200:
        proof_resp = client.get(proof_path(index, size), view=view)
    result = check_inclusion(index, size, tree_root, entry_resp, proof_resp)
    if result.server_error is not None:
        raise result.server_error
    if result.leaf_hash is not None:
        out.leaf_hash = result.leaf_hash.hex()
    if result.rule is not None:
        # The root is evidence too when the path does not lead to it.
        if result.rule == "inclusion proof":
            return out.fail(result.rule, result.detail, root_resp, *result.responses)
        return out.fail(result.rule, result.detail, *result.responses)

    if remembered_size is not None and remembered_root is not None:
        remembered = Tree(remembered_size, remembered_root)
        served = Tree(root.tree_size, root.root_hash, root_resp.release)
        if remembered.tree_size == served.tree_size and remembered != served:
            return out.fail(
                "remembered tree",
                f"the served tree of {root.tree_size} entries has root "
                f"{root.root_hash.hex()}, the remembered one {remembered_root.hex()}",
                root_resp,
            )
        try:
            prove_extends(client, remembered, served, view=view)
        except (FormatError, ProofError) as exc:
            return out.fail("consistency", str(exc), root_resp)
    return EXIT_OK


def _check_checkpoint(
    client: TLogClient,
    out: Outcome,
    verifiers: Sequence[Verifier],
    root: Root,
    root_resp: Response,
) -> int:
    from tlogcheck.note import parse_checkpoint, verify_note

    cp_resp = client.checkpoint(view=out.view)
    answered(cp_resp)
    if cp_resp.status != 200:
        return out.fail("checkpoint", f"HTTP {cp_resp.status}, expected 200", cp_resp)
    try:
        signed = verify_note(cp_resp.body, verifiers)
    except NoteError as exc:
        return out.fail("checkpoint signature", str(exc), cp_resp)
    out.checkpoint_signed_by = sorted({s.key_name for s in signed.signatures})
    try:
        cp = parse_checkpoint(signed.text)
    except NoteError as exc:
        return out.fail("checkpoint format", str(exc), cp_resp)
    out.checkpoint_origin = cp.origin
    if (cp.tree_size, cp.root_hash) != (root.tree_size, root.root_hash):
        return out.fail(
            "checkpoint vs root",
            f"the checkpoint describes tree {cp.tree_size} root {cp.root_hash.hex()}, the root "
            f"endpoint tree {root.tree_size} root {root.root_hash.hex()}",
            root_resp,
            cp_resp,
        )
    return EXIT_OK


def _print(out: Outcome, fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(asdict(out), sort_keys=True))
        return
    if fmt == "markdown" and out.result != "usage error":
        print(f"- **{out.result}**: entry {out.index} of {out.url}")
        if out.rule:
            print(f"  - rule: {out.rule}: {out.detail}")
        for line in out.evidence:
            print(f"  - evidence: {line}")
        return
    if out.result == "verified":
        tree = f"tree {out.tree_size} root {out.root_hash}"
        if out.remembered_tree is not None:
            rt = out.remembered_tree
            tree = (
                f"remembered tree {rt['tree_size']} root {rt['root_hash']}, "
                f"consistent with served tree {out.tree_size} root {out.root_hash}"
            )
        extra = [f"release {out.release}"] if out.release else []
        if out.checkpoint_signed_by:
            extra.append("checkpoint signed by " + ", ".join(out.checkpoint_signed_by))
        via = " via origin (X-Bypass: 1)" if out.view == "origin" else ""
        suffix = f" ({'; '.join(extra)})" if extra else ""
        print(f"verified: entry {out.index} in {tree}{via}{suffix}")
        return
    if out.result == "failed":
        print(f"FAILED: {out.rule}: {out.detail}")
        for line in out.evidence:
            print(f"  evidence: {line}")
        return
    print(f"tlogcheck verify: {out.result}: {out.detail}", file=sys.stderr)
