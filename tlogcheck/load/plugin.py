"""The load check's pytest side: options, the `load_result` fixture, failure messages.

The phase itself (locust in a subprocess, its stats read back) is `tlogcheck.load.runner`;
neither module imports locust or gevent, so the pytest process never gets monkey-patched.

The load check runs only when asked: `--load` (TLOG_LOAD=1, ini `load = true`), a `-m`
expression that selects `load` tests explicitly (`-m load`, `-m "health or load"`), or
`tlogcheck nightly`. A 15-second phase would double the functional suite, so a plain
`pytest --pyargs tests_synthetic` skips it with a reason saying how to turn it on. When
it runs, it runs once per session (shared by xdist workers) and after the other checks,
so a serial run gives it the machine to itself.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest

from tlogcheck.errors import ConfigError, TargetUnreachable, TLogCheckError
from tlogcheck.load.runner import (
    ERROR_ALERT,
    LATENCY_ALERT,
    LoadResult,
    LoadSettings,
    Thresholds,
    run_load,
)
from tlogcheck.options import (
    Option,
    fraction,
    non_negative_int,
    positive_float,
    positive_int,
)
from tlogcheck.playbook.checks import ALERT_KEY, CHECKS, Check, explain
from tlogcheck.plugin import report
from tlogcheck.plugin.options import value
from tlogcheck.plugin.verdicts import fail
from tlogcheck.spec import PATH_HEALTH

__all__ = [
    "OPTIONS",
    "LoadResult",
    "Thresholds",
    "configure",
    "failure_message",
    "judge",
    "load_requested",
    "load_result",
    "load_thresholds",
]

OPTIONS: list[Option] = [
    Option(
        "--load",
        "TLOG_LOAD",
        "Run the load phase (locust through the edge, playbook §3.4). Off by default; "
        "`-m load` turns it on too.",
        is_flag=True,
    ),
    Option(
        "--load-duration",
        "TLOG_LOAD_DURATION",
        "Seconds of load.",
        default="15",
        convert=positive_int,
        metavar="SECONDS",
    ),
    Option(
        "--load-users",
        "TLOG_LOAD_USERS",
        "Concurrent simulated clients.",
        default="20",
        convert=positive_int,
        metavar="N",
    ),
    Option(
        "--load-spawn-rate",
        "TLOG_LOAD_SPAWN_RATE",
        "Clients started per second (default: all of them within the first second).",
        convert=positive_float,
        metavar="R",
    ),
    Option(
        "--load-max-error-rate",
        "TLOG_LOAD_MAX_ERROR_RATE",
        "Highest share of failed requests, overall and per request group (Ingress5xxHigh).",
        default="0.01",
        convert=fraction,
        metavar="FRACTION",
    ),
    Option(
        "--load-p95-ms",
        "TLOG_LOAD_P95_MS",
        "Highest p95 response time in ms, overall and per request group (LatencyP95High).",
        default="300",
        convert=positive_float,
        metavar="MS",
    ),
    Option(
        "--load-max-requests",
        "TLOG_LOAD_MAX_REQUESTS",
        "Hard cap on the requests of the whole load phase; it stops by itself when spent.",
        default="200000",
        convert=positive_int,
        metavar="N",
    ),
    Option(
        "--load-workers",
        "TLOG_LOAD_WORKERS",
        "Run a locust master and N local worker processes (0: one process).",
        default="0",
        convert=non_negative_int,
        metavar="N",
    ),
    Option(
        "--load-remote-workers",
        "TLOG_LOAD_REMOTE_WORKERS",
        "Also wait for N locust workers started elsewhere, connecting to --load-master-bind.",
        default="0",
        convert=non_negative_int,
        metavar="N",
    ),
    Option(
        "--load-master-bind",
        "TLOG_LOAD_MASTER_BIND",
        "HOST:PORT the locust master listens on when remote workers are expected.",
        default="0.0.0.0:5557",
        metavar="HOST:PORT",
    ),
    Option(
        "--load-report-dir",
        "TLOG_LOAD_REPORT_DIR",
        "Keep locust's HTML, CSV and JSON reports and logs in DIR.",
        metavar="DIR",
    ),
]


def _option(name: str) -> Option:
    return next(o for o in OPTIONS if o.flag == name)


def settings_from(config: pytest.Config) -> tuple[LoadSettings, Thresholds]:
    def get(flag: str) -> Any:
        return value(config, _option(flag))

    report_dir = get("--load-report-dir")
    if report_dir:
        report_dir = str(config.invocation_params.dir / report_dir)
    settings = LoadSettings(
        duration=get("--load-duration"),
        users=get("--load-users"),
        spawn_rate=get("--load-spawn-rate"),
        max_requests=get("--load-max-requests"),
        workers=get("--load-workers"),
        remote_workers=get("--load-remote-workers"),
        master_bind=get("--load-master-bind"),
        report_dir=report_dir,
    )
    thresholds = Thresholds(get("--load-max-error-rate"), get("--load-p95-ms"))
    return settings, thresholds


def _selects_load(markexpr: str) -> bool:
    """True when a `-m` expression picks `load` tests on purpose (`load`, `health or load`)."""
    if not markexpr:
        return False
    try:
        from _pytest.mark.expression import Expression

        expr = Expression.compile(markexpr)

        def only(names: set[str]) -> Callable[..., bool]:
            return lambda name, /, **_kw: name in names

        return expr.evaluate(only({"load"})) and not expr.evaluate(only(set()))
    except Exception:  # a private pytest API: without it, only --load asks for load
        return False


def load_requested(config: pytest.Config) -> bool:
    return bool(value(config, _option("--load"))) or _selects_load(
        str(config.getoption("markexpr", "") or "")
    )


NOT_REQUESTED = (
    "load phase not requested: pass --load (or TLOG_LOAD=1, or -m load); "
    "`tlogcheck nightly` and the canary gate do"
)


def _with_deployment(settings: LoadSettings, target: Any) -> LoadSettings:
    """The run's headers and CA bundle for the locust clients too (through their
    environment, never a command line: the header values are secrets)."""
    profile = dict(settings.profile_env)
    secret = dict(settings.secret_env)
    if target.headers:
        secret["TLOG_LOAD_HEADERS"] = "\n".join(f"{n}: {v}" for n, v in target.headers)
    if target.ca_bundle:
        profile["TLOG_LOAD_CA_BUNDLE"] = target.ca_bundle
    return replace(settings, profile_env=profile, secret_env=secret)


def _shared(config: pytest.Config, basetemp: Path, run: Callable[[], LoadResult]) -> LoadResult:
    """Run once per session, also under xdist: the first worker runs, the others read."""
    if not hasattr(config, "workerinput"):
        return run()
    try:
        import fcntl
    except ImportError:  # no flock: each xdist worker runs its own phase
        return run()
    shared = basetemp.parent  # common to every worker of this session
    result_file = shared / "tlogcheck-load.json"
    with open(shared / "tlogcheck-load.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if result_file.exists():
                data = json.loads(result_file.read_text(encoding="utf-8"))
                if "error" in data:
                    # The same verdict as where it ran: inconclusive stays inconclusive.
                    kind = TargetUnreachable if data.get("unreachable") else TLogCheckError
                    raise kind(f"the load phase failed in another worker: {data['error']}")
                return LoadResult.from_json(data)
            try:
                result = run()
            except TLogCheckError as exc:
                failed = {"error": str(exc), "unreachable": isinstance(exc, TargetUnreachable)}
                result_file.write_text(json.dumps(failed), encoding="utf-8")
                raise
            result_file.write_text(json.dumps(result.to_json()), encoding="utf-8")
            return result
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _report(config: pytest.Config, result: LoadResult, thresholds: Thresholds) -> None:
    data = result.to_json()
    data["thresholds"] = asdict(thresholds)
    data["violations"] = [{**asdict(v), "alert": v.alert} for v in result.violations(thresholds)]
    report.record(config, "load", data)
    report.summary_line(config, result.summary())


BUSY_NOTE = (
    "CPU above 90 % at some point: its own scheduling delay is in these response "
    "times; spread the load (--load-workers) or run the load phase alone (-m load)"
)


def _explanation(
    result: LoadResult, thresholds: Thresholds, kind: str
) -> tuple[Check, str, str, dict[str, str], dict[str, Any]]:
    """(check under the breach's own alert, expected, served, extra, facts) of one kind."""
    found = [v for v in result.violations(thresholds) if v.kind == kind]
    alert = ERROR_ALERT if kind == "error-rate" else LATENCY_ALERT
    if kind == "error-rate":
        expected = f"error rate <= {thresholds.max_error_rate:.2%}, overall and per request group"
    else:
        expected = f"p95 <= {thresholds.p95_ms:.0f} ms, overall and per request group"
    extra = {"load": f"{result.settings.describe()} against {result.url}"}
    if kind == "error-rate" and result.errors:
        extra["errors"] = "; ".join(
            f"{e.group}: {e.error} x{e.occurrences}" for e in result.errors[:5]
        )
    if result.report_dir:
        extra["reports"] = result.report_dir
    if result.generator_busy:
        extra["generator"] = BUSY_NOTE
    extra["groups"] = "\n" + result.table()
    t = result.total
    facts: dict[str, Any] = {
        "violations": [{**asdict(v), "alert": v.alert} for v in found],
        "total": {
            "requests": t.requests,
            "failures": t.failures,
            "error_rate": round(t.error_rate, 6),
            "p95_ms": t.percentile(0.95),
            "p99_ms": t.percentile(0.99),
        },
        "thresholds": asdict(thresholds),
    }
    served = "; ".join(str(v) for v in found) or "no breach"
    return replace(CHECKS["load"], alert=alert), expected, served, extra, facts


def failure_message(result: LoadResult, thresholds: Thresholds, kind: str) -> str:
    """expected / served / the per-group table / alert / next step, for one kind of breach:
    the same shape as every other check's failure (`checks.explain`)."""
    check, expected, served, extra, _ = _explanation(result, thresholds, kind)
    return explain(check, expected=expected, served=served, extra=extra)


def judge(
    request: pytest.FixtureRequest, result: LoadResult, thresholds: Thresholds, kind: str
) -> None:
    """Fail the running load test on a breach of `kind` ("error-rate" or "p95"), under
    that breach's own alert (Ingress5xxHigh, LatencyP95High), with its figures as facts."""
    if not any(v.kind == kind for v in result.violations(thresholds)):
        return
    check, expected, served, extra, facts = _explanation(result, thresholds, kind)
    # The gate's reason and the report read the alert here (the check's is both).
    request.node.user_properties.append((ALERT_KEY, check.alert))
    fail(check, expected=expected, served=served, extra=extra, facts=facts)


@pytest.fixture(scope="session")
def load_thresholds(pytestconfig: pytest.Config) -> Thresholds:
    """The abort line of this run (--load-max-error-rate, --load-p95-ms)."""
    return settings_from(pytestconfig)[1]


@pytest.fixture(scope="session")
def load_result(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> LoadResult:
    """One load phase per session through the edge; skipped unless asked for."""
    config = request.config
    if not load_requested(config):
        pytest.skip(NOT_REQUESTED)
    settings, thresholds = settings_from(config)
    target = request.getfixturevalue("tlog_target")
    client = request.getfixturevalue("tlog_client")

    def run() -> LoadResult:
        # "Could not ask" stays inconclusive: this probe raises TargetUnreachable.
        client.get(PATH_HEALTH)
        result = run_load(str(target.url), _with_deployment(settings, target))
        _report(config, result, thresholds)
        return result

    return _shared(config, tmp_path_factory.getbasetemp(), run)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Load tests last: in a serial run the load phase then has the machine to itself."""
    items.sort(key=lambda item: item.get_closest_marker("load") is not None)


def configure(config: pytest.Config) -> None:
    try:  # a bad value fails the run at once, before any target is touched
        for option in OPTIONS:
            value(config, option)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    # The fixtures above are module-level functions: register the module for them.
    config.pluginmanager.register(sys.modules[__name__], "tlogcheck-load")
