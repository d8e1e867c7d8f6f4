"""grader.authoring.assign: the stubs and notebook generated from solutions/, and examples/ built
on them."""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import nbformat
import numpy as np
import pytest
import torch

from grader.authoring import assign, pack

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = ROOT / "solutions"
ASSIGNMENT = ROOT / "assignment"
EXAMPLES = ROOT / "examples"
MODULES = pack.active().by_module
FILES = pack.active().files
CLASSES = pack.active().classes


def load_modules(folder: Path) -> dict[str, ModuleType]:
    """Import the six flat modules of ``folder`` without leaving them in ``sys.modules``."""
    names = list(MODULES)
    saved = {name: sys.modules.pop(name) for name in names if name in sys.modules}
    sys.path.insert(0, str(folder))
    try:
        return {name: importlib.import_module(name) for name in names}
    finally:
        sys.path.remove(str(folder))
        for name in names:
            sys.modules.pop(name, None)
        sys.modules.update(saved)


def definitions(source: str) -> dict[str, ast.FunctionDef | ast.ClassDef]:
    """Every function, class and method of a module by qualified name."""
    found: dict[str, ast.FunctionDef | ast.ClassDef] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.ClassDef):
                found[prefix + child.name] = child
                visit(child, prefix + child.name + ".")

    visit(ast.parse(source), "")
    return found


def _dump(node: ast.AST | None) -> str:
    return "" if node is None else ast.dump(node)


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return assign.render(SOLUTIONS)


# --------------------------------------------------------------------------- the stubs


def test_render_produces_the_six_stubs_and_the_notebook(rendered: dict[str, str]) -> None:
    assert sorted(rendered) == sorted([*FILES, assign.NOTEBOOK])


@pytest.mark.parametrize("name", FILES)
def test_stub_keeps_every_signature_and_docstring(rendered: dict[str, str], name: str) -> None:
    reference = definitions((SOLUTIONS / name).read_text(encoding="utf-8"))
    stub = definitions(rendered[name])
    assert sorted(stub) == sorted(reference)
    for qualname, node in reference.items():
        other = stub[qualname]
        assert ast.get_docstring(other) == ast.get_docstring(node), qualname
        if isinstance(node, ast.FunctionDef):
            assert isinstance(other, ast.FunctionDef)
            assert ast.dump(other.args) == ast.dump(node.args), qualname
            assert _dump(other.returns) == _dump(node.returns), qualname
        else:
            assert [ast.dump(b) for b in node.bases] == [ast.dump(b) for b in other.bases]


def test_stubs_import_with_the_same_signatures_as_the_solutions() -> None:
    reference, stubs = load_modules(SOLUTIONS), load_modules(ASSIGNMENT)
    for module, names in MODULES.items():
        for name in names:
            ours, theirs = getattr(reference[module], name), getattr(stubs[module], name)
            assert inspect.getdoc(theirs) == inspect.getdoc(ours)
            if inspect.isclass(ours):
                for method in ("forward", "backward"):
                    assert inspect.signature(getattr(theirs, method)) == inspect.signature(
                        getattr(ours, method)
                    )
            else:
                assert inspect.signature(theirs) == inspect.signature(ours)


def _stub_calls(stubs: dict[str, ModuleType]) -> Iterator[tuple[str, object, tuple[object, ...]]]:
    W, X, y = np.ones((3, 2)), np.ones((4, 3)), np.array([0, 1, 0, 1])
    S = X @ W
    f = lambda w: 0.0  # noqa: E731
    args: dict[str, tuple[object, ...]] = {
        "softmax": (S,),
        "cross_entropy_loss": (S, y),
        "svm_loss": (S, y),
        "squared_svm_loss": (S, y),
        "l2_penalty": (W,),
        "l1_penalty": (W,),
        "elastic_net_penalty": (W, 0.5),
        "ridge_fit": (X, y, 0.1),
        "softmax_loss_and_grad": (W, X, y, 0.1),
        "svm_loss_and_grad": (W, X, y, 0.1),
        "numeric_gradient": (f, W),
        "relative_error": (W, W),
        "gradient_check": (f, f, W),
        "sgd_step": (W, W, 0.1),
        "sgd_momentum_step": (W, W, W, 0.1),
        "adam_step": (W, W, W, W, 1),
        "gradient_descent": (f, W, 0.1, 2),
        "minibatch_sgd": (f, W, X, y, 0.1, 2, 2),
        "step_decay": (0.1, 3, 2),
        "cosine_decay": (0.1, 3, 10),
        "train_val_test_split": (10,),
        "k_fold_indices": (10, 2),
        "cross_validate": (f, f, X, y, 2),
        "grid_search": (f, {"a": [1]}),
        "random_search": (f, {"a": (0.0, 1.0, "linear")}, 2),
        "choose_ridge_lambda": (X, y, [0.1]),
    }
    for module, names in MODULES.items():
        for name in names:
            if name not in CLASSES:
                yield name, getattr(stubs[module], name), args[name]


