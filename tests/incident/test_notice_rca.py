"""The §6 notice and §8 RCA drafted from JSON reports.

Golden files hold the Korean (and English) output for fixed reports of real runs
(`tests/incident/make_reports.py`): the suite against the reference deployment with
`corrupt-entry:512`, the gate armed (abort+undo, an invalidation command) against the
Kubernetes stand-in, and a later passing run; a `healthz-5xx` run and a later run of
`-m inclusion` only; a load phase with `latency:400`. Regenerate the goldens with
`TLOGCHECK_UPDATE_GOLDEN=1` after a deliberate change, and read the diff. The other
tests hold the drafts to the reports: every hash and time they print is in a report,
what no report says is said to be missing, recovery is claimed only when a later report
of the same target passed every test that failed, and each §3 hypothesis is marked from
what the report shows.
"""

from __future__ import annotations

import copy
import json
import os
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tlogcheck.cli import main
from tlogcheck.errors import ConfigError
from tlogcheck.incident import hypotheses, notice, rca, reports
from tlogcheck.playbook import NOTICE_LABELS, RCA_LABELS, SCENARIOS

HERE = Path(__file__).parent
REPORTS = HERE / "reports"
GOLDEN = HERE / "golden"
UPDATE = os.environ.get("TLOGCHECK_UPDATE_GOLDEN") == "1"

CASES = {
    # golden file -> (command line after the command name, in tests/incident/reports)
    "notice.ko.txt": ["notice", "failing.json", "passing.json"],
    "notice.ko.md": ["notice", "failing.json", "passing.json", "--format", "markdown"],
    "notice-open.ko.txt": ["notice", "failing.json"],
    "notice.en.txt": ["notice", "failing.json", "passing.json", "--lang", "en"],
    "rca.ko.md": ["rca", "failing.json", "passing.json"],
    "rca.en.md": ["rca", "failing.json", "passing.json", "--lang", "en"],
    "notice-partial.ko.txt": ["notice", "health.json", "health-inclusion-only.json"],
    "notice-partial.en.txt": [
        "notice", "health.json", "health-inclusion-only.json", "--lang", "en",
    ],
    "rca-partial.ko.md": ["rca", "health.json", "health-inclusion-only.json"],
    "notice-load.ko.txt": ["notice", "load.json"],
    "notice-load.en.txt": ["notice", "load.json", "--lang", "en"],
}  # fmt: skip


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("golden", sorted(CASES))
def test_golden(
    golden: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPORTS)
    code, out, _ = cli(CASES[golden], capsys)
    assert code == 0
    path = GOLDEN / golden
    if UPDATE:
        path.write_text(out, encoding="utf-8")
    assert out == path.read_text(encoding="utf-8")


def test_korean_uses_the_playbooks_labels_in_order() -> None:
    text = (GOLDEN / "notice.ko.txt").read_text(encoding="utf-8")
    starts = [line.split(":", 1)[0] for line in text.splitlines() if not line.startswith(" ")]
    assert starts == ["제목", "영향", "원인", "조치", "재발 방지"]
    assert starts == [
        NOTICE_LABELS[k].ko for k in ("title", "impact", "cause", "action", "prevention")
    ]
    assert text.startswith(
        "제목: [TLog] 포함증명 실패 (TLogInclusionProofFail): 항목 512 (조치 완료)\n"
    )
    heads = [
        ln[3:] for ln in (GOLDEN / "rca.ko.md").read_text().splitlines() if ln.startswith("## ")
    ]
    assert heads == [label.ko for label in RCA_LABELS.values()]


# --- the served facts, and nothing else --------------------------------------------------


def facts(doc: dict[str, Any]) -> dict[str, str]:
    gate = doc["gate"]
    return {
        "root": doc["served"]["edge"]["root_hash"],
        "release": next(iter(doc["releases"])),
        "alert": gate["triggered_by"]["alert"],
        "gate_time": gate["acted_at"][:19].replace("T", " "),
    }


