"""Hidden tests of schedules.py: more torch comparisons and the lecture's properties (Hypothesis)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.testing import (
    StudentFailure,
    as_scalar,
    cosine_lr,
    expect_close,
    messages,
    step_lr,
    with_hint,
)

LR0 = st.floats(1e-4, 10.0)
GAMMA = st.floats(0.05, 0.95)
STEP = st.integers(1, 20)
T_MAX = st.integers(1, 100)
FRAC = st.floats(0.0, 0.9)  # lr_min = FRAC * lr0


def expect_rates(name, got, expected, ts, args, kwargs, *, inputs, what):
    """Compare the rates at the times ``ts``; a failure carries the hint of a known bug, if one
    gives the student's rate at the first t that differs."""
    try:
        expect_close(name, got, expected, inputs=inputs, what=what)
    except StudentFailure as fail:
        i = int(np.argmax(~np.isclose(got, expected, rtol=1e-6, atol=1e-8)))
        raise with_hint(fail, name, args(ts[i]), kwargs, got[i]) from None


def step(student, lr0, t, s, gamma):
    return as_scalar("step_decay", student.step_decay(lr0, t, s, gamma=gamma))


def cosine(student, lr0, t, T, lr_min):
    return as_scalar("cosine_decay", student.cosine_decay(lr0, t, T, lr_min=lr_min))


def prop(name, text, **inputs):
    shown = ", ".join(f"{k}={v!r}" for k, v in inputs.items())
    return StudentFailure(
        messages.PROPERTY.format(name=name, prop=text, inputs=shown), category="property"
    )


def close(a, b, scale):
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12 * scale)


# -- step_decay -----------------------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.tags("step_decay")
@pytest.mark.parametrize(("step_size", "gamma"), [(1, 0.5), (4, 0.3), (7, 0.9)])
def test_step_decay_matches_steplr(student, step_size, gamma):
    """step_decay equals StepLR for t = 0..30"""
    expected = step_lr(2.0, step_size=step_size, gamma=gamma, count=31)
    got = np.array([step(student, 2.0, t, step_size, gamma) for t in range(31)])
    expect_rates(
        "step_decay",
        got,
        expected,
        range(31),
        lambda t: (2.0, t, step_size),
        {"gamma": gamma},
        inputs={"lr0": 2.0, "step_size": step_size, "gamma": gamma},
        what="the learning rate at t = 0, 1, ..., 30 (index = t)",
    )


@pytest.mark.points(1)
@pytest.mark.tags("step_decay")
@settings(max_examples=25)
@given(lr0=LR0, s=STEP, gamma=GAMMA, t=st.integers(0, 80))
def test_step_decay_properties(student, lr0, s, gamma, t):
    """step_decay starts at lr0, is constant within a step, never increases, and lr(t+s) = gamma*lr(t)"""
    at = step(student, lr0, t, s, gamma)
    args = {"lr0": lr0, "t": t, "step_size": s, "gamma": gamma}
    if not close(step(student, lr0, 0, s, gamma), lr0, lr0):
        raise prop("step_decay", "the schedule starts at lr0 (t = 0)", **args)
    if not close(step(student, lr0, (t // s) * s, s, gamma), at, lr0):
        raise prop(
            "step_decay", "the rate is constant within each block of step_size steps", **args
        )
    if step(student, lr0, t + 1, s, gamma) > at * (1 + 1e-9):
        raise prop("step_decay", "the rate never increases from t to t + 1", **args)
    if not close(step(student, lr0, t + s, s, gamma), gamma * at, lr0):
        raise prop("step_decay", "step_decay(t + step_size) = gamma * step_decay(t)", **args)


# -- cosine_decay ---------------------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.tags("cosine_decay")
def test_cosine_decay_with_lr_min(student):
    """cosine_decay(0.3, t, T=7, lr_min=0.01) equals CosineAnnealingLR(eta_min=0.01) for t = 0..7"""
    expected = cosine_lr(0.3, t_max=7, eta_min=0.01, count=8)
    got = np.array([cosine(student, 0.3, t, 7, 0.01) for t in range(8)])
    expect_rates(
        "cosine_decay",
        got,
        expected,
        range(8),
        lambda t: (0.3, t, 7),
        {"lr_min": 0.01},
        inputs={"lr0": 0.3, "T": 7, "lr_min": 0.01},
        what="the learning rate at t = 0, 1, ..., 7 (index = t)",
    )


@pytest.mark.points(1)
@pytest.mark.tags("cosine_decay")
def test_cosine_decay_after_T(student):
    """cosine_decay stays at lr_min for t > T"""
    ts = (6, 7, 9, 12, 20)
    got = np.array([cosine(student, 0.3, t, 5, 0.02) for t in ts])
    expect_rates(
        "cosine_decay",
        got,
        np.full(5, 0.02),
        ts,
        lambda t: (0.3, t, 5),
        {"lr_min": 0.02},
        inputs={"lr0": 0.3, "T": 5, "lr_min": 0.02},
        what="at t = 6, 7, 9, 12, 20 (after T the rate stays at lr_min)",
    )


@pytest.mark.points(1)
@pytest.mark.tags("cosine_decay")
@settings(max_examples=25)
@given(lr0=LR0, frac=FRAC, T=T_MAX, data=st.data())
def test_cosine_decay_properties(student, lr0, frac, T, data):
    """cosine_decay starts at lr0, ends at lr_min at T, never increases, and lr(t) + lr(T-t) = lr0 + lr_min"""
    lr_min = frac * lr0
    t = data.draw(st.integers(0, T + 3), label="t")
    args = {"lr0": lr0, "t": t, "T": T, "lr_min": lr_min}
    if not close(cosine(student, lr0, 0, T, lr_min), lr0, lr0):
        raise prop("cosine_decay", "the schedule starts at lr0 (t = 0)", **args)
    if not close(cosine(student, lr0, T, T, lr_min), lr_min, lr0):
        raise prop("cosine_decay", "the schedule reaches lr_min at t = T", **args)
    at = cosine(student, lr0, t, T, lr_min)
    if cosine(student, lr0, t + 1, T, lr_min) > at + 1e-12 * lr0:
        raise prop("cosine_decay", "the rate never increases from t to t + 1", **args)
    if t <= T and not close(at + cosine(student, lr0, T - t, T, lr_min), lr0 + lr_min, lr0):
        raise prop(
            "cosine_decay", "lr(t) + lr(T - t) = lr0 + lr_min (the curve is symmetric)", **args
        )
    if T % 2 == 0 and not close(cosine(student, lr0, T // 2, T, lr_min), (lr0 + lr_min) / 2, lr0):
        raise prop("cosine_decay", "halfway, at t = T/2, the rate is (lr0 + lr_min) / 2", **args)
