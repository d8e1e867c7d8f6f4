"""Public tests of schedules.py: step and cosine decay against torch.optim.lr_scheduler."""

import numpy as np
import pytest

from grader.testing import StudentFailure, as_scalar, cosine_lr, expect_close, step_lr, with_hint


def student_lrs(student, name, ts, args, **kwargs):
    """The student's schedule at each t (a number each), as an array."""
    fn = getattr(student, name)
    return np.array([as_scalar(name, fn(*args(t), **kwargs)) for t in ts])


def expect_rates(name, got, expected, args, kwargs, *, inputs, what):
    """Compare the rates at t = 0, 1, ...; a failure carries the hint of a known bug, if one
    gives the student's rate at the first t that differs."""
    try:
        expect_close(name, got, expected, inputs=inputs, what=what)
    except StudentFailure as fail:
        t = int(np.argmax(~np.isclose(got, expected, rtol=1e-6, atol=1e-8)))
        raise with_hint(fail, name, args(t), kwargs, got[t]) from None


@pytest.mark.points(1)
@pytest.mark.tags("step_decay")
def test_step_decay_matches_steplr(student):
    """step_decay(0.5, t, step_size=3, gamma=0.1) equals StepLR for t = 0..30"""
    expected = step_lr(0.5, step_size=3, gamma=0.1, count=31)
    got = student_lrs(student, "step_decay", range(31), lambda t: (0.5, t, 3), gamma=0.1)
    expect_rates(
        "step_decay",
        got,
        expected,
        lambda t: (0.5, t, 3),
        {"gamma": 0.1},
        inputs={"lr0": 0.5, "t": "0..30", "step_size": 3, "gamma": 0.1},
        what="the learning rate at t = 0, 1, ..., 30 (index = t)",
    )


@pytest.mark.points(1)
@pytest.mark.tags("cosine_decay")
def test_cosine_decay_matches_cosine_annealing(student):
    """cosine_decay(0.5, t, T=10) equals CosineAnnealingLR(T_max=10) for t = 0..10"""
    expected = cosine_lr(0.5, t_max=10, eta_min=0.0, count=11)
    got = student_lrs(student, "cosine_decay", range(11), lambda t: (0.5, t, 10))
    expect_rates(
        "cosine_decay",
        got,
        expected,
        lambda t: (0.5, t, 10),
        {},
        inputs={"lr0": 0.5, "t": "0..10", "T": 10},
        what="the learning rate at t = 0, 1, ..., 10 (index = t)",
    )
