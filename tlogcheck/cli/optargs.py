"""The suite's `Option`s (flag + env twin) on an argparse parser, for CLI commands that
take the same target as the suite (`tlogcheck checklist`).

Precedence is the suite's without ini: command line > environment > default. A bad
value raises ConfigError naming the option and where its value came from, which
the command line turns into exit 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from tlogcheck import options
from tlogcheck.options import Option

__all__ = ["add_options", "resolve"]


def add_options(parser: argparse.ArgumentParser | Any, options: Sequence[Option]) -> None:
    """Add each option's flag; its help names the env twin as the suite's does."""
    for opt in options:
        default_txt = "" if opt.default in (None, (), []) else f" Default: {opt.default}."
        text = f"{opt.help}{default_txt} [env {opt.env}]"
        if opt.is_flag:
            parser.add_argument(
                opt.flag, action="store_true", default=None, dest=opt.dest, help=text
            )
            continue
        kwargs: dict[str, Any] = {"dest": opt.dest, "default": None, "help": text}
        if opt.metavar:
            kwargs["metavar"] = opt.metavar
        if opt.multiple:
            kwargs["action"] = "append"
        parser.add_argument(opt.flag, **kwargs)


def resolve(args: argparse.Namespace, opt: Option) -> Any:
    """The option's value: command line > environment > default (converted), by the same
    rule the suite resolves it (`tlogcheck.options.resolve`); commands have no ini."""
    return options.resolve(opt, cli=getattr(args, opt.dest, None))
