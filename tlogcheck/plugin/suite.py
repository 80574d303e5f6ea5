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
- A test that could not ask the target (`TargetUnreachable`, also from a fixture) is
  reported as skipped with the reason under `checks.INCONCLUSIVE_KEY`, shown as
  "inconclusive"; a run with inconclusive tests and no failure exits 6.
- A bad option value is a usage error naming the option and where it came from (exit 4).
- Before the tests, the controller asks the target a few requests: whether an edge cache
  answers there (a cache-status header) and which releases answer. A target with no
  edge (a Service URL) says so in the header; the checks that need an edge skip.
- After a fully passing run (nothing failed, nothing inconclusive) the controller records
  the verified tree in `--tlog-state`.
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from tlogcheck import sampling
from tlogcheck.checks import INCONCLUSIVE_KEY, check_of, explain, inconclusive_reason
from tlogcheck.errors import (
    EXIT_INCONCLUSIVE,
    ConfigError,
    DbError,
    FormatError,
    ProofError,
    TargetUnreachable,
    TLogCheckError,
)
from tlogcheck.plugin import evidence, report
from tlogcheck.plugin.options import Option
from tlogcheck.plugin.report import note_test
from tlogcheck.plugin.target import OPTIONS as TARGET_OPTIONS
from tlogcheck.plugin.target import TARGET_KEY, Target, plan, runs_suite
from tlogcheck.plugin.verdicts import fail
from tlogcheck.state import State, now_rfc3339, save_state

if TYPE_CHECKING:
    from tlogcheck import verify
    from tlogcheck.client import Response, TLogClient
    from tlogcheck.db import DbAudit

__all__ = [
    "OPTIONS",
    "TARGET_KEY",
    "Target",
    "configure",
    "target",
]

OPTIONS: list[Option] = [*TARGET_OPTIONS, report.REPORT_JSON, evidence.EVIDENCE]

_PLANNED_KEY = pytest.StashKey[Target]()
_PROBE_KEY = pytest.StashKey["verify.EdgeProbe"]()
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


def _probe(config: pytest.Config, t: Target) -> Target:
    """The target with what its first answers say: an edge or not, the releases."""
    from tlogcheck import verify
    from tlogcheck.client import TLogClient

    try:
        with TLogClient(t.url, origin_url=t.origin_url, timeout=t.timeout) as client:
            found = verify.probe_edge(client)
    except ConfigError as exc:
        found = verify.EdgeProbe(None, str(exc), {})
    config.stash[_PROBE_KEY] = found
    report.add_releases(config, found.releases)
    return replace(t, has_edge=found.has_edge, edge_evidence=found.evidence)


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