def assert_nothing_invented(text: str, docs: list[dict[str, Any]]) -> None:
    """Every hash and time the draft prints is in one of the reports."""
    raw = "\n".join(json.dumps(d) for d in docs)
    for h in set(re.findall(r"\b[0-9a-f]{64}\b", text)):
        assert h in raw, f"{h} is in the draft but in no report"
    for day, clock in set(re.findall(r"(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) UTC", text)):
        assert f"{day}T{clock}" in raw, f"{day} {clock} is in the draft but in no report"
    for prefix in set(re.findall(r"\b([0-9a-f]{16})…", text)):  # a hash shown shortened
        assert re.search(prefix + "[0-9a-f]{48}", raw), f"{prefix}… is in no report"


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((REPORTS / name).read_text())
    return doc


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_notice_and_rca_carry_the_served_facts(lang: str) -> None:
    failing, passing = load("failing.json"), load("passing.json")
    inc = reports.incident(
        [
            reports.load_report(REPORTS / "failing.json"),
            reports.load_report(REPORTS / "passing.json"),
        ]
    )
    for text in (notice.render(inc, lang), rca.render(inc, lang)):
        for name, value in facts(failing).items():
            assert value in text, f"{name} {value} missing"
        assert_nothing_invented(text, [failing, passing])
    draft = rca.render(inc, lang)
    assert failing["db"]["sha256"] in draft
    assert failing["replay"]["command"] in draft
    assert passing["served"]["edge"]["root_hash"] in draft


def write(tmp: Path, name: str, doc: dict[str, Any]) -> Path:
    p = tmp / name
    p.write_text(json.dumps(doc))
    return p


def test_what_the_reports_lack_is_said_to_be_missing(tmp_path: Path) -> None:
    doc = load("failing.json")
    for key in ("gate", "served", "db", "replay", "releases", "edge_cache_status", "facts"):
        doc.pop(key, None)
    inc = reports.incident([reports.load_report(write(tmp_path, "bare.json", doc))])
    text = notice.render(inc, "ko")
    assert "게이트가 켜져 있지 않았음: 보고서에서 확인할 수 없음" in text
    assert "응답한 릴리스(X-TLog-Release): 보고서에서 확인할 수 없음" in text
    assert "엣지 캐시 미스율(정상 상태): 보고서에서 확인할 수 없음" in text
    assert "(확인 중)" in text and "복구 확인 전" in text
    # Without the served roots the edge's staleness is open, never ruled out.
    assert "CDN 구버전: 미결" in text
    draft = rca.render(inc, "en")
    assert "- **db.jsonl SHA-256**: not in the reports" in draft
    assert "- **seed and replay command**: not in the reports" in draft
    assert "| Recovery | not in the reports |" in draft
    assert_nothing_invented(text + draft, [doc])


def test_a_dry_run_gate_is_no_action(tmp_path: Path) -> None:
    doc = load("failing.json")
    doc["gate"]["verdict"] = "would act (dry run)"
    inc = reports.incident([reports.load_report(write(tmp_path, "dry.json", doc))])
    text = notice.render(inc, "en")
    assert "Action: gate dry run: nothing was sent" in text
    assert "canary aborted" not in text and "(under investigation)" in text


def test_a_failed_invalidation_is_reported_as_failed(tmp_path: Path) -> None:
    doc = copy.deepcopy(load("failing.json"))
    doc["gate"]["invalidation"].update(ok=False, exit_status=254)
    inc = reports.incident([reports.load_report(write(tmp_path, "inv.json", doc))])
    assert "CDN invalidation failed (exit status 254" in notice.render(inc, "en")


