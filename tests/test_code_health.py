"""The package's shape stays as issue 17 left it: no import cycles, no private names imported across
modules, and docs/DATA.md documenting exactly the record schema of basepersona/records.py.

Imports are read from the source (ast), so a cycle through a function-level import counts too; imports
under ``if TYPE_CHECKING:`` do not run and are left out.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from basepersona.records import SCHEMAS, field_names

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "basepersona"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(path: Path) -> list[tuple[str, list[str]]]:
    """(imported module, names taken from it) for every import that can run."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                 and ast.unparse(block.test).endswith("TYPE_CHECKING") for stmt in block.body for node in ast.walk(stmt)}
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
    return found


def _graph() -> tuple[dict[str, set[str]], list[tuple[str, str, str]]]:
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    edges: dict[str, set[str]] = {name: set() for name in modules}
    private = []
    for name, path in modules.items():
        for target, names in _runtime_imports(path):
            if target not in modules:
                continue
            for imported in names:
                if f"{target}.{imported}" in modules:
                    edges[name].add(f"{target}.{imported}")
                    continue
                edges[name].add(target)
                if imported.startswith("_") and not imported.startswith("__") and target != name:
                    private.append((name, target, imported))
            if not names:
                edges[name].add(target)
    return edges, private


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for successor in edges[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return components


def test_the_package_has_no_import_cycle():
    edges, _ = _graph()
    assert len(edges) > 50  # the walk found the package
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_private_name_is_imported_from_another_module():
    _, private = _graph()
    assert private == []


def _documented_fields(section: str) -> set[str]:
    """Field names in the first column of the table under docs/DATA.md's ``## <section>`` heading."""
    text = (ROOT / "docs" / "DATA.md").read_text(encoding="utf-8")
    body = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in body.splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    return names


@pytest.mark.parametrize("section", sorted(SCHEMAS))
def test_data_md_documents_exactly_the_record_schema(section):
    assert _documented_fields(section) == set(field_names(SCHEMAS[section]))
