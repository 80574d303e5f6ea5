"""The evidence part of the plugin: `--tlog-evidence DIR` keeps what was served.

Every process records its client's responses (`incident.evidence.Recorder`, bounded)
and puts them aside in DIR at its session's end; the controller, once the verdict is
known, turns them into a bundle when a check failed, and removes them otherwise. Under
xdist the workers end before the controller, so their responses are there by then.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

from tlogcheck.errors import EXIT_FAILED
from tlogcheck.incident.evidence import Recorder, finish, write_responses
from tlogcheck.plugin import report
from tlogcheck.plugin.options import Option, value
from tlogcheck.plugin.target import TARGET_KEY

__all__ = ["EVIDENCE", "OPTIONS", "RECORDER_KEY", "bundle_of", "configure"]

EVIDENCE = Option(
    "--tlog-evidence",
    "TLOG_EVIDENCE",
    "when a check fails, write an evidence bundle here: the raw responses (status, "
    "headers, bytes; capped), the report, the verifier keys and a manifest of SHA-256s. "
    "`tlogcheck evidence verify DIR` re-verifies it offline.",
    metavar="DIR",
)
OPTIONS: list[Option] = [EVIDENCE]

RECORDER_KEY = pytest.StashKey[Recorder]()


def _process(config: pytest.Config) -> str:
    worker = getattr(config, "workerinput", {}).get("workerid")
    return str(worker) if worker else "controller"


class EvidencePlugin:
    def __init__(self, directory: str) -> None:
        self.directory = directory

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        result = yield
        config = session.config
        recorder = config.stash.get(RECORDER_KEY, None)
        if recorder is not None and recorder.records:
            write_responses(self.directory, _process(config), recorder)
        if hasattr(config, "workerinput"):
            return result
        doc = report.build(config, int(session.exitstatus))
        target = doc.get("target") or {}
        failed = int(session.exitstatus) == EXIT_FAILED or bool(
            doc.get("summary", {}).get("failed_checks")
        )
        t = config.stash.get(TARGET_KEY, None)
        written = finish(
            self.directory,
            failed=failed,
            report=doc,
            vkeys=list(t.vkeys) if t is not None else [],
        )
        if written is not None:
            report.summary_line(
                config,
                f"evidence bundle: {written} (verify offline: tlogcheck evidence verify "
                f"{written}); target {target.get('url', '')}",
            )
        return result


def configure(config: pytest.Config) -> None:
    directory = value(config, EVIDENCE)
    if not directory:
        return
    directory = os.path.abspath(directory)
    parent = os.path.dirname(directory)
    if not os.path.isdir(parent):
        raise pytest.UsageError(f"tlogcheck: {EVIDENCE.flag}: directory {parent} does not exist")
    config.stash[RECORDER_KEY] = Recorder()
    config.pluginmanager.register(EvidencePlugin(directory), "tlogcheck-evidence")


def bundle_of(config: pytest.Config) -> str | None:
    """Where this run's bundle goes, if it keeps one (the gate names it in its Event)."""
    directory = value(config, EVIDENCE)
    return os.path.abspath(directory) if directory else None
