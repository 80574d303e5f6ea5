"""`tlogcheck exporter`: the §1 alerts from continuous probes, blackbox-style.

Prometheus scrapes `/probe?target=URL&module=NAME`; each scrape runs the module's checks
against the target with the suite's rules and answers Prometheus text. A config that
cannot be used stops it at start, naming the file and the key (exit 2).
"""

from __future__ import annotations

import argparse

from tlogcheck.cli.optargs import add_options, resolve
from tlogcheck.errors import ConfigError
from tlogcheck.exporter.app import Settings
from tlogcheck.exporter.options import (
    CONFIG,
    HISTORY_LIMIT,
    LISTEN,
    MAX_CONCURRENT,
    MAX_TARGETS,
    OPTIONS,
    PEER,
    PEER_LISTEN,
    STATE_DIR,
    TIMEOUT_OFFSET,
    VANTAGE,
    default_vantage,
)
from tlogcheck.exporter.server import parse_listen, serve


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_options(parser, OPTIONS)


def run(args: argparse.Namespace) -> int:
    config = resolve(args, CONFIG)
    if not config:
        raise ConfigError(f"{CONFIG.flag} (or {CONFIG.env}) is required")
    peer_listen = resolve(args, PEER_LISTEN)
    settings = Settings(
        config=config,
        vantage=resolve(args, VANTAGE) or default_vantage(),
        state_dir=resolve(args, STATE_DIR),
        peers=tuple(resolve(args, PEER)),
        timeout_offset=resolve(args, TIMEOUT_OFFSET),
        max_concurrent=resolve(args, MAX_CONCURRENT),
        history_limit=resolve(args, HISTORY_LIMIT),
        max_targets=resolve(args, MAX_TARGETS),
    )
    return serve(
        settings,
        parse_listen(resolve(args, LISTEN)),
        parse_listen(peer_listen, PEER_LISTEN.flag) if peer_listen else None,
    )
