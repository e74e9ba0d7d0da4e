"""The package's layers (DESIGN.md): each module imports only its own layer or those under it, and no cycles.

The import graph is read from the source with `ast`, so imports inside functions (lazy ones) count as much
as those at the top, and so do the lazy export tables (`_WHERE`, read from the package) of `__init__` files.
"""

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "utils" / "ftcourse"

# module-name prefix -> layer; the longest matching prefix decides. grading is handled apart.
LAYERS = {
    "ftcourse.env": 0, "ftcourse.compat": 0, "ftcourse._util": 0, "ftcourse.numerics": 0,
    "ftcourse.models": 1, "ftcourse.data": 1, "ftcourse.presets": 1,
    "ftcourse.memory.params": 1, "ftcourse.memory.configs": 1,
    "ftcourse.inject": 2, "ftcourse.peft_format": 2, "ftcourse.lora": 2, "ftcourse.quant": 2,
    "ftcourse.adapters": 2, "ftcourse.merging": 2,
    "ftcourse.memory": 3, "ftcourse.train": 3, "ftcourse.evaluate": 3,
    "ftcourse.experiments": 4, "ftcourse.bench": 4, "ftcourse.viz": 4, "ftcourse.widgets": 4, "ftcourse.guide": 4,
    "ftcourse.cli": 4, "ftcourse.doctor": 4, "ftcourse.notebooks": 4, "ftcourse": 4,
}


def module_name(path: Path) -> str:
    parts = ["ftcourse", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(name: str) -> str | None:
    """The longest prefix of `name` that is a module of the package (an imported attribute maps to its module)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in MODULES:
            return candidate
    return None


def imports_of(module: str) -> set[str]:
    """Every ftcourse module `module` imports, anywhere in its file."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: climb level - 1 packages up from this one
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            target = resolve(name) if name.startswith("ftcourse") else None
            if target and target != module:
                found.add(target)
    if path.name == "__init__.py" and "_WHERE" in path.read_text():  # a lazy export table (see _util.lazy_exports)
        found |= {resolve(f"ftcourse.{where}") for where in importlib.import_module(module)._WHERE.values()}
    return found


GRAPH = {m: imports_of(m) for m in MODULES}


def layer(module: str) -> int:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[best]


def is_check_module(module: str) -> bool:
    return module.startswith("ftcourse.grading.checks.lab")


@pytest.mark.parametrize("module", [m for m in MODULES if not m.startswith("ftcourse.grading")])
def test_imports_go_down_the_layers(module):
    up = sorted(t for t in GRAPH[module] if not t.startswith("ftcourse.grading") and layer(t) > layer(module))
    assert not up, f"{module} (layer {layer(module)}) imports a higher layer: " + \
        ", ".join(f"{t} (layer {layer(t)})" for t in up)
    assert not any(t.startswith("ftcourse.grading") for t in GRAPH[module]) or module == "ftcourse.cli", \
        f"{module} imports the grading machinery"


@pytest.mark.parametrize("module", [m for m in MODULES if m.startswith("ftcourse.grading") and not is_check_module(m)])
def test_grading_machinery_imports_only_grading(module):
    outside = sorted(t for t in GRAPH[module] if not t.startswith("ftcourse.grading"))
    assert not outside, f"{module} imports {outside}; the grading machinery may import only ftcourse.grading"


def test_no_import_cycles():
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)
    # a package __init__ that lazily re-exports its own submodules is not a cycle: the submodule never needs it
    real = [c for c in cycles if not any(a == b.rpartition(".")[0] or b == a.rpartition(".")[0]
                                         for a, b in zip(c, c[1:]))]
    assert not real, "import cycles: " + "; ".join(" -> ".join(c) for c in real)


def test_the_graph_sees_lazy_imports():
    """A guard that the reader works: cli imports its commands inside functions, lora re-exports lazily."""
    assert "ftcourse.doctor" in GRAPH["ftcourse.cli"]
    assert "ftcourse.lora.layer" in GRAPH["ftcourse.lora"]
