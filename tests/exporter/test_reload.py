"""The config reloads on POST /-/reload and on SIGHUP; a bad one keeps the running one."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx

from tests.exporter.running import ExporterProcess, serving, value

GOOD = "modules:\n  health:\n    checks: [health]\n"
MORE = GOOD + "  other:\n    checks: [health]\n    timeout: 2\n"
BAD = GOOD + "  other:\n    checks: [health]\n    timeout: never\n"


def known(url: str, module: str) -> bool:
    answer = httpx.get(url + "/probe", params={"target": "http://127.0.0.1:9", "module": module})
    return "unknown module" not in answer.text


def test_post_reload_switches_config_and_a_bad_one_keeps_the_old(tmp_path: Path) -> None:
    path = tmp_path / "exporter.yaml"
    path.write_text(GOOD)
    with serving(str(path)) as (url, _):
        assert known(url, "health") and not known(url, "other")
        path.write_text(BAD)
        bad = httpx.post(url + "/-/reload")
        assert bad.status_code == 500
        assert f"config not reloaded: {path}: modules.other.timeout: want a number" in bad.text
        assert known(url, "health") and not known(url, "other")
        metrics = httpx.get(url + "/metrics").text
        assert value(metrics, "tlogcheck_exporter_config_last_reload_successful") == 0
        path.write_text(MORE)
        assert httpx.post(url + "/-/reload").status_code == 200
        assert known(url, "other")
        metrics = httpx.get(url + "/metrics").text
        assert value(metrics, "tlogcheck_exporter_config_last_reload_successful") == 1


def test_sighup_reloads_and_a_bad_config_is_logged_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "exporter.yaml"
    path.write_text(GOOD)
    exporter = ExporterProcess(str(path), tmp_path)
    try:
        path.write_text(MORE)
        exporter.signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while not known(exporter.url, "other") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert known(exporter.url, "other")
        path.write_text("modules: [")
        exporter.signal(signal.SIGHUP)
        while "config not reloaded" not in exporter.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert known(exporter.url, "other")
    finally:
        exporter.stop()
    assert f"config not reloaded, the running one stays: {path}: not YAML" in exporter.output()
    assert exporter.proc.returncode == 0  # SIGTERM stops it cleanly
