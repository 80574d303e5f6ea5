"""The edges' cache-status words: every vendor's vocabulary, read as hit, miss or unknown."""

from __future__ import annotations

import httpx
import pytest

from tlogcheck.client.cdn import (
    HIT_STATUSES,
    MISS_STATUSES,
    cache_signs,
    cache_status_of,
    cache_verdict,
    is_hit,
    normalize_cache_status,
    via_cache_word,
)
from tlogcheck.refstack.edge_faults import DIALECTS
from tlogcheck.refstack.faults import DIALECT_NAMES

CACHE_SPELLINGS = [
    # X-Cache, as the spec lists it
    ("X-Cache", "HIT", "HIT"),
    ("X-Cache", "MISS", "MISS"),
    ("X-Cache", "BYPASS", "BYPASS"),
    ("X-Cache", "STALE", "STALE"),
    ("X-Cache", "EXPIRED", "EXPIRED"),
    ("X-Cache", "REFRESHHIT", "REFRESHHIT"),
    ("X-Cache", "Hit from cloudfront", "HIT"),
    ("X-Cache", "RefreshHit from cloudfront", "REFRESHHIT"),
    ("X-Cache", "Miss from cloudfront", "MISS"),
    ("X-Cache", "Error from cloudfront", "ERROR"),
    # Cloudflare
    ("CF-Cache-Status", "HIT", "HIT"),
    ("CF-Cache-Status", "MISS", "MISS"),
    ("CF-Cache-Status", "EXPIRED", "EXPIRED"),
    ("CF-Cache-Status", "STALE", "STALE"),
    ("CF-Cache-Status", "BYPASS", "BYPASS"),
    ("CF-Cache-Status", "REVALIDATED", "REVALIDATED"),
    ("CF-Cache-Status", "UPDATING", "UPDATING"),
    ("CF-Cache-Status", "DYNAMIC", "DYNAMIC"),
    # nginx $upstream_cache_status
    ("X-Cache-Status", "HIT", "HIT"),
    ("X-Cache-Status", "MISS", "MISS"),
    ("X-Cache-Status", "BYPASS", "BYPASS"),
    ("X-Cache-Status", "EXPIRED", "EXPIRED"),
    ("X-Cache-Status", "STALE", "STALE"),
    ("X-Cache-Status", "UPDATING", "UPDATING"),
    ("X-Cache-Status", "REVALIDATED", "REVALIDATED"),
    # case-insensitive names and values, stray whitespace
    ("x-cache", "hit", "HIT"),
    ("X-CACHE", "  miss from CloudFront ", "MISS"),
    ("cf-cache-status", "Dynamic", "DYNAMIC"),
    ("x-cache-status", "hit", "HIT"),
    # Fastly / Varnish with shielding: one value per cache, the delivering edge last
    ("X-Cache", "MISS, HIT", "HIT"),
    ("X-Cache", "HIT, MISS", "MISS"),
    ("X-Cache", "HIT,HIT", "HIT"),
    ("X-Cache", "MISS, ", "MISS"),
]


@pytest.mark.parametrize(("name", "value", "expected"), CACHE_SPELLINGS)
def test_cache_status_spellings(name: str, value: str, expected: str) -> None:
    assert cache_status_of(httpx.Headers({name: value})) == expected


def test_cache_status_absent_or_empty() -> None:
    assert cache_status_of(httpx.Headers({})) is None
    assert cache_status_of(httpx.Headers({"X-Cache": " , "})) is None
    assert normalize_cache_status("") is None
    # An empty X-Cache does not hide the next header.
    assert cache_status_of(httpx.Headers({"X-Cache": "", "CF-Cache-Status": "HIT"})) == "HIT"


def test_cache_status_header_order() -> None:
    headers = httpx.Headers({"CF-Cache-Status": "MISS", "X-Cache": "HIT", "X-Cache-Status": "X"})
    assert cache_status_of(headers) == "HIT"
    headers = httpx.Headers({"X-Cache-Status": "STALE", "CF-Cache-Status": "DYNAMIC"})
    assert cache_status_of(headers) == "DYNAMIC"


