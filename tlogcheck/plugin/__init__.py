"""The pytest plugin: one `tlogcheck` option group, the check markers, and its parts.

Loaded through the `pytest11` entry point (or by the repo-root conftest when the
distribution is not installed). Each part is a module with `OPTIONS` and a
`configure(config)` that registers its hooks as a plugin object:

- `tlogcheck.plugin.suite`: the target, session fixtures, run header, exit status, report.
- `tlogcheck.gate.plugin`: abort / undo the Argo Rollout on the first failing gated test.
- `tlogcheck.load.plugin`: the locust load phase options.
- `tlogcheck.export.plugin`: metrics file, Pushgateway, JUnit properties, CI summary.

The parts are imported when pytest asks for them, not when this module is: they import
this package's `options`, and every pytest run in an environment with tlogcheck
installed loads this module.
"""

from __future__ import annotations

import pytest

from tlogcheck.options import Option
from tlogcheck.playbook.checks import CHECK_MARKERS
from tlogcheck.plugin.options import add_option


def all_options() -> list[Option]:
    from tlogcheck.export import plugin as export_part
    from tlogcheck.gate import plugin as gate_part
    from tlogcheck.load import plugin as load_part
    from tlogcheck.plugin import suite

    return [
        *suite.OPTIONS,
        *gate_part.OPTIONS,
        *load_part.OPTIONS,
        *export_part.OPTIONS,
    ]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tlogcheck", "tlogcheck: verify a TLog deployment")
    for option in all_options():
        add_option(group, parser, option)


def pytest_configure(config: pytest.Config) -> None:
    from tlogcheck.export import plugin as export_part
    from tlogcheck.gate import plugin as gate_part
    from tlogcheck.load import plugin as load_part
    from tlogcheck.plugin import fixtures, paths, suite, tiles_fixtures

    for name, text in CHECK_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: check '{name}': {text}")
    config.addinivalue_line(
        "markers", "gate: a failure of this test aborts the Argo Rollout (see --rollout)"
    )
    config.addinivalue_line(
        "markers",
        "api(*names): the APIs a check applies to (v1, tiles; without it v1 only): "
        "under --tlog-api tiles the others skip, under v1 the tiles-only ones are deselected",
    )
    # Every output path before anything else: a run that could not keep its report is
    # refused now (exit 4), not found out after it ran.
    paths.check(config)
    suite.configure(config)
    config.pluginmanager.register(fixtures, "tlogcheck-suite-fixtures")
    config.pluginmanager.register(tiles_fixtures, "tlogcheck-tiles-fixtures")
    gate_part.configure(config)
    load_part.configure(config)
    export_part.configure(config)
