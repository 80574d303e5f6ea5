"""Remembered trees: the state file and the known roots a run proves consistency from.

A log is append-only, so any tree once verified must be a prefix of every later one
(spec item 8). The suite remembers trees in two ways:

- `--tlog-known-root SIZE:HEX`, repeatable: trees recorded elsewhere -- the stable
  release's root during a canary, the quarterly custody records (playbook §5).
- `--tlog-state PATH`: the last tree a fully passing run verified, like a witness.
  JSON `{"tree_size", "root_hash", "verified_at", "url"}`, replaced atomically (a
  temporary file in the same directory, then `os.replace`) so a crash never leaves
  half a file behind.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from tlogcheck.errors import ConfigError

__all__ = ["KnownTree", "State", "load_state", "parse_known_root", "save_state"]

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class KnownTree:
    """A tree recorded before this run; `source` says where it came from, for messages."""

    tree_size: int
    root_hash: bytes
    source: str

    def describe(self) -> str:
        return f"tree {self.tree_size}:{self.root_hash.hex()} ({self.source})"


def parse_known_root(text: str) -> KnownTree:
    """`SIZE:HEX` -> KnownTree; ValueError naming what is wrong."""
    size_txt, sep, hex_txt = text.strip().partition(":")
    if not sep:
        raise ValueError(f"{text!r} is not SIZE:HEX")
    if not size_txt.isdigit() or (len(size_txt) > 1 and size_txt[0] == "0"):
        raise ValueError(f"tree size {size_txt!r} in {text!r} is not a decimal integer")
    size = int(size_txt)
    if size <= 0:
        raise ValueError(f"tree size in {text!r} must be positive")
    if not _HEX64.fullmatch(hex_txt):
        raise ValueError(f"root hash in {text!r} is not 64 hex characters")
    return KnownTree(size, bytes.fromhex(hex_txt), f"--tlog-known-root {size}:{hex_txt.lower()}")


@dataclass(frozen=True)
class State:
    """The last tree a fully passing run verified."""

    tree_size: int
    root_hash: bytes
    verified_at: str
    url: str

    def known_tree(self, path: str) -> KnownTree:
        return KnownTree(
            self.tree_size,
            self.root_hash,
            f"state file {path}, verified {self.verified_at} at {self.url}",
        )

    def to_json(self) -> dict[str, object]:
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "verified_at": self.verified_at,
            "url": self.url,
        }


def load_state(path: str | os.PathLike[str]) -> State | None:
    """The state in `path`; None when the file does not exist yet (a first run).

    ConfigError when it exists but cannot be read or is not a state file: silently
    starting over would forget the very tree the file is there to protect.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read state file {p}: {exc.strerror or exc}") from None
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"state file {p} is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"state file {p} is not a JSON object")
    size = doc.get("tree_size")
    root = doc.get("root_hash")
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise ConfigError(f"state file {p}: tree_size {size!r} is not a positive integer")
    if not isinstance(root, str) or not _HEX64.fullmatch(root):
        raise ConfigError(f"state file {p}: root_hash {root!r} is not 64 hex characters")
    return State(
        tree_size=size,
        root_hash=bytes.fromhex(root),
        verified_at=str(doc.get("verified_at", "")),
        url=str(doc.get("url", "")),
    )


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def save_state(path: str | os.PathLike[str], state: State) -> None:
    """Write `state` to `path` atomically: a temporary file beside it, then a rename."""
    p = Path(path)
    data = (json.dumps(state.to_json(), indent=2, sort_keys=True) + "\n").encode()
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent or ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
