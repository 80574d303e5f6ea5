"""The target options resolved: where a deployment is, how to ask it, what to judge it
against. What a command that talks to a deployment (`tlogcheck triage`, `checklist`,
`verify`) hands its part, resolved once from `options.target.TARGET` by
`tlogcheck.cli.optargs.resolve_target`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tlogcheck.state import KnownTree, load_state

__all__ = ["Reach"]


@dataclass(frozen=True)
class Reach:
    """The target options resolved: where the deployment is, how to ask it, what to judge
    it against."""

    url: str | None
    origin_url: str | None = None
    api: str = "v1"
    vkeys: tuple[str, ...] = ()
    timeout: float = 10.0
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    ca_bundle: str | None = None
    proxy: str | None = field(default=None, repr=False)
    db: str | None = None
    db_sha256: bytes | None = None
    db_sha256_source: str = ""
    known_roots: tuple[KnownTree, ...] = ()
    state: str | None = None
    indices: tuple[int, ...] = ()

    def recorded(self) -> list[KnownTree]:
        """--tlog-known-root and the tree of --tlog-state (when the file holds one)."""
        found = list(self.known_roots)
        if self.state is not None:
            state = load_state(self.state)
            if state is not None:
                found.append(state.known_tree(self.state))
        return found

    def client_kwargs(self) -> dict[str, Any]:
        """What a `TLogClient` of this target needs besides the URL."""
        return {
            "origin_url": self.origin_url,
            "timeout": self.timeout,
            "headers": self.headers,
            "ca_bundle": self.ca_bundle,
            "proxy": self.proxy,
        }
