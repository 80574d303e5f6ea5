"""Every run as a metrics source: the textfile, the Pushgateway, JUnit properties and the
CI step summary, from real suite runs against the reference deployment."""

from __future__ import annotations

import subprocess
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.export.promtools import need
from tlogcheck.cli.demo import MATRIX_ARGS
from tlogcheck.export.metrics import build_registry
from tlogcheck.refstack.server import free_port
from tlogcheck.runs import run_suite


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    want = tuple(sorted({"target": "embedded", **labels}.items()))
    return samples[(name, want)]


@pytest.fixture(scope="module")
def failing_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, str]]:
    tmp = tmp_path_factory.mktemp("failing")
    metrics, junit, summary = tmp / "m.prom", tmp / "junit.xml", tmp / "summary.md"
    run = run_suite(
        [
            *MATRIX_ARGS,
            "--tlog-embedded-fault=corrupt-entry",
            f"--tlog-metrics-file={metrics}",
            f"--junitxml={junit}",
        ],
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert run.exitstatus == 1, run.output[-2000:]
    yield metrics, junit, run.output


def test_a_failing_runs_metrics_say_what_failed(failing_run: tuple[Path, Path, str]) -> None:
    metrics, _, _ = failing_run
    s = _samples(metrics.read_text())
    assert _value(s, "tlogcheck_check_status", check="inclusion", status="failed") == 1
    assert _value(s, "tlogcheck_check_status", check="inclusion", status="passed") == 0
    assert _value(s, "tlogcheck_check_status", check="health", status="passed") == 1
    assert _value(s, "tlogcheck_entries_failed") > 0
    assert _value(s, "tlogcheck_entries_verified") >= 0
    assert _value(s, "tlogcheck_healthz_status_code", view="edge") == 200
    assert _value(s, "tlogcheck_tree_size", view="origin") == 256
    assert _value(s, "tlogcheck_edge_lag_entries") == 0
    assert _value(s, "tlogcheck_cache_miss_ratio") <= 0.3
    assert _value(s, "tlogcheck_run_exit_status") == 1
    assert _value(s, "tlogcheck_run_duration_seconds") > 0
    # A failing run never claims a success it did not have.
    assert not any(name == "tlogcheck_last_success_timestamp_seconds" for name, _ in s)


def test_promtool_finds_the_metrics_clean(failing_run: tuple[Path, Path, str]) -> None:
    metrics, _, _ = failing_run
    done = subprocess.run(
        [need("promtool"), "check", "metrics"],
        input=metrics.read_text(),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_junit_cases_carry_check_alert_and_section(failing_run: tuple[Path, Path, str]) -> None:
    _, junit, _ = failing_run
    cases = ET.parse(junit).findall(".//testcase")
    assert cases
    for case in cases:
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert {"check", "alert", "playbook_section"} <= set(props), case.get("name")
    inclusion = next(c for c in cases if "test_sampled_entries" in str(c.get("name")))
    props = {p.get("name"): p.get("value") for p in inclusion.iter("property")}
    assert props["alert"] == "TLogInclusionProofFail" and props["playbook_section"] == "§3.2"


def test_step_summary_has_the_table_the_failure_and_the_replay(
    failing_run: tuple[Path, Path, str],
) -> None:
    metrics, _, _ = failing_run
    text = (metrics.parent / "summary.md").read_text(encoding="utf-8")
    assert "| inclusion | ❌ failed |" in text
    assert "test_inclusion.py::test_sampled_entries_are_included_in_the_served_root" in text
    assert "Replay: `pytest --pyargs tests_synthetic" in text


def test_an_inconclusive_test_says_so_in_junit(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    run = run_suite(
        [
            "--tlog-url=http://127.0.0.1:9",
            "--tlog-timeout=0.5",
            "-m",
            "health",
            f"--junitxml={junit}",
        ]
    )
    assert run.exitstatus == 6, run.output[-2000:]
    props = [
        {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in ET.parse(junit).findall(".//testcase")
    ]
    assert props and all("inconclusive" in p and p["check"] == "health" for p in props)


def test_a_passing_run_records_its_success(tmp_path: Path) -> None:
    doc = {
        "target": {"embedded": True},
        "checks": {"health": {"verdict": "passed", "passed": 2, "failed": 0}},
        "summary": {"verdict": "passed", "exitstatus": 0},
        "run": {
            "started_at": "2026-11-28T05:00:00.000Z",
            "finished_at": "2026-11-28T05:00:10.000Z",
        },
    }
    from prometheus_client.exposition import generate_latest

    s = _samples(generate_latest(build_registry(doc)).decode())
    assert _value(s, "tlogcheck_run_duration_seconds") == 10
    assert _value(s, "tlogcheck_last_success_timestamp_seconds") == _value(
        s, "tlogcheck_last_run_timestamp_seconds"
    )
    # A failing one keeps the last success it is told of (the state file's).
    doc["summary"] = {"verdict": "failed", "exitstatus": 1}
    s = _samples(generate_latest(build_registry(doc, last_success=1234.0)).decode())
    assert _value(s, "tlogcheck_last_success_timestamp_seconds") == 1234.0


def test_a_real_pushgateway_receives_the_run(tmp_path: Path) -> None:
    exe = need("prometheus-pushgateway")
    port = free_port()
    gateway = subprocess.Popen(
        [exe, f"--web.listen-address=127.0.0.1:{port}", f"--persistence.file={tmp_path / 'p'}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):  # ready within 10 s or the test says so
            try:
                urllib.request.urlopen(url + "/-/ready", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        run = run_suite([*MATRIX_ARGS, f"--tlog-pushgateway={url}", "--tlog-metrics-job=nightly"])
        assert run.exitstatus == 0, run.output[-2000:]
        with urllib.request.urlopen(url + "/metrics", timeout=5) as answer:
            scraped = answer.read().decode()
    finally:
        gateway.terminate()
        gateway.wait(timeout=10)
    s = _samples(scraped)
    key = ("tlogcheck_check_status", tuple(sorted(
        {"check": "inclusion", "status": "passed", "job": "nightly", "target": "embedded",
         "instance": ""}.items())))  # fmt: skip
    assert s.get(key) == 1, [k for k in s if k[0] == "tlogcheck_check_status"][:5]


def test_an_unreachable_pushgateway_fails_no_check() -> None:
    run = run_suite([*MATRIX_ARGS, "--tlog-pushgateway=http://127.0.0.1:9"])
    assert run.exitstatus == 0, run.output[-2000:]
    assert "the Pushgateway http://127.0.0.1:9 took no metrics" in run.output
