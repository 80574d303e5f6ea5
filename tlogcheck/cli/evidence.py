"""`tlogcheck evidence verify DIR`: re-run an evidence bundle's verification offline.

Exit 1 "misbehaviour confirmed" naming what is proven; 0 the bundle shows no failure;
2 the bundle is malformed or its files do not match its manifest.
"""

from __future__ import annotations

import argparse
import json

from tlogcheck.cli import optargs
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
    # The same choices as every command that prints a report.
    optargs.add_format(verify)


def run(args: argparse.Namespace) -> int:
    fmt = getattr(args, "format", "text")
    try:
        bundle = load_bundle(args.directory)
        result = verify_bundle(bundle)
    except FormatError as exc:
        if fmt == "json":
            print(json.dumps({"verdict": "rejected", "reason": str(exc)}))
        else:
            print(f"tlogcheck evidence: bundle rejected: {exc}")
        return EXIT_USAGE
    meta = bundle.meta
    if fmt == "json":
        doc = {
            "bundle": str(bundle.path),
            "responses": len(bundle.responses),
            "tool_version": meta.get("tool_version"),
            "created": meta.get("created"),
            "verdict": "misbehaviour confirmed" if result.failed else "no failure shown",
            "checked": result.checked,
            "notes": result.notes,
            "findings": [
                {"what": f.what, "proven": f.proven, "detail": f.detail} for f in result.findings
            ],
        }
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return EXIT_FAILED if result.failed else EXIT_OK
    li = "- " if fmt == "markdown" else "  "
    print(
        f"bundle {bundle.path}: {len(bundle.responses)} responses, written by "
        f"tlogcheck {meta.get('tool_version')} at {meta.get('created')}"
    )
    for line in result.checked:
        print(f"{li}checked: {line}")
    for line in result.notes:
        print(f"{li}note: {line}")
    if not result.failed:
        print("no failure shown: every tree and proof in the bundle agrees")
        return EXIT_OK
    print("misbehaviour confirmed:")
    for finding in result.findings:
        print(f"{li}{finding.line()}")
    return EXIT_FAILED
