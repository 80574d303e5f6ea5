"""The gate part of the plugin: abort the Argo Rollout on the first failing gated test.

Options (command line > environment > ini, in the one `tlogcheck` group):

    --rollout NAME               arms the gate (env TLOG_ROLLOUT)
    --rollout-namespace NS       else the kubeconfig context's (the service account's in
                                 a pod), else `tlog`
    --gate-action ACTION         abort (default) | abort+undo | none
    --gate-dry-run               print the exact requests, send nothing
    --gate-on-inconclusive WHAT  ignore (default) | abort
    --gate-invalidate CMD        after a successful abort (and undo): `sh -c CMD`, the
                                 CDN invalidation (playbook §3.2 step 3)
    --gate-invalidate-timeout S  its deadline (300)

Gated tests: every test of the `tests_synthetic` package, tests marked `gate`, and
tests that use the `rollout_gate` fixture.

The controller acts in `pytest_runtest_logreport` of the first failing gated test:
serially that is the test's own process, under xdist the report as it arrives from a
worker. The requests go out inside the hook, so the abort leaves while the report is
still fresh; workers never act; later failures do not patch again. A gate that had
to act and could not (or could not even read its Rollout at session start) makes the
run exit 1, whatever the tests said: a broken gate is never a silent pass.

The invalidation command runs in a thread once the abort (and undo) succeeded, so the
run goes on meanwhile; the session waits for it at the end (bounded by its deadline),
and its exit status and output tail go to the summary, the report and a second Event.
It never runs in dry run (the summary shows it with its variables instead) nor when
the gate did not act.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from tlogcheck.errors import EXIT_FAILED, ConfigError, GateError
from tlogcheck.gate.argo import GateOutcome, Reason, RolloutGate
from tlogcheck.gate.invalidate import KILL_GRACE_S, environment, run_invalidation
from tlogcheck.gate.kube import ClusterAccess, clip, load_access, resolve_namespace
from tlogcheck.gate.session import (
    GATE_ACTION,
    GATE_DRY_RUN,
    GATE_INVALIDATE,
    GATE_INVALIDATE_TIMEOUT,
    GATE_ON_INCONCLUSIVE,
    OPTIONS,
    ROLLOUT,
    ROLLOUT_NAMESPACE,
    GateSettings,
    GateState,
    Trigger,
)
from tlogcheck.playbook.checks import alert_of, check_of, inconclusive_reason
from tlogcheck.plugin.evidence import EVIDENCE, LEVEL_KEY
from tlogcheck.plugin.options import source_of, value
from tlogcheck.plugin.verdicts import ROLLOUT_KEY

__all__ = [
    "EVIDENCE_KEY",
    "GATE_INVALIDATE",
    "GATE_INVALIDATE_TIMEOUT",
    "GATE_KEY",
    "OPTIONS",
    "GateState",
    "RolloutGateHandle",
    "configure",
    "rollout_gate",
]

# A test may add short evidence for the Event through `rollout_gate.evidence(...)`;
# user_properties survive xdist's report serialisation.
EVIDENCE_KEY = "tlogcheck_gate_evidence"
# The controller's gate of this session.
GATE_KEY = pytest.StashKey[GateState]()
SYNTHETIC_PACKAGE = "tests_synthetic"
_WIRE_KEY = "tlogcheck_gate"


class RolloutGateHandle:
    """What a test that asks for `rollout_gate` gets: the gate's settings, and a way
    to put short evidence into the Event should the test fail."""

    def __init__(self, settings: GateSettings, node: pytest.Item) -> None:
        self._settings = settings
        self._node = node

    @property
    def rollout(self) -> str | None:
        return self._settings.rollout

    @property
    def namespace(self) -> str:
        return self._settings.namespace

    @property
    def action(self) -> str:
        return self._settings.action

    @property
    def dry_run(self) -> bool:
        return self._settings.dry_run

    @property
    def armed(self) -> bool:
        return self._settings.armed

    def evidence(self, text: str) -> None:
        """Short evidence for the Event and annotation, should this test fail."""
        self._node.user_properties.append((EVIDENCE_KEY, clip(text, 300)))


# --- registered in every process (xdist workers too): the fixture and the marking ---


def pytest_collection_modifyitems(items: Sequence[pytest.Item]) -> None:
    """Gate every test of tests_synthetic: the suite is what a canary must pass."""
    for item in items:
        module = getattr(item, "module", None)
        name = getattr(module, "__name__", "") or ""
        if name.split(".", 1)[0] == SYNTHETIC_PACKAGE and not item.get_closest_marker("gate"):
            item.add_marker(pytest.mark.gate)


@pytest.fixture
def rollout_gate(request: pytest.FixtureRequest) -> RolloutGateHandle:
    """Gate this test (as the `gate` marker does): its failure aborts the Rollout."""
    request.node.add_marker(pytest.mark.gate)
    state = request.config.stash.get(GATE_KEY, None)
    settings = state.settings if state else _settings(request.config, None)[0]
    return RolloutGateHandle(settings, request.node)


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _settings(
    config: pytest.Config, access: ClusterAccess | None
) -> tuple[GateSettings, str | None]:
    """The options resolved; the second value is a problem worth a usage error."""
    rollout = value(config, ROLLOUT) or None
    namespace, ns_source = resolve_namespace(value(config, ROLLOUT_NAMESPACE), access)
    action = value(config, GATE_ACTION)
    settings = GateSettings(
        rollout=rollout,
        namespace=namespace,
        namespace_source=ns_source,
        action=action,
        dry_run=bool(value(config, GATE_DRY_RUN)),
        on_inconclusive=value(config, GATE_ON_INCONCLUSIVE),
        invalidate=(value(config, GATE_INVALIDATE) or "").strip() or None,
        invalidate_timeout=float(value(config, GATE_INVALIDATE_TIMEOUT)),
    )
    problem = None
    # Asking for an action on the command line or in the environment without naming
    # the Rollout would leave a pipeline believing it has a gate; ini may set defaults.
    for option in (GATE_ACTION, GATE_DRY_RUN, GATE_INVALIDATE):
        src = source_of(config, option)
        if rollout is None and (src == "command line" or src.startswith("env")):
            problem = f"{option.flag} ({src}) needs --rollout NAME: the gate has no Rollout"
    return settings, problem


def _evidence(report: pytest.TestReport, inconclusive: str | None) -> str:
    for key, val in report.user_properties:
        if key == EVIDENCE_KEY:
            return str(val)
    if inconclusive is not None:
        return inconclusive
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        text = str(crash.message)
    elif isinstance(longrepr, tuple) and len(longrepr) == 3:
        text = str(longrepr[2])
    else:
        text = str(longrepr or "")
    # The alert and next step are in the reason already; keep what was expected/served.
    kept = [ln for ln in text.splitlines() if not ln.lstrip().startswith(("alert:", "next:"))]
    return clip(" ".join(kept).removeprefix("Failed: "), 300)


class GatePlugin:
    """The controller's gate: preflight, act once, report, exit status."""

    def __init__(self, config: pytest.Config, state: GateState) -> None:
        self.config = config
        self.state = state

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        st = self.state
        s = st.settings
        if s.rollout is None:
            return []
        mode = " (DRY RUN: nothing is sent)" if s.dry_run else ""
        where = f"api server {st.gate.host}" if st.gate else "no api server"
        creds = f" via {st.credentials}" if st.credentials else ""
        return [
            f"tlogcheck gate: rollout {s.namespace}/{s.rollout} (namespace from "
            f"{s.namespace_source}), action {s.action}{mode}, on inconclusive "
            f"{s.on_inconclusive}, {where}{creds}"
        ]

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        st = self.state
        if st.gate is None or st.settings.dry_run or not st.settings.armed:
            return
        if session.config.option.collectonly:
            return
        # One read before any test: a missing Rollout, missing RBAC or an unreachable
        # API server shows now, not when the canary is already failing.
        try:
            st.gate.get_rollout("preflight: read the Rollout")
            st.gate.warm()
            st.preflight_ok = True
        except GateError as exc:
            st.preflight_error = str(exc)
            self._announce(f"tlogcheck gate: NOT ARMED: {exc}")
        except Exception as exc:  # a gate bug must not look like a pass
            st.preflight_error = st.gate.redact(f"{type(exc).__name__}: {exc}")
            self._announce(f"tlogcheck gate: NOT ARMED: {st.preflight_error}")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        st = self.state
        if st.settings.rollout is None or "gate" not in report.keywords:
            return
        inconclusive = inconclusive_reason(report.user_properties)
        if not report.failed:
            if not (report.skipped and inconclusive is not None):
                return
            if st.settings.on_inconclusive != "abort":
                st.inconclusive_ignored.add(report.nodeid)
                return
        received = time.time()
        check = check_of(report.keywords)
        reason = Reason(
            test=report.nodeid,
            check=check.name if check else None,
            alert=alert_of(report.user_properties) or (check.alert if check else None),
            section=check.section if check else None,
            evidence=_evidence(report, inconclusive),
            inconclusive=not report.failed,
            # Written at the session's end when a test failed (an inconclusive run has none).
            bundle=(value(self.config, EVIDENCE) or None) if report.failed else None,
            evidence_level=next(
                (str(v) for k, v in report.user_properties if k == LEVEL_KEY), None
            ),
        )
        with st.lock:
            if st.trigger is not None:
                st.later_failures += 1
                return
            st.trigger = Trigger(
                report.nodeid, report.when, reason, getattr(report, "stop", None), received
            )
        st.outcome = self._act(reason)
        self._announce(self._headline())
        self._invalidate(reason)
        self._record()

    # --- the CDN invalidation hook ---

    def _release(self) -> str:
        from tlogcheck.plugin import report

        releases = report.run(self.config).releases
        return ",".join(r for r, _ in sorted(releases.items(), key=lambda kv: (-kv[1], kv[0])))

    def _url(self) -> str | None:
        from tlogcheck.plugin.target import TARGET_KEY

        t = self.config.stash.get(TARGET_KEY, None)
        return t.url if t is not None else None

    def _invalidate(self, reason: Reason) -> None:
        st = self.state
        s, out = st.settings, st.outcome
        if s.invalidate is None or out is None or s.action == "none":
            return
        assert s.rollout is not None
        acted = out.aborted and (s.action != "abort+undo" or out.undo is not None)
        if not acted and not s.dry_run:
            st.invalidation_skipped = (
                "not run: the gate's abort"
                + (" and undo" if s.action == "abort+undo" else "")
                + " did not succeed"
            )
            self._announce(f"tlogcheck gate: CDN invalidation {st.invalidation_skipped}")
            return
        env = environment(
            rollout=s.rollout,
            namespace=s.namespace,
            check=reason.check,
            alert=reason.alert,
            release=self._release(),
            url=self._url(),
            reason=reason.message(out.done(as_sent=True)),
        )
        if s.dry_run:
            st.invalidation = run_invalidation(
                s.invalidate, env, s.invalidate_timeout, dry_run=True
            )
            return
        thread = threading.Thread(
            target=self._invalidate_now, args=(reason, env), name="tlogcheck-invalidate"
        )
        st.invalidation_thread = thread
        thread.start()

    def _invalidate_now(self, reason: Reason, env: dict[str, str]) -> None:
        st = self.state
        s = st.settings
        assert s.invalidate is not None
        inv = run_invalidation(s.invalidate, env, s.invalidate_timeout)
        st.invalidation = inv
        if st.gate is None:
            return
        tail = " | ".join(inv.tail_lines(5))
        text = inv.describe() + (f"; output: {tail}" if tail else "")
        try:
            inv.event = st.gate.record_invalidation(reason, st.gate.redact(text), inv.ok)
        except Exception as exc:  # the Event is a courtesy; the report still says it all
            inv.event_error = st.gate.redact(f"{type(exc).__name__}: {exc}")

    def _wait_for_invalidation(self) -> None:
        thread = self.state.invalidation_thread
        if thread is None:
            return
        # The command's own deadline, its kill grace, and the Event's request.
        thread.join(self.state.settings.invalidate_timeout + KILL_GRACE_S + 70.0)
        if thread.is_alive() and self.state.invalidation is None:
            self.state.invalidation_skipped = "still running when the session ended"

    def _invalidation_lines(self) -> list[str]:
        st = self.state
        inv = st.invalidation
        if inv is None:
            if st.invalidation_skipped:
                return [f"gate: CDN invalidation {st.invalidation_skipped}"]
            return []
        if inv.dry_run:
            env = " ".join(f"{k}={v!r}" for k, v in inv.env.items() if k != "TLOG_REASON")
            return [
                f"gate (dry run): CDN invalidation: {inv.describe()}",
                f"  with {env} and TLOG_REASON",
            ]
        lines = [f"gate: CDN invalidation: {inv.describe()}"]
        lines += [f"  | {ln}" for ln in inv.tail_lines(10)]
        if inv.event:
            lines.append(f"gate: Event {inv.event} records the invalidation")
        elif inv.event_error:
            lines.append(f"gate: the invalidation's Event could not be created: {inv.event_error}")
        return lines

    def _act(self, reason: Reason) -> GateOutcome:
        st = self.state
        s = st.settings
        assert s.rollout is not None
        if st.gate is None:
            # action none: nothing to send, but the report says what triggered it.
            return GateOutcome(s.action, s.dry_run, s.rollout, s.namespace, "")
        try:
            return st.gate.act(s.action, reason)
        except Exception as exc:  # a gate bug must not look like a pass
            outcome = GateOutcome(s.action, s.dry_run, s.rollout, s.namespace, st.gate.host)
            outcome.error = st.gate.redact(f"gate error: {type(exc).__name__}: {exc}")
            return outcome

    def _headline(self) -> str:
        st = self.state
        s, trig, out = st.settings, st.trigger, st.outcome
        assert trig is not None and out is not None
        target = f"rollout {s.namespace}/{s.rollout}"
        what = f"check {trig.reason.check}" if trig.reason.check else "gated test"
        verdict = "inconclusive" if trig.reason.inconclusive else "failed"
        cause = f"{what} {verdict} in {trig.nodeid}"
        if s.action == "none":
            return f"tlogcheck gate: {cause}; --gate-action none: nothing sent to {target}"
        if out.error:
            return f"tlogcheck gate: FAILED to act on {target} after {cause}: {out.error}"
        latency = st.latency()
        after = ""
        if latency and "test_end_to_abort_s" in latency:
            after = f" {latency['test_end_to_abort_s']:.3f} s after the failing test ended"
        if s.dry_run:
            return f"tlogcheck gate (dry run): {target} {out.done()} — {cause}; nothing sent"
        return f"tlogcheck gate: {target} {out.done()}{after} — {cause}"

    def _announce(self, text: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(text)
        else:
            print(text, file=sys.stderr)

    def _summary(self) -> list[str]:
        st = self.state
        s = st.settings
        target = f"{s.namespace}/{s.rollout}"
        lines: list[str] = []
        if st.trigger is None:
            if st.preflight_error:
                lines.append(f"gate: NOT ARMED for rollout {target}: {st.preflight_error}")
            elif s.armed:
                mode = " (dry run)" if s.dry_run else ""
                lines.append(
                    f"gate{mode}: rollout {target} armed ({s.action}); no gated test failed: "
                    "nothing sent"
                )
        else:
            lines.append(self._headline().removeprefix("tlogcheck "))
            out = st.outcome
            if out is not None and s.dry_run and out.requests:
                lines.append("gate (dry run): the requests it would have sent:")
                lines += [f"  {line}" for line in _request_lines(out)]
            elif out is not None and not out.error and out.aborted:
                why = f"Event {out.event}" if out.event else "the Event"
                lines.append(
                    f"gate: {why} and annotation tlogcheck/gate-reason say why: "
                    f"kubectl -n {s.namespace} describe rollout {s.rollout}"
                )
            if out is not None and out.error and s.action != "none":
                lines.append(
                    f"gate: act by hand: kubectl -n {s.namespace} argo rollouts abort {s.rollout}"
                )
        lines += self._invalidation_lines()
        if st.later_failures:
            lines.append(
                f"gate: {st.later_failures} later gated failure(s) did not patch again "
                "(the gate acts once per run)"
            )
        if st.inconclusive_ignored:
            lines.append(
                f"gate: {len(st.inconclusive_ignored)} inconclusive gated test(s) did not "
                "trigger the gate (--gate-on-inconclusive ignore)"
            )
        return lines

    def _record(self) -> None:
        from tlogcheck.plugin import report

        report.record(self.config, "gate", self.state.to_json())

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        from tlogcheck.plugin import report

        st = self.state
        if st.settings.rollout is None:
            return
        self._wait_for_invalidation()
        self._record()
        for line in self._summary():
            report.summary_line(self.config, line)
        problem = st.failed()
        if problem is not None:
            session.exitstatus = EXIT_FAILED
        if st.gate is not None:
            st.gate.close()


def _request_lines(outcome: GateOutcome) -> list[str]:
    lines = []
    for req in outcome.requests:
        lines.append(req.line(outcome.host))
        if req.step == "abort" and outcome.dry_run:
            lines.append("    (on 404 from the status subresource: the same patch to the Rollout)")
    return lines


def configure(config: pytest.Config) -> None:
    """Register the gate: the `rollout_gate` fixture everywhere, the acting plugin on the
    controller only."""
    this = sys.modules[__name__]
    if not config.pluginmanager.is_registered(this):
        config.pluginmanager.register(this, "tlogcheck-gate-fixtures")
    try:
        settings, problem = _settings(config, None)
    except ConfigError as exc:
        raise pytest.UsageError(f"tlogcheck: {exc}") from None
    if problem is not None:
        raise pytest.UsageError(f"tlogcheck: {problem}")
    if _is_worker(config):
        # Workers mark tests and serve the fixture; they never talk to the cluster. The
        # controller's settings (its namespace may come from the kubeconfig) win.
        wire = config.workerinput.get(_WIRE_KEY)  # type: ignore[attr-defined]
        config.stash[GATE_KEY] = GateState(GateSettings(**wire) if wire else settings)
        _name_rollout(config, config.stash[GATE_KEY].settings)
        return
    access: ClusterAccess | None = None
    note: str | None = None
    if settings.armed:
        try:
            access = load_access()
        except ConfigError as exc:
            if not settings.dry_run:
                raise pytest.UsageError(f"tlogcheck: --rollout {settings.rollout}: {exc}") from None
            note = f"{exc} (dry run: requests shown against a placeholder host)"
        except Exception as exc:  # e.g. a kubeconfig exec plugin that fails
            if not settings.dry_run:
                raise pytest.UsageError(
                    f"tlogcheck: --rollout {settings.rollout}: cannot load the Kubernetes "
                    f"configuration: {type(exc).__name__}: {exc}"
                ) from None
            note = f"no usable Kubernetes configuration ({type(exc).__name__}); dry run"
        settings, _ = _settings(config, access)
    state = GateState(settings)
    if settings.armed:
        assert settings.rollout is not None
        state.gate = RolloutGate(
            settings.rollout, settings.namespace, access=access, dry_run=settings.dry_run
        )
        state.credentials = access.source if access else note
    config.stash[GATE_KEY] = state
    _name_rollout(config, settings)
    config.pluginmanager.register(GatePlugin(config, state), "tlogcheck-gate")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(settings), "tlogcheck-gate-xdist")


def _name_rollout(config: pytest.Config, settings: GateSettings) -> None:
    """What failures' next steps call the Rollout and its namespace: this run's, when it
    names one (a namespace alone only when given as an option)."""
    named: dict[str, str] = {}
    if settings.rollout:
        named["rollout"] = settings.rollout
    if settings.rollout or settings.namespace_source == "option":
        named["namespace"] = settings.namespace
    config.stash[ROLLOUT_KEY] = named


class _XdistHooks:
    """Controller side of xdist: the workers' fixture shows the controller's settings."""

    def __init__(self, settings: GateSettings) -> None:
        self.settings = settings

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[_WIRE_KEY] = self.settings.to_json()
