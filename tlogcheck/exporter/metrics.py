"""What a probe answers Prometheus, and the exporter's own metrics.

A probe's metrics are made in a fresh registry for that probe, blackbox-style:

    probe_success                               1: every check passed (or was skipped)
                                                and no peer contradicts; 0 otherwise
    probe_duration_seconds, probe_timeout_seconds
    tlogcheck_probe_check_status{check,status}  1 for the check's verdict, 0 for others
    tlogcheck_probe_alert_failures{alert}       checks whose findings are problems of the
                                                §1 alert: its own, or the one what was
                                                answered names (a 5xx: Ingress5xxHigh)
    tlogcheck_healthz_status_code{view}         HTTP status of /healthz per view
    tlogcheck_tree_size{view}                   tree size each view served
    tlogcheck_edge_lag_entries                  origin tree size - edge tree size
    tlogcheck_cache_miss_ratio                  steady-state miss ratio of immutable reads
    tlogcheck_entries_verified / _failed        sampled entries whose inclusion verified
    tlogcheck_probe_reads                       reads of the errors and latency sample
    tlogcheck_probe_5xx_reads                   of them, answered 5xx (not retried)
    tlogcheck_probe_latency_p95_seconds         p95 of them
    tlogcheck_checkpoint_info{origin,tree_size,root_hash,vantage}  1 for the checkpoint
                                                whose signature verified in this probe
    tlogcheck_peer_consistency{peer,status}     1 for the peer's verdict, 0 for others

The names shared with the run metrics (`docs/metrics.md`) mean the same; every
`tlogcheck_*` sample of a probe carries `vantage`, which a run's never does, so the run
rules and the probe rules each read their own (`tlogcheck.export.rules`).
"""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.process_collector import ProcessCollector

from tlogcheck.exporter.context import STATUSES
from tlogcheck.exporter.peers import PEER_STATUSES
from tlogcheck.exporter.probe import ProbeResult
from tlogcheck.playbook import ALERTS

__all__ = ["ExporterMetrics", "probe_metrics"]


def probe_metrics(result: ProbeResult, vantage: str) -> bytes:
    reg = CollectorRegistry(auto_describe=False)

    def gauge(name: str, text: str, labels: tuple[str, ...] = ()) -> Gauge:
        extra = ("vantage",) if name.startswith("tlogcheck_") else ()
        return Gauge(name, text, (*labels, *extra), registry=reg)

    def v(*labels: str) -> tuple[str, ...]:
        return (*labels, vantage)

    gauge("probe_success", "whether every check passed").set(1 if result.success else 0)
    gauge("probe_duration_seconds", "how long the probe took").set(result.duration)
    gauge("probe_timeout_seconds", "the probe's budget").set(result.timeout)
    status = gauge("tlogcheck_probe_check_status", "1 for the check's verdict", ("check", "status"))
    for verdict in result.verdicts:
        for s in STATUSES:
            status.labels(*v(verdict.check, s)).set(1 if verdict.status == s else 0)
    # Which alert each check's findings page is the findings' (a 5xx is Ingress5xxHigh,
    # a hung read TLogAvailabilityDown, whichever check met it), as the run's
    # tlogcheck_alert_failures counts failed tests: the rules read this, not the checks.
    named = gauge("tlogcheck_probe_alert_failures", "checks with a finding per §1 alert",
                  ("alert",))  # fmt: skip
    for alert in ALERTS:
        named.labels(*v(alert)).set(sum(alert in r.alerts for r in result.verdicts))
    facts = result.facts
    if facts.healthz:
        healthz = gauge("tlogcheck_healthz_status_code", "HTTP status of /healthz", ("view",))
        for view, code in sorted(facts.healthz.items()):
            healthz.labels(*v(view)).set(code)
    if facts.tree_size:
        sizes = gauge("tlogcheck_tree_size", "tree size a view served", ("view",))
        for view, size in sorted(facts.tree_size.items()):
            sizes.labels(*v(view)).set(size)
        if {"edge", "origin"} <= set(facts.tree_size):
            lag = facts.tree_size["origin"] - facts.tree_size["edge"]
            gauge("tlogcheck_edge_lag_entries", "origin tree size - edge tree size").labels(
                *v()
            ).set(lag)
    if facts.miss_ratio is not None:
        gauge("tlogcheck_cache_miss_ratio", "steady-state cache miss ratio").labels(*v()).set(
            facts.miss_ratio
        )
    for metric, n in (("tlogcheck_entries_verified", facts.entries_verified),
                      ("tlogcheck_entries_failed", facts.entries_failed)):  # fmt: skip
        if n is not None:
            gauge(metric, "sampled entries").labels(*v()).set(n)
    if facts.sample is not None:
        e = facts.sample
        gauge("tlogcheck_probe_reads", "reads of the errors and latency sample").labels(*v()).set(
            e.requests
        )
        gauge("tlogcheck_probe_5xx_reads", "of them, answered 5xx").labels(*v()).set(
            facts.sample_5xx
        )
        gauge("tlogcheck_probe_latency_p95_seconds", "p95 of those reads").labels(*v()).set(
            e.p95_ms / 1000
        )
    signed = facts.signed
    if signed is not None:
        info = gauge(
            "tlogcheck_checkpoint_info",
            "the checkpoint whose signature verified",
            ("origin", "tree_size", "root_hash"),
        )
        info.labels(*v(signed.origin, str(signed.tree_size), signed.root_hash.hex())).set(1)
    if result.peers:
        peer = gauge("tlogcheck_peer_consistency", "1 for the peer's verdict", ("peer", "status"))
        for p in result.peers:
            for s in PEER_STATUSES:
                peer.labels(*v(p.peer, s)).set(1 if p.status == s else 0)
    return generate_latest(reg)


class ExporterMetrics:
    """The exporter's own `/metrics`: probes, durations, errors, reloads, state, process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        reg = self.registry
        ProcessCollector(registry=reg)
        self.probes = Counter("tlogcheck_exporter_probes", "probes answered", ("module", "result"),
                              registry=reg)  # fmt: skip
        self.durations = Histogram(
            "tlogcheck_exporter_probe_duration_seconds", "probe durations", ("module",),
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=reg,
        )  # fmt: skip
        self.refused = Counter("tlogcheck_exporter_probe_requests_refused",
                               "probe requests refused", ("reason",), registry=reg)  # fmt: skip
        self.in_flight = Gauge("tlogcheck_exporter_probes_in_flight", "probes running",
                               registry=reg)  # fmt: skip
        self.reload_ok = Gauge("tlogcheck_exporter_config_last_reload_successful",
                               "whether the last config reload worked", registry=reg)  # fmt: skip
        self.reload_at = Gauge("tlogcheck_exporter_config_last_reload_success_timestamp_seconds",
                               "when the config was last loaded", registry=reg)  # fmt: skip
        self.targets = Gauge("tlogcheck_exporter_state_targets",
                             "targets whose tree is remembered", registry=reg)  # fmt: skip
        self.bundles = Gauge("tlogcheck_exporter_evidence_bundles",
                             "evidence bundles written (written, dropped)", ("outcome",),
                             registry=reg)  # fmt: skip
        self.peer_up = Gauge("tlogcheck_exporter_peer_up", "whether the peer was last read",
                             ("peer",), registry=reg)  # fmt: skip
        self._lock = threading.Lock()

    def probed(self, result: ProbeResult) -> None:
        self.probes.labels(result.module, "success" if result.success else "failure").inc()
        self.durations.labels(result.module).observe(result.duration)

    def render(self) -> bytes:
        with self._lock:
            return generate_latest(self.registry)
