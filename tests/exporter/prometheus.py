"""Debian's Prometheus server on loopback for the tests: a temporary config and storage,
short intervals, started and stopped by the test, its alerts read over its HTTP API."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.export.promtools import need
from tlogcheck.refstack.server import free_port


def probe_job(name: str, exporter: str, targets: list[str], module: str) -> dict[str, Any]:
    """A blackbox-style scrape job: Prometheus asks the exporter to probe each target."""
    return {
        "job_name": name,
        "metrics_path": "/probe",
        "params": {"module": [module]},
        "static_configs": [{"targets": targets}],
        "relabel_configs": [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__param_target"], "target_label": "target"},
            {"source_labels": ["__param_target"], "target_label": "instance"},
            {"source_labels": ["__param_module"], "target_label": "module"},
            {"target_label": "__address__", "replacement": exporter.split("//", 1)[1]},
        ],
    }


class Prometheus:
    def __init__(self, tmp: Path, jobs: list[dict[str, Any]], rules_text: str,
                 interval: str = "2s") -> None:  # fmt: skip
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / "rules.yaml").write_text(rules_text, encoding="utf-8")
        config = {
            "global": {
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "evaluation_interval": "1s",
            },  # fmt: skip
            "rule_files": [str(tmp / "rules.yaml")],
            "scrape_configs": jobs,
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "prometheus.log"
        self._fh = self.log.open("wb")
        self.proc = subprocess.Popen(
            [need("prometheus"), f"--config.file={tmp / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
             "--log.level=warn"],
            stdout=self._fh, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log.read_text()}")
            try:
                if httpx.get(self.url + "/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"prometheus did not start: {self.log.read_text()}")

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = httpx.get(self.url + "/api/v1/query", params={"query": expr}, timeout=10)
        answer.raise_for_status()
        result: list[dict[str, Any]] = answer.json()["data"]["result"]
        return result

    def firing(self) -> list[dict[str, str]]:
        """The labels of every alert firing now."""
        answer = httpx.get(self.url + "/api/v1/alerts", timeout=10).json()
        return [a["labels"] for a in answer["data"]["alerts"] if a["state"] == "firing"]

    def pending_or_firing(self) -> list[dict[str, str]]:
        answer = httpx.get(self.url + "/api/v1/alerts", timeout=10).json()
        return [a["labels"] for a in answer["data"]["alerts"]]

    def wait(self, done: Any, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():
                return
            time.sleep(0.5)
        raise AssertionError(f"not reached within {timeout:g}s; alerts: {self.pending_or_firing()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._fh.close()
