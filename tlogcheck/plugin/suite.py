"""The suite part of the plugin: the target, session fixtures, header, verdict, state.

What a run checks is one `Target` on `config.stash[TARGET_KEY]` (`target(config)`):

- With `--tlog-url`, the deployment at that URL; the origin view is `X-Bypass: 1` on it,
  or `--tlog-origin-url`.
- Without it, the embedded reference deployment (`tlogcheck.refstack`), started once per
  session by the controller with demo data, key and db, and stopped at the end. It starts
  when the run collects the `tests_synthetic` package (by path or `--pyargs`) or an
  `--tlog-embedded-*` option is given; a serial run that asks for the target otherwise
  starts it on first use. Under xdist the controller hands its URL, keys, db and seed to
  the workers (`pytest_configure_node` -> `workerinput`): one deployment, one seed, one
  sample for every worker.

Verdicts:

- A check that proves the target wrong fails (exit 1).
- A test that could not ask the target (`TargetUnreachable`, also from a fixture) or
  cannot judge what it got (`Inconclusive`), also inside an exception group (Hypothesis's
  `FlakyFailure` around a dropped connection), is reported as skipped with the reason
  under `checks.INCONCLUSIVE_KEY`, shown as "inconclusive"; a run with inconclusive tests
  and no failure exits 6.
- A test that asked and got no complete answer within the deadline (`TargetStalled`)
  fails under TLogAvailabilityDown (nothing came back) or LatencyP95High (the answer
  trickled), whatever its check; a certificate real clients reject fails under
  TLogAvailabilityDown. Never a format or proof failure.
- Every client of the run shares one `ResponseMemo` (`config.stash`): the probe, the
  fixtures and the tests get the run's one answer to the shared reads, and a URL that
  stalled is not asked again. A hung root costs one deadline per view.
- `--tlog-run-timeout`: once the budget is spent, requests in flight are abandoned and
  tests not yet decided are inconclusive ("run budget of N s spent"); the summary,
  reports, state rule and gate run as always.
- A bad option value is a usage error naming the option and where it came from (exit 4).
- Before the tests, the controller asks the target a few requests: whether an edge cache
  answers there (a cache-status header) and which releases answer. A target with no
  edge (a Service URL) says so in the header; the checks that need an edge skip.
- After a fully passing run (nothing failed, nothing inconclusive) the controller records
  the verified tree in `--tlog-state`.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from tlogcheck.errors import (
    EXIT_INCONCLUSIVE,
    ConfigError,
    FormatError,
    ProofError,
    RunBudgetSpent,
    ServerError,
    TargetCertificateError,
    TargetStalled,
    TargetUnreachable,
    TLogCheckError,
)
from tlogcheck.options import Option
from tlogcheck.options.target import INDEX
from tlogcheck.options.target import OPTIONS as TARGET_OPTIONS
from tlogcheck.playbook.checks import (
    ALERT_KEY,
    CERTIFICATE,
    CHECKS,
    INCONCLUSIVE_KEY,
    NEXT_PREFIX,
    SERVER_ERROR,
    STALLED,
    TRICKLED,
    check_of,
    explain,
    fill_next,
    inconclusive_reason,
)
from tlogcheck.plugin import evidence, report
from tlogcheck.plugin.report import note_test
from tlogcheck.plugin.target import TARGET_KEY, Target, plan, runs_suite
from tlogcheck.plugin.verdicts import ROLLOUT_KEY, AlertFailed, inconclusive_cause
from tlogcheck.state import State, now_rfc3339, save_state
from tlogcheck.verify.served import finding_of

if TYPE_CHECKING:
    from tlogcheck.client import ResponseMemo, TLogClient
    from tlogcheck.verify import EdgeProbe

__all__ = [
    "OPTIONS",
    "TARGET_KEY",
    "Target",
    "configure",
    "target",
]

OPTIONS: list[Option] = [*TARGET_OPTIONS, report.REPORT_JSON, evidence.EVIDENCE]

# The APIs a check applies to: `@pytest.mark.api("v1", "tiles")`; without it, v1 only.
API_MARKER = "api"
V1_ONLY = (
    "an API v1 check: the log is read as C2SP tiles (--tlog-api tiles), whose checks are "
    "tests_synthetic/test_tiles.py"
)

_PLANNED_KEY = pytest.StashKey[Target]()
_PROBE_KEY: pytest.StashKey[EdgeProbe] = pytest.StashKey()
_MEMO_KEY: pytest.StashKey[ResponseMemo] = pytest.StashKey()
_WIRE_KEY = "tlogcheck_target"
_REPORT_WIRE_KEY = "tlogcheck_report"


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _start_embedded(config: pytest.Config, planned: Target) -> Target:
    from tlogcheck.db import read_sha256_file
    from tlogcheck.refstack.stack import start_stack

    try:
        stack = start_stack(entries=planned.entries or 2048, faults=planned.faults)
    except (TLogCheckError, OSError) as exc:
        raise pytest.UsageError(
            f"tlogcheck: could not start the embedded reference deployment: {exc}"
        ) from None
    config.add_cleanup(stack.close)
    info = stack.info
    db, db_sha256, db_sha_source = planned.db, planned.db_sha256, planned.db_sha256_source
    if db is None:
        db = info.db_path
        db_sha256 = read_sha256_file(info.db_sha256_path)
        db_sha_source = f"from {info.db_sha256_path}"
    return replace(
        planned,
        url=info.edge_url,
        vkeys=planned.vkeys or (info.vkey,),
        db=db,
        db_sha256=db_sha256,
        db_sha256_source=db_sha_source,
        stack=stack,
    )


def make_client(
    config: pytest.Config, t: Target, url: str | None = None, *, stable: bool = False
) -> TLogClient:
    """A client of the run: the target's views (or the stable side), with the run's
    headers, CAs, proxy, budget and shared answers."""
    from tlogcheck.client import ResponseMemo, TLogClient

    memo = config.stash.get(_MEMO_KEY, None)
    if memo is None:
        memo = config.stash[_MEMO_KEY] = ResponseMemo()
    return TLogClient(
        url or t.url,
        origin_url=None if stable else t.origin_url,
        timeout=t.timeout,
        headers=t.headers,
        ca_bundle=t.ca_bundle,
        proxy=t.proxy,
        memo=memo,
        run_end=t.run_end(),
        run_budget=t.run_timeout,
        recorder=evidence.recorder_for(config),
    )


def _probe(config: pytest.Config, t: Target) -> Target:
    """The target with what its first answers say: an edge or not, the releases."""
    from tlogcheck import verify
    from tlogcheck.client import checking

    try:
        with make_client(config, t) as client, checking("target"):
            found = verify.probe_edge(client, t.api)
    except ConfigError as exc:
        found = verify.EdgeProbe(None, str(exc), {})
    config.stash[_PROBE_KEY] = found
    report.add_releases(config, found.releases)
    return replace(t, has_edge=found.has_edge, edge_evidence=found.evidence)


def _check_indices(config: pytest.Config, t: Target) -> None:
    """--tlog-index outside the served tree is a usage error naming the tree's size (the
    run's one read of the edge's root or checkpoint; when it has none, the checks say
    why)."""
    if not t.indices:
        return
    from tlogcheck import spec, verify
    from tlogcheck.plugin.options import source_of
    from tlogcheck.verify import tiles as tiled

    path = tiled.PATH_CHECKPOINT if t.api == "tiles" else spec.PATH_ROOT
    try:
        with make_client(config, t) as client:
            size = verify.served_tree(client.get(path, shared=True)).tree_size
    except TLogCheckError:
        return
    outside = sorted(i for i in t.indices if i >= size)
    if outside:
        source = source_of(config, INDEX)
        raise pytest.UsageError(
            f"tlogcheck: --tlog-index ({source}): {outside[0]} is outside the served tree: "
            f"its size is {size} (valid indices 0..{size - 1})"
        )


def _set_target(config: pytest.Config, t: Target) -> Target:
    config.stash[TARGET_KEY] = t
    report.record(config, "target", t.to_json())
    return t


def target(config: pytest.Config) -> Target:
    """The run's target; a serial run starts the embedded deployment here if need be."""
    found = config.stash.get(TARGET_KEY, None)
    if found is not None:
        return found
    if _is_worker(config):
        raise ConfigError(
            "this xdist worker was given no target: pass --tlog-url, or run the suite as "
            "`pytest --pyargs tests_synthetic` (or give --tlog-embedded-entries) so the "
            "controller starts the embedded reference deployment"
        )
    planned = config.stash.get(_PLANNED_KEY, None)
    if planned is None:
        planned = plan(config)
    return _set_target(config, planned if planned.url else _start_embedded(config, planned))


