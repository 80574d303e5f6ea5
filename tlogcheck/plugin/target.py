"""What a run checks: the `Target` the suite's options resolve to.

The options are `tlogcheck.options.target` (the report's in
`tlogcheck.plugin.report`). `plan(config)` resolves and checks them all at configuration
time: a bad value is a `pytest.UsageError` (exit 4) naming the option and where its value
came from. The resulting `Target` is the same in every process of a session (`to_wire` /
`from_wire` carry it to xdist workers); `tlogcheck.plugin.suite` starts the embedded
deployment when there is no `--tlog-url` and keeps the target on
`config.stash[TARGET_KEY]`.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tlogcheck.errors import ConfigError
from tlogcheck.options import Option
from tlogcheck.options.target import (
    API,
    CA_BUNDLE,
    DB,
    DB_SHA256,
    EMBEDDED_ENTRIES,
    EMBEDDED_FAULT,
    EXPECT_RELEASE,
    HEADER,
    INDEX,
    KNOWN_ROOT,
    ORIGIN_URL,
    PROXY,
    RUN_TIMEOUT,
    SAMPLE,
    SEED,
    STABLE_URL,
    STATE,
    TIMEOUT,
    URL,
    VKEY,
)
from tlogcheck.plugin.options import source_of, value
from tlogcheck.state import KnownTree

DEFAULT_TIMEOUT = float(TIMEOUT.default)

if TYPE_CHECKING:
    from tlogcheck.note import Verifier
    from tlogcheck.refstack.stack import RunningStack

__all__ = ["TARGET_KEY", "Target", "plan", "runs_suite"]

# --- the target -------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What this run checks, the same in every process of the session."""

    url: str  # "" until the embedded deployment has started
    origin_url: str | None  # None: X-Bypass: 1 on `url`
    vkeys: tuple[str, ...]  # verifier key strings
    embedded: bool
    seed: int
    timeout: float
    sample: int
    indices: tuple[int, ...] = ()  # --tlog-index: exactly these instead of the sample
    db: str | None = None
    db_sha256: bytes | None = None
    db_sha256_source: str | None = None
    known_roots: tuple[KnownTree, ...] = ()
    state_path: str | None = None
    faults: tuple[str, ...] = ()  # embedded only
    entries: int | None = None  # embedded only
    # Canary-aware targeting: the stable side to compare with, the release to expect.
    stable_url: str | None = None
    expect_release: str | None = None
    # Whether an edge cache answers at `url` (a cache-status header on the first
    # responses); None when not probed or the probe got no answer.
    has_edge: bool | None = None
    edge_evidence: str = ""
    # Real deployments: headers sent on every request (values are secrets), the CAs to
    # trust, an explicit proxy (else the environment's), the run's budget.
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    ca_bundle: str | None = None
    proxy: str | None = field(default=None, repr=False)
    run_timeout: float = 600.0
    run_started: float = 0.0  # time.time() when the run began: one budget for all workers
    api: str = "v1"  # --tlog-api: "v1" or "tiles"
    stack: RunningStack | None = field(default=None, compare=False, repr=False)

    @property
    def origin_view(self) -> str:
        if self.origin_url:
            return f"origin URL {self.origin_url}"
        return "X-Bypass: 1 on the target URL"

    @property
    def header_names(self) -> list[str]:
        """The extra headers as `Name: <redacted>`: all that is ever shown of them."""
        return [f"{name}: <redacted>" for name, _ in self.headers]

    def run_end(self) -> float:
        """The budget's end as a `time.monotonic()` instant of this process."""
        return time.monotonic() + (self.run_started + self.run_timeout - time.time())

    def verifiers(self) -> list[Verifier]:
        from tlogcheck.note import parse_verifier_key

        return [parse_verifier_key(k) for k in self.vkeys]

    def describe(self) -> str:
        if not self.embedded:
            return self.url
        faults = ", ".join(self.faults) or "none"
        api = ", read as a tiled log" if self.api == "tiles" else ""
        return (
            f"the embedded reference deployment at {self.url} "
            f"({self.entries} demo entries, faults: {faults}{api})"
        )

    def target_args(self) -> list[str]:
        """Options that point another run at this target (the embedded one: rebuilt)."""
        if self.embedded:
            args = [f"--tlog-embedded-entries={self.entries}"]
            args += [f"--tlog-embedded-fault={f}" for f in self.faults]
        else:
            args = [f"--tlog-url={self.url}"]
            if self.origin_url:
                args.append(f"--tlog-origin-url={self.origin_url}")
            if self.stable_url:
                args.append(f"--tlog-stable-url={self.stable_url}")
            # What the run judged with: the keys, the release's db and the recorded trees
            # (the embedded deployment brings its own key and db).
            args += [f"--tlog-vkey={k}" for k in self.vkeys]
            if self.db:
                args.append(f"--tlog-db={self.db}")
            if self.db_sha256:
                args.append(f"--tlog-db-sha256={self.db_sha256.hex()}")
            args += [
                f"--tlog-known-root={k.tree_size}:{k.root_hash.hex()}" for k in self.known_roots
            ]
        if self.timeout != DEFAULT_TIMEOUT:
            args.append(f"--tlog-timeout={self.timeout:g}")
        if self.api != "v1":
            args.append(f"--tlog-api={self.api}")
        if self.expect_release:
            args.append(f"--tlog-expect-release={self.expect_release}")
        if self.ca_bundle:
            args.append(f"--tlog-ca-bundle={self.ca_bundle}")
        if self.proxy:
            from tlogcheck.client import redact_url

            args.append(f"--tlog-proxy={redact_url(self.proxy)}")
        return args

    def verify_args(self) -> str:
        """The target options `tlogcheck verify URL INDEX` needs to ask as this run asked
        (keys, CAs, proxy, timeout): what a failure's `next:` line adds after INDEX."""
        args = [f"--tlog-vkey={k}" for k in self.vkeys]
        if self.ca_bundle:
            args.append(f"--tlog-ca-bundle={self.ca_bundle}")
        if self.proxy:
            from tlogcheck.client import redact_url

            args.append(f"--tlog-proxy={redact_url(self.proxy)}")
        if self.timeout != DEFAULT_TIMEOUT:
            args.append(f"--tlog-timeout={self.timeout:g}")
        # Header values are secrets: `tlogcheck verify` reads them from TLOG_HEADER.
        return "".join(f" {a}" for a in args)

    def replay_command(self, *, check: str | None = None, index: int | None = None) -> str:
        """The pytest command that re-runs this sample (or one index) against this target."""
        args = ["pytest", "--pyargs", "tests_synthetic", *self.target_args()]
        args.append(f"--tlog-seed={self.seed}")
        if check:
            args += ["-m", check]
        if index is not None:
            args.append(f"--tlog-index={index}")
        command = " ".join(args)
        if self.headers:
            # The values are secrets: say which headers to set, never what they hold.
            names = "; ".join(self.header_names)
            command += f"  # with TLOG_HEADER set as for this run ({names})"
        return command

    def to_wire(self) -> dict[str, Any]:
        """JSON-able, for xdist's workerinput."""
        return {
            "url": self.url,
            "origin_url": self.origin_url,
            "vkeys": list(self.vkeys),
            "embedded": self.embedded,
            "seed": self.seed,
            "timeout": self.timeout,
            "sample": self.sample,
            "indices": list(self.indices),
            "db": self.db,
            "db_sha256": self.db_sha256.hex() if self.db_sha256 else None,
            "db_sha256_source": self.db_sha256_source,
            "known_roots": [[k.tree_size, k.root_hash.hex(), k.source] for k in self.known_roots],
            "state_path": self.state_path,
            "faults": list(self.faults),
            "entries": self.entries,
            "stable_url": self.stable_url,
            "expect_release": self.expect_release,
            "has_edge": self.has_edge,
            "edge_evidence": self.edge_evidence,
            "headers": [list(h) for h in self.headers],
            "ca_bundle": self.ca_bundle,
            "proxy": self.proxy,
            "run_timeout": self.run_timeout,
            "run_started": self.run_started,
            "api": self.api,
        }

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> Target:
        sha = wire.get("db_sha256")
        return cls(
            url=wire["url"],
            origin_url=wire.get("origin_url"),
            vkeys=tuple(wire.get("vkeys", ())),
            embedded=bool(wire.get("embedded")),
            seed=int(wire["seed"]),
            timeout=float(wire["timeout"]),
            sample=int(wire["sample"]),
            indices=tuple(wire.get("indices", ())),
            db=wire.get("db"),
            db_sha256=bytes.fromhex(sha) if sha else None,
            db_sha256_source=wire.get("db_sha256_source"),
            known_roots=tuple(
                KnownTree(int(s), bytes.fromhex(h), src)
                for s, h, src in wire.get("known_roots", ())
            ),
            state_path=wire.get("state_path"),
            faults=tuple(wire.get("faults", ())),
            entries=wire.get("entries"),
            stable_url=wire.get("stable_url"),
            expect_release=wire.get("expect_release"),
            has_edge=wire.get("has_edge"),
            edge_evidence=wire.get("edge_evidence", ""),
            headers=tuple((str(n), str(v)) for n, v in wire.get("headers", ())),
            ca_bundle=wire.get("ca_bundle"),
            proxy=wire.get("proxy"),
            run_timeout=float(wire.get("run_timeout", 600.0)),
            run_started=float(wire.get("run_started", 0.0)),
            api=str(wire.get("api", "v1")),
        )

    def to_json(self) -> dict[str, Any]:
        """The report's "target" section."""
        doc = self.to_wire()
        doc["description"] = self.describe()
        doc["origin_view"] = self.origin_view
        doc["vkeys"] = len(self.vkeys)
        # Header values and proxy credentials never leave the process.
        doc["headers"] = self.header_names
        if self.proxy:
            from tlogcheck.client import redact_url

            doc["proxy"] = redact_url(self.proxy)
        return doc


