"""What an evidence bundle's responses are worth: the log's claims, and the levels.

Each recorded response is read once here (`classify`): what it asks, by the API table's
canonical rules only (`spec.parse_request`, `tiles.parse_tile_path`), and whether its
answer is a *claim*: the log's own word on the log. A claim is

- a 200 (a 304, 4xx or 5xx says nothing about the tree: absence is not a statement);
- to a request of the API spelled as the spec spells it (`/v1/log/entry/+0` asks
  nothing, whatever was served), answered at that path (not redirected elsewhere);
- asked as a read (`tlogcheck.client.purpose.CLAIMS`): never a probe meant to be
  refused, a conditional request, a read as another client or with a content coding.

A response recorded without a purpose (a bundle of the first format) is taken as a
claim for what it can show, never for what it could prove, and findings resting on it
say so.

Levels (`Finding.level`):

- PROVEN: statements signed by a pinned key of the log that cannot both be true. Only
  signatures convict; the bundle's author need not be trusted.
- SHOWN: what the run recorded the log serving, re-verified offline: true as far as the
  bundle's author is trusted (nothing signed says it was served).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tlogcheck import spec, tiles
from tlogcheck.client import Response
from tlogcheck.client.purpose import KINDS

__all__ = [
    "PROVEN",
    "SHOWN",
    "TILES_CHECKPOINT",
    "Finding",
    "Offline",
    "Read",
    "classify",
]

PROVEN = "proven"
SHOWN = "shown"
TILES_CHECKPOINT = "/" + tiles.PATH_CHECKPOINT


@dataclass(frozen=True)
class Finding:
    """One finding: its level, what kind of misbehaviour, the facts, and what it rests on
    (`basis`; for SHOWN: the tree it was checked against and the trust in it)."""

    level: str
    what: str
    detail: str
    basis: str = ""
    # Within a level, lower is stronger: 0 against a tree signed by a pinned key, 1 one
    # signed by a key only the bundle names, 2 an unsigned root.
    rank: int = 0

    def line(self) -> str:
        if self.level == PROVEN:
            return f"PROVEN: {self.what}: {self.detail}"
        basis = f" [{self.basis}]" if self.basis else ""
        return f"SHOWN: {self.what}: {self.detail}{basis}"

    def to_json(self) -> dict[str, object]:
        return {"level": self.level, "what": self.what, "detail": self.detail, "basis": self.basis}


@dataclass(frozen=True)
class Read:
    """One recorded response, read: what it asks and whether its answer is a claim."""

    response: Response
    # A request of API v1 as the spec spells it, a tile path, or the tiled checkpoint.
    request: spec.Request | None
    tile: tiles.TilePath | None
    tiles_checkpoint: bool
    # Which endpoint answered: the view and the base URL (the stable side of a canary
    # is another base).
    source: str
    claim: bool
    why_not: str | None  # why the answer is not a claim
    unstated: bool  # recorded without a purpose

    @property
    def is_checkpoint(self) -> bool:
        return self.tiles_checkpoint or (
            self.request is not None and self.request.kind == "checkpoint"
        )

    def where(self) -> str:
        r = self.response
        return f"{r.view} {r.path}, sha256 {r.sha256}"

    def caveat(self) -> str:
        return " (recorded without a purpose)" if self.unstated else ""


def _base(response: Response, bare: str) -> str:
    """The endpoint a response came from: its URL without the path asked and the query
    (a live response keeps its query, a recorded one has it removed: the same either way)."""
    url = response.url.partition("?")[0].partition("#")[0]
    return url[: -len(bare)] if bare and url.endswith(bare) else url


def classify(response: Response) -> Read:
    """Read one response: what it asks (canonical paths only), and whether it is a claim."""
    bare = response.path.partition("?")[0]
    request = spec.parse_request(response.path)
    health = request is not None and request.kind == "health"
    if health:
        request = None
    tile = tiles.parse_tile_path(response.path[1:]) if response.path.startswith("/t") else None
    tiles_checkpoint = response.path == TILES_CHECKPOINT
    source = f"{response.view} {_base(response, bare)}"
    purpose = response.purpose
    why_not = None
    if purpose is not None and not purpose.claim:
        why_not = f"asked as {purpose.kind}: {KINDS[purpose.kind]}"
    elif health:
        why_not = "/healthz: not a log path"
    elif request is None and tile is None and not tiles_checkpoint:
        why_not = "not a request of the API as the spec spells it"
    elif response.status != 200:
        why_not = f"HTTP {response.status}: only a 200 states anything about the log"
    elif not urlsplit(response.url).path.endswith(bare):
        why_not = "answered from another path (redirected)"
    return Read(
        response=response,
        request=request,
        tile=tile,
        tiles_checkpoint=tiles_checkpoint,
        source=source,
        claim=why_not is None,
        why_not=why_not,
        unstated=purpose is None,
    )


@dataclass
class Offline:
    """The result: findings, what was checked, notes, and what the bundle's reads were."""

    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Answers that are not claims, counted by why (probes, 304s, ...).
    not_claims: Counter[str] = field(default_factory=Counter)
    claims: int = 0
    unstated: int = 0
    # Keys: "pinned" (from outside the bundle), "named" (the bundle's own), or "none".
    keys: str = "none"
    signed_trees: int = 0

    @property
    def level(self) -> str | None:
        """PROVEN, SHOWN, or None: nothing shown."""
        levels = {f.level for f in self.findings}
        return PROVEN if PROVEN in levels else SHOWN if levels else None

    @property
    def failed(self) -> bool:
        return bool(self.findings)

    def ordered(self) -> list[Finding]:
        """Strongest first: PROVEN, then SHOWN by the trust of what it rests on."""
        return sorted(self.findings, key=lambda f: (f.level != PROVEN, f.rank))

    def summary(self) -> dict[str, object]:
        """What a report, the gate and the RCA cite: the level and the strongest finding."""
        top = self.ordered()
        return {
            "level": self.level or "none",
            "strongest": top[0].line() if top else None,
            "proven": sum(f.level == PROVEN for f in self.findings),
            "shown": sum(f.level == SHOWN for f in self.findings),
            "keys": self.keys,
        }
