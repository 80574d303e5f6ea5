"""`tlogcheck serve`: the reference deployment (origin + edge) on loopback until stopped.

    tlogcheck serve --entries 100000 --fault wrong-root
    tlogcheck serve --db release/db.jsonl --signer-key release/signer.key --port 8080
    tlogcheck serve --canary-entries 3000 --canary-weight 30     # an Argo canary step

The origin serves the log both as API v1 (`/v1/log/...`) and as a C2SP tiled log at the
same prefix (`/checkpoint`, `/tile/...`): one deployment, checked with `--tlog-api v1` or
`tiles`. Prints the URLs (edge, origin, canary origin, admin) and the verifier key, and, with
`--ready-file PATH`, writes the stack's description there as JSON once every listener
accepts connections (removed again at exit). SIGTERM or Ctrl-C stops it cleanly: the
servers close, an nginx edge is stopped, a temporary data directory is removed, and
the exit status is 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from tlogcheck.errors import EXIT_OK
from tlogcheck.refstack.faults import FAULTS
from tlogcheck.refstack.log import DEFAULT_ORIGIN_NAME, DEFAULT_SHORT_MAX_AGE
from tlogcheck.refstack.server import new_event_loop
from tlogcheck.refstack.stack import EDGE_KINDS, Stack, StackConfig, StackInfo

__all__ = ["add_arguments", "run"]

DEFAULT_CANARY_WEIGHT = 10  # the first step of the playbook's 10 -> 30 -> 60 -> 100


class _Stopped(Exception):
    """A stop signal arrived before the servers ran."""


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "faults (NAME[:ARG], --fault repeatable, or PUT {admin}/faults at runtime):\n"
        + (
            "\n".join(
                f"  {doc.usage:<28} [{doc.side}] {doc.alert or 'legitimate'}"
                for doc in FAULTS.values()
            )
        )
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--entries",
        type=_positive,
        default=2048,
        metavar="N",
        help="generate a demo log of N entries (default 2048)",
    )
    source.add_argument("--db", metavar="PATH", help="serve this db.jsonl instead of demo data")
    parser.add_argument(
        "--signer-key",
        metavar="PATH",
        help="with --db: the note signer key file (default: the demo key)",
    )
    parser.add_argument("--release", default="v1.0.0", help="release id (default v1.0.0)")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME[:ARG]",
        help="switch a fault on from the start (repeatable)",
    )
    parser.add_argument(
        "--canary-entries",
        type=_positive,
        metavar="M",
        help="run a canary origin whose log is the stable one extended to M entries (M > N)",
    )
    parser.add_argument(
        "--canary-weight",
        type=_non_negative,
        metavar="PCT",
        help=f"share of edge->origin requests sent to the canary (default {DEFAULT_CANARY_WEIGHT})",
    )
    parser.add_argument("--canary-release", default="v1.1.0", help="the canary's release id")
    parser.add_argument("--edge", choices=EDGE_KINDS, default="builtin", help="the CDN edge")
    parser.add_argument("--port", type=_non_negative, default=0, help="edge port (0: a free one)")
    parser.add_argument("--origin-port", type=_non_negative, default=0, metavar="PORT")
    parser.add_argument("--canary-port", type=_non_negative, default=0, metavar="PORT")
    parser.add_argument("--admin-port", type=_non_negative, default=0, metavar="PORT")
    parser.add_argument(
        "--origin-name",
        default=DEFAULT_ORIGIN_NAME,
        help=f"the checkpoint's origin line and key name (default {DEFAULT_ORIGIN_NAME})",
    )
    parser.add_argument(
        "--short-max-age",
        type=_positive,
        default=DEFAULT_SHORT_MAX_AGE,
        metavar="SECONDS",
        help="the max-age of root, checkpoint and latest proofs (default "
        f"{DEFAULT_SHORT_MAX_AGE}; the spec allows up to 300): a test rig's caches expire "
        "sooner with less",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve the origin(s) and the edge over HTTPS with certificates of a CA made at "
        "start; its path is printed (give it to the suite with --tlog-ca-bundle)",
    )
    parser.add_argument(
        "--require-header",
        metavar="'NAME: VALUE'",
        help="answer 401 to any request without this header, like an access gateway",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="write demo data here and keep it (default: a temporary directory removed at exit)",
    )
    parser.add_argument(
        "--ready-file",
        metavar="PATH",
        help="write the stack's JSON description here once every listener accepts",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the JSON description instead of the summary"
    )


def _config(args: argparse.Namespace) -> StackConfig:
    weight = args.canary_weight
    if weight is None:
        weight = DEFAULT_CANARY_WEIGHT if args.canary_entries is not None else 0
    return StackConfig(
        entries=args.entries,
        db=args.db,
        signer_key=args.signer_key,
        release=args.release,
        faults=tuple(args.fault),
        canary_entries=args.canary_entries,
        canary_weight=weight,
        canary_release=args.canary_release,
        edge=args.edge,
        data_dir=args.data_dir,
        port=args.port,
        origin_port=args.origin_port,
        canary_port=args.canary_port,
        admin_port=args.admin_port,
        origin_name=args.origin_name,
        tls=args.tls,
        require_header=args.require_header,
        short_max_age=args.short_max_age,
    )


def summary(info: StackInfo) -> str:
    lines = [
        f"tlogcheck serve: release {info.release}, {info.tree_size} entries ({info.db_path})",
        f"  edge     {info.edge_url}   ({info.edge_kind})",
        f"  origin   {info.origin_url}",
        f"  tiles    {info.edge_url}/checkpoint   (C2SP tlog-tiles beside API v1: "
        f"--tlog-api tiles --tlog-url {info.edge_url})",
    ]
    if info.canary_origin_url is not None:
        lines.append(
            f"  canary   {info.canary_origin_url}   (release {info.canary_release}, "
            f"{info.canary_tree_size} entries, weight {info.canary_weight} %)"
        )
    lines += [
        f"  admin    {info.admin_url}/faults",
        f"  vkey     {info.vkey}",
        f"  faults   {', '.join(info.faults) or 'none'}",
    ]
    if info.ca_path:
        lines.append(f"  CA       {info.ca_path}   (--tlog-ca-bundle {info.ca_path})")
    if info.require_header:
        lines.append(f"  requires header {info.require_header} (value not shown)")
    lines += [
        "Ctrl-C or SIGTERM stops it.",
    ]
    return "\n".join(lines)


def _write_ready(path: str, info: StackInfo) -> None:
    # Written whole, then renamed: a reader never sees half a file.
    tmp = f"{path}.{os.getpid()}.tmp"
    Path(tmp).write_text(info.to_json(), encoding="utf-8")
    os.replace(tmp, path)


def run(args: argparse.Namespace) -> int:
    config = _config(args)

    def early_stop(signum: int, frame: FrameType | None) -> None:
        raise _Stopped

    # Building a big log takes seconds: a stop signal then must still clean up.
    previous = {sig: signal.signal(sig, early_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    stack: Stack | None = None
    try:
        stack = Stack(config)
        loop = new_event_loop()
        try:
            loop.run_until_complete(_serve(stack, args))
        finally:
            loop.close()
    except _Stopped:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if stack is not None:
            stack.cleanup()
        if args.ready_file:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(args.ready_file)
    return EXIT_OK


async def _serve(stack: Stack, args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def started() -> None:
        info = stack.info
        assert info is not None
        print(info.to_json() if args.json else summary(info), flush=True)
        if args.ready_file:
            _write_ready(args.ready_file, info)

    try:
        await stack.run_until(stop, started)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
            # Stopping already: a second signal must not cut the clean-up short.
            signal.signal(sig, signal.SIG_IGN)
    print("tlogcheck serve: stopped", file=sys.stderr, flush=True)
