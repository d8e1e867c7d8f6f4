"""What a grading suite may import: the public API of the toolkit for assignment authors.

A suite is a pytest file in a pack's ``tests/grading/public`` or ``hidden`` folder. Its tests take
the ``student`` fixture (the submission, reached through the sandbox) and the ``reference`` fixture
(the pack's solutions, on the trusted side), mark their points and tags, and check with the
helpers below; each failure carries a message a teacher would write::

    import numpy as np
    import pytest
    from grader.testing import compare

    @pytest.mark.points(2)
    @pytest.mark.tags("relu_forward")
    def test_relu_forward(student, reference):
        \"\"\"relu of a 2x3 matrix with negative entries\"\"\"
        compare(student, reference, "relu_forward", np.array([[-1.0, 0.0, 2.0], [3.0, -4.0, 5.0]]))

Nothing else under ``grader`` is a promise to suites: import from here, and a later version of
the engine keeps working with your suite. docs/AUTHORING.md walks through writing one.

Checks
    :func:`compare` (call the student and the reference on the same input, compare, diagnose a
    known bug), :func:`expect_close`, :func:`expect_unchanged`, :func:`as_scalar`,
    :func:`as_array`, :func:`with_hint`, :func:`fail_property`; :class:`StudentFailure` is what
    every check raises. :func:`summarize` and :func:`summarize_inputs` print inputs briefly.
PyTorch as the oracle (trusted side only; each imports torch when first called)
    :func:`torch_value_and_grads` (a function's value and each input's gradient by autograd),
    :func:`sgd`, :func:`adam` (trajectories of ``torch.optim``), :func:`step_lr`,
    :func:`cosine_lr` (learning rates of ``torch.optim.lr_scheduler``).
Hypothesis strategies
    :func:`score_matrices` and :func:`scores_and_labels` (classifier scores and integer labels).
Messages and tolerances
    ``messages`` (every sentence a student can read, to build a suite's own), :func:`not_finite`
    (how a non-finite result is described), :func:`tolerances` (the rtol/atol a result gets).
Known bugs
    :func:`diagnose` (which known bug explains this answer: its hint, or None); :class:`Bug`, a
    wrong line (or a few) of the solution and the hint for it: a pack's ``tests/grading/bugs.py``
    lists them in ``BUGS`` (feedback fingerprints and the bug corpus); :class:`Probe`, an input
    that tells bugs apart, listed in its ``PROBES`` (docs/SUITES.md, "Hints").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from grader import messages
from grader.grading.checks import (
    StudentFailure,
    as_array,
    as_scalar,
    compare,
    expect_close,
    expect_unchanged,
    not_finite,
    summarize,
    summarize_inputs,
    tolerances,
    with_hint,
)
from grader.grading.feedback import Bug, Probe, diagnose
from grader.grading.oracle import adam, cosine_lr, sgd, step_lr

__all__ = [
    "Bug",
    "Probe",
    "StudentFailure",
    "adam",
    "as_array",
    "as_scalar",
    "compare",
    "cosine_lr",
    "diagnose",
    "expect_close",
    "expect_unchanged",
    "fail_property",
    "messages",
    "not_finite",
    "score_matrices",
    "scores_and_labels",
    "sgd",
    "step_lr",
    "summarize",
    "summarize_inputs",
    "tolerances",
    "torch_value_and_grads",
    "with_hint",
]


def fail_property(name: str, prop: str, inputs: str, *, category: str = "property") -> None:
    """Fail a test because ``name`` breaks a property the lecture states (Hypothesis found
    ``inputs``, already summarized): ``fail_property("relu_forward", "relu(x) >= 0", ...)``."""
    raise StudentFailure(
        messages.PROPERTY.format(name=name, prop=prop, inputs=inputs), category=category
    )


def torch_value_and_grads(
    fn: Callable[..., Any],
    *arrays: Any,
    upstream: Any = None,
    wrt: Sequence[int] | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """``fn``'s value on float64 tensors of ``arrays``, and the gradient of each, by autograd.

    ``fn`` takes tensors and returns one tensor (write it with ``torch`` operations: it is the
    oracle the student's hand-written gradient is compared against). ``upstream`` is the
    gradient flowing into the output (default: ones, i.e. the gradient of its sum); ``wrt``
    the positions of the arrays to differentiate (default: every floating-point one). Returns
    the value and one gradient per position in ``wrt``, as float64 arrays.
    """
    import torch

    positions = (
        [i for i, a in enumerate(arrays) if np.asarray(a).dtype.kind == "f"]
        if wrt is None
        else list(wrt)
    )
    tensors = []
    for i, a in enumerate(arrays):
        arr = np.asarray(a)
        t = torch.tensor(arr.astype(np.float64) if i in positions else arr)
        tensors.append(t.requires_grad_(True) if i in positions else t)
    out = fn(*tensors)
    g = (
        torch.ones_like(out)
        if upstream is None
        else torch.tensor(np.asarray(upstream, dtype=np.float64)).reshape(out.shape)
    )
    grads = torch.autograd.grad(out, [tensors[i] for i in positions], g, allow_unused=True)
    value = out.detach().numpy().astype(np.float64)
    return value, [
        np.zeros(tensors[i].shape) if d is None else d.detach().numpy().astype(np.float64)
        for i, d in zip(positions, grads, strict=True)
    ]


def score_matrices(
    max_rows: int = 6, min_classes: int = 2, max_classes: int = 6, bound: float = 5.0
) -> Any:
    """A Hypothesis strategy of float64 score matrices (N, C), finite entries in [-bound, bound]."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-bound, bound, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    shapes = st.tuples(st.integers(1, max_rows), st.integers(min_classes, max_classes))
    return shapes.flatmap(lambda shape: hnp.arrays(np.float64, shape, elements=values))


def scores_and_labels(
    max_rows: int = 6, min_classes: int = 2, max_classes: int = 6, bound: float = 5.0
) -> Any:
    """A Hypothesis strategy of ``(scores, y)``: a score matrix and one valid label per row."""
    from hypothesis import strategies as st

    def with_labels(s: np.ndarray) -> Any:
        n, c = s.shape
        labels = st.lists(st.integers(0, c - 1), min_size=n, max_size=n)
        return labels.map(lambda y: (s, np.array(y, dtype=np.int64)))

    return score_matrices(max_rows, min_classes, max_classes, bound).flatmap(with_labels)
