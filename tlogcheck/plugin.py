"""The pytest plugin: one `tlogcheck` option group, the check markers, and its parts.

Loaded through the `pytest11` entry point (or by the repo-root conftest when the
distribution is not installed). Each part is a module with `OPTIONS` and a
`configure(config)` that registers its hooks as a plugin object:

- `tlogcheck.suite`: the target, session fixtures, run header, exit status, report.
- `tlogcheck.gate_plugin`: abort / undo the Argo Rollout on the first failing gated test.
- `tlogcheck.load`: the locust load phase options.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

from tlogcheck.options import Option

PARTS = ("tlogcheck.suite", "tlogcheck.gate_plugin", "tlogcheck.load")

# One marker per check of tests_synthetic, in the playbook's words.
CHECK_MARKERS = {
    "health": "/healthz answers 200 within the timeout (playbook §0, §3.1)",
    "root": "the root is well-formed and served as the spec fixes (playbook §0)",
    "checkpoint": "the checkpoint is a signed note that verifies (playbook §0, §3.2)",
    "etag": "ETag equals the SHA-256 of the body (playbook §4)",
    "cache": "Cache-Control per the spec; immutable reads hit the edge (playbook §3.3)",
    "parity": "edge and origin (X-Bypass: 1) serve the same log (playbook §2.3, §3.2)",
    "inclusion": "sampled entries verify against the served root (playbook §0, §3.2)",
    "consistency": "the log only grows: consistency from every recorded tree (playbook §5)",
    "db": "db.jsonl matches its release hash and the served root (playbook §4)",
    "canary": "the target is the expected release and extends the stable side's log "
    "(playbook §3.2, §3.4)",
    "load": "error rate and p95 under load (playbook §3.4)",
}


def _parts() -> list[ModuleType]:
    return [importlib.import_module(name) for name in PARTS]


def all_options() -> list[Option]:
    options: list[Option] = []
    for part in _parts():
        options.extend(getattr(part, "OPTIONS", []))
    return options


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tlogcheck", "tlogcheck: verify a TLog deployment")
    for option in all_options():
        option.add_to(group, parser)


def pytest_configure(config: pytest.Config) -> None:
    for name, text in CHECK_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: check '{name}': {text}")
    config.addinivalue_line(
        "markers", "gate: a failure of this test aborts the Argo Rollout (see --rollout)"
    )
    for part in _parts():
        configure = getattr(part, "configure", None)
        if configure is not None:
            configure(config)
