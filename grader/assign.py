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

from grader.spec import FILES, MODULES

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


def render(solutions: Path) -> dict[str, str]:
    """The generated ``assignment/``: relative path -> file text (six stubs and the notebook)."""
    sources = _read_solutions(solutions)
    files = {name: stub_source(text, solutions / name) for name, text in sources.items()}
    files[NOTEBOOK] = _notebook_text(_build_notebook(files))
    return files


def write(solutions: Path, dest: Path) -> list[Path]:
    """Write :func:`render` into ``dest`` (other files there are left alone); the paths written."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for relative, text in render(solutions).items():
        path = dest / relative
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    return written


def stale(solutions: Path, dest: Path) -> list[str]:
    """Relative paths in ``dest`` that are missing or differ from :func:`render`; [] if none."""
    out_of_date = []
    for relative, text in render(solutions).items():
        path = dest / relative
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            out_of_date.append(relative)
    return out_of_date


def reference_notebook(solutions: Path) -> NotebookNode:
    """The assignment notebook as a student would hand it in completed: the reference code
    inside each ``YOUR CODE HERE`` region of the ``%%writefile`` cells."""
    sources = _read_solutions(solutions)
    return _build_notebook(
        {name: completed_source(text, solutions / name) for name, text in sources.items()}
    )


def stub_source(text: str, path: Path) -> str:
    """``text`` (a solution file read from ``path``) with every marked region to fill in."""
    return _replace_regions(text, path, lambda region, body: [f"raise {_not_implemented(region)}"])


def completed_source(text: str, path: Path) -> str:
    """The stub of ``text`` filled in with the reference code, as a finished submission."""
    return _replace_regions(text, path, lambda region, body: body)


def _not_implemented(region: _Region) -> str:
    return f'NotImplementedError("{region.name} is not implemented yet")'


def _read_solutions(solutions: Path) -> dict[str, str]:
    missing = [name for name in FILES if not (solutions / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{solutions} lacks {', '.join(missing)}")
    return {name: (solutions / name).read_text(encoding="utf-8") for name in FILES}


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
    name: str  # qualified: "svm_loss", "SoftmaxCrossEntropy.forward"
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

_INTRO = """\
# Assignment: Loss Functions and Optimization

In this assignment you implement, in NumPy, the pieces of the lecture: the softmax
cross-entropy and multiclass SVM (hinge) losses with L2, L1 and elastic-net penalties; their
gradients and the numeric gradient check; gradient descent, minibatch SGD, SGD with momentum
and Adam; step and cosine learning-rate decay; validation splits, k-fold cross-validation, grid
and random search; and finally the two losses as PyTorch autograd functions with a hand-written
backward pass.

**How to work.** The code lives in six files, one section each below. Every section has a
`%%writefile NAME.py` cell holding that file: fill in each region between
`# ==== YOUR CODE HERE ====` and `# ==== END OF YOUR CODE ====` (replace the
`raise NotImplementedError(...)` line), then run the cell to save the file. The cells after it
use your functions the way the lecture does; a function you have not written yet prints
`not implemented yet: ...` instead of failing. Read each docstring: it gives the shapes, what
to return and what not to use.

**Conventions.** `X` has shape `(N, D)` (one example per row), `y` holds `N` integer labels in
`[0, C)`, `W` has shape `(D, C)` and the scores are `S = X @ W`, shape `(N, C)`. The slides
write `f(x, W) = Wx` with `W` of shape `C x D`; we use the transpose, as CS231n and EECS 498
do. Losses return a number; functions must not modify their array arguments (the `*_step`
optimizer updates may). See `README.md` for how to test and submit your work.
"""

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
    from grader.check import check
except ImportError:

    def check(name=None, path=".", verbose=False):
        print(
            "The checker is not installed in this notebook's Python: start Jupyter from the "
            "course's virtual environment (see README.md), or run `python -m grader check`."
        )
'''

_LOSSES_MD = """\
## 1. Losses and penalties (`losses.py`)

