"""Repo-root conftest: only what in-repo runs need.

The plugin is loaded by its `pytest11` entry point when the distribution is
installed; it is named here only when it is not, so it never registers twice.
"""

from __future__ import annotations

from importlib import metadata


def _entry_point_installed() -> bool:
    return any(ep.value == "tlogcheck.plugin" for ep in metadata.entry_points(group="pytest11"))


pytest_plugins = [] if _entry_point_installed() else ["tlogcheck.plugin"]
