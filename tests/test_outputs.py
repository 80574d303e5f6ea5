"""tlogcheck.outputs: every path a run writes is checked before the run, written whole or
not at all, never over an input or an earlier bundle.

The machine's tests run as root, whom permission bits do not stop: the unwritable paths
here are those no one can write (under /proc, below a regular file)."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

import pytest

from tlogcheck.errors import ConfigError
from tlogcheck.outputs import Output, check_outputs, new_directory, write_text


def _refused(outputs: list[Output], inputs: Sequence[tuple[str, str]] = ()) -> str:
    with pytest.raises(ConfigError) as exc:
        check_outputs(outputs, inputs)
    return str(exc.value)


def test_writable_paths_pass_and_leave_nothing_behind(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    check_outputs(
        [
            Output("--report", str(tmp_path / "r.json")),
            Output("--deep", str(tmp_path / "a" / "b" / "r.json")),  # created when written
            Output("--bundle", str(tmp_path / "new-bundle"), "bundle"),
            Output("--empty", str(tmp_path / "empty"), "bundle"),
            Output("--dir", str(tmp_path / "load"), "dir"),
        ]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_each_refusal_names_the_option_and_the_path(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    old = tmp_path / "old-bundle"
    old.mkdir()
    (old / "manifest.json").write_text("{}")
    cases = [
        (Output("--report", "/proc/nope/r.json"), "cannot be created"),
        (Output("--report", str(afile / "r.json")), "is not a directory"),
        (Output("--report", str(tmp_path)), "is a directory, not a file"),
        (Output("--bundle", str(old), "bundle"), "already holds 1 file(s) (manifest.json)"),
        (Output("--bundle", str(afile), "bundle"), "exists and is not a directory"),
        (Output("--dir", str(afile / "load"), "dir"), "is not a directory"),
    ]
    for out, why in cases:
        text = _refused([out])
        assert text.startswith(f"{out.option} {out.path}: ") and why in text, text


def test_an_input_is_never_an_output(tmp_path: Path) -> None:
    db = tmp_path / "db.jsonl"
    db.write_text("{}\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(db)
    for path in (str(db), str(link), str(tmp_path / "." / "db.jsonl")):
        text = _refused([Output("--out", path)], [("--tlog-db", str(db))])
        assert "is the input --tlog-db" in text


def test_outputs_never_collide_nor_sit_inside_a_bundle(tmp_path: Path) -> None:
    same = str(tmp_path / "r.json")
    text = _refused([Output("--a", same), Output("--b", same)])
    assert "--a and --b both name" in text
    bundle = str(tmp_path / "ev")
    text = _refused([Output("--ev", bundle, "bundle"), Output("--report", f"{bundle}/r.json")])
    assert "--report" in text and "inside the evidence bundle --ev" in text


def test_write_text_is_atomic_and_readable_by_others(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "metrics.prom"
    old = os.umask(0o022)
    try:
        write_text(out, "a 1\n", option="--m")
    finally:
        os.umask(old)
    assert out.read_text() == "a 1\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o644  # a node_exporter can read it
    write_text(out, "a 2\n", option="--m")
    assert out.read_text() == "a 2\n" and os.listdir(out.parent) == ["metrics.prom"]
    with pytest.raises(ConfigError, match=r"^--m /proc/nope/x: not written: "):
        write_text("/proc/nope/x", "y", option="--m")


def test_a_bundle_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    final = tmp_path / "bundle"
    with new_directory(final, option="--out") as work:
        (work / "bundle.json").write_text("{}")
        assert not final.exists()  # nothing half-written is ever at the path
    assert os.listdir(final) == ["bundle.json"]
    assert stat.S_IMODE(final.stat().st_mode) & 0o055  # the umask's mode, not 0700

    broken = tmp_path / "broken"
    with pytest.raises(RuntimeError), new_directory(broken, option="--out") as work:
        (work / "half").write_text("x")
        raise RuntimeError("the writer failed")
    assert not broken.exists() and os.listdir(tmp_path) == ["bundle"]

    with (
        pytest.raises(ConfigError, match=r"^--out .*: not written: "),
        new_directory(tmp_path / "nospace", option="--out") as work,
    ):
        raise OSError(28, "No space left on device")
    assert os.listdir(tmp_path) == ["bundle"]


def test_a_directory_filled_during_the_run_is_not_written_over(tmp_path: Path) -> None:
    final = tmp_path / "bundle"
    with (
        pytest.raises(ConfigError, match="appeared during the run"),
        new_directory(final, option="--out") as work,
    ):
        (work / "new").write_text("x")
        final.mkdir()
        (final / "someone-else").write_text("y")
    assert os.listdir(final) == ["someone-else"]
    assert sorted(os.listdir(tmp_path)) == ["bundle"]
