"""The suite's target options: each with its env and ini twins (command line > environment
> ini > default, `tlogcheck.plugin.options`) and the converter that checks its value.
`tlogcheck.plugin.target.plan` resolves them into a `Target`; `tlogcheck triage` takes
the same Option objects for the same flags."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from tlogcheck.errors import ConfigError
from tlogcheck.options import (
    Option,
    non_negative_int,
    positive_float,
    positive_int,
)
from tlogcheck.state import KnownTree, parse_known_root

__all__ = [
    "OPTIONS",
    "TARGET",
    "http_url",
    "readable_file",
    "seed_value",
    "sha256_value",
    "state_file",
    "verifier_key",
]


def http_url(raw: str) -> str:
    """An http(s) URL with a host, without a trailing slash."""
    text = raw.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        raise ValueError("a base URL carries no query or fragment")
    try:
        parts.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"bad port: {exc}") from None
    return text.rstrip("/")


def seed_value(raw: str) -> int:
    n = int(raw.strip(), 10)
    if not 0 <= n < 2**64:
        raise ValueError("must be an integer in 0 .. 2**64-1")
    return n


def known_root(raw: str) -> KnownTree:
    return parse_known_root(raw)


def verifier_key(raw: str) -> str:
    """A verifier key (`name+hexid+base64`, or a file holding one), as its key string."""
    import base64

    from tlogcheck.errors import TLogCheckError
    from tlogcheck.note import load_verifier_key

    try:
        v = load_verifier_key(raw)
    except (TLogCheckError, OSError, ValueError) as exc:
        raise ConfigError(f"{raw!r}: {exc}") from None
    encoded = base64.b64encode(b"\x01" + v.public_key).decode()
    return f"{v.name}+{v.key_id.hex()}+{encoded}"


def readable_file(raw: str) -> str:
    """A file that exists and can be read, as an absolute path."""
    path = os.path.abspath(raw.strip())
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise ConfigError(f"{raw} is not a readable file")
    return path


def sha256_value(raw: str) -> tuple[bytes, str]:
    """A SHA-256 as 64 hex characters or a `sha256sum` file: (digest, where it came from)."""
    text = raw.strip()
    if len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text):
        return bytes.fromhex(text), "given as hex"
    from tlogcheck.db import read_sha256_file
    from tlogcheck.errors import TLogCheckError

    try:
        return read_sha256_file(text), f"from {text}"
    except (TLogCheckError, OSError, ValueError) as exc:
        raise ConfigError(str(exc)) from None


def state_file(raw: str) -> str:
    """A state file (`--tlog-state`) that is one, or does not exist yet in a directory that
    does, as an absolute path."""
    from tlogcheck.state import load_state

    path = os.path.abspath(raw.strip())
    if not os.path.isdir(os.path.dirname(path)):
        raise ConfigError(f"directory of {path} does not exist")
    load_state(path)  # ConfigError naming what is wrong with the file
    return path


def release_id(raw: str) -> str:
    """A release id as `X-TLog-Release` carries it: one printable ASCII token."""
    text = raw.strip()
    if not text:
        raise ValueError("a release id is not empty")
    if any(not 0x21 <= ord(c) <= 0x7E or c == "," for c in text):
        raise ValueError("a release id is one printable ASCII token, without spaces or commas")
    return text


def header_line(raw: str) -> tuple[str, str]:
    from tlogcheck.spec import parse_header

    return parse_header(raw)


def ca_bundle(raw: str) -> str:
    path = os.path.abspath(raw.strip())
    if not (os.path.isfile(path) or os.path.isdir(path)) or not os.access(path, os.R_OK):
        raise ValueError(f"{raw} is not a readable file or directory")
    from tlogcheck.client import tls

    try:
        tls.ssl_context(path)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    return path


def proxy_url(raw: str) -> str:
    """A proxy URL: http:// or https://, a host, maybe credentials (never printed)."""
    from tlogcheck.client import redact_url

    text = raw.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{redact_url(text)}: expected an http:// or https:// proxy URL")
    return text


