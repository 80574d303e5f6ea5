"""The CDN invalidation hook (--gate-invalidate): run once after a real abort, with the
gate's variables, bounded; never in dry run, on a healthy run or when the gate failed.

The gate runs against the Kubernetes API stand-in (fixtures of test_plugin); the hook
is a real `sh -c` command that writes what it saw to a file. The ci/cdn scripts run
with a fake `aws` / `curl` first on PATH that records its argv and stdin.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.gate import test_plugin
from tests.gate.test_plugin import FAILING, aborts
from tests.k8s_standin import K8sStandIn
from tlogcheck.gate.invalidate import ENV_NAMES, environment, run_invalidation

# The stand-in and the pytester runner of the gate's own tests.
standin = test_plugin.standin
run_pytest = test_plugin.run_pytest

REPO = Path(__file__).resolve().parents[2]
CDN = REPO / "ci" / "cdn"

PASSING = """
import pytest

@pytest.mark.gate
def test_fine():
    pass
"""


def recorder(tmp: Path) -> tuple[str, Path]:
    """A hook command that appends its TLOG_ variables (one JSON object a run) to a file."""
    out = tmp / "hook-runs.jsonl"
    code = (
        "import json, os; "
        f"open({str(out)!r}, 'a').write(json.dumps("
        "{k: v for k, v in os.environ.items() if k.startswith('TLOG_')}) + '\\n')"
    )
    cmd = f"{shlex.quote(sys.executable)} -c {shlex.quote(code)} && echo invalidated OK"
    return cmd, out


def runs_of(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- the runner alone ----------------------------------------------------------------------


def test_the_command_gets_the_variables_and_its_tail_is_kept() -> None:
    env = environment(
        rollout="tlog-ro",
        namespace="tlog",
        check="root",
        alert="TLogInclusionProofFail",
        release="v1.0.6,v1.0.5",
        url="https://tlog.example",
        reason="tlogcheck: rollout aborted: check 'root' failed",
    )
    assert tuple(env) == ENV_NAMES
    inv = run_invalidation('echo "$TLOG_ROLLOUT $TLOG_RELEASE"; echo oops >&2; exit 3', env, 30)
    assert inv.ran and not inv.ok and inv.exit_status == 3
    assert inv.output_tail.splitlines() == ["tlog-ro v1.0.6,v1.0.5", "oops"]
    assert inv.to_json()["env"]["TLOG_ALERT"] == "TLogInclusionProofFail"


def test_output_is_bounded_to_its_tail() -> None:
    inv = run_invalidation(
        "i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done", {}, 30, tail_bytes=200
    )
    assert inv.ok
    assert len(inv.output_tail.encode()) <= 200
    assert inv.output_tail.rstrip().endswith("line-2999")
    assert inv.to_json()["output_truncated"] is True


def test_a_command_past_its_deadline_is_killed_with_what_it_started(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    start = time.monotonic()
    inv = run_invalidation(f"sleep 60 & echo $! > {pidfile}; echo started; wait", {}, 1.0)
    assert time.monotonic() - start < 30
    assert inv.timed_out and not inv.ok
    assert "killed at its 1 s deadline" in inv.describe()
    assert "started" in inv.output_tail
    child = int(pidfile.read_text())
    for _ in range(100):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the command's child survived the deadline")


def test_a_dry_run_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    inv = run_invalidation(f"touch {marker}", {}, 30, dry_run=True)
    assert not inv.ran and not marker.exists()
    assert inv.describe().startswith("would run")


# --- in the gate, against the stand-in ------------------------------------------------------


def test_the_hook_runs_once_after_a_real_abort(
    pytester: pytest.Pytester, standin: K8sStandIn, run_pytest: Any
) -> None:
    cmd, out = recorder(pytester.path)
    pytester.makepyfile(test_gated=FAILING)
    run = run_pytest("--rollout", "tlog-ro", "--gate-invalidate", cmd)
    assert run.result.ret == 1
    assert len(aborts(standin)) == 1
    (seen,) = runs_of(out)
    assert seen["TLOG_ROLLOUT"] == "tlog-ro" and seen["TLOG_NAMESPACE"] == "tlog"
    assert seen["TLOG_CHECK"] == "root" and seen["TLOG_ALERT"] == "TLogInclusionProofFail"
    assert seen["TLOG_URL"] == "http://127.0.0.1:9"
    assert "check 'root' failed" in seen["TLOG_REASON"]
    inv = run.gate["invalidation"]
    assert inv["ran"] and inv["ok"] and inv["exit_status"] == 0
    assert "invalidated OK" in inv["output_tail"]
    # The abort's Event, then the invalidation's.
    assert [e["reason"] for e in standin.events] == ["TLogCheckFailed", "TLogCheckCDNInvalidated"]
    assert "exited 0" in standin.events[1]["note"]
    assert "invalidated OK" in standin.events[1]["note"]
    assert inv["event"] == standin.events[1]["metadata"]["name"]
    run.result.stdout.fnmatch_lines(
        ["*gate: CDN invalidation: `*` exited 0 after *", "*| invalidated OK"]
    )


def test_a_failing_hook_is_reported_and_its_event_is_a_warning(
    pytester: pytest.Pytester, standin: K8sStandIn, run_pytest: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("TLOG_GATE_INVALIDATE", "echo 'AccessDenied: cloudfront' >&2; exit 254")
    pytester.makepyfile(test_gated=FAILING)
    run = run_pytest("--rollout", "tlog-ro", "--gate-action", "abort+undo")
    inv = run.gate["invalidation"]
    assert inv["exit_status"] == 254 and not inv["ok"]
    assert inv["output_tail"].strip() == "AccessDenied: cloudfront"
    assert standin.events[-1]["reason"] == "TLogCheckCDNInvalidationFailed"
    assert standin.events[-1]["type"] == "Warning"
    run.result.stdout.fnmatch_lines(["*CDN invalidation: `*` exited 254*", "*| AccessDenied*"])


def test_no_hook_in_dry_run_it_is_shown_instead(
    pytester: pytest.Pytester, standin: K8sStandIn, run_pytest: Any
) -> None:
    cmd, out = recorder(pytester.path)
    pytester.makepyfile(test_gated=FAILING)
    run = run_pytest("--rollout", "tlog-ro", "--gate-dry-run", "--gate-invalidate", cmd)
    assert standin.requests == []
    assert runs_of(out) == []
    assert run.gate["invalidation"]["ran"] is False and run.gate["invalidation"]["dry_run"]
    run.result.stdout.fnmatch_lines(
        [
            "*gate (dry run): CDN invalidation: would run `*` (dry run: not run)*",
            "*TLOG_CHECK='root'*",
        ]
    )


def test_no_hook_on_a_healthy_run(
    pytester: pytest.Pytester, standin: K8sStandIn, run_pytest: Any
) -> None:
    cmd, out = recorder(pytester.path)
    pytester.makepyfile(test_ok=PASSING)
    run = run_pytest("--rollout", "tlog-ro", "--gate-invalidate", cmd)
    assert run.result.ret == 0
    assert runs_of(out) == [] and run.gate["invalidation"] is None
    assert standin.writes() == []


def test_no_hook_when_the_abort_failed(
    pytester: pytest.Pytester, standin: K8sStandIn, run_pytest: Any
) -> None:
    standin.rules = [{"apiGroups": ["argoproj.io"], "resources": ["rollouts"], "verbs": ["get"]}]
    cmd, out = recorder(pytester.path)
    pytester.makepyfile(test_gated=FAILING)
    run = run_pytest("--rollout", "tlog-ro", "--gate-invalidate", cmd)
    assert run.result.ret == 1 and run.gate["verdict"] == "failed"
    assert runs_of(out) == []
    assert run.gate["invalidation_skipped"] == "not run: the gate's abort did not succeed"
    run.result.stdout.fnmatch_lines(["*CDN invalidation not run: the gate's abort did not succeed"])


def test_no_hook_with_gate_action_none(
    pytester: pytest.Pytester, standin: K8sStandIn, run_pytest: Any
) -> None:
    cmd, out = recorder(pytester.path)
    pytester.makepyfile(test_gated=FAILING)
    run_pytest("--rollout", "tlog-ro", "--gate-action", "none", "--gate-invalidate", cmd)
    assert runs_of(out) == [] and standin.requests == []


def test_bad_timeout_and_a_hook_without_rollout_are_usage_errors(
    pytester: pytest.Pytester, run_pytest: Any, monkeypatch: Any
) -> None:
    pytester.makepyfile(test_ok=PASSING)
    run = run_pytest("--gate-invalidate", "true")
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--gate-invalidate (command line) needs --rollout NAME" in run.text
    monkeypatch.setenv("TLOG_GATE_INVALIDATE_TIMEOUT", "-1")
    run = run_pytest("--rollout", "tlog-ro", "--gate-invalidate", "true")
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "TLOG_GATE_INVALIDATE_TIMEOUT" in run.text and "positive" in run.text


# --- the ci/cdn scripts, with a fake CLI on PATH ------------------------------------------------


def fake_tool(bindir: Path, name: str, log: Path, exit_status: int = 0) -> None:
    """A `name` on PATH that records argv and stdin as one JSON line, then exits."""
    bindir.mkdir(exist_ok=True)
    tool = bindir / name
    tool.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"open({str(log)!r}, 'a').write(json.dumps("
        "{'argv': sys.argv, 'stdin': sys.stdin.read()}) + '\\n')\n"
        'print(\'{"Invalidation": {"Status": "InProgress"}}\')\n'
        f"sys.exit({exit_status})\n"
    )
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)


def gate_env(bindir: Path) -> dict[str, str]:
    return {
        "PATH": f"{bindir}:{os.environ['PATH']}",
        **environment(
            rollout="tlog-ro",
            namespace="tlog",
            check="inclusion",
            alert="TLogInclusionProofFail",
            release="v1.0.6",
            url="https://tlog.example/",
            reason="tlogcheck: rollout aborted",
        ),
    }


def test_the_cloudfront_script_invalidates_the_mutable_paths(tmp_path: Path) -> None:
    log = tmp_path / "aws.jsonl"
    fake_tool(tmp_path / "bin", "aws", log)
    env = {**gate_env(tmp_path / "bin"), "CLOUDFRONT_DISTRIBUTION_ID": "E2EXAMPLE"}
    inv = run_invalidation(str(CDN / "cloudfront-invalidate.sh"), env, 30)
    assert inv.ok, inv.output_tail
    (call,) = runs_of(log)
    argv = call["argv"][1:]
    assert argv[:4] == ["cloudfront", "create-invalidation", "--distribution-id", "E2EXAMPLE"]
    batch = json.loads(argv[argv.index("--invalidation-batch") + 1])
    assert batch["Paths"] == {
        "Quantity": 3,
        "Items": ["/v1/log/root", "/v1/log/checkpoint", "/v1/log/proof/*"],
    }
    assert batch["CallerReference"].startswith("tlogcheck-tlog-tlog-ro-")
    assert "TLogInclusionProofFail" in inv.output_tail


def test_the_cloudfront_script_refuses_without_a_distribution(tmp_path: Path) -> None:
    log = tmp_path / "aws.jsonl"
    fake_tool(tmp_path / "bin", "aws", log)
    inv = run_invalidation(str(CDN / "cloudfront-invalidate.sh"), gate_env(tmp_path / "bin"), 30)
    assert inv.exit_status not in (0, None)
    assert "CLOUDFRONT_DISTRIBUTION_ID" in inv.output_tail
    assert runs_of(log) == []


def test_a_refused_cloudfront_call_fails_the_hook(tmp_path: Path) -> None:
    fake_tool(tmp_path / "bin", "aws", tmp_path / "aws.jsonl", exit_status=254)
    env = {**gate_env(tmp_path / "bin"), "CLOUDFRONT_DISTRIBUTION_ID": "E2EXAMPLE"}
    inv = run_invalidation(str(CDN / "cloudfront-invalidate.sh"), env, 30)
    assert inv.exit_status == 254


def test_the_cloudflare_script_purges_by_url_and_keeps_the_token_off_argv(
    tmp_path: Path,
) -> None:
    log = tmp_path / "curl.jsonl"
    fake_tool(tmp_path / "bin", "curl", log)
    token = "cf-token-7f3a9d0c1e"
    env = {
        **gate_env(tmp_path / "bin"),
        "CLOUDFLARE_ZONE_ID": "zone123",
        "CLOUDFLARE_API_TOKEN": token,
    }
    inv = run_invalidation(str(CDN / "cloudflare-purge.sh"), env, 30)
    assert inv.ok, inv.output_tail
    (call,) = runs_of(log)
    argv = call["argv"][1:]
    assert token not in " ".join(argv)
    assert call["stdin"] == f"Authorization: Bearer {token}\n"
    assert argv[-1] == "https://api.cloudflare.com/client/v4/zones/zone123/purge_cache"
    body = json.loads(argv[argv.index("--data") + 1])
    assert body == {
        "files": ["https://tlog.example/v1/log/root", "https://tlog.example/v1/log/checkpoint"]
    }
    assert "--fail-with-body" in argv


def test_the_cloudflare_script_prefers_the_public_url(tmp_path: Path) -> None:
    log = tmp_path / "curl.jsonl"
    fake_tool(tmp_path / "bin", "curl", log)
    env = {
        **gate_env(tmp_path / "bin"),
        "CLOUDFLARE_ZONE_ID": "z",
        "CLOUDFLARE_API_TOKEN": "t",
        "CDN_PUBLIC_URL": "https://log.example.org",
    }
    assert run_invalidation(str(CDN / "cloudflare-purge.sh"), env, 30).ok
    (call,) = runs_of(log)
    assert "https://log.example.org/v1/log/root" in " ".join(call["argv"])


def test_the_real_suite_aborts_then_runs_the_cloudfront_script(
    tmp_path: Path, standin: K8sStandIn, run_pytest: Any, monkeypatch: Any
) -> None:
    """tests_synthetic against the embedded deployment with a corrupted entry: the gate
    aborts once, then ci/cdn/cloudfront-invalidate.sh calls (a fake) aws once."""
    log = tmp_path / "aws.jsonl"
    fake_tool(tmp_path / "bin", "aws", log)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setenv("CLOUDFRONT_DISTRIBUTION_ID", "E2EXAMPLE")
    run = run_pytest(
        "--pyargs",
        "tests_synthetic",
        "--tlog-embedded-entries=256",
        "--tlog-embedded-fault=corrupt-entry",
        "-m",
        "inclusion or root",
        "--rollout",
        "tlog-ro",
        "--gate-invalidate",
        str(CDN / "cloudfront-invalidate.sh"),
        target=False,
    )
    assert run.result.ret == 1
    assert len(aborts(standin)) == 1
    (call,) = runs_of(log)
    assert "create-invalidation" in call["argv"]
    inv = run.gate["invalidation"]
    assert inv["ok"] and inv["env"]["TLOG_CHECK"] == "inclusion"
    assert inv["env"]["TLOG_ALERT"] == "TLogInclusionProofFail"
    assert inv["env"]["TLOG_RELEASE"]  # the embedded deployment names its release
    assert inv["env"]["TLOG_URL"].startswith("http://127.0.0.1:")
