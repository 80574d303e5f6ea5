"""`hang:PATH` and `trickle:PATH` on the reference deployment, through a bounded client:
PATH stalls on the edge, the bypass view and the origin asked directly; /healthz and every
other path answer; the fault can be switched off at runtime."""

from __future__ import annotations

import httpx
import pytest

from tlogcheck.client import TLogClient
from tlogcheck.errors import TargetStalled
from tlogcheck.refstack.stack import start_stack

ROOT = "/v1/log/root"


def test_hang_holds_only_its_path_on_every_view() -> None:
    with start_stack(entries=64, faults=["hang:/v1/log/root"], subprocess=False) as s:
        with TLogClient(s.info.edge_url, timeout=0.5, retries=0) as client:
            for view in ("edge", "origin"):
                with pytest.raises(TargetStalled) as info:
                    client.get(ROOT, view=view)
                assert not info.value.started
                assert client.get("/healthz", view=view).status == 200
                assert client.get("/v1/log/entry/3", view=view).status == 200
        with TLogClient(s.info.origin_url, timeout=0.5, retries=0) as direct:
            with pytest.raises(TargetStalled):
                direct.get(ROOT)
        httpx.put(f"{s.info.admin_url}/faults", json={"faults": []}, timeout=5).raise_for_status()
        with TLogClient(s.info.edge_url, timeout=5) as client:
            assert client.get(ROOT).status == 200


def test_trickle_starts_the_answer_and_never_finishes_in_time() -> None:
    with start_stack(entries=64, faults=["trickle:/v1/log/root"], subprocess=False) as s:
        with TLogClient(s.info.edge_url, timeout=1, deadline=2.5, retries=0) as client:
            for view in ("edge", "origin"):
                with pytest.raises(TargetStalled, match="response began but its body") as info:
                    client.get(ROOT, view=view)
                assert info.value.started
            assert client.get("/v1/log/checkpoint").status == 200


def test_a_stall_fault_needs_a_path() -> None:
    from tlogcheck.errors import ConfigError
    from tlogcheck.refstack.faults import parse_spec

    assert parse_spec("hang:/v1/log/root") == ("hang", "/v1/log/root")
    for bad in ("hang", "trickle:v1/log/root", "hang:/a b", "trickle:/x?y=1"):
        with pytest.raises(ConfigError):
            parse_spec(bad)
