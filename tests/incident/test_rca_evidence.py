"""`tlogcheck rca`'s 증빙 cites the level of the run's evidence bundle: proven, shown or
nothing shown, as the run's offline verification with its keys decided it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tlogcheck.cli import main

REPORTS = Path(__file__).parent / "reports"


def _rca(tmp_path: Path, capsys: pytest.CaptureFixture[str], evidence: Any, *args: str) -> str:
    doc = json.loads((REPORTS / "failing.json").read_text())
    if evidence is not None:
        doc["evidence"] = evidence
    report = tmp_path / "failing.json"
    report.write_text(json.dumps(doc))
    assert main(["rca", str(report), *args]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(
    "level, ko, en",
    [
        ("proven", "입증됨", "proven (the log's own signatures"),
        ("shown", "관측됨, 입증 아님", "shown, not proven"),
        ("none", "보인 것 없음", "nothing shown"),
    ],
)
def test_the_evidence_line_cites_the_level(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], level: str, ko: str, en: str
) -> None:
    strongest = "PROVEN: split view: the log 'tlog.example.com/log' signed two trees"
    bundle = tmp_path / "ev"  # the run's own bundle, where its report says it is
    bundle.mkdir()
    (bundle / "manifest.json").write_text("{}")
    evidence = {"bundle": str(bundle), "written": True, "level": level, "strongest": strongest}
    text = _rca(tmp_path, capsys, evidence)
    (line,) = [ln for ln in text.splitlines() if ln.startswith("- **증거 번들**")]
    assert f"`{bundle}` — " + ko in line
    text = _rca(tmp_path, capsys, evidence, "--lang", "en")
    (line,) = [ln for ln in text.splitlines() if ln.startswith("- **evidence bundle**")]
    assert f"`{bundle}` — " + en in line and strongest in line


def test_a_bundle_the_report_names_but_that_is_nowhere_is_not_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = str(tmp_path / "gone")
    evidence = {"bundle": gone, "written": True, "level": "proven", "strongest": "PROVEN: x"}
    text = _rca(tmp_path, capsys, evidence, "--lang", "en")
    assert "- **evidence bundle**: not in the reports" in text


def test_a_bundle_given_by_hand_is_listed_without_a_level_it_does_not_have(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "other"
    bundle.mkdir()
    text = _rca(tmp_path, capsys, None, "--lang", "en", "--bundle", str(bundle))
    (line,) = [ln for ln in text.splitlines() if ln.startswith("- **evidence bundle**")]
    assert line == f"- **evidence bundle**: `{bundle}`"
    text = _rca(tmp_path, capsys, None, "--lang", "en")
    assert "- **evidence bundle**: not in the reports" in text
