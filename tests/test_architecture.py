"""The package's layering, read from its source with ``ast`` and checked against ARCHITECTURE.md.

The unit of the check is a subpackage of ``cs_toolkit`` (``sensing``, ``solvers``, ...), a
top-level module (``metrics``, ``_validation``, ...) or the package's own ``__init__.py``
(called ``__init__`` here and in the table). Every ``import`` / ``from ... import`` naming a
module of the package is an edge between two units; edges inside one unit are ignored.

* A *module-level* import runs when the module is imported: a statement at the top of the
  module, or inside a top-level ``if``/``try``/``with`` or a class body (not under
  ``if TYPE_CHECKING``). These must be allowed by the "module level" column of the table in
  ARCHITECTURE.md, and together they must not form a cycle.
* A *lazy* import is one inside a function; it may also use the "lazy only" column.

The table between ``<!-- layers:begin -->`` and ``<!-- layers:end -->`` in ARCHITECTURE.md is
parsed here, so the document and the test cannot drift apart.

Run ``python tests/test_architecture.py`` for a report: the unit graph, and the imports of
private names and private modules across units (asserted absent but for shared numba kernels).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cs_toolkit"
DOC = ROOT / "ARCHITECTURE.md"
FACADE = "__init__"  # the unit name of cs_toolkit/__init__.py

#: Module-level dependencies allowed by the table that go *up* the layers. Each closes an import
#: cycle through the package ``__init__`` (which imports every subpackage): see ARCHITECTURE.md.
KNOWN_UPWARD: set = set()


# ------------------------------------------------------------------------------------------
# reading the imports
# ------------------------------------------------------------------------------------------
def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_module(dotted: str) -> bool:
    p = ROOT.joinpath(*dotted.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def unit_of(dotted: str) -> str:
    """``cs_toolkit.solvers.omp`` -> ``solvers``; ``cs_toolkit.metrics`` -> ``metrics``;
    ``cs_toolkit`` -> ``__init__``."""
    parts = dotted.split(".")
    return FACADE if len(parts) == 1 else parts[1]


def _targets(module: str, is_pkg: bool, node) -> list[tuple[str, list[str] | None]]:
    """The package modules an import statement names, with the names taken from each."""
    if isinstance(node, ast.Import):
        return [(a.name, None) for a in node.names if a.name.split(".")[0] == "cs_toolkit"]
    if node.level:
        base = module.split(".") if is_pkg else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target.split(".")[0] != "cs_toolkit":
        return []
    out, names = [], []
    for alias in node.names:  # ``from .. import sensing`` imports the module cs_toolkit.sensing
        sub = f"{target}.{alias.name}"
        if _is_module(sub):
            out.append((sub, None))
        else:
            names.append(alias.name)
    if names:
        out.append((target, names))
    return out


def _module_level(body):
    """The import statements of a module that run when it is imported."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if "TYPE_CHECKING" in ast.unparse(node.test):
                yield from _module_level(node.orelse)
                continue
            yield from _module_level(node.body)
            yield from _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            yield from _module_level(node.body)
            for handler in node.handlers:
                yield from _module_level(handler.body)
            yield from _module_level(node.orelse)
            yield from _module_level(node.finalbody)
        elif isinstance(node, ast.With | ast.ClassDef):
            yield from _module_level(node.body)


