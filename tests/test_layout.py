"""The layout the design fixes: layers import downward only, no import cycles,
modules small enough to read in one sitting, no raw SQL outside ``store/``.

Layers, lowest first: store <- learners <- replay <- service. Every import is
checked, also those inside functions (an upward import there is still a
dependency on the layer above).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["store", "learners", "replay", "service"]
MAX_LINES = 600


def modules() -> dict[str, Path]:
    found = {}
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(path: Path, name: str, *, top_level_only: bool = False) -> set[str]:
    """Project modules that ``name`` (the module at ``path``) imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                base = ".".join(anchor[: len(anchor) - node.level + 1] + ([base] if base else []))
            found.add(base)
            # `from learners import registry` imports the submodule learners.registry
            found |= {f"{base}.{alias.name}" for alias in node.names}
    known = modules()
    return {m for m in found if m in known and m != name}


def layer(module: str) -> int:
    return LAYERS.index(module.split(".")[0])


def test_layers_import_downward_only() -> None:
    upward = [
        f"{name} imports {target}"
        for name, path in modules().items()
        for target in imports(path, name)
        if layer(target) > layer(name)
    ]
    assert upward == []


def test_no_import_cycles() -> None:
    # Module-level imports only: those run when a module is imported, so a cycle
    # among them is what breaks (or half-initialises) an import.
    graph = {name: imports(path, name, top_level_only=True) for name, path in modules().items()}
    # A package's __init__ importing its own submodules is not a cycle of interest.
    graph = {n: {t for t in ts if not n.startswith(f"{t}.")} for n, ts in graph.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


@pytest.mark.parametrize("name", sorted(modules()))
def test_modules_stay_readable(name: str) -> None:
    path = modules()[name]
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert ast.get_docstring(tree) or (path.name == "__init__.py" and not tree.body), (
        f"{path.relative_to(ROOT)} says nothing of what it is for"
    )


SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b", re.I)


def test_sql_stays_in_the_store() -> None:
    outside = [
        str(path.relative_to(ROOT))
        for name, path in modules().items()
        if not name.startswith("store") and SQL.search(path.read_text(encoding="utf-8"))
    ]
    assert outside == []


def test_the_test_finds_an_upward_import(tmp_path: Path) -> None:
    # The checks above pass on an empty project too; show they see a real import.
    path = ROOT / "store" / "db.py"
    assert "store.errors" in imports(ROOT / "store" / "__init__.py", "store") or imports(
        path, "store.db"
    )
    fake = tmp_path / "x.py"
    fake.write_text("def f():\n    from service.app import create_app\n")
    assert imports(fake, "store.x") == {"service.app"}