# --- fixtures (module level: pytest registers this module as a plugin) ----------------


class SuitePlugin:
    """Target, header, inconclusive outcomes, exit status, state file, report."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        if _is_worker(config):
            wire = config.workerinput.get(_WIRE_KEY)  # type: ignore[attr-defined]
            if wire is not None:
                config.stash[TARGET_KEY] = Target.from_wire(wire)
            return
        config.stash[_PLANNED_KEY] = plan(config)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        config = session.config
        if _is_worker(config) or TARGET_KEY in config.stash:
            return
        planned = config.stash[_PLANNED_KEY]
        suite = runs_suite(config)
        if planned.url:
            t = planned
        elif suite:
            t = _start_embedded(config, planned)
        else:
            return
        if suite and not config.option.collectonly:
            t = _probe(config, t)
            _check_indices(config, t)
        _set_target(config, t)

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        t = config.stash.get(TARGET_KEY, None)
        if t is None:
            return []
        lines = [f"tlogcheck: target {t.describe()}", f"tlogcheck: origin view: {t.origin_view}"]
        if t.api == "tiles":
            lines.append(
                "tlogcheck: API tiles (--tlog-api): a C2SP tlog-tiles log at that prefix; "
                "the API v1 checks skip"
            )
        what = (
            f"indices {', '.join(map(str, t.indices))}"
            if t.indices
            else f"sample {t.sample} + edge indices"
        )
        lines.append(
            f"tlogcheck: seed {t.seed} (replay with --tlog-seed={t.seed}), {what}, "
            f"timeout {t.timeout:g}s"
        )
        db = "none" if t.db is None else f"{t.db} (sha256 {t.db_sha256_source or 'not given'})"
        state = t.state_path or "none"
        lines.append(
            f"tlogcheck: verifier keys {len(t.vkeys)}, db {db}, "
            f"known roots {len(t.known_roots)}, state {state}"
        )
        return lines + _deployment_header(t) + _canary_header(config, t)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        rep = yield
        excinfo = call.excinfo
        if excinfo is None:
            return rep
        _classify(rep, excinfo, item)
        t = self.config.stash.get(TARGET_KEY, None)
        if rep.failed and t is not None and rep.longrepr is not None:
            # The next step names this run's target, options, Rollout and namespace.
            text = rep.longrepr if isinstance(rep.longrepr, str) else str(rep.longrepr)
            if f"\n{NEXT_PREFIX}" in text:
                named = self.config.stash.get(ROLLOUT_KEY, {})
                rep.longrepr = fill_next(
                    text,
                    url=t.url,
                    verify_args=t.verify_args(),
                    rollout=named.get("rollout"),
                    namespace=named.get("namespace"),
                )
        return rep


    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        # A log read through API v1 has no tiles to check: the tiles-only checks are not
        # collected (deselected), rather than reported as not verified.
        t = config.stash.get(TARGET_KEY, None) or config.stash.get(_PLANNED_KEY, None)
        if t is not None and t.api == "tiles":
            return
        tiled = [item for item in items if not _applies(item, "v1")]
        if tiled:
            config.hook.pytest_deselected(items=tiled)
            items[:] = [item for item in items if _applies(item, "v1")]

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        t = self.config.stash.get(TARGET_KEY, None)
        if t is None or not runs_suite_item(item):
            return
        # A check that does not apply is skipped, spent budget or not: never inconclusive.
        if not _applies(item, t.api):
            pytest.skip(V1_ONLY)
        if time.time() >= t.run_started + t.run_timeout:
            raise RunBudgetSpent(f"run budget of {t.run_timeout:g} s spent")

    def pytest_report_teststatus(
        self, report: pytest.TestReport, config: pytest.Config
    ) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
        if report.skipped and inconclusive_reason(report.user_properties) is not None:
            return "inconclusive", "I", ("INCONCLUSIVE", {"yellow": True})
        return None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not _is_worker(self.config):
            note_test(self.config, report)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        config = session.config
        if _is_worker(config):
            return
        run = report.run(config)
        if session.exitstatus == 0 and run.count("inconclusive"):
            session.exitstatus = EXIT_INCONCLUSIVE
        _record_state(config, session.exitstatus)
        t = config.stash.get(TARGET_KEY, None)
        if t is not None:
            report.record(config, "replay", {"seed": t.seed, "command": t.replay_command()})

    def pytest_terminal_summary(
        self, terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
    ) -> None:
        t = config.stash.get(TARGET_KEY, None)
        if t is None or _is_worker(config) or not report.run(config).tests:
            return
        terminalreporter.section("tlogcheck")
        for line in _summary(config, t):
            terminalreporter.line(line)


def _classify(
    rep: pytest.TestReport, excinfo: pytest.ExceptionInfo[BaseException], item: pytest.Item
) -> None:
    """What a test ended with decides its outcome and alert (`verify.served`)."""
    if excinfo.errisinstance(AlertFailed):
        named = excinfo.value.alert  # type: ignore[attr-defined]
        rep.user_properties = [*rep.user_properties, (ALERT_KEY, str(named))]
    elif excinfo.errisinstance(ServerError):
        # A 5xx where the test needed an answer: what users saw, whichever check met it.
        found = finding_of(excinfo.value)
        assert found is not None
        named = CHECKS["health"] if found.alert == CHECKS["health"].alert else SERVER_ERROR
        rep.outcome = "failed"
        rep.longrepr = explain(named, expected=found.expected, served=found.served)
        rep.user_properties = [*rep.user_properties, (ALERT_KEY, found.alert)]
    elif excinfo.errisinstance(TargetStalled):
        stalled: TargetStalled = excinfo.value  # type: ignore[assignment]
        alert = TRICKLED if stalled.started else STALLED
        expected = "a complete answer within the deadline (the target took the request)"
        rep.outcome = "failed"
        rep.longrepr = explain(alert, expected=expected, served=str(stalled))
        rep.user_properties = [*rep.user_properties, (ALERT_KEY, alert.alert)]
    elif excinfo.errisinstance(TargetCertificateError):
        expected = "a TLS certificate clients can verify"
        rep.outcome = "failed"
        rep.longrepr = explain(CERTIFICATE, expected=expected, served=str(excinfo.value))
        rep.user_properties = [*rep.user_properties, (ALERT_KEY, CERTIFICATE.alert)]
    elif (cause := inconclusive_cause(excinfo.value)) is not None:
        reason = str(cause)
        _, lineno, _ = item.location
        rep.outcome = "skipped"
        rep.longrepr = (str(item.path), (lineno or 0) + 1, f"inconclusive: {reason}")
        rep.user_properties = [*rep.user_properties, (INCONCLUSIVE_KEY, reason)]
        if isinstance(cause, TargetUnreachable):
            rep.user_properties.append((report.UNASKED_KEY, True))
        # JUnit reads the properties of the item's last report: say it there too.
        item.user_properties.append(("inconclusive", reason))
    elif excinfo.errisinstance((FormatError, ProofError)):
        check = check_of(item.keywords)
        if check is not None:
            # Whatever escaped the test's own explanations still reads as one.
            rep.longrepr = explain(
                check.name,
                expected="an answer of the form and content the spec fixes",
                served=f"{type(excinfo.value).__name__}: {excinfo.value}",
            )


def _deployment_header(t: Target) -> list[str]:
    """TLS trust, proxy, extra headers and the run budget: how the target is reached."""
    from tlogcheck.client import proxy_for, redact_url, tls

    urls = [u for u in (t.url, t.origin_url, t.stable_url) if u]
    lines = []
    if t.ca_bundle or any(u.startswith("https://") for u in urls):
        lines.append(f"tlogcheck: TLS: trusting {tls.trust_source(t.ca_bundle)}")
    routes = []
    for u in urls:
        proxy = proxy_for(u, t.proxy, trust_env=True)
        source = "--tlog-proxy" if t.proxy else "the environment"
        routes.append(f"{u} via proxy {redact_url(proxy)} (from {source})" if proxy else None)
    shown = [r for r in routes if r]
    if shown:
        lines.append(f"tlogcheck: proxy: {'; '.join(shown)}")
    if t.headers:
        lines.append(f"tlogcheck: headers sent on every request: {', '.join(t.header_names)}")
    lines.append(
        f"tlogcheck: run budget {t.run_timeout:g}s (--tlog-run-timeout): tests not decided "
        "by then are inconclusive"
    )
    return lines


def _applies(item: pytest.Item, api: str) -> bool:
    """Whether a check applies to a log read through `api` (marker `api(...)`; none: v1)."""
    if not runs_suite_item(item):
        return True
    marker = item.get_closest_marker(API_MARKER)
    return api in (marker.args if marker is not None else ("v1",))


def runs_suite_item(item: pytest.Item) -> bool:
    """Whether a test is one of the suite's checks (the budget applies to those only)."""
    return check_of(item.keywords) is not None