def fault_spec(raw: str) -> str:
    from tlogcheck.refstack.faults import parse_spec

    name, arg = parse_spec(raw)
    return f"{name}:{arg}" if arg else name


URL = Option(
    "--tlog-url",
    "TLOG_URL",
    "the deployment to check: its public (edge / CDN) base URL. Without it the "
    "embedded reference deployment is started and checked.",
    convert=http_url,
    metavar="URL",
)
ORIGIN_URL = Option(
    "--tlog-origin-url",
    "TLOG_ORIGIN_URL",
    "the origin view: a base URL that reaches the origin pods directly. "
    "Default: the target URL with `X-Bypass: 1`.",
    convert=http_url,
    metavar="URL",
)
VKEY = Option(
    "--tlog-vkey",
    "TLOG_VKEY",
    "the checkpoint's verifier key (`name+hexid+base64`), or a path to a file holding "
    "one; repeatable. Without one the signature check is skipped (and says so).",
    convert=verifier_key,
    multiple=True,
    metavar="KEY",
)
DB = Option(
    "--tlog-db",
    "TLOG_DB",
    "the release's db.jsonl: its SHA-256 and rebuilt root are checked against "
    "--tlog-db-sha256 and the served root.",
    convert=readable_file,
    metavar="PATH",
)
DB_SHA256 = Option(
    "--tlog-db-sha256",
    "TLOG_DB_SHA256",
    "the release's SHA-256 of db.jsonl: 64 hex characters, or a `sha256sum` file.",
    convert=sha256_value,
    metavar="HEX|PATH",
)
KNOWN_ROOT = Option(
    "--tlog-known-root",
    "TLOG_KNOWN_ROOT",
    "a tree recorded elsewhere that the served log must extend (the stable release's "
    "root during a canary, custody records); repeatable.",
    convert=known_root,
    multiple=True,
    metavar="SIZE:HEX",
)
STATE = Option(
    "--tlog-state",
    "TLOG_STATE",
    "state file: the last verified tree. The run proves consistency from it, and a "
    "fully passing run records the tree it verified (like a witness).",
    convert=state_file,
    metavar="PATH",
)
SAMPLE = Option(
    "--tlog-sample",
    "TLOG_SAMPLE",
    "entries verified, drawn uniformly with the seed, besides the edge indices "
    "(0, 1, n-2, n-1 and both sides of each power of two).",
    default="64",
    convert=non_negative_int,
    metavar="N",
)
SEED = Option(
    "--tlog-seed",
    "TLOG_SEED",
    "seed of the sample; default: a random one, printed in the header. Give it back to "
    "replay a run's sample.",
    convert=seed_value,
    metavar="S",
)
INDEX = Option(
    "--tlog-index",
    "TLOG_INDEX",
    "verify exactly this entry index instead of the sample (re-runs a failing index); repeatable.",
    convert=non_negative_int,
    multiple=True,
    metavar="I",
)
TIMEOUT = Option(
    "--tlog-timeout",
    "TLOG_TIMEOUT",
    "seconds a request may wait to connect or for each read; one request gives up "
    "after three times that, retries included.",
    default="10",
    convert=positive_float,
    metavar="SECONDS",
)
RUN_TIMEOUT = Option(
    "--tlog-run-timeout",
    "TLOG_RUN_TIMEOUT",
    "the whole run's budget in seconds: when it is spent, requests in flight are "
    "abandoned and the tests not yet decided are inconclusive ('run budget of N s "
    "spent'); the summary, reports, state rule and gate still run. Set it below what "
    "the CI step allows (activeDeadlineSeconds).",
    default="600",
    convert=positive_float,
    metavar="SECONDS",
)
HEADER = Option(
    "--tlog-header",
    "TLOG_HEADER",
    "`Name: value` sent on every request to the target, the origin view and the stable "
    "side (an access gateway's token); repeatable; one per line in the environment. "
    "The value is never printed or reported.",
    convert=header_line,
    multiple=True,
    metavar="'NAME: VALUE'",
    env_separator="\n",
    secret=True,
)
CA_BUNDLE = Option(
    "--tlog-ca-bundle",
    "TLOG_CA_BUNDLE",
    "PEM file (or directory of hashed certificates) of the CAs to trust for https:// "
    "targets. Without it SSL_CERT_FILE / SSL_CERT_DIR, then the system store.",
    convert=ca_bundle,
    metavar="PATH",
)
PROXY = Option(
    "--tlog-proxy",
    "TLOG_PROXY",
    "forward proxy for every request (http://[user:pass@]host:port). Without it "
    "HTTP_PROXY / HTTPS_PROXY / ALL_PROXY and NO_PROXY are honoured as curl does.",
    convert=proxy_url,
    metavar="URL",
    secret=True,
)
EMBEDDED_FAULT = Option(
    "--tlog-embedded-fault",
    "TLOG_EMBEDDED_FAULT",
    "for demos and self-tests: start the embedded reference deployment with this fault "
    "(see the detection matrix); repeatable. Ignored with --tlog-url.",
    convert=fault_spec,
    multiple=True,
    metavar="NAME[:ARG]",
)
EMBEDDED_ENTRIES = Option(
    "--tlog-embedded-entries",
    "TLOG_EMBEDDED_ENTRIES",
    "for demos and self-tests: entries in the embedded deployment's demo log. Ignored "
    "with --tlog-url.",
    default="2048",
    convert=positive_int,
    metavar="N",
)

