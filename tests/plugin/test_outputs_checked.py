"""No run lost: every path the suite writes is checked before the first request, and a
write that still fails at the end is said in the summary, never raised.

The suite runs as a user runs it (`pytest --pyargs tests_synthetic`, a subprocess). The
unwritable paths are those no one can write, root included (below /proc, below a regular
file); a path that breaks during the run is made so by a small plugin (`-p sabotage`)
that, once the checks have passed, puts a regular file where the output's directory was.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tlogcheck.errors import EXIT_OK
from tlogcheck.runs import suite_command

HEALTH = ["--tlog-embedded-entries=64", "-m", "health"]

SABOTAGE = """
import os, shutil

def pytest_sessionstart(session):
    # After tlogcheck checked its outputs: each directory named becomes a regular file.
    for path in os.environ["SABOTAGE"].split(os.pathsep):
        shutil.rmtree(path, ignore_errors=True)
        with open(path, "w") as f:
            f.write("not a directory")
"""


@dataclass(frozen=True)
class Run:
    exitstatus: int
    output: str


def run_suite(args: list[str], *, env: dict[str, str] | None = None, timeout: float) -> Run:
    """The suite in a subprocess with exactly these options (`tlogcheck.runs.run_suite`
    adds a JSON report path of its own, which these tests must choose)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("TLOG_")}
    proc = subprocess.run(
        suite_command(args),
        env={**full, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Run(proc.returncode, proc.stdout)


class Counter(BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:  # noqa: N802
        type(self).hits += 1
        self.send_response(503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def target() -> Iterator[tuple[str, type[Counter]]]:
    """A target that counts the requests it gets (none may come before the checks)."""
    handler = type("Counting", (Counter,), {"hits": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_each_unwritable_output_is_a_usage_error_before_the_first_request(
    tmp_path: Path, target: tuple[str, type[Counter]]
) -> None:
    url, counter = target
    db = tmp_path / "db.jsonl"
    db.write_text("{}\n")
    old = tmp_path / "old-bundle"
    old.mkdir()
    (old / "manifest.json").write_text("{}")
    afile = tmp_path / "afile"
    afile.write_text("x")
    cases = [
        (["--tlog-report-json=/proc/nope/report.json"], "--tlog-report-json /proc/nope"),
        ([f"--tlog-evidence={old}"], f"--tlog-evidence {old}: already holds"),
        ([f"--tlog-metrics-file={afile}/m.prom"], "--tlog-metrics-file"),
        ([f"--tlog-state={afile}/state.json"], "--tlog-state"),
        ([f"--load-report-dir={afile}/load"], "--load-report-dir"),
        ([f"--tlog-db={db}", f"--tlog-report-json={db}"], "is the input --tlog-db"),
        (
            [f"--tlog-evidence={tmp_path}/ev", f"--tlog-report-json={tmp_path}/ev/r.json"],
            "inside the evidence bundle --tlog-evidence",
        ),
    ]
    for args, words in cases:
        run = run_suite([f"--tlog-url={url}", *args], timeout=120)
        assert run.exitstatus == 4, (args, run.output[-800:])
        assert words in run.output, (args, run.output[-800:])
        assert "Traceback" not in run.output
    assert counter.hits == 0
    assert db.read_text() == "{}\n" and (old / "manifest.json").read_text() == "{}"


def test_a_write_that_fails_at_the_end_is_said_and_the_healthy_run_still_passes(
    tmp_path: Path,
) -> None:
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "sabotage.py").write_text(SABOTAGE)
    out = tmp_path / "out"
    out.mkdir()
    args = [
        *HEALTH,
        "-p",
        "sabotage",
        f"--tlog-report-json={out}/report.json",
        f"--tlog-metrics-file={out}/tlogcheck.prom",
    ]
    env = {"PYTHONPATH": str(plugin), "SABOTAGE": str(out)}
    run = run_suite(args, env=env, timeout=300)
    assert run.exitstatus == EXIT_OK, run.output[-3000:]
    assert "Traceback" not in run.output and "INTERNALERROR" not in run.output
    summary = run.output.split("tlogcheck ====")[1]
    assert "verdict: PASSED" in summary
    assert f"JSON report NOT written: --tlog-report-json {out}/report.json: not written" in (
        summary
    )
    assert f"metrics NOT written: --tlog-metrics-file: directory {out} does not exist" in (summary)


def test_a_bundle_that_cannot_be_written_leaves_the_verdict_and_is_named_in_the_report(
    tmp_path: Path,
) -> None:
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "sabotage.py").write_text(SABOTAGE)
    gone = tmp_path / "gone"
    gone.mkdir()
    report = tmp_path / "report.json"
    args = [
        *HEALTH,
        "--tlog-embedded-fault=healthz-5xx",
        "-p",
        "sabotage",
        f"--tlog-evidence={gone}/evidence",
        f"--tlog-report-json={report}",
    ]
    run = run_suite(args, env={"PYTHONPATH": str(plugin), "SABOTAGE": str(gone)}, timeout=300)
    assert run.exitstatus == 1, run.output[-3000:]
    assert "Traceback" not in run.output
    assert f"evidence bundle NOT written: --tlog-evidence {gone}/evidence: not written" in (
        run.output
    )
    doc = json.loads(report.read_text())
    assert doc["evidence"]["written"] is False and doc["evidence"]["bundle"] == f"{gone}/evidence"
    assert doc["summary"]["failed_checks"] == ["health"]


def test_the_report_names_the_bundle_it_wrote(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    args = [
        *HEALTH,
        "--tlog-embedded-fault=healthz-5xx",
        f"--tlog-evidence={tmp_path}/evidence",
        f"--tlog-report-json={report}",
    ]
    run = run_suite(args, timeout=300)
    assert run.exitstatus == 1
    doc = json.loads(report.read_text())
    written = {k: doc["evidence"][k] for k in ("bundle", "written", "error")}
    assert written == {"bundle": f"{tmp_path}/evidence", "written": True, "error": None}
    assert doc["evidence"]["level"] == "none"  # an honest log's 503: nothing to accuse it of
    assert (tmp_path / "evidence" / "manifest.json").is_file()
    # Only the bundle is there: no temporary directory left beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evidence", "report.json"]


FULL_DISK = """
import errno

def pytest_configure(config):
    import tlogcheck.plugin.suite as suite

    def save_state(path, state):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    suite.save_state = save_state
"""


def test_a_state_file_that_cannot_be_saved_is_said_and_the_run_still_passes(
    tmp_path: Path,
) -> None:
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "full_disk.py").write_text(FULL_DISK)
    state = tmp_path / "state.json"
    args = ["--tlog-embedded-entries=64", "-p", "full_disk", f"--tlog-state={state}"]
    run = run_suite(
        [*args, "-m", "health or consistency"], env={"PYTHONPATH": str(plugin)}, timeout=300
    )
    assert run.exitstatus == EXIT_OK, run.output[-3000:]
    assert f"state file {state} NOT updated: [Errno 28] No space left on device" in run.output
    assert "Traceback" not in run.output and not state.exists()
