"""Where a run's outputs go: checked before the first request, written whole or not at
all, never over an input or an earlier bundle.

Every file or directory a user names for tlogcheck to write (the suite's JSON report,
evidence bundle, metrics file, state file and load reports; `triage --out`, `rca --out`,
`nightly --report-dir`) is checked with `check_outputs` before anything is asked of the
target: a path that cannot be written is a usage error naming its option, found in a
second rather than after a ten-minute run whose result would then be lost.

At the end the part writes with `write_text` (a temporary file beside the target, then
a rename: a reader never sees half a report) or `new_directory` (a bundle is built in a
temporary directory beside its path and renamed into place when complete: there is never
half a bundle, nor an earlier bundle's files mixed into a new one). A write that still
fails raises `ConfigError` naming the option; the part says so in its summary and keeps
its verdict.

Kept in the core (below every part and command) because the suite's parts (`plugin/`,
`export/`, `load/`), the incident commands and `cli/` all write what users name, and one
rule for all of them is the point.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tlogcheck.errors import ConfigError

__all__ = ["Output", "check_outputs", "new_directory", "write_text"]

Kind = Literal["file", "dir", "bundle"]


@dataclass(frozen=True)
class Output:
    """One path the user named for writing: its option, the path, and what goes there.

    `file`: one file (replaced whole if it exists); `dir`: a directory files are written
    into (created if need be); `bundle`: a directory that must not exist yet or be empty
    (evidence is never mixed with an earlier bundle's files)."""

    option: str
    path: str
    kind: Kind = "file"


def _absolute(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.abspath(os.fspath(path)))


def _same(a: Path, b: Path) -> bool:
    try:
        return a == b or os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _inside(path: Path, directory: Path) -> bool:
    real, base = Path(os.path.realpath(path)), Path(os.path.realpath(directory))
    return real != base and base in real.parents


def _probe(directory: Path) -> str | None:
    """Why nothing can be created in `directory` (an existing directory), or None.

    A real attempt, not `os.access`: root passes every permission bit, but not a
    read-only filesystem, a full disk or /proc."""
    try:
        fd, name = tempfile.mkstemp(prefix=".tlogcheck-probe-", dir=directory)
    except OSError as exc:
        return f"cannot create files in {directory}: {exc.strerror or exc}"
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)
    return None


def _nearest_existing(path: Path) -> Path:
    for parent in path.parents:
        if parent.exists():
            return parent
    return Path(path.anchor or ".")


def _problem(out: Output) -> str | None:
    path = _absolute(out.path)
    if out.kind == "file":
        if path.is_dir():
            return "is a directory, not a file"
        if path.exists() and not path.is_file():
            return "exists and is not a regular file"
    elif path.exists():
        if not path.is_dir():
            return "exists and is not a directory"
        if out.kind == "bundle":
            kept = sorted(p.name for p in path.iterdir())
            if kept:
                shown = ", ".join(kept[:3]) + (", ..." if len(kept) > 3 else "")
                return (
                    f"already holds {len(kept)} file(s) ({shown}): an evidence bundle is "
                    "never written over another; name a new directory"
                )
        return _probe(path)
    where = path.parent if out.kind == "file" else path
    if where.exists():
        if not where.is_dir():
            return f"{where} is not a directory"
        return _probe(where)
    base = _nearest_existing(where)
    if not base.is_dir():
        return f"{where} cannot be created: {base} is not a directory"
    why = _probe(base)
    return None if why is None else f"{where} cannot be created: {why}"


def check_outputs(outputs: Sequence[Output], inputs: Sequence[tuple[str, str]] = ()) -> None:
    """ConfigError naming the option of the first output that cannot be written: its
    directory is not writable, it is an input (`(option, path)` of what the run reads), it
    is another output, or it lies inside a bundle (whose manifest must list every file)."""
    for out in outputs:
        why = _problem(out)
        if why is not None:
            raise ConfigError(f"{out.option} {out.path}: {why}")
        path = _absolute(out.path)
        for option, raw in inputs:
            if raw and _same(path, _absolute(raw)):
                raise ConfigError(
                    f"{out.option} {out.path}: is the input {option} {raw}: an input is "
                    "never written over; name another path"
                )
    for i, a in enumerate(outputs):
        for b in outputs[i + 1 :]:
            pa, pb = _absolute(a.path), _absolute(b.path)
            if _same(pa, pb):
                raise ConfigError(
                    f"{a.option} and {b.option} both name {a.path}: one would overwrite the other"
                )
            for outer, inner, p_in, p_out in ((a, b, pb, pa), (b, a, pa, pb)):
                if outer.kind == "bundle" and _inside(p_in, p_out):
                    raise ConfigError(
                        f"{inner.option} {inner.path}: inside the evidence bundle "
                        f"{outer.option} {outer.path}, whose manifest lists every file it "
                        "holds; write it elsewhere"
                    )


def _beside(final: Path) -> Path:
    """A name for a temporary file or directory next to `final` (same filesystem, so the
    rename is atomic)."""
    return final.with_name(f".{final.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def write_text(path: str | os.PathLike[str], text: str, *, option: str) -> Path:
    """Write `text` to `path` atomically (parents created); ConfigError naming `option`.

    The file gets the umask's mode, as a plain write would: a metrics textfile must stay
    readable by the node_exporter that collects it."""
    p = _absolute(path)
    tmp: Path | None = None
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = _beside(p)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, p)
        tmp = None
    except OSError as exc:
        raise ConfigError(f"{option} {path}: not written: {exc}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return p


@contextlib.contextmanager
def new_directory(path: str | os.PathLike[str], *, option: str) -> Iterator[Path]:
    """A fresh directory to fill, renamed to `path` when the block ends without error.

    `path` must not exist or be an empty directory, when the block starts and when it
    ends (a directory filled meanwhile is not written over). On any error nothing is
    left behind and ConfigError names `option`."""
    final = _absolute(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        work = _beside(final)
        work.mkdir()
    except OSError as exc:
        raise ConfigError(f"{option} {path}: not written: {exc}") from None
    try:
        yield work
        if final.is_dir() and not any(final.iterdir()):
            final.rmdir()
        if final.exists():
            raise ConfigError(
                f"{option} {path}: not written: it appeared during the run and is not "
                "empty; nothing is written over it"
            )
        os.rename(work, final)
    except OSError as exc:
        raise ConfigError(f"{option} {path}: not written: {exc}") from None
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
