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
from typing import Iterator

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


# --- composition, not mixin towers; each object keeps its own state -------------------------

#: Bases that carry no connection state: exceptions, protocols, enums, the JS model base.
_STATELESS_BASES = {"Exception", "BaseException", "Protocol", "Enum", "IntEnum", "Flag",
                    "IntFlag", "NamedTuple", "TypedDict", "Generic", "object", "str", "int",
                    "Base"}
MAX_LINES = 800


def _trees() -> dict[str, ast.Module]:
    return {name: ast.parse(path.read_text()) for name, path in _modules().items()}


def test_modules_are_small() -> None:
    big = [f"{name}: {n} lines" for name, path in _modules().items()
           if (n := len(path.read_text().splitlines())) > MAX_LINES]
    assert big == []


def test_no_chain_of_natsync_classes_and_no_mixins() -> None:
    """A natsync class inherits at most one natsync class, which itself inherits none."""
    classes: dict[str, list[list[str]]] = {}
    for tree in _trees().values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(b).split("[")[0].split(".")[-1] for b in node.bases]
                classes.setdefault(node.name, []).append(bases)

    def stateless(name: str, seen: tuple[str, ...] = ()) -> bool:
        if name in _STATELESS_BASES or name.endswith(("Error", "Exception", "Warning")):
            return True
        if name not in classes or name in seen:
            return False
        return all(bases and any(stateless(b, seen + (name,)) for b in bases)
                   for bases in classes[name])

    def natsync_bases(bases: list[str]) -> list[str]:
        return [b for b in bases if b in classes and not stateless(b)]

    bad = []
    for name, defs in classes.items():
        if stateless(name):
            continue
        for bases in defs:
            mine = natsync_bases(bases)
            if len(mine) >= 2:
                bad.append(f"{name} inherits {mine}")
            for base in mine:
                for deeper in classes[base]:
                    if natsync_bases(deeper):
                        bad.append(f"{name} <- {base} <- {natsync_bases(deeper)}")
    assert bad == []


def _own_attributes(cls: ast.ClassDef) -> set[str]:
    """Names a class defines: self./cls. attributes, methods, class-level names, slots."""
    names: set[str] = set()
    for node in ast.walk(cls):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in ("self", "cls")):
            names.add(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
            if any(isinstance(t, ast.Name) and t.id == "__slots__" for t in node.targets):
                names |= {c.value for c in ast.walk(node.value)
                          if isinstance(c, ast.Constant) and isinstance(c.value, str)}
    return names


def _private_uses(node: ast.AST, allowed: set[str], known: set[str]) -> Iterator[ast.Attribute]:
    """`x._y` under `node` where `x` is not self/cls/super()/a module-level name and `_y`
    is not defined by an enclosing class."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.ClassDef):
            yield from _private_uses(child, allowed | _own_attributes(child), known)
            continue
        if (isinstance(child, ast.Attribute) and child.attr.startswith("_")
                and not child.attr.startswith("__")):
            owner = child.value
            ok = ((isinstance(owner, ast.Name) and (owner.id in ("self", "cls") or owner.id in known))
                  or (isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name)
                      and owner.func.id == "super")
                  or child.attr in allowed)
            if not ok:
                yield child
        yield from _private_uses(child, allowed, known)


def test_no_object_touches_another_objects_private_attributes() -> None:
    """`other._x` only inside the class that defines `_x`; modules' own names are fine.
    The CLI is left out (argparse has no public introspection)."""
    bad = []
    for name, tree in _trees().items():
        if name == "natsync.cli" or name.startswith("natsync.cli."):
            continue
        known = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                known |= {(a.asname or a.name).split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                known |= {a.asname or a.name for a in node.names}
        bad += [f"{name}:{use.lineno} {ast.unparse(use)}"
                for use in _private_uses(tree, set(), known)]
    assert bad == [], "private attributes of other objects:\n" + "\n".join(bad)
