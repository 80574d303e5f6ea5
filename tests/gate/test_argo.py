"""tlogcheck.gate.argo against the Kubernetes API stand-in, through the real kubernetes client.

Nothing of the client is mocked: it reads a kubeconfig pointing at the stand-in on
loopback and talks HTTP to it; the stand-in records what reached it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.k8s_standin import K8sStandIn, Recorded, closed_port_url, rbac_rules, selector_matches
from tlogcheck.errors import ConfigError, GateError
from tlogcheck.gate import argo as gate
from tlogcheck.gate.kube import Permission, load_access, resolve_namespace

TOKEN = "kubeconfig-secret-token-7f3a9c1e5b"
CI = Path(__file__).resolve().parents[2] / "ci"
REASON = gate.Reason(
    test="tests_synthetic/test_inclusion.py::test_sampled_entries",
    check="inclusion",
    alert="TLogInclusionProofFail",
    section="§3.2",
    evidence="expected: root 5d1e… served: root 9a0b…",
)


@pytest.fixture
def standin() -> Iterator[K8sStandIn]:
    with K8sStandIn(token=TOKEN) as s:
        s.seed_rollout()
        yield s


@pytest.fixture
def kubeconfig(standin: K8sStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = standin.write_kubeconfig(tmp_path / "kubeconfig")
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


class Sleeps:
    """Records backoff delays instead of sleeping: the tests stay fast."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_gate(
    name: str = "tlog-ro", *, dry_run: bool = False, sleeps: Sleeps | None = None
) -> gate.RolloutGate:
    access = load_access()
    return gate.RolloutGate(
        name, "tlog", access=access, dry_run=dry_run, sleep=sleeps or Sleeps(), backoff=0.2
    )


def writes_to(standin: K8sStandIn, suffix: str) -> list[Recorded]:
    return [r for r in standin.writes() if r.path.endswith(suffix)]


# --- abort ---------------------------------------------------------------------------------


def test_abort_is_a_merge_patch_of_the_status_subresource(
    standin: K8sStandIn, kubeconfig: Path
) -> None:
    g = make_gate()
    ro = g.abort()
    g.close()
    assert ro is not None and ro["status"]["abort"] is True
    (patch,) = standin.writes()
    assert patch.method == "PATCH"
    assert patch.path == "/apis/argoproj.io/v1alpha1/namespaces/tlog/rollouts/tlog-ro/status"
    assert patch.content_type == "application/merge-patch+json"
    assert patch.body == {"status": {"abort": True}}
    assert patch.bearer_ok
    assert standin.rollout()["status"]["abort"] is True


def test_abort_falls_back_to_the_main_resource_without_a_status_subresource(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with K8sStandIn(token=TOKEN, status_subresource=False) as s:
        s.seed_rollout()
        monkeypatch.setenv("KUBECONFIG", str(s.write_kubeconfig(tmp_path / "kc")))
        g = make_gate()
        g.abort()
        g.close()
        first, second = s.writes()
        assert first.path.endswith("/rollouts/tlog-ro/status") and first.status == 404
        assert second.path.endswith("/rollouts/tlog-ro") and second.status == 200
        assert second.content_type == "application/merge-patch+json"
        assert second.body == {"status": {"abort": True}}
        assert s.rollout()["status"]["abort"] is True


def test_a_missing_rollout_is_named(standin: K8sStandIn, kubeconfig: Path) -> None:
    g = make_gate("tlog-nope")
    with pytest.raises(GateError) as err:
        g.abort()
    g.close()
    text = str(err.value)
    assert "404" in text and "no Rollout 'tlog-nope' in namespace 'tlog'" in text
    # Status subresource first, then the main resource, as kubectl does; no retries.
    assert [r.path.rsplit("/", 1)[-1] for r in standin.writes()] == ["status", "tlog-nope"]


def test_act_records_why_in_an_event_and_annotations(standin: K8sStandIn, kubeconfig: Path) -> None:
    g = make_gate()
    outcome = g.act("abort", REASON)
    g.close()
    assert outcome.error is None and outcome.aborted and outcome.annotated
    (event,) = standin.events
    ro = standin.rollout()
    assert event["regarding"] == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "name": "tlog-ro",
        "namespace": "tlog",
        "uid": ro["metadata"]["uid"],
        "resourceVersion": event["regarding"]["resourceVersion"],
    }
    assert event["type"] == "Warning" and event["reason"] == "TLogCheckFailed"
    assert event["reportingController"] == "tlogcheck" and event["action"] == "Abort"
    for part in ("aborted", "inclusion", "TLogInclusionProofFail", "§3.2", REASON.test, "9a0b"):
        assert part in event["note"]
    assert outcome.event == event["metadata"]["name"]
    annotations = ro["metadata"]["annotations"]
    assert annotations[gate.REASON_ANNOTATION] == event["note"]
    assert gate.ACTED_AT_ANNOTATION in annotations
    # The abort goes first: the reason never delays it.
    assert [r.path.rsplit("/", 1)[-1] for r in standin.writes()] == [
        "status",
        "events",
        "tlog-ro",
    ]
    (post,) = writes_to(standin, "/events")
    assert post.content_type == "application/json"


