"""The exporter's config file: modules, blackbox-style.

    modules:
      prod:
        api: v1                     # v1 | tiles
        vkey: [keys/tlog.vkey]      # verifier keys, or files holding one (required for
                                    # the checkpoint and consistency checks)
        timeout: 10                 # a probe's budget at most, seconds
        sample: 8                   # entries verified at random, besides the newest
        checks: [health, root, checkpoint, inclusion, parity, cache, consistency]
        origin_url: https://origin.tlog.internal   # default: the target with X-Bypass: 1
        headers_file: /etc/tlogcheck/headers       # `Name: value` a line (secret)
        ca_bundle: /etc/tlogcheck/ca.pem
        proxy: http://proxy.corp:3128              # or proxy_file: a file holding the URL
        targets: [https://tlog.example.com]        # the only targets this module probes
        max_body: 1048576           # bytes; a larger answer is refused unread

Relative paths are read from the config file's directory. Every key is checked at
load: an unknown key, a wrong type or a value out of range stops the exporter with the
file and the key named (`ConfigError`). Secrets — header values, a proxy's user and
password — come from files (or the proxy URL) and are never printed: `describe` shows
header names and redacted URLs only.

A module that carries credentials (`headers_file`, a proxy URL with user:password)
must list its `targets`, and its `origin_url` must be one of them: the exporter hands
credentials only to the targets they belong to.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from tlogcheck.client import redact_url
from tlogcheck.errors import ConfigError, NoteError
from tlogcheck.exporter.targets import Place, allowed, normalise
from tlogcheck.note import Verifier, load_verifier_key
from tlogcheck.options.target import ca_bundle as check_ca_bundle
from tlogcheck.spec import parse_header

__all__ = ["CHECKS", "Config", "Module", "load_config", "parse_config"]

# The checks a module may run, in the order a probe runs them.
CHECKS = ("health", "root", "checkpoint", "inclusion", "parity", "cache", "consistency")
SIGNED_CHECKS = frozenset({"checkpoint", "consistency"})
APIS = ("v1", "tiles")
MAX_CONFIG_BYTES = 1 * 2**20
MAX_SECRET_FILE_BYTES = 64 * 2**10
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_KEYS = frozenset(
    {"api", "vkey", "timeout", "sample", "checks", "origin_url", "headers_file", "ca_bundle",
     "proxy", "proxy_file", "targets", "max_body"}
)  # fmt: skip


@dataclass(frozen=True)
class Module:
    """One way of probing: the checks, the keys, and who may be probed with what."""

    name: str
    api: str = "v1"
    vkeys: tuple[str, ...] = ()
    timeout: float = 10.0
    sample: int = 8
    checks: tuple[str, ...] = CHECKS
    origin_url: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    headers_file: str | None = None
    ca_bundle: str | None = None
    proxy: str | None = field(default=None, repr=False)
    targets: tuple[Place, ...] = ()
    max_body: int = 1 * 2**20

    @property
    def verifiers(self) -> list[Verifier]:
        return [load_verifier_key(k) for k in self.vkeys]

    @property
    def credentials(self) -> list[str]:
        """What in this module is a credential (empty: none)."""
        found = []
        if self.headers:
            found.append("headers_file")
        if self.proxy is not None and urlsplit(self.proxy).username is not None:
            found.append("a proxy URL with credentials")
        return found

    def secrets(self) -> list[str]:
        """Every value that must never be printed."""
        out = [v for _, v in self.headers]
        if self.proxy is not None:
            parts = urlsplit(self.proxy)
            if parts.username is not None:
                userinfo = parts.netloc.rpartition("@")[0]
                out += [self.proxy, userinfo, unquote(userinfo)]
                out.append(base64.b64encode(unquote(userinfo).encode()).decode("ascii"))
                out += [unquote(parts.username)]
                if parts.password:
                    out += [parts.password, unquote(parts.password)]
        return out

    def allows(self, place: Place) -> bool:
        """May this module probe `place`? Any target when it lists none (no credentials)."""
        return not self.targets or allowed(place, self.targets)

    def describe(self) -> dict[str, Any]:
        """The module as the debug output shows it: header names only, URLs redacted."""
        return {
            "api": self.api,
            "vkey": [k if "+" in k else f"file {k}" for k in self.vkeys],
            "timeout": self.timeout,
            "sample": self.sample,
            "checks": list(self.checks),
            "origin_url": self.origin_url,
            "headers": [f"{name}: <redacted>" for name, _ in self.headers],
            "headers_file": self.headers_file,
            "ca_bundle": self.ca_bundle,
            "proxy": redact_url(self.proxy) if self.proxy else None,
            "targets": [p.url for p in self.targets],
            "max_body": self.max_body,
        }


@dataclass(frozen=True)
class Config:
    path: str
    modules: Mapping[str, Module]

    def secrets(self) -> list[str]:
        return [s for m in self.modules.values() for s in m.secrets()]


# --- loading -------------------------------------------------------------------------------


class _Where:
    """Names the file and key in every message."""

    def __init__(self, path: str) -> None:
        self.path = path

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key}: {problem}" if key else f"{self.path}: {problem}")


def _read_secret_file(path: Path, where: _Where, key: str) -> str:
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_SECRET_FILE_BYTES + 1)
    except OSError as exc:
        raise where.error(key, f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_SECRET_FILE_BYTES:
        raise where.error(key, f"{path} is over {MAX_SECRET_FILE_BYTES} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise where.error(key, f"{path} is not UTF-8") from None


def _headers(path: Path, where: _Where, key: str) -> tuple[tuple[str, str], ...]:
    """`Name: value` a line; blank lines and `#` comments skipped. Errors name the line,
    never its value."""
    headers = []
    for n, line in enumerate(_read_secret_file(path, where, key).splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            headers.append(parse_header(line))
        except ValueError as exc:
            raise where.error(key, f"{path} line {n}: {exc}") from None
    if not headers:
        raise where.error(key, f"{path} holds no `Name: value` line")
    return tuple(headers)


def _url(value: Any, where: _Where, key: str) -> Place:
    if not isinstance(value, str):
        raise where.error(key, "want a URL string")
    try:
        return normalise(value.strip())
    except ValueError as exc:
        raise where.error(key, str(exc)) from None


def _proxy(value: Any, where: _Where, key: str) -> str:
    if not isinstance(value, str):
        raise where.error(key, "want a proxy URL string")
    text = value.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise where.error(key, "want http://[user:password@]host:port (value not shown)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise where.error(key, "a proxy URL has no path, query or fragment (value not shown)")
    return text


def _number(value: Any, where: _Where, key: str, kind: type, low: float, high: float) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise where.error(key, f"want a number, got {type(value).__name__}")
    if kind is int and not isinstance(value, int):
        raise where.error(key, "want a whole number")
    if not low <= value <= high:
        raise where.error(key, f"{value} is not within {low:g}..{high:g}")
    return kind(value)


def _module(name: str, raw: Any, base: Path, where: _Where) -> Module:
    at = f"modules.{name}"
    if not _NAME.fullmatch(name):
        raise where.error(at, "a module name is 1-64 letters, digits, '_', '.' or '-'")
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise where.error(at, "want a mapping of settings")
    unknown = sorted(str(k) for k in raw if k not in _KEYS)
    if unknown:
        raise where.error(f"{at}.{unknown[0]}", f"unknown key (known: {', '.join(sorted(_KEYS))})")

    def path_of(key: str) -> Path:
        value = raw[key]
        if not isinstance(value, str) or not value.strip():
            raise where.error(f"{at}.{key}", "want a file path")
        p = Path(value.strip())
        return p if p.is_absolute() else base / p

    api = raw.get("api", "v1")
    if api not in APIS:
        raise where.error(f"{at}.api", f"{api!r} is not one of {', '.join(APIS)}")
    checks_raw = raw.get("checks", list(CHECKS))
    if not isinstance(checks_raw, list) or not checks_raw:
        raise where.error(f"{at}.checks", f"want a list of checks: {', '.join(CHECKS)}")
    for c in checks_raw:
        if c not in CHECKS:
            raise where.error(f"{at}.checks", f"{c!r} is not one of {', '.join(CHECKS)}")
    checks = tuple(c for c in CHECKS if c in checks_raw)
    if "consistency" in checks and "checkpoint" not in checks:
        raise where.error(
            f"{at}.checks",
            "consistency proves the tree the checkpoint check verified: add checkpoint",
        )
    vkeys_raw = raw.get("vkey", [])
    vkeys_raw = [vkeys_raw] if isinstance(vkeys_raw, str) else vkeys_raw
    if not isinstance(vkeys_raw, list) or not all(isinstance(k, str) for k in vkeys_raw):
        raise where.error(f"{at}.vkey", "want a verifier key or a list of them")
    vkeys = []
    for i, text in enumerate(vkeys_raw):
        key = text.strip()
        if "+" not in key and not Path(key).is_absolute():
            key = str(base / key)
        try:
            load_verifier_key(key)
        except NoteError as exc:
            raise where.error(f"{at}.vkey[{i}]", str(exc)) from None
        vkeys.append(key)
    if not vkeys and SIGNED_CHECKS & set(checks):
        raise where.error(
            f"{at}.vkey", "the checkpoint and consistency checks need the log's verifier key"
        )
    headers: tuple[tuple[str, str], ...] = ()
    headers_file = None
    if "headers_file" in raw:
        headers_file = str(path_of("headers_file"))
        headers = _headers(Path(headers_file), where, f"{at}.headers_file")
    ca = None
    if "ca_bundle" in raw:
        try:
            ca = check_ca_bundle(str(path_of("ca_bundle")))
        except ValueError as exc:
            raise where.error(f"{at}.ca_bundle", str(exc)) from None
    if "proxy" in raw and "proxy_file" in raw:
        raise where.error(f"{at}.proxy_file", "give proxy or proxy_file, not both")
    proxy = None
    if "proxy" in raw:
        proxy = _proxy(raw["proxy"], where, f"{at}.proxy")
    elif "proxy_file" in raw:
        text = _read_secret_file(path_of("proxy_file"), where, f"{at}.proxy_file")
        proxy = _proxy(text, where, f"{at}.proxy_file")
    targets_raw = raw.get("targets", [])
    if not isinstance(targets_raw, list):
        raise where.error(f"{at}.targets", "want a list of URL prefixes")
    targets = tuple(_url(t, where, f"{at}.targets[{i}]") for i, t in enumerate(targets_raw))
    origin = None
    if raw.get("origin_url") is not None:
        place = _url(raw["origin_url"], where, f"{at}.origin_url")
        if targets and not allowed(place, targets):
            raise where.error(f"{at}.origin_url", "is not within the module's targets")
        origin = place.url
    module = Module(
        name=name,
        api=api,
        vkeys=tuple(vkeys),
        timeout=_number(raw.get("timeout", 10), where, f"{at}.timeout", float, 0.1, 300),
        sample=_number(raw.get("sample", 8), where, f"{at}.sample", int, 0, 1000),
        checks=checks,
        origin_url=origin,
        headers=headers,
        headers_file=headers_file,
        ca_bundle=ca,
        proxy=proxy,
        targets=targets,
        max_body=_number(raw.get("max_body", 2**20), where, f"{at}.max_body", int, 1024, 2**26),
    )
    if module.credentials and not module.targets:
        raise where.error(
            at,
            f"module {name} carries credentials ({', '.join(module.credentials)}) and lists no "
            "targets: list the URL prefixes they belong to (targets: [...])",
        )
    return module


def parse_config(text: str, path: str = "<config>") -> Config:
    """The config in `text` (read from `path`, which relative paths are resolved against)."""
    where = _Where(path)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise where.error("", f"not YAML{line}: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(doc, dict):
        raise where.error("", "want a mapping with `modules:`")
    unknown = sorted(str(k) for k in doc if k != "modules")
    if unknown:
        raise where.error(unknown[0], "unknown key (the file holds `modules:`)")
    modules = doc.get("modules")
    if not isinstance(modules, dict) or not modules:
        raise where.error("modules", "want a mapping of at least one module")
    base = Path(os.path.dirname(os.path.abspath(path)))
    return Config(path, {str(n): _module(str(n), m, base, where) for n, m in modules.items()})


def load_config(path: str) -> Config:
    """Read and check the config file; ConfigError naming the file and the key."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: over {MAX_CONFIG_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8") from None
    return parse_config(text, path)
