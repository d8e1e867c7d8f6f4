"""losses.py, public cases: a few small inputs per function (students see inputs and answers)."""

import numpy as np
import pytest

from grader.testing import compare

SCORES = np.array([[1.0, 2.0, 0.5], [-0.3, 0.8, 2.1]])
LABELS = np.array([2, 0])
W = np.array([[0.5, -1.5, 0.0], [2.0, -0.25, 1.0]])
# Scores up to 1e4 (the README's bound): np.exp overflows on them, the rows differ in size by
# far more than exp can span, and the correct class of rows 0 and 2 scores far below the best
# class of its row (its probability underflows to 0 in float64).
LARGE = np.array([[1e4, 0.0, -1e4], [0.0, 1.0, 2.0], [-5e3, 1e4, 9e3]])
LARGE_Y = np.array([2, 1, 0])


@pytest.mark.points(1)
@pytest.mark.tags("softmax")
def test_softmax_small(student, reference):
    """softmax of two rows of three scores"""
    compare(student, reference, "softmax", SCORES)


@pytest.mark.points(1)
@pytest.mark.tags("softmax")
def test_softmax_large_scores(student, reference):
    """softmax stays finite for scores up to 1e4, in rows of very different size"""
    compare(student, reference, "softmax", LARGE)


@pytest.mark.points(1)
@pytest.mark.tags("cross_entropy_loss")
def test_cross_entropy_small(student, reference):
    """cross-entropy of two rows of three scores"""
    compare(student, reference, "cross_entropy_loss", SCORES, LABELS)


@pytest.mark.points(1)
@pytest.mark.tags("cross_entropy_loss")
def test_cross_entropy_large_scores(student, reference):
    """cross-entropy stays finite for scores up to 1e4, the correct class far below the best"""
    compare(student, reference, "cross_entropy_loss", LARGE, LARGE_Y)


@pytest.mark.points(1)
@pytest.mark.tags("svm_loss")
def test_svm_loss_margin_2(student, reference):
    """hinge loss of two rows of three scores with margin 2"""
    compare(student, reference, "svm_loss", SCORES, LABELS, margin=2.0)


@pytest.mark.points(1)
@pytest.mark.tags("squared_svm_loss")
def test_squared_svm_loss_small(student, reference):
    """squared hinge loss of two rows of three scores"""
    compare(student, reference, "squared_svm_loss", SCORES, LABELS)


@pytest.mark.points(0.5)
@pytest.mark.tags("svm_loss")
def test_svm_loss_large_scores(student, reference):
    """hinge loss stays finite for scores up to 1e4"""
    compare(student, reference, "svm_loss", LARGE, LARGE_Y)


@pytest.mark.points(0.5)
@pytest.mark.tags("squared_svm_loss")
def test_squared_svm_loss_large_scores(student, reference):
    """squared hinge loss stays finite for scores up to 1e4"""
    compare(student, reference, "squared_svm_loss", LARGE, LARGE_Y)


@pytest.mark.points(1)
@pytest.mark.tags("l2_penalty")
def test_l2_penalty_small(student, reference):
    """L2 penalty of a 2x3 matrix with negative entries"""
    compare(student, reference, "l2_penalty", W)


@pytest.mark.points(1)
@pytest.mark.tags("l1_penalty")
def test_l1_penalty_small(student, reference):
    """L1 penalty of a 2x3 matrix with negative entries"""
    compare(student, reference, "l1_penalty", W)


@pytest.mark.points(1)
@pytest.mark.tags("elastic_net_penalty")
def test_elastic_net_small(student, reference):
    """elastic-net penalty of a 2x3 matrix with beta 0.5"""
    compare(student, reference, "elastic_net_penalty", W, 0.5)


@pytest.mark.points(1)
@pytest.mark.tags("ridge_fit")
def test_ridge_fit_small(student, reference):
    """ridge regression on four points with a bias column, lam 0.5"""
    X = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0], [1.0, 3.0]])
    y = np.array([1.0, 2.5, 2.9, 4.2])
    compare(student, reference, "ridge_fit", X, y, 0.5)