def test_every_stub_function_raises_not_implemented() -> None:
    stubs = load_modules(ASSIGNMENT)
    calls = list(_stub_calls(stubs))
    assert len(calls) == sum(len(names) for names in MODULES.values()) - len(CLASSES)
    for name, function, args in calls:
        assert callable(function)
        with pytest.raises(NotImplementedError, match=f"{name} is not implemented yet"):
            function(*args)


@pytest.mark.parametrize("name", ["SoftmaxCrossEntropy", "MulticlassHinge"])
def test_stub_forward_and_backward_raise_not_implemented(name: str) -> None:
    function = getattr(load_modules(ASSIGNMENT)["torch_losses"], name)
    scores = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 1])
    with pytest.raises(NotImplementedError, match=f"{name}.forward is not implemented yet"):
        function.apply(scores, labels)
    with pytest.raises(NotImplementedError, match=f"{name}.backward is not implemented yet"):
        function.backward(None, torch.tensor(1.0))


def test_assignment_is_up_to_date() -> None:
    # Fails when solutions/ changed without regenerating: run `python -m grader assign`.
    assert assign.stale(SOLUTIONS, ASSIGNMENT) == []


def test_regenerating_gives_identical_bytes(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    written = assign.write(SOLUTIONS, first)
    assign.write(SOLUTIONS, second)
    assert sorted(p.name for p in written) == sorted([*FILES, assign.NOTEBOOK])
    for path in written:
        assert path.read_bytes() == (second / path.name).read_bytes()
    assert assign.stale(SOLUTIONS, first) == []


def test_write_leaves_other_files_alone_and_stale_names_what_changed(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("keep me\n")
    assign.write(SOLUTIONS, tmp_path)
    assert (tmp_path / "README.md").read_text() == "keep me\n"
    (tmp_path / "optim.py").write_text("# edited\n")
    (tmp_path / assign.NOTEBOOK).unlink()
    assert sorted(assign.stale(SOLUTIONS, tmp_path)) == sorted(["optim.py", assign.NOTEBOOK])


def test_stubs_keep_the_reference_out(rendered: dict[str, str]) -> None:
    for name in FILES:
        assert assign.BEGIN not in rendered[name]
        assert assign.END not in rendered[name]
    assert "np.max(scores, axis=1, keepdims=True)" not in rendered["losses.py"]


def test_notebook_is_valid_and_holds_the_stubs(rendered: dict[str, str]) -> None:
    notebook = nbformat.reads(rendered[assign.NOTEBOOK], as_version=4)
    nbformat.validate(notebook)
    ids = [cell["id"] for cell in notebook.cells]
    assert ids == [f"cell-{i:02d}" for i in range(1, len(ids) + 1)]
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    writefile = {
        cell.source.splitlines()[0].split()[1]: cell.source.split("\n", 1)[1]
        for cell in notebook.cells
        if cell.cell_type == "code" and cell.source.startswith("%%writefile")
    }
    assert list(writefile) == list(FILES)
    for name, body in writefile.items():
        assert body + "\n" == rendered[name]


def test_reference_notebook_holds_the_completed_files() -> None:
    notebook = assign.reference_notebook(SOLUTIONS)
    bodies = [
        cell.source.split("\n", 1)[1]
        for cell in notebook.cells
        if cell.cell_type == "code" and cell.source.startswith("%%writefile")
    ]
    for name, body in zip(FILES, bodies, strict=True):
        text = (SOLUTIONS / name).read_text(encoding="utf-8")
        assert body + "\n" == assign.completed_source(text, SOLUTIONS / name)
        assert assign.YOUR_CODE in body
        assert "raise NotImplementedError" not in body


# --------------------------------------------------------------------------- marker errors

GOOD = '''\
import math


def f(x):
    """Doc."""
    # BEGIN SOLUTION
    return math.sqrt(x)
    # END SOLUTION
'''


def test_a_good_file_gives_a_stub_whose_unused_import_is_marked(tmp_path: Path) -> None:
    stub = assign.stub_source(GOOD, tmp_path / "good.py")
    assert 'raise NotImplementedError("f is not implemented yet")' in stub
    assert "import math  # noqa: F401" in stub
    assert "math.sqrt" not in stub


@pytest.mark.parametrize(
    ("source", "line", "words"),
    [
        (GOOD.replace("    # END SOLUTION\n", ""), 6, "never closed"),
        (GOOD.replace("    # BEGIN SOLUTION\n", ""), 7, "without"),
        (GOOD.replace("    return", "    # BEGIN SOLUTION\n    return"), 7, "inside the region"),
        (GOOD.replace("    # END SOLUTION", "  # END SOLUTION"), 8, "indented differently"),
        (GOOD.replace("# BEGIN SOLUTION", "# BEGIN SOLUTION:"), 6, "looks like a marker"),
        (GOOD.replace("# END SOLUTION", "#END SOLUTION"), 8, "looks like a marker"),
        (GOOD + "# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n", 9, "not inside a function"),
        (
            GOOD.replace("    return math.sqrt(x)\n", "    return math.sqrt(x)\nx = 2\n"),
            8,
            "still open",
        ),
        (
            GOOD.replace("    # BEGIN SOLUTION", "    if x:\n        # BEGIN SOLUTION").replace(
                "    return math.sqrt(x)\n    # END", "        return 1\n        # END"
            ),
            7,
            "indented like the body",
        ),
    ],
)
def test_bad_markers_raise_marker_error_with_file_and_line(
    tmp_path: Path, source: str, line: int, words: str
) -> None:
    path = tmp_path / "bad.py"
    path.write_text(source)
    with pytest.raises(assign.MarkerError, match=words) as caught:
        assign.stub_source(source, path)
    assert f"{path}:{line}:" in str(caught.value)


def test_render_reports_the_solution_file_with_bad_markers(tmp_path: Path) -> None:
    for name in FILES:
        (tmp_path / name).write_text((SOLUTIONS / name).read_text(encoding="utf-8"))
    broken = (tmp_path / "optim.py").read_text().replace("    # END SOLUTION\n", "", 1)
    (tmp_path / "optim.py").write_text(broken)
    with pytest.raises(assign.MarkerError, match=r"optim\.py:\d+: .* still open"):
        assign.render(tmp_path)


# --------------------------------------------------------------------------- examples/


def test_examples_partial_is_in_step_with_the_solutions() -> None:
    for name in FILES:
        text = (SOLUTIONS / name).read_text(encoding="utf-8")
        completed = name in ("losses.py", "schedules.py")
        expected = (assign.completed_source if completed else assign.stub_source)(
            text, SOLUTIONS / name
        )
        assert (EXAMPLES / "partial" / name).read_text(encoding="utf-8") == expected, name


def test_examples_notebook_is_the_reference_notebook() -> None:
    on_disk = nbformat.read(EXAMPLES / "notebook" / "assignment.ipynb", as_version=4)
    assert on_disk == assign.reference_notebook(SOLUTIONS)


#: Each bug in examples/buggy: (file, lines of the completed reference, lines that replace them).
BUGS = [
    ("losses.py", "    margins[rows, y] = 0\n    return float(np.sum(margins) / N)\n",
     "    return float(np.sum(margins) / N)\n"),
    ("losses.py", "    shifted = scores - np.max(scores, axis=1, keepdims=True)\n",
     "    shifted = scores\n"),
    ("gradients.py", "            x[ix] = old_value - h\n", "            x[ix] = old_value\n"),
    ("gradients.py", "        grad[ix] = (f_plus - f_minus) / (2 * h)\n",
     "        grad[ix] = (f_plus - f_minus) / h\n"),
    ("optim.py", "    v_new = rho * v + dw\n", "    v_new = rho * v + (1 - rho) * dw\n"),
    ("schedules.py", "    return lr0 * gamma ** (t // step_size)\n",
     "    return lr0 * gamma ** ((t + 1) // step_size)\n"),
]  # fmt: skip


@pytest.mark.parametrize("name", FILES)
def test_examples_buggy_is_the_reference_with_the_listed_bugs(name: str) -> None:
    expected = assign.completed_source((SOLUTIONS / name).read_text(), SOLUTIONS / name)
    for file, old, new in BUGS:
        if file == name:
            assert expected.count(old) == 1
            expected = expected.replace(old, new)
    text = (EXAMPLES / "buggy" / name).read_text(encoding="utf-8")
    header, _, body = text.partition('"""')
    assert '"""' + body == expected
    assert header.startswith("# examples/buggy")
    assert ("# BUG:" in header) == any(file == name for file, _, _ in BUGS)


def test_examples_buggy_bugs_show() -> None:
    buggy, reference = load_modules(EXAMPLES / "buggy"), load_modules(SOLUTIONS)
    scores = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    labels = np.array([0, 1, 2])
    assert buggy["losses"].svm_loss(scores, labels, 0.5) == pytest.approx(
        reference["losses"].svm_loss(scores, labels, 0.5) + 0.5
    )
    with np.errstate(over="ignore", invalid="ignore"):
        assert np.isnan(buggy["losses"].softmax(1e3 * scores)).any()
    quadratic = lambda x: float(np.sum(x**2))  # noqa: E731
    error = buggy["gradients"].numeric_gradient(quadratic, np.array([1.0, 2.0])) - [2.0, 4.0]
    assert np.allclose(error, 1e-5)
    w, _ = buggy["optim"].sgd_momentum_step(np.zeros(2), np.ones(2), np.ones(2), 1.0, 0.9)
    assert np.allclose(w, -1.0)  # the reference steps by rho * v + dw = 1.9
    assert buggy["schedules"].step_decay(1.0, 2, 3) == pytest.approx(0.1)
