"""Which origin a request goes to: the weighted upstreams of the edge and the canary step.

Each request that reaches the origin goes to one of the weighted upstreams,
`[stable, canary]` like an Argo canary step; moving the step replaces the whole set at
once. nginx's edge renders the same upstreams and weights into its config.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from tlogcheck.errors import ConfigError

__all__ = ["Upstream", "Upstreams", "canary_step", "canary_weight_of"]


@dataclass(frozen=True)
class Upstream:
    """One origin the edge forwards to, e.g. the stable or the canary Service."""

    url: str
    weight: int

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"upstream {self.url!r} is not an http(s) URL")
        if self.weight < 0:
            raise ConfigError(f"upstream {self.url} has a negative weight {self.weight}")
        object.__setattr__(self, "url", self.url.rstrip("/"))


def canary_step(upstreams: Sequence[Upstream], weight: int) -> tuple[Upstream, Upstream]:
    """`[stable, canary]` with `weight` % of requests to the canary: one Argo canary step."""
    if not 0 <= weight <= 100:
        raise ConfigError(f"canary weight {weight} is not within 0..100")
    if len(upstreams) != 2:
        raise ConfigError("a canary weight needs two upstreams: [stable, canary]")
    stable, canary = upstreams
    return Upstream(stable.url, 100 - weight), Upstream(canary.url, weight)


def canary_weight_of(upstreams: Sequence[Upstream]) -> int:
    """The canary's share of `[stable, canary]`, 0 with a single upstream."""
    return upstreams[1].weight if len(upstreams) == 2 else 0


class Upstreams:
    """The edge's upstreams, one picked per origin request in proportion to its weight."""

    def __init__(self, upstreams: Sequence[Upstream], rng: random.Random | None = None) -> None:
        self._set(upstreams)
        self._rng = rng or random.Random()

    def _set(self, upstreams: Sequence[Upstream]) -> None:
        chosen = tuple(upstreams)
        if not chosen or sum(u.weight for u in chosen) <= 0:
            raise ConfigError("the edge needs at least one upstream with a positive weight")
        # One tuple replaced whole: a request in flight sees the old or the new split.
        self._upstreams = chosen

    @property
    def canary_weight(self) -> int:
        return canary_weight_of(self._upstreams)

    def set_canary_weight(self, weight: int) -> None:
        """Move the canary step: `weight` % of origin requests go to the canary upstream."""
        self._set(canary_step(self._upstreams, weight))

    def pick(self) -> Upstream:
        upstreams = self._upstreams
        if len(upstreams) == 1:
            return upstreams[0]
        point = self._rng.random() * sum(u.weight for u in upstreams)
        for upstream in upstreams:
            point -= upstream.weight
            if point < 0:
                return upstream
        return upstreams[-1]