EXPECT_RELEASE = Option(
    "--tlog-expect-release",
    "TLOG_EXPECT_RELEASE",
    "the release every response must come from (`X-TLog-Release`), e.g. the canary "
    "image's tag: a response of another release fails the canary check with the mix "
    "seen. Without it the mix of releases that answered is reported, not checked.",
    convert=release_id,
    metavar="R",
)
STABLE_URL = Option(
    "--tlog-stable-url",
    "TLOG_STABLE_URL",
    "during a canary, the stable side (Argo's stableService): the target's tree must be "
    "an append-only extension of its tree (a consistency proof served by the target, "
    "verified against both roots) and the entries it serves identical on the target.",
    convert=http_url,
    metavar="URL",
)

API = Option(
    "--tlog-api",
    "TLOG_API",
    "the API the log is checked through: v1 (`/v1/log/...`, spec tlog-ro-api-v1) or "
    "tiles (C2SP tlog-tiles: --tlog-url is the log's prefix, `<prefix>/checkpoint` and "
    "`<prefix>/tile/...`; the checks without a tiles meaning skip, saying why).",
    default="v1",
    choices=("v1", "tiles"),
    metavar="v1|tiles",
)

# What every command that talks to a deployment takes, with the same names and env twins
# as the suite (`tlogcheck triage`, `checklist`, `verify`).
TARGET: tuple[Option, ...] = (
    URL,
    ORIGIN_URL,
    API,
    VKEY,
    TIMEOUT,
    HEADER,
    CA_BUNDLE,
    PROXY,
    DB,
    DB_SHA256,
    KNOWN_ROOT,
    STATE,
    INDEX,
)

OPTIONS: list[Option] = [
    URL,
    API,
    ORIGIN_URL,
    STABLE_URL,
    EXPECT_RELEASE,
    VKEY,
    DB,
    DB_SHA256,
    KNOWN_ROOT,
    STATE,
    SAMPLE,
    SEED,
    INDEX,
    TIMEOUT,
    RUN_TIMEOUT,
    HEADER,
    CA_BUNDLE,
    PROXY,
    EMBEDDED_FAULT,
    EMBEDDED_ENTRIES,
]
