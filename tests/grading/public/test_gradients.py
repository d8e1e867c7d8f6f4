"""gradients.py, public cases: a few small inputs per function (students see inputs and answers)."""

import numpy as np
import pytest

from grader.testing import StudentFailure, as_array, compare, expect_close, summarize

W = np.array([[0.2, -0.5, 0.1], [1.0, 0.3, -0.7]])
X = np.array([[1.0, 2.0], [0.5, -1.5], [-1.0, 0.3]])
Y = np.array([0, 2, 1])
# Scores X @ W up to 1e4 (the README's bound): np.exp overflows on them, and the correct class of
# the first two rows scores far below its row's best (its probability underflows to 0).
W_LARGE = np.array([[2500.0, -1000.0, 0.0], [0.0, 1500.0, -2500.0]])
X_LARGE = np.array([[4.0, 0.0], [-1.0, 3.0], [0.5, -4.0]])
Y_LARGE = np.array([2, 0, 1])
# X = 0: every score is 0, so the data loss is a constant and its gradient 0; what is left of
# the loss and of dW is the penalty reg * sum(W**2) and its gradient 2 * reg * W (reg 0.3: at
# 0.5, 0.5 * sum(W**2) and W, the 1/2 convention without reg, would be right too).
X_ZERO = np.zeros((3, 2))
# Small integers: scores X @ W = W, where s_1 - s_0 + 1 (row 0) and s_0 - s_1 + 1, s_2 - s_1 + 1
# (row 1) are exactly 0, at the hinge's kink; s_2 - s_0 + 1 of row 0 is active.
W_KINK = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0]])
X_KINK = np.eye(2)
Y_KINK = np.array([0, 1])


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


def _loss_and_grad(student, reference, name, *args):
    compare(student, reference, name, *args, parts=("loss", "dW"), kinds=("value", "grad"))


@pytest.mark.points(0.5)
@pytest.mark.tags("softmax_loss_and_grad")
def test_softmax_loss_and_grad_large_scores(student, reference):
    """softmax loss and gradient stay finite for scores up to 1e4, reg 0"""
    _loss_and_grad(student, reference, "softmax_loss_and_grad", W_LARGE, X_LARGE, Y_LARGE, 0.0)


@pytest.mark.points(0.5)
@pytest.mark.tags("softmax_loss_and_grad")
def test_softmax_loss_and_grad_penalty(student, reference):
    """softmax loss and gradient with X = 0 and reg 0.3: the penalty reg * sum(W**2) alone"""
    _loss_and_grad(student, reference, "softmax_loss_and_grad", W, X_ZERO, Y, 0.3)


@pytest.mark.points(0.5)
@pytest.mark.tags("svm_loss_and_grad")
def test_svm_loss_and_grad_large_scores(student, reference):
    """hinge loss and gradient stay finite for scores up to 1e4, reg 0"""
    _loss_and_grad(student, reference, "svm_loss_and_grad", W_LARGE, X_LARGE, Y_LARGE, 0.0)


@pytest.mark.points(0.5)
@pytest.mark.tags("svm_loss_and_grad")
def test_svm_loss_and_grad_penalty(student, reference):
    """hinge loss and gradient with X = 0 and reg 0.3: the penalty reg * sum(W**2) alone"""
    _loss_and_grad(student, reference, "svm_loss_and_grad", W, X_ZERO, Y, 0.3)


@pytest.mark.points(0.5)
@pytest.mark.tags("svm_loss_and_grad")
def test_svm_loss_and_grad_at_the_kink(student, reference):
    """hinge loss and gradient with terms exactly at the kink (they count as inactive)"""
    _loss_and_grad(student, reference, "svm_loss_and_grad", W_KINK, X_KINK, Y_KINK, 0.0)


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