def test_the_passing_report_must_come_after_the_failure(tmp_path: Path) -> None:
    # A passing run from before the incident is no recovery.
    early = load("passing.json")
    early["run"]["started_at"] = "2000-01-01T00:00:00.000Z"
    inc = reports.incident(
        [
            reports.load_report(REPORTS / "failing.json"),
            reports.load_report(write(tmp_path, "early.json", early)),
        ]
    )
    assert inc.recovery is None


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("{not json", "not JSON"),
        ('["a list"]', "not a tlogcheck report"),
        ('{"checks": {}}', "not a tlogcheck report"),
    ],
)
def test_bad_reports_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, error: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    for command in ("notice", "rca"):
        code, out, err = cli([command, str(bad)], capsys)
        assert code == 2 and out == ""
        assert f"tlogcheck {command}: error: {bad}: {error}" in err


def test_no_failing_report_means_nothing_to_report(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(["notice", str(REPORTS / "passing.json")], capsys)
    assert code == 2 and "no report has a failing check" in err


def test_rca_out_writes_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rca" / "incident.md"
    code, stdout, err = cli(
        ["rca", str(REPORTS / "failing.json"), str(REPORTS / "passing.json"), "--out", str(out)],
        capsys,
    )
    assert code == 0 and stdout == "" and str(out) in err
    assert out.read_text().startswith(
        "# 사후 분석(RCA): [TLog] 포함증명 실패 (TLogInclusionProofFail): 항목 512 (조치 완료)"
    )


def test_rca_lists_the_evidence_bundles_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "evidence.tar.gz"
    bundle.write_bytes(b"\x1f\x8b")
    code, out, _ = cli(["rca", str(REPORTS / "failing.json"), "--bundle", str(bundle)], capsys)
    assert code == 0 and f"- **증거 번들**: `{bundle}`" in out
    code, _, err = cli(
        ["rca", str(REPORTS / "failing.json"), "--bundle", str(tmp_path / "gone")], capsys
    )
    assert code == 2 and "--bundle" in err and "no such file" in err


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:2]):
            out += _paths(v, (*prefix, i))
    return out


@pytest.mark.parametrize("junk", [None, "x", 7, [], {}, [1, "a"], {"a": None}])
def test_a_report_of_any_shape_drafts_or_is_refused_never_a_traceback(
    tmp_path: Path, junk: Any
) -> None:
    """Every value of the failing report, replaced in turn by junk of another type: the
    drafts come out, or the report is refused with a ConfigError naming it."""
    base = load("failing.json")
    for path in _paths(base):
        doc = copy.deepcopy(base)
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = junk
        p = write(tmp_path, "junk.json", doc)
        try:
            inc = reports.incident([reports.load_report(p)])
        except ConfigError:
            continue
        for lang in ("ko", "en"):
            assert notice.render(inc, lang)
            assert rca.render(inc, lang)


# --- recovery: only a later report of the same target that passed every failed test --------


def _incident(tmp: Path, *docs: tuple[str, dict[str, Any]], combine: bool = False) -> Any:
    return reports.incident(
        [reports.load_report(write(tmp, name, doc)) for name, doc in docs], combine=combine
    )


