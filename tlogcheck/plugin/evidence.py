"""The suite part that writes an evidence bundle when a check fails (`--tlog-evidence DIR`).

The session's `TLogClient` hands every response to a bounded `Recorder` (only when the
option is given). Under xdist each worker sends what its client recorded to the
controller in `workeroutput` (bodies base64, under the same caps): the bundle keeps what
was served during the run, never a later re-fetch, which a CDN or a pod that moved on
would answer differently. The controller alone writes the bundle, once every test has
reported, and only when a test failed, before the JSON report (which names it under
"evidence"). The directory is checked before the first request (`tlogcheck.outputs`:
absent or empty); a write that still fails is said in the summary, never raised.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Generator
from typing import Any

import httpx
import pytest

from tlogcheck.client import Response
from tlogcheck.errors import ConfigError
from tlogcheck.incident.bundle import Recorder, write_bundle
from tlogcheck.options import Option
from tlogcheck.outputs import new_directory
from tlogcheck.plugin import report
from tlogcheck.plugin.options import value
from tlogcheck.plugin.target import TARGET_KEY

__all__ = ["EVIDENCE", "EvidencePlugin", "recorder_for"]

EVIDENCE = Option(
    "--tlog-evidence",
    "TLOG_EVIDENCE",
    "when a check fails, write an evidence bundle here: the raw responses served, the "
    "verifier keys, options and verdicts, with a manifest of SHA-256s "
    "(`tlogcheck evidence verify DIR` re-checks it offline).",
    metavar="DIR",
)

_RECORDER_KEY = pytest.StashKey[Recorder]()
_WIRE_KEY = "tlogcheck_evidence"


def recorder_for(config: pytest.Config) -> Recorder | None:
    """The session's recorder when `--tlog-evidence` is given, else None (nothing kept)."""
    if not value(config, EVIDENCE):
        return None
    if _RECORDER_KEY not in config.stash:
        config.stash[_RECORDER_KEY] = Recorder()
    return config.stash[_RECORDER_KEY]


def _to_wire(recorder: Recorder) -> list[dict[str, Any]]:
    return [
        {
            "url": r.url,
            "path": r.path,
            "view": r.view,
            "status": r.status,
            "headers": list(r.headers.multi_items()),
            "body": base64.b64encode(r.body[: recorder.max_response]).decode(),
            "truncated": truncated,
        }
        for r, truncated in recorder.responses
    ]


def _merge_wire(recorder: Recorder, wire: list[dict[str, Any]]) -> None:
    for rec in wire:
        recorder.keep(
            Response(
                url=rec["url"],
                path=rec["path"],
                view=rec["view"],
                status=int(rec["status"]),
                headers=httpx.Headers([tuple(h) for h in rec["headers"]]),
                body=base64.b64decode(rec["body"]),
                elapsed=0.0,
            ),
            truncated=bool(rec["truncated"]),
        )


class EvidencePlugin:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        wire = getattr(node, "workeroutput", {}).get(_WIRE_KEY)
        recorder = recorder_for(self.config)
        if wire and recorder is not None:
            _merge_wire(recorder, wire)

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        config = session.config
        if hasattr(config, "workerinput"):
            recorder = recorder_for(config)
            if recorder is not None:
                config.workeroutput[_WIRE_KEY] = _to_wire(recorder)  # type: ignore[attr-defined]
            return (yield)
        result = yield
        directory = value(config, EVIDENCE)
        recorder = recorder_for(config)
        run = report.run(config)
        if directory and recorder is not None and run.count("failed"):
            t = config.stash.get(TARGET_KEY, None)
            failed = [r.to_json() for r in run.tests.values() if r.outcome == "failed"]
            written = {"bundle": os.path.abspath(directory), "written": True, "error": None}
            try:
                # Whole or not at all, and never into an earlier bundle (tlogcheck.outputs).
                with new_directory(directory, option=EVIDENCE.flag) as work:
                    write_bundle(
                        work,
                        recorder,
                        target={"url": t.url, "origin_url": t.origin_url} if t else {},
                        vkeys=list(t.vkeys) if t else [],
                        verdicts=failed,
                        options={"seed": getattr(t, "seed", None)},
                    )
                report.summary_line(config, f"evidence bundle: {directory}")
            except ConfigError as exc:  # said, never raised: the verdict stands
                written.update(written=False, error=str(exc))
                report.summary_line(config, f"evidence bundle NOT written: {exc}")
            report.record(config, "evidence", written)
        return result


def configure(config: pytest.Config) -> None:
    config.pluginmanager.register(EvidencePlugin(config), "tlogcheck-evidence")
