"""tlogcheck.state: known roots and the state file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tlogcheck.errors import ConfigError
from tlogcheck.state import State, load_state, parse_known_root, save_state

ROOT = "ab" * 32


def test_parse_known_root() -> None:
    k = parse_known_root(f"1024:{ROOT.upper()}")
    assert (k.tree_size, k.root_hash) == (1024, bytes.fromhex(ROOT))
    assert k.source == f"--tlog-known-root 1024:{ROOT}"
    assert "1024:" in k.describe()


@pytest.mark.parametrize(
    "text, words",
    [
        (ROOT, "SIZE:HEX"),
        (f"0:{ROOT}", "positive"),
        (f"012:{ROOT}", "decimal"),
        (f"-3:{ROOT}", "decimal"),
        (f"x:{ROOT}", "decimal"),
        ("5:abcd", "64 hex"),
        (f"5:{ROOT}00", "64 hex"),
        (f"5:{'zz' * 32}", "64 hex"),
    ],
)
def test_parse_known_root_rejects(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_known_root(text)


def test_state_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    assert load_state(path) is None
    st = State(7, bytes.fromhex(ROOT), "2024-01-01T00:00:00Z", "https://tlog.example.com")
    save_state(path, st)
    assert load_state(path) == st
    doc = json.loads(path.read_text())
    assert doc == {
        "tree_size": 7,
        "root_hash": ROOT,
        "verified_at": "2024-01-01T00:00:00Z",
        "url": "https://tlog.example.com",
    }
    assert "state file" in st.known_tree(str(path)).source
    # Atomic: no temporary file is left beside it.
    assert os.listdir(tmp_path) == ["state.json"]


def test_save_replaces_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.json"
    save_state(path, State(1, bytes(32), "t", "u"))

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        save_state(path, State(2, bytes(32), "t", "u"))
    monkeypatch.undo()
    # The old state survives whole and the temporary file is gone.
    loaded = load_state(path)
    assert loaded is not None and loaded.tree_size == 1
    assert os.listdir(tmp_path) == ["state.json"]


@pytest.mark.parametrize(
    "content, words",
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({"tree_size": 0, "root_hash": ROOT}), "tree_size"),
        (json.dumps({"tree_size": True, "root_hash": ROOT}), "tree_size"),
        (json.dumps({"tree_size": 3, "root_hash": "abc"}), "root_hash"),
        (json.dumps({"root_hash": ROOT}), "tree_size"),
    ],
)
def test_corrupt_state_is_a_config_error(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=words):
        load_state(path)
