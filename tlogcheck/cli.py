"""The `tlogcheck` command: one subcommand per module.

Each subcommand module has `add_arguments(parser)` and `run(args) -> int`; the
module is imported only when its subcommand runs, so `tlogcheck root` never pays
for the web server or the kubernetes client.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tlogcheck.errors import EXIT_USAGE, TLogCheckError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "root": ("tlogcheck.cmd_root", "rebuild the Merkle root of a db.jsonl (playbook §4)"),
    "verify": (
        "tlogcheck.cmd_verify",
        "verify one entry's inclusion proof, like verify_client.py (playbook §0)",
    ),
    "serve": (
        "tlogcheck.refstack.serve",
        "run the embedded reference deployment (origin + edge) on loopback",
    ),
    "nightly": (
        "tlogcheck.nightly",
        "the nightly job: full suite, long load phase, full db audit",
    ),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only `command`'s module is imported to add its arguments."""
    parser = argparse.ArgumentParser(
        prog="tlogcheck",
        description="Checks for a TLog read-only deployment (RFC 9162 Merkle log behind a CDN).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            module = importlib.import_module(module_name)
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