def test_a_long_reason_is_clipped_to_the_event_limit(standin: K8sStandIn, kubeconfig: Path) -> None:
    long = gate.Reason(test="t::x", check="db", evidence="x" * 5000)
    g = make_gate()
    outcome = g.act("abort", long)
    g.close()
    assert outcome.error is None
    assert 0 < len(standin.events[0]["note"]) <= gate.MESSAGE_LIMIT


# --- undo ----------------------------------------------------------------------------------


def test_undo_restores_the_previous_revision(standin: K8sStandIn, kubeconfig: Path) -> None:
    before = standin.rollout()
    g = make_gate()
    result = g.undo()
    g.close()
    assert (result.from_revision, result.to_revision, result.skipped) == (3, 2, False)
    assert result.image == "ghcr.io/example/tlog-ro:v1.0.5"
    (patch,) = standin.writes()
    assert patch.path == "/apis/argoproj.io/v1alpha1/namespaces/tlog/rollouts/tlog-ro"
    assert patch.content_type == "application/json-patch+json"
    (op,) = patch.body
    assert (op["op"], op["path"]) == ("replace", "/spec/template")
    rev2 = next(
        rs
        for rs in standin.replicasets.values()
        if rs["metadata"]["annotations"][gate.REVISION_ANNOTATION] == "2"
    )
    expected = json.loads(json.dumps(rev2["spec"]["template"]))
    del expected["metadata"]["labels"][gate.POD_TEMPLATE_HASH_LABEL]
    assert op["value"] == expected
    after = standin.rollout()
    assert after["spec"]["template"] == expected
    assert gate.POD_TEMPLATE_HASH_LABEL not in after["spec"]["template"]["metadata"]["labels"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    listed = [r for r in standin.requests if r.path.endswith("/replicasets")]
    assert listed[0].query == {"labelSelector": ["app=tlog-ro"]}


def test_undo_ignores_replicasets_another_owner_controls(
    standin: K8sStandIn, kubeconfig: Path
) -> None:
    # The decoy has the Rollout's labels and revision 99: only ownership tells it apart.
    assert any(rs["metadata"]["name"].endswith("decoy") for rs in standin.replicasets.values())
    g = make_gate()
    assert g.undo().to_revision == 2
    g.close()


def test_undo_skips_when_the_template_already_matches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with K8sStandIn(token=TOKEN) as s:
        # The Rollout already runs revision 2's template (the server defaulted fields in
        # the ReplicaSet's copy): nothing to restore.
        s.seed_rollout(current=2)
        monkeypatch.setenv("KUBECONFIG", str(s.write_kubeconfig(tmp_path / "kc")))
        g = make_gate()
        result = g.undo()
        g.close()
        assert result.skipped and result.to_revision == 2
        assert s.writes() == []


def test_undo_without_history_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with K8sStandIn(token=TOKEN) as s:
        s.seed_rollout(images=["ghcr.io/example/tlog-ro:v1.0.0"])
        monkeypatch.setenv("KUBECONFIG", str(s.write_kubeconfig(tmp_path / "kc")))
        g = make_gate()
        with pytest.raises(GateError, match="no previous revision"):
            g.undo()
        g.close()
        assert s.writes() == []


def test_abort_and_undo(standin: K8sStandIn, kubeconfig: Path) -> None:
    g = make_gate()
    outcome = g.act("abort+undo", REASON)
    g.close()
    assert outcome.error is None
    assert outcome.undo is not None and outcome.undo.to_revision == 2
    ro = standin.rollout()
    assert ro["status"]["abort"] is True
    assert ro["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":v1.0.5")
    assert "rolled back to revision 2" in standin.events[0]["note"]


def test_previous_revision_rules() -> None:
    uid = "u-1"

    def rs(rev: str | None, owner: str = uid) -> dict[str, Any]:
        ann = {} if rev is None else {gate.REVISION_ANNOTATION: rev}
        refs = [{"uid": owner, "controller": True}]
        return {"metadata": {"annotations": ann, "ownerReferences": refs}, "spec": {}}

    ro = {"metadata": {"uid": uid, "name": "r"}}
    latest, prev, _ = gate.previous_revision(ro, [rs("3"), rs("5"), rs("4"), rs("9", "other")])
    assert (latest, prev) == (5, 4)
    # A missing annotation counts as revision 0; an unparsable one is skipped.
    assert gate.previous_revision(ro, [rs(None), rs("x"), rs("1")])[:2] == (1, 0)
    with pytest.raises(GateError):
        gate.previous_revision(ro, [rs("1"), rs("x")])


def test_label_selector_is_what_the_stand_in_and_the_api_server_parse() -> None:
    sel = {
        "matchLabels": {"app": "tlog-ro", "tier": "origin"},
        "matchExpressions": [
            {"key": "track", "operator": "In", "values": ["stable", "canary"]},
            {"key": "legacy", "operator": "DoesNotExist"},
        ],
    }
    text = gate.label_selector(sel)
    assert text == "app=tlog-ro,!legacy,tier=origin,track in (canary,stable)"
    assert selector_matches(text, {"app": "tlog-ro", "tier": "origin", "track": "canary"})
    assert not selector_matches(text, {"app": "tlog-ro", "tier": "origin", "track": "x"})
    assert not selector_matches(
        text, {"app": "tlog-ro", "tier": "origin", "track": "canary", "legacy": "1"}
    )
    with pytest.raises(GateError):
        gate.label_selector(None)


def test_derivative_ignores_what_the_rollout_leaves_unset() -> None:
    rollout_t = {"spec": {"containers": [{"name": "a", "image": "x:1"}]}}
    rs_t = {
        "spec": {
            "containers": [{"name": "a", "image": "x:1", "imagePullPolicy": "Always"}],
            "restartPolicy": "Always",
        }
    }
    assert gate.derivative(rollout_t, rs_t)
    assert not gate.derivative(rs_t, rollout_t)
    assert not gate.derivative({"spec": {"containers": [{"image": "x:2"}]}}, rs_t)


# --- API errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("permission", gate.PERMISSIONS, ids=lambda p: f"{p.verb}-{p.resource}")
def test_ci_rbac_is_exactly_enough(
    permission: Permission, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """abort+undo+reason pass under ci/rbac.yaml's Role; without any one rule of it, the
    403 names the missing verb and resource."""
    rules = rbac_rules(CI / "rbac.yaml")
    fewer = []
    for rule in rules:
        verbs = [
            v
            for v in rule["verbs"]
            if not (
                v == permission.verb
                and permission.resource in rule["resources"]
                and permission.group in rule["apiGroups"]
            )
        ]
        if verbs:
            fewer.append({**rule, "verbs": verbs})
    assert fewer != rules, f"ci/rbac.yaml does not grant {permission}"
    for granted, expect_error in ((rules, False), (fewer, True)):
        with K8sStandIn(token=TOKEN, rules=granted) as s:
            s.seed_rollout()
            monkeypatch.setenv("KUBECONFIG", str(s.write_kubeconfig(tmp_path / "kc")))
            g = make_gate()
            outcome = g.act("abort+undo", REASON)
            g.close()
        if not expect_error:
            assert outcome.error is None, outcome.error
            continue
        assert outcome.error is not None
        assert "403" in outcome.error
        assert f"verb '{permission.verb}' on resource '{permission.resource}'" in outcome.error
        assert permission.can_i("tlog") in outcome.error


def test_get_without_rbac_names_the_verb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with K8sStandIn(token=TOKEN, rules=[]) as s:
        s.seed_rollout()
        monkeypatch.setenv("KUBECONFIG", str(s.write_kubeconfig(tmp_path / "kc")))
        g = make_gate()
        with pytest.raises(GateError) as err:
            g.get_rollout()
        g.close()
        assert "verb 'get' on resource 'rollouts' (apiGroup argoproj.io)" in str(err.value)
        assert len(s.requests) == 1  # 403 is not retried


@pytest.mark.parametrize("code", [500, 502, 503, 504, 409, 429])
def test_transient_errors_are_retried_with_backoff(
    code: int, standin: K8sStandIn, kubeconfig: Path
) -> None:
    standin.fail(code, times=2, when=lambda r: r.path.endswith("/status"))
    sleeps = Sleeps()
    g = make_gate(sleeps=sleeps)
    outcome = g.act("abort", REASON)
    g.close()
    assert outcome.error is None and outcome.aborted
    statuses = [r.status for r in writes_to(standin, "/status")]
    assert statuses == [code, code, 200]
    assert sleeps.delays == [0.2, 0.4]
    assert [r.attempt for r in outcome.requests if r.step == "abort"] == [1, 2, 3]


def test_5xx_that_persists_fails_the_gate(standin: K8sStandIn, kubeconfig: Path) -> None:
    standin.fail(503, times=100)
    sleeps = Sleeps()
    g = make_gate(sleeps=sleeps)
    outcome = g.act("abort", REASON)
    g.close()
    assert not outcome.aborted
    assert outcome.error is not None
    assert "503 from the API server after 4 attempt(s)" in outcome.error
    assert "unable to handle the request" in outcome.error
    assert len(standin.writes()) == 4 and len(sleeps.delays) == 3


def test_wrong_token_is_401_and_never_shown(
    standin: K8sStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "wrong-token-0123456789abcdef"
    kc = tmp_path / "kc"
    standin.write_kubeconfig(kc)
    kc.write_text(kc.read_text().replace(TOKEN, wrong))
    monkeypatch.setenv("KUBECONFIG", str(kc))
    g = make_gate()
    outcome = g.act("abort", REASON)
    g.close()
    assert outcome.error is not None and "401 Unauthorized" in outcome.error
    assert "rejected the credentials" in outcome.error and str(kc) in outcome.error
    dumped = json.dumps(outcome.to_json()) + outcome.error
    assert wrong not in dumped and TOKEN not in dumped


def test_unreachable_api_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with K8sStandIn(token=TOKEN) as s:
        kc = s.write_kubeconfig(tmp_path / "kc")
        url = s.url
    kc.write_text(kc.read_text().replace(url, closed_port_url()))
    monkeypatch.setenv("KUBECONFIG", str(kc))
    sleeps = Sleeps()
    g = make_gate(sleeps=sleeps)
    outcome = g.act("abort", REASON)
    g.close()
    assert outcome.error is not None
    assert "unreachable after 4 attempt(s)" in outcome.error
    assert len(sleeps.delays) == 3
    assert all(not r.status for r in outcome.requests)


def test_redaction_hides_the_token(standin: K8sStandIn, kubeconfig: Path) -> None:
    access = load_access()
    text = access.redact(f"Authorization: Bearer {TOKEN} in a message")
    access.close()
    assert TOKEN not in text and "<redacted>" in text


# --- dry run -------------------------------------------------------------------------------


def test_dry_run_sends_nothing_and_describes_exactly_what_a_run_sends(
    standin: K8sStandIn, kubeconfig: Path
) -> None:
    dry = make_gate(dry_run=True)
    planned = dry.act("abort", REASON)
    dry.close()
    assert standin.requests == []
    assert planned.error is None and planned.dry_run
    real = make_gate()
    real.act("abort", REASON)
    real.close()
    sent = standin.writes()
    assert len(planned.requests) == len(sent) == 3
    for plan, wire in zip(planned.requests, sent, strict=True):
        assert plan.sent is False
        assert (plan.method, plan.path, plan.content_type) == (
            wire.method,
            wire.path,
            wire.content_type,
        )
        if plan.step == "abort":
            assert plan.body == wire.body
    line = planned.requests[0].line(planned.host)
    assert line == (
        f"PATCH {standin.url}/apis/argoproj.io/v1alpha1/namespaces/tlog/rollouts/tlog-ro/status"
        '  Content-Type: application/merge-patch+json  {"status":{"abort":true}}'
    )


def test_dry_run_needs_no_cluster() -> None:
    g = gate.RolloutGate("tlog-ro", "tlog", access=None, dry_run=True)
    outcome = g.act("abort+undo", REASON)
    assert outcome.error is None
    assert (
        outcome.requests[0]
        .line(outcome.host)
        .startswith(
            "PATCH https://<api-server>/apis/argoproj.io/v1alpha1/namespaces/tlog/rollouts/"
            "tlog-ro/status"
        )
    )
    assert [r.method for r in outcome.requests] == ["PATCH", "GET", "GET", "PATCH", "POST", "PATCH"]
    assert outcome.done() == "would be aborted and rolled back to the previous revision"
    with pytest.raises(GateError):
        gate.RolloutGate("tlog-ro", "tlog", access=None, dry_run=False)


# --- configuration -------------------------------------------------------------------------


def test_namespace_precedence(
    standin: K8sStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(standin.write_kubeconfig(tmp_path / "a", namespace="ops")))
    access = load_access()
    assert resolve_namespace("prod", access) == ("prod", "option")
    assert resolve_namespace(None, access)[0] == "ops"
    access.close()
    monkeypatch.setenv("KUBECONFIG", str(standin.write_kubeconfig(tmp_path / "b", namespace=None)))
    access = load_access()
    assert resolve_namespace(None, access) == ("tlog", "default")
    access.close()


def test_no_configuration_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigError, match="no Kubernetes credentials"):
        load_access()


def test_a_broken_kubeconfig_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "kc"
    bad.write_text("apiVersion: v1\nkind: Config\ncurrent-context: nowhere\ncontexts: []\n")
    monkeypatch.setenv("KUBECONFIG", str(bad))
    with pytest.raises(ConfigError, match="cannot load the Kubernetes configuration"):
        load_access()


def test_permissions_name_their_can_i_command() -> None:
    assert gate.PATCH_ROLLOUT_STATUS.can_i("tlog") == (
        "kubectl auth can-i patch rollouts.argoproj.io --subresource=status -n tlog"
    )
    assert gate.CREATE_EVENT.can_i("x") == "kubectl auth can-i create events.events.k8s.io -n x"


def test_the_reason_names_the_evidence_bundle_before_its_evidence() -> None:
    reason = gate.Reason(
        test="t::x", check="inclusion", alert="TLogInclusionProofFail", section="§3.2",
        evidence="e" * 5000, bundle="/var/lib/tlogcheck/evidence",
    )  # fmt: skip
    message = reason.message("aborted")
    assert "(evidence bundle: /var/lib/tlogcheck/evidence)" in message
    assert reason.to_json()["bundle"] == "/var/lib/tlogcheck/evidence"
    # With the level of what was recorded up to the failure, before the evidence text too.
    proven = gate.Reason(
        test="t::x", evidence="e" * 5000, bundle="/b", evidence_level="proven: split view"
    ).message("aborted")
    assert "(evidence bundle: /b; recorded so far: proven: split view)" in proven
