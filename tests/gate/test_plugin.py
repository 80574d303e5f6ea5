"""The gate part of the plugin, run by pytester against the Kubernetes API stand-in.

Each test writes a small test module, a kubeconfig pointing at the stand-in (with a
secret token) and runs pytest with the plugin; the stand-in records what reached it.
`--tlog-url` names a target nothing listens on: these modules never ask it, and the
suite prints its summary (with the gate's lines) only for a run with a target.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.k8s_standin import K8sStandIn, Recorded
from tlogcheck.gate import plugin as gate_plugin

TOKEN = "kubeconfig-secret-token-5e8d2b7a41"

# A test the gate does not watch: it waits (bounded) until the stand-in shows the
# Rollout aborted. It passes only when the abort went out while the run was going on.
WAITER = """
import json, os, time, urllib.request

def test_abort_seen_while_the_run_goes_on():
    ns = os.environ.get("STANDIN_NS", "tlog")
    path = f"/apis/argoproj.io/v1alpha1/namespaces/{ns}/rollouts/tlog-ro"
    auth = {"Authorization": "Bearer " + os.environ["STANDIN_TOKEN"]}
    req = urllib.request.Request(os.environ["STANDIN_URL"] + path, headers=auth)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with urllib.request.urlopen(req) as resp:
            if json.load(resp).get("status", {}).get("abort") is True:
                return
        time.sleep(0.05)
    raise AssertionError("the Rollout was not aborted while the run was going on")
"""


@dataclass
class Run:
    result: pytest.RunResult
    report: dict[str, Any]

    @property
    def gate(self) -> dict[str, Any]:
        return dict(self.report.get("gate") or {})

    @property
    def text(self) -> str:
        return "\n".join(self.result.outlines + self.result.errlines)


@pytest.fixture
def standin() -> Iterator[K8sStandIn]:
    with K8sStandIn(token=TOKEN) as s:
        s.seed_rollout()
        yield s


@pytest.fixture
def run_pytest(
    pytester: pytest.Pytester, standin: K8sStandIn, monkeypatch: pytest.MonkeyPatch
) -> Any:
    kubeconfig = standin.write_kubeconfig(pytester.path / "kubeconfig")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("STANDIN_URL", standin.url)
    monkeypatch.setenv("STANDIN_TOKEN", TOKEN)
    for name in (
        "TLOG_ROLLOUT",
        "TLOG_GATE_ACTION",
        "TLOG_GATE_DRY_RUN",
        "TLOG_GATE_INVALIDATE",
        "TLOG_GATE_INVALIDATE_TIMEOUT",
        "TLOG_URL",
    ):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str, subprocess: bool = False, target: bool = True) -> Run:
        report = pytester.path / "report.json"
        report.unlink(missing_ok=True)
        argv = ["-p", "no:cacheprovider", "-rA", "--tlog-report-json", str(report), *args]
        if target:
            argv += ["--tlog-url", "http://127.0.0.1:9"]
        if subprocess:
            result = pytester.runpytest_subprocess(*argv, timeout=120)
        else:
            result = pytester.runpytest_inprocess(*argv)
        doc = json.loads(report.read_text()) if report.exists() else {}
        out = Run(result, doc)
        # Whatever happened, the token from the kubeconfig is nowhere to be seen.
        assert TOKEN not in out.text
        assert TOKEN not in json.dumps(doc)
        return out

    return run


def aborts(standin: K8sStandIn) -> list[Recorded]:
    return [r for r in standin.writes() if r.path.endswith("/rollouts/tlog-ro/status")]


FIXTURE_SEES_NAMESPACE = """
def test_the_fixture_shows_the_controllers_settings(rollout_gate):
    assert (rollout_gate.rollout, rollout_gate.namespace) == ("tlog-ro", "canary-ns")
