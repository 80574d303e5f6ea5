"""The registry: every fault by name, and `NAME[:ARG]` specs checked against it."""

from __future__ import annotations

from tlogcheck.errors import ConfigError
from tlogcheck.refstack.faults.doc import DIALECT_NAMES, FaultDoc
from tlogcheck.refstack.faults.edge import EDGE
from tlogcheck.refstack.faults.origin import ORIGIN
from tlogcheck.refstack.faults.release import RELEASE
from tlogcheck.refstack.faults.tiles import TILES

__all__ = ["FAULTS", "parse_spec"]

# The README's detection matrix lists them in this order: the origin's, the edge's, the
# release's, then the tiled log's.
FAULTS: dict[str, FaultDoc] = {**ORIGIN, **EDGE, **RELEASE, **TILES}


def _check_arg(doc: FaultDoc, arg: str | None, spec: str) -> str:
    if arg is None:
        if doc.arg == "required":
            raise ConfigError(f"fault {doc.name!r} needs an argument: {doc.usage}")
        return ""
    if doc.arg == "none":
        raise ConfigError(f"fault {doc.name!r} takes no argument (got {spec!r})")
    if doc.name == "error-rate":
        try:
            pct = float(arg)
        except ValueError:
            raise ConfigError(f"fault {spec!r}: PCT must be a number in 0..100") from None
        if not 0 <= pct <= 100:
            raise ConfigError(f"fault {spec!r}: PCT must be in 0..100")
        return arg
    if doc.name == "cdn-dialect":
        if arg not in DIALECT_NAMES:
            raise ConfigError(f"fault {spec!r}: VENDOR is one of {', '.join(DIALECT_NAMES)}")
        return arg
    if doc.name in ("hang", "trickle"):
        if not arg.startswith("/") or any(c in arg for c in "?# ") or not arg.isprintable():
            raise ConfigError(f"fault {spec!r}: PATH must be a path like /v1/log/root")
        return arg
    if not arg.isdigit():
        raise ConfigError(f"fault {spec!r}: {doc.arg_help.split()[0]} must be a decimal integer")
    positive = (
        "oversize-body", "truncated", "signer-stall", "origin-behind", "multi-node-edge",
        "tiles-checkpoint-ahead", "proof-slow", "origin-ahead",
    )  # fmt: skip
    if doc.name in (*positive, "blip") and int(arg) == 0:
        raise ConfigError(f"fault {spec!r}: {doc.arg_help.split()[0]} must be positive")
    return str(int(arg))


def parse_spec(spec: str) -> tuple[str, str]:
    """`NAME[:ARG]` -> (name, arg) with arg "" when none; ConfigError when unknown or bad."""
    name, sep, arg = spec.strip().partition(":")
    doc = FAULTS.get(name)
    if doc is None:
        raise ConfigError(f"unknown fault {name!r}; known: {', '.join(sorted(FAULTS))}")
    return name, _check_arg(doc, arg if sep else None, spec)
