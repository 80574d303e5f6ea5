"""`tlogcheck rca REPORT.json... [--out PATH]`: the playbook's §8 RCA skeleton as
Markdown, drafted from the JSON reports of the failing run and later runs of its target.

What the reports hold is filled in (timeline, observations as served, §3 hypotheses
marked from the reports, served root hashes, db.jsonl SHA-256, releases, seed and replay
command, Events, the evidence bundle the run wrote); what only people know is marked to
fill in. `--out` is checked before anything is drafted: never an input (a report or a
`--bundle`), never a directory; the file is written atomically. Exit 0; 2 when a report
cannot be read, none of them failed, they are of different targets without `--combine`,
or `--out` is refused. If `--out` cannot be written at the end, the draft goes to stdout
(nothing is lost) and the command exits 2 saying so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tlogcheck.cli.notice import COMBINE_HELP
from tlogcheck.errors import EXIT_OK, EXIT_USAGE, ConfigError
from tlogcheck.incident import rca, reports
from tlogcheck.outputs import Output, check_outputs, write_text
from tlogcheck.playbook import LANGS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "reports",
        nargs="+",
        metavar="REPORT.json",
        help="JSON reports (--tlog-report-json) of the failing run and of later runs of "
        "the same target",
    )
    parser.add_argument(
        "--lang", choices=LANGS, default="ko", help="ko (the playbook's words, default) or en"
    )
    parser.add_argument(
        "--out",
        metavar="PATH",
        help="write the Markdown here (default: stdout); never one of the inputs",
    )
    parser.add_argument(
        "--bundle",
        action="append",
        default=[],
        metavar="PATH",
        help="an evidence bundle (file or directory) of the incident, listed under 증빙 "
        "beside the one the failing run wrote (--tlog-evidence); repeatable; must exist",
    )
    parser.add_argument("--combine", action="store_true", help=COMBINE_HELP)


def _written_bundle(run: reports.RunReport) -> str | None:
    """The bundle the failing run wrote (its report names it), where it is now: at the
    path the run wrote it to, or beside the report (a CI job copies both together)."""
    if run.bundle is None:
        return None
    for where in (Path(run.bundle), Path(run.path).parent / Path(run.bundle).name):
        if (where / "manifest.json").is_file():
            return str(where)
    return None


def run(args: argparse.Namespace) -> int:
    for bundle in args.bundle:
        if not Path(bundle).exists():
            raise ConfigError(f"--bundle {bundle}: no such file or directory")
    if args.out is not None:
        inputs = [("REPORT.json", p) for p in args.reports] + [("--bundle", b) for b in args.bundle]
        check_outputs([Output("--out", args.out)], inputs)
    runs = [reports.load_report(p) for p in args.reports]
    inc = reports.incident(runs, combine=args.combine)
    bundles = list(args.bundle)
    found = _written_bundle(inc.failing)
    if found and found not in bundles:
        bundles.append(found)
    text = rca.render(inc, args.lang, bundles)
    if args.out is None:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        write_text(args.out, text, option="--out")
    except ConfigError as exc:
        sys.stdout.write(text)
        print(f"tlogcheck rca: error: {exc}; the draft is on stdout instead", file=sys.stderr)
        return EXIT_USAGE
    print(f"tlogcheck rca: wrote {args.out}", file=sys.stderr)
    return EXIT_OK
