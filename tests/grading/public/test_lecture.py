"""The lecture's worked numbers (public: students see these inputs and answers)."""

import numpy as np
import pytest

from grader.checks import as_scalar, compare, expect_close

CAT_CAR_FROG = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
LABELS = np.array([0, 1, 2])


@pytest.mark.points(1)
@pytest.mark.tags("cross_entropy_loss")
def test_cross_entropy_of_the_cat_image(student):
    """cross-entropy of scores [3.2, 5.1, -1.7] with label 0 is 2.04"""
    scores = CAT_CAR_FROG[:1]
    got = as_scalar("cross_entropy_loss", student.cross_entropy_loss(scores, LABELS[:1]))
    expect_close(
        "cross_entropy_loss", got, 2.0404, inputs={"scores": scores, "y": LABELS[:1]}, atol=5e-3
    )


@pytest.mark.points(1)
@pytest.mark.tags("svm_loss")
def test_hinge_table(student, reference):
    """hinge loss of the cat/car/frog table is (2.9 + 0 + 12.9) / 3 = 5.27"""
    compare(student, reference, "svm_loss", CAT_CAR_FROG, LABELS)
