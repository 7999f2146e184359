"""No import cycles among the product's modules (nor its benchmarks).

The graph is grimp's (what import-linter uses): every import statement, at module level or inside
a function, ``TYPE_CHECKING`` ones included, so a lazy import does not hide a cycle. Nothing is
excluded: a package whose ``__init__`` re-exports its submodules is part of a cycle only when one
of those submodules imports the package back, which is a cycle too (import the sibling module).
"""

from __future__ import annotations

import grimp

PACKAGES = ("command_side", "query_side", "sync_worker", "embeddings", "common", "operations", "semsearch",
            "benchmarks")


def import_graph(packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    """Each module → the modules of ``packages`` it imports directly."""
    graph = grimp.build_graph(*packages, cache_dir=None)
    return {module: set(graph.find_modules_directly_imported_by(module))
            for module in graph.modules}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            module, successors = work[-1]
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    work.append((nxt, iter(sorted(edges.get(nxt, ())))))
                    break
                if nxt in stack:
                    low[module] = min(low[module], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[module])
                if low[module] == index[module]:
                    component = stack[stack.index(module):]
                    del stack[stack.index(module):]
                    if len(component) > 1:
                        found.append(sorted(component))
    return sorted(found)


def describe(component: list[str], edges: dict[str, set[str]]) -> str:
    inside = set(component)
    links = [f"{a} -> {b}" for a in component for b in sorted(edges[a] & inside)]
    return f"{', '.join(component)} ({'; '.join(links)})"


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e", "d"}}
    assert cycles(edges) == [["a", "b", "c"]]
    assert describe(["a", "b", "c"], edges) == "a, b, c (a -> b; b -> c; c -> a)"


def test_no_import_cycles_among_the_product_packages() -> None:
    edges = import_graph()
    assert len(edges) > 100  # (the graph really is the product's)
    found = cycles(edges)
    assert not found, "import cycles:\n" + "\n".join(describe(c, edges) for c in found)
