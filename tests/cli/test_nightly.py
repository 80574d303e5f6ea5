"""`tlogcheck nightly`: the pytest command it builds, its exit status as the verdict, and
the CronJob of ci/load-cronjob.yaml that runs it with a locust master and workers."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tlogcheck.cli import build_parser, nightly
from tlogcheck.errors import EXIT_FAILED, EXIT_INCONCLUSIVE, EXIT_OK, EXIT_USAGE, ConfigError

REPO = Path(__file__).resolve().parents[2]


def parse(*argv: str) -> argparse.Namespace:
    return build_parser("nightly").parse_args(["nightly", *argv])


def built(*argv: str, env: Mapping[str, str] | None = None) -> list[str]:
    return nightly.pytest_args(parse(*argv), env or {})


def value_of(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_defaults_are_the_whole_suite_with_a_long_load_phase() -> None:
    argv = built()
    assert argv[:2] == ["--pyargs", "tests_synthetic"]
    assert "--load" in argv and value_of(argv, "--load-duration") == "300"


def test_options_pass_through_as_given() -> None:
    argv = built(
        "--tlog-url", "https://tlog.example.com", "--tlog-db", "db.jsonl",
        "--tlog-vkey", "a+00000000+AQ==", "--tlog-vkey", "b+00000000+AQ==",
        "--load-duration", "60", "--load-workers", "2", "--load",
        "--", "-x", "-k", "not cache",
    )  # fmt: skip
    assert value_of(argv, "--tlog-url") == "https://tlog.example.com"
    assert value_of(argv, "--tlog-db") == "db.jsonl"
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--tlog-vkey"] == [
        "a+00000000+AQ==",
        "b+00000000+AQ==",
    ]
    assert value_of(argv, "--load-duration") == "60" and argv.count("--load-duration") == 1
    assert value_of(argv, "--load-workers") == "2" and argv.count("--load") == 1
    assert argv[-3:] == ["-x", "-k", "not cache"] and "--" not in argv


def test_the_environment_twin_of_the_duration_wins_over_the_nightly_default() -> None:
    assert "--load-duration" not in built(env={"TLOG_LOAD_DURATION": "45"})


def test_report_dir_collects_every_report(tmp_path: Path) -> None:
    argv = built("--report-dir", str(tmp_path))
    assert f"--junitxml={tmp_path / 'junit.xml'}" in argv
    assert value_of(argv, "--load-report-dir") == str(tmp_path / "load")
    assert value_of(argv, "--tlog-report-json") == str(tmp_path / "report.json")
    mine = built("--report-dir", str(tmp_path), "--load-report-dir", "elsewhere")
    assert value_of(mine, "--load-report-dir") == "elsewhere"


def test_a_url_without_its_db_is_refused() -> None:
    with pytest.raises(ConfigError, match="--tlog-db"):
        nightly.check_db_audit(parse("--tlog-url", "https://tlog.example.com"), {})
    with pytest.raises(ConfigError, match="--skip-db-audit"):
        nightly.check_db_audit(parse(), {"TLOG_URL": "https://tlog.example.com"})
    nightly.check_db_audit(parse("--tlog-url", "https://x.example", "--skip-db-audit"), {})
    nightly.check_db_audit(parse("--tlog-url", "https://x.example", "--tlog-db", "d"), {})
    nightly.check_db_audit(parse(), {})  # embedded: its own db


# -- the verdict, end to end (short load phases) -------------------------------------------


def tlogcheck(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tlogcheck", "nightly", *argv],
        cwd=cwd,
        env={**os.environ, "TLOG_LOAD_WAIT": "0.05,0.2"},
        capture_output=True,
        text=True,
        timeout=180,
    )


QUICK = ("--load-duration", "3", "--load-users", "4")


def test_a_healthy_night_exits_0_and_leaves_its_reports(tmp_path: Path) -> None:
    out = tmp_path / "night"
    # p95 judged loosely: the embedded stack shares this busy machine with other tests.
    done = tlogcheck(
        *QUICK, "--load-p95-ms", "2000", "--report-dir", str(out),
        "--", "-p", "no:cacheprovider", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == EXIT_OK, done.stdout[-3000:] + done.stderr[-2000:]
    cases = list(ET.parse(out / "junit.xml").getroot().iter("testcase"))
    assert not [c for c in cases if c.find("failure") is not None or c.find("error") is not None]
    ran = {str(c.get("classname")).rsplit(".", 1)[-1] for c in cases if c.find("skipped") is None}
    # the full suite, the db audit and the load phase
    assert {"test_health", "test_inclusion", "test_db", "test_load"} <= ran
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    assert report["load"]["total"]["requests"] > 0 and report["load"]["violations"] == []
    assert (out / "load" / "load.html").is_file()


def test_a_failing_load_phase_exits_1(tmp_path: Path) -> None:
    done = tlogcheck(
        *QUICK, "--tlog-embedded-fault", "latency:400", "--", "-p", "no:cacheprovider",
        "-m", "load", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == EXIT_FAILED, done.stdout[-3000:]
    assert "LatencyP95High" in done.stdout


def test_a_target_that_cannot_be_asked_exits_6(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
        done = tlogcheck(
            *QUICK, "--tlog-url", url, "--skip-db-audit", "--", "-p", "no:cacheprovider",
            "-m", "load", cwd=tmp_path,
        )  # fmt: skip
    assert done.returncode == EXIT_INCONCLUSIVE, done.stdout[-3000:]


def test_a_usage_error_exits_2(tmp_path: Path) -> None:
    done = tlogcheck("--tlog-url", "https://tlog.example.com", cwd=tmp_path)
    assert done.returncode == EXIT_USAGE and "--tlog-db" in done.stderr


def test_a_report_dir_that_cannot_be_written_is_refused_before_the_run(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    done = tlogcheck("--report-dir", str(afile / "night"), cwd=tmp_path)
    assert done.returncode == EXIT_USAGE
    assert f"--report-dir {afile / 'night'}: " in done.stderr and "is not a directory" in (
        done.stderr
    )
    assert "pytest" not in done.stdout  # refused before the suite started


# -- ci/load-cronjob.yaml --------------------------------------------------------------------


def cronjob_docs() -> list[dict[str, Any]]:
    return list(yaml.safe_load_all((REPO / "ci" / "load-cronjob.yaml").read_text()))


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def test_the_cronjob_objects_are_valid_kubernetes_objects() -> None:
    from kubernetes.client import V1CronJob, V1PersistentVolumeClaim, V1Service

    models: dict[str, Any] = {
        "CronJob": V1CronJob,
        "Service": V1Service,
        "PersistentVolumeClaim": V1PersistentVolumeClaim,
    }
    docs = cronjob_docs()
    assert sorted(d["kind"] for d in docs) == [
        "CronJob",
        "CronJob",
        "PersistentVolumeClaim",
        "Service",
    ]
    for doc in docs:
        # strict: an unknown or misspelt field fails
        obj = models[doc["kind"]].model_validate(doc)
        assert obj.metadata is not None and obj.metadata.namespace == "tlog"


def test_the_cronjob_runs_nightly_as_master_with_its_workers() -> None:
    docs = {(d["kind"], d["metadata"]["name"]): d for d in cronjob_docs()}
    master = docs[("CronJob", "tlogcheck-nightly")]
    workers = docs[("CronJob", "tlogcheck-nightly-workers")]
    service = docs[("Service", "tlogcheck-load-master")]
    assert master["spec"]["schedule"] == workers["spec"]["schedule"]

    script = pod_spec(master)["containers"][0]["args"][0]
    words = script.replace("\\\n", " ").split()
    assert words[:3] == ["exec", "tlogcheck", "nightly"]
    # The playbook's §3.4 thresholds, and every bound explicit.
    assert value_of(words, "--load-max-error-rate") == "0.01"
    assert value_of(words, "--load-p95-ms") == "300"
    assert int(value_of(words, "--load-duration")) > 0
    # The options it passes are the ones `tlogcheck nightly` accepts.
    given = {a for a in words[: words.index("--")] if a.startswith("--")}
    accepted = {o.flag for o in nightly._plugin_options()} | {"--report-dir", "--skip-db-audit"}
    assert given <= accepted, given - accepted

    # Master and workers meet on one port, through the Service.
    n = int(value_of(words, "--load-remote-workers"))
    job = workers["spec"]["jobTemplate"]["spec"]
    assert job["parallelism"] == job["completions"] == n
    port = int(value_of(words, "--load-master-bind").rsplit(":", 1)[1])
    assert service["spec"]["ports"][0]["port"] == port
    master_labels = master["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= master_labels.items()
    worker = pod_spec(workers)["containers"][0]
    cmd = worker["command"]
    assert cmd[:3] == ["python", "-m", "locust"] and "--worker" in cmd
    assert value_of(cmd, "--master-port") == str(port)
    assert value_of(cmd, "--master-host").startswith(service["metadata"]["name"] + ".")
    # Per-worker caps add up to the master's total cap.
    env = {e["name"]: e.get("value") for e in worker["env"]}
    per_worker = int(env["TLOG_LOAD_MAX_REQUESTS_PER_PROCESS"])
    assert per_worker * n <= int(value_of(words, "--load-max-requests"))
    # Every Job is bounded in time.
    for cron in (master, workers):
        assert cron["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] > 0
        assert cron["spec"]["concurrencyPolicy"] == "Forbid"
