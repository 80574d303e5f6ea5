"""Which URLs a module may probe: one normal form, prefixes on segment boundaries, and
every spelling game refused or normalised (issue: credentials only to their targets)."""

from __future__ import annotations

import pytest

from tlogcheck.exporter.targets import Place, allowed, normalise

PREFIX = normalise("https://tlog.example.com/pop")


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        ("https://tlog.example.com", "https://tlog.example.com"),
        ("HTTPS://TLOG.Example.COM/", "https://tlog.example.com"),
        ("https://tlog.example.com./pop", "https://tlog.example.com/pop"),
        ("https://tlog.example.com:443/pop/", "https://tlog.example.com/pop"),
        ("http://tlog.example.com:80", "http://tlog.example.com"),
        ("http://tlog.example.com:8080/a/b", "http://tlog.example.com:8080/a/b"),
        ("http://[::1]:9115/x", "http://[::1]:9115/x"),
        ("http://127.0.0.1:9/a%7eb", "http://127.0.0.1:9/a%7Eb"),
    ],
)
def test_urls_have_one_normal_form(raw: str, url: str) -> None:
    assert normalise(raw).url == url


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("https://tlog.example.com@attacker.example/", "user:password@"),
        ("https://user:secret@tlog.example.com/", "user:password@"),
        ("https://tlog.example.com/pop?x=1", "query or fragment"),
        ("https://tlog.example.com/pop#frag", "query or fragment"),
        ("https://tlog.example.com/pop?", "query or fragment"),
        ("ftp://tlog.example.com/", "not http"),
        ("//tlog.example.com/", "not http"),
        ("https:///pop", "no host"),
        ("https://tlog.example.com\\@attacker.example/", "backslash"),
        ("https://tlog.example.com /pop", "whitespace"),
        ("https://tlög.example.com/", "non-ASCII"),
        ("https://tlog%2eexample.com/", "plain DNS name"),
        ("https://tlog.example.com:0/", "port"),
        ("https://tlog.example.com:99999/", "port"),
        ("https://tlog.example.com:x/", "port"),
        ("https://tlog.example.com/pop/../admin", "'..'"),
        ("https://tlog.example.com/pop/./x", "'.'"),
        ("https://tlog.example.com/pop//x", "empty"),
        ("https://tlog.example.com/pop/%2e%2e/admin", "percent-encoded"),
        ("https://tlog.example.com/pop%2Fx", "percent-encoded"),
        ("https://tlog.example.com/pop%5cx", "percent-encoded"),
        ("https://tlog.example.com/pop/..;/admin", "'..'"),
        ("https://tlog.example.com/pop;x=1", "';'"),
    ],
)
def test_spelling_games_are_refused_without_repeating_the_url(raw: str, why: str) -> None:
    with pytest.raises(ValueError) as caught:
        normalise(raw)
    assert why in str(caught.value)
    assert "secret" not in str(caught.value) and "attacker" not in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "inside"),
    [
        ("https://tlog.example.com/pop", True),
        ("https://TLOG.example.com./pop/", True),
        ("https://tlog.example.com:443/pop/eu-1", True),
        ("https://tlog.example.com/popx", False),  # a segment boundary, not a string prefix
        ("https://tlog.example.com/", False),
        ("http://tlog.example.com/pop", False),  # another scheme
        ("https://tlog.example.com:8443/pop", False),  # another port
        ("https://tlog.example.com.attacker.example/pop", False),
        ("https://attacker.example/pop", False),
    ],
)
def test_prefixes_match_scheme_host_port_and_whole_segments(raw: str, inside: bool) -> None:
    assert normalise(raw).within(PREFIX) is inside
    assert allowed(normalise(raw), (PREFIX,)) is inside


def test_an_empty_list_allows_nothing_and_a_host_prefix_allows_its_paths() -> None:
    place = normalise("https://tlog.example.com/pop")
    assert not allowed(place, ())
    assert allowed(place, (normalise("https://tlog.example.com"),))
    assert Place("https", "tlog.example.com", 443, ("pop",)) == place
