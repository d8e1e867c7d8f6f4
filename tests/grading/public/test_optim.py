"""Public tests of optim.py: SGD, momentum and Adam against torch.optim, gradient descent, minibatch SGD."""

import numpy as np
import pytest

from grader.testing import (
    StudentFailure,
    adam,
    as_array,
    compare,
    messages,
    sgd,
    summarize,
    tolerances,
    with_hint,
)

#: A step function's weights compared, step by step, with torch.optim run on the same gradients.
TRAJECTORY = (
    "`{name}` was run for {steps} steps from {start}, feeding the arrays it returned back in; "
    "{agree}w first differs at step {step}.\n"
    "  setup:    {setup}\n"
    "  gradient given at step {step}: {dw}\n"
    "  expected w after step {step}: {expected}\n"
    "  got:      {got}\n"
    "  look at: {advice}"
)
MOMENTUM_ADVICE = (
    "v_new = rho * v + dw, then w_new = w - lr * v_new (step along the new velocity, no (1 - rho) "
    "factor on dw)"
)
ADAM_ADVICE = (
    "m = beta1*m + (1-beta1)*dw, v = beta2*v + (1-beta2)*dw**2, the bias corrections "
    "1 - beta**t with t counting from 1, and eps added after the square root"
)
#: A trusted callable saw something other than what the spec says the function passes it.
CALLBACK = "`{name}`: {what}.\n  setup:    {setup}\n  expected: {expected}\n  got:      {got}\n"


def _parts(name, got, names):
    """A tuple result of len(names) members, else a type failure."""
    if not isinstance(got, (tuple, list)) or len(got) != len(names):
        kind = f"a {type(got).__name__}" + (
            f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""
        )
        raise StudentFailure(
            messages.WRONG_TYPE.format(
                name=name, expected=f"a tuple ({', '.join(names)})", got=kind
            ),
            category="wrong type",
        )
    return got


def _check_step(name, step, got, expected, *, steps, start, setup, dw, torch_name, advice):
    """Fail with the step-by-step message unless ``got`` (w after ``step``) matches."""
    g = as_array(name, got, expected.shape)
    rtol, atol = tolerances(g)
    g64 = g.astype(np.float64)
    if np.all(np.isclose(g64, expected, rtol=rtol, atol=atol)):
        return
    agree = f"w agrees with {torch_name} for steps 0..{step - 1}, but " if step else ""
    if not step:
        agree = f"compared with {torch_name}, "
    raise StudentFailure(
        TRAJECTORY.format(
            name=name,
            steps=steps,
            start=start,
            agree=agree,
            step=step,
            setup=setup,
            dw=summarize(dw),
            expected=summarize(expected),
            got=summarize(g64),
            advice=advice,
        ),
        category=f"weights differ from {torch_name}",
    )


def torch_sgd(w0, dws, lr, rho):
    """The weights after each step of torch.optim.SGD(momentum=rho, dampening=0) on the gradients dws."""
    return list(sgd(w0, dws, lr, rho))


def torch_adam(w0, dws, lr, betas, eps):
    """(w, m, v) after each step of torch.optim.Adam on the gradients dws."""
    return [tuple(step) for step in adam(w0, dws, lr, betas, eps)]


# -- sgd_step -------------------------------------------------------------------------------------


@pytest.mark.points(0.5)
@pytest.mark.tags("sgd_step")
@pytest.mark.parametrize("shape", [(4,), (2, 3)], ids=["1-d", "2-d"])
def test_sgd_step(student, reference, shape):
    """sgd_step returns w - lr * dw"""
    rng = np.random.default_rng(1)
    w, dw = rng.normal(size=shape), rng.normal(size=shape)
    compare(student, reference, "sgd_step", w, dw, 0.1)


# -- sgd_momentum_step ----------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.tags("sgd_momentum_step")
def test_momentum_matches_torch_sgd(student):
    """sgd_momentum_step: 15 steps from v = 0 give the weights of torch.optim.SGD(momentum=0.9)"""
    rng = np.random.default_rng(2)
    w0 = rng.normal(size=3)
    dws = rng.normal(size=(15, 3))
    lr, rho = 0.1, 0.9
    expected = torch_sgd(w0, dws, lr, rho)
    setup = f"w0={summarize(w0)}, v0=zeros, lr={lr}, rho={rho}, random gradients"
    w, v = w0.copy(), np.zeros_like(w0)
    for k, dw in enumerate(dws):
        got = _parts(
            "sgd_momentum_step", student.sgd_momentum_step(w, dw, v, lr, rho=rho), ("w", "v")
        )
        try:
            _check_step(
                "sgd_momentum_step",
                k,
                got[0],
                expected[k],
                steps=len(dws),
                start="v = 0",
                setup=setup,
                dw=dw,
                torch_name="torch.optim.SGD",
                advice=MOMENTUM_ADVICE,
            )
        except StudentFailure as fail:
            raise with_hint(fail, "sgd_momentum_step", (w, dw, v, lr), {"rho": rho}, got) from None
        w, v = (
            np.asarray(got[0], dtype=float),
            np.asarray(as_array("sgd_momentum_step", got[1]), float),
        )


