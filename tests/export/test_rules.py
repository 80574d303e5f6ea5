"""The playbook's five alerts as Prometheus rules, proven with the real promtool.

`promtool test rules` is fed the metrics files of real suite runs against the reference
deployment: each alert fires on the fault it exists for, and none fires on a healthy
run or a lagging edge. The committed files are what the generator makes.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.export.promtools import need
from tlogcheck.cli.demo import MATRIX_ARGS
from tlogcheck.export import rules
from tlogcheck.playbook import ALERTS
from tlogcheck.runs import run_suite

CI_PROMETHEUS = Path(__file__).resolve().parents[2] / "ci" / "prometheus"
RULES = CI_PROMETHEUS / "tlog-alerts.rules.yaml"
LOAD = ("--load", "--load-duration=5", "--load-users=8", "-m", "load")


def test_committed_files_are_the_generators() -> None:
    for name, make in rules.FILES.items():
        assert (CI_PROMETHEUS / name).read_text(encoding="utf-8") == rules.render(make()), (
            f"ci/prometheus/{name} is stale: run `python -m tlogcheck.export.rules ci/prometheus`"
        )


def test_prometheusrule_holds_the_same_rules() -> None:
    plain = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    operator = yaml.safe_load((CI_PROMETHEUS / "prometheusrule.yaml").read_text(encoding="utf-8"))
    assert operator["kind"] == "PrometheusRule"
    assert operator["spec"] == plain


def test_the_five_alerts_are_named_as_the_playbook_with_its_priorities() -> None:
    doc = rules.rules_file()
    found = {r["alert"]: r for r in doc["groups"][0]["rules"]}
    assert set(found) == set(ALERTS)
    for name, rule in found.items():
        assert rule["labels"]["severity"] == ALERTS[name].priority
        assert rule["annotations"]["runbook"].startswith(f"tlogcheck triage {name} ")
        assert ALERTS[name].scenario in rule["annotations"]["playbook_section"]


def test_promtool_checks_the_rules() -> None:
    done = subprocess.run(
        [need("promtool"), "check", "rules", str(RULES)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- each alert on its fault, from a real run's metrics --------------------------------------


def _series(metrics_text: str) -> list[dict[str, str]]:
    """A metrics file as promtool input series: each sample held for 15 minutes."""
    out = []
    for family in text_string_to_metric_families(metrics_text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out.append({"series": f"{s.name}{{{labels}}}", "values": f"{s.value:g}x15"})
    return out


def _expected(alert: str) -> list[dict[str, Any]]:
    rule = next(r for r in rules.rules_file()["groups"][0]["rules"] if r["alert"] == alert)
    return [
        {
            "exp_labels": {**rule["labels"], "target": "embedded"},
            "exp_annotations": {
                k: v.replace("{{ $labels.target }}", "embedded")
                for k, v in rule["annotations"].items()
            },
        }
    ]


def _fires(tmp_path: Path, metrics_text: str, firing: set[str]) -> subprocess.CompletedProcess[str]:
    test = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": _series(metrics_text),
                "alert_rule_test": [
                    {
                        "eval_time": "10m",
                        "alertname": name,
                        "exp_alerts": _expected(name) if name in firing else [],
                    }
                    for name in ALERTS
                ],
            }
        ],
    }
    path = tmp_path / "alerts.test.yaml"
    path.write_text(yaml.safe_dump(test, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return subprocess.run(
        [need("promtool"), "test", "rules", str(path)], capture_output=True, text=True
    )


@pytest.mark.parametrize(
    ("fault", "extra", "firing"),
    [
        ("", (), set()),
        ("edge-lag", (), set()),
        ("corrupt-entry", (), {"TLogInclusionProofFail"}),
        ("healthz-5xx", (), {"TLogAvailabilityDown"}),
        ("cache-always-miss", (), {"TLogCacheMissHigh"}),
        ("latency:400", LOAD, {"LatencyP95High"}),
        ("error-rate:5", LOAD, {"Ingress5xxHigh"}),
        # The functional checks meeting 5xx: what users saw, never an integrity alert
        # (health aside: whether /healthz met one of the 5 % depends on the order).
        ("error-rate:5", ("-m", "not load and not health"), {"Ingress5xxHigh"}),
        ("hang:/v1/log/root", ("--tlog-timeout=1",), {"TLogAvailabilityDown"}),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_each_alert_fires_on_its_fault_and_none_on_a_healthy_run(
    tmp_path: Path, fault: str, extra: tuple[str, ...], firing: set[str]
) -> None:
    need("promtool")
    metrics = tmp_path / "tlogcheck.prom"
    args = [*MATRIX_ARGS, f"--tlog-metrics-file={metrics}", *extra]
    if fault:
        args.append(f"--tlog-embedded-fault={fault}")
    run = run_suite(args)
    assert metrics.exists(), run.output[-3000:]
    done = _fires(tmp_path, metrics.read_text(), firing)
    assert done.returncode == 0, f"{done.stdout}{done.stderr}\n--- metrics ---\n" + (
        metrics.read_text()
    )
