"""nginx as the edge: the rendered ci/edge/nginx.conf, the child process, the cache rules.

Rendering is tested everywhere; what needs the binary skips, with the reason, on a
machine without nginx (CI installs it with apt).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pwd
import socket
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tlogcheck.errors import ConfigError
from tlogcheck.refstack import nginx as nginx_module
from tlogcheck.refstack.data import demo_entries, demo_signer
from tlogcheck.refstack.faults import FaultSet
from tlogcheck.refstack.log import Log
from tlogcheck.refstack.nginx import NginxEdge, nginx_available, render, template_path
from tlogcheck.refstack.origin import Origin
from tlogcheck.refstack.server import BackgroundServers, run_in_thread
from tlogcheck.refstack.upstream import Upstream

needs_nginx = pytest.mark.skipif(
    nginx_available() is None, reason="nginx is not installed (apt-get install nginx)"
)
IDENTITY = {"accept-encoding": "identity"}


def _log(release: str = "v1.0.0", entries: int = 32) -> Log:
    # max-age=1 on root and checkpoint: expiry within a test, at nginx's 1 s granularity.
    return Log(list(demo_entries(0, entries)), release, demo_signer()[0], short_max_age=1).warm()


def _origins(**logs: Log) -> BackgroundServers:
    return run_in_thread({name: Origin(log, FaultSet()) for name, log in logs.items()})


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].split()[0] != "Z"


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# -- the template ------------------------------------------------------------------------


def test_render_fills_every_placeholder_outside_comments(tmp_path: Path) -> None:
    text = render(
        [Upstream("http://127.0.0.1:8080", 90), Upstream("http://127.0.0.1:8081", 10)],
        listen="127.0.0.1:9000",
        workdir=str(tmp_path),
    )
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in lines if "{{" in line]
    assert "        server 127.0.0.1:8080 weight=90;" in lines
    assert "        server 127.0.0.1:8081 weight=10;" in lines
    assert "        listen 127.0.0.1:9000;" in lines
    assert f"pid {tmp_path}/nginx.pid;" in lines
    # The leading comment still documents the placeholders.
    assert "{{upstream_servers}}" in text


def test_render_leaves_out_a_server_at_zero_percent(tmp_path: Path) -> None:
    text = render(
        [Upstream("http://127.0.0.1:8080", 100), Upstream("http://127.0.0.1:8081", 0)],
        listen="127.0.0.1:9000",
        workdir=str(tmp_path),
    )
    assert "8080 weight=100" in text
    assert "8081" not in text


def test_render_user_line_depends_on_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    up = [Upstream("https://origin.example:8443", 100)]
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    as_user = render(up, listen="127.0.0.1:9000", workdir=str(tmp_path))
    assert "\nuser " not in as_user
    assert "# user: nginx does not start as root" in as_user
    assert "proxy_pass https://tlog_origin;" in as_user
    assert "proxy_set_header Host origin.example:8443;" in as_user
    assert "proxy_ssl_name origin.example;" in as_user
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    # Workers run as nobody when it can reach the workdir, else as the workdir's owner.
    shared = Path(tempfile.mkdtemp(prefix="tlogcheck-test-"))
    try:
        shared.chmod(0o755)
        assert "\nuser nobody " in render(up, listen="127.0.0.1:9000", workdir=str(shared))
        shared.chmod(0o700)
        owner = pwd.getpwuid(shared.stat().st_uid).pw_name
        private = render(up, listen="127.0.0.1:9000", workdir=str(shared))
        assert f"\nuser {owner} " in private
    finally:
        shared.rmdir()


@pytest.mark.parametrize(
    "upstreams",
    [
        [Upstream("http://origin/prefix", 100)],
        [Upstream("http://a:1", 50), Upstream("https://b:2", 50)],
        [Upstream("http://a:1", 0)],
    ],
)
def test_render_rejects_what_nginx_cannot_proxy(tmp_path: Path, upstreams: list[Upstream]) -> None:
    with pytest.raises(ConfigError):
        render(upstreams, listen="127.0.0.1:9000", workdir=str(tmp_path))


def test_render_rejects_an_unknown_placeholder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope"):
        render(
            [Upstream("http://a:1", 100)],
            listen="x:1",
            workdir=str(tmp_path),
            template="events {}\nhttp { {{nope}} }\n",
        )


def test_the_template_is_the_ci_file() -> None:
    ci_file = Path(__file__).resolve().parents[2] / "ci" / "edge" / "nginx.conf"
    assert ci_file.resolve() == template_path().resolve()
    text = template_path().read_text()
    for directive in (
        "proxy_cache_bypass $http_x_bypass;",
        "proxy_no_cache $http_x_bypass;",
        "add_header X-Cache-Status $upstream_cache_status always;",
        "proxy_cache_use_stale error timeout http_500 http_502 http_503 http_504 updating;",
        "proxy_http_version 1.1;",
        "keepalive 16;",
        "gzip_types application/json text/plain;",
        "gzip_proxied any;",
    ):
        assert directive in text


def test_main_prints_the_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "--origin",
        "http://10.0.0.5:8080",
        "--canary",
        "http://10.0.0.6:8080",
        "--canary-weight",
        "30",
        "--listen",
        "0.0.0.0:80",
        "--workdir",
        str(tmp_path),
    ]
    assert nginx_module.main(argv) == 0
    out = capsys.readouterr().out
    assert "server 10.0.0.5:8080 weight=70;" in out
    assert "server 10.0.0.6:8080 weight=30;" in out


# -- the process ----------------------------------------------------------------------------


@needs_nginx
@pytest.mark.parametrize("canary", [False, True])
def test_rendered_config_passes_nginx_t(tmp_path: Path, canary: bool) -> None:
    upstreams = [Upstream("http://127.0.0.1:8080", 90 if canary else 100)]
    if canary:
        upstreams.append(Upstream("http://127.0.0.1:8081", 10))
    edge = NginxEdge(upstreams, port=18080, workdir=str(tmp_path))
    output = edge.check_config()
    assert "syntax is ok" in output
    assert "test is successful" in output


@needs_nginx
def test_start_and_stop_leave_nothing_behind() -> None:
    edge = NginxEdge([Upstream("http://127.0.0.1:9", 100)]).start()
    master = edge.pid
    assert master is not None
    children = edge.child_pids()
    assert children and _alive(master)
    workdir, port = edge.workdir, edge.port
    edge.stop()
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in {master, *children}) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in {master, *children} if _alive(pid)]
    assert _port_free(port)
    assert not workdir.exists()
    edge.stop()  # twice is harmless


@needs_nginx
def test_a_config_nginx_rejects_is_a_config_error(tmp_path: Path) -> None:
    edge = NginxEdge([Upstream("http://127.0.0.1:9", 100)], port=18081, workdir=str(tmp_path))
    edge.host = "256.0.0.1"  # nginx -t: host not found
    with pytest.raises(ConfigError, match="nginx"):
        edge.start()
    assert edge.pid is None
    assert tmp_path.exists()  # a given workdir is left as it was
    own = NginxEdge([Upstream("http://127.0.0.1:9", 100)], port=18082)
    own.host = "256.0.0.1"
    with pytest.raises(ConfigError):
        own.start()
    assert not own.workdir.exists()


# -- the cache -------------------------------------------------------------------------------


@pytest.fixture
def origin() -> Iterator[tuple[BackgroundServers, Log]]:
    log = _log()
    with _origins(origin=log) as servers:
        yield servers, log


@pytest.fixture
def edge(origin: tuple[BackgroundServers, Log]) -> Iterator[NginxEdge]:
    if nginx_available() is None:
        pytest.skip("nginx is not installed (apt-get install nginx)")
    with NginxEdge([Upstream(origin[0].urls["origin"], 100)]) as running:
        yield running


def _get(http: httpx.Client, edge: NginxEdge, path: str, **headers: str) -> httpx.Response:
    return http.get(edge.url + path, headers={**IDENTITY, **headers})


def test_immutable_entries_hit_on_the_second_read(edge: NginxEdge) -> None:
    with httpx.Client(trust_env=False) as http:
        first = _get(http, edge, "/v1/log/entry/3")
        second = _get(http, edge, "/v1/log/entry/3")
    assert first.headers["x-cache-status"] == "MISS"
    assert second.headers["x-cache-status"] == "HIT"
    assert second.content == first.content
    assert second.headers["etag"] == '"' + hashlib.sha256(second.content).hexdigest() + '"'
    assert second.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert second.headers["x-tlog-release"] == "v1.0.0"
    # nginx writes no Age: a check cannot tell how old a cached answer is.
    assert "age" not in second.headers


def test_bypass_goes_to_the_origin_and_stores_nothing(edge: NginxEdge) -> None:
    with httpx.Client(trust_env=False) as http:
        bypassed = _get(http, edge, "/v1/log/entry/4", **{"x-bypass": "1"})
        after = _get(http, edge, "/v1/log/entry/4")
        again = _get(http, edge, "/v1/log/entry/4", **{"x-bypass": "1"})
    assert bypassed.headers["x-cache-status"] == "BYPASS"
    assert after.headers["x-cache-status"] == "MISS"
    assert again.headers["x-cache-status"] == "BYPASS"


def test_no_store_is_never_cached(edge: NginxEdge) -> None:
    with httpx.Client(trust_env=False) as http:
        statuses = [_get(http, edge, "/healthz").headers["x-cache-status"] for _ in range(3)]
        missing = [_get(http, edge, "/v1/log/entry/999").status_code for _ in range(2)]
    assert statuses == ["MISS"] * 3
    assert missing == [404, 404]


def test_gzip_only_when_asked_and_the_etag_turns_weak(edge: NginxEdge) -> None:
    with httpx.Client(trust_env=False) as http:
        plain = _get(http, edge, "/v1/log/entry/5")
        with http.stream(
            "GET", edge.url + "/v1/log/entry/5", headers={"accept-encoding": "gzip"}
        ) as coded:
            raw = b"".join(coded.iter_raw())
    assert "content-encoding" not in plain.headers
    assert plain.headers["etag"] == '"' + hashlib.sha256(plain.content).hexdigest() + '"'
    assert coded.headers["content-encoding"] == "gzip"
    assert gzip.decompress(raw) == plain.content
    assert coded.headers["etag"] == "W/" + plain.headers["etag"]


def test_stale_is_served_when_the_origin_is_down() -> None:
    if nginx_available() is None:
        pytest.skip("nginx is not installed (apt-get install nginx)")
    log = _log()
    servers = _origins(origin=log)
    try:
        with (
            NginxEdge([Upstream(servers.urls["origin"], 100)]) as edge,
            httpx.Client(trust_env=False) as http,
        ):
            root = _get(http, edge, "/v1/log/root")
            assert root.headers["cache-control"] == "public, max-age=1"
            _get(http, edge, "/v1/log/entry/1")
            servers.stop()
            # nginx keeps whole seconds: max-age=1 runs out within 2 s of the fetch.
            deadline = time.monotonic() + 5
            stale = _get(http, edge, "/v1/log/root")
            while stale.headers["x-cache-status"] == "HIT" and time.monotonic() < deadline:
                time.sleep(0.25)
                stale = _get(http, edge, "/v1/log/root")
            assert stale.status_code == 200
            assert stale.headers["x-cache-status"] == "STALE"
            assert stale.content == root.content
            assert _get(http, edge, "/v1/log/entry/1").headers["x-cache-status"] == "HIT"
            assert _get(http, edge, "/v1/log/entry/2").status_code == 502
    finally:
        servers.stop()


def test_canary_weight_moves_with_a_reload() -> None:
    if nginx_available() is None:
        pytest.skip("nginx is not installed (apt-get install nginx)")
    with _origins(stable=_log("v1.0.0"), canary=_log("v1.1.0", 40)) as servers:
        upstreams = [Upstream(servers.urls["stable"], 100), Upstream(servers.urls["canary"], 0)]
        with NginxEdge(upstreams) as edge:
            seen: Counter[str] = Counter()
            for weight in (0, 10, 100):
                if weight:
                    before = edge.child_pids()
                    edge.set_canary_weight(weight)
                    assert not before & edge.child_pids()
                assert edge.canary_weight == weight
                with httpx.Client(trust_env=False) as http:
                    seen = Counter(
                        _get(http, edge, "/healthz").headers["x-tlog-release"] for _ in range(200)
                    )
                canary = seen["v1.1.0"]
                if weight in (0, 100):
                    assert canary == 2 * weight
                else:
                    # nginx's smooth weighted round robin: exact up to the in-flight start.
                    assert 20 - 3 <= canary <= 20 + 3, seen


def test_purge_makes_the_next_read_a_miss(edge: NginxEdge) -> None:
    with httpx.Client(trust_env=False) as http:
        _get(http, edge, "/v1/log/entry/6")
        _get(http, edge, "/v1/log/entry/7")
        assert _get(http, edge, "/v1/log/entry/6").headers["x-cache-status"] == "HIT"
        assert edge.purge("/v1/log/entry/6") == 1
        assert _get(http, edge, "/v1/log/entry/6").headers["x-cache-status"] == "MISS"
        assert _get(http, edge, "/v1/log/entry/7").headers["x-cache-status"] == "HIT"
