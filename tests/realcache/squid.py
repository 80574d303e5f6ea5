"""Squid as the CDN edge: an accelerator (reverse proxy) in front of one origin server.

The operator's config: `http_port ... accel` with the origin as a `cache_peer ...
originserver`, a memory-only cache (`cache_mem`), the default `refresh_pattern` (the
origin's Cache-Control decides: max-age is the lifetime, no-store is never stored),
`cache deny` for `X-Bypass` (any value but empty or "0"): "not satisfied from the cache
and the reply not cached". Squid's own signals, left on: `X-Cache: HIT|MISS from
edge-squid`, `X-Cache-Lookup: HIT|MISS|NONE from edge-squid:PORT`, `Via: 1.1 edge-squid
(squid/5.x)`, and `Age` on answers from its cache.

With `pin_short_paths=SECONDS`, a `refresh_pattern` for root and checkpoint with
`override-expire` keeps them fresh for at least that long (rounded up to whole minutes,
Squid's unit) whatever max-age the origin sent: the stale-root misconfiguration.

Squid refuses to run as root: when started as root it drops to `proxy` (Debian's squid
user), or `nobody`, which then owns the work directory.
"""

from __future__ import annotations

import math
from pathlib import Path

from tests.realcache import SHORT_PATHS, CacheEdge, chown_tree, unprivileged_user

__all__ = ["SquidEdge"]


class SquidEdge(CacheEdge):
    software = "Squid"
    binaries = ("squid",)
    install = "apt-get install squid"
    kind = "squid"

    @property
    def conf(self) -> Path:
        return self.workdir / "squid.conf"

    def log_files(self) -> list[Path]:
        return [self.workdir / "cache.log", self.workdir / "console.log"]

    def write_config(self, origin_host: str, origin_port: int) -> None:
        w = self.workdir
        user = unprivileged_user()
        lines = [
            f"http_port {self.host}:{self.port} accel defaultsite=tlog-edge no-vhost",
            f"cache_peer {origin_host} parent {origin_port} 0 no-query no-digest "
            "originserver name=origin connect-timeout=10",
            "cache_peer_access origin allow all",
            "never_direct allow all",
            "http_access allow localhost",
            "http_access deny all",
            # X-Bypass: any value but empty or 0 -> neither served from nor stored in cache.
            "acl bypass req_header X-Bypass .",
            "acl bypass_off req_header X-Bypass ^0$",
            "cache deny bypass !bypass_off",
            "collapsed_forwarding on",
            "visible_hostname edge-squid",
            "via on",
            "forwarded_for delete",
            # Memory only: no cache_dir.
            "cache_mem 32 MB",
            "maximum_object_size_in_memory 1 MB",
            "memory_cache_mode always",
        ]
        if self.pin_short_paths is not None:
            minutes = max(1, math.ceil(self.pin_short_paths / 60))
            regex = "/v1/log/(" + "|".join(p.rsplit("/", 1)[1] for p in SHORT_PATHS) + ")$"
            lines.append(f"refresh_pattern {regex} {minutes} 100% {minutes} override-expire")
        lines += [
            "refresh_pattern . 0 20% 4320",
            f"pid_filename {w}/squid.pid",
            f"access_log stdio:{w}/access.log squid",
            f"cache_log {w}/cache.log",
            "cache_store_log none",
            f"coredump_dir {w}",
            "pinger_enable off",
            "shutdown_lifetime 1 seconds",
        ]
        if user is not None:
            lines.append(f"cache_effective_user {user[2]}")
        self.conf.write_text("\n".join(line for line in lines if line) + "\n")
        if user is not None:
            chown_tree(w, user[0], user[1])

    def check_config(self) -> None:
        self._run_checked([self.binary, "-k", "parse", "-f", str(self.conf)], "squid -k parse")

    def command(self) -> list[str]:
        # -N: no daemon, one process; -d1: startup problems to stderr (console.log).
        return [self.binary, "-N", "-d1", "-f", str(self.conf)]

    def ready(self) -> bool:
        try:
            text = (self.workdir / "cache.log").read_text(errors="replace")
        except OSError:
            return False
        return "Accepting reverse-proxy HTTP Socket connections" in text
