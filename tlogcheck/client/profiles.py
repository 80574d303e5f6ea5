"""The clients a log's users read it with, as whole requests: every header each sends.

A log that shows its monitor one thing and its users another is what transparency
exists to catch, and an edge can tell clients apart by any header, not only the
User-Agent: whether Accept-Encoding is sent at all (curl sends none), which codings it
lists (Go asks for gzip alone, browsers add br), what Accept says. So each profile is a
client's request as it goes on the wire (besides Host and the deployment's own
`--tlog-header`s), and `TLogClient.get(..., as_client=PROFILE)` sends exactly that —
none of tlogcheck's own headers — and decodes whatever coding comes back.

- `curl`: curl 8's default request (no Accept-Encoding);
- `python-requests`: requests 2.32 (`gzip, deflate`);
- `go-net-http`: Go's net/http client, what witnesses, sumdb-style verifiers and Tessera
  clients read with (`Accept-Encoding: gzip` added by its transport, nothing else);
- `browser`: Safari 17 navigating to the URL (`gzip, deflate, br`).

`tlogcheck-gzip` is tlogcheck asking for gzip, as C2SP tells tiled-log clients to.
"""

from __future__ import annotations

from dataclasses import dataclass

from tlogcheck import __version__

__all__ = ["CLIENT_PROFILES", "TLOGCHECK_GZIP", "ClientProfile"]


@dataclass(frozen=True)
class ClientProfile:
    """One client's request headers, in the order it sends them (Host aside)."""

    name: str
    headers: tuple[tuple[str, str], ...]

    @property
    def user_agent(self) -> str:
        return next((v for k, v in self.headers if k.lower() == "user-agent"), "")

    def describe(self) -> str:
        return f"{self.name} ({', '.join(f'{k}: {v}' for k, v in self.headers)})"


CLIENT_PROFILES = (
    ClientProfile("curl", (("User-Agent", "curl/8.5.0"), ("Accept", "*/*"))),
    ClientProfile(
        "python-requests",
        (
            ("User-Agent", "python-requests/2.32.3"),
            ("Accept-Encoding", "gzip, deflate"),
            ("Accept", "*/*"),
        ),
    ),
    ClientProfile(
        "go-net-http", (("User-Agent", "Go-http-client/1.1"), ("Accept-Encoding", "gzip"))
    ),
    ClientProfile(
        "browser",
        (
            (
                "User-Agent",
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
                "(KHTML, like Gecko) Version/17.6 Safari/605.1.15",
            ),
            ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            ("Accept-Language", "en-US,en;q=0.9"),
            ("Accept-Encoding", "gzip, deflate, br"),
        ),
    ),
)

TLOGCHECK_GZIP = ClientProfile(
    "tlogcheck-gzip",
    (("User-Agent", f"tlogcheck/{__version__}"), ("Accept", "*/*"), ("Accept-Encoding", "gzip")),
)
