"""`tlogcheck evidence verify DIR`: re-verify an evidence bundle offline, from the bundle
alone (`tlogcheck.incident.proofs`).

Exit 1 "misbehaviour confirmed", naming what is proven; 0 when the bundle shows no
failure it can prove; 2 when it is malformed or its files do not match its manifest.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from tlogcheck.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from tlogcheck.incident.proofs import BadBundle, verify_bundle


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    verify = sub.add_parser(
        "verify",
        help="re-run the verification of a bundle offline",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    verify.add_argument("bundle", metavar="DIR", help="the bundle (--tlog-evidence DIR)")
    verify.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    try:
        verdict = verify_bundle(args.bundle)
    except BadBundle as exc:
        print(f"tlogcheck evidence verify: bad bundle: {exc}", file=sys.stderr)
        return EXIT_USAGE
    code = EXIT_FAILED if verdict.confirmed else EXIT_OK
    if args.json:
        doc = {
            "bundle": args.bundle,
            "result": "misbehaviour confirmed" if verdict.confirmed else "no failure shown",
            "signed": verdict.signed,
            "findings": [asdict(f) for f in verdict.findings],
            "notes": verdict.notes,
            "exit": code,
        }
        print(json.dumps(doc, sort_keys=True))
        return code
    if verdict.confirmed:
        print(f"misbehaviour confirmed by {args.bundle}:")
        for f in verdict.findings:
            print(f"  {f.what}: {f.proof}")
    else:
        print(f"{args.bundle}: no failure the bundle can prove")
    for note in verdict.notes:
        print(f"  note: {note}")
    return code