def test_repeated_cache_header_lines_take_the_last() -> None:
    headers = httpx.Headers([("X-Cache", "MISS"), ("X-Cache", "HIT")])
    assert cache_status_of(headers) == "HIT"


@pytest.mark.parametrize(
    ("status", "hit"),
    [
        ("HIT", True),
        ("REFRESHHIT", True),
        ("STALE", True),
        ("UPDATING", True),
        ("REVALIDATED", True),
        ("MISS", False),
        ("EXPIRED", False),
        ("BYPASS", False),
        ("DYNAMIC", False),
        ("ERROR", False),
        (None, False),
    ],
)
def test_is_hit(status: str | None, hit: bool) -> None:
    assert is_hit(status) is hit
    assert (status in HIT_STATUSES) is hit


VENDORS = [
    # Akamai, with Pragma: akamai-x-cache-on
    ("X-Cache", "TCP_MEM_HIT from a23-45-67-89.deploy.akamaitechnologies.com (Ghost)", "hit"),
    ("X-Cache", "TCP_HIT from a23-45-67-89.deploy.akamaitechnologies.com", "hit"),
    ("X-Cache", "TCP_IMS_HIT from a1.deploy.akamaitechnologies.com", "hit"),
    ("X-Cache", "TCP_REFRESH_HIT from a1.deploy.akamaitechnologies.com", "hit"),
    ("X-Cache", "TCP_MISS from a23-45-67-89.deploy.akamaitechnologies.com (Ghost)", "miss"),
    ("X-Cache", "TCP_REFRESH_MISS from a1.deploy.akamaitechnologies.com", "miss"),
    # CloudFront
    ("X-Cache", "Hit from cloudfront", "hit"),
    ("X-Cache", "RefreshHit from cloudfront", "hit"),
    ("X-Cache", "Miss from cloudfront", "miss"),
    ("X-Cache", "Error from cloudfront", "miss"),
    # Fastly / Varnish, shielded: the delivering cache last
    ("X-Cache", "MISS, HIT", "hit"),
    ("X-Cache", "HIT, MISS", "miss"),
    ("X-Cache", "PASS", "miss"),
    # Azure Front Door
    ("X-Cache", "TCP_REMOTE_HIT", "hit"),
    ("X-Cache", "CONFIG_NOCACHE", "miss"),
    ("X-Cache", "UNCACHEABLE", "miss"),
    # Cloudflare
    ("CF-Cache-Status", "HIT", "hit"),
    ("CF-Cache-Status", "REVALIDATED", "hit"),
    ("CF-Cache-Status", "EXPIRED", "miss"),
    ("CF-Cache-Status", "DYNAMIC", "miss"),
    # nginx
    ("X-Cache-Status", "STALE", "hit"),
    ("X-Cache-Status", "BYPASS", "miss"),
    # RFC 9211: one member per cache, the one closest to the client last
    ("Cache-Status", "ExampleCache; hit", "hit"),
    ("Cache-Status", "OriginShield; fwd=miss; stored, EdgeCache; hit", "hit"),
    ("Cache-Status", "OriginShield; hit, EdgeCache; fwd=uri-miss", "miss"),
    ("Cache-Status", "EdgeCache; fwd=stale; fwd-status=200", "miss"),
]


@pytest.mark.parametrize(("name", "value", "verdict"), VENDORS)
def test_every_vendors_words(name: str, value: str, verdict: str) -> None:
    assert cache_verdict(cache_status_of(httpx.Headers({name: value}))) == verdict


@pytest.mark.parametrize(
    "value", ["WARM from tlog-edge", "TCP_SOMETHING_NEW", "Hit-ish", "EdgeCache; collapsed"]
)
def test_unknown_words_are_neither(value: str) -> None:
    name = "Cache-Status" if ";" in value else "X-Cache"
    status = cache_status_of(httpx.Headers({name: value}))
    assert status is not None and cache_verdict(status) is None and not is_hit(status)


