"""What a fault of the reference deployment is, as the registry records it: its name, the
side that misbehaves, its argument, what it breaks, the alert it imitates and the checks
that must catch it.

`caught_by` lists the checks of tests_synthetic that must fail while the fault is on;
`also` lists checks that may fail too depending on sampling or timing. An empty
`caught_by` with `legitimate=True` means the suite must pass (a state the spec allows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "BLIP_AFTER",
    "CHECK_NAMES",
    "DEFAULT_AHEAD",
    "DEFAULT_BEHIND",
    "DEFAULT_OVERSIZE_MIB",
    "DEFAULT_PROOF_DELAY_MS",
    "DEFAULT_TRUNCATED_EXTRA",
    "DIALECT_NAMES",
    "FUNCTIONAL",
    "READS_ROOT",
    "SLOW_BODY_INTERVAL",
    "SLOW_BODY_LIMIT",
    "FaultDoc",
    "by_name",
]

Side = Literal["origin", "edge", "release"]
# "none": no argument; "optional": NAME or NAME:ARG; "required": NAME:ARG only.
ArgMode = Literal["none", "optional", "required"]
Api = Literal["v1", "tiles"]

# The checks of tests_synthetic, by marker name (tlogcheck.plugin.CHECK_MARKERS).
CHECK_NAMES = (
    "health",
    "root",
    "checkpoint",
    "etag",
    "cache",
    "parity",
    "inclusion",
    "consistency",
    "db",
    "canary",
    "load",
)

# Every check but load and canary: what a fault that fails random responses may fail.
# The canary check runs only with a stable side or an expected release, which the
# detection matrix's one deployment has not (tests/synthetic/test_canary.py exercises it).
FUNCTIONAL = tuple(c for c in CHECK_NAMES if c not in ("load", "canary"))

# The checks that read the served root (a hung or trickled root fails them all; /healthz
# and the checkpoint stay readable).
READS_ROOT = ("etag", "cache", "parity", "inclusion", "consistency", "db")

# Defaults of the faults whose argument is optional.
DEFAULT_OVERSIZE_MIB = 64
DEFAULT_TRUNCATED_EXTRA = 16
DEFAULT_BEHIND = 16  # signer-stall, origin-behind
DEFAULT_PROOF_DELAY_MS = 400  # proof-slow
DEFAULT_AHEAD = 16  # origin-ahead
SLOW_BODY_INTERVAL = 0.1  # seconds between two trickled bytes
SLOW_BODY_LIMIT = 60.0  # seconds of trickling before the rest of the body goes at once


@dataclass(frozen=True)
class FaultDoc:
    name: str
    side: Side
    arg: ArgMode
    arg_help: str  # what ARG means ("" when none)
    breaks: str  # what changes at the HTTP level
    alert: str  # the playbook §1 alert it imitates ("" when none: a legitimate state)
    section: str  # playbook section(s)
    caught_by: tuple[str, ...]  # checks that must fail
    also: tuple[str, ...] = ()  # checks that may fail as well
    legitimate: bool = False  # a state the spec allows: the suite must pass
    api: Api = "v1"  # the API the fault breaks: the suite checks it with --tlog-api API

    @property
    def takes_arg(self) -> bool:
        return self.arg != "none"

    @property
    def usage(self) -> str:
        if self.arg == "none":
            return self.name
        if self.arg == "required":
            return f"{self.name}:{self.arg_help.split()[0]}"
        return f"{self.name}[:{self.arg_help.split()[0]}]"


def by_name(*docs: FaultDoc) -> dict[str, FaultDoc]:
    return {d.name: d for d in docs}


DIALECT_NAMES = (
    "cloudfront",
    "akamai",
    "fastly",
    "azure",
    "rfc9211",
    "ats",
    "ats-via",
    "age-only",
    "unknown",
)
BLIP_AFTER = 40  # origin requests before a `blip` starts
