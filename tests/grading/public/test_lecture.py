"""The lecture's worked numbers (public: students see these inputs and answers)."""

import numpy as np
import pytest

from grader.checks import as_array, as_scalar, compare, expect_close

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


@pytest.mark.points(1)
@pytest.mark.tags("svm_loss")
@pytest.mark.parametrize(
    ("row", "loss"), [(0, 2.9), (1, 0.0), (2, 12.9)], ids=["cat", "car", "frog"]
)
def test_hinge_per_image(student, row, loss):
    """hinge loss of one image of the cat/car/frog table (2.9, 0, 12.9)"""
    scores, y = CAT_CAR_FROG[row : row + 1], LABELS[row : row + 1]
    got = as_scalar("svm_loss", student.svm_loss(scores, y))
    expect_close("svm_loss", got, loss, inputs={"scores": scores, "y": y}, atol=1e-9)


@pytest.mark.points(1)
@pytest.mark.tags("svm_loss")
def test_hinge_car_doubled(student):
    """with the car image's scores doubled its hinge loss stays 0"""
    scores, y = 2 * CAT_CAR_FROG[1:2], LABELS[1:2]
    got = as_scalar("svm_loss", student.svm_loss(scores, y))
    expect_close("svm_loss", got, 0.0, inputs={"scores": scores, "y": y}, atol=1e-12)


LATITUDE = np.array([[1.0, 42.0], [1.0, 39.0], [1.0, 30.0]])  # bias column, latitude
TEMPERATURE = np.array([33.0, 38.0, 62.0])
QUERY = np.array([42.0, 39.0, 30.0, 19.0, 9.0])
RIDGE_PREDICTIONS = {
    0.0: [32.0, 39.4, 61.7, 88.9, 113.6],
    0.02: [36.0, 40.6, 54.3, 71.1, 86.4],
}


@pytest.mark.points(1)
@pytest.mark.tags("ridge_fit")
@pytest.mark.parametrize("lam", [0.0, 0.02])
def test_ridge_latitude_table(student, lam):
    """ridge_fit on the latitude/temperature table: predictions at latitudes 42, 39, 30, 19, 9"""
    w = as_array("ridge_fit", student.ridge_fit(LATITUDE, TEMPERATURE, lam), (2,))
    predictions = np.c_[np.ones(len(QUERY)), QUERY] @ w.astype(np.float64)
    expect_close(
        "ridge_fit",
        predictions,
        RIDGE_PREDICTIONS[lam],
        inputs={"X": LATITUDE, "y": TEMPERATURE, "lam": lam},
        atol=0.05,
        what="predictions [1, latitude] @ w at latitudes 42, 39, 30, 19, 9, to 1 d.p.",
    )
