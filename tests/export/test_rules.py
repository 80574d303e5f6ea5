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


# --- the exporter's group: the five alerts from probes, and TLogSplitView ---------------------

EXPORTER_GROUP = "tlogcheck-exporter"


def exporter_rules() -> list[dict[str, Any]]:
    (group,) = [g for g in rules.rules_file()["groups"] if g["name"] == EXPORTER_GROUP]
    return list(group["rules"])


def test_the_exporter_group_holds_the_five_alerts_and_split_view() -> None:
    found = exporter_rules()
    assert [r["alert"] for r in found] == [*ALERTS, "TLogSplitView", "TLogSplitView"]
    holds = {r["alert"]: r["for"] for r in found}
    # "연속" over consecutive probes for /healthz; ratios held as the ingress group holds
    # its rates; a proof failure or a split view is final at once.
    assert holds == {"TLogAvailabilityDown": "2m", "TLogCacheMissHigh": "5m",
                     "TLogInclusionProofFail": "0m", "Ingress5xxHigh": "5m",
                     "LatencyP95High": "5m", "TLogSplitView": "0m"}  # fmt: skip
    for rule in found:
        assert rule["labels"]["source"] == "tlogcheck-exporter"
        severity = ALERTS[rule["alert"]].priority if rule["alert"] in ALERTS else "P1"
        assert rule["labels"]["severity"] == severity
    shorter = rules.exporter_group({"TLogAvailabilityDown": "3s"})
    assert shorter["rules"][0]["for"] == "3s"
    # The run group reads runs only: a probe's samples carry `vantage`.
    run_group = rules.rules_file()["groups"][0]["rules"]
    assert 'tlogcheck_healthz_status_code{vantage=""}' in run_group[0]["expr"]


def _expand(text: str, labels: dict[str, str]) -> str:
    for name, val in labels.items():
        text = text.replace(f"{{{{ $labels.{name} }}}}", val)
    return text


def _probe_series(probes: list[tuple[str, str, str]]) -> list[dict[str, str]]:
    """Probe answers (target, vantage, metrics text) as Prometheus stores them after the
    blackbox-style relabelling: target, instance, module and job added."""
    out = []
    for target, _, text in probes:
        extra = {"target": target, "instance": target, "module": "pop", "job": "tlogcheck"}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted({**s.labels, **extra}.items()))
                out.append({"series": f"{s.name}{{{labels}}}", "values": f"{s.value:g}x15"})
    return out


def _exporter_fires(
    tmp_path: Path,
    probes: list[tuple[str, str, str]],
    firing: dict[str, list[dict[str, str]]],
    unsure: set[str] = frozenset(),  # type: ignore[assignment]
) -> subprocess.CompletedProcess[str]:
    """promtool test rules of the exporter group: `firing` maps an alert to the labels of
    each alert expected (beside severity and source); alerts in `unsure` are not tested."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for rule in exporter_rules():
        by_name.setdefault(rule["alert"], []).append(rule)
    tests = []
    for name, variants in by_name.items():
        if name in unsure:
            continue
        expected = []
        for labels in firing.get(name, []):
            rule = next(r for r in variants if r["labels"].get("found_by", "") ==
                        labels.get("found_by", ""))  # fmt: skip
            all_labels = {**rule["labels"], **labels}
            expected.append({
                "exp_labels": all_labels,
                "exp_annotations": {k: _expand(v, all_labels)
                                    for k, v in rule["annotations"].items()},
            })  # fmt: skip
        tests.append({"eval_time": "10m", "alertname": name, "exp_alerts": expected})
    doc = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": _probe_series(probes),
                   "alert_rule_test": tests}],
    }  # fmt: skip
    path = tmp_path / "exporter.test.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return subprocess.run([need("promtool"), "test", "rules", str(path)], capture_output=True,
                          text=True)  # fmt: skip


@pytest.mark.parametrize(
    ("fault", "firing", "unsure"),
    [
        ("", set(), set()),
        ("edge-lag", set(), set()),
        ("healthz-5xx", {"TLogAvailabilityDown"}, set()),
        ("corrupt-entry", {"TLogInclusionProofFail"}, set()),
        ("cache-always-miss", {"TLogCacheMissHigh"}, set()),
        ("error-rate:50", {"Ingress5xxHigh"}, {"TLogAvailabilityDown"}),
        # Only the proofs answer 5xx, which the errors sample never reads: the checks that
        # met them page Ingress5xxHigh by what was answered, never TLogInclusionProofFail.
        ("proof-5xx", {"Ingress5xxHigh"}, set()),
        ("latency:400", {"LatencyP95High"}, set()),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_each_exporter_alert_fires_on_its_fault_from_real_probes(
    tmp_path: Path, fault: str, firing: set[str], unsure: set[str]
) -> None:
    from tests.exporter.running import probe, serving
    from tlogcheck.refstack.stack import start_stack

    need("promtool")
    with start_stack(entries=256, subprocess=False, faults=[fault] if fault else []) as stack:
        config = tmp_path / "exporter.yaml"
        config.write_text(f"modules:\n  pop:\n    vkey: ['{stack.info.vkey}']\n    sample: 4\n")
        with serving(str(config), vantage="eu") as (url, _):
            if fault == "edge-lag":
                stack.set_faults([])
                probe(url, stack.info.edge_url, "pop")  # remember the newest tree first
                stack.set_faults([fault])
                stack.purge()
            text = probe(url, stack.info.edge_url, "pop", scrape_timeout=30).text
    target = stack.info.edge_url
    expected = {name: [{"target": target, "vantage": "eu"}] for name in firing}
    done = _exporter_fires(tmp_path, [(target, "eu", text)], expected, unsure)
    assert done.returncode == 0, f"{done.stdout}{done.stderr}\n--- probe ---\n{text}"


def test_split_view_fires_on_two_pops_showing_two_logs_and_on_a_peers_verdict(
    tmp_path: Path,
) -> None:
    from tests.exporter.running import probe, serving
    from tlogcheck.refstack.stack import start_stack

    need("promtool")
    with (
        start_stack(entries=256, subprocess=False) as honest,
        start_stack(entries=256, subprocess=False, faults=["history-rewrite"]) as forked,
    ):
        config = tmp_path / "exporter.yaml"
        config.write_text(f"modules:\n  pop:\n    vkey: ['{honest.info.vkey}']\n    sample: 2\n")
        with serving(str(config), vantage="us") as (us, _):
            us_text = probe(us, forked.info.edge_url, "pop").text
            one_log = [
                (honest.info.origin_url, "us", probe(us, honest.info.origin_url, "pop").text)
            ]
            with serving(str(config), vantage="eu", peers=(us,)) as (eu, _):
                eu_text = probe(eu, honest.info.edge_url, "pop").text
            with serving(str(config), vantage="eu") as (eu, _):
                one_log.append((honest.info.edge_url, "eu",
                                probe(eu, honest.info.edge_url, "pop").text))  # fmt: skip
    pops = [(honest.info.edge_url, "eu", eu_text), (forked.info.edge_url, "us", us_text)]
    by_checkpoints = {"found_by": "checkpoints", "origin": "tlog.example.com/log",
                      "tree_size": "256"}  # fmt: skip
    by_peer = {"found_by": "peer", "peer": us, "vantage": "eu"}
    done = _exporter_fires(tmp_path, pops, {"TLogSplitView": [by_checkpoints, by_peer]})
    assert done.returncode == 0, f"{done.stdout}{done.stderr}\n{eu_text}\n{us_text}"
    # Two POPs of one log, seen from two vantage points: nothing fires.
    quiet = _exporter_fires(tmp_path, one_log, {})
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
