"""The §6 notice and §8 RCA drafted from JSON reports.

Golden files hold the Korean (and English) output for two fixed reports: a run of the
suite against the reference deployment with `corrupt-entry`, the gate armed
(abort+undo, an invalidation command) against the Kubernetes stand-in, and a later
passing run. Regenerate them with `TLOGCHECK_UPDATE_GOLDEN=1` after a deliberate change,
and read the diff. The other tests hold the drafts to the reports: every hash and
time they print is in a report, and what no report says is said to be missing.
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tlogcheck.cli import main
from tlogcheck.errors import ConfigError
from tlogcheck.incident import notice, rca, reports
from tlogcheck.playbook import NOTICE_LABELS, RCA_LABELS

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
}


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
    assert text.startswith("제목: [TLog] 포함증명 실패 (조치 완료)\n")
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
    for key in ("gate", "served", "db", "replay", "releases", "edge_cache_status"):
        doc.pop(key, None)
    inc = reports.incident([reports.load_report(write(tmp_path, "bare.json", doc))])
    text = notice.render(inc, "ko")
    assert "게이트가 켜져 있지 않았음: 보고서에서 확인할 수 없음" in text
    assert "응답한 릴리스(X-TLog-Release): 보고서에서 확인할 수 없음" in text
    assert "엣지 캐시 적중률: 보고서에서 확인할 수 없음" in text
    assert "(확인 중)" in text and "복구 확인 전" in text
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
    assert out.read_text().startswith("# 사후 분석(RCA): [TLog] 포함증명 실패 (조치 완료)")


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
