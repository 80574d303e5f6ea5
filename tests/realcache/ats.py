"""Apache Traffic Server as the CDN edge, configured as an operator configures a reverse
proxy cache for this API, in one of two ways:

- `AtsEdge(cache_status_header="X-Cache")` (the default): the cache-status header ATS
  operators add with the bundled header_rewrite plugin, a global rule at
  SEND_RESPONSE_HDR_HOOK: `set-header X-Cache %{CACHE}`. `%{CACHE}` is the outcome of
  the cache lookup in ATS's own words: `miss`, `hit-fresh`, `hit-stale`, `skipped`
  (no lookup, e.g. caching turned off for the transaction), `none` (no lookup result).
  The xdebug plugin gives the same words on request (`X-Debug: X-Cache`), never unasked.
- `AtsEdge(cache_status_header=None)`: "only Via and Age": no cache-status header at all;
  ATS's `Via` response header with its cache codes (`insert_response_via_str 2`:
  `Via: http/1.1 edge-ats (ApacheTrafficServer/9.2.x [cHs f ])`, `[cMsSf ]` a miss,
  `[cSsNfU]` a stale copy revalidated, `[c sSf ]` a bypass) and `Age`, which ATS
  inserts on every answer (`insert_age_in_response`, default on; `Age: 0` on a miss).

Both: remap `/` to the origin; cache by the origin's Cache-Control
(`required_headers 2`: only answers with an explicit lifetime are stored; no negative
caching); `X-Bypass` (any value but empty or "0") turns caching off for the
transaction (header_rewrite in the remap rule: `set-config proxy.config.http.cache.http
0`), so a bypass is neither looked up nor stored; headers passed through.

With `pin_short_paths=SECONDS`, `cache.config` keeps root and checkpoint that long
(`url_regex=/v1/log/(root|checkpoint)$ ttl-in-cache=Ns`, "as if they had a
Cache-Control: max-age" of N, whatever the origin sent): the stale-root misconfiguration.

ATS runs as `traffic_server --run-root=WORKDIR/runroot.yaml` (no traffic_manager): the
runroot points sysconfdir, logs, runtime and a 64 MB cache file into the work directory;
the package's plugins and error templates are read from where Debian installs them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.realcache import SHORT_PATHS, CacheEdge, EdgeError

__all__ = ["AtsEdge", "AtsViaAgeEdge"]

PLUGIN_DIRS = ("/usr/lib/trafficserver/modules", "/usr/local/libexec/trafficserver")
BODY_FACTORY = ("/etc/trafficserver/body_factory", "/usr/local/etc/trafficserver/body_factory")


def _first_dir(candidates: tuple[str, ...]) -> str | None:
    return next((d for d in candidates if Path(d).is_dir()), None)


class AtsEdge(CacheEdge):
    software = "Apache Traffic Server"
    binaries = ("traffic_server",)
    install = "apt-get install trafficserver"
    kind = "ats"

    def __init__(
        self,
        origin_url: str | None = None,
        *,
        cache_status_header: str | None = "X-Cache",
        **kw: Any,
    ) -> None:
        super().__init__(origin_url, **kw)
        self.cache_status_header = cache_status_header
        if self.cache_status_header is None:
            self.kind = "ats-via-age"
        plugins = _first_dir(PLUGIN_DIRS)
        if plugins is None or not (Path(plugins) / "header_rewrite.so").is_file():
            where = ", ".join(PLUGIN_DIRS)
            raise EdgeError(f"ATS's header_rewrite plugin was not found in {where}")
        self.plugin_dir = plugins

    @classmethod
    def missing_reason(cls) -> str | None:
        why = super().missing_reason()
        if why is None:
            plugins = _first_dir(PLUGIN_DIRS)
            if plugins is None or not (Path(plugins) / "header_rewrite.so").is_file():
                return "Apache Traffic Server's header_rewrite plugin is not installed"
        return why

    version_args = ("--version",)
    version_pattern = r"Traffic Server (\S+)"

    @property
    def etc(self) -> Path:
        return self.workdir / "etc"

    def log_files(self) -> list[Path]:
        return [self.workdir / "log" / "diags.log", self.workdir / "log" / "err.log",
                self.workdir / "console.log"]  # fmt: skip

    def write_config(self, origin_host: str, origin_port: int) -> None:
        w = self.workdir
        for sub in ("etc", "log", "run", "cache", "var"):
            (w / sub).mkdir(exist_ok=True)
        (w / "runroot.yaml").write_text(
            f"prefix: {w}\n"
            "exec_prefix: /usr\n"
            "bindir: /usr/bin\n"
            "sbindir: /usr/sbin\n"
            f"sysconfdir: {w}/etc\n"
            f"datadir: {w}/var\n"
            "includedir: /usr/include\n"
            f"libdir: {Path(self.plugin_dir).parent}\n"
            f"libexecdir: {self.plugin_dir}\n"
            f"localstatedir: {w}/var\n"
            f"runtimedir: {w}/run\n"
            f"logdir: {w}/log\n"
            f"cachedir: {w}/cache\n"
        )
        body_factory = _first_dir(BODY_FACTORY)
        records = [
            # One listener, loopback only.
            f"CONFIG proxy.config.http.server_ports STRING {self.port}:ipv4:ip-in={self.host}",
            # Keep our uid (no traffic_manager to drop privileges for us).
            "CONFIG proxy.config.admin.user_id STRING #-1",
            "CONFIG proxy.config.proxy_name STRING edge-ats",
            # A reverse proxy: only what remap.config maps is served.
            "CONFIG proxy.config.reverse_proxy.enabled INT 1",
            "CONFIG proxy.config.url_remap.remap_required INT 1",
            "CONFIG proxy.config.url_remap.pristine_host_hdr INT 0",
            # Cache by the origin's Cache-Control; store only answers with a lifetime.
            "CONFIG proxy.config.http.cache.http INT 1",
            "CONFIG proxy.config.http.cache.required_headers INT 2",
            "CONFIG proxy.config.http.cache.when_to_revalidate INT 0",
            "CONFIG proxy.config.http.cache.ignore_client_cc_max_age INT 1",
            "CONFIG proxy.config.http.negative_caching_enabled INT 0",
            # The cache signals ATS has of its own: Via with cache codes, and Age.
            "CONFIG proxy.config.http.insert_response_via_str INT 2",
            "CONFIG proxy.config.http.insert_request_via_str INT 1",
            "CONFIG proxy.config.http.insert_age_in_response INT 1",
            # Small: one exec thread, a 32 MB RAM cache over a 64 MB cache file.
            "CONFIG proxy.config.exec_thread.autoconfig INT 0",
            "CONFIG proxy.config.exec_thread.limit INT 1",
            "CONFIG proxy.config.accept_threads INT 0",
            "CONFIG proxy.config.task_threads INT 1",
            "CONFIG proxy.config.cache.threads_per_disk INT 2",
            "CONFIG proxy.config.cache.ram_cache.size INT 33554432",
            "CONFIG proxy.config.http.connect_attempts_timeout INT 10",
            "CONFIG proxy.config.http.transaction_no_activity_timeout_out INT 30",
            "CONFIG proxy.config.log.logging_enabled INT 3",
            "CONFIG proxy.config.diags.debug.enabled INT 0",
            "CONFIG proxy.config.hostdb.host_file.path STRING /etc/hosts",
        ]
        if body_factory is not None:
            records.append(
                f"CONFIG proxy.config.body_factory.template_sets_dir STRING {body_factory}"
            )
        etc = self.etc
        (etc / "records.config").write_text("\n".join(records) + "\n")
        (etc / "storage.config").write_text(f"{w}/cache 64M\n")
        (etc / "bypass.conf").write_text(
            "# X-Bypass: 1 (any value but empty or 0): no cache lookup, nothing stored.\n"
            'cond %{CLIENT-HEADER:X-Bypass} ="" [NOT,AND]\n'
            'cond %{CLIENT-HEADER:X-Bypass} ="0" [NOT]\n'
            "    set-config proxy.config.http.cache.http 0\n"
        )
        (etc / "remap.config").write_text(
            f"map / http://{origin_host}:{origin_port}/ "
            f"@plugin=header_rewrite.so @pparam={etc}/bypass.conf\n"
        )
        plugin_lines = []
        if self.cache_status_header is not None:
            (etc / "cache_status.conf").write_text(
                "# The cache lookup's outcome on every answer: miss, hit-fresh, hit-stale,\n"
                "# skipped, none.\n"
                "cond %{SEND_RESPONSE_HDR_HOOK}\n"
                f"    set-header {self.cache_status_header} %{{CACHE}}\n"
            )
            plugin_lines.append(f"header_rewrite.so {etc}/cache_status.conf")
        (etc / "plugin.config").write_text("".join(line + "\n" for line in plugin_lines))
        cache_rules = []
        if self.pin_short_paths is not None:
            regex = "/v1/log/(" + "|".join(p.rsplit("/", 1)[1] for p in SHORT_PATHS) + ")$"
            cache_rules.append(f"url_regex={regex} ttl-in-cache={int(self.pin_short_paths)}s")
        (etc / "cache.config").write_text("".join(line + "\n" for line in cache_rules))
        (etc / "ip_allow.yaml").write_text(
            "ip_allow:\n"
            "  - apply: in\n    ip_addrs: 127.0.0.1\n    action: allow\n    methods: ALL\n"
            "  - apply: in\n    ip_addrs: 0/0\n    action: deny\n    methods: ALL\n"
        )
        (etc / "logging.yaml").write_text(
            "logging:\n"
            "  formats:\n"
            "    - name: edge\n"
            "      format: '%<cqtq> %<ttms> %<crc>/%<pssc> %<cqhm> %<cquc> %<phr>/%<shn>"
            " %<{X-Bypass}cqh>'\n"
            "  logs:\n"
            "    - filename: access\n      format: edge\n      mode: ascii\n"
        )
        for name in ("hosting.config", "parent.config", "volume.config", "sni.yaml",
                     "ssl_multicert.config", "splitdns.config", "socks.config",
                     "strategies.yaml"):  # fmt: skip
            (etc / name).touch()

    def check_config(self) -> None:
        # `traffic_server -C verify_config` needs no running server.
        self._run_checked(
            [self.binary, f"--run-root={self.workdir}/runroot.yaml", "-C", "verify_config"],
            "traffic_server -C verify_config",
        )

    def command(self) -> list[str]:
        log = self.workdir / "log"
        return [
            self.binary,
            f"--run-root={self.workdir}/runroot.yaml",
            "--bind_stdout", str(log / "out.log"),
            "--bind_stderr", str(log / "err.log"),
        ]  # fmt: skip

    def ready(self) -> bool:
        # The port is bound before the cache directory is initialised; answers then
        # go uncached. Ready once diags.log says the cache is enabled.
        try:
            text = (self.workdir / "log" / "diags.log").read_text(errors="replace")
        except OSError:
            return False
        return "cache enabled" in text and "traffic server running" in text


class AtsViaAgeEdge(AtsEdge):
    """ATS with no cache-status header: only its Via cache codes and Age."""

    kind = "ats-via-age"

    def __init__(self, origin_url: str | None = None, **kw: Any) -> None:
        kw["cache_status_header"] = None
        super().__init__(origin_url, **kw)
