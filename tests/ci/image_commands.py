"""What the image ci/Dockerfile builds can run, and what ci/'s containers run in it.

A container whose command is missing from its image never starts (or its init
container fails at once), and no schema sees it. The model is kept simple on purpose;
its assumptions:

- the Dockerfile has one stage, FROM a base image listed in BASE_IMAGES with the
  commands it has on PATH (a new base image needs its list);
- `apt-get install P...` adds the commands of APT_COMMANDS[P] (the package's own name
  when it is not listed);
- `pip install .` adds the console scripts of this project and of its runtime
  requirements, and their top-level modules for `python -m M`, as they are installed
  where the tests run (pip resolves the same requirements in the image);
- the image is the one the Dockerfile's header names in `docker build ... -t NAME`; a
  container whose image has that repository runs it. Other images (the log's own) are
  not modelled, and their containers are not checked;
- a container runs `command` (else the image's ENTRYPOINT) with `args` (else, without a
  `command`, the image's CMD), as Kubernetes does;
- a shell script's commands are the first words of its simple commands, found by
  `simple_commands`: lines joined at `\\`, split at `;` `&&` `||` `|` `&` and newlines,
  `$(...)` and backquotes read as scripts of their own, variable assignments, the
  shell's keywords and `case` patterns skipped, `exec X` read as X. A script it cannot
  read (a function definition, a command name that is an expansion) is reported, not
  guessed.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.ci.manifests import CI, REPO, Container, Document, containers


class UnreadableScript(Exception):
    pass


# --- the shell ------------------------------------------------------------------------------

# Builtins of dash (Debian's /bin/sh) and bash: there whenever a shell runs the script.
SHELL_BUILTINS = frozenset(
    ". : [ alias break cd command continue echo eval exec exit export false getopts hash "
    "kill local printf pwd read readonly return set shift test times trap true type ulimit "
    "umask unalias unset wait".split()
)
SHELL_KEYWORDS = frozenset("if then else elif fi do done while until ! { } time".split())
SEPARATORS = frozenset({";", "&&", "||", "|", "&", "|&", "(", ")", "\n"})
SHELLS = frozenset({"sh", "bash", "dash"})
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_SUBSTITUTION = re.compile(r"\$\(([^()]*)\)|`([^`]*)`")


def _strip_comment(line: str) -> str:
    """The line up to a `#` that starts a word outside quotes."""
    quote = ""
    escaped = False
    for i, ch in enumerate(line):
        if escaped:
            escaped = False
        elif ch == "\\" and quote != "'":
            escaped = True
        elif quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t;&|()"):
            return line[:i]
    return line


def _tokens(script: str) -> list[str]:
    tokens: list[str] = []
    for line in script.splitlines():
        lexer = shlex.shlex(_strip_comment(line), posix=True, punctuation_chars=";&|()")
        lexer.whitespace_split = True
        lexer.commenters = ""
        try:
            tokens += list(lexer)
        except ValueError as exc:
            raise UnreadableScript(f"cannot read {line.strip()!r}: {exc}") from None
        tokens.append("\n")
    return tokens


def simple_commands(script: str) -> list[list[str]]:
    """The simple commands a shell script runs, each as its words (see the module doc)."""
    text = script.replace("\\\n", " ")
    commands: list[list[str]] = []
    while match := _SUBSTITUTION.search(text):
        commands += simple_commands(match.group(1) or match.group(2) or "")
        text = text[: match.start()] + "SUBSTITUTED" + text[match.end() :]
    current: list[str] = []
    case_depth = 0
    state = "command"  # or "case-word" (case ... in), "pattern" (up to `)`), "for"

    def flush() -> None:
        if current:
            commands.append(list(current))
            current.clear()

    for tok in _tokens(text):
        if state == "case-word":
            state = "pattern" if tok == "in" else state
            continue
        if state == "for":
            state = "command" if tok == "do" else state
            continue
        if state == "pattern":
            if tok == "esac":
                case_depth -= 1
                state = "pattern" if case_depth else "command"
            elif tok == ")":
                state = "command"
            continue
        if tok == "()":
            raise UnreadableScript("a function definition: not modelled")
        if tok == ";;":
            flush()
            state = "pattern"
            continue
        if tok in SEPARATORS:
            flush()
            continue
        if not current:
            if tok == "case":
                case_depth += 1
                state = "case-word"
                continue
            if tok == "for":
                state = "for"
                continue
            if tok == "esac" and case_depth:
                case_depth -= 1
                continue
            if tok in SHELL_KEYWORDS or _ASSIGNMENT.match(tok):
                continue
        current.append(tok)
    flush()
    return commands


def command_word(words: list[str]) -> tuple[str, list[str]]:
    """The program a simple command runs and its arguments (`exec X ...` runs X)."""
    while len(words) > 1 and words[0] in ("exec", "command", "nohup"):
        words = words[1:]
    return words[0], words[1:]


# --- the image -------------------------------------------------------------------------------

_DEBIAN_ESSENTIAL = (
    # bash, dash, coreutils, diffutils, findutils, grep, gzip, sed, tar, mawk, hostname,
    # util-linux, perl-base, dpkg, apt, libc-bin: Debian's required packages, in -slim.
    "sh bash dash apt apt-get apt-cache dpkg awk mawk basename cat chgrp chmod chown cmp "
    "cp cut date dd df diff dirname du echo env expr false find getent grep egrep fgrep "
    "gzip gunzip zcat head hostname id install kill ldd ln ls md5sum mkdir mktemp mv "
    "nice nohup nproc od perl printenv printf pwd readlink realpath rm rmdir sed seq "
    "sha1sum sha256sum sha512sum sleep sort split stat sync tail tar tee test timeout "
    "touch tr true truncate uname uniq wc xargs yes [ base64 mount umount su"
)
_CPYTHON = (
    # what the python image installs on PATH next to the interpreter
    "python python3 pip pip3 pydoc pydoc3 idle idle3 2to3 python3-config wheel"
)
BASE_IMAGES: dict[str, frozenset[str]] = {
    "python:3.11-slim": frozenset(
        (
            _DEBIAN_ESSENTIAL + " " + _CPYTHON + " python3.11 pip3.11 pydoc3.11 idle3.11 "
            "python3.11-config"
        ).split()
    ),
}
APT_COMMANDS: dict[str, tuple[str, ...]] = {
    "ca-certificates": ("update-ca-certificates",),
    "curl": ("curl",),
    "wget": ("wget",),
    "procps": ("ps", "top", "free", "pgrep", "pkill"),
    "tini": ("tini",),
}


@dataclass
class Image:
    repository: str  # e.g. ghcr.io/example/tlogcheck
    base: str
    commands: dict[str, str]  # command -> where it comes from
    modules: set[str]  # importable top-level modules, for `python -m`
    entrypoint: list[str]
    cmd: list[str]
    unknown: list[str] = field(default_factory=list)  # requirements not found here

    def describe(self) -> str:
        added = sorted({how for how in self.commands.values() if how != self.base})
        return f"{self.base}" + (" + " + ", ".join(added) if added else "")

    def without(self, *commands: str) -> Image:
        """The image less some commands: a defect reintroduced in memory."""
        kept = {c: how for c, how in self.commands.items() if c not in commands}
        return Image(
            self.repository,
            self.base,
            kept,
            set(self.modules),
            self.entrypoint,
            self.cmd,
            list(self.unknown),
        )


def _project_name() -> str:
    found = re.search(r'(?m)^name\s*=\s*"([^"]+)"', (REPO / "pyproject.toml").read_text())
    assert found, "pyproject.toml names no project"
    return found.group(1)


def _closure(requirement: str) -> tuple[list[metadata.Distribution], list[str]]:
    """The installed distribution of `requirement` and of its runtime requirements."""
    found: dict[str, metadata.Distribution] = {}
    missing: list[str] = []
    todo = [requirement]
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        found[name] = dist
        for raw in dist.requires or []:
            req = Requirement(raw)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return list(found.values()), missing


def _exec_form(text: str) -> list[str]:
    text = text.strip()
    if text.startswith("["):
        loaded = json.loads(text)
        assert isinstance(loaded, list)
        return [str(w) for w in loaded]
    return ["/bin/sh", "-c", text]


def parse_dockerfile(text: str) -> Image:
    """The Image a single-stage Dockerfile builds (see the module doc for what is read)."""
    tag = re.search(r"docker build .*-t\s+(\S+)", text)
    repository = tag.group(1).rsplit(":", 1)[0] if tag else ""
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    instructions = [
        (m.group(1).upper(), m.group(2))
        for m in re.finditer(r"(?m)^\s*(\w+)\s+(.*)$", "\n".join(lines).replace("\\\n", " "))
    ]
    froms = [arg.split()[0] for op, arg in instructions if op == "FROM"]
    if len(froms) != 1:
        raise ValueError(f"want one FROM (one stage), found {froms}")
    base = froms[0]
    if base not in BASE_IMAGES:
        raise ValueError(f"base image {base} has no command list in BASE_IMAGES")
    image = Image(repository, base, dict.fromkeys(BASE_IMAGES[base], base), set(), [], [])
    modules = metadata.packages_distributions()
    for op, arg in instructions:
        if op == "ENTRYPOINT":
            image.entrypoint, image.cmd = _exec_form(arg), []
        elif op == "CMD":
            image.cmd = _exec_form(arg)
        elif op != "RUN":
            continue
        for words in simple_commands(arg) if op == "RUN" else []:
            if words[:2] == ["apt-get", "install"]:
                for package in (w for w in words[2:] if not w.startswith("-")):
                    for command in APT_COMMANDS.get(package, (package,)):
                        image.commands[command] = f"apt-get install {package}"
            pip = next((i for i, w in enumerate(words) if w in ("pip", "pip3")), None)
            if pip is not None and words[pip + 1 : pip + 2] == ["install"]:
                for req in (w for w in words[pip + 2 :] if not w.startswith("-")):
                    name = _project_name() if req == "." else Requirement(req).name
                    dists, missing = _closure(name)
                    image.unknown += missing
                    names = {canonicalize_name(d.metadata["Name"]) for d in dists}
                    for dist in dists:
                        for ep in dist.entry_points.select(group="console_scripts"):
                            image.commands[ep.name] = f"pip install {req}"
                    image.modules |= {
                        m for m, ds in modules.items() if names & {canonicalize_name(d) for d in ds}
                    }
    return image


def ci_image(ci: Path = CI) -> Image:
    return parse_dockerfile((ci / "Dockerfile").read_text())


# --- containers in the image -----------------------------------------------------------------


def runs_image(container: Container, image: Image) -> bool:
    ref = str(container.body.get("image", "")).split("@", 1)[0]
    name = ref.rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else ref
    return bool(image.repository) and name == image.repository


def argv(container: Container, image: Image) -> list[str]:
    """What the container execs: command/args over the image's ENTRYPOINT/CMD."""
    command = container.body.get("command")
    args = container.body.get("args")
    if command is not None:
        return [str(w) for w in command] + [str(w) for w in args or []]
    return image.entrypoint + ([str(w) for w in args] if args is not None else image.cmd)


