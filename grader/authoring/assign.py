"""Turn the reference solutions into the student assignment: stubs and a notebook.

Every function body in ``solutions/`` that students write sits between two marker lines,
indented like the body::

    # BEGIN SOLUTION
    ...reference code...
    # END SOLUTION

:func:`render` replaces each marked region by a clearly marked TODO region that raises
``NotImplementedError``; everything outside the markers (imports, docstrings, signatures) is
copied unchanged, so the stubs and the reference share one contract. It also builds
``assignment.ipynb``, whose ``%%writefile`` cells hold the stubs. The output is a pure function
of ``solutions/``: regenerating gives identical bytes, and :func:`stale` tells when the
committed ``assignment/`` is out of date.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import nbformat
from nbformat import NotebookNode

from grader.authoring import pack

__all__ = ["NOTEBOOK", "MarkerError", "reference_notebook", "render", "stale", "write"]

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
#: The fill-in region's fences, as students see them.
YOUR_CODE = "# ==== YOUR CODE HERE ===="
END_YOUR_CODE = "# ==== END OF YOUR CODE ===="
#: The generated notebook's file name inside ``assignment/``.
NOTEBOOK = "assignment.ipynb"

# A comment line that looks like a marker but is not exactly one (a typo would otherwise leak
# the reference into the stubs).
_NEAR_MARKER = re.compile(r"#\s*(BEGIN|END)[\s_-]*SOLUTION", re.IGNORECASE)


class MarkerError(ValueError):
    """A solution file's markers are unbalanced or misplaced; the message says file:line."""


@dataclass(frozen=True)
class _Region:
    """One marked region: the marker lines (0-based) and the function it belongs to."""

    begin: int
    end: int
    indent: str
    name: str


# --------------------------------------------------------------------------- stubs


def render(solutions: Path, p: pack.Pack | None = None) -> dict[str, str]:
    """The generated ``assignment/`` of pack ``p`` (default: the active one) from ``solutions``:
    relative path -> file text (a stub per student module, and the notebook)."""
    p = pack.active() if p is None else p
    sources = _read_solutions(solutions, p.files)
    files = {name: stub_source(text, solutions / name) for name, text in sources.items()}
    files[NOTEBOOK] = _notebook_text(_build_notebook(files, p))
    return files


def write(solutions: Path, dest: Path, p: pack.Pack | None = None) -> list[Path]:
    """Write :func:`render` into ``dest`` (other files there are left alone); the paths written."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for relative, text in render(solutions, p).items():
        path = dest / relative
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    return written


def stale(solutions: Path, dest: Path, p: pack.Pack | None = None) -> list[str]:
    """Relative paths in ``dest`` that are missing or differ from :func:`render`; [] if none."""
    out_of_date = []
    for relative, text in render(solutions, p).items():
        path = dest / relative
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            out_of_date.append(relative)
    return out_of_date


def reference_notebook(solutions: Path, p: pack.Pack | None = None) -> NotebookNode:
    """The assignment notebook as a student would hand it in completed: the reference code
    inside each ``YOUR CODE HERE`` region of the ``%%writefile`` cells."""
    p = pack.active() if p is None else p
    sources = _read_solutions(solutions, p.files)
    return _build_notebook(
        {name: completed_source(text, solutions / name) for name, text in sources.items()}, p
    )


def stub_source(text: str, path: Path) -> str:
    """``text`` (a solution file read from ``path``) with every marked region to fill in."""
    return _replace_regions(text, path, lambda region, body: [f"raise {_not_implemented(region)}"])


def completed_source(text: str, path: Path) -> str:
    """The stub of ``text`` filled in with the reference code, as a finished submission."""
    return _replace_regions(text, path, lambda region, body: body)


def _not_implemented(region: _Region) -> str:
    return f'NotImplementedError("{region.name} is not implemented yet")'


def _read_solutions(solutions: Path, files: tuple[str, ...]) -> dict[str, str]:
    missing = [name for name in files if not (solutions / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{solutions} lacks {', '.join(missing)}")
    return {name: (solutions / name).read_text(encoding="utf-8") for name in files}


def _replace_regions(text: str, path: Path, fill: Callable[[_Region, list[str]], list[str]]) -> str:
    """Replace each marked region by the student fences around ``fill(region, body)``, where
    ``body`` is the region's reference lines without their indentation."""
    lines = text.splitlines()
    out: list[str] = []
    cursor = 0
    for region in _regions(lines, path):
        out.extend(lines[cursor : region.begin])
        body = [_dedent(line, region.indent) for line in lines[region.begin + 1 : region.end]]
        new = [
            f"# TODO: implement {region.name} as its docstring says.",
            YOUR_CODE,
            *fill(region, body),
            END_YOUR_CODE,
        ]
        out.extend(region.indent + line if line else "" for line in new)
        cursor = region.end + 1
    out.extend(lines[cursor:])
    result = "\n".join(out) + "\n"
    try:
        tree = ast.parse(result)
    except SyntaxError as error:
        raise MarkerError(
            f"{path}:{error.lineno}: the file is not valid Python once its solution regions "
            f"are replaced ({error.msg}); check the markers' placement"
        ) from None
    return _mark_unused_imports(result, tree)


