"""`tlogcheck evidence verify DIR [--tlog-vkey KEY]... [--format text|markdown|json]`:
re-verify a bundle offline.

The verdict comes first: PROVEN (the log's own signatures convict it), SHOWN (the run
recorded the log serving what does not verify: true as far as the bundle's author is
trusted) or nothing shown, with the strongest finding; then every finding with its
level, and the notes; `--verbose` adds what was checked and the answers that are not
claims. The log's keys come from outside the bundle: `--tlog-vkey` / `TLOG_VKEY`, the
suite's option. Exit 1 proven or shown (the words say which), 0 nothing shown, 2 the
bundle is malformed or does not match its manifest (or a key is malformed).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import replace

from tlogcheck import note
from tlogcheck.cli import optargs
from tlogcheck.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, ConfigError, FormatError, NoteError
from tlogcheck.incident.bundle import Bundle, load_bundle
from tlogcheck.incident.claims import PROVEN, SHOWN, Offline
from tlogcheck.incident.evidence import verify_bundle
from tlogcheck.options.target import VKEY as SUITE_VKEY

__all__ = ["VKEY", "add_arguments", "pinned_keys", "run", "verdict_lines"]

# The suite's option (flag, env twin, converter), with what it means here.
VKEY = replace(
    SUITE_VKEY,
    help="the log's verifier key (`name+hexid+base64`, or a file holding one), pinned from "
    "outside the bundle: only what it signs can prove; repeatable. Without one the keys "
    "the bundle names are used, and nothing is proven.",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    verify = sub.add_parser(
        "verify",
        help="verify a bundle offline, from its files alone",
        description="Verify an evidence bundle offline against the log's pinned keys. Exit "
        "1: misbehaviour PROVEN (signed by a pinned key) or SHOWN (recorded served, not "
        "signed); 0: nothing shown; 2: malformed, or a file does not match the manifest.",
    )
    verify.add_argument("directory", metavar="DIR", help="the bundle's directory")
    optargs.add_options(verify, [VKEY])
    verify.add_argument("--verbose", "-v", action="store_true", help="also list what was checked")
    # The same choices as every command that prints a report.
    optargs.add_format(verify)


def pinned_keys(raw: Sequence[str]) -> list[note.Verifier]:
    """The keys given with --tlog-vkey (a key or a file holding one); ConfigError if bad."""
    try:
        return [note.load_verifier_key(k) for k in raw]
    except NoteError as exc:
        raise ConfigError(f"--tlog-vkey: {exc}") from None


def _failed_checks(bundle: Bundle) -> list[str]:
    verdicts = bundle.meta.get("verdicts")
    names: list[str] = []
    for v in verdicts if isinstance(verdicts, list) else []:
        if not isinstance(v, dict):
            continue
        # A suite run's failed tests name their check; triage's steps their section.
        name = v.get("check") or (v.get("section") if v.get("problem_of") else None)
        if isinstance(name, str) and name not in names:
            names.append(name)
    return names


def verdict_lines(result: Offline, failed_checks: Sequence[str] = ()) -> list[str]:
    """The verdict, in words, then the strongest finding."""
    top = result.ordered()
    counts = f"{result.summary()['proven']} proven, {result.summary()['shown']} shown"
    if result.level == PROVEN:
        return [
            f"PROVEN: misbehaviour proven by the log's own signatures ({counts})",
            f"  strongest: {top[0].line()}",
        ]
    if result.level == SHOWN:
        why = (
            "no key pinned, so nothing signed can prove it"
            if result.keys != "pinned"
            else "nothing the log signed proves it"
        )
        return [
            "SHOWN (not proven): the run recorded the log serving what does not verify; "
            f"true as far as the bundle's author is trusted; {why} ({counts})",
            f"  strongest: {top[0].line()}",
        ]
    against = (
        "the trees the log signed"
        if result.signed_trees and result.keys == "pinned"
        else "the trees in the bundle"
    )
    said = (
        f"the {result.claims} answers the run recorded as the log's word agree with {against}"
        if result.claims
        else "the run recorded no answer that is the log's word on the log"
    )
    lines = [f"nothing shown: {said}; nothing here accuses the log"]
    if failed_checks:
        lines.append(
            f"  the run's failures ({', '.join(failed_checks)}) rest on what is not a claim "
            "of the log (availability, cache, latency, headers, refusals) or on inputs "
            "outside the bundle"
        )
    return lines


def run(args: argparse.Namespace) -> int:
    pinned = pinned_keys(optargs.resolve(args, VKEY))
    try:
        bundle = load_bundle(args.directory)
        result = verify_bundle(bundle, pinned)
    except FormatError as exc:
        print(f"tlogcheck evidence: bundle rejected: {exc}")
        return EXIT_USAGE
    meta = bundle.meta
    fmt = getattr(args, "format", "text")
    if fmt == "json":
        doc = {
            "bundle": str(bundle.path),
            "responses": len(bundle.responses),
            "claims": result.claims,
            "tool_version": meta.get("tool_version"),
            "created": meta.get("created"),
            **result.summary(),
            "verdict": verdict_lines(result, _failed_checks(bundle))[0],
            "findings": [f.to_json() for f in result.ordered()],
            "notes": result.notes,
            "checked": result.checked if args.verbose else [],
            "not_claims": dict(result.not_claims) if args.verbose else {},
        }
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return EXIT_FAILED if result.level in (PROVEN, SHOWN) else EXIT_OK
    li = "- " if fmt == "markdown" else "  "
    for line in verdict_lines(result, _failed_checks(bundle)):
        print(line)
    keys = {
        "pinned": f"{len(pinned)} pinned key(s)",
        "named": "the bundle's own keys (none pinned)",
        "none": "no key",
    }[result.keys]
    print(
        f"bundle {bundle.path}: {len(bundle.responses)} responses ({result.claims} claims), "
        f"written by tlogcheck {meta.get('tool_version')} at {meta.get('created')}; {keys}"
    )
    for finding in result.ordered():
        print(f"{li}{finding.line()}")
    for line in result.notes:
        print(f"{li}note: {line}")
    if args.verbose:
        for line in result.checked:
            print(f"{li}checked: {line}")
        for why, n in sorted(result.not_claims.items()):
            print(f"{li}not a claim: {n} answer(s): {why}")
    return EXIT_FAILED if result.level in (PROVEN, SHOWN) else EXIT_OK
