"""The shape of the house (docs/layout.md): layers whose imports only run downward, a core
readable at a glance, no cycles, no module too long to read.

Imports are read from the source (`ast`), including the ones inside functions and under
`TYPE_CHECKING`: an arrow drawn lazily is still an arrow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import tlogcheck

PACKAGE = Path(tlogcheck.__file__).parent
MAX_TOP_MODULES = 12
MAX_LINES = 700

# Layers, bottom up. A module imports only from its own layer or below.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("tlogcheck.errors",),
    (  # the log primitives, the API and playbook tables, the remembered trees
        "tlogcheck",
        "tlogcheck.merkle",
        "tlogcheck.note",
        "tlogcheck.tiles",
        "tlogcheck.db",
        "tlogcheck.spec",
        "tlogcheck.state",
        "tlogcheck.outputs",
        "tlogcheck.playbook",
    ),
    ("tlogcheck.client",),  # the HTTP stack
    ("tlogcheck.verify", "tlogcheck.refstack"),  # the rules; the reference deployment
    ("tlogcheck.options",),  # the options every part and command shares
    (  # the parts
        "tlogcheck.runs",
        "tlogcheck.plugin",
        "tlogcheck.gate",
        "tlogcheck.load",
        "tlogcheck.incident",
        "tlogcheck.export",
        "tlogcheck.exporter",
    ),
    ("tlogcheck.cli", "tlogcheck.__main__"),
)
# The reference deployment serves a log; it knows nothing of the checker.
REFSTACK_MAY_IMPORT = (
    "tlogcheck.errors",
    "tlogcheck.merkle",
    "tlogcheck.note",
    "tlogcheck.tiles",
    "tlogcheck.db",
    "tlogcheck.spec",
    "tlogcheck.refstack",
)
PYTEST_MODULES = ("pytest", "_pytest", "xdist")


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES: dict[str, Path] = {_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _resolve(target: str) -> str:
    """The module an import names (a name imported from a package may be a submodule)."""
    while target not in MODULES and "." in target:
        target = target.rsplit(".", 1)[0]
    return target


def _imports(name: str) -> Iterator[tuple[str, bool]]:
    """(imported name, is tlogcheck's own) for every import statement of a module."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                own = _under(alias.name, "tlogcheck")
                yield (_resolve(alias.name) if own else alias.name), own
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if not _under(module, "tlogcheck"):
                yield module, False
                continue
            for alias in node.names:
                yield _resolve(f"{module}.{alias.name}"), True


IMPORTS: dict[str, set[str]] = {
    name: {target for target, own in _imports(name) if own and target != name}
    for name in MODULES
}
EXTERNAL: dict[str, set[str]] = {
    name: {target.split(".")[0] for target, own in _imports(name) if not own}
    for name in MODULES
}


def _layer(name: str) -> int:
    best, rank = -1, -1
    for i, layer in enumerate(LAYERS):
        for prefix in layer:
            # The longest prefix decides: `tlogcheck` is the package's own __init__ only.
            if (prefix == "tlogcheck" and name == "tlogcheck") or (
                prefix != "tlogcheck" and _under(name, prefix) and len(prefix) > best
            ):
                best, rank = len(prefix), i
    return rank


def _is_plugin_part(name: str) -> bool:
    return _under(name, "tlogcheck.plugin") or name.endswith(".plugin")


def test_every_module_has_a_layer() -> None:
    assert [name for name in MODULES if _layer(name) < 0] == []


def test_the_core_fits_on_a_screen() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_MODULES, top


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_is_short_enough_to_read(name: str) -> None:
    lines = MODULES[name].read_text().count("\n")
    assert lines <= MAX_LINES, f"{name}: {lines} lines"


def test_no_import_runs_up_a_layer() -> None:
    upward = sorted(
        f"{name} (layer {_layer(name)}) -> {target} (layer {_layer(target)})"
        for name, targets in IMPORTS.items()
        for target in targets
        if _layer(target) > _layer(name)
    )
    assert upward == []


def test_only_the_command_line_imports_the_command_line() -> None:
    found = sorted(
        f"{name} -> {target}"
        for name, targets in IMPORTS.items()
        for target in targets
        if _under(target, "tlogcheck.cli")
        and not (_under(name, "tlogcheck.cli") or name == "tlogcheck.__main__")
    )
    assert found == []


def test_only_plugin_parts_import_pytest_or_the_plugin() -> None:
    found = sorted(
        f"{name} -> {target}"
        for name in MODULES
        if not _is_plugin_part(name) and not _under(name, "tlogcheck.cli")
        for target in {*EXTERNAL[name], *IMPORTS[name]}
        if target in PYTEST_MODULES or (_under(target, "tlogcheck.plugin"))
    )
    assert found == []


def test_the_reference_deployment_imports_nothing_of_the_checker() -> None:
    found = sorted(
        f"{name} -> {target}"
        for name, targets in IMPORTS.items()
        if _under(name, "tlogcheck.refstack")
        for target in targets
        if not any(_under(target, allowed) for allowed in REFSTACK_MAY_IMPORT)
    )
    assert found == []


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in IMPORTS[v]:
            if w not in MODULES:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in MODULES:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    assert _cycles() == []


def test_the_layout_rules_can_fail() -> None:
    """The checks above see what they are for: a cycle and an upward import, made up."""
    IMPORTS["tlogcheck.merkle"].add("tlogcheck.verify.chain")
    try:
        assert _cycles() != []
        assert _layer("tlogcheck.verify.chain") > _layer("tlogcheck.merkle")
    finally:
        IMPORTS["tlogcheck.merkle"].discard("tlogcheck.verify.chain")
