"""The shape of grader/: sub-packages whose imports flow one way, no circle, modules of a size.

Every import counts, those inside functions too: a lazy import still ties two modules together.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

GRADER = Path(__file__).resolve().parents[2] / "grader"

#: The layers, bottom first: a module may import its own layer and the ones below it only.
LAYERS = (
    {"messages", "safe_text", "authoring"},
    {"sandbox"},
    {"grading"},
    {"testing", "classroom"},
    {"gradescope"},
    {"cli", "__main__", "prefork"},
)
MAX_LINES = 500


def modules() -> dict[str, Path]:
    found = {}
    for path in GRADER.rglob("*.py"):
        parts = path.relative_to(GRADER.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the grader modules it imports (anywhere in its code)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for dotted in targets:
                target = dotted
                while target not in mods and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in mods and target not in (name, "grader"):
                    edges[name].add(target)
    return edges


def layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else module
    return next(i for i, names in enumerate(LAYERS) if top in names)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in list(edges):
        if v not in index:
            visit(v)
    return found


def test_there_is_no_import_circle_in_grader() -> None:
    assert cycles(imports(modules())) == []


def test_the_circle_finder_finds_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_imports_flow_one_way_between_the_sub_packages() -> None:
    mods = modules()
    upward = sorted(
        f"{src} -> {dst}"
        for src, dsts in imports(mods).items()
        if src != "grader"
        for dst in dsts
        if layer(dst) > layer(src)
    )
    assert upward == []


def test_every_module_belongs_to_a_layer() -> None:
    for name in modules():
        if name != "grader":
            layer(name)  # raises StopIteration for a package nobody placed


def test_a_module_over_500_lines_says_why_at_its_top() -> None:
    long = {}
    for name, path in modules().items():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_LINES:
            doc = ast.get_docstring(ast.parse(text)) or ""
            if "Over 500 lines on purpose" not in doc and "Just over 500 lines" not in doc:
                long[name] = text.count("\n")
    assert long == {}, f"modules over {MAX_LINES} lines without a reason at their top: {long}"


def test_the_sandbox_package_imports_nothing_when_the_worker_starts() -> None:
    """``python -I -m grader.sandbox.worker`` imports the package first: it must stay empty."""
    for package in ("grader", "grader.sandbox"):
        init = modules()[package]
        tree = ast.parse(init.read_text(encoding="utf-8"))
        assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]


def test_grading_suites_import_only_the_public_api() -> None:
    """A pack's suites and bug library use ``grader.testing`` alone: the engine may change."""
    root = GRADER.parent
    wrong = []
    for folder in (root / "tests" / "grading", *root.glob("packs/*/tests/grading")):
        for path in folder.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = (
                    [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else []
                )
                wrong += [
                    f"{path.relative_to(root)}: {n}"
                    for n in names
                    if n.split(".")[0] == "grader" and n != "grader.testing"
                ]
    assert wrong == []