# -- adam_step ------------------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.tags("adam_step")
def test_adam_matches_torch_adam(student):
    """adam_step: 20 steps from m = v = 0, t = 1, 2, ... give the weights of torch.optim.Adam"""
    rng = np.random.default_rng(3)
    w0 = rng.normal(size=4)
    dws = rng.normal(size=(20, 4))
    lr = 0.01
    expected = torch_adam(w0, dws, lr, (0.9, 0.999), 1e-8)
    setup = f"w0={summarize(w0)}, m=v=zeros, lr={lr}, default betas and eps, random gradients"
    w, m, v = w0.copy(), np.zeros_like(w0), np.zeros_like(w0)
    for k, dw in enumerate(dws):
        got = _parts("adam_step", student.adam_step(w, dw, m, v, k + 1, lr=lr), ("w", "m", "v"))
        try:
            _check_step(
                "adam_step",
                k,
                got[0],
                expected[k][0],
                steps=len(dws),
                start="m = v = 0 with t = 1, 2, ...",
                setup=setup,
                dw=dw,
                torch_name="torch.optim.Adam",
                advice=ADAM_ADVICE,
            )
        except StudentFailure as fail:
            raise with_hint(fail, "adam_step", (w, dw, m, v, k + 1), {"lr": lr}, got) from None
        w = np.asarray(got[0], dtype=float)
        m = np.asarray(as_array("adam_step", got[1]), float)
        v = np.asarray(as_array("adam_step", got[2]), float)


@pytest.mark.points(1)
@pytest.mark.tags("adam_step")
def test_adam_first_step_moments(student, reference):
    """adam_step at t = 1 from m = v = 0: w, m = (1-beta1)*dw and v = (1-beta2)*dw**2"""
    w = np.array([1.0, -2.0, 0.5])
    dw = np.array([0.3, -1.2, 2.0])
    zeros = np.zeros(3)
    compare(student, reference, "adam_step", w, dw, zeros, zeros, 1, lr=0.1, parts=("w", "m", "v"))


# -- gradient_descent -----------------------------------------------------------------------------


def lecture_grad(w):
    """gradient of f(x, y) = (x + 2y - 7)^2 + (2x + y - 5)^2"""
    x, y = np.asarray(w, dtype=float)
    a, b = x + 2 * y - 7, 2 * x + y - 5
    return np.array([2 * a + 4 * b, 4 * a + 2 * b])


@pytest.mark.points(2)
@pytest.mark.tags("gradient_descent")
def test_gradient_descent_iterates(student, reference):
    """gradient_descent: 5 steps of lr 0.1 on the lecture's f(x, y) from (0, 0)"""
    compare(student, reference, "gradient_descent", lecture_grad, np.array([0.0, 0.0]), 0.1, 5)


@pytest.mark.points(1)
@pytest.mark.tags("gradient_descent")
def test_gradient_descent_starts_with_w0(student):
    """gradient_descent returns num_steps + 1 rows, the first of them w0 itself"""
    w0 = np.array([4.0, -1.0])
    got = as_array("gradient_descent", student.gradient_descent(lecture_grad, w0, 0.05, 3), (4, 2))
    if not np.allclose(got[0], w0, rtol=1e-12, atol=0):
        raise StudentFailure(
            CALLBACK.format(
                name="gradient_descent",
                what="the first row of the result must be the starting point w0",
                setup="w0=[4, -1], lr=0.05, num_steps=3",
                expected=summarize(w0),
                got=summarize(np.asarray(got[0], dtype=float)),
            ),
            category="first iterate is not w0",
        )


# -- minibatch_sgd --------------------------------------------------------------------------------

N, D, C = 20, 3, 2


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D))  # continuous draws: every row is distinct
    y = rng.integers(0, C, size=N)
    W0 = 0.1 * rng.normal(size=(D, C))
    return X, y, W0


def softmax_loss(W, Xb, yb):
    """softmax cross-entropy of X_batch @ W (trusted, no regularization)"""
    W, Xb, yb = np.asarray(W, float), np.asarray(Xb, float), np.asarray(yb).astype(int)
    s = Xb @ W
    s = s - s.max(axis=1, keepdims=True)
    p = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
    loss = float(-np.mean(np.log(p[np.arange(len(yb)), yb])))
    p[np.arange(len(yb)), yb] -= 1
    return loss, Xb.T @ p / len(yb)


class Recorder:
    """A trusted loss_and_grad that records every call: (W, X_batch, y_batch) and what it returned."""

    def __init__(self):
        self.calls = []

    def __call__(self, W, Xb, yb):
        loss, dW = softmax_loss(W, Xb, yb)
        self.calls.append((np.array(W, dtype=float), np.array(Xb), np.array(yb), loss, dW))
        return loss, dW


