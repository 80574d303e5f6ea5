"""HAProxy's HTTP cache as the CDN edge, in one of two ways:

- `HaproxyEdge(cache_status_header="X-Cache-Status")` (the default): the header HAProxy
  operators add from the `res.cache_hit` sample fetch (HAProxy >= 2.4):
  `X-Cache-Status: HIT` / `MISS`, and `BYPASS` for `X-Bypass` requests;
- `HaproxyEdge(cache_status_header=None)`: HAProxy's cache as it comes: it sends `Age`
  on an answer from its cache and nothing at all on a miss.

Both: one `cache` section (64 MB, objects up to 1 MB, `max-age 3600`: HAProxy keeps an
object for the origin's `s-maxage`/`max-age`, at most that), `process-vary on`,
`cache-use` / `cache-store` in the frontend unless the request carries `X-Bypass` (any
value but empty or "0": neither looked up nor stored), HTTP keep-alive to the origin.
HAProxy answers `If-None-Match` from its cache itself.

HAProxy's cache only ever shortens the origin's lifetime (`max-age` in the cache section
is a cap). The one way an operator makes it keep the root longer is to give the CDN its
own lifetime in the response, `s-maxage`, which HAProxy's cache prefers to `max-age`:
with `pin_short_paths=SECONDS` the backend appends `, s-maxage=SECONDS` to the
Cache-Control of `/v1/log/root` and `/v1/log/checkpoint` (the stale-root
misconfiguration; unlike ATS's and Squid's it shows in the header).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.realcache import SHORT_PATHS, CacheEdge

__all__ = ["HaproxyAgeEdge", "HaproxyEdge"]


class HaproxyEdge(CacheEdge):
    software = "HAProxy"
    binaries = ("haproxy",)
    install = "apt-get install haproxy"
    kind = "haproxy"

    def __init__(
        self,
        origin_url: str | None = None,
        *,
        cache_status_header: str | None = "X-Cache-Status",
        **kw: Any,
    ) -> None:
        super().__init__(origin_url, **kw)
        self.cache_status_header = cache_status_header

    @property
    def conf(self) -> Path:
        return self.workdir / "haproxy.cfg"

    def write_config(self, origin_host: str, origin_port: int) -> None:
        w = self.workdir
        status = self.cache_status_header
        front = [
            "frontend edge",
            f"    bind {self.host}:{self.port}",
            "    acl bypass_sent req.hdr(x-bypass) -m found",
            "    acl bypass_off req.hdr(x-bypass) -m str 0",
            "    acl bypass_off req.hdr(x-bypass) -m len 0",
            "    http-request set-var(txn.bypass) bool(1) if bypass_sent !bypass_off",
            "    http-request cache-use tlog unless { var(txn.bypass) -m bool }",
            "    http-response cache-store tlog unless { var(txn.bypass) -m bool }",
        ]
        if status is not None:
            front += [
                f"    http-response set-header {status} BYPASS if {{ var(txn.bypass) -m bool }}",
                f"    http-response set-header {status} HIT if "
                "!{ var(txn.bypass) -m bool } { res.cache_hit }",
                f"    http-response set-header {status} MISS if "
                "!{ var(txn.bypass) -m bool } !{ res.cache_hit }",
            ]
        front.append("    default_backend origin")
        back = [
            "backend origin",
            "    http-reuse safe",
            f"    server origin {origin_host}:{origin_port}",
        ]
        if self.pin_short_paths is not None:
            paths = " ".join(SHORT_PATHS)
            back[1:1] = [
                f"    http-request set-var(txn.short) bool(1) if {{ path {paths} }}",
                "    http-response set-header Cache-Control "
                f'"%[res.fhdr(cache-control)], s-maxage={int(self.pin_short_paths)}" '
                "if { var(txn.short) -m bool } { status 200 }",
            ]
        text = "\n".join(
            [
                "global",
                "    maxconn 512",
                "    nbthread 1",
                f"    pidfile {w}/haproxy.pid",
                "",
                "defaults",
                "    mode http",
                "    timeout connect 10s",
                "    timeout client 60s",
                "    timeout server 30s",
                "    timeout http-request 10s",
                "    option http-keep-alive",
                "",
                "cache tlog",
                "    total-max-size 64",
                "    max-object-size 1048576",
                "    max-age 3600",
                "    process-vary on",
                "",
                *front,
                "",
                *back,
                "",
            ]
        )
        self.conf.write_text(text)

    def check_config(self) -> None:
        self._run_checked([self.binary, "-c", "-f", str(self.conf)], "haproxy -c")

    def command(self) -> list[str]:
        # -db: foreground, no daemon; SIGTERM stops it at once.
        return [self.binary, "-db", "-f", str(self.conf)]


class HaproxyAgeEdge(HaproxyEdge):
    """HAProxy's cache with no cache-status header: `Age` on hits, nothing on misses."""

    kind = "haproxy-age"

    def __init__(self, origin_url: str | None = None, **kw: Any) -> None:
        kw["cache_status_header"] = None
        super().__init__(origin_url, **kw)
