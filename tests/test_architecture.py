"""The package's layers: data flows one way, lower layers never import higher ones, no cycles.

Every import in every module (module-level and inside functions, absolute and relative) is read
with ``ast`` and resolved to a module of the package. Two rules are checked:

1. a module may import from its own unit (top-level module or subpackage) or from a unit of a
   lower layer (``LAYERS``), never from a unit of the same or a higher layer;
2. the graph of imports between the package's modules has no cycle (lazy imports included: a
   cycle through an import inside a function is still a cycle).
"""

import ast
from pathlib import Path

import pytest

import metarouter_econml

PACKAGE = Path(metarouter_econml.__file__).resolve().parent

#: unit -> layer. "" is the facade (``metarouter_econml/__init__.py``), which re-exports routers.
LAYERS = {
    "_compat": 0,
    "_format": 0,
    "_ray": 0,
    "_validation": 0,
    "_comparisons": 1,
    "datasets": 2,
    "_estimation": 2,
    "_persist": 3,
    "_routers": 4,
    "": 5,
    "text": 5,
    "evaluation": 6,
    "diagnostics": 6,
    "active": 7,
    "cli": 8,
}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(("metarouter_econml", *parts)), path


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _imports(name: str, path: Path):
    """Package modules imported by module ``name`` (resolved, deduplicated)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if _is_package(path) else name.rsplit(".", 1)[0]
    known = dict(_modules())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:  # `from . import _refute` imports the submodule only
                submodule = f"{target}.{alias.name}"
                found.add(submodule if submodule in known else target)
    resolved = set()
    for target in found:
        if not target.startswith("metarouter_econml"):
            continue
        while target not in known and "." in target:  # `pkg.name` where name is an attribute
            target = target.rsplit(".", 1)[0]
        if target in known and target != name:
            resolved.add(target)
    return resolved


def _unit(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


IMPORTS = {name: _imports(name, path) for name, path in _modules()}


def test_every_unit_has_a_layer():
    assert {_unit(name) for name in IMPORTS} == set(LAYERS)


@pytest.mark.parametrize("name", sorted(IMPORTS))
def test_imports_only_go_down(name):
    own = _unit(name)
    upward = [
        target
        for target in sorted(IMPORTS[name])
        if _unit(target) != own and LAYERS[_unit(target)] >= LAYERS[own]
    ]
    assert not upward, f"{name} (layer {LAYERS[own]}) imports {upward}"


def test_no_import_cycles():
    state: dict[str, str] = {}
    cycles = []

    def visit(node, trail):
        state[node] = "open"
        for target in sorted(IMPORTS[node]):
            if state.get(target) == "open":
                cycles.append(trail[trail.index(target) :] + [target])
            elif target not in state:
                visit(target, trail + [target])
        state[node] = "done"

    for name in sorted(IMPORTS):
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles
