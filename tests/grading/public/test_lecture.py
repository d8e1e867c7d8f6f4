"""The lecture's worked numbers (public: students see these inputs and answers)."""

import numpy as np
import pytest

from grader.testing import as_array, as_scalar, compare, diagnose, expect_close

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
    expect_close(
        "svm_loss",
        got,
        loss,
        inputs={"scores": scores, "y": y},
        atol=1e-9,
        diagnose=diagnose,
        call=((scores, y), {}),
    )


@pytest.mark.points(1)
@pytest.mark.tags("svm_loss")
def test_hinge_car_doubled(student):
    """with the car image's scores doubled its hinge loss stays 0"""
    scores, y = 2 * CAT_CAR_FROG[1:2], LABELS[1:2]
    got = as_scalar("svm_loss", student.svm_loss(scores, y))
    expect_close(
        "svm_loss",
        got,
        0.0,
        inputs={"scores": scores, "y": y},
        atol=1e-12,
        diagnose=diagnose,
        call=((scores, y), {}),
    )


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


# -- the lecture's gradient-descent example: f(x, y) = (x + 2y - 7)^2 + (2x + y - 5)^2 -------------

from grader.testing import StudentFailure  # noqa: E402

GD_MINIMUM = np.array([1.0, 3.0])
GD_BEHAVIOUR = (
    "`gradient_descent` on the lecture's f(x, y) = (x + 2y - 7)^2 + (2x + y - 5)^2 from (0, 0) "
    "with step {lr} for {steps} steps should {should}, but {but}.\n"
    "  distances to the minimum (1, 3) after steps 0, 1, 2, 3, 5, 10, 20, ...: {dists}\n"
)


def lecture_f_grad(w):
    """gradient of f(x, y) = (x + 2y - 7)^2 + (2x + y - 5)^2"""
    x, y = np.asarray(w, dtype=float)
    a, b = x + 2 * y - 7, 2 * x + y - 5
    return np.array([2 * a + 4 * b, 4 * a + 2 * b])


def _gd_behaviour(lr, steps, dist, steep):
    """None if the iterates behave as the lecture says for this step, else what went wrong."""
    d0, dn = dist[0], dist[-1]
    flips = bool(np.all(np.sign(steep[1:]) == -np.sign(steep[:-1])))
    if lr == 0.01:  # the steep direction contracts by 0.82, the shallow one by 0.98: slow
        if not np.all(np.diff(dist) < 0):
            return "move towards the minimum at every step", "the distance grew at some step"
        if dn <= 0.5:
            return "still be more than 0.5 away (the step is too small)", f"it is {dn:.3g} away"
    elif lr == 0.10:
        if dn >= 1e-3:
            return "converge to within 1e-3 of the minimum", f"it is {dn:.3g} away"
    elif lr == 0.11:  # the steep direction's factor is 1 - 0.11 * 18 = -0.98
        if not flips or not np.all(np.abs(steep[1:]) <= np.abs(steep[:-1]) + 1e-12):
            return (
                "oscillate: overshoot the minimum along (1, 1) at every step, by a little less each time",
                "the component along (1, 1) does not flip sign and shrink at every step",
            )
        if not (np.all(dist <= d0 + 1e-9) and 0.5 < dn < d0):
            return (
                "stay within the starting distance and end between 0.5 and it (slow oscillation)",
                f"it ends {dn:.3g} away (start {d0:.3g})",
            )
    elif lr == 0.12 and (not flips or dn <= 1e3):  # factor 1 - 0.12 * 18 = -1.16
        return (
            "diverge: overshoot further at every step, ending over 1000 away",
            f"it ends {dn:.3g} away",
        )
    return None


@pytest.mark.points(0.5)
@pytest.mark.tags("gradient_descent")
@pytest.mark.parametrize(("lr", "steps"), [(0.01, 20), (0.10, 50), (0.11, 50), (0.12, 50)])
def test_lecture_gradient_descent_steps(student, lr, steps):
    """gradient descent on the lecture's f(x, y): step 0.01 is slow, 0.10 converges, 0.11 oscillates, 0.12 diverges"""
    got = as_array(
        "gradient_descent",
        student.gradient_descent(lecture_f_grad, np.array([0.0, 0.0]), lr, steps),
        (steps + 1, 2),
    ).astype(np.float64)
    dist = np.linalg.norm(got - GD_MINIMUM, axis=1)
    steep = (got - GD_MINIMUM) @ np.array([1.0, 1.0]) / np.sqrt(2)
    wrong = _gd_behaviour(lr, steps, dist, steep)
    if wrong is not None:
        shown = [i for i in (0, 1, 2, 3, 5, 10, 20, 30, 50) if i <= steps]
        dists = ", ".join(f"{dist[i]:.4g}" for i in shown)
        raise StudentFailure(
            GD_BEHAVIOUR.format(lr=lr, steps=steps, should=wrong[0], but=wrong[1], dists=dists),
            category="wrong gradient-descent behaviour",
        )