@pytest.fixture(scope="session")
def tlog_target(request: pytest.FixtureRequest) -> Target:
    """The deployment under test (see `Target`)."""
    try:
        return target(request.config)
    except ConfigError as exc:
        pytest.fail(f"tlogcheck: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def tlog_client(request: pytest.FixtureRequest, tlog_target: Target) -> Iterator[TLogClient]:
    """One client for the session: the edge view and the origin view of the target."""
    from tlogcheck.client import TLogClient

    client = TLogClient(
        tlog_target.url,
        origin_url=tlog_target.origin_url,
        timeout=tlog_target.timeout,
        recorder=evidence.recorder_for(request.config),
    )
    try:
        yield client
    finally:
        report.add_releases(request.config, client.releases_seen())
        client.close()


def _served_root(client: TLogClient, view: str) -> verify.ServedRoot:
    from tlogcheck import spec, verify

    response = client.get(spec.PATH_ROOT, view=view)
    try:
        return verify.ServedRoot(verify.read_root(response), response)
    except FormatError as exc:
        fail(
            "root",
            expected=f"a well-formed root on the {view} view to check the log against",
            served=f"{exc}\n          {response.describe()}",
        )


@pytest.fixture(scope="session")
def served_root(tlog_client: TLogClient) -> verify.ServedRoot:
    """The root the edge serves, fetched once per process: what clients verify against."""
    return _served_root(tlog_client, "edge")


@pytest.fixture(scope="session")
def origin_root(tlog_client: TLogClient) -> verify.ServedRoot:
    """The root the origin serves (X-Bypass: 1 or the origin URL), fetched once."""
    return _served_root(tlog_client, "origin")


@pytest.fixture(scope="session")
def served_checkpoint(tlog_client: TLogClient) -> Response:
    """The edge's /v1/log/checkpoint response, fetched once."""
    from tlogcheck.spec import PATH_CHECKPOINT

    return tlog_client.get(PATH_CHECKPOINT)


@pytest.fixture(scope="session")
def sample_indices(tlog_target: Target, served_root: verify.ServedRoot) -> list[int]:
    """The run's indices: edges + seeded uniform sample of the served tree, or --tlog-index."""
    if tlog_target.indices:
        return sorted(set(tlog_target.indices))
    return sampling.sample_indices(served_root.root.tree_size, tlog_target.sample, tlog_target.seed)


@pytest.fixture(scope="session")
def stable_client(tlog_target: Target) -> Iterator[TLogClient]:
    """A client of the stable side (--tlog-stable-url), apart from the target's: its
    answers are not the target's and do not count in the target's release mix."""
    from tlogcheck.client import TLogClient

    if tlog_target.stable_url is None:
        pytest.skip("no --tlog-stable-url given: the target is not compared with a stable side")
    client = TLogClient(tlog_target.stable_url, timeout=tlog_target.timeout)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def stable_root(request: pytest.FixtureRequest, stable_client: TLogClient) -> verify.ServedRoot:
    """The root the stable side serves, fetched once per process."""
    from tlogcheck import spec, verify

    response = stable_client.get(spec.PATH_ROOT)
    try:
        served = verify.ServedRoot(verify.read_root(response), response)
    except FormatError as exc:
        fail(
            "canary",
            expected="a well-formed root on the stable side (--tlog-stable-url) to compare with",
            served=f"{exc}\n          stable side: {response.describe()}",
        )
    report.summary_line(
        request.config,
        f"stable side {stable_client.edge_url}: {served.tree.describe()} "
        f"(release {served.response.release})",
    )
    return served


@pytest.fixture(scope="session")
def db_audit(request: pytest.FixtureRequest, tlog_target: Target) -> DbAudit:
    """One streaming pass over --tlog-db: its SHA-256, size, root, and the served-size prefix."""
    from tlogcheck.db import audit

    if tlog_target.db is None:
        pytest.skip("no --tlog-db given: db.jsonl is not checked")
    served: verify.ServedRoot = request.getfixturevalue("served_root")
    try:
        return audit(tlog_target.db, prefix_sizes=[served.root.tree_size], strict=True)
    except DbError:
        pass
    # The served tree may be larger than the file, which the audit refuses as a prefix;
    # the whole file is then what test_db compares with. Only a broken run pays twice.
    try:
        return audit(tlog_target.db, strict=True)
    except DbError as exc:
        fail(
            "db",
            expected=f"{tlog_target.db} to be a well-formed db.jsonl",
            served=str(exc),
        )


# --- hooks ------------------------------------------------------------------------------


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
        _set_target(config, t)

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        t = config.stash.get(TARGET_KEY, None)
        if t is None:
            return []
        lines = [f"tlogcheck: target {t.describe()}", f"tlogcheck: origin view: {t.origin_view}"]
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
        return lines + _canary_header(config, t)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        rep = yield
        excinfo = call.excinfo
        if excinfo is None:
            return rep
        if excinfo.errisinstance(TargetUnreachable):
            reason = str(excinfo.value)
            _, lineno, _ = item.location
            rep.outcome = "skipped"
            rep.longrepr = (str(item.path), (lineno or 0) + 1, f"inconclusive: {reason}")
            rep.user_properties = [*rep.user_properties, (INCONCLUSIVE_KEY, reason)]
        elif excinfo.errisinstance((FormatError, ProofError)):
            check = check_of(item.keywords)
            if check is not None:
                # Whatever escaped the test's own explanations still reads as one.
                rep.longrepr = explain(
                    check.name,
                    expected="an answer of the form and content the spec fixes",
                    served=f"{type(excinfo.value).__name__}: {excinfo.value}",
                )
        return rep

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

    def pytest_terminal_summary(
        self, terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
    ) -> None:
        t = config.stash.get(TARGET_KEY, None)
        if t is None or _is_worker(config) or not report.run(config).tests:
            return
        terminalreporter.section("tlogcheck")
        for line in _summary(config, t):
            terminalreporter.line(line)


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
        head += " (could not ask the target: nothing proved wrong, nothing proved right)"
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
        save_state(
            t.state_path,
            State(size, bytes.fromhex(root_hex), verified_at=now_rfc3339(), url=t.url),
        )
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
    # The fixtures above are module-level functions: register the module for them.
    config.pluginmanager.register(sys.modules[__name__], "tlogcheck-suite-fixtures")
    config.pluginmanager.register(report.ReportPlugin(config), "tlogcheck-report")
    evidence.configure(config)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(config), "tlogcheck-suite-xdist")