def _canary_header(config: pytest.Config, t: Target) -> list[str]:
    """What the first answers said (edge, releases) and what the canary check compares."""
    from tlogcheck import verify

    lines = []
    if t.has_edge is True:
        lines.append(f"tlogcheck: edge: a cache answers at the target ({t.edge_evidence})")
    elif t.has_edge is False:
        lines.append(f"tlogcheck: {verify.NO_EDGE}")
    probe = config.stash.get(_PROBE_KEY, None)
    if probe is not None and probe.has_edge is None:
        lines.append(f"tlogcheck: edge: not known, {probe.evidence}")
    if probe is not None and probe.releases:
        lines.append(
            "tlogcheck: releases that answered the first requests (X-TLog-Release): "
            f"{verify.release_mix(probe.releases)}"
        )
    if t.expect_release:
        lines.append(
            f"tlogcheck: expected release {t.expect_release}: every response must carry "
            f"X-TLog-Release: {t.expect_release}"
        )
    if t.stable_url:
        lines.append(
            f"tlogcheck: stable side {t.stable_url}: the target's tree must extend its tree, "
            "and the entries it serves must be identical on the target"
        )
    return lines


def _summary(config: pytest.Config, t: Target) -> list[str]:
    run = report.run(config)
    verdict = run.verdict()
    failed = [name for name, c in run.checks().items() if c["failed"]]
    head = f"verdict: {verdict.upper()}"
    if failed:
        head += f" (failing checks: {', '.join(failed)})"
    elif verdict == "inconclusive":
        head += f" ({report.inconclusive_head(config)})"
    lines = [f"target: {t.describe()}", head, *report.check_lines(config)]
    problems = report.problem_lines(config)
    if problems:
        lines.append("not verified:")
        lines += problems
    if run.releases:
        mix = ", ".join(f"{rel}: {n}" for rel, n in sorted(run.releases.items()))
        lines.append(f"responses by X-TLog-Release: {mix}")
        if t.expect_release:
            total = sum(run.releases.values())
            others = total - run.releases.get(t.expect_release, 0)
            lines.append(
                f"expected release {t.expect_release}: "
                + (f"all {total} responses" if not others else f"{others} of {total} not")
            )
    if run.state_note:
        lines.append(run.state_note)
    lines += run.lines
    lines.append(f"replay this sample: {t.replay_command()}")
    return lines


