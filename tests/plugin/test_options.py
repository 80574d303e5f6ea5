"""The suite's options: usage errors name the option and its source; precedence; header."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tlogcheck.options.target import http_url, seed_value
from tlogcheck.plugin.suite import OPTIONS, Target
from tlogcheck.plugin.target import plan

pytest_plugins = ["pytester"]

# Nothing listens here: runs that need no answer (--co, usage errors) point at it.
NOWHERE = "http://127.0.0.1:9"


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--pyargs", "tests_synthetic", "-p", "no:cacheprovider", *args
    )


def _plan(pytester: pytest.Pytester, *args: str) -> Target:
    """The options as the plugin resolves them, in this process: parsing needs no run."""
    return plan(pytester.parseconfig("--pyargs", "tests_synthetic", *args))


def _usage_error(pytester: pytest.Pytester, *args: str) -> str:
    with pytest.raises(pytest.UsageError) as info:
        _plan(pytester, *args)
    return str(info.value)


@pytest.mark.parametrize(
    "args, words",
    [
        (("--tlog-url=ftp://tlog.example.com",), r"--tlog-url \(command line\).*http://"),
        (("--tlog-url=https://x.example.com/?q=1",), r"--tlog-url \(command line\).*no query"),
        (("--tlog-known-root=12:abcd",), r"--tlog-known-root.*64 hex"),
        (("--tlog-known-root=abc",), r"--tlog-known-root.*SIZE:HEX"),
        (("--tlog-sample=-3",), r"--tlog-sample.*>= 0"),
        (("--tlog-sample=many",), r"--tlog-sample"),
        (("--tlog-timeout=0",), r"--tlog-timeout.*positive"),
        (("--tlog-seed=x",), r"--tlog-seed"),
        (("--tlog-vkey=/nonexistent/key.vkey",), r"--tlog-vkey \(command line\)"),
        (("--tlog-vkey=not a key",), r"--tlog-vkey \(command line\)"),
        (("--tlog-db=/nonexistent/db.jsonl",), r"--tlog-db \(command line\).*not a readable file"),
        (("--tlog-db-sha256=/nonexistent/db.jsonl.sha256",), r"--tlog-db-sha256 \(command line\)"),
        (
            ("--tlog-state=/nonexistent/dir/state.json",),
            r"--tlog-state \(command line\).*directory",
        ),
        (("--tlog-origin-url=http://origin.example.com",), r"--tlog-origin-url.*needs --tlog-url"),
        (("--tlog-embedded-fault=no-such-fault",), r"--tlog-embedded-fault.*unknown fault"),
        (("--tlog-embedded-fault=latency",), r"--tlog-embedded-fault.*needs an argument"),
        (("--tlog-embedded-entries=0",), r"--tlog-embedded-entries.*positive"),
    ],
)
def test_bad_option_is_a_usage_error_naming_it(
    pytester: pytest.Pytester, args: tuple[str, ...], words: str
) -> None:
    text = _usage_error(pytester, *args)
    assert re.search(words, text), text


def test_bad_option_ends_the_run_with_exit_4(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # End to end, once from the command line and once from the environment.
    result = _run(pytester, "--tlog-sample=-3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert re.search(r"--tlog-sample \(command line\).*>= 0", result.stderr.str())
    monkeypatch.setenv("TLOG_SAMPLE", "lots")
    result = _run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "env TLOG_SAMPLE" in result.stderr.str()


def test_usage_error_names_env_and_ini_sources(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TLOG_SAMPLE", "lots")
    assert "env TLOG_SAMPLE" in _usage_error(pytester)
    monkeypatch.delenv("TLOG_SAMPLE")
    pytester.makeini("[pytest]\ntlog_known_root = 5:abc\n")
    assert "ini tlog_known_root" in _usage_error(pytester)


def test_corrupt_state_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    state = pytester.path / "state.json"
    state.write_text("{not json")
    text = _usage_error(pytester, f"--tlog-state={state}")
    assert "state file" in text and "not JSON" in text


def test_precedence_command_line_over_env_over_ini(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini(f"[pytest]\ntlog_seed = 11\ntlog_url = {NOWHERE}\ntlog_sample = 5\n")
    monkeypatch.setenv("TLOG_SEED", "22")
    t = _plan(pytester, "--tlog-seed=33")
    assert (t.seed, t.sample) == (33, 5)
    assert _plan(pytester).seed == 22
    monkeypatch.delenv("TLOG_SEED")
    t = _plan(pytester)
    assert (t.seed, t.url) == (11, NOWHERE)
    # The header says what the plan says.
    result = _run(pytester, "--co")
    assert "seed 11 " in result.stdout.str() and f"target {NOWHERE}" in result.stdout.str()


def test_header_names_target_origin_view_seed_and_facts(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester, "--co", f"--tlog-url={NOWHERE}/", "--tlog-origin-url=http://127.0.0.1:8",
        f"--tlog-known-root=3:{'ab' * 32}", "--tlog-seed=7",
    )  # fmt: skip
    out = result.stdout.str()
    assert f"tlogcheck: target {NOWHERE}\n" in out  # the trailing slash is dropped
    assert "origin view: origin URL http://127.0.0.1:8" in out
    assert "seed 7 (replay with --tlog-seed=7)" in out
    assert "verifier keys 0, db none, known roots 1, state none" in out


def test_random_seed_is_printed_and_differs(pytester: pytest.Pytester) -> None:
    out = _run(pytester, "--co", f"--tlog-url={NOWHERE}").stdout.str()
    found = re.search(r"seed (\d+) \(replay with --tlog-seed=\1\)", out)
    assert found, out
    seeds = {int(found.group(1)), _plan(pytester, f"--tlog-url={NOWHERE}").seed}
    assert len(seeds) == 2


def test_unrelated_runs_start_no_deployment(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "tlogcheck: target" not in result.stdout.str()


def test_every_option_has_env_and_ini_twins() -> None:
    for option in OPTIONS:
        assert option.flag.startswith("--tlog-")
        assert option.env == option.flag[2:].upper().replace("-", "_")
        assert option.ini == option.flag[2:].replace("-", "_")


@pytest.mark.parametrize("raw", ["https://tlog.example.com", "http://127.0.0.1:8080/base/"])
def test_http_url_accepts(raw: str) -> None:
    assert http_url(raw) == raw.rstrip("/")


@pytest.mark.parametrize("raw", ["tlog.example.com", "file:///x", "http://", "http://h:99999"])
def test_http_url_rejects(raw: str) -> None:
    with pytest.raises(ValueError):
        http_url(raw)


def test_seed_range() -> None:
    assert seed_value(" 42 ") == 42
    with pytest.raises(ValueError):
        seed_value(str(2**64))


def test_target_wire_round_trip(tmp_path: Path) -> None:
    from tlogcheck.state import parse_known_root

    t = Target(
        url="https://tlog.example.com", origin_url=None, vkeys=("k+00000000+AQ==",),
        embedded=False, seed=5, timeout=2.5, sample=9, indices=(3, 1), db=str(tmp_path),
        db_sha256=bytes(32), db_sha256_source="given as hex",
        known_roots=(parse_known_root(f"4:{'cd' * 32}"),), state_path="/s.json",
    )  # fmt: skip
    assert Target.from_wire(t.to_wire()) == t
    # The replay asks as the run asked: its keys, db, recorded trees and timeout.
    assert t.replay_command(check="inclusion", index=3) == (
        "pytest --pyargs tests_synthetic --tlog-url=https://tlog.example.com "
        f"--tlog-vkey=k+00000000+AQ== --tlog-db={tmp_path} --tlog-db-sha256={'00' * 32} "
        f"--tlog-known-root=4:{'cd' * 32} --tlog-timeout=2.5 --tlog-seed=5 "
        "-m inclusion --tlog-index=3"
    )
    assert t.verify_args() == " --tlog-vkey=k+00000000+AQ== --tlog-timeout=2.5"
