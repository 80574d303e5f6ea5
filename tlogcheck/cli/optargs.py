"""The suite's `Option`s (flag + env twin) on an argparse parser, for the commands that
talk to a deployment (`tlogcheck triage`, `checklist`, `verify`): one vocabulary.

Precedence is the suite's without ini: command line > environment > default. A bad
value raises ConfigError naming the option and where its value came from (a secret's
value never shown), which the command line turns into exit 2.

- `add_options` / `resolve`: any options;
- `add_target` / `resolve_target`: the target options every such command takes
  (`options.target.TARGET`: --tlog-url, --tlog-origin-url, --tlog-api, --tlog-vkey,
  --tlog-timeout, --tlog-header, --tlog-ca-bundle, --tlog-proxy, --tlog-db,
  --tlog-db-sha256, --tlog-known-root, --tlog-state, --tlog-index), resolved at once
  into a `Reach`;
- `add_format`: `--format text|markdown|json`, the same choices wherever a report prints.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from tlogcheck import options
from tlogcheck.options import Option
from tlogcheck.options import target as target_options
from tlogcheck.options.reach import Reach

__all__ = [
    "FORMATS",
    "Reach",
    "add_format",
    "add_options",
    "add_target",
    "resolve",
    "resolve_target",
]

FORMATS = ("text", "markdown", "json")


def add_options(parser: argparse.ArgumentParser | Any, options: Sequence[Option]) -> None:
    """Add each option's flag; its help names the env twin as the suite's does."""
    for opt in options:
        default_txt = "" if opt.default in (None, (), []) else f" Default: {opt.default}."
        # argparse %-formats help texts
        text = f"{opt.help}{default_txt} [env {opt.env}]".replace("%", "%%")
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


def add_format(parser: argparse.ArgumentParser, default: str = "text") -> None:
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=default,
        help=f"text, markdown or json (default {default})",
    )


def add_target(
    parser: argparse.ArgumentParser,
    opts: Sequence[Option] = target_options.TARGET,
    *,
    title: str = "target (the suite's options, with their env twins)",
    url_help: str | None = None,
) -> None:
    """The target options on a parser, in a group of their own."""
    group = parser.add_argument_group(title)
    shown = []
    for opt in opts:
        if url_help is not None and opt is target_options.URL:
            opt = Option(opt.flag, opt.env, url_help, opt.default, opt.convert, metavar="URL")
        shown.append(opt)
    add_options(group, shown)


def resolve_target(
    args: argparse.Namespace, opts: Sequence[Option] = target_options.TARGET
) -> Reach:
    """Every target option of `opts` resolved (the others at their defaults); ConfigError
    naming the first bad one."""
    t = target_options
    given = {opt.flag: resolve(args, opt) for opt in opts}

    def get(opt: Option) -> Any:
        if opt.flag in given:
            return given[opt.flag]
        if opt.multiple:
            return []
        # Not offered by this command: its default, never its env twin.
        return opt.convert(opt.default) if isinstance(opt.default, str) else opt.default

    db_sha = get(t.DB_SHA256)
    return Reach(
        url=get(t.URL),
        origin_url=get(t.ORIGIN_URL),
        api=get(t.API) or "v1",
        vkeys=tuple(get(t.VKEY)),
        timeout=float(get(t.TIMEOUT)),
        headers=tuple(get(t.HEADER)),
        ca_bundle=get(t.CA_BUNDLE),
        proxy=get(t.PROXY),
        db=get(t.DB),
        db_sha256=db_sha[0] if db_sha else None,
        db_sha256_source=db_sha[1] if db_sha else "",
        known_roots=tuple(get(t.KNOWN_ROOT)),
        state=get(t.STATE),
        indices=tuple(get(t.INDEX)),
    )