def _record_state(config: pytest.Config, exitstatus: int) -> None:
    """Record the verified tree in --tlog-state, only after a fully passing run."""
    t = config.stash.get(TARGET_KEY, None)
    if t is None or t.state_path is None:
        return
    run = report.run(config)
    verified = run.verified_tree()
    if exitstatus != 0 or run.count("failed") or run.count("inconclusive"):
        run.state_note = f"state file {t.state_path} not updated: the run did not fully pass"
    elif verified is None:
        run.state_note = (
            f"state file {t.state_path} not updated: no test verified the served tree "
            "against it (was the consistency check deselected?)"
        )
    else:
        size, root_hex = verified
        try:
            save_state(
                t.state_path,
                State(size, bytes.fromhex(root_hex), verified_at=now_rfc3339(), url=t.url),
            )
        except OSError as exc:  # said, never raised: the run's verdict stands
            run.state_note = f"state file {t.state_path} NOT updated: {exc}"
            return
        run.state_note = f"state file {t.state_path} now records tree {size}:{root_hex}"


class XdistHooks:
    """xdist: the controller hands the target to workers, workers send their records back."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_configure_node(self, node: Any) -> None:
        t = self.config.stash.get(TARGET_KEY, None)
        if t is not None:
            node.workerinput[_WIRE_KEY] = t.to_wire()

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        payload = getattr(node, "workeroutput", {}).get(_REPORT_WIRE_KEY)
        if payload is not None:
            report.merge_worker_payload(self.config, payload)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # Last, so whatever the other parts recorded on this worker goes along.
        config = session.config
        if _is_worker(config):
            config.workeroutput[_REPORT_WIRE_KEY] = report.worker_payload(config)  # type: ignore[attr-defined]


def configure(config: pytest.Config) -> None:
    config.pluginmanager.register(SuitePlugin(config), "tlogcheck-suite")
    # Registered first, its session-finish wrapper runs inside the report's: the bundle
    # is written (or its failure known) before the report that names it.
    evidence.configure(config)
    config.pluginmanager.register(report.ReportPlugin(config), "tlogcheck-report")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(config), "tlogcheck-suite-xdist")
