"""Named faults of the reference stack: what each breaks, the alert it imitates, who catches it.

A fault is chosen at start (`tlogcheck serve --fault NAME[:ARG]`, repeatable) or switched
at runtime through the admin endpoint (`PUT /faults`). `FAULTS` documents every fault
(the README's detection matrix is made from it); `FaultSet` is the live set, shared by
the origin and edge apps of one process.

Sides:

- "origin": the origin pods misbehave (`log.py` / `origin.py`); the edge passes it on.
- "edge": the CDN misbehaves (`edge_faults.py`); the origin stays healthy.
- "release": the release itself is wrong (the log the origin serves is not the one the
  release's db.jsonl / the previous release describe); served by the origin.

The registry (`registry.FAULTS`) is assembled from one module per side, one `FaultDoc`
per fault (`doc.py`); `live.FaultSet` is the set switched on at runtime.

`caught_by` lists the checks of tests_synthetic that must fail while the fault is on;
`also` lists checks that may fail too depending on sampling or timing. An empty
`caught_by` with `legitimate=True` means the suite must pass (a state the spec allows).
"""

from __future__ import annotations

from tlogcheck.refstack.faults.doc import (
    BLIP_AFTER,
    CHECK_NAMES,
    DEFAULT_AHEAD,
    DEFAULT_BEHIND,
    DEFAULT_OVERSIZE_MIB,
    DEFAULT_PROOF_DELAY_MS,
    DEFAULT_TRUNCATED_EXTRA,
    DIALECT_NAMES,
    SLOW_BODY_INTERVAL,
    SLOW_BODY_LIMIT,
    FaultDoc,
)
from tlogcheck.refstack.faults.live import FaultSet, RateGate
from tlogcheck.refstack.faults.registry import FAULTS, parse_spec

__all__ = [
    "BLIP_AFTER",
    "CHECK_NAMES",
    "DEFAULT_AHEAD",
    "DEFAULT_BEHIND",
    "DEFAULT_OVERSIZE_MIB",
    "DEFAULT_PROOF_DELAY_MS",
    "DEFAULT_TRUNCATED_EXTRA",
    "DIALECT_NAMES",
    "FAULTS",
    "SLOW_BODY_INTERVAL",
    "SLOW_BODY_LIMIT",
    "FaultDoc",
    "FaultSet",
    "RateGate",
    "parse_spec",
]
