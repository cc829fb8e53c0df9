"""Imports flow one way (issue 26): no import cycle between modules or between areas, the plumbing
(``include.core``) and the field-level helpers (``include.normalize``) import nothing above them, and an
area imports a sibling area only where ``ALLOWED`` says why. Read with ``ast``: nothing is imported."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INCLUDE = ROOT / "include"

#: The verbs (the operator CLI, make's tools, the benchmarks): they may import any area.
ENTRY_POINTS = {"cli", "tools", "bench"}
#: What every area may use: the plumbing and the field-level helpers.
FOUNDATION = {"core", "normalize"}
#: Sibling-area imports that are the design, each with its reason. Anything else is a layering error:
#: move what two areas share down into include/core.
ALLOWED = {
    ("migration_run", "backfill"): "the migration DAG runs the backfill",
    ("migration_run", "gates"): "the migration DAG runs the quality gates before finalize",
    ("api", "imports"): "the intake API is a door into the import engine (include/imports/direct.py)",
    ("stewardship", "imports"): "replaying corrections and undoing a file go through the import path",
    ("distributed", "imports"): "the Celery stack lands the sample clinics the import reads",
    ("stewardship", "identity"): "the identity_match action runs the matcher on demand",
    ("ui", "stewardship"): "the review page's decisions are the stewardship actions (lease, actor, undo)",
    ("notify", "imports"): "the night's attention check reads the import ledger and the clinic sources",
    ("housekeeping", "imports"): "retention removes processed deliveries under the sources' landing folders",
}


def _modules() -> dict[str, Path]:
    mods = {}
    for path in INCLUDE.rglob("*.py"):
        if "__pycache__" in path.parts:
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _resolve(module: str, name: str | None) -> str | None:
    if name and f"{module}.{name}" in MODULES:
        return f"{module}.{name}"
    return module if module in MODULES else None


def _with_parents(module: str) -> set[str]:
    """Importing ``include.a.b`` runs ``include/a/__init__.py`` first: the packages count as imported too."""
    parts = module.split(".")
    return {".".join(parts[:n]) for n in range(2, len(parts) + 1)} & set(MODULES)


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    if top_level_only:
        nodes = []
        for node in tree.body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            nodes.extend(ast.walk(node) if isinstance(node, (ast.If, ast.Try)) else [node])
    else:
        nodes = list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("include.") and (target := _resolve(alias.name, None)):
                    found.add(target)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            if node.module == "include" or node.module.startswith("include."):
                for alias in node.names:
                    if target := _resolve(node.module, alias.name):
                        found.add(target)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _area_edges() -> dict[tuple[str, str], set[str]]:
    edges: dict[tuple[str, str], set[str]] = defaultdict(set)
    for module, path in MODULES.items():
        for target in _imports(path, top_level_only=False):
            a, b = _area(module), _area(target)
            if a != b:
                edges[(a, b)].add(module)
    return edges


def test_no_module_imports_itself_back_at_import_time() -> None:
    graph = {
        m: set().union(*(_with_parents(t) for t in _imports(p, top_level_only=True))) - _with_parents(m)
        for m, p in MODULES.items()
    }
    assert not _cycles(graph)


def test_no_two_areas_import_each_other() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in _area_edges():
        graph[a].add(b)
    assert not _cycles(graph)


def test_the_plumbing_imports_no_area() -> None:
    bad = {edge: sorted(mods) for edge, mods in _area_edges().items() if edge[0] == "core"}
    assert not bad, f"include.core must not import an area; move the shared piece into core: {bad}"


def test_the_field_normalizers_import_nothing_else_of_the_package() -> None:
    bad = {edge: sorted(mods) for edge, mods in _area_edges().items() if edge[0] == "normalize"}
    assert not bad, f"include.normalize must import nothing else of include: {bad}"


def test_an_area_imports_a_sibling_area_only_where_allowed() -> None:
    bad = {
        f"{a} -> {b}": sorted(mods)
        for (a, b), mods in _area_edges().items()
        if a not in ENTRY_POINTS and b not in FOUNDATION and (a, b) not in ALLOWED
    }
    assert not bad, f"sibling-area imports (move the shared piece into include/core, or say why in ALLOWED): {bad}"


def test_every_allowed_sibling_import_is_still_needed() -> None:
    assert not set(ALLOWED) - set(_area_edges()), "drop the ALLOWED entries no module needs any more"


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
