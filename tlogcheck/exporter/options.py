"""The exporter's options: each flag with its environment twin (command line >
environment > default, `tlogcheck.options.resolve`)."""

from __future__ import annotations

import socket

from tlogcheck.options import Option, positive_int
from tlogcheck.options.target import http_url

__all__ = ["OPTIONS", "default_vantage"]


def vantage_name(raw: str) -> str:
    text = raw.strip()
    if not text or len(text) > 64 or any(not (c.isalnum() or c in "-_.") for c in text):
        raise ValueError("a vantage name is 1-64 letters, digits, '-', '_' or '.'")
    return text


def offset(raw: str) -> float:
    x = float(raw)
    if not 0 <= x < 60:
        raise ValueError("must be within 0..60 seconds")
    return x


CONFIG = Option("--config", "TLOG_EXPORTER_CONFIG",
                "the exporter's config file (modules, blackbox-style; docs/exporter.md).",
                metavar="FILE")  # fmt: skip
LISTEN = Option("--listen", "TLOG_EXPORTER_LISTEN",
                "where /probe, /metrics and /checkpoints are served: HOST:PORT.",
                default="127.0.0.1:9115", metavar="HOST:PORT")  # fmt: skip
STATE_DIR = Option(
    "--state-dir", "TLOG_EXPORTER_STATE_DIR",
    "directory of the remembered trees (they survive a restart) and evidence bundles; "
    "without it trees are remembered in memory only and no evidence is kept.",
    metavar="DIR",
)  # fmt: skip
VANTAGE = Option(
    "--vantage", "TLOG_EXPORTER_VANTAGE",
    "this exporter's name among several (a region): the `vantage` label of its metrics; "
    "default: the host name.",
    convert=vantage_name, metavar="NAME",
)  # fmt: skip
PEER = Option(
    "--peer", "TLOG_EXPORTER_PEER",
    "another exporter (its base URL): each probe proves this tree and the peer's verified "
    "trees of the same log are one log; repeatable.",
    convert=http_url, multiple=True, metavar="URL",
)  # fmt: skip
PEER_LISTEN = Option(
    "--peer-listen", "TLOG_EXPORTER_PEER_LISTEN",
    "a second listener serving /checkpoints alone, for peers (HOST:PORT).",
    metavar="HOST:PORT",
)  # fmt: skip
TIMEOUT_OFFSET = Option(
    "--timeout-offset", "TLOG_EXPORTER_TIMEOUT_OFFSET",
    "seconds taken off Prometheus' scrape timeout for a probe's budget.",
    default="0.5", convert=offset, metavar="SECONDS",
)  # fmt: skip
MAX_CONCURRENT = Option(
    "--max-concurrent-probes", "TLOG_EXPORTER_MAX_CONCURRENT_PROBES",
    "probes run at once; more wait, within their own budget.",
    default="8", convert=positive_int, metavar="N",
)  # fmt: skip
HISTORY_LIMIT = Option(
    "--history-limit", "TLOG_EXPORTER_HISTORY_LIMIT",
    "recent probes kept for the status page (failures kept as many again).",
    default="100", convert=positive_int, metavar="N",
)  # fmt: skip
MAX_TARGETS = Option(
    "--max-targets", "TLOG_EXPORTER_MAX_TARGETS",
    "(module, target) pairs whose trees are remembered; beyond, new ones in memory only.",
    default="1000", convert=positive_int, metavar="N",
)  # fmt: skip

OPTIONS: list[Option] = [CONFIG, LISTEN, STATE_DIR, VANTAGE, PEER, PEER_LISTEN,
                         TIMEOUT_OFFSET, MAX_CONCURRENT, HISTORY_LIMIT, MAX_TARGETS]  # fmt: skip


def default_vantage() -> str:
    name = socket.gethostname().split(".")[0] or "exporter"
    try:
        return vantage_name(name)
    except ValueError:
        return "exporter"
