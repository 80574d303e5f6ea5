"""`tlogcheck nightly`: the full suite, a long load phase and the full db audit, in one run.

A thin, documented wrapper over pytest, so the nightly job and an SRE at a terminal run
exactly the same checks; it prints, then runs (in a child interpreter):

    python -m pytest --pyargs tests_synthetic [every option given] --load --load-duration 300

Every option of the pytest plugin (`--tlog-url`, `--tlog-db`, `--load-users`,
`--rollout`, ...) is accepted as it is and passed on; anything after `--` goes to pytest
untouched (`-x`, `-k`, `-n 2`, ...). With `--report-dir DIR` the run leaves its reports
there: `junit.xml`, the JSON report (`report.json`) and locust's HTML/CSV (`load/`); a
directory that cannot be written is refused (exit 2) before the run starts, and the
suite checks each file it will write the same way (exit 4).

The exit status is pytest's, the verdict of the night: 0 all checks passed, 1 a check
failed, 6 inconclusive (the target could not be asked), 2-5 usage or internal errors.
Against `--tlog-url` the audit needs the release's file: without `--tlog-db` (or
TLOG_DB) the command refuses to run (exit 2) unless `--skip-db-audit` says so; the
embedded deployment brings its own db.jsonl.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

from tlogcheck.errors import ConfigError
from tlogcheck.options import Option
from tlogcheck.outputs import Output, check_outputs

NIGHTLY_LOAD_DURATION = 300  # seconds: long enough for p95 to mean something


def _plugin_options() -> list[Option]:
    from tlogcheck.plugin import all_options

    return all_options()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Arguments after `--` go to pytest. Exit status: pytest's "
        "(0 passed, 1 failed, 6 inconclusive)."
    )
    parser.add_argument(
        "--report-dir",
        metavar="DIR",
        help="write junit.xml, report.json and locust's reports (load/) into DIR",
    )
    parser.add_argument(
        "--skip-db-audit",
        action="store_true",
        help="allow a run against --tlog-url without --tlog-db (the db audit is then skipped)",
    )
    group = parser.add_argument_group("checks (the pytest plugin's options, passed on)")
    for option in _plugin_options():
        shown = NIGHTLY_LOAD_DURATION if option.flag == "--load-duration" else option.default
        default = "" if shown in (None, "", (), []) else f" Default: {shown}."
        kwargs: dict[str, object] = {
            "dest": option.dest,
            "default": None,
            # argparse %-formats help texts
            "help": f"{option.help}{default} [env {option.env}]".replace("%", "%%"),
        }
        if option.is_flag:
            kwargs["action"] = "store_true"
        else:
            kwargs["metavar"] = option.metavar or option.dest.upper()
            if option.multiple:
                kwargs["action"] = "append"
            if option.choices:
                kwargs["choices"] = list(option.choices)
        group.add_argument(option.flag, **kwargs)  # type: ignore[arg-type]
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def pytest_args(args: argparse.Namespace, environ: Mapping[str, str]) -> list[str]:
    """The pytest command line of a nightly run (without `pytest` itself)."""
    argv = ["--pyargs", "tests_synthetic"]
    if not _entry_point_installed():
        argv += ["-p", "tlogcheck.plugin"]
    options = _plugin_options()
    flags = {o.flag for o in options}
    for option in options:
        given = getattr(args, option.dest, None)
        if given is None or given is False:
            continue
        if option.is_flag:
            argv.append(option.flag)
        elif option.multiple:
            for v in given:
                argv += [option.flag, str(v)]
        else:
            argv += [option.flag, str(given)]
    if "--load" not in argv:
        argv.append("--load")
    if args.load_duration is None and not environ.get("TLOG_LOAD_DURATION"):
        argv += ["--load-duration", str(NIGHTLY_LOAD_DURATION)]
    if args.report_dir:
        out = Path(args.report_dir)
        argv += [f"--junitxml={out / 'junit.xml'}"]
        if args.load_report_dir is None:
            argv += ["--load-report-dir", str(out / "load")]
        if "--tlog-report-json" in flags and getattr(args, "tlog_report_json", None) is None:
            argv += ["--tlog-report-json", str(out / "report.json")]
    extra = list(args.pytest_args or [])
    if extra[:1] == ["--"]:
        extra = extra[1:]
    return argv + extra


def _entry_point_installed() -> bool:
    return any(ep.value == "tlogcheck.plugin" for ep in metadata.entry_points(group="pytest11"))


def check_db_audit(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    """The night's audit needs the release's db.jsonl; the embedded target brings its own."""
    url = getattr(args, "tlog_url", None) or environ.get("TLOG_URL")
    db = getattr(args, "tlog_db", None) or environ.get("TLOG_DB")
    if url and not db and not args.skip_db_audit:
        raise ConfigError(
            "the nightly run audits db.jsonl: give the release's file with --tlog-db "
            "(and --tlog-db-sha256), or pass --skip-db-audit"
        )


def run(args: argparse.Namespace) -> int:
    check_db_audit(args, os.environ)
    if args.report_dir:  # before the night's run starts, not after it ends
        check_outputs([Output("--report-dir", args.report_dir, "dir")])
    argv = pytest_args(args, os.environ)
    print("tlogcheck nightly: pytest " + " ".join(shlex.quote(a) for a in argv), flush=True)
    # A fresh interpreter: pytest rewrites the asserts of a plugin it imports itself,
    # which it cannot do for modules this command has imported already.
    return subprocess.call([sys.executable, "-m", "pytest", *argv])
