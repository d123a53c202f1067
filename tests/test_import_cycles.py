"""No import cycles among the modules of `directory/` and `tasks/`.

The import graph is read from the source with `ast`: every `import` and `from ... import`, at
module level or inside a function, is an edge to the module it names (to `pkg.name` when that is
a module, else to `pkg`). Importing a module also runs its parent packages, but those are not
edges: a package importing its submodules is not a cycle unless a submodule imports it back.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("directory", "tasks")


def modules(root: Path = ROOT) -> dict[str, tuple[Path, bool]]:
    """Each module's dotted name: (its file, whether it is a package's __init__)."""
    found = {}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Each module's imports of other modules of the project."""
    known = modules(root)
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in known.items():
        package = name if is_package else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names if alias.name in known)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    if f"{target}.{alias.name}" in known:
                        edges.add(f"{target}.{alias.name}")
                    elif target in known:
                        edges.add(target)
        edges.discard(name)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles_in_directory_and_tasks():
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_check_finds_cycles_through_function_level_and_relative_imports(tmp_path):
    (tmp_path / "directory" / "a").mkdir(parents=True)
    (tmp_path / "tasks").mkdir()
    (tmp_path / "directory" / "__init__.py").write_text("")
    (tmp_path / "directory" / "a" / "__init__.py").write_text("from . import b\n")
    (tmp_path / "directory" / "a" / "b.py").write_text("def f():\n    from tasks import work\n")
    (tmp_path / "tasks" / "__init__.py").write_text("")
    (tmp_path / "tasks" / "work.py").write_text("from directory.a.b import f\n")
    (tmp_path / "directory" / "c.py").write_text("import directory.a\n")
    graph = import_graph(tmp_path)
    assert graph["directory.a"] == {"directory.a.b"}
    assert cycles(graph) == [["directory.a.b", "tasks.work"]]
