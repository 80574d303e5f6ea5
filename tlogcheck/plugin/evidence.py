"""The suite part that writes an evidence bundle when a check fails (`--tlog-evidence DIR`).

The session's `TLogClient` hands every response to a bounded `Recorder` (only when the
option is given), with why it was asked: each test runs under its check
(`tlogcheck.client.purpose.checking`) and states its purposes itself. Under xdist each
worker sends what its client recorded to the controller in `workeroutput` (bodies
base64, under the same caps): the bundle keeps what was served during the run, never a
later re-fetch, which a CDN or a pod that moved on would answer differently. The
controller alone writes the bundle, once every test has reported, and only when a test
failed, whole or not at all and never into an earlier bundle (`tlogcheck.outputs`: the
directory is checked before the first request; a write that still fails is said in the
summary, never raised); it then verifies it offline with the run's keys (`--tlog-vkey`,
pinned by the user) and puts the level (proven, shown, none) in the report's "evidence"
section and the summary.

A failing test also carries the level of what was recorded up to its failure (its
user property `LEVEL_KEY`), so the gate, which acts at the first failure before the
bundle exists, can cite it in its Event and annotation.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Generator
from typing import Any

import httpx
import pytest

from tlogcheck import note
from tlogcheck.client import Purpose, Response, checking
from tlogcheck.errors import ConfigError, NoteError, TLogCheckError
from tlogcheck.incident.bundle import Recorder, write_bundle
from tlogcheck.incident.claims import Offline
from tlogcheck.incident.evidence import verify_responses
from tlogcheck.options import Option
from tlogcheck.outputs import new_directory
from tlogcheck.playbook.checks import check_of
from tlogcheck.plugin import report
from tlogcheck.plugin.options import value
from tlogcheck.plugin.target import TARGET_KEY

__all__ = ["EVIDENCE", "LEVEL_KEY", "EvidencePlugin", "level_text", "recorder_for"]

EVIDENCE = Option(
    "--tlog-evidence",
    "TLOG_EVIDENCE",
    "when a check fails, write an evidence bundle here: the raw responses served and why "
    "each was asked, the verifier keys, options and verdicts, with a manifest of SHA-256s "
    "(`tlogcheck evidence verify DIR --tlog-vkey KEY` re-checks it offline).",
    metavar="DIR",
)

# A failing test's user property: the level of what was recorded up to its failure.
LEVEL_KEY = "tlogcheck_evidence_level"

_RECORDER_KEY = pytest.StashKey[Recorder]()
_LEVEL_KEY = pytest.StashKey[tuple[int, str]]()
_WIRE_KEY = "tlogcheck_evidence"


def recorder_for(config: pytest.Config) -> Recorder | None:
    """The session's recorder when `--tlog-evidence` is given, else None (nothing kept)."""
    if not value(config, EVIDENCE):
        return None
    if _RECORDER_KEY not in config.stash:
        config.stash[_RECORDER_KEY] = Recorder()
    return config.stash[_RECORDER_KEY]


def level_text(result: Offline) -> str:
    """A few words for an Event: `proven: split view`, `shown: entry`, `nothing shown`."""
    top = result.ordered()
    return f"{top[0].level}: {top[0].what}" if top else "nothing shown"


def _keys(config: pytest.Config) -> list[note.Verifier]:
    t = config.stash.get(TARGET_KEY, None)
    keys = []
    for raw in t.vkeys if t is not None else ():
        try:
            keys.append(note.load_verifier_key(raw))
        except NoteError:
            continue  # the checkpoint check says so; the evidence proves without it
    return keys


def _verify(config: pytest.Config, recorder: Recorder) -> Offline | None:
    try:
        return verify_responses(
            (r for r, cut in recorder.responses if not cut), pinned=_keys(config)
        )
    except TLogCheckError:
        return None


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
            "purpose": r.purpose.to_json() if r.purpose else None,
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
                purpose=Purpose.from_json(rec.get("purpose")),
            ),
            truncated=bool(rec["truncated"]),
        )


class EvidencePlugin:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: object) -> Generator[None]:
        check = check_of(item.keywords)
        with checking(check.name if check else item.nodeid):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        rep = yield
        recorder = recorder_for(self.config)
        if rep.failed and recorder is not None:
            # Memoized on the count recorded: a run of many failures verifies once each time
            # something new was recorded, not once per failure.
            n = len(recorder.responses)
            known = self.config.stash.get(_LEVEL_KEY, None)
            if known is None or known[0] != n:
                result = _verify(self.config, recorder)
                known = (n, level_text(result) if result else "not verified")
                self.config.stash[_LEVEL_KEY] = known
            rep.user_properties.append((LEVEL_KEY, known[1]))
        return rep

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        wire = getattr(node, "workeroutput", {}).get(_WIRE_KEY)
        recorder = recorder_for(self.config)
        if wire and recorder is not None:
            _merge_wire(recorder, wire)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # Not a wrapper: inside the report's, so the "evidence" section is in its JSON.
        config = session.config
        recorder = recorder_for(config)
        if recorder is None:
            return
        if hasattr(config, "workerinput"):
            config.workeroutput[_WIRE_KEY] = _to_wire(recorder)  # type: ignore[attr-defined]
            return
        directory = value(config, EVIDENCE)
        run = report.run(config)
        if not run.count("failed"):
            return
        t = config.stash.get(TARGET_KEY, None)
        failed = [
            {**r.to_json(), "check": r.check} for r in run.tests.values() if r.outcome == "failed"
        ]
        section: dict[str, Any] = {
            "bundle": os.path.abspath(directory),
            "written": True,
            "error": None,
        }
        try:
            # Whole or not at all, and never into an earlier bundle (tlogcheck.outputs).
            with new_directory(directory, option=EVIDENCE.flag) as work:
                write_bundle(
                    work,
                    recorder,
                    target={"url": t.url, "origin_url": t.origin_url} if t else {},
                    # The keys themselves (a --tlog-vkey may be a file's path): the bundle's word.
                    vkeys=[str(k) for k in _keys(config)],
                    verdicts=failed,
                    options={"seed": getattr(t, "seed", None)},
                )
        except ConfigError as exc:  # said, never raised: the verdict stands
            section.update(written=False, error=str(exc))
            report.record(config, "evidence", section)
            report.summary_line(config, f"evidence bundle NOT written: {exc}")
            return
        result = _verify(config, recorder)
        if result is not None:
            section.update(result.summary())
            section["findings"] = [f.to_json() for f in result.ordered()[:20]]
        report.record(config, "evidence", section)
        level = level_text(result) if result is not None else "not verified"
        report.summary_line(config, f"evidence bundle: {directory} ({level})")


def configure(config: pytest.Config) -> None:
    config.pluginmanager.register(EvidencePlugin(config), "tlogcheck-evidence")
