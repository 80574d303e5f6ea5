"""Options as data: each has a command-line flag, an env twin and an ini twin.

Every part that takes options declares them here as `Option` values — the suite's
target options (`options.target`) are the same objects for `pytest`, `tlogcheck triage`,
the checklists and the exporter, so a flag means one thing everywhere. `resolve` applies
the one precedence, command line > environment > ini > default (the order
pytest-timeout documents); the pytest plugin and the command line only say where the
command-line and ini values are. A bad value is a `ConfigError` naming the option and
where its value came from; a secret option's value is never echoed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tlogcheck.errors import ConfigError

__all__ = [
    "Option",
    "fraction",
    "non_negative_int",
    "positive_float",
    "positive_int",
    "resolve",
    "source",
]

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


def _convert(option: Option, raw: str, source: str) -> Any:
    where = f"{option.flag} ({source})"
    if option.choices and raw not in option.choices:
        shown = "(value not shown)" if option.secret else repr(raw)
        raise ConfigError(f"{where}: {shown} is not one of {', '.join(option.choices)}")
    try:
        return option.convert(raw)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        shown = "(value not shown)" if option.secret else repr(raw)
        raise ConfigError(f"{where}: bad value {shown}: {exc}") from None


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _parse_bool(raw: str, source: str, option: Option) -> bool:
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{option.flag} ({source}): {raw!r} is not a boolean (use 1/0, true/false)")


def source(option: Option, *, cli: Any, ini: Callable[[], Any] | None = None) -> str:
    """Where the option's value came from: 'command line', 'env NAME', 'ini NAME' or
    'default'. `cli`: the parsed command-line value (None when not given); `ini`: reads
    the ini value (None: the command has no ini file)."""
    if cli not in (None, [], ()):
        return "command line"
    if os.environ.get(option.env, "") != "":
        return f"env {option.env}"
    value = ini() if ini is not None else None
    if value not in (None, "", []):
        return f"ini {option.ini}"
    return "default"


def resolve(option: Option, *, cli: Any, ini: Callable[[], Any] | None = None) -> Any:
    """Resolve an option: command line > environment > ini > default, converted.

    Repeatable options take the whole list from the first source that sets any;
    an environment twin holds several values separated by commas or whitespace (or by
    `env_separator`). `cli` and `ini` as for `source`.
    """
    read_ini = ini if ini is not None else (lambda: None)
    if option.is_flag:
        if cli:
            return True
        env = os.environ.get(option.env)
        if env is not None and env != "":
            return _parse_bool(env, f"env {option.env}", option)
        flag = read_ini()
        if flag is not None:
            return bool(flag)
        return bool(option.default)
    if option.multiple:
        if cli:
            return [_convert(option, v, "command line") for v in cli]
        env = os.environ.get(option.env, "")
        if env.strip():
            if option.env_separator is None:
                parts = env.replace(",", " ").split()
            else:
                parts = [p for p in env.split(option.env_separator) if p.strip()]
            return [_convert(option, v, f"env {option.env}") for v in parts]
        ini_list = read_ini()
        if ini_list:
            return [_convert(option, v, f"ini {option.ini}") for v in ini_list]
        return list(option.default or [])
    if cli is not None:
        return _convert(option, cli, "command line")
    env = os.environ.get(option.env, "")
    if env != "":
        return _convert(option, env, f"env {option.env}")
    text = read_ini()
    if text:
        return _convert(option, text, f"ini {option.ini}")
    if option.default is None:
        return None
    if isinstance(option.default, str):
        return _convert(option, option.default, "default")
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