TARGET_KEY = pytest.StashKey[Target]()


def _usage(option: Option, config: pytest.Config, problem: object) -> pytest.UsageError:
    return pytest.UsageError(f"tlogcheck: {option.flag} ({source_of(config, option)}): {problem}")


def _value(config: pytest.Config, option: Option) -> Any:
    try:
        return value(config, option)
    except ConfigError as exc:  # it names the option and where its value came from
        raise pytest.UsageError(f"tlogcheck: {exc}") from None


def plan(config: pytest.Config) -> Target:
    """Every option resolved and checked; `url` is "" when the embedded one will serve."""
    url = _value(config, URL)
    origin_url = _value(config, ORIGIN_URL)
    stable_url = _value(config, STABLE_URL)
    expect_release = _value(config, EXPECT_RELEASE)
    vkeys: list[str] = _value(config, VKEY)
    db = _value(config, DB)
    db_sha: tuple[bytes, str] | None = _value(config, DB_SHA256)
    known: list[KnownTree] = _value(config, KNOWN_ROOT)
    state_path = _value(config, STATE)
    sample = _value(config, SAMPLE)
    seed = _value(config, SEED)
    indices: list[int] = _value(config, INDEX)
    timeout = _value(config, TIMEOUT)
    faults: list[str] = _value(config, EMBEDDED_FAULT)
    entries = _value(config, EMBEDDED_ENTRIES)
    run_timeout = _value(config, RUN_TIMEOUT)
    headers: list[tuple[str, str]] = _value(config, HEADER)
    ca = _value(config, CA_BUNDLE)
    proxy = _value(config, PROXY)
    api = _value(config, API)
    if origin_url and not url:
        raise _usage(ORIGIN_URL, config, "needs --tlog-url (the embedded deployment has its own)")
    if stable_url and not url:
        raise _usage(STABLE_URL, config, "needs --tlog-url (the embedded deployment has no canary)")
    if stable_url and url and stable_url == url:
        raise _usage(STABLE_URL, config, "is the target itself: name the stable side's URL")
    # Each value was checked by its option's converter (options.target): a readable key
    # or key file, a readable db, a digest, a state file that is one.
    db_sha256, db_sha_source = db_sha if db_sha is not None else (None, None)
    return Target(
        url=url or "",
        origin_url=origin_url,
        vkeys=tuple(vkeys),
        embedded=not url,
        seed=secrets.randbelow(2**32) if seed is None else seed,
        timeout=timeout,
        sample=sample,
        indices=tuple(indices),
        db=db,
        db_sha256=db_sha256,
        db_sha256_source=db_sha_source,
        known_roots=tuple(known),
        state_path=state_path,
        faults=tuple(faults) if not url else (),
        entries=entries if not url else None,
        stable_url=stable_url,
        expect_release=expect_release,
        headers=tuple(headers),
        ca_bundle=ca,
        proxy=proxy,
        run_timeout=run_timeout,
        run_started=time.time(),
        api=api,
    )


def runs_suite(config: pytest.Config) -> bool:
    """Whether this run collects tests_synthetic (or asks for the embedded deployment)."""
    if any(source_of(config, o) != "default" for o in (EMBEDDED_FAULT, EMBEDDED_ENTRIES)):
        return True
    import tests_synthetic

    package = Path(tests_synthetic.__file__).resolve().parent
    pyargs = bool(config.getoption("pyargs", default=False))
    for arg in config.args:
        base = str(arg).split("::", 1)[0]
        if pyargs and (base == "tests_synthetic" or base.startswith("tests_synthetic.")):
            return True
        path = (config.invocation_params.dir / base).resolve()
        if path == package or package in path.parents or "tests_synthetic" in path.parts:
            return True
    return False
