"""The deployment options: --tlog-header, --tlog-ca-bundle, --tlog-proxy, --tlog-run-timeout.

Usage errors name the option and its source without echoing a secret; the environment
twin of --tlog-header takes one header per line; the run header shows names, never values.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

NOWHERE = "http://127.0.0.1:9"


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--pyargs", "tests_synthetic", "-p", "no:cacheprovider", *args
    )


@pytest.mark.parametrize(
    "args, words",
    [
        (("--tlog-run-timeout=0",), r"--tlog-run-timeout \(command line\).*positive"),
        (("--tlog-run-timeout=soon",), r"--tlog-run-timeout"),
        (("--tlog-ca-bundle=/nonexistent/ca.pem",), r"--tlog-ca-bundle.*not a readable file"),
        (("--tlog-proxy=socks5://proxy:1080",), r"--tlog-proxy.*http:// or https://"),
        (("--tlog-header=NoColonHere",), r"--tlog-header \(command line\).*Name: value"),
        (("--tlog-header=Host: elsewhere",), r"--tlog-header.*set by tlogcheck"),
    ],
)
def test_bad_option_is_a_usage_error_naming_it(
    pytester: pytest.Pytester, args: tuple[str, ...], words: str
) -> None:
    result = _run(pytester, f"--tlog-url={NOWHERE}", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert re.search(words, result.stderr.str()), result.stderr.str()


def test_a_bad_ca_bundle_file_is_refused(pytester: pytest.Pytester, tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("garbage\n")
    result = _run(pytester, f"--tlog-url={NOWHERE}", f"--tlog-ca-bundle={bad}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "cannot be loaded" in result.stderr.str()


def test_secrets_in_bad_values_are_not_echoed(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester,
        f"--tlog-url={NOWHERE}",
        "--tlog-proxy=ftp://ops:hunter2-x@proxy:21",
        "--tlog-header=Authorization Bearer zz-token-zz",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = result.stdout.str() + result.stderr.str()
    assert "hunter2-x" not in text and "zz-token-zz" not in text


def test_headers_from_the_environment_one_per_line(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TLOG_HEADER", "X-One: v1-secret\nX-Two: a, b, c-secret\n")
    result = _run(pytester, f"--tlog-url={NOWHERE}", "--co", "--tlog-run-timeout=42")
    text = result.stdout.str()
    assert "headers sent on every request: X-One: <redacted>, X-Two: <redacted>" in text
    assert "run budget 42s (--tlog-run-timeout)" in text
    assert "secret" not in text