def _dedent(line: str, indent: str) -> str:
    return line[len(indent) :] if line.startswith(indent) else line.strip()


def _regions(lines: list[str], path: Path) -> Iterator[_Region]:
    """The marked regions of a solution file, checked: balanced, not nested, each one inside a
    function body and indented like it."""
    functions = _function_spans("\n".join(lines), path)
    opened: tuple[int, str] | None = None
    for number, line in enumerate(lines):
        stripped = line.strip()
        where = f"{path}:{number + 1}"
        indent = line[: len(line) - len(line.lstrip())]
        if stripped == BEGIN:
            if opened is not None:
                raise MarkerError(
                    f"{where}: {BEGIN!r} inside the region opened at line {opened[0] + 1}; "
                    f"close it with {END!r} first"
                )
            opened = (number, indent)
        elif stripped == END:
            if opened is None:
                raise MarkerError(f"{where}: {END!r} without a {BEGIN!r} before it")
            begin, begin_indent = opened
            if indent != begin_indent:
                raise MarkerError(
                    f"{where}: {END!r} is indented differently from the {BEGIN!r} at line "
                    f"{begin + 1}; indent both like the function body"
                )
            yield _Region(begin, number, indent, _enclosing(functions, begin, indent, path))
            opened = None
        elif _NEAR_MARKER.search(stripped) and stripped.startswith("#"):
            raise MarkerError(
                f"{where}: {stripped!r} looks like a marker but is not exactly {BEGIN!r} or {END!r}"
            )
        elif opened is not None and stripped and not line.startswith(opened[1]):
            raise MarkerError(
                f"{where}: this line leaves the function body while the {BEGIN!r} at line "
                f"{opened[0] + 1} is still open; close the region with {END!r} inside the body"
            )
    if opened is not None:
        raise MarkerError(f"{path}:{opened[0] + 1}: {BEGIN!r} is never closed with {END!r}")


@dataclass(frozen=True)
class _Function:
    name: str  # qualified: "f", "Layer.forward"
    first: int  # 0-based line of the def
    last: int  # 0-based line of its last statement
    body_col: int  # indentation of its body