def read_imports(package: Path = PACKAGE) -> list[dict]:
    """Every import of a package module in ``package``: one dict per imported module."""
    edges = []
    for path in sorted(package.rglob("*.py")):
        module = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        eager = {id(n) for n in _module_level(tree.body)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target, names in _targets(module, path.name == "__init__.py", node):
                edges.append(dict(src=module, dst=target, names=names, eager=id(node) in eager,
                                  where=f"{path.relative_to(ROOT).as_posix()}:{node.lineno}"))
    return edges


def unit_graph(edges, *, eager_only: bool) -> dict[str, dict[str, list[str]]]:
    """``graph[a][b]``: where unit ``a`` imports unit ``b`` (file:line)."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for e in edges:
        a, b = unit_of(e["src"]), unit_of(e["dst"])
        if a != b and (e["eager"] or not eager_only):
            graph[a][b].append(e["where"])
    return graph


def find_cycle(graph, skip=()) -> list[str] | None:
    """One cycle of ``graph`` (a list of units, first == last), ignoring the units in ``skip``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(u):
        state[u] = 1
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if v in skip:
                continue
            if state.get(v) == 1:
                return stack[stack.index(v):] + [v]
            if v not in state:
                found = visit(v)
                if found:
                    return found
        stack.pop()
        state[u] = 2
        return None

    for u in sorted(graph):
        if u not in skip and u not in state:
            found = visit(u)
            if found:
                return found
    return None


def cyclic_groups(graph) -> list[list[str]]:
    """The strongly connected groups of more than one unit (Tarjan), for the report."""
    index, low, on_stack, stack, groups = {}, {}, set(), [], []

    def visit(u):
        index[u] = low[u] = len(index)
        stack.append(u)
        on_stack.add(u)
        for v in graph.get(u, ()):
            if v not in index:
                visit(v)
                low[u] = min(low[u], low[v])
            elif v in on_stack:
                low[u] = min(low[u], index[v])
        if low[u] == index[u]:
            group = []
            while True:
                v = stack.pop()
                on_stack.discard(v)
                group.append(v)
                if v == u:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for u in sorted(graph):
        if u not in index:
            visit(u)
    return sorted(groups)


def private_cross_imports(edges) -> list[str]:
    """Imports across units of a private name (``from ..x import _y``) or from a private module of
    another subpackage (``from ..sensing._base import ...``). The top-level ``_*.py`` modules are the
    package-wide helpers (``_validation``, ``_config``, ...) and are not counted."""
    out = []
    for e in edges:
        if unit_of(e["src"]) == unit_of(e["dst"]):
            continue
        private_names = [n for n in e["names"] or () if n.startswith("_") and not n.startswith("__")]
        private_module = any(p.startswith("_") for p in e["dst"].split(".")[2:])
        if private_names or private_module:
            what = f"{e['dst']} import {', '.join(e['names'])}" if e["names"] else e["dst"]
            kind = "module level" if e["eager"] else "lazy"
            out.append(f"{e['where']}: {what} ({kind})")
    return out


# ------------------------------------------------------------------------------------------
# the table of ARCHITECTURE.md
# ------------------------------------------------------------------------------------------
def read_table(doc: Path = DOC):
    """``(layer, module_level, lazy)``: dicts keyed by unit, parsed from ARCHITECTURE.md.

    The pseudo-name ``foundation`` stands for every unit of layers 0 and 1."""
    text = doc.read_text(encoding="utf-8")
    m = re.search(r"<!-- layers:begin -->(.*?)<!-- layers:end -->", text, re.S)
    assert m, f"{doc.name}: no table between <!-- layers:begin --> and <!-- layers:end -->"
    layer, eager, lazy = {}, {}, {}
    for line in m.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].isdigit():
            continue  # header, separator, blank
        units = re.findall(r"`([^`]+)`", cells[1])
        assert len(units) == 1, f"{doc.name}: one unit per row, got {cells[1]!r}"
        unit = units[0]
        assert unit not in layer, f"{doc.name}: {unit!r} has two rows"
        layer[unit] = int(cells[0])
        eager[unit] = set(re.findall(r"`([^`]+)`", cells[2]))
        lazy[unit] = set(re.findall(r"`([^`]+)`", cells[3]))
    foundation = {u for u, n in layer.items() if n <= 1}
    for table in (eager, lazy):
        for unit, deps in table.items():
            if "foundation" in deps:
                deps.discard("foundation")
                deps |= foundation - {unit}
    return layer, eager, lazy