A linear classifier scores every class: `S = X @ W`. A **loss** says how unhappy we are with
those scores. The **softmax cross-entropy** turns each row into probabilities and charges
`-log` of the probability of the correct class; the **multiclass SVM (hinge) loss** charges
every wrong class that comes within `margin` of the correct one. A **penalty** `R(W)` (L2, L1
or elastic net) prefers simple weights; **ridge regression** is least squares with an L2
penalty, with a closed-form solution.

Implement `softmax`, `cross_entropy_loss`, `svm_loss`, `squared_svm_loss`, `l2_penalty`,
`l1_penalty`, `elastic_net_penalty` and `ridge_fit`. Keep them stable: scores as large as
`1e4` must give finite results (subtract each row's maximum first).

Questions from the lecture to think about (the grader checks that your code behaves this way):

- What are the smallest and largest possible cross-entropy losses? Can it be negative?
- What happens to the cross-entropy as the correct class's score grows? As it shrinks?
- What is the cross-entropy when all `C` scores are equal?
- Does the cross-entropy change if you add the same constant to every score of a row?
- What is the hinge loss when all scores are equal (at initialization, `W` is small)?
- If the car image's margins already hold, does a small change in its scores change the loss?
- If `W` gives hinge loss 0, what is the loss of `2 W`? Is the `W` with loss 0 unique?
- What would the hinge loss be if the sum also ran over the correct class `j = y_i`?
- How do `l2_penalty(c * W)` and `l1_penalty(c * W)` relate to `l2_penalty(W)` and
  `l1_penalty(W)`? Can a penalty be negative?
"""

_LOSSES_USE = """\
losses = fresh("losses")

# The lecture's three training images, one row each; columns are the classes (cat, car, frog).
scores = np.array([[3.2, 5.1, -1.7],   # a cat
                   [1.3, 4.9, 2.0],    # a car
                   [2.2, 2.5, -3.1]])  # a frog
labels = np.array([0, 1, 2])

with unless_missing():
    for i, name in enumerate(["cat", "car", "frog"]):
        loss_i = losses.svm_loss(scores[i : i + 1], labels[i : i + 1])
        print(f"hinge loss of the {name} image: {loss_i:.1f}")    # 2.9, 0.0, 12.9
    print(f"mean hinge loss: {losses.svm_loss(scores, labels):.2f}")  # 5.27
    doubled = losses.svm_loss(2 * scores[1:2], labels[1:2])
    print(f"car image with every score doubled: {doubled:.1f}")  # still 0

with unless_missing():
    print("softmax of the cat image's scores:", losses.softmax(scores[:1]))
    cross_entropy = losses.cross_entropy_loss(scores[:1], labels[:1])
    print(f"cross-entropy of the cat image: {cross_entropy:.2f}")  # 2.04

with unless_missing():
    # The slide's example: w1 and w2 give x = [1, 1, 1, 1] the same score; which is preferred?
    w1, w2 = np.array([1.0, 0, 0, 0]), np.array([0.25, 0.25, 0.25, 0.25])
    print("L2 penalty of w1, w2:", losses.l2_penalty(w1), losses.l2_penalty(w2))
    print("L1 penalty of w1, w2:", losses.l1_penalty(w1), losses.l1_penalty(w2))
"""

_GRADIENTS_MD = """\
## 2. Gradients and the gradient check (`gradients.py`)

To train `W` we need the gradient of the loss. Derive it on paper and implement it in
`softmax_loss_and_grad` and `svm_loss_and_grad` (both return `(loss, dW)` for the loss plus
`reg * sum(W**2)`). Then check it the way practitioners do: compare it with a **numeric
gradient**, `(f(x + h) - f(x - h)) / 2h` one coordinate at a time (`numeric_gradient`), using
the **relative error** (`relative_error`) and `gradient_check`.

Questions to think about:

- Why the centered difference `(f(x + h) - f(x - h)) / 2h` rather than `(f(x + h) - f(x)) / h`?
- The hinge loss has kinks. What can a gradient check report near one?
- Why compare with a *relative* error rather than `|a - b|`?
- Your gradients must agree with your own numeric gradient, with PyTorch's autograd of the
  reference loss, and with `torch.autograd.gradcheck`.
"""

_GRADIENTS_USE = """\
gradients = fresh("gradients")

rng = np.random.default_rng(0)
X = rng.normal(size=(20, 5))
y = rng.integers(0, 3, size=20)
W = 0.1 * rng.normal(size=(5, 3))
reg = 0.1

for name in ["softmax_loss_and_grad", "svm_loss_and_grad"]:
    loss_and_grad = getattr(gradients, name)
    with unless_missing():
        loss, dW = loss_and_grad(W, X, y, reg)
        passed, error = gradients.gradient_check(
            lambda W: loss_and_grad(W, X, y, reg)[0],  # the loss, as a function of W
            lambda W: loss_and_grad(W, X, y, reg)[1],  # your analytic gradient
            W,
        )
        print(f"{name}: loss {loss:.4f}, relative error {error:.1e}, passed: {passed}")
"""

_OPTIM_MD = """\
## 3. Optimizers (`optim.py`)

**Gradient descent** repeats `w = w - lr * dw`. **Minibatch SGD** estimates the gradient on a
small random batch. **Momentum** keeps a velocity `v = rho * v + dw` and steps along it
(`w = w - lr * v`, as PyTorch does), which damps oscillations and speeds up progress along
shallow directions. **Adam** adds a per-coordinate scale from a running average of squared
gradients, with bias correction for the first steps.

Implement `sgd_step`, `sgd_momentum_step`, `adam_step`, `gradient_descent` and `minibatch_sgd`.

Questions to think about:

- What does SGD with momentum do when `rho = 0`?
- On `f(x, y) = (x + 2y - 7)^2 + (2x + y - 5)^2` (minimum at `(1, 3)`), what happens with the
  step sizes 0.01, 0.10, 0.11 and 0.12? Why is there a sharp limit?
- Why does Adam need a bias correction in its first steps?
"""

_OPTIM_USE = """\
optim = fresh("optim")


def grad_f(w):
    # f(x, y) = (x + 2y - 7)^2 + (2x + y - 5)^2, minimum at (1, 3)
    x, y = w
    r1, r2 = x + 2 * y - 7, 2 * x + y - 5
    return np.array([2 * r1 + 4 * r2, 4 * r1 + 2 * r2])


with unless_missing():
    for lr in [0.01, 0.10, 0.11, 0.12]:
        path = optim.gradient_descent(grad_f, np.array([0.0, 0.0]), lr, num_steps=20)
        distance = np.linalg.norm(path[-1] - np.array([1.0, 3.0]))
        print(f"lr = {lr:.2f}: after 20 steps w = {path[-1]}, distance to (1, 3) = {distance:.3g}")

with unless_missing():
    # Train a softmax classifier on three well-separated blobs with minibatch SGD + momentum.
    gradients = fresh("gradients")
    rng = np.random.default_rng(0)
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    y = rng.integers(0, 3, size=300)
    X = np.column_stack([centers[y] + 0.5 * rng.normal(size=(300, 2)), np.ones(300)])
    W, history = optim.minibatch_sgd(
        lambda W, X_batch, y_batch: gradients.softmax_loss_and_grad(W, X_batch, y_batch, 1e-3),
        np.zeros((3, 3)), X, y, lr=0.1, batch_size=32, num_steps=200, rho=0.9,
    )
    accuracy = np.mean(np.argmax(X @ W, axis=1) == y)
    print(f"minibatch SGD: loss {history[0]:.3f} -> {history[-1]:.3f}, accuracy {accuracy:.0%}")
"""

_SCHEDULES_MD = """\
## 4. Learning-rate schedules (`schedules.py`)

A large step early and a small one late: **step decay** multiplies the learning rate by
`gamma` every `step_size` epochs (PyTorch's `StepLR`); **cosine decay** glides from `lr0` to
`lr_min` over `T` epochs along half a cosine (`CosineAnnealingLR`), and stays at `lr_min`
afterwards.

Implement `step_decay` and `cosine_decay`.

Questions to think about:

- What learning rate does each schedule give at `t = 0`? Can it ever increase?
- Where does cosine decay end up at `t = T`, and halfway, at `t = T / 2`?
"""

_SCHEDULES_USE = """\
import matplotlib.pyplot as plt

schedules = fresh("schedules")

epochs = np.arange(101)
curves = {}
with unless_missing():
    curves["step decay (step_size=30, gamma=0.1)"] = [
        schedules.step_decay(0.1, t, step_size=30) for t in epochs
    ]
with unless_missing():
    curves["cosine decay (T=100)"] = [schedules.cosine_decay(0.1, t, T=100) for t in epochs]

if curves:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for label, lrs in curves.items():
        ax.plot(epochs, lrs, label=label)
    ax.set_xlabel("epoch t")
    ax.set_ylabel("learning rate")
    ax.legend()
    plt.show()
"""

_SEARCH_MD = """\
## 5. Choosing hyperparameters (`search.py`)

Hyperparameters such as `lam` or the learning rate are chosen on **validation** data, never on
the test set: split the data into train / validation / test (`train_val_test_split`), or, with
little data, use **k-fold cross-validation** (`k_fold_indices`, `cross_validate`). Search the
values on a **grid** (`grid_search`) or, usually better, at **random** (`random_search`,
log-uniform for scales such as learning rates). `choose_ridge_lambda` puts it together for
ridge regression.

Questions to think about:

- Why must the test set not be used to choose `lam`?
- Why does random search often beat grid search with the same number of trials?
- Why sample learning rates and regularization strengths on a log scale?
- What is the risk when the best value found lies on the border of the searched range?

Below, the lecture's latitude/temperature example: three training cities and predictions for
latitudes 42, 39, 30, 19 and 9, without regularization (`lam = 0`) and with `lam = 0.02`. A
column of ones gives the line its intercept (and is penalized like every other coefficient).
"""

_SEARCH_USE = """\
losses = fresh("losses")
search = fresh("search")

latitude = np.array([42.0, 39.0, 30.0])
temperature = np.array([33.0, 38.0, 62.0])
X_train = np.column_stack([latitude, np.ones(3)])  # a bias column of ones
query = np.array([42.0, 39.0, 30.0, 19.0, 9.0])
X_query = np.column_stack([query, np.ones(5)])

with unless_missing():
    for lam in [0.0, 0.02]:
        w = losses.ridge_fit(X_train, temperature, lam)
        print(f"lam = {lam}: predictions {np.round(X_query @ w, 1)}")
        # lecture: lam = 0    -> 32.0, 39.4, 61.7, 88.9, 113.6
        #          lam = 0.02 -> 36.0, 40.6, 54.3, 71.1, 86.4

with unless_missing():
    # Leave-one-out cross-validation (k = 3 folds for 3 cities) over a few candidate lambdas.
    lams = [0.0, 0.001, 0.01, 0.02, 0.1, 1.0]
    best_lam = search.choose_ridge_lambda(X_train, temperature, lams, k=3)
    print("lambda chosen by 3-fold cross-validation:", best_lam)

with unless_missing():
    train_idx, val_idx, test_idx = search.train_val_test_split(10, seed=0)
    print("train / validation / test indices:", train_idx, val_idx, test_idx)
    best, value = search.random_search(
        lambda lr: (np.log10(lr) + 3) ** 2, {"lr": (1e-6, 1.0, "log")}, num_iters=30
    )
    print(f"random search for the best lr (true optimum 1e-3): {best['lr']:.2g}")
"""

_TORCH_MD = """\
## 6. The losses as PyTorch autograd functions (`torch_losses.py`)

PyTorch can differentiate almost anything, but you can also supply the backward pass yourself:
a `torch.autograd.Function` has a `forward` that computes the output (and saves what it needs
with `ctx.save_for_backward`) and a `backward` that turns the upstream gradient into the
gradient for each input. Implement `SoftmaxCrossEntropy` and `MulticlassHinge` this way: no
autograd inside, the same device and dtype as the input scores.

Questions to think about:

- `torch.autograd.gradcheck` compares your backward with finite differences. Why does it need
  `float64` inputs?
- `torch.nn.functional.multi_margin_loss` divides by the number of classes `C`; how does it
  relate to `svm_loss`?
"""

_TORCH_USE = """\
import torch
import torch.nn.functional as F

torch_losses = fresh("torch_losses")

generator = torch.Generator().manual_seed(0)
scores = torch.randn(6, 4, dtype=torch.float64, generator=generator, requires_grad=True)
labels = torch.tensor([0, 1, 2, 3, 0, 1])

with unless_missing():
    loss = torch_losses.SoftmaxCrossEntropy.apply(scores, labels)
    expected = F.cross_entropy(scores, labels)
    print(f"SoftmaxCrossEntropy {loss.item():.6f} vs F.cross_entropy {expected.item():.6f}")
    ok = torch.autograd.gradcheck(
        lambda s: torch_losses.SoftmaxCrossEntropy.apply(s, labels), (scores,)
    )
    print("SoftmaxCrossEntropy passes gradcheck:", ok)

with unless_missing():
    loss = torch_losses.MulticlassHinge.apply(scores, labels)
    expected = 4 * F.multi_margin_loss(scores, labels)  # C * multi_margin_loss, C = 4
    print(f"MulticlassHinge {loss.item():.6f} vs C * F.multi_margin_loss {expected.item():.6f}")
    ok = torch.autograd.gradcheck(
        lambda s: torch_losses.MulticlassHinge.apply(s, labels), (scores,)
    )
    print("MulticlassHinge passes gradcheck:", ok)
"""

#: After each %%writefile cell: the public tests of that file, as `grader check` reports them.
_CHECK = """\
# The public tests of the {module}.py just written. One function: check("{example}");
# every failing test in full: check("{module}", verbose=True).
check("{module}")"""

#: Per file: the section's explanation and the cell that uses its functions.
_SECTIONS: dict[str, tuple[str, str]] = {
    "losses.py": (_LOSSES_MD, _LOSSES_USE),
    "gradients.py": (_GRADIENTS_MD, _GRADIENTS_USE),
    "optim.py": (_OPTIM_MD, _OPTIM_USE),
    "schedules.py": (_SCHEDULES_MD, _SCHEDULES_USE),
    "search.py": (_SEARCH_MD, _SEARCH_USE),
    "torch_losses.py": (_TORCH_MD, _TORCH_USE),
}


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


def _build_notebook(sources: dict[str, str]) -> NotebookNode:
    """The notebook around the given file sources (stubs or completed), with stable cell ids."""
    cells = [_new_markdown_cell(_INTRO.rstrip("\n")), _new_code_cell(_SETUP.rstrip("\n"))]
    for name in FILES:
        explanation, usage = _SECTIONS[name]
        cells.append(_new_markdown_cell(explanation.rstrip("\n")))
        cells.append(_new_code_cell(f"%%writefile {name}\n{sources[name]}".rstrip("\n")))
        module = name.removesuffix(".py")
        cells.append(_new_code_cell(_CHECK.format(module=module, example=MODULES[module][0])))
        cells.append(_new_code_cell(usage.rstrip("\n")))
    for number, cell in enumerate(cells, start=1):
        cell["id"] = f"cell-{number:02d}"
    notebook = _new_notebook(cells=cells)
    notebook.metadata = _from_dict(_METADATA)
    nbformat.validate(notebook)
    return notebook


def _notebook_text(notebook: NotebookNode) -> str:
    return _writes(notebook, version=4) + "\n"
