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
  the one closest to the client last;
- Apache Traffic Server: the words of its `%{CACHE}` / xdebug `X-Cache` (`hit-fresh`,
  `hit-stale`, `miss`, `skipped`, `none`) in whatever header the operator puts them, and
  the cache codes of its own `Via` (`[cHs f ]`, `[cMsSfW]`, ...: `via_cache_word`), which
  also say where the body of a `hit-stale` came from (revalidated 304, or fetched again).

`cache_status_of` reads the first header present into one upper-case word (the last
cache's: the one closest to the client, which is the one the hit rate is about), the
`Via` cache codes when no header says one; `cache_verdict` says whether that word means a
hit, a miss, or is a word this module does not know. An unknown word is not guessed at:
the hit-rate check is then inconclusive and quotes it, never a failure.

Whether an answer came through a cache at all is another question, answered by every
sign a cache leaves (`cache_signs`): `Age`, `Via`, any cache-status header, known or
not. A cache that says no status word (HAProxy's sends only `Age` on a hit) is still a
cache: nothing about the two views' comparison depends on recognising its vendor.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

__all__ = [
    "CACHE_STATUS_HEADERS",
    "HIT_STATUSES",
    "MISS_STATUSES",
    "Verdict",
    "cache_signs",
    "cache_status_of",
    "cache_verdict",
    "is_hit",
    "normalize_cache_status",
    "via_cache_word",
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
        # Apache Traffic Server (%{CACHE}, xdebug), and its Via codes (`via_cache_word`)
        "HIT-FRESH",
        "HIT-RAM",
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
        # Apache Traffic Server: no cache lookup for this transaction (a bypass)
        "SKIPPED",
    }
)

# Headers that only a cache (or a CDN in front of one) adds, besides the cache-status
# headers above: any of them says an answer came through an intermediary.
_CACHE_SIGN_HEADERS = (
    "Age",
    "Via",
    "X-Cache-Lookup",
    "X-Cache-Hits",
    "X-Served-By",
    "X-Varnish",
    "X-Proxy-Cache",
    "Akamai-Cache-Status",
    "CDN-Cache",
)
# Headers with "cache" in their name that an origin sends to caches, not a cache's sign.
_NOT_A_SIGN = frozenset(
    {"cache-control", "cdn-cache-control", "surrogate-control", "x-accel-cache-control"}
)

# Apache Traffic Server's Via cache codes (proxy.config.http.insert_response_via_str >= 2):
# `[cXsXfX]`, after an optional `uX` at the verbose levels; c = cache lookup (H fresh hit,
# R fresh RAM hit, S stale, A not acceptable, M miss, blank: no lookup), s = origin
# server (S served, N not modified, E error, blank: not asked), f = cache fill.
_ATS_VIA = re.compile(r"\[(?:u[A-Z ])?c([A-Z ])s([A-Z ])f([A-Z ])")
# (lookup, server) -> the word: where the body of this answer came from.
_ATS_CODES = {"H": "HIT-FRESH", "R": "HIT-RAM", "A": "MISS", "M": "MISS", " ": "SKIPPED"}
_ATS_STALE = {"N": "REVALIDATED", " ": "HIT-STALE", "E": "HIT-STALE", "S": "EXPIRED"}


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


def via_cache_word(via: str | None) -> str | None:
    """The word of Apache Traffic Server's cache codes in a `Via` value, or None.

    The last member with codes is the cache closest to the client. A fresh hit (`cH`,
    `cR`) is a hit; a stale copy (`cS`) is a hit when the origin said 304 (`sN`,
    REVALIDATED) or was not asked (`s `, `sE`: served stale), and a miss when the origin
    sent the body again (`sS`, EXPIRED); a miss (`cM`, `cA`) and no lookup (`c `, a
    bypass: SKIPPED) are misses."""
    found = _ATS_VIA.findall(via or "")
    if not found:
        return None
    lookup, server, _ = found[-1]
    if lookup == "S":
        return _ATS_STALE.get(server)
    return _ATS_CODES.get(lookup)


def cache_status_of(headers: Mapping[str, str]) -> str | None:
    """The normalized cache status: from the first cache-status header that has one, else
    from `Via` cache codes. Traffic Server's `hit-stale` is what its lookup found; its Via
    codes say whether the body then came from the cache or from the origin."""
    via = via_cache_word(headers.get("Via"))
    for name in CACHE_STATUS_HEADERS:
        # httpx joins repeated header lines with ", ", which the last-value rule expects.
        value = headers.get(name)
        if value is None:
            continue
        status = _rfc9211(value) if name == "Cache-Status" else normalize_cache_status(value)
        if status is not None:
            if via is not None and (status == "HIT-STALE" or cache_verdict(status) is None):
                return via
            return status
    return via


def cache_signs(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """Every sign in `headers` that the answer came through a cache: (name, value) of
    `Age`, `Via` and any cache-status header, known or not. Empty: nothing says so.

    `Age: 0` counts (Traffic Server sends it on a miss): it says a cache handled the
    answer, not that the body came out of it — `cache_status_of` says that."""
    found: list[tuple[str, str]] = []
    for name in (*CACHE_STATUS_HEADERS, *_CACHE_SIGN_HEADERS):
        value = headers.get(name)
        if value is not None:
            found.append((name, value))
    seen = {name.lower() for name, _ in found}
    for name, value in headers.items():
        lower = name.lower()
        if "cache" in lower and lower not in seen and lower not in _NOT_A_SIGN:
            found.append((name, value))
            seen.add(lower)
    return found


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
