"""The suite's `Option`s (flag + env twin) on an argparse parser, for CLI commands that
take the same target as the suite (`tlogcheck checklist`).

Precedence is the suite's without ini: command line > environment > default. A bad
value raises ConfigError naming the option and where its value came from, which
the command line turns into exit 2.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Sequence
from typing import Any

from tlogcheck.errors import ConfigError
from tlogcheck.plugin.options import Option

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


def _one(opt: Option, raw: str, source: str) -> Any:
    if opt.choices and raw not in opt.choices:
        raise ConfigError(f"{opt.flag} ({source}): {raw!r} is not one of {', '.join(opt.choices)}")
    try:
        return opt.convert(raw)
    except (TypeError, ValueError, ConfigError) as exc:
        raise ConfigError(f"{opt.flag} ({source}): bad value {raw!r}: {exc}") from None


def resolve(args: argparse.Namespace, opt: Option) -> Any:
    """The option's value: command line > environment > default (converted)."""
    cli = getattr(args, opt.dest, None)
    env = os.environ.get(opt.env, "")
    if opt.is_flag:
        if cli:
            return True
        if env:
            low = env.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{opt.flag} (env {opt.env}): {env!r} is not a boolean")
        return bool(opt.default)
    if opt.multiple:
        if cli:
            return [_one(opt, v, "command line") for v in cli]
        if env:
            return [_one(opt, v, f"env {opt.env}") for v in re.split(r"[,\s]+", env.strip()) if v]
        return []
    if cli is not None:
        return _one(opt, cli, "command line")
    if env:
        return _one(opt, env, f"env {opt.env}")
    if isinstance(opt.default, str):
        return _one(opt, opt.default, f"default of {opt.flag}")
    return opt.default
