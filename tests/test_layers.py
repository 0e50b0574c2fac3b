"""The package's layers go one way: no import cycle among distgan's modules, and no import inside a function except
of an optional heavy package (read from the source with ast)."""

import ast
from pathlib import Path

import distgan

SRC = Path(distgan.__file__).parent
# imported where they are used, so that `import distgan` and runs that do not use them never pay for them
LAZY = {"matplotlib", "pyarrow", "PIL", "ray", "tensorboardX", "playwright"}


def _modules() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text()) for p in sorted(SRC.glob("*.py"))}


def _imports(node) -> set[str]:
    """The distgan modules a node imports, by their short names (`from .x import y`, `from . import x`)."""
    if not isinstance(node, ast.ImportFrom) or node.level != 1:
        return set()
    return {node.module.split(".")[0]} if node.module else {a.name for a in node.names}


def graph() -> dict[str, set[str]]:
    return {name: set().union(*(_imports(n) for n in ast.walk(tree))) for name, tree in _modules().items()}


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    """A path of imports that comes back to where it started, or None; depth first."""
    done = set()

    def visit(name, path):
        if name in path:
            return [*path[path.index(name):], name]
        if name in done:
            return None
        for dep in sorted(g.get(name, ())):
            if cycle := visit(dep, [*path, name]):
                return cycle
        done.add(name)
        return None

    for name in sorted(g):
        if cycle := visit(name, []):
            return cycle
    return None


def test_no_import_cycle_among_modules():
    g = graph()
    assert find_cycle(g) is None
    assert not g["config"] and g["files"] == {"config"}  # the bottom
    assert {"files", "data", "engine"} <= g["runs"] and "runs" in g["train"] and "train" in g["cli"]


def test_a_cycle_is_found():
    g = graph()
    g["files"] = g["files"] | {"train"}  # files -> train -> runs -> files
    cycle = find_cycle(g)
    assert cycle is not None and cycle[0] == cycle[-1] and "files" in cycle


def test_imports_inside_functions_are_of_optional_heavy_packages_only():
    bad = []
    for name, tree in _modules().items():
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Import):
                    roots = {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom):
                    roots = {"distgan"} if node.level else {node.module.split(".")[0]}
                else:
                    continue
                if roots - LAZY:
                    bad.append(f"{name}.{fn.name}: imports {', '.join(sorted(roots - LAZY))}")
    assert bad == []


def test_the_training_loop_reads_in_well_under_100_lines():
    """train.train is the loop a reader follows top to bottom; what it calls lives in modules named for it."""
    fn = next(n for n in _modules()["train"].body if isinstance(n, ast.FunctionDef) and n.name == "train")
    assert fn.end_lineno - fn.lineno + 1 <= 90