def _function_spans(text: str, path: Path) -> list[_Function]:
    try:
        tree = ast.parse(text)
    except SyntaxError as error:
        raise MarkerError(f"{path}:{error.lineno}: not valid Python ({error.msg})") from None
    found: list[_Function] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = prefix + child.name
                last = (child.end_lineno or child.lineno) - 1
                found.append(_Function(name, child.lineno - 1, last, child.body[0].col_offset))
                visit(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")

    visit(tree, "")
    return found


def _enclosing(functions: list[_Function], line: int, indent: str, path: Path) -> str:
    """The innermost function whose body holds a region starting at ``line``."""
    inside = [f for f in functions if f.first < line <= f.last]
    if not inside:
        raise MarkerError(
            f"{path}:{line + 1}: {BEGIN!r} is not inside a function body (or its region holds "
            "no code); markers go around the code of one function"
        )
    innermost = max(inside, key=lambda f: f.first)
    if len(indent) != innermost.body_col:
        raise MarkerError(
            f"{path}:{line + 1}: {BEGIN!r} must be indented like the body of "
            f"{innermost.name} ({innermost.body_col} spaces, not {len(indent)})"
        )
    return innermost.name


def _mark_unused_imports(text: str, tree: ast.Module) -> str:
    """Append ``# noqa: F401`` to module-level imports the stub no longer uses (students will),
    so that the stubs pass the project's ruff check."""
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    unused_lines = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                bound = (alias.asname or alias.name).split(".")[0]
                if bound not in used:
                    unused_lines.add(node.lineno - 1)
    lines = text.splitlines()
    for number in sorted(unused_lines):
        if "# noqa" not in lines[number]:
            lines[number] += "  # noqa: F401 (your code will use it)"
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the notebook

#: The standard set-up cell (``# %% [setup]`` in a narrative): numpy, a reloader for the files
#: just written, the "not implemented yet" guard the stubs' message is made for, and the checker.
_SETUP = '''\
import contextlib
import importlib

import numpy as np

np.set_printoptions(precision=4, suppress=True)


def fresh(module_name):
    """Import a module anew, so that the latest %%writefile of it takes effect."""
    importlib.invalidate_caches()
    return importlib.reload(importlib.import_module(module_name))


@contextlib.contextmanager
def unless_missing():
    """Run a block; if it reaches a function that still raises NotImplementedError, say which."""
    try:
        yield
    except NotImplementedError as error:
        # The stubs raise NotImplementedError("<name> is not implemented yet").
        print("not implemented yet:", str(error).removesuffix(" is not implemented yet"))


try:
    # The same report as `python -m grader check`, for one file or one function.
    from grader.grading.check import check
except ImportError:

    def check(name=None, path=".", verbose=False):
        print(
            "The checker is not installed in this notebook's Python: start Jupyter from the "
            "course's virtual environment (see README.md), or run `python -m grader check`."
        )
'''

#: After each %%writefile cell: the public tests of that file, as `grader check` reports them.
_CHECK = """\
# The public tests of the {module}.py just written. One function: check("{example}");
# every failing test in full: check("{module}", verbose=True).
check("{module}")"""


class NarrativeError(ValueError):
    """A pack's notebook narrative cannot be used; the message says file:line."""


@dataclass(frozen=True)
class _Cell:
    kind: str  # "markdown", "code", "setup" or "writefile"
    text: str  # the cell's source, or the file name of a writefile cell


_HEADER = re.compile(r"# %%(?:\s*\[(?P<kind>[a-z]+)\](?P<arg>.*))?\s*")


def narrative(path: Path, files: tuple[str, ...]) -> list[_Cell]:
    """The cells of a narrative in the percent format (as jupytext writes it): ``# %%`` starts a
    code cell, ``# %% [markdown]`` a markdown cell whose lines each begin with ``#``; two cells
    are filled in by the engine: ``# %% [setup]`` and ``# %% [writefile] NAME.py`` (the file's
    stubs, then its public checks). Each of ``files`` must have its writefile cell, once."""
    cells: list[_Cell] = []
    body: list[str] = []
    kind = ""
    lines = path.read_text(encoding="utf-8").splitlines()

    def close() -> None:
        while body and not body[-1].strip():
            body.pop()
        if kind == "markdown":
            cells.append(_Cell(kind, "\n".join(_markdown_line(line) for line in body)))
        elif kind == "code" and body:
            cells.append(_Cell(kind, "\n".join(body)))

    for number, line in enumerate(lines, start=1):
        header = _HEADER.fullmatch(line)
        if header is None:
            if kind in ("setup", "writefile") and line.strip():
                raise NarrativeError(
                    f"{path}:{number}: a [{kind}] cell is filled in by the "
                    "engine: write nothing under it"
                )
            if kind == "markdown" and line.strip() and not line.startswith("#"):
                raise NarrativeError(f"{path}:{number}: a markdown line must begin with '#'")
            body.append(line)
            continue
        close()
        body = []
        kind = header["kind"] or "code"
        arg = (header["arg"] or "").strip()
        if kind == "writefile":
            if arg not in files:
                raise NarrativeError(
                    f"{path}:{number}: [writefile] {arg or '(no file)'}: not a module of the "
                    f"pack ({', '.join(files)})"
                )
            cells.append(_Cell(kind, arg))
        elif kind == "setup":
            cells.append(_Cell(kind, ""))
        elif kind not in ("markdown", "code"):
            raise NarrativeError(f"{path}:{number}: unknown cell kind [{kind}]")
    close()
    written = [c.text for c in cells if c.kind == "writefile"]
    for name in files:
        if written.count(name) != 1:
            raise NarrativeError(
                f"{path}: needs exactly one '# %% [writefile] {name}' cell "
                f"(found {written.count(name)})"
            )
    return cells


def _markdown_line(line: str) -> str:
    return line[2:] if line.startswith("# ") else line[1:]


def _default_narrative(p: pack.Pack) -> list[_Cell]:
    """Without a narrative: a title, the set-up, and each file with its checks."""
    cells = [_Cell("markdown", f"# {p.title}"), _Cell("setup", "")]
    return cells + [_Cell("writefile", f) for f in p.files]


# nbformat is untyped: give the few functions used here their types once.
_new_markdown_cell = cast(Callable[[str], NotebookNode], nbformat.v4.new_markdown_cell)
_new_code_cell = cast(Callable[[str], NotebookNode], nbformat.v4.new_code_cell)
_new_notebook = cast(Callable[..., NotebookNode], nbformat.v4.new_notebook)
_from_dict = cast(Callable[[dict[str, Any]], NotebookNode], nbformat.from_dict)
_writes = cast(Callable[..., str], nbformat.writes)

#: Fixed notebook metadata (no kernel versions or timestamps: regenerating gives the same bytes).
_METADATA: dict[str, Any] = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}


def _build_notebook(sources: dict[str, str], p: pack.Pack) -> NotebookNode:
    """The notebook around the given file sources (stubs or completed), with stable cell ids."""
    plan = narrative(p.notebook, p.files) if p.notebook is not None else _default_narrative(p)
    cells: list[NotebookNode] = []
    for cell in plan:
        if cell.kind == "markdown":
            cells.append(_new_markdown_cell(cell.text))
        elif cell.kind == "code":
            cells.append(_new_code_cell(cell.text))
        elif cell.kind == "setup":
            cells.append(_new_code_cell(_SETUP.rstrip("\n")))
        else:
            name = cell.text
            cells.append(_new_code_cell(f"%%writefile {name}\n{sources[name]}".rstrip("\n")))
            module = name.removesuffix(".py")
            example = p.by_module[module][0]
            cells.append(_new_code_cell(_CHECK.format(module=module, example=example)))
    for number, made in enumerate(cells, start=1):
        made["id"] = f"cell-{number:02d}"
    notebook = _new_notebook(cells=cells)
    notebook.metadata = _from_dict(_METADATA)
    nbformat.validate(notebook)
    return notebook


def _notebook_text(notebook: NotebookNode) -> str:
    return _writes(notebook, version=4) + "\n"
