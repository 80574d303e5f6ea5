"""The playbook's five alerts (§1) as Prometheus rules on tlogcheck's metrics.

One source for both files of `ci/prometheus/`: the plain rules file
(`tlog-alerts.rules.yaml`, for `promtool` and a Prometheus' `rule_files`) and the same
rules as a Prometheus Operator `PrometheusRule` (`prometheusrule.yaml`). Names,
priorities, meanings and immediate actions come from `tlogcheck.playbook`; which
failures page which alert from what each failed test named (`tlogcheck_alert_failures`:
a 5xx is Ingress5xxHigh whichever check met it). Regenerate both files with

    python -m tlogcheck.export.rules ci/prometheus

Thresholds are the playbook's: miss ratio > 30 %, error rate > 1 %, p95 > 300 ms,
`/healthz` failing. The playbook's "연속" (repeatedly) for `/healthz` is `for: 2m` on the
exported status: a failing run's metrics, scraped for two minutes, fire it. A proof that
fails is final: those fire at once. A second group reads ingress-nginx's own metrics for
5xx and p95 — the better source when the ingress serves real traffic between runs.

A third group reads `tlogcheck exporter`'s probes (every `tlogcheck_*` sample of a probe
carries `vantage`, a run's never does, so each group reads its own): the five alerts as
far as probes see them, paged per the alert each check's findings named
(`tlogcheck_probe_alert_failures`), with "연속" as `for:` over consecutive probes, and
`TLogSplitView` — one log (origin line) showing two roots for one tree size across all
vantage points, or a peer exporter's verified tree that is not one log with ours.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from tlogcheck.playbook import ALERTS
from tlogcheck.verify.cache import MAX_MISS_RATIO
from tlogcheck.verify.probe import MAX_ERROR_RATE, MAX_P95_MS

__all__ = [
    "EXPORTER_EXPRS",
    "FILES",
    "RULE_GROUPS",
    "SPLIT_VIEW",
    "SPLIT_VIEW_PEER",
    "exporter_group",
    "main",
    "prometheus_rule",
    "render",
    "rules_file",
]

INGRESS = "tlog-ro"  # ci/rollout.yaml's Ingress name, as ingress-nginx labels it


def _failed(alert: str) -> str:
    # Per the alert each failure named (`tlogcheck_alert_failures`): a proof check that met
    # a 5xx is Ingress5xxHigh, not an integrity alert.
    return f'max by (target) (tlogcheck_alert_failures{{alert="{alert}"}}) > 0'


# alert -> (expression on tlogcheck's metrics, for)
TLOGCHECK_EXPRS: dict[str, tuple[str, str]] = {
    "TLogAvailabilityDown": (
        f"{_failed('TLogAvailabilityDown')}\n"
        'or max by (target) (tlogcheck_healthz_status_code{vantage=""}) >= 500',
        "2m",
    ),
    "TLogCacheMissHigh": (
        f'max by (target) (tlogcheck_cache_miss_ratio{{vantage=""}}) > {MAX_MISS_RATIO:g}\n'
        f"or {_failed('TLogCacheMissHigh')}",
        "0m",
    ),
    "TLogInclusionProofFail": (_failed("TLogInclusionProofFail"), "0m"),
    "Ingress5xxHigh": (
        f'max by (target) (tlogcheck_load_error_ratio{{group="all"}}) > {MAX_ERROR_RATE:g}\n'
        f"or {_failed('Ingress5xxHigh')}",
        "0m",
    ),
    "LatencyP95High": (
        f'max by (target) (tlogcheck_load_p95_seconds{{group="all"}}) > {MAX_P95_MS / 1000:g}\n'
        f"or {_failed('LatencyP95High')}",
        "0m",
    ),
}

INGRESS_EXPRS: dict[str, tuple[str, str]] = {
    "Ingress5xxHigh": (
        f'sum by (ingress) (rate(nginx_ingress_controller_requests{{ingress="{INGRESS}", '
        'status=~"5.."}[5m]))\n'
        f'/ sum by (ingress) (rate(nginx_ingress_controller_requests{{ingress="{INGRESS}"}}'
        "[5m])) > 0.01",
        "5m",
    ),
    "LatencyP95High": (
        "histogram_quantile(0.95, sum by (ingress, le) (rate("
        f'nginx_ingress_controller_request_duration_seconds_bucket{{ingress="{INGRESS}"}}'
        "[5m]))) > 0.3",
        "5m",
    ),
}


# The exporter's probes, one series per (target, vantage): each probe reads a few tens of
# paths, so the ratios are held over five minutes of consecutive probes, as the ingress
# group holds its rates; "연속" for /healthz is the run group's two minutes.
PROBE = 'by (target, vantage)'


def _probe_failed(alert: str) -> str:
    # Per the alert each check's findings named (`tlogcheck_probe_alert_failures`), as the
    # run group reads `tlogcheck_alert_failures`: a proof check that met a 5xx pages
    # Ingress5xxHigh, a hung read TLogAvailabilityDown, never an integrity alert.
    return f'max {PROBE} (tlogcheck_probe_alert_failures{{alert="{alert}"}}) > 0'


EXPORTER_EXPRS: dict[str, tuple[str, str]] = {
    "TLogAvailabilityDown": (
        f"{_probe_failed('TLogAvailabilityDown')}\n"
        f'or max {PROBE} (tlogcheck_healthz_status_code{{vantage!=""}}) >= 500',
        "2m",
    ),
    "TLogCacheMissHigh": (
        f'max {PROBE} (tlogcheck_cache_miss_ratio{{vantage!=""}}) > {MAX_MISS_RATIO:g}\n'
        f"or {_probe_failed('TLogCacheMissHigh')}",
        "5m",
    ),
    "TLogInclusionProofFail": (_probe_failed("TLogInclusionProofFail"), "0m"),
    "Ingress5xxHigh": (
        f"sum {PROBE} (sum_over_time(tlogcheck_probe_5xx_reads[5m]))\n"
        f"/ sum {PROBE} (sum_over_time(tlogcheck_probe_reads[5m])) > {MAX_ERROR_RATE:g}\n"
        f"or {_probe_failed('Ingress5xxHigh')}",
        "5m",
    ),
    "LatencyP95High": (
        f"max {PROBE} (tlogcheck_probe_latency_p95_seconds) > {MAX_P95_MS / 1000:g}\n"
        f"or {_probe_failed('LatencyP95High')}",
        "5m",
    ),
}
# Two roots for one (origin, tree size) anywhere: signed checkpoints that cannot both be
# true (the exporter shows only checkpoints whose signature verified); or a peer exporter's
# verified tree that the log's own proofs do not make one log with ours. Final at once.
SPLIT_VIEW = (
    "count by (origin, tree_size) (\n"
    "  count by (origin, tree_size, root_hash) (tlogcheck_checkpoint_info)\n"
    ") > 1",
    "0m",
)
SPLIT_VIEW_PEER = (
    'max by (peer, vantage) (tlogcheck_peer_consistency{status="failed"}) == 1',
    "0m",
)


def _rule(name: str, expr: str, hold: str, source: str) -> dict[str, Any]:
    alert = ALERTS[name]
    who = {
        "tlogcheck": "{{ $labels.target }}",
        "tlogcheck-exporter": "{{ $labels.target }}, seen from {{ $labels.vantage }}",
    }.get(source, f"https://<the {INGRESS} host>")
    return {
        "alert": name,
        "expr": expr,
        "for": hold,
        "labels": {"severity": alert.priority, "source": source},
        "annotations": {
            "summary": f"{name}: {alert.meaning('ko')}",
            "description": f"{alert.meaning('en')} ({who})",
            "action": " / ".join(a("ko") for a in alert.actions),
            "action_en": " / ".join(a("en") for a in alert.actions),
            "playbook_section": f"§1, {alert.scenario}",
            "runbook": f"tlogcheck triage {name} --tlog-url {who.split(',')[0]}",
        },
    }


SPLIT_VIEW_ACTIONS = {
    "action": "각 POP에서 원본/엣지 비교와 포함증명 재검증 / 증거 번들 검증 / 롤백·무효화 전 "
    "보안 사고로 격상",
    "action_en": "triage every POP (origin vs edge, inclusion) / verify the evidence bundle / "
    "escalate as a security incident before rolling back or invalidating",
    "playbook_section": "§1 TLogInclusionProofFail, §2.3, §3.2",
    "runbook": "tlogcheck triage TLogInclusionProofFail --tlog-url <each POP>; "
    "tlogcheck evidence verify <state-dir>/evidence/<bundle>",
}


def _split_view_rules(hold: str) -> list[dict[str, Any]]:
    labels = {"severity": "P1", "source": "tlogcheck-exporter"}
    summary = "TLogSplitView: 같은 로그가 관측 지점마다 다른 트리를 보여줌 (분할 뷰)"
    return [
        {
            "alert": "TLogSplitView",
            "expr": SPLIT_VIEW[0],
            "for": hold,
            "labels": {**labels, "found_by": "checkpoints"},
            "annotations": {
                "summary": summary,
                "description": "log {{ $labels.origin }} signed two different roots for tree "
                "size {{ $labels.tree_size }}, seen from different vantage points: users are "
                "shown different logs",
                **SPLIT_VIEW_ACTIONS,
            },
        },
        {
            "alert": "TLogSplitView",
            "expr": SPLIT_VIEW_PEER[0],
            "for": hold,
            "labels": {**labels, "found_by": "peer"},
            "annotations": {
                "summary": summary,
                "description": "the exporter at {{ $labels.vantage }} verified a tree that the "
                "log's own proofs do not make one log with the tree of peer {{ $labels.peer }}",
                **SPLIT_VIEW_ACTIONS,
            },
        },
    ]


def exporter_group(holds: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The rules on the exporter's probes; `holds` overrides `for:` per alert (a test's
    copy with short holds; the shipped files keep the durations above)."""
    hold = dict(holds or {})
    rules = [
        _rule(n, EXPORTER_EXPRS[n][0], hold.get(n, EXPORTER_EXPRS[n][1]), "tlogcheck-exporter")
        for n in ALERTS
    ]
    rules += _split_view_rules(hold.get("TLogSplitView", SPLIT_VIEW[1]))
    return {"name": "tlogcheck-exporter", "rules": rules}


