"""Debian's promtool and prometheus-pushgateway for the tests: found, or the reason not.

In CI (`CI` set) a missing binary fails the test: `.ci/run` installs both."""

from __future__ import annotations

import os
import shutil

import pytest

WHERE = {
    "promtool": "prometheus",
    "prometheus": "prometheus",
    "prometheus-pushgateway": "prometheus-pushgateway",
}


def need(name: str) -> str:
    """The binary's path; skip (fail under CI) with the Debian package to install."""
    found = shutil.which(name) or (
        f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK) else None
    )
    if found is None:
        reason = f"{name} is not installed (Debian package {WHERE[name]}; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found
