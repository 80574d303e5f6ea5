"""The `tlogcheck` command: one subcommand per module.

Each subcommand module has `add_arguments(parser)` and `run(args) -> int`. A module is
imported only when its subcommand runs, so `tlogcheck root` never pays for the web
server or the kubernetes client.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, Protocol

from tlogcheck.errors import EXIT_USAGE, TLogCheckError


class Command(Protocol):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _root() -> Command:
    from tlogcheck.cli import root

    return root


def _verify() -> Command:
    from tlogcheck.cli import verify

    return verify


def _serve() -> Command:
    from tlogcheck.cli import serve

    return serve


def _nightly() -> Command:
    from tlogcheck.cli import nightly

    return nightly


def _demo() -> Command:
    from tlogcheck.cli import demo

    return demo


def _notice() -> Command:
    from tlogcheck.cli import notice

    return notice


def _rca() -> Command:
    from tlogcheck.cli import rca

    return rca


def _checklist() -> Command:
    from tlogcheck.cli import checklist

    return checklist


def _triage() -> Command:
    from tlogcheck.cli import triage

    return triage


def _evidence() -> Command:
    from tlogcheck.cli import evidence

    return evidence


def _exporter() -> Command:
    from tlogcheck.cli import exporter

    return exporter


# name -> (its module, one-line help)
COMMANDS: dict[str, tuple[Callable[[], Command], str]] = {
    "root": (_root, "rebuild the Merkle root of a db.jsonl (playbook §4)"),
    "verify": (
        _verify,
        "verify one entry's inclusion proof, like verify_client.py (playbook §0)",
    ),
    "serve": (_serve, "run the embedded reference deployment (origin + edge) on loopback"),
    "nightly": (_nightly, "the nightly job: full suite, long load phase, full db audit"),
    "demo": (
        _demo,
        "the suite against the embedded deployment: healthy, broken, and the gate in dry run",
    ),
    "notice": (_notice, "draft the incident notice (playbook §6) from JSON reports"),
    "rca": (_rca, "draft the RCA skeleton (playbook §8) as Markdown from JSON reports"),
    "checklist": (
        _checklist,
        "run the daily / weekly / quarterly checklist (playbook §5) against a target",
    ),
    "triage": (_triage, "after an alert: the playbook's §1 row, §2 routine and §3 checklist"),
    "evidence": (
        _evidence,
        "evidence verify DIR: re-verify an evidence bundle offline (exit 1 proven or shown)",
    ),
    "exporter": (
        _exporter,
        "serve /probe for Prometheus: the §1 alerts from continuous probes, split views "
        "across vantage points",
    ),
}


_QUOTED = re.compile(r"'[^']*'")
REDACTED = "<redacted>"


def _masked(token: str) -> str:
    """An argument as an error may show it: a flag's name, never a value."""
    if token.startswith("-"):
        name, sep, _ = token.partition("=")
        return f"{name}={REDACTED}" if sep else name
    return REDACTED


class Parser(argparse.ArgumentParser):
    """argparse, whose errors never echo a value: an unknown argument is shown by its flag
    alone (the value after `--tlog-hedaer` may be a token), and a quoted value that looks
    like a header or a URL with a password is masked."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras and self.prog.count(" ") >= 1:
            # A subcommand's parser: its unknown arguments are reported here, masked.
            self.error("unrecognized arguments: " + " ".join(_masked(t) for t in extras))
        return parsed, extras

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments: ") and REDACTED not in message:
            tokens = message.removeprefix("unrecognized arguments: ").split(" ")
            message = "unrecognized arguments: " + " ".join(
                dict.fromkeys(_masked(t) for t in tokens)
            )

        def mask(m: re.Match[str]) -> str:
            text = m.group(0)
            return f"'{REDACTED}'" if ":" in text or "@" in text else text

        super().error(_QUOTED.sub(mask, message))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only `command`'s module is imported to add its arguments."""
    parser = Parser(
        prog="tlogcheck",
        description="Checks for a TLog read-only deployment (RFC 9162 Merkle log behind a CDN).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (load, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            module = load()
            module.add_arguments(sp)
            sp.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command if command in COMMANDS else None).parse_args(argv)
    try:
        code: int = args._run(args)
    except TLogCheckError as exc:
        print(f"tlogcheck {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
