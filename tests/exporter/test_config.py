"""The exporter's config: modules checked at load, bad ones refused naming the file and
the key, credentials only with a list of targets, secrets never shown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tlogcheck.errors import ConfigError
from tlogcheck.exporter.config import CHECKS, load_config, parse_config
from tlogcheck.note import signer_from_seed

_, VKEY = signer_from_seed("tlog.example.com/log", bytes(32))
SECRET = "s3cret-token-value"


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "exporter.yaml"
    path.write_text(text)
    return str(path)


def headers_file(tmp_path: Path, text: str = f"X-Access-Token: {SECRET}\n") -> Path:
    path = tmp_path / "headers"
    path.write_text(text)
    return path


def test_a_module_gets_the_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, f"modules:\n  prod:\n    vkey: [{VKEY!r}]\n"))
    prod = config.modules["prod"]
    assert (prod.api, prod.timeout, prod.sample, prod.checks) == ("v1", 10.0, 8, CHECKS)
    assert prod.targets == () and prod.credentials == [] and prod.max_body == 2**20


def test_relative_paths_are_read_from_the_config_directory(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "log.vkey").write_text(VKEY + "\n")
    headers_file(tmp_path)
    config = load_config(
        write(
            tmp_path,
            "modules:\n  prod:\n    vkey: keys/log.vkey\n    headers_file: headers\n"
            "    targets: [https://tlog.example.com]\n"
            "    origin_url: https://TLOG.example.com./origin\n",
        )
    )
    prod = config.modules["prod"]
    assert prod.verifiers[0].name == "tlog.example.com/log"
    assert prod.headers == (("X-Access-Token", SECRET),)
    assert prod.origin_url == "https://tlog.example.com/origin"
    assert prod.credentials == ["headers_file"]
    assert SECRET in config.secrets()
    shown = repr(prod) + str(prod.describe())
    assert SECRET not in shown and "X-Access-Token: <redacted>" in shown


@pytest.mark.parametrize(
    ("body", "where", "problem"),
    [
        ("[]", "", "want a mapping"),
        ("modules: {}", "modules", "at least one module"),
        ("module:\n  x: {}", "module", "unknown key"),
        ("modules:\n  x:\n    target: [http://a]", "modules.x.target", "unknown key"),
        ("modules:\n  'bad name': {checks: [health]}", "modules.bad name", "module name"),
        ("modules:\n  x: {api: v2, checks: [health]}", "modules.x.api", "'v2' is not one of"),
        ("modules:\n  x: {checks: [health, proof]}", "modules.x.checks", "'proof'"),
        ("modules:\n  x: {checks: []}", "modules.x.checks", "want a list"),
        (f"modules:\n  x: {{checks: [consistency], vkey: '{VKEY}'}}", "modules.x.checks",
         "add checkpoint"),  # fmt: skip
        ("modules:\n  x: {}", "modules.x.vkey", "need the log's verifier key"),
        ("modules:\n  x: {vkey: nokey}", "modules.x.vkey[0]", "neither a verifier key"),
        ("modules:\n  x: {checks: [health], timeout: 0}", "modules.x.timeout", "not within"),
        ("modules:\n  x: {checks: [health], timeout: ten}", "modules.x.timeout", "a number"),
        ("modules:\n  x: {checks: [health], sample: 1.5}", "modules.x.sample", "whole number"),
        ("modules:\n  x: {checks: [health], max_body: 10}", "modules.x.max_body", "not within"),
        (
            "modules:\n  x: {checks: [health], targets: [ftp://a]}",
            "modules.x.targets[0]",
            "not http",
        ),  # fmt: skip
        (
            "modules:\n  x: {checks: [health], targets: [http://u@a]}",
            "modules.x.targets[0]",
            "user:password@",
        ),  # fmt: skip
        (
            "modules:\n  x: {checks: [health], headers_file: missing}",
            "modules.x.headers_file",
            "cannot read",
        ),  # fmt: skip
        (
            "modules:\n  x: {checks: [health], ca_bundle: missing.pem}",
            "modules.x.ca_bundle",
            "not a readable file",
        ),  # fmt: skip
        (
            "modules:\n  x: {checks: [health], proxy: socks5://p}",
            "modules.x.proxy",
            "value not shown",
        ),  # fmt: skip
        (
            "modules:\n  x: {checks: [health], targets: [http://a], origin_url: http://b}",
            "modules.x.origin_url",
            "not within the module's targets",
        ),  # fmt: skip
        ("modules:\n  x: [1", "", "not YAML at line"),
    ],
)
def test_a_bad_config_names_the_file_and_the_key(
    tmp_path: Path, body: str, where: str, problem: str
) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {where}: " if where else f"{path}: "), message
    assert problem in message, message


@pytest.mark.parametrize(
    "module",
    [
        "headers_file: headers",
        "proxy: http://user:pw-SECRET@proxy.corp:3128",
        "proxy_file: proxyurl",
    ],
)
def test_credentials_without_targets_are_refused_naming_the_module(
    tmp_path: Path, module: str
) -> None:
    headers_file(tmp_path)
    (tmp_path / "proxyurl").write_text("http://user:pw-SECRET@proxy.corp:3128\n")
    path = write(tmp_path, f"modules:\n  prod:\n    checks: [health]\n    {module}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "modules.prod: module prod carries credentials" in message
    assert "lists no targets" in message
    assert SECRET not in message and "pw-SECRET" not in message


def test_the_same_modules_with_targets_are_accepted(tmp_path: Path) -> None:
    headers_file(tmp_path)
    (tmp_path / "proxyurl").write_text("http://user:pw-SECRET@proxy.corp:3128\n")
    config = parse_config(
        "modules:\n"
        "  a: {checks: [health], headers_file: headers, targets: [https://t.example]}\n"
        "  b: {checks: [health], proxy_file: proxyurl, targets: [https://t.example]}\n"
        "  c: {checks: [health], proxy: 'http://proxy.corp:3128'}\n",
        str(tmp_path / "x.yaml"),
    )
    assert config.modules["b"].credentials == ["a proxy URL with credentials"]
    assert config.modules["c"].credentials == []  # a proxy without a password is none
    secrets = config.secrets()
    assert "pw-SECRET" in secrets and SECRET in secrets
    assert "pw-SECRET" not in str(config.modules["b"].describe())


def test_secrets_are_scrubbed_from_text_in_every_spelling_but_not_trifles() -> None:
    from tlogcheck.exporter.redact import REDACTED, Redactor

    redactor = Redactor([SECRET, "p@ss word/1", "1"])
    text = f"echo {SECRET} and p%40ss%20word%2F1 and p@ss word/1; probe_success 1.0"
    scrubbed = redactor.scrub(text)
    assert scrubbed == f"echo {REDACTED} and {REDACTED} and {REDACTED}; probe_success 1.0"


def test_a_header_line_that_is_wrong_is_named_by_its_line_not_its_value(tmp_path: Path) -> None:
    headers_file(tmp_path, f"# the gateway\nX-Access-Token {SECRET}\n")
    path = write(tmp_path, "modules:\n  x: {checks: [health], headers_file: headers, "
                 "targets: [http://a]}\n")  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "headers line 2" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_the_command_refuses_to_start_on_a_bad_config(tmp_path: Path) -> None:
    headers_file(tmp_path)
    path = write(tmp_path, "modules:\n  prod:\n    checks: [health]\n    headers_file: headers\n")
    done = subprocess.run(
        [sys.executable, "-m", "tlogcheck", "exporter", "--config", path, "--listen",
         "127.0.0.1:0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"tlogcheck exporter: error: {path}: modules.prod: module prod carries credentials" in (
        done.stderr
    )
    assert SECRET not in done.stdout + done.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "tlogcheck", "exporter"], capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert missing.returncode == 2 and "--config (or TLOG_EXPORTER_CONFIG) is required" in (
        missing.stderr
    )