def _later(doc: dict[str, Any], minutes: int) -> dict[str, Any]:
    """The same report, run `minutes` later."""
    doc = copy.deepcopy(doc)
    for key in ("started_at", "finished_at"):
        at = datetime.fromisoformat(doc["run"][key].replace("Z", "+00:00"))
        doc["run"][key] = (at + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
    return doc


def test_a_later_pass_of_other_checks_confirms_no_recovery(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """/healthz answered 503; a later run of `-m inclusion` passed while it still did."""
    monkeypatch.chdir(REPORTS)
    for lang, words in (
        ("ko", ["(확인 중)", "복구 확인 전", "이후 보고서에서 실행되지 않음"]),
        ("en", ["(under investigation)", "recovery not yet confirmed", "not run by a later"]),
    ):
        code, text, _ = cli(
            ["notice", "health.json", "health-inclusion-only.json", "--lang", lang], capsys
        )
        assert code == 0
        for word in words:
            assert word in text
        assert "조치 완료" not in text and "(resolved)" not in text
        # What is unverified is named: the check, each test, and what the later run ran.
        assert "health (test_healthz_answers_200_within_the_timeout[edge], " in text
        assert "health-inclusion-only.json): inclusion" in text
    code, draft, _ = cli(["rca", "health.json", "health-inclusion-only.json"], capsys)
    assert code == 0
    assert "| 복구 | 보고서에서 확인할 수 없음 | 복구 확인 전 — " in draft
    assert "  - [ ] 복구 확인 전" in draft and "[x] 복구" not in draft


def test_recovery_needs_every_failed_test_to_pass_again(tmp_path: Path) -> None:
    failing, passing = load("failing.json"), load("passing.json")
    inc = _incident(tmp_path, ("f.json", failing), ("p.json", passing))
    assert inc.resolved and inc.recovery.path.endswith("p.json") and not inc.pending

    # The failed test skipped in the later run (e.g. -k that left it out): not shown.
    skipped = copy.deepcopy(passing)
    for t in skipped["checks"]["inclusion"]["tests"]:
        if "test_sampled_entries" in t["nodeid"]:
            t["outcome"] = "skipped"
    inc = _incident(tmp_path, ("f.json", failing), ("p.json", skipped))
    assert not inc.resolved
    assert [(p.check, p.outcome) for p in inc.pending] == [("inclusion", "skipped")]
    assert "skipped in " in notice.render(inc, "en")

    # Passed, then failed again in a still later report: not over.
    again = _later(failing, 1)
    inc = _incident(tmp_path, ("f.json", failing), ("p.json", passing), ("g.json", again))
    assert not inc.resolved and inc.pending[0].outcome == "failed"
    assert "failed again in " in notice.render(inc, "en")
    # ... and a pass after that closes it, at that pass.
    last = _later(passing, 2)
    inc = _incident(
        tmp_path, ("f.json", failing), ("p.json", passing), ("g.json", again), ("q.json", last)
    )
    assert inc.resolved and inc.recovery.path.endswith("q.json")


def test_the_same_test_whatever_directory_the_run_started_in(tmp_path: Path) -> None:
    passing = load("passing.json")
    for c in passing["checks"].values():
        for t in c["tests"]:
            t["nodeid"] = "../site-packages/tests_synthetic/" + t["nodeid"]
    passing["target"]["url"] = "HTTPS://TLOG.example.com/"  # one URL, spelled otherwise
    inc = _incident(tmp_path, ("f.json", load("failing.json")), ("p.json", passing))
    assert inc.resolved


def test_reports_of_different_targets_are_refused_unless_combined(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = load("passing.json")
    other["target"]["url"] = "https://tlog-staging.example.com"
    f = write(tmp_path, "f.json", load("failing.json"))
    p = write(tmp_path, "other.json", other)
    for command in ("notice", "rca"):
        code, out, err = cli([command, str(f), str(p)], capsys)
        assert code == 2 and out == ""
        assert f"{f}: https://tlog.example.com" in err
        assert f"{p}: https://tlog-staging.example.com" in err and "--combine" in err
    code, out, _ = cli(["notice", str(f), str(p), "--combine", "--lang", "en"], capsys)
    assert code == 0 and "(resolved)" not in out
    assert "recovery not yet confirmed — no later report of this target was given" in out
    assert f"reports of other targets (no evidence of this target's recovery): {p}" in out


# --- the served facts ---------------------------------------------------------------------


def test_the_cache_figure_is_the_steady_state_miss_ratio(tmp_path: Path) -> None:
    doc = load("failing.json")
    # The suite's own reads are mostly first reads (misses); they are not the figure.
    doc["edge_cache_status"] = [{"HIT": 100, "MISS": 900}]
    doc["facts"]["cache_miss_ratio"] = 0.42
    text = notice.render(_incident(tmp_path, ("f.json", doc)), "ko")
    assert "엣지 캐시 미스율(정상 상태): 42% (cache 검사가 워밍업 후 측정" in text
    assert "10%" not in text and "90%" not in text and "적중률" not in text


def test_the_health_notice_says_503_and_the_rca_of_512_names_512(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPORTS)
    _, text, _ = cli(["notice", "health.json"], capsys)
    assert text.startswith("제목: [TLog] /healthz 5xx 연속 (TLogAvailabilityDown): ")
    assert "/healthz HTTP 엣지 503, 원본 503" in text and "HTTP 503" in text.split("원인:")[1]
    _, draft, _ = cli(["rca", "failing.json", "--lang", "en"], capsys)
    assert "- Failing entries: 512\n" in draft and "1 failed: 512" in draft
    failing = load("failing.json")
    record = next(t for t in failing["checks"]["inclusion"]["tests"] if t["outcome"] == "failed")
    assert record["failure"]["facts"]["indices"] == [512]
    assert record["failure"]["facts"]["failures"][0]["leaf_hash"] in draft


def test_a_load_failure_names_its_alert_and_figures(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPORTS)
    doc = load("load.json")
    test = next(t for t in doc["checks"]["load"]["tests"] if t["outcome"] == "failed")
    # Structured like every check's failure, never pytest's dump of the fixtures.
    assert "load_result = " not in test["message"] and "LoadResult(" not in test["message"]
    for field in ("expected: p95 <= 300 ms", "served:   all: p95 ", "alert:    LatencyP95High"):
        assert field in test["message"]
    assert test["alert"] == "LatencyP95High"
    p95 = doc["load"]["total"]["p95_ms"]
    for lang, head in (("ko", "제목: [TLog] p95 지연↑"), ("en", "Title: [TLog] p95 latency up")):
        _, text, _ = cli(["notice", "load.json", "--lang", lang], capsys)
        assert text.startswith(f"{head} (LatencyP95High): p95 {p95} ms > 300 ms (")
        assert "load 검사 실패" not in text and "load checks failed" not in text
        assert f"p95 {p95} ms" in text.split("\n", 1)[1]  # the figures in 근거 too


def test_a_failure_is_reported_under_the_alert_it_carries(tmp_path: Path) -> None:
    """The suite names a 5xx met by a proof check Ingress5xxHigh (its `alert`): the notice
    follows the report, and no §3.2 (integrity) hypothesis is supported by it."""
    doc = load("failing.json")
    doc["gate"]["triggered_by"]["alert"] = "Ingress5xxHigh"
    for t in doc["checks"]["inclusion"]["tests"]:
        t["alert"] = "Ingress5xxHigh"
    doc["checks"]["db"]["tests"][0].update(outcome="failed", alert="Ingress5xxHigh")
    doc["summary"]["failed_checks"].append("db")
    text = notice.render(_incident(tmp_path, ("f.json", doc)), "ko")
    assert text.startswith("제목: [TLog] 5xx 비율 ↑ (Ingress5xxHigh)")
    assert "포함증명 실패" not in text.splitlines()[0]
    assert "경보 Ingress5xxHigh, 플레이북 §3.4" in text
    assert "가설 (§3.4): 플레이북에 이 시나리오의 가설 없음" in text
    assert "지지됨" not in text and "재발 방지: 변경점 축소 후 재시도" in text


def _judged(inc: Any, lang: str = "en") -> dict[str, str]:
    found = {}
    for scenario in hypotheses.scenarios(notice.alert_names(inc.failing)):
        for j in hypotheses.judge(inc, scenario):
            found[j.hypothesis.ko] = j.status
    return found


def test_each_hypothesis_is_marked_from_what_the_report_shows(tmp_path: Path) -> None:
    base = load("failing.json")
    assert _judged(_incident(tmp_path, ("f.json", base))) == {
        "`db.jsonl` 불일치/손상": "ruled_out",  # the db check passed on this run
        "빌드 스텝 누락": "open",
        "CDN 구버전": "ruled_out",  # edge root = origin root, parity passed
    }
    bad_db = copy.deepcopy(base)
    bad_db["checks"]["db"]["tests"][0].update(
        outcome="failed",
        alert="TLogInclusionProofFail",
        failure={"served": "sha256sum db.jsonl = 00ff", "expected": "SHA-256 aa"},
    )
    bad_db["summary"]["failed_checks"].append("db")
    assert _judged(_incident(tmp_path, ("f.json", bad_db)))["`db.jsonl` 불일치/손상"] == "supported"
    no_db = copy.deepcopy(base)
    for t in no_db["checks"]["db"]["tests"]:
        t.update(outcome="skipped", message="no --tlog-db given")
    no_db["checks"]["db"]["verdict"] = "skipped"
    assert _judged(_incident(tmp_path, ("f.json", no_db)))["`db.jsonl` 불일치/손상"] == "open"
    lag = copy.deepcopy(base)
    lag["served"]["edge"].update(tree_size=1000, root_hash="ab" * 32)
    assert _judged(_incident(tmp_path, ("f.json", lag)))["CDN 구버전"] == "open"
    stale = copy.deepcopy(base)
    stale["checks"]["parity"]["tests"][0].update(
        outcome="failed", alert="TLogInclusionProofFail", message="expected: x\nserved:   stale"
    )
    stale["summary"]["failed_checks"].append("parity")
    assert _judged(_incident(tmp_path, ("f.json", stale)))["CDN 구버전"] == "supported"
    text = rca.render(_incident(tmp_path, ("f.json", base)), "ko")
    assert "| `db.jsonl` 불일치/손상 (§3.2) | db 검사 통과; db.jsonl SHA-256 " in text
    assert "| CDN 구버전 (§3.2) | 엣지 루트 = 원본 루트 1024:" in text and "| 배제됨 |" in text
    assert "기입 필요 | 검증 필요" not in text


def test_every_hypothesis_of_the_playbook_has_a_rule() -> None:
    words = {h.ko for s in SCENARIOS.values() for h in s.hypotheses}
    assert words == set(hypotheses.JUDGES)


# --- --out: never over an input; nothing lost --------------------------------------------


def test_rca_out_over_an_input_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = write(tmp_path, "R.json", load("failing.json"))
    before = f.read_bytes()
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for out, why in (
        (str(f), "is the input REPORT.json"),
        (str(tmp_path / "." / "R.json"), "is the input REPORT.json"),
        (str(bundle), "is a directory"),
        ("/proc/no/rca.md", "cannot be created"),
    ):
        code, stdout, err = cli(["rca", str(f), "--bundle", str(bundle), "--out", out], capsys)
        assert code == 2 and stdout == "", out
        assert f"--out {out}: " in err and why in err, err
    assert f.read_bytes() == before


def test_an_rca_that_cannot_be_written_goes_to_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tlogcheck.cli import rca as rca_cli

    def broken(path: str, text: str, *, option: str) -> Path:
        raise ConfigError(f"{option} {path}: not written: [Errno 28] No space left on device")

    monkeypatch.setattr(rca_cli, "write_text", broken)
    out = tmp_path / "rca.md"
    code, stdout, err = cli(["rca", str(REPORTS / "failing.json"), "--out", str(out)], capsys)
    assert code == 2 and stdout.startswith("# 사후 분석(RCA)")
    assert "No space left on device" in err and "the draft is on stdout" in err


def test_rca_lists_the_bundle_the_run_wrote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CI job copies the report and its bundle together: found beside the report."""
    f = write(tmp_path, "failing.json", load("failing.json"))
    code, out, _ = cli(["rca", str(f)], capsys)
    assert code == 0 and "- **증거 번들**: 보고서에서 확인할 수 없음" in out
    (tmp_path / "evidence").mkdir()
    (tmp_path / "evidence" / "manifest.json").write_text("{}")
    code, out, _ = cli(["rca", str(f)], capsys)
    assert code == 0 and f"- **증거 번들**: `{tmp_path / 'evidence'}`" in out
