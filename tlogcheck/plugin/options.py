"""The options on pytest: each `tlogcheck.options.Option` as a flag in the one `tlogcheck`
group with its ini twin, and resolved from the pytest config."""

from __future__ import annotations

from typing import Any

import pytest

from tlogcheck.options import Option, resolve, source

__all__ = ["add_option", "source_of", "value"]


def add_option(group: pytest.OptionGroup, parser: pytest.Parser, option: Option) -> None:
    twins = f"[env {option.env}, ini {option.ini}]"
    default_txt = "" if option.default in (None, (), []) else f" Default: {option.default}."
    text = f"{option.help}{default_txt} {twins}"
    if option.is_flag:
        group.addoption(option.flag, action="store_true", default=None, dest=option.dest, help=text)
        parser.addini(option.ini, help=text, type="bool", default=None)
        return
    kwargs: dict[str, Any] = {"dest": option.dest, "default": None, "help": text}
    if option.metavar:
        kwargs["metavar"] = option.metavar
    if option.choices:
        kwargs["choices"] = list(option.choices)
    if option.multiple:
        kwargs["action"] = "append"
    group.addoption(option.flag, **kwargs)
    if option.multiple:
        parser.addini(option.ini, help=text, type="linelist")
    else:
        parser.addini(option.ini, help=text, type="string")


def _ini(config: pytest.Config, option: Option) -> Any:
    try:
        return config.getini(option.ini)
    except ValueError:
        return None


def source_of(config: pytest.Config, option: Option) -> str:
    """Where the option's value came from: 'command line', 'env NAME', 'ini NAME' or 'default'."""
    cli = config.getoption(option.dest, default=None)
    return source(option, cli=cli, ini=lambda: _ini(config, option))


def value(config: pytest.Config, option: Option) -> Any:
    """Resolve an option from the pytest config: command line > environment > ini > default."""
    cli = config.getoption(option.dest, default=None)
    return resolve(option, cli=cli, ini=lambda: _ini(config, option))