def _units_on_disk() -> set[str]:
    units = {FACADE}
    for p in PACKAGE.iterdir():
        if p.is_dir() and (p / "__init__.py").is_file():
            units.add(p.name)
        elif p.suffix == ".py" and p.name != "__init__.py":
            units.add(p.stem)
    return units


@pytest.fixture(scope="module")
def edges():
    return read_imports()


@pytest.fixture(scope="module")
def table():
    return read_table()


# ------------------------------------------------------------------------------------------
# tests
# ------------------------------------------------------------------------------------------
def test_table_lists_every_unit_of_the_package(table):
    layer, eager, lazy = table
    on_disk = _units_on_disk()
    assert set(layer) == on_disk, (
        f"ARCHITECTURE.md's table and cs_toolkit/ disagree: missing from the table "
        f"{sorted(on_disk - set(layer))}, not in the package {sorted(set(layer) - on_disk)}")
    named = set().union(*eager.values(), *lazy.values())
    assert named <= on_disk, f"the table names units that do not exist: {sorted(named - on_disk)}"


def test_table_is_layered(table):
    """What a unit may import at module level lies in a lower layer (bar the known exception)."""
    layer, eager, _ = table
    upward = {(a, b) for a, deps in eager.items() for b in deps if b in layer and layer[b] >= layer[a]}
    assert upward == KNOWN_UPWARD, (
        f"module-level dependencies of the table that do not go down the layers: {sorted(upward)}; "
        f"expected only {sorted(KNOWN_UPWARD)}")


def test_module_level_imports_follow_the_table(edges, table):
    _, eager, _ = table
    graph = unit_graph(edges, eager_only=True)
    bad = [f"{a} -> {b} ({', '.join(where)})" for a in sorted(graph) for b, where in sorted(graph[a].items())
           if b not in eager.get(a, set())]
    assert not bad, ("module-level imports not allowed by the table in ARCHITECTURE.md (move the import "
                     "into the function that needs it, or move the code down a layer):\n  " + "\n  ".join(bad))


def test_lazy_imports_follow_the_table(edges, table):
    _, eager, lazy = table
    graph = unit_graph(edges, eager_only=False)
    bad = [f"{a} -> {b} ({', '.join(where)})" for a in sorted(graph) for b, where in sorted(graph[a].items())
           if b not in eager.get(a, set()) | lazy.get(a, set())]
    assert not bad, "imports not allowed by the table in ARCHITECTURE.md:\n  " + "\n  ".join(bad)


def test_no_import_cycle_between_subpackages_and_modules(edges):
    """Module-level imports between the subpackages and the top-level modules form no cycle."""
    graph = unit_graph(edges, eager_only=True)
    cycle = find_cycle(graph, skip={FACADE})
    assert cycle is None, "module-level import cycle: " + " -> ".join(
        f"{a} ({graph[a][b][0]})" for a, b in zip(cycle, cycle[1:])) + f" -> {cycle[-1]}"


def test_no_import_cycle_through_the_package_init(edges):
    graph = unit_graph(edges, eager_only=True)
    cycle = find_cycle(graph)
    assert cycle is None, "module-level import cycle: " + " -> ".join(cycle)


def test_the_table_has_no_cycle_but_the_known_one(table):
    _, eager, _ = table
    graph = {a: {b for b in deps if (a, b) not in KNOWN_UPWARD} for a, deps in eager.items()}
    assert find_cycle(graph) is None


#: Heavy or optional libraries that ``import cs_toolkit`` does not load today.
NOT_LOADED_BY_IMPORT = ["matplotlib", "sklearn", "skimage", "PIL", "imageio", "pylops", "dask", "tqdm",
                        "joblib", "IPython"]
#: Modules of the package that are imported on first use only.
LAZY_PACKAGE_MODULES = ["cs_toolkit.plotting", "cs_toolkit.cli"]