def test_no_word_is_both() -> None:
    assert not HIT_STATUSES & MISS_STATUSES


def test_the_reference_edges_dialects_are_the_faults() -> None:
    assert set(DIALECTS) == set(DIALECT_NAMES)


# Apache Traffic Server 9.2, Debian's package, as an operator configures it: the words of
# header_rewrite's %{CACHE} in X-Cache, and the cache codes of its Via (level 2).
ATS_VIA = "http/1.1 edge-ats (ApacheTrafficServer/9.2.9 [{}])"
ATS_ANSWERS = [
    # (X-Cache, Via codes, verdict): what each transaction of the real server said
    ("miss", "cMsSfW", "miss"),
    ("hit-fresh", "cHs f ", "hit"),
    ("hit-fresh", "cRs f ", "hit"),  # from the RAM cache
    ("skipped", "c sSf ", "miss"),  # X-Bypass: no lookup, nothing stored
    ("hit-stale", "cSsNfU", "hit"),  # a stale copy the origin answered 304 for
    ("hit-stale", "cSsSfU", "miss"),  # a stale copy the origin sent again: its body
    ("none", "c sSf ", "miss"),
    (None, "cMsSfW", "miss"),  # only Via and Age
    (None, "cHs f ", "hit"),
    (None, "cSsNfU", "hit"),
    (None, "cSsSfU", "miss"),
]


@pytest.mark.parametrize(("word", "codes", "verdict"), ATS_ANSWERS)
def test_traffic_servers_words_and_via_codes(word: str | None, codes: str, verdict: str) -> None:
    headers = httpx.Headers({"Age": "0", "Via": ATS_VIA.format(codes)})
    if word is not None:
        headers["X-Cache"] = word
    assert cache_verdict(cache_status_of(headers)) == verdict


def test_hit_stale_without_via_is_a_hit_and_via_levels_are_read() -> None:
    # Fastly's HIT-STALE, or Traffic Server's without Via: served from the cache.
    assert cache_verdict(cache_status_of(httpx.Headers({"X-Cache": "hit-stale"}))) == "hit"
    # The verbose level: `u` first, the proxy and error fields after.
    assert via_cache_word("http/1.1 ats (ApacheTrafficServer/9.2 [uScHs f pSeN:t cCHi p s ])") == (
        "HIT-FRESH"
    )
    # Several hops: the last one with codes is the cache closest to the client.
    assert via_cache_word("1.1 a (ApacheTrafficServer [cMsSfW]), 1.1 b (ATS [cHs f ])") == (
        "HIT-FRESH"
    )
    for via in (None, "", "1.1 varnish", "1.1 edge-squid (squid/5.7)", "1.1 x [cXsSf ]"):
        assert via_cache_word(via) is None
    # A word nobody knows, explained by Via codes: the codes decide.
    headers = httpx.Headers({"X-Cache": "WARM", "Via": ATS_VIA.format("cHs f ")})
    assert cache_status_of(headers) == "HIT-FRESH"


@pytest.mark.parametrize(
    ("headers", "signs"),
    [
        ({"Age": "0"}, ["Age"]),  # HAProxy's cache on a hit; Traffic Server on a miss
        ({"Via": "1.1 edge-squid (squid/5.7)"}, ["Via"]),
        (
            {"X-Cache": "MISS from edge-squid", "X-Cache-Lookup": "MISS from edge:3128"},
            ["X-Cache", "X-Cache-Lookup"],
        ),
        ({"X-Served-By": "cache-fra19165-FRA"}, ["X-Served-By"]),
        ({"X-Edge-Cache-Result": "warm"}, ["X-Edge-Cache-Result"]),  # a word nobody lists
        ({"Cache-Control": "max-age=60", "CDN-Cache-Control": "max-age=60", "ETag": '"x"'}, []),
        ({}, []),
    ],
)
def test_every_sign_of_a_cache(headers: dict[str, str], signs: list[str]) -> None:
    found = [name.lower() for name, _ in cache_signs(httpx.Headers(headers))]
    assert found == [s.lower() for s in signs]
