"""Which URLs a module may probe: one normal form for a URL, and prefixes compared exactly.

A probe asks the exporter to read whatever `target=` names, and a module may carry
credentials (an access gateway's header, a proxy's password). Those go only to the
targets the module lists (`targets:` in the config), so the comparison must be the one
the HTTP client will act on, with no room for spelling games:

- the scheme is http or https, lowercased; the host lowercased, one trailing dot
  dropped (`tlog.example.com.` is `tlog.example.com`); the port made explicit (80 for
  http, 443 for https); IPv6 literals kept in brackets;
- refused outright, never guessed: user:password@ (a classic way to name one host and
  reach another), a query or fragment (a base URL has neither), whitespace, control
  characters and backslashes, percent-encoding in the host, and in the path empty
  segments, `.` and `..` segments, `;`, and percent-encoded `.`, `/` or `\\` (servers
  disagree on what those mean);
- a path prefix matches on segment boundaries: `/tlog` covers `/tlog` and
  `/tlog/pop-1`, never `/tlogx`.

`Place.url` is the canonical spelling the client is then given, so the URL checked is
the URL asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["DEFAULT_PORTS", "Place", "allowed", "normalise"]

DEFAULT_PORTS = {"http": 80, "https": 443}

_HOST_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*")
_IPV6 = re.compile(r"\[[0-9a-f:.]+\]")
_SEGMENT = re.compile(r"(?:[A-Za-z0-9._~!$&'()*+,=:@-]|%[0-9A-Fa-f]{2})+")
_ENCODED_SEPARATOR = re.compile(r"%(?:2[eEfF]|5[cC])")


@dataclass(frozen=True)
class Place:
    """A URL in normal form: what a probe would reach, and what a prefix covers."""

    scheme: str
    host: str
    port: int
    path: tuple[str, ...]

    @property
    def url(self) -> str:
        """The canonical spelling (the default port left out, no trailing slash)."""
        default = self.port == DEFAULT_PORTS[self.scheme]
        netloc = self.host if default else f"{self.host}:{self.port}"
        path = "".join(f"/{s}" for s in self.path)
        return f"{self.scheme}://{netloc}{path}"

    def within(self, prefix: Place) -> bool:
        """Same scheme, host and port, and `prefix`'s path segments begin this one's."""
        return (self.scheme, self.host, self.port) == (
            prefix.scheme,
            prefix.host,
            prefix.port,
        ) and self.path[: len(prefix.path)] == prefix.path

    def __str__(self) -> str:
        return self.url


def _host(netloc: str) -> tuple[str, str]:
    """(host, port text) of a netloc without userinfo."""
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            raise ValueError("an IPv6 host is not closed with ']'")
        host, rest = netloc[: end + 1], netloc[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError("unexpected characters after the IPv6 host")
        return host, rest[1:]
    host, _, port = netloc.partition(":")
    return host, port


def normalise(raw: str) -> Place:
    """The normal form of an http(s) base URL; ValueError saying what is refused.

    The message never repeats the URL: it may hold a password someone pasted in."""
    if not isinstance(raw, str) or not raw:
        raise ValueError("the URL is empty")
    if any(c.isspace() or ord(c) < 0x21 or ord(c) > 0x7E for c in raw):
        raise ValueError("the URL holds whitespace, control or non-ASCII characters")
    if "\\" in raw:
        raise ValueError("the URL holds a backslash")
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError("the URL is not http:// or https://")
    if "@" in parts.netloc:
        raise ValueError("the URL carries user:password@ (refused: name the host alone)")
    if parts.query or parts.fragment or "?" in raw or "#" in raw:
        raise ValueError("the URL carries a query or fragment (a base URL has neither)")
    host, port_text = _host(parts.netloc)
    host = host.lower()
    if host.endswith(".") and not host.startswith("["):
        host = host[:-1]
    if not host:
        raise ValueError("the URL has no host")
    if not (_IPV6.fullmatch(host) or _HOST_NAME.fullmatch(host)):
        raise ValueError("the URL's host is not a plain DNS name or IP address")
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError("the URL's port is not a number within 1..65535")
        port = int(port_text)
    else:
        port = DEFAULT_PORTS[scheme]
    segments = parts.path.split("/")[1:] if parts.path else []
    if segments and segments[-1] == "":
        segments.pop()  # one trailing slash: the same base URL
    for seg in segments:
        if seg in ("", ".", "..") or seg.startswith(".."):
            raise ValueError("the URL's path has an empty, '.' or '..' segment")
        if ";" in seg or _ENCODED_SEPARATOR.search(seg):
            raise ValueError("the URL's path holds ';' or a percent-encoded '.', '/' or '\\'")
        if not _SEGMENT.fullmatch(seg):
            raise ValueError("the URL's path holds characters a URL path does not")
    canonical = tuple(re.sub(r"%[0-9a-f]{2}", lambda m: m.group().upper(), s) for s in segments)
    return Place(scheme, host, port, canonical)


def allowed(place: Place, prefixes: tuple[Place, ...]) -> bool:
    """Whether `place` is within one of `prefixes` (an empty list allows nothing)."""
    return any(place.within(p) for p in prefixes)
