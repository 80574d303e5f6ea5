"""Declarative plugin options: each has a command-line flag, an env twin and an ini twin.

Precedence is command line > environment > ini > default, the order pytest-timeout
documents. Modules declare their options as `Option` values; `plugin.py` registers them
all in the one `tlogcheck` group, and `value(config, option)` resolves them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from tlogcheck.errors import ConfigError

Converter = Callable[[str], Any]


@dataclass(frozen=True)
class Option:
    """One option: `--flag`, its `ENV` twin and its ini twin (the flag without dashes)."""

    flag: str
    env: str
    help: str
    default: Any = None
    convert: Converter = str
    multiple: bool = False
    choices: Sequence[str] = field(default_factory=tuple)
    metavar: str | None = None
    is_flag: bool = False  # a boolean switch: `--flag` on the command line, 1/true/yes elsewhere
    # How the env twin of a repeatable option separates its values: None is commas or
    # whitespace; "\n" for values that hold both (`Name: value` headers).
    env_separator: str | None = None
    secret: bool = False  # a bad value is not echoed in the usage error

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def ini(self) -> str:
        return self.dest

    def add_to(self, group: pytest.OptionGroup, parser: pytest.Parser) -> None:
        twins = f"[env {self.env}, ini {self.ini}]"
        default_txt = "" if self.default in (None, (), []) else f" Default: {self.default}."
        text = f"{self.help}{default_txt} {twins}"
        if self.is_flag:
            group.addoption(self.flag, action="store_true", default=None, dest=self.dest, help=text)
            parser.addini(self.ini, help=text, type="bool", default=None)
            return
        kwargs: dict[str, Any] = {"dest": self.dest, "default": None, "help": text}
        if self.metavar:
            kwargs["metavar"] = self.metavar
        if self.choices:
            kwargs["choices"] = list(self.choices)
        if self.multiple:
            kwargs["action"] = "append"
        group.addoption(self.flag, **kwargs)
        if self.multiple:
            parser.addini(self.ini, help=text, type="linelist")
        else:
            parser.addini(self.ini, help=text, type="string")


def _convert(option: Option, raw: str, source: str) -> Any:
    if option.choices and raw not in option.choices:
        raise ConfigError(
            f"{source}: {raw!r} is not one of {', '.join(option.choices)} for {option.flag}"
        )
    try:
        return option.convert(raw)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except (TypeError, ValueError) as exc:
        shown = "(value not shown)" if option.secret else repr(raw)
        raise ConfigError(f"{source}: bad value {shown} for {option.flag}: {exc}") from None


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _parse_bool(raw: str, source: str, option: Option) -> bool:
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{source}: {raw!r} is not a boolean for {option.flag} (use 1/0, true/false)")


def source_of(config: pytest.Config, option: Option) -> str:
    """Where the option's value came from: 'command line', 'env NAME', 'ini NAME' or 'default'."""
    if config.getoption(option.dest, default=None) not in (None, [], ()):
        return "command line"
    if os.environ.get(option.env, "") != "":
        return f"env {option.env}"
    try:
        ini = config.getini(option.ini)
    except ValueError:
        ini = None
    if ini not in (None, "", []):
        return f"ini {option.ini}"
    return "default"


def value(config: pytest.Config, option: Option) -> Any:
    """Resolve an option: command line > environment > ini > default.

    Repeatable options take the whole list from the first source that sets any;
    an environment twin holds several values separated by commas or whitespace.
    """
    cli = config.getoption(option.dest, default=None)
    if option.is_flag:
        if cli:
            return True
        env = os.environ.get(option.env)
        if env is not None and env != "":
            return _parse_bool(env, f"env {option.env}", option)
        ini = config.getini(option.ini)
        if ini is not None:
            return bool(ini)
        return bool(option.default)
    if option.multiple:
        if cli:
            return [_convert(option, v, f"{option.flag}") for v in cli]
        env = os.environ.get(option.env, "")
        if env.strip():
            if option.env_separator is None:
                parts = env.replace(",", " ").split()
            else:
                parts = [p for p in env.split(option.env_separator) if p.strip()]
            return [_convert(option, v, f"env {option.env}") for v in parts]
        ini_list = config.getini(option.ini)
        if ini_list:
            return [_convert(option, v, f"ini {option.ini}") for v in ini_list]
        return list(option.default or [])
    if cli is not None:
        return _convert(option, cli, option.flag)
    env = os.environ.get(option.env, "")
    if env != "":
        return _convert(option, env, f"env {option.env}")
    ini = config.getini(option.ini)
    if ini:
        return _convert(option, ini, f"ini {option.ini}")
    if option.default is None:
        return None
    if isinstance(option.default, str):
        return _convert(option, option.default, f"default of {option.flag}")
    return option.default


def positive_int(raw: str) -> int:
    n = int(raw, 10)
    if n <= 0:
        raise ValueError("must be a positive integer")
    return n


def non_negative_int(raw: str) -> int:
    n = int(raw, 10)
    if n < 0:
        raise ValueError("must be >= 0")
    return n


def positive_float(raw: str) -> float:
    x = float(raw)
    if not x > 0 or x != x or x == float("inf"):
        raise ValueError("must be a positive finite number")
    return x


def fraction(raw: str) -> float:
    x = float(raw)
    if not 0.0 <= x <= 1.0:
        raise ValueError("must be between 0 and 1")
    return x