RULE_GROUPS: list[dict[str, Any]] = [
    {
        "name": "tlogcheck",
        "rules": [_rule(n, *TLOGCHECK_EXPRS[n], "tlogcheck") for n in ALERTS],
    },
    {
        "name": "tlogcheck-ingress-nginx",
        "rules": [_rule(n, *INGRESS_EXPRS[n], "ingress-nginx") for n in INGRESS_EXPRS],
    },
    exporter_group(),
]

_HEADER = (
    "# Generated by `python -m tlogcheck.export.rules ci/prometheus` from tlogcheck's\n"
    "# playbook tables (tlogcheck/playbook/alerts.py, checks.py); edit those, not this.\n"
)


def rules_file() -> dict[str, Any]:
    return {"groups": RULE_GROUPS}


def prometheus_rule() -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "tlogcheck-alerts",
            "namespace": "tlog",
            "labels": {"app.kubernetes.io/name": "tlogcheck"},
        },
        "spec": rules_file(),
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line expressions as literal blocks, as people write them."""


def _str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _str)


def render(doc: dict[str, Any]) -> str:
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return _HEADER + body


FILES = {
    "tlog-alerts.rules.yaml": rules_file,
    "prometheusrule.yaml": prometheus_rule,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    out = Path(args[0] if args else "ci/prometheus")
    out.mkdir(parents=True, exist_ok=True)
    for name, make in FILES.items():
        (out / name).write_text(render(make()), encoding="utf-8")
        print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
