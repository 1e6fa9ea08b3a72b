"""The layering rules, checked on the library's own source (no server needed).

- js/, kv/, obs/, micro/ and contrib/ use the Client only through its public API and the
  documented seam: no `nc._x`, `client._x`, `self._nc._x`, ...
- no import cycle between the library's modules at import time (imports inside functions
  and under TYPE_CHECKING are not import-time edges);
- the library never imports natsync.cli or natsync.testing (only the CLI itself and the
  pytest plugin do).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "natsync"
SUBSYSTEMS = ("js", "kv", "obs", "micro", "contrib")
CLIENT_NAMES = {"nc", "_nc", "client", "_client", "conn"}


def _modules() -> dict[str, Path]:
    mods = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        name = ".".join(rel.parts)
        mods[name.removesuffix(".__init__")] = path
    return mods


def _import_edges(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """The library modules `name` imports when it is imported."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    edges: set[str] = set()
    for node in tree.body:  # module level only
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
        edges.update(t for t in targets if t in mods and t != name)
    return edges


def test_subsystems_use_no_private_client_attribute() -> None:
    found = []
    for name, path in _modules().items():
        if name.split(".")[1:2] and name.split(".")[1] in SUBSYSTEMS:
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                        and not node.attr.startswith("__")):
                    owner = node.value
                    who = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
                    if who in CLIENT_NAMES:
                        found.append(f"{path.relative_to(ROOT.parent)}:{node.lineno} {who}.{node.attr}")
    assert found == [], "subsystems reaching into the Client:\n" + "\n".join(found)


def test_no_import_cycle() -> None:
    mods = _modules()
    graph = {name: _import_edges(name, path, mods) for name, path in mods.items()}
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == [], "import cycles:\n" + "\n".join(cycles)


def test_library_does_not_import_the_cli_or_testing() -> None:
    mods = _modules()
    def inside(name: str, package: str) -> bool:
        return name == package or name.startswith(package + ".")

    bad = []
    for name, path in mods.items():
        if inside(name, "natsync.cli") or inside(name, "natsync.testing") or name in (
                "natsync.pytest_plugin", "natsync.__main__"):
            continue
        for dep in _import_edges(name, path, mods):
            if inside(dep, "natsync.cli") or inside(dep, "natsync.testing"):
                bad.append(f"{name} imports {dep}")
    assert bad == []
