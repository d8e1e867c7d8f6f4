"""gradients.py, public cases: a few small inputs per function (students see inputs and answers)."""

import numpy as np
import pytest

from grader.testing import StudentFailure, as_array, compare, expect_close, summarize

W = np.array([[0.2, -0.5, 0.1], [1.0, 0.3, -0.7]])
X = np.array([[1.0, 2.0], [0.5, -1.5], [-1.0, 0.3]])
Y = np.array([0, 2, 1])


@pytest.mark.points(1)
@pytest.mark.tags("softmax_loss_and_grad")
def test_softmax_loss_and_grad_small(student, reference):
    """softmax loss and gradient on three examples, reg 0.1"""
    compare(
        student,
        reference,
        "softmax_loss_and_grad",
        W,
        X,
        Y,
        0.1,
        parts=("loss", "dW"),
        kinds=("value", "grad"),
    )


@pytest.mark.points(1)
@pytest.mark.tags("svm_loss_and_grad")
def test_svm_loss_and_grad_small(student, reference):
    """hinge loss and gradient on three examples, reg 0.1"""
    compare(
        student,
        reference,
        "svm_loss_and_grad",
        W,
        X,
        Y,
        0.1,
        parts=("loss", "dW"),
        kinds=("value", "grad"),
    )


def square_sum(x):
    """f(x) = sum(x**2)"""
    return float(np.sum(np.asarray(x) ** 2))


@pytest.mark.points(1)
@pytest.mark.tags("numeric_gradient")
def test_numeric_gradient_quadratic(student):
    """numeric gradient of sum(x**2) at [1, -2, 3] is [2, -4, 6]"""
    x = np.array([1.0, -2.0, 3.0])
    got = as_array("numeric_gradient", student.numeric_gradient(square_sum, x), (3,))
    expect_close(
        "numeric_gradient", got, 2 * x, inputs={"f": square_sum, "x": x}, kind="grad", rtol=1e-8
    )


@pytest.mark.points(1)
@pytest.mark.tags("relative_error")
def test_relative_error_small(student, reference):
    """relative error of [1, 2, 3] and [1, 2.2, 2.7]"""
    compare(
        student, reference, "relative_error", np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.2, 2.7])
    )


@pytest.mark.points(1)
@pytest.mark.tags("gradient_check")
def test_gradient_check_wrong_gradient(student, reference):
    """gradient check of sum(x**2) rejects the gradient x (should be 2x)"""
    x = np.array([1.0, -2.0, 3.0])

    def half_gradient(x):
        """grad_f(x) = x (wrong: the gradient of sum(x**2) is 2x)"""
        return np.asarray(x).copy()

    got = student.gradient_check(square_sum, half_gradient, x)
    expected = reference.gradient_check(square_sum, half_gradient, x.copy())
    if not isinstance(got, (tuple, list)) or len(got) != 2 or bool(got[0]) is not False:
        raise StudentFailure(
            f"`gradient_check(f, grad_f, x)` with f = sum(x**2), grad_f(x) = x (wrong) and "
            f"x = {summarize(x)} should return (False, {expected[1]:.6g}); got {got!r}",
            category="wrong result",
        )
    expect_close("gradient_check", got[1], expected[1], inputs={"x": x}, what="error")