_IMPORT_PROBE = """
import sys
sys.path.insert(0, {root!r})
import cs_toolkit
assert cs_toolkit.__file__.startswith(sys.path[0]), cs_toolkit.__file__
from numba.core.registry import CPUDispatcher
compiled = sorted(f"{{name}}.{{key}}" for name, mod in list(sys.modules.items()) if name.startswith("cs_toolkit")
                  for key, obj in vars(mod).items() if isinstance(obj, CPUDispatcher) and obj.signatures)
print("LOADED", *[m for m in {watch!r} if m in sys.modules])
print("COMPILED", *compiled)
"""


@pytest.fixture(scope="module")
def after_import():
    """What a fresh ``import cs_toolkit`` (of this checkout) leaves loaded and compiled."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = _IMPORT_PROBE.format(root=str(ROOT), watch=NOT_LOADED_BY_IMPORT + LAZY_PACKAGE_MODULES)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    return {line.split()[0]: line.split()[1:] for line in res.stdout.splitlines() if line.strip()}


@pytest.mark.slow
def test_import_cs_toolkit_does_not_load_heavy_modules(after_import):
    loaded = after_import["LOADED"]
    assert not loaded, f"'import cs_toolkit' loads {loaded}; import them inside the functions that need them"


@pytest.mark.slow
def test_import_cs_toolkit_compiles_no_numba_kernel(after_import):
    compiled = after_import["COMPILED"]
    assert not compiled, f"'import cs_toolkit' compiles {compiled}; kernels must compile on first call"


_STARTUP_PROBE = """
import sys
sys.path.insert(0, {root!r})
import cs_toolkit
first = sorted(m for m in ("numba", "scipy", "numpy") if m in sys.modules)
from cs_toolkit.cli import build_parser
build_parser()
second = sorted(m for m in ("numba", "scipy", "llvmlite") if m in sys.modules)
import cs_toolkit as cs
assert cs.solvers.solve is cs.solve and "solvers" in dir(cs)
print("IMPORT", *first)
print("HELP", *second)
"""


@pytest.mark.slow
def test_import_and_help_load_no_numba_nor_scipy():
    """``import cs_toolkit`` loads no subpackage (they load on first use), and building the CLI's
    parser (``cs-toolkit --help``) loads neither numba nor SciPy: both start fast."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    res = subprocess.run([sys.executable, "-c", _STARTUP_PROBE.format(root=str(ROOT))], capture_output=True,
                         text=True, env=env, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr
    out = {line.split()[0]: line.split()[1:] for line in res.stdout.splitlines() if line.strip()}
    assert out["IMPORT"] == [], f"'import cs_toolkit' loads {out['IMPORT']}"
    assert out["HELP"] == [], f"'cs-toolkit --help' loads {out['HELP']}"


def report() -> str:
    edges = read_imports()
    lines = []
    for title, eager_only in (("module-level imports", True), ("all imports (lazy ones too)", False)):
        lines.append(f"unit graph, {title}:")
        graph = unit_graph(edges, eager_only=eager_only)
        for a in sorted(graph):
            lines.append(f"  {a} -> {', '.join(sorted(graph[a]))}")
        lines.append(f"  groups of units importing each other: {cyclic_groups(graph)}")
    private = private_cross_imports(edges)
    lines.append(f"imports of private names or private modules across units: {len(private)}")
    lines += [f"  {p}" for p in private]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report())


#: The one private import across units that is kept: numba kernels are shared kernel to kernel
#: (the least-squares debiasing layer reuses the Cholesky update kernels of OMP).
ALLOWED_PRIVATE = ("cs_toolkit.solvers._chol_numba import _chol_add, _chol_solve",)


def test_no_private_names_across_units(edges):
    """Units use each other's public names (``from ..sensing import LinearOperator``), except
    numba kernels shared kernel to kernel (``ALLOWED_PRIVATE``)."""
    bad = [p for p in private_cross_imports(edges) if not any(a in p for a in ALLOWED_PRIVATE)]
    assert not bad, "private names imported across units:\n  " + "\n  ".join(bad)
