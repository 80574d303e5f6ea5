"""The export part of the plugin: metrics file, Pushgateway, JUnit properties, CI summary.

- Every test of a check carries the JUnit properties `check`, `alert` and
  `playbook_section` (and `inconclusive` with the reason where it applies: the suite
  part adds it when it decides so), so CI test views show them.
- At the end of the session, on the controller only (workers never write or push):
  `--tlog-metrics-file PATH` writes the run's metrics in node_exporter's textfile format
  (atomically), `--tlog-pushgateway URL` pushes them (job `--tlog-metrics-job`, grouped
  by target), and with `GITHUB_STEP_SUMMARY` set a Markdown table is appended to it.
  A Pushgateway that cannot be reached, or a file that cannot be written, is reported
  in the summary; it fails no check and changes no exit status.
"""

from __future__ import annotations

import os
import sys
import urllib.error
from collections.abc import Generator, Sequence
from typing import Any

import pytest

from tlogcheck.errors import ConfigError
from tlogcheck.export import metrics, summary
from tlogcheck.options import Option
from tlogcheck.options.target import http_url
from tlogcheck.playbook.checks import check_of
from tlogcheck.plugin import report
from tlogcheck.plugin.options import value

__all__ = ["METRICS_FILE", "METRICS_JOB", "OPTIONS", "PUSHGATEWAY", "configure"]

METRICS_FILE = Option(
    "--tlog-metrics-file",
    "TLOG_METRICS_FILE",
    "write the run's Prometheus metrics here (node_exporter textfile format, atomically): "
    "per-check status, entries verified, cache miss ratio, /healthz status and tree size "
    "per view, load p95 and error ratio, gate actions, run duration, last success.",
    metavar="PATH",
)
PUSHGATEWAY = Option(
    "--tlog-pushgateway",
    "TLOG_PUSHGATEWAY",
    "push the run's metrics to this Prometheus Pushgateway (grouped by target).",
    convert=http_url,
    metavar="URL",
)
METRICS_JOB = Option(
    "--tlog-metrics-job",
    "TLOG_METRICS_JOB",
    "the Pushgateway job name.",
    default="tlogcheck",
    metavar="NAME",
)
OPTIONS: list[Option] = [METRICS_FILE, PUSHGATEWAY, METRICS_JOB]


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_collection_modifyitems(items: Sequence[pytest.Item]) -> None:
    for item in items:
        check = check_of(item.keywords)
        if check is not None:
            item.user_properties += [
                ("check", check.name),
                ("alert", check.alert),
                ("playbook_section", check.section),
            ]


class ExportPlugin:
    """Writes and pushes at the very end of the session, from the final report."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        result = yield
        config = session.config
        path, gateway = value(config, METRICS_FILE), value(config, PUSHGATEWAY)
        step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if not (path or gateway or step_summary) or not report.run(config).tests:
            return result
        doc = report.build(config, int(session.exitstatus))
        if path or gateway:
            registry = metrics.build_registry(doc, last_success=_last_success(doc))
            if path:
                try:
                    metrics.write_textfile(path, registry)
                except ConfigError as exc:  # said, never raised: the verdict stands
                    report.summary_line(config, f"metrics NOT written: {exc}")
            if gateway:
                try:
                    job = value(config, METRICS_JOB)
                    metrics.push(gateway, job, metrics.target_label(doc), registry)
                except (OSError, urllib.error.URLError) as exc:
                    _say(config, f"tlogcheck: the Pushgateway {gateway} took no metrics: {exc}")
        if step_summary:
            try:
                summary.append(step_summary, doc)
            except OSError as exc:
                report.summary_line(config, f"CI step summary NOT written: {exc}")
        return result


def _last_success(doc: dict[str, Any]) -> float | None:
    """When a run last passed fully, from the state file a passing run keeps."""
    target = doc.get("target")
    state_path = target.get("state_path") if isinstance(target, dict) else None
    if not state_path:
        return None
    from tlogcheck.state import load_state

    try:
        state = load_state(state_path)
    except ConfigError:
        return None
    return metrics.seconds(state.verified_at) if state is not None else None


def _say(config: pytest.Config, text: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(text)


def configure(config: pytest.Config) -> None:
    this = sys.modules[__name__]
    if not config.pluginmanager.is_registered(this):
        config.pluginmanager.register(this, "tlogcheck-export-hooks")
    if _is_worker(config):
        return
    for option in (METRICS_FILE, PUSHGATEWAY, METRICS_JOB):
        try:
            value(config, option)
        except ConfigError as exc:
            raise pytest.UsageError(f"tlogcheck: {exc}") from None
    path = value(config, METRICS_FILE)
    if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise pytest.UsageError(
            f"tlogcheck: {METRICS_FILE.flag}: directory of {path} does not exist"
        )
    config.pluginmanager.register(ExportPlugin(config), "tlogcheck-export")