def _missing(program: str, rest: list[str], image: Image) -> Iterator[str]:
    name = program.rsplit("/", 1)[-1]
    if "$" in program:
        yield f"`{program}` (an expansion: which program it is cannot be read)"
        return
    if name not in image.commands:
        yield f"`{name}`"
        return
    if name.startswith("python") and rest[:1] == ["-m"] and len(rest) > 1:
        module = rest[1].split(".", 1)[0]
        if module not in image.modules:
            yield f"`{name} -m {rest[1]}` (no module {module})"


def missing_commands(container: Container, image: Image) -> list[str]:
    """The commands `container` runs that `image` does not have."""
    words = argv(container, image)
    if not words:
        return ["nothing: no command, and the image has no ENTRYPOINT or CMD"]
    program, rest = words[0], words[1:]
    found = list(_missing(program, rest, image))
    shell = program.rsplit("/", 1)[-1] in SHELLS
    if shell and rest and rest[0].startswith("-") and rest[0].endswith("c") and len(rest) > 1:
        try:
            scripted = simple_commands(rest[1])
        except UnreadableScript as exc:
            return found + [f"a script it cannot read: {exc}"]
        for simple in scripted:
            name, args = command_word(simple)
            if name in SHELL_BUILTINS and name not in ("exec", "command"):
                continue
            found += _missing(name, args, image)
    return list(dict.fromkeys(found))


def image_problems(docs: list[Document], image: Image) -> list[str]:
    problems = [f"ci/Dockerfile: cannot tell what pip installs for {n}" for n in image.unknown]
    for doc in docs:
        for container in containers(doc):
            if not runs_image(container, image):
                continue
            for missing in missing_commands(container, image):
                problems.append(
                    f"{container} runs {missing}, which image {container.body['image']} "
                    f"(ci/Dockerfile: {image.describe()}) does not have: it would not start"
                )
    return problems