"""


def latency_line(standin: K8sStandIn, run: Run) -> str:
    (abort,) = aborts(standin)
    stop = run.gate["triggered_by"]["report_stop"]
    received = run.gate["triggered_by"]["received_at"]
    return (
        f"abort request at the API server {(abort.at - stop) * 1000:.1f} ms after the failing "
        f"test ended, {(abort.at - received) * 1000:.1f} ms after its report reached the gate"
    )


FAILING = textwrap.dedent(
    """
    import pytest

    @pytest.mark.gate
    @pytest.mark.root
    def test_a_root_fails():
        assert "5d1e" == "9a0b", "expected: root 5d1e\\nserved: root 9a0b"

    @pytest.mark.gate
    def test_b_fails_later():
        assert False
    """
)

UNREACHABLE = textwrap.dedent(
    """
    import pytest
    from tlogcheck.errors import TargetUnreachable

    @pytest.mark.gate
    @pytest.mark.health
    def test_health():
        raise TargetUnreachable("GET /healthz: connection refused after 3 attempts")
    """
)


def test_first_failure_aborts_once_while_the_run_goes_on(
    pytester: pytest.Pytester, standin: K8sStandIn, run_pytest: Any
) -> None:
    pytester.makepyfile(
        test_gated=FAILING
        + WAITER
        + textwrap.dedent(
            """
            @pytest.mark.gate
            def test_c_fails_last():
                assert False
            """
        )
    )
    run = run_pytest("--rollout", "tlog-ro")
    run.result.assert_outcomes(failed=3, passed=1)
    assert run.result.ret == 1
    assert len(aborts(standin)) == 1
    assert [r.path.rsplit("/", 1)[-1] for r in standin.writes()] == [
        "status",
        "events",
        "tlog-ro",
    ]
    g = run.gate
    assert g["verdict"] == "acted" and g["error"] is None
    assert g["triggered_by"]["nodeid"] == "test_gated.py::test_a_root_fails"
    assert g["triggered_by"]["check"] == "root"
    assert g["later_failures"] == 2
    assert g["outcome"]["requests"][0]["body"] == {"status": {"abort": True}}
    (event,) = standin.events
    assert "check 'root' failed" in event["note"] and "served: root 9a0b" in event["note"]
    run.result.stdout.fnmatch_lines(
        [
            "*gate: rollout tlog/tlog-ro aborted * s after the failing test ended*"
            "check root failed in test_gated.py::test_a_root_fails",
            "*gate: Event tlog-ro.* and annotation tlogcheck/gate-reason say why*",
            "*2 later gated failure(s) did not patch again*",
        ]
    )
    print(latency_line(standin, run), "(serial)")


def test_under_xdist_the_controller_acts_once(
    pytester: pytest.Pytester,
    standin: K8sStandIn,
    run_pytest: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The namespace comes from the kubeconfig's context, which only the controller
    # reads: the workers' fixture must still show it.
    standin.seed_rollout(namespace="canary-ns")
    kubeconfig = standin.write_kubeconfig(pytester.path / "kc-ns", namespace="canary-ns")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("STANDIN_NS", "canary-ns")
    failing = "\n".join(
        f"@pytest.mark.gate\ndef test_fails_{i}():\n    time.sleep(0.2)\n    assert False\n"
        for i in range(8)
    )
    pytester.makepyfile(
        test_many="import time\nimport pytest\n\n" + failing + WAITER + FIXTURE_SEES_NAMESPACE
    )
    run = run_pytest("--rollout", "tlog-ro", "-n", "4", subprocess=True)
    run.result.assert_outcomes(failed=8, passed=2)
    assert run.gate["namespace"] == "canary-ns"
    assert [r.path for r in aborts(standin)] == [
        "/apis/argoproj.io/v1alpha1/namespaces/canary-ns/rollouts/tlog-ro/status"
    ]
    assert len(standin.events) == 1
    g = run.gate
    assert g["verdict"] == "acted"
    assert g["later_failures"] == 7
    assert g["triggered_by"]["nodeid"].startswith("test_many.py::test_fails_")
    print(latency_line(standin, run), "(-n 4)")


def test_a_healthy_run_sends_nothing(
    pytester: pytest.Pytester, standin: K8sStandIn, run_pytest: Any
) -> None:
    pytester.makepyfile(
        test_ok="""
        import pytest

        @pytest.mark.gate
        def test_fine():
            pass
        """
    )
    run = run_pytest("--rollout", "tlog-ro")
    assert run.result.ret == 0
    assert standin.writes() == []
    # One read at session start: the gate knows it can act before it has to.
    assert [(r.method, r.status) for r in standin.requests] == [("GET", 200)]
    assert run.gate["verdict"] == "not needed" and run.gate["preflight"]["ok"] is True
    run.result.stdout.fnmatch_lines(
        ["*gate: rollout tlog/tlog-ro armed (abort); no gated test failed: nothing sent*"]
    )


def test_dry_run_prints_the_requests_and_sends_nothing(
    pytester: pytest.Pytester, standin: K8sStandIn, run_pytest: Any
) -> None:
    pytester.makepyfile(test_gated=FAILING)
    run = run_pytest("--rollout", "tlog-ro", "--gate-dry-run")
    assert run.result.ret == 1
    assert standin.requests == []
    path = "/apis/argoproj.io/v1alpha1/namespaces/tlog/rollouts/tlog-ro/status"
    run.result.stdout.fnmatch_lines(
        [
            "*gate (dry run): rollout tlog/tlog-ro would be aborted*nothing sent",
            "*gate (dry run): the requests it would have sent:",
            f"  PATCH {standin.url}{path}  Content-Type: application/merge-patch+json"
            '  {"status":{"abort":true}}',
        ]
    )
    g = run.gate
    assert g["verdict"] == "would act (dry run)"
    assert [r["sent"] for r in g["outcome"]["requests"]] == [False, False, False]


def test_an_inconclusive_test_does_not_abort_by_default(
    pytester: pytest.Pytester, standin: K8sStandIn, run_pytest: Any
) -> None:
    pytester.makepyfile(test_unreachable=UNREACHABLE)
    run = run_pytest("--rollout", "tlog-ro")
    assert run.result.ret == 6
    assert standin.writes() == []
    assert run.gate["inconclusive_ignored"] == 1 and run.gate["verdict"] == "not needed"
    run.result.stdout.fnmatch_lines(
        ["*1 inconclusive gated test(s) did not trigger the gate (--gate-on-inconclusive ignore)"]
    )


def test_an_inconclusive_test_aborts_when_asked(
    pytester: pytest.Pytester, standin: K8sStandIn, run_pytest: Any
) -> None:
    pytester.makepyfile(test_unreachable=UNREACHABLE)
    run = run_pytest("--rollout", "tlog-ro", "--gate-on-inconclusive", "abort")
    assert run.result.ret == 6  # the gate acted: the run is still "could not ask"
    assert len(aborts(standin)) == 1
    (event,) = standin.events
    assert event["reason"] == "TLogCheckInconclusive"
    assert "check 'health' was inconclusive" in event["note"]
    assert "connection refused" in event["note"]


def test_a_gate_that_cannot_act_fails_the_run_and_names_the_rbac_verb(
    pytester: pytest.Pytester, standin: K8sStandIn, run_pytest: Any
) -> None:
    # RBAC that reads but may not patch the status: the abort is forbidden.
    standin.rules = [
        {"apiGroups": ["argoproj.io"], "resources": ["rollouts"], "verbs": ["get"]},
    ]
    pytester.makepyfile(
        test_unreachable="""
        import pytest
        from tlogcheck.errors import TargetUnreachable

        @pytest.mark.gate
        def test_health():
            raise TargetUnreachable("connection refused")
        """
    )
    run = run_pytest("--rollout", "tlog-ro", "--gate-on-inconclusive", "abort")
    # Inconclusive alone would exit 6; a gate that had to act and could not is a failure.
    assert run.result.ret == 1
    assert run.gate["verdict"] == "failed"
    assert "verb 'patch' on resource 'rollouts/status'" in run.gate["error"]
    run.result.stdout.fnmatch_lines(
        [
            "*gate: FAILED to act on rollout tlog/tlog-ro*403 Forbidden*"
            "verb 'patch' on resource 'rollouts/status' (apiGroup argoproj.io)*",
            "*gate: act by hand: kubectl -n tlog argo rollouts abort tlog-ro",
        ]
    )


def test_a_missing_rollout_fails_a_passing_run(
    pytester: pytest.Pytester, standin: K8sStandIn, run_pytest: Any
) -> None:
    pytester.makepyfile(test_ok="def test_fine():\n    pass\n")
    run = run_pytest("--rollout", "tlog-gone")
    assert run.result.ret == 1
    assert standin.writes() == []
    assert run.gate["preflight"]["ok"] is False
    assert "no Rollout 'tlog-gone' in namespace 'tlog'" in run.gate["error"]
    run.result.stdout.fnmatch_lines(["*gate: NOT ARMED for rollout tlog/tlog-gone*404*"])


def test_rejected_credentials_leave_no_trace_of_the_token(
    pytester: pytest.Pytester, standin: K8sStandIn, run_pytest: Any
) -> None:
    # The stand-in expects another token: every request is 401. The run_pytest helper
    # checks that neither token appears in the output or the report.
    standin.token = "the-token-the-server-expects-0000"
    pytester.makepyfile(test_gated=FAILING)
    run = run_pytest("--rollout", "tlog-ro", "-v", "--showlocals")
    assert run.result.ret == 1
    assert run.gate["verdict"] == "failed"
    assert "401 Unauthorized" in run.gate["error"]
    assert standin.token not in run.text
    assert all(not r.bearer_ok for r in standin.requests)


def test_abort_and_undo_through_a_5xx(
    pytester: pytest.Pytester, standin: K8sStandIn, run_pytest: Any
) -> None:
    standin.fail(500, times=1, when=lambda r: r.path.endswith("/status"))
    pytester.makepyfile(test_gated=FAILING)
    run = run_pytest("--rollout", "tlog-ro", "--gate-action", "abort+undo")
    assert [r.status for r in aborts(standin)] == [500, 200]
    steps = [(r["step"], r["attempt"], r["status"]) for r in run.gate["outcome"]["requests"]]
    assert steps[:2] == [("abort", 1, 500), ("abort", 2, 200)]
    assert run.gate["verdict"] == "acted"
    ro = standin.rollout()
    assert ro["status"]["abort"] is True
    assert ro["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":v1.0.5")
    assert run.gate["outcome"]["undo"]["to_revision"] == 2
    run.result.stdout.fnmatch_lines(
        ["*rollout tlog/tlog-ro aborted and rolled back to revision 2 (*:v1.0.5)*"]
    )


def test_the_rollout_gate_fixture_gates_a_test_and_adds_evidence(
    pytester: pytest.Pytester, standin: K8sStandIn, run_pytest: Any
) -> None:
    pytester.makepyfile(
        test_mine="""
        def test_not_gated_fails_first():
            assert False

        def test_my_check(rollout_gate):
            assert (rollout_gate.rollout, rollout_gate.namespace) == ("tlog-ro", "tlog")
            assert rollout_gate.armed and rollout_gate.action == "abort"
            rollout_gate.evidence("p95 412 ms > 300 ms on /v1/log/root")
            assert False
        """
    )
    run = run_pytest("--rollout", "tlog-ro")
    assert len(aborts(standin)) == 1
    # The ungated failure came first and did not trigger the gate.
    assert run.gate["triggered_by"]["nodeid"] == "test_mine.py::test_my_check"
    assert run.gate["later_failures"] == 0
    assert "p95 412 ms > 300 ms on /v1/log/root" in standin.events[0]["note"]


def test_gate_action_none_sends_nothing(
    pytester: pytest.Pytester, standin: K8sStandIn, run_pytest: Any
) -> None:
    pytester.makepyfile(test_gated=FAILING)
    run = run_pytest("--rollout", "tlog-ro", "--gate-action", "none")
    assert standin.requests == []
    assert run.gate["triggered_by"]["nodeid"] == "test_gated.py::test_a_root_fails"
    run.result.stdout.fnmatch_lines(["*--gate-action none: nothing sent to rollout tlog/tlog-ro"])


def test_an_action_without_a_rollout_is_a_usage_error(
    pytester: pytest.Pytester, run_pytest: Any
) -> None:
    pytester.makepyfile(test_ok="def test_fine():\n    pass\n")
    run = run_pytest("--gate-action", "abort+undo")
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--gate-action (command line) needs --rollout NAME" in run.text


def test_tests_of_the_synthetic_package_are_gated() -> None:
    class Module:
        def __init__(self, name: str) -> None:
            self.__name__ = name

    class Item:
        def __init__(self, module: str) -> None:
            self.module = Module(module)
            self.markers: list[str] = []

        def get_closest_marker(self, name: str) -> object:
            return name if name in self.markers else None

        def add_marker(self, mark: Any) -> None:
            self.markers.append(mark.name)

    items = [Item("tests_synthetic.test_root"), Item("tests.test_gate"), Item("tests_synthetic")]
    gate_plugin.pytest_collection_modifyitems(items)  # type: ignore[arg-type]
    assert [i.markers for i in items] == [["gate"], [], ["gate"]]


def test_the_synthetic_suite_is_gated_against_a_faulted_deployment(
    standin: K8sStandIn, run_pytest: Any
) -> None:
    """The real suite, the embedded deployment with a corrupted entry: the inclusion
    check fails and the gate aborts, once, with the check's alert and section."""
    run = run_pytest(
        "--pyargs",
        "tests_synthetic",
        "--tlog-embedded-entries=256",
        "--tlog-embedded-fault=corrupt-entry",
        "-m",
        "inclusion or root",
        "--rollout",
        "tlog-ro",
        target=False,
    )
    assert run.result.ret == 1
    assert run.report["summary"]["failed_checks"] == ["inclusion"]
    assert len(aborts(standin)) == 1
    g = run.gate
    assert g["verdict"] == "acted" and g["triggered_by"]["check"] == "inclusion"
    (event,) = standin.events
    assert "check 'inclusion' failed [TLogInclusionProofFail, playbook §3.2]" in event["note"]
    print(latency_line(standin, run), "(tests_synthetic)")


