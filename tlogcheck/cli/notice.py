"""`tlogcheck notice REPORT.json...`: the playbook's §6 incident notice, drafted from
the JSON reports of the failing run and (if given) later runs of the same target.

Korean by default in the playbook's labels (제목/영향/원인/조치/재발 방지); `--lang en`
for English. Exit 0 with the notice on stdout; 2 when a report cannot be read, none of
them failed (there is nothing to announce), or they are of different targets without
`--combine`.
"""

from __future__ import annotations

import argparse
import sys

from tlogcheck.errors import EXIT_OK
from tlogcheck.incident import notice, reports
from tlogcheck.playbook import LANGS

COMBINE_HELP = (
    "draft reports of different targets together (refused otherwise); a report of one "
    "target never confirms another's recovery, and those reports are listed as such"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "reports",
        nargs="+",
        metavar="REPORT.json",
        help="JSON reports (--tlog-report-json) of the failing run and of later runs of "
        "the same target; ordered by their start times. Recovery is claimed only when a "
        "later report re-ran and passed every test that failed",
    )
    parser.add_argument(
        "--lang", choices=LANGS, default="ko", help="ko (the playbook's words, default) or en"
    )
    parser.add_argument(
        "--format",
        choices=notice.FORMATS,
        default="text",
        help="text (as §6 lays it out, default) or markdown",
    )
    parser.add_argument("--combine", action="store_true", help=COMBINE_HELP)


def run(args: argparse.Namespace) -> int:
    runs = [reports.load_report(p) for p in args.reports]
    inc = reports.incident(runs, combine=args.combine)
    sys.stdout.write(notice.render(inc, args.lang, args.format))
    return EXIT_OK
