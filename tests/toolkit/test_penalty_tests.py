"""The public penalty tests of gradients.py tell the penalty's conventions apart (issue 26).

At reg = 0.5, ``0.5 * sum(W**2)`` equals ``reg * sum(W**2)`` and ``W`` equals ``2 * reg * W``:
the 1/2 convention written without ``reg`` would pass them.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.grading.checks import StudentFailure
from grader.grading.reference import reference

PUBLIC = Path(__file__).resolve().parents[1] / "grading" / "public" / "test_gradients.py"
REF = reference()


def _suite() -> Any:
    spec = importlib.util.spec_from_file_location("public_test_gradients", PUBLIC)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Local:
    """A student whose ``name`` is ``fn``, called in this process."""

    def __init__(self, name: str, fn: Callable[..., Any]) -> None:
        self.name, self.fn = name, fn

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        assert name == self.name
        return self.fn(*args, **kwargs)


def _half_without_reg(name: str) -> Callable[..., Any]:
    """The reference's data part with ``0.5 * sum(W**2)`` and ``W`` for its penalty."""

    def fn(W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float) -> Any:
        loss, dW = getattr(REF, name)(W, X, y, 0.0)
        return loss + 0.5 * np.sum(W * W), dW + W

    return fn


@pytest.mark.parametrize("name", ["softmax_loss_and_grad", "svm_loss_and_grad"])
def test_the_half_convention_without_reg_fails_the_penalty_test(name: str) -> None:
    test = getattr(_suite(), f"test_{name}_penalty")
    test(_Local(name, getattr(REF, name)), REF)  # the reference passes
    with pytest.raises(StudentFailure):
        test(_Local(name, _half_without_reg(name)), REF)