def test_the_event_names_the_evidence_bundle(
    pytester: pytest.Pytester, standin: K8sStandIn, run_pytest: Any
) -> None:
    pytester.makepyfile(test_gated=FAILING)
    bundle = pytester.path / "evidence"
    run = run_pytest("--rollout", "tlog-ro", "--tlog-evidence", str(bundle))
    assert run.result.ret == 1
    (event,) = standin.events
    # Nothing the test read accuses the log: the Event says so with the bundle's name.
    assert f"(evidence bundle: {bundle}; recorded so far: nothing shown)" in event["note"]
    assert (bundle / "manifest.json").is_file()


def test_the_event_cites_the_level_of_the_evidence(
    pytester: pytest.Pytester, standin: K8sStandIn, run_pytest: Any
) -> None:
    """A split view of the embedded deployment: the Event and the annotation say the
    recorded evidence proves it (the log's own signatures), the report says the same."""
    bundle = pytester.path / "evidence"
    run = run_pytest(
        "--pyargs",
        "tests_synthetic",
        "--tlog-embedded-entries=256",
        "--tlog-embedded-fault=split-view",
        # The checkpoints are read before this test fails: what was recorded proves it.
        "-k",
        "same_checkpoint",
        "--rollout",
        "tlog-ro",
        "--tlog-evidence",
        str(bundle),
        target=False,
    )
    assert run.result.ret == 1
    (event,) = standin.events
    assert f"(evidence bundle: {bundle}; recorded so far: proven: split view)" in event["note"]
    annotations = standin.rollout()["metadata"]["annotations"]
    assert "recorded so far: proven: split view" in annotations["tlogcheck/gate-reason"]
    assert run.report["evidence"]["level"] == "proven"
