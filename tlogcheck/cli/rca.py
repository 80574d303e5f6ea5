"""`tlogcheck rca REPORT.json... [--out PATH]`: the playbook's §8 RCA skeleton as
Markdown, drafted from the JSON reports of the failing run and a later passing one.

What the reports hold is filled in (timeline, hypotheses with observations, served
root hashes, db.jsonl SHA-256, releases, seed and replay command, Events); what only
people know is marked to fill in. Exit 0; 2 when a report cannot be read or none
of them failed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tlogcheck.errors import EXIT_OK, ConfigError
from tlogcheck.incident import rca, reports
from tlogcheck.playbook import LANGS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "reports",
        nargs="+",
        metavar="REPORT.json",
        help="JSON reports (--tlog-report-json) of the failing run and, if it has "
        "recovered, a later passing run",
    )
    parser.add_argument(
        "--lang", choices=LANGS, default="ko", help="ko (the playbook's words, default) or en"
    )
    parser.add_argument("--out", metavar="PATH", help="write the Markdown here (default: stdout)")
    parser.add_argument(
        "--bundle",
        action="append",
        default=[],
        metavar="PATH",
        help="an evidence bundle (file or directory) of the incident, listed under 증빙; "
        "repeatable; must exist",
    )


def run(args: argparse.Namespace) -> int:
    runs = [reports.load_report(p) for p in args.reports]
    for bundle in args.bundle:
        if not Path(bundle).exists():
            raise ConfigError(f"--bundle {bundle}: no such file or directory")
    text = rca.render(reports.incident(runs), args.lang, args.bundle)
    if args.out is None:
        sys.stdout.write(text)
        return EXIT_OK
    out = Path(args.out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write: {exc}") from None
    print(f"tlogcheck rca: wrote {out}", file=sys.stderr)
    return EXIT_OK
