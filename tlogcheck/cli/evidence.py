"""`tlogcheck evidence verify DIR`: re-run an evidence bundle's verification offline.

Exit 1 "misbehaviour confirmed" naming what is proven; 0 the bundle shows no failure;
2 the bundle is malformed or its files do not match its manifest.
"""

from __future__ import annotations

import argparse

from tlogcheck.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, FormatError
from tlogcheck.incident.bundle import load_bundle
from tlogcheck.incident.evidence import verify_bundle


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    verify = sub.add_parser(
        "verify",
        help="verify a bundle offline, from its files alone",
        description="Verify an evidence bundle offline. Exit 1: misbehaviour confirmed; "
        "0: no failure shown; 2: malformed, or a file does not match the manifest.",
    )
    verify.add_argument("directory", metavar="DIR", help="the bundle's directory")


def run(args: argparse.Namespace) -> int:
    try:
        bundle = load_bundle(args.directory)
        result = verify_bundle(bundle)
    except FormatError as exc:
        print(f"tlogcheck evidence: bundle rejected: {exc}")
        return EXIT_USAGE
    meta = bundle.meta
    print(
        f"bundle {bundle.path}: {len(bundle.responses)} responses, written by "
        f"tlogcheck {meta.get('tool_version')} at {meta.get('created')}"
    )
    for line in result.checked:
        print(f"  checked: {line}")
    for line in result.notes:
        print(f"  note: {line}")
    if not result.failed:
        print("no failure shown: every tree and proof in the bundle agrees")
        return EXIT_OK
    print("misbehaviour confirmed:")
    for finding in result.findings:
        print(f"  {finding.line()}")
    return EXIT_FAILED
