"""What an edge says about its cache: the cache-status headers and the vendors' words.

Edges report whether a response came out of their cache in a header of their own, in a
vocabulary of their own (docs/cdn.md lists each vendor's, with its source):

- `X-Cache`: CloudFront (`Hit from cloudfront`, `RefreshHit from cloudfront`, `Miss from
  cloudfront`, `Error from cloudfront`, ...), Akamai (`TCP_MEM_HIT from a23-...`,
  `TCP_MISS from ...`, `TCP_REFRESH_HIT`, `TCP_IMS_HIT`, ...), Fastly and Varnish (`HIT`,
  `MISS`, one value per cache with shielding: `MISS, HIT`), Azure Front Door (`TCP_HIT`,
  `TCP_REMOTE_HIT`, `TCP_MISS`, `CONFIG_NOCACHE`, `UNCACHEABLE`, ...);
- `CF-Cache-Status`: Cloudflare (`HIT`, `MISS`, `EXPIRED`, `STALE`, `BYPASS`, `REVALIDATED`,
  `UPDATING`, `DYNAMIC`, `NONE`);
- `X-Cache-Status`: nginx's `$upstream_cache_status` (`HIT`, `MISS`, `BYPASS`, `EXPIRED`,
  `STALE`, `UPDATING`, `REVALIDATED`);
- `Cache-Status` (RFC 9211): `<cache>; hit`, `<cache>; fwd=miss`, one member per cache,
  the one closest to the client last.

`cache_status_of` reads the first header present into one upper-case word (the last
cache's: the one closest to the client, which is the one the hit rate is about);
`cache_verdict` says whether that word means a hit, a miss, or is a word this module does
not know. An unknown word is not guessed at: the hit-rate check is then inconclusive and
quotes it, never a failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

__all__ = [
    "CACHE_STATUS_HEADERS",
    "HIT_STATUSES",
    "MISS_STATUSES",
    "Verdict",
    "cache_status_of",
    "cache_verdict",
    "is_hit",
    "normalize_cache_status",
]

# Where edges report their cache status, read in this order.
CACHE_STATUS_HEADERS = ("X-Cache", "CF-Cache-Status", "X-Cache-Status", "Cache-Status")

Verdict = Literal["hit", "miss"]

# Words whose body came out of the edge's cache (a revalidated or stale copy included).
HIT_STATUSES = frozenset(
    {
        # CloudFront, Cloudflare, nginx, Fastly, Varnish
        "HIT",
        "REFRESHHIT",
        "STALE",
        "UPDATING",
        "REVALIDATED",
        "HIT-STALE",
        "HIT-SYNTH",
        # Akamai (X-Cache with Pragma: akamai-x-cache-on) and Azure Front Door
        "TCP_HIT",
        "TCP_MEM_HIT",
        "TCP_IMS_HIT",
        "TCP_REFRESH_HIT",
        "TCP_REFRESH_FAIL_HIT",
        "TCP_NEGATIVE_HIT",
        "TCP_REMOTE_HIT",
        "TCP_STALE_HIT",
        # RFC 9211 Cache-Status, normalized to its parameter
        "CACHE-STATUS-HIT",
    }
)

# Words whose body did not come out of the edge's cache.
MISS_STATUSES = frozenset(
    {
        "MISS",
        "EXPIRED",
        "BYPASS",
        "PASS",
        "DYNAMIC",
        "NONE",
        "ERROR",
        "REFRESHMISS",
        "TCP_MISS",
        "TCP_REFRESH_MISS",
        "TCP_EXPIRED_MISS",
        "TCP_CLIENT_REFRESH_MISS",
        "TCP_DENIED",
        "TCP_COOKIE_DENY",
        "CONFIG_NOCACHE",
        "UNCACHEABLE",
        "PRIVATE_NOSTORE",
        "CACHE-STATUS-MISS",
    }
)


def _rfc9211(value: str) -> str | None:
    """The last member of an RFC 9211 Cache-Status value as one word."""
    members = [m.strip() for m in value.split(",") if m.strip()]
    if not members:
        return None
    params = [p.strip().lower() for p in members[-1].split(";")[1:]]
    if "hit" in params:
        return "CACHE-STATUS-HIT"
    if any(p.startswith("fwd=") for p in params):
        return "CACHE-STATUS-MISS"
    # A member with neither: the cache said nothing about this response.
    return members[-1].split(";")[0].strip().upper() or None


def normalize_cache_status(value: str) -> str | None:
    """One X-Cache-like header value -> an upper-case word: HIT, MISS, TCP_MEM_HIT, ...

    CloudFront's "Hit from cloudfront" gives HIT and Akamai's "TCP_MEM_HIT from a23-..."
    gives TCP_MEM_HIT (the first word). With shielding, Fastly and Varnish append one
    value per cache ("MISS, HIT": shield, then the delivering edge); the last one is the
    cache closest to the client, the one this check is about.
    """
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not parts:
        return None
    return parts[-1].split()[0].upper()


def cache_status_of(headers: Mapping[str, str]) -> str | None:
    """The normalized cache status from the first cache-status header that has one."""
    for name in CACHE_STATUS_HEADERS:
        # httpx joins repeated header lines with ", ", which the last-value rule expects.
        value = headers.get(name)
        if value is None:
            continue
        status = _rfc9211(value) if name == "Cache-Status" else normalize_cache_status(value)
        if status is not None:
            return status
    return None


def cache_verdict(status: str | None) -> Verdict | None:
    """'hit' or 'miss' for a normalized status; None for no status or an unknown word."""
    if status in HIT_STATUSES:
        return "hit"
    if status in MISS_STATUSES:
        return "miss"
    return None


def is_hit(status: str | None) -> bool:
    """Whether a normalized cache status means the edge served its cached copy."""
    return cache_verdict(status) == "hit"