SGD_SETUP = (
    "N=20 examples, D=3, C=2, lr={lr}, batch_size={bs}, num_steps={n}, a softmax loss_and_grad"
)


@pytest.mark.points(1)
@pytest.mark.tags("minibatch_sgd")
def test_minibatch_sgd_matches_reference(student, reference):
    """minibatch_sgd with seed 3 follows the spec's sampling recipe exactly (final W and losses)"""
    X, y, W0 = make_data()
    compare(
        student,
        reference,
        "minibatch_sgd",
        softmax_loss,
        W0,
        X,
        y,
        0.5,
        5,
        8,
        seed=3,
        parts=("W", "losses"),
    )


def row_indices(X, Xb):
    """For each row of X_batch, the index of the row of X it is (or -1)."""
    out = []
    for row in np.asarray(Xb, dtype=float):
        hits = np.flatnonzero(np.all(np.isclose(X, row, rtol=1e-6, atol=1e-8), axis=1))
        out.append(int(hits[0]) if hits.size else -1)
    return out


@pytest.mark.points(2)
@pytest.mark.tags("minibatch_sgd")
def test_minibatch_sgd_batches(student):
    """minibatch_sgd: every batch is batch_size distinct rows of X (no replacement) with their labels"""
    X, y, W0 = make_data()
    rec = Recorder()
    lr, bs, n = 0.5, 8, 6
    student.minibatch_sgd(rec, W0, X, y, lr, bs, n, seed=1)
    setup = SGD_SETUP.format(lr=lr, bs=bs, n=n)
    for t, (_, batch, yb, _, _) in enumerate(rec.calls):
        Xb = np.asarray(batch)
        if Xb.ndim != 2 or Xb.shape != (bs, D) or np.asarray(yb).shape != (bs,):
            raise StudentFailure(
                CALLBACK.format(
                    name="minibatch_sgd",
                    what=f"call {t} of loss_and_grad got a batch of the wrong shape",
                    setup=setup,
                    expected=f"X_batch of shape {(bs, D)} and y_batch of shape {(bs,)}",
                    got=f"X_batch of shape {Xb.shape}, y_batch of shape {np.asarray(yb).shape}",
                ),
                category="wrong batch shape",
            )
        idx = row_indices(X, Xb)
        if -1 in idx:
            raise StudentFailure(
                CALLBACK.format(
                    name="minibatch_sgd",
                    what=f"call {t} of loss_and_grad got a row that is not a row of X",
                    setup=setup,
                    expected="X_batch = X[idx] for some indices idx",
                    got=f"row {idx.index(-1)} of X_batch = {summarize(Xb[idx.index(-1)])}",
                ),
                category="batch rows not from X",
            )
        if len(set(idx)) != len(idx):
            raise StudentFailure(
                CALLBACK.format(
                    name="minibatch_sgd",
                    what=f"the batch of call {t} of loss_and_grad repeats an example "
                    "(sample without replacement: rng.choice(N, size=batch_size, replace=False))",
                    setup=setup,
                    expected=f"{bs} distinct rows of X",
                    got=f"rows {idx} of X",
                ),
                category="batch sampled with replacement",
            )
        if not np.array_equal(np.asarray(yb).astype(int), y[idx]):
            raise StudentFailure(
                CALLBACK.format(
                    name="minibatch_sgd",
                    what=f"call {t} of loss_and_grad got labels that do not belong to its rows",
                    setup=setup,
                    expected=f"y_batch = y[idx] = {y[idx].tolist()} for rows idx = {idx}",
                    got=f"y_batch = {np.asarray(yb).tolist()}",
                ),
                category="labels do not match the batch",
            )


@pytest.mark.points(1)
@pytest.mark.tags("minibatch_sgd")
def test_minibatch_sgd_records_losses(student):
    """minibatch_sgd returns losses of shape (num_steps,): what loss_and_grad returned, in order"""
    X, y, W0 = make_data()
    rec = Recorder()
    lr, bs, n = 0.5, 5, 7
    got = _parts(
        "minibatch_sgd", student.minibatch_sgd(rec, W0, X, y, lr, bs, n, seed=2), ("W", "losses")
    )
    losses = as_array("minibatch_sgd", got[1], (n,))
    returned = np.array([c[3] for c in rec.calls])
    if returned.shape != (n,) or not np.allclose(losses, returned, rtol=1e-6, atol=1e-8):
        raise StudentFailure(
            CALLBACK.format(
                name="minibatch_sgd",
                what="the losses returned should be the losses loss_and_grad returned, one per step "
                "(record the loss of each step before updating W)",
                setup=SGD_SETUP.format(lr=lr, bs=bs, n=n),
                expected=f"{summarize(returned)} (what loss_and_grad returned, {len(returned)} calls)",
                got=summarize(np.asarray(losses, dtype=float)),
            ),
            category="losses not recorded",
        )
