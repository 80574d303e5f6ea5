"""The CDN invalidation hook: the command the gate runs once its abort (and undo) succeeded.

Playbook §3.2 step 3 is "roll back to the last good tag → invalidate the CDN": a
rollback alone leaves the edge serving the bad release's root and checkpoint until
their TTL runs out. The command is the site's own (`./infra/cdn/invalidate.sh`,
`ci/cdn/*.sh`); tlogcheck runs it with `sh -c`, tells it what happened through the
environment, bounds it in time (its whole process group is killed at the deadline)
and in memory (only the last bytes of its output are kept), and reports its exit
status and output tail. It never raises: a hook that cannot run is a result too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "ENV_NAMES",
    "TAIL_BYTES",
    "Invalidation",
    "environment",
    "iso",
    "run_invalidation",
]

ENV_NAMES = (
    "TLOG_ROLLOUT",
    "TLOG_NAMESPACE",
    "TLOG_CHECK",
    "TLOG_ALERT",
    "TLOG_RELEASE",
    "TLOG_URL",
    "TLOG_REASON",
)
TAIL_BYTES = 4096
# After the deadline: SIGTERM to the group, then this long before SIGKILL.
KILL_GRACE_S = 5.0


def iso(ts: float | None) -> str | None:
    """A Unix time as UTC ISO 8601 with milliseconds, as the report writes times."""
    if ts is None:
        return None
    return (
        datetime.fromtimestamp(ts, timezone.utc)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def environment(
    *,
    rollout: str,
    namespace: str,
    check: str | None,
    alert: str | None,
    release: str | None,
    url: str | None,
    reason: str,
) -> dict[str, str]:
    """The hook's variables; one not known is set empty, so `${TLOG_X:?}` can refuse it."""
    values = (rollout, namespace, check, alert, release, url, reason)
    return {name: (v or "") for name, v in zip(ENV_NAMES, values, strict=True)}


@dataclass
class Invalidation:
    """One run (or, in dry run, non-run) of the invalidation command."""

    command: str
    env: dict[str, str]
    timeout: float
    ran: bool = False
    dry_run: bool = False
    exit_status: int | None = None
    timed_out: bool = False
    started_at: float | None = None
    finished_at: float | None = None
    output_tail: str = ""
    error: str | None = None
    event: str | None = None
    event_error: str | None = None
    _truncated: bool = field(default=False, repr=False)

    @property
    def ok(self) -> bool:
        return self.ran and self.exit_status == 0 and not self.timed_out and self.error is None

    def describe(self) -> str:
        """One line: what became of the command."""
        if self.dry_run:
            return f"would run `{self.command}` (dry run: not run)"
        if not self.ran:
            return f"`{self.command}` could not run: {self.error}"
        took = ""
        if self.started_at is not None and self.finished_at is not None:
            took = f" after {self.finished_at - self.started_at:.1f} s"
        if self.timed_out:
            return f"`{self.command}` killed at its {self.timeout:g} s deadline{took}"
        return f"`{self.command}` exited {self.exit_status}{took}"

    def tail_lines(self, n: int = 5) -> list[str]:
        lines = [ln for ln in self.output_tail.splitlines() if ln.strip()]
        return lines[-n:]

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "dry_run": self.dry_run,
            "ran": self.ran,
            "ok": self.ok,
            "exit_status": self.exit_status,
            "timed_out": self.timed_out,
            "timeout_s": self.timeout,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "output_tail": self.output_tail,
            "output_truncated": self._truncated,
            "error": self.error,
            "env": dict(self.env),
            "event": self.event,
            "event_error": self.event_error,
        }


def _drain(stream: Any, keep: deque[bytes], limit: int, state: dict[str, bool]) -> None:
    """Read the pipe to its end, keeping only the last `limit` bytes."""
    size = 0
    while True:
        chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
        if not chunk:
            return
        keep.append(chunk)
        size += len(chunk)
        while size - len(keep[0]) >= limit:
            size -= len(keep.popleft())
            state["truncated"] = True


def _kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run_invalidation(
    command: str,
    env: Mapping[str, str],
    timeout: float,
    *,
    dry_run: bool = False,
    tail_bytes: int = TAIL_BYTES,
) -> Invalidation:
    """Run `sh -c COMMAND` with the variables added to this process's environment."""
    result = Invalidation(command, dict(env), timeout, dry_run=dry_run)
    if dry_run:
        return result
    full_env = {**os.environ, **env}
    result.started_at = time.time()
    try:
        # Its own session: the deadline kills whatever the command started, too
        # (an `aws` call left behind would keep the pipe open).
        proc = subprocess.Popen(
            ["sh", "-c", command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=full_env,
            start_new_session=True,
        )
    except OSError as exc:
        result.finished_at = time.time()
        result.error = f"cannot start sh: {exc}"
        return result
    result.ran = True
    keep: deque[bytes] = deque()
    state = {"truncated": False}
    reader = threading.Thread(
        target=_drain, args=(proc.stdout, keep, tail_bytes, state), daemon=True
    )
    reader.start()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        result.timed_out = True
        _kill_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=KILL_GRACE_S)
        except subprocess.TimeoutExpired:
            _kill_group(proc, signal.SIGKILL)
            proc.wait()
    # Children that outlive `sh` may still hold the pipe: they go with the group.
    reader.join(timeout=1.0)
    if reader.is_alive():
        _kill_group(proc, signal.SIGKILL)
        reader.join(timeout=KILL_GRACE_S)
    result.finished_at = time.time()
    result.exit_status = proc.returncode
    raw = b"".join(keep)
    if len(raw) > tail_bytes:
        raw = raw[-tail_bytes:]
        state["truncated"] = True
    result.output_tail = raw.decode("utf-8", "replace")
    result._truncated = state["truncated"]
    if proc.stdout is not None:
        proc.stdout.close()
    return result
