"""Every path the suite writes, checked at configure time, before the first request.

The JSON report, the evidence bundle, the metrics file, the state file, locust's reports
(and pytest's own JUnit file, which must not collide with them) are checked together by
`tlogcheck.outputs.check_outputs`: each one writable, none of them an input of the run
(db.jsonl, its sha256 file, a verifier key file, the CA bundle), no two the same path,
nothing inside the evidence bundle. A problem is a usage error naming the option (exit
4), found before the embedded deployment starts or the target is asked anything.
"""

from __future__ import annotations

import os

import pytest

from tlogcheck.errors import ConfigError
from tlogcheck.options import Option
from tlogcheck.options import target as target_options
from tlogcheck.outputs import Output, check_outputs
from tlogcheck.plugin.options import value

__all__ = ["check"]


def _outputs(config: pytest.Config) -> list[Output]:
    from tlogcheck.export.plugin import METRICS_FILE
    from tlogcheck.load.plugin import OPTIONS as LOAD_OPTIONS
    from tlogcheck.plugin.evidence import EVIDENCE
    from tlogcheck.plugin.report import REPORT_JSON

    load_dir = next(o for o in LOAD_OPTIONS if o.flag == "--load-report-dir")
    named: list[tuple[Option, str]] = [
        (REPORT_JSON, "file"),
        (EVIDENCE, "bundle"),
        (METRICS_FILE, "file"),
        (target_options.STATE, "file"),
        (load_dir, "dir"),
    ]
    found = []
    for option, kind in named:
        path = value(config, option)
        if path:
            # As the load part reads it: relative to where pytest was invoked.
            where = os.path.join(str(config.invocation_params.dir), str(path))
            found.append(Output(option.flag, where, kind))  # type: ignore[arg-type]
    junit = getattr(config.option, "xmlpath", None)
    if junit:
        found.append(Output("--junitxml", os.path.join(str(config.invocation_params.dir), junit)))
    return found


def _inputs(config: pytest.Config) -> list[tuple[str, str]]:
    found = []
    for option in (target_options.DB, target_options.DB_SHA256, target_options.CA_BUNDLE):
        raw = value(config, option)
        if raw:
            found.append((option.flag, str(raw)))
    for raw in value(config, target_options.VKEY) or []:
        if os.path.isfile(str(raw)):
            found.append((target_options.VKEY.flag, str(raw)))
    return [(flag, path) for flag, path in found if os.path.exists(path)]


def check(config: pytest.Config) -> None:
    """Raise pytest.UsageError naming the first output that cannot be written."""
    if hasattr(config, "workerinput"):  # the controller checked them; it alone writes
        return
    try:
        check_outputs(_outputs(config), _inputs(config))
    except ConfigError as exc:
        raise pytest.UsageError(f"tlogcheck: {exc}") from None
