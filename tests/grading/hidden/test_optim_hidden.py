"""Hidden tests of optim.py: non-default hyperparameters, torch trajectories, properties, callbacks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from grader.testing import (
    StudentFailure,
    adam,
    as_array,
    compare,
    expect_close,
    expect_unchanged,
    messages,
    sgd,
    summarize,
    tolerances,
    with_hint,
)

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
CALLBACK = "`{name}`: {what}.\n  setup:    {setup}\n  expected: {expected}\n  got:      {got}\n"
ALIASED = (
    "`{name}` returned {rows} rows that are all equal, although the iterates move. The history "
    "holds the same array {rows} times: an in-place update (w -= ...) after appending w changes "
    "every stored row. Append a copy, or compute a new array: w = w - lr * grad_fn(w)."
)

FLOATS = st.floats(-5, 5, allow_nan=False, allow_infinity=False)


def _parts(name, got, names):
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


def _check_step(
    name, step, got, expected, *, steps, start, setup, dw, torch_name, advice, what="w"
):
    g = as_array(name, got, expected.shape)
    rtol, atol = tolerances(g)
    g64 = g.astype(np.float64)
    if np.all(np.isclose(g64, expected, rtol=rtol, atol=atol)):
        return
    if step:
        agree = f"{what} agrees with {torch_name} for steps 0..{step - 1}, but "
    else:
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
        )
        .replace("w first differs", f"{what} first differs")
        .replace("expected w after", f"expected {what} after"),
        category=f"{what} differs from {torch_name}",
    )


def torch_sgd(w0, dws, lr, rho):
    """The weights after each step of torch.optim.SGD(momentum=rho, dampening=0) on the gradients dws."""
    return list(sgd(w0, dws, lr, rho))


def torch_adam(w0, dws, lr, betas, eps):
    """(w, m, v) after each step of torch.optim.Adam on the gradients dws."""
    return [tuple(step) for step in adam(w0, dws, lr, betas, eps)]


# -- sgd_step -------------------------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.tags("sgd_step")
@settings(max_examples=20)
@given(
    w=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=5), elements=FLOATS),
    lr=st.floats(1e-3, 2.0),
    data=st.data(),
)
def test_sgd_step_property(student, w, lr, data):
    """sgd_step(w, dw, lr) == w - lr * dw for any shape"""
    dw = data.draw(hnp.arrays(np.float64, w.shape, elements=FLOATS))
    got = student.sgd_step(w.copy(), dw.copy(), lr)
    expect_close("sgd_step", got, w - lr * dw, inputs={"w": w, "dw": dw, "lr": lr})


# -- sgd_momentum_step ----------------------------------------------------------------------------


def run_momentum(student, w0, dws, lr, rho, expected, setup):
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
        w = np.asarray(got[0], dtype=float)
        v = np.asarray(as_array("sgd_momentum_step", got[1]), dtype=float)


@pytest.mark.points(1)
@pytest.mark.tags("sgd_momentum_step")
@pytest.mark.parametrize("rho", [0.5, 0.99])
def test_momentum_other_rho(student, rho):
    """sgd_momentum_step with a non-default rho matches torch.optim.SGD over 20 steps (2-d weights)"""
    rng = np.random.default_rng(10)
    w0 = rng.normal(size=(2, 3))
    dws = rng.normal(size=(20, 2, 3))
    lr = 0.05
    expected = torch_sgd(w0, dws, lr, rho)
    run_momentum(
        student, w0, dws, lr, rho, expected, f"w0 of shape (2, 3), v0=zeros, lr={lr}, rho={rho}"
    )


@pytest.mark.points(1)
@pytest.mark.tags("sgd_momentum_step")
def test_momentum_constant_gradient(student):
    """sgd_momentum_step with a constant gradient: the steps grow towards lr * dw / (1 - rho)"""
    w0 = np.array([1.0, -1.0])
    dws = np.tile([0.5, -2.0], (12, 1))
    expected = torch_sgd(w0, dws, 0.1, 0.8)
    run_momentum(
        student,
        w0,
        dws,
        0.1,
        0.8,
        expected,
        "w0=[1, -1], v0=zeros, lr=0.1, rho=0.8, dw=[0.5, -2] every step",
    )


@pytest.mark.points(1)
@pytest.mark.tags("sgd_momentum_step")
@settings(max_examples=15)
@given(
    w0=hnp.arrays(np.float64, st.integers(1, 4), elements=FLOATS),
    lr=st.floats(1e-3, 1.0),
    steps=st.integers(1, 4),
    data=st.data(),
)
def test_momentum_rho_zero_is_sgd(student, w0, lr, steps, data):
    """sgd_momentum_step with rho = 0 is plain SGD: w - lr * dw at every step"""
    w, v = w0.copy(), np.zeros_like(w0)
    for _ in range(steps):
        dw = data.draw(hnp.arrays(np.float64, w0.shape, elements=FLOATS))
        got = _parts(
            "sgd_momentum_step", student.sgd_momentum_step(w, dw, v, lr, rho=0.0), ("w", "v")
        )
        expect_close(
            "sgd_momentum_step",
            got[0],
            w - lr * dw,
            inputs={"w": w, "dw": dw, "lr": lr, "rho": 0.0},
            what="with rho = 0 the step must be plain SGD",
        )
        w = np.asarray(got[0], dtype=float)
        v = np.asarray(as_array("sgd_momentum_step", got[1]), dtype=float)


# -- adam_step ------------------------------------------------------------------------------------


def run_adam(student, w0, dws, lr, betas, eps, setup, compare_moments=False):
    expected = torch_adam(w0, dws, lr, betas, eps)
    w, m, v = w0.copy(), np.zeros_like(w0), np.zeros_like(w0)
    for k, dw in enumerate(dws):
        got = _parts(
            "adam_step",
            student.adam_step(w, dw, m, v, k + 1, lr=lr, beta1=betas[0], beta2=betas[1], eps=eps),
            ("w", "m", "v"),
        )
        names = ("w", "m", "v") if compare_moments else ("w",)
        for i, what in enumerate(names):
            try:
                _check_step(
                    "adam_step",
                    k,
                    got[i],
                    expected[k][i],
                    steps=len(dws),
                    start="m = v = 0 with t = 1, 2, ...",
                    setup=setup,
                    dw=dw,
                    torch_name="torch.optim.Adam",
                    advice=ADAM_ADVICE,
                    what=what,
                )
            except StudentFailure as fail:
                hyper = {"lr": lr, "beta1": betas[0], "beta2": betas[1], "eps": eps}
                raise with_hint(fail, "adam_step", (w, dw, m, v, k + 1), hyper, got) from None
        w = np.asarray(got[0], dtype=float)
        m = np.asarray(as_array("adam_step", got[1]), float)
        v = np.asarray(as_array("adam_step", got[2]), float)


@pytest.mark.points(2)
@pytest.mark.tags("adam_step")
def test_adam_non_default_hyperparameters(student):
    """adam_step with betas (0.8, 0.99), eps 1e-3, lr 0.05 matches torch.optim.Adam over 20 steps"""
    rng = np.random.default_rng(11)
    w0 = rng.normal(size=(2, 2))
    dws = rng.normal(size=(20, 2, 2))
    run_adam(
        student,
        w0,
        dws,
        0.05,
        (0.8, 0.99),
        1e-3,
        "w0 of shape (2, 2), lr=0.05, beta1=0.8, beta2=0.99, eps=1e-3",
    )


@pytest.mark.points(1)
@pytest.mark.tags("adam_step")
def test_adam_small_gradients(student):
    """adam_step with gradients of size 1e-4 and the default eps matches torch.optim.Adam"""
    rng = np.random.default_rng(12)
    w0 = rng.normal(size=3)
    dws = 1e-4 * rng.normal(size=(15, 3))
    run_adam(
        student,
        w0,
        dws,
        0.01,
        (0.9, 0.999),
        1e-8,
        "w0 of shape (3,), lr=0.01, default betas and eps, tiny gradients",
    )


@pytest.mark.points(1)
@pytest.mark.tags("adam_step")
def test_adam_moments(student):
    """adam_step's m and v equal torch.optim.Adam's exp_avg and exp_avg_sq at every step"""
    rng = np.random.default_rng(13)
    w0 = rng.normal(size=3)
    dws = rng.normal(size=(10, 3))
    run_adam(
        student,
        w0,
        dws,
        0.02,
        (0.7, 0.95),
        1e-8,
        "w0 of shape (3,), lr=0.02, beta1=0.7, beta2=0.95",
        compare_moments=True,
    )


# -- gradient_descent -----------------------------------------------------------------------------

A = np.array([[3.0, 1.0], [1.0, 2.0]])
B = np.array([1.0, -1.0])


class Grad:
    """The gradient of 0.5 w.A.w - b.w + 0.5*sum(w**2) (any shape), recording each point asked."""

    def __init__(self):
        self.points = []

    def __call__(self, w):
        w = np.array(w, dtype=float)
        self.points.append(w.copy())
        if w.shape == (2,):
            return A @ w - B
        return w - 1.0


@pytest.mark.points(1)
@pytest.mark.tags("gradient_descent")
def test_gradient_descent_2d_weights(student, reference):
    """gradient_descent with weights of shape (2, 3): result of shape (num_steps + 1, 2, 3)"""
    w0 = np.arange(6.0).reshape(2, 3)
    compare(student, reference, "gradient_descent", Grad(), w0, 0.3, 4)


@pytest.mark.points(1)
@pytest.mark.tags("gradient_descent")
def test_gradient_descent_zero_steps(student):
    """gradient_descent with num_steps = 0 returns just w0, shape (1,) + w0.shape"""
    w0 = np.array([2.0, -3.0])
    got = student.gradient_descent(Grad(), w0, 0.1, 0)
    expect_close("gradient_descent", got, w0[None], inputs={"w0": w0, "lr": 0.1, "num_steps": 0})


@pytest.mark.points(1)
@pytest.mark.tags("gradient_descent")
def test_gradient_descent_rows_not_aliased(student):
    """gradient_descent keeps every iterate: the rows are not all the same array"""
    w0 = np.array([2.0, -3.0])
    got = as_array("gradient_descent", student.gradient_descent(Grad(), w0, 0.1, 5), (6, 2))
    if np.all(got == got[0]):
        raise StudentFailure(
            ALIASED.format(name="gradient_descent", rows=6), category="history aliased"
        )


@pytest.mark.points(1)
@pytest.mark.tags("gradient_descent")
def test_gradient_descent_calls_grad_fn(student):
    """gradient_descent calls grad_fn exactly num_steps times, at w_0 .. w_{num_steps-1}"""
    w0 = np.array([2.0, -3.0])
    grad = Grad()
    got = as_array("gradient_descent", student.gradient_descent(grad, w0, 0.1, 5), (6, 2))
    setup = "w0=[2, -3], lr=0.1, num_steps=5"
    if len(grad.points) != 5:
        raise StudentFailure(
            CALLBACK.format(
                name="gradient_descent",
                what="grad_fn should be called once per step",
                setup=setup,
                expected="5 calls",
                got=f"{len(grad.points)} calls",
            ),
            category="wrong number of gradient evaluations",
        )
    for k, p in enumerate(grad.points):
        expect_close(
            "gradient_descent",
            p,
            got[k],
            inputs={"w0": w0, "lr": 0.1, "num_steps": 5},
            what=f"grad_fn's argument at step {k} should be the iterate w_{k} (row {k} of the result)",
        )


@pytest.mark.points(1)
@pytest.mark.tags("gradient_descent")
def test_gradient_descent_leaves_w0(student):
    """gradient_descent leaves w0 unchanged"""
    student.gradient_descent(Grad(), np.array([2.0, -3.0]), 0.1, 3)
    expect_unchanged("gradient_descent", student.mutated, ("grad_fn", "w0", "lr", "num_steps"))


# -- minibatch_sgd --------------------------------------------------------------------------------

N, D, C = 20, 3, 2


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D))
    y = rng.integers(0, C, size=N)
    W0 = 0.1 * rng.normal(size=(D, C))
    return X, y, W0


def softmax_loss(W, Xb, yb):
    W, Xb, yb = np.asarray(W, float), np.asarray(Xb, float), np.asarray(yb).astype(int)
    s = Xb @ W
    s = s - s.max(axis=1, keepdims=True)
    p = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
    loss = float(-np.mean(np.log(p[np.arange(len(yb)), yb])))
    p[np.arange(len(yb)), yb] -= 1
    return loss, Xb.T @ p / len(yb)


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, W, Xb, yb):
        loss, dW = softmax_loss(W, Xb, yb)
        self.calls.append((np.array(W, dtype=float), loss, dW))
        return loss, dW


class Schedule:
    """A trusted lr_schedule: records each t it is asked for."""

    def __init__(self, fn):
        self.fn = fn
        self.ts = []

    def __call__(self, t):
        self.ts.append(t)
        return self.fn(t)


SETUP = (
    "N=20, D=3, C=2, lr={lr}, batch_size=4, num_steps={n}, seed=5{extra}, a softmax loss_and_grad"
)


def run_sgd(student, n, lr=0.5, **kwargs):
    """Run the student's minibatch_sgd with a recording loss_and_grad: (recorder, W, W0, hint),
    where ``hint(failure)`` adds the hint of a known bug that returns the same (W, losses)."""
    X, y, W0 = make_data()
    rec = Recorder()
    got = _parts(
        "minibatch_sgd",
        student.minibatch_sgd(rec, W0, X, y, lr, 4, n, seed=5, **kwargs),
        ("W", "losses"),
    )

    def hint(fail):
        args = (softmax_loss, W0, X, y, lr, 4, n)
        return with_hint(fail, "minibatch_sgd", args, {"seed": 5, **kwargs}, got)

    return rec, as_array("minibatch_sgd", got[0], W0.shape), W0, hint


def count_failure(n, calls, setup):
    return StudentFailure(
        CALLBACK.format(
            name="minibatch_sgd",
            what="loss_and_grad should be called exactly once per step",
            setup=setup,
            expected=f"{n} calls",
            got=f"{calls} calls",
        ),
        category="wrong number of loss_and_grad calls",
    )


@pytest.mark.points(1)
@pytest.mark.tags("minibatch_sgd")
def test_minibatch_sgd_calls(student):
    """minibatch_sgd calls loss_and_grad exactly num_steps times"""
    rec, _, _, _ = run_sgd(student, 9)
    if len(rec.calls) != 9:
        raise count_failure(9, len(rec.calls), SETUP.format(lr=0.5, n=9, extra=""))


def replay(student, n, lr_of, momentum, setup, **kwargs):
    """Check every W passed to loss_and_grad and the final W against momentum SGD on the
    gradients this loss_and_grad returned (sampling-independent)."""
    rec, W, W0, hint = run_sgd(student, n, **kwargs)
    if len(rec.calls) != n:
        raise count_failure(n, len(rec.calls), setup)
    w, v = W0.copy(), np.zeros_like(W0)
    try:
        for t, (W_seen, _, dW) in enumerate(rec.calls):
            expect_close(
                "minibatch_sgd",
                W_seen,
                w,
                inputs={"setup": setup},
                what=f"the weights passed to loss_and_grad at step {t}"
                + (", from W0" if t == 0 else f", after the update of step {t - 1}"),
            )
            v = momentum * v + dW
            w = w - lr_of(t) * v
        expect_close("minibatch_sgd", W, w, inputs={"setup": setup}, what="the final weights W")
    except StudentFailure as fail:
        raise hint(fail) from None


@pytest.mark.points(2)
@pytest.mark.tags("minibatch_sgd")
def test_minibatch_sgd_updates(student):
    """minibatch_sgd steps W -= lr * dW with the gradient loss_and_grad returned, every step"""
    replay(student, 6, lambda t: 0.5, 0.0, SETUP.format(lr=0.5, n=6, extra=""))


@pytest.mark.points(1)
@pytest.mark.tags("minibatch_sgd")
def test_minibatch_sgd_momentum(student):
    """minibatch_sgd with rho = 0.5 takes momentum steps (v = rho*v + dW; W -= lr*v), v fed back"""
    replay(
        student,
        6,
        lambda t: 0.2,
        0.5,
        SETUP.format(lr=0.2, n=6, extra=", rho=0.5"),
        lr=0.2,
        rho=0.5,
    )


@pytest.mark.points(1)
@pytest.mark.tags("minibatch_sgd")
def test_minibatch_sgd_schedule_calls(student):
    """minibatch_sgd asks lr_schedule for t = 0, 1, ..., num_steps - 1"""
    sched = Schedule(lambda t: 0.5 / (1 + t))
    run_sgd(student, 6, lr_schedule=sched)
    if list(sched.ts) != list(range(6)):
        raise StudentFailure(
            CALLBACK.format(
                name="minibatch_sgd",
                what="lr_schedule(t) should be called once per step with t = 0, 1, ..., num_steps - 1",
                setup=SETUP.format(lr=0.5, n=6, extra=", lr_schedule given"),
                expected=str(list(range(6))),
                got=str(list(sched.ts)) + ("" if sched.ts else " (lr_schedule was never called)"),
            ),
            category="learning-rate schedule not used",
        )


@pytest.mark.points(1)
@pytest.mark.tags("minibatch_sgd")
def test_minibatch_sgd_schedule_values(student):
    """minibatch_sgd steps with lr_schedule(t): a schedule that drops to 0 after step 2 freezes W"""

    def lr_of(t):
        return 0.5 if t < 3 else 0.0

    replay(
        student,
        7,
        lr_of,
        0.0,
        SETUP.format(lr=0.5, n=7, extra=", lr_schedule(t) = 0.5 if t < 3 else 0"),
        lr_schedule=Schedule(lr_of),
    )


class BatchRecorder:
    """A trusted loss_and_grad that keeps the shape and rows of every batch it is given.

    Column 0 of its X holds each row's own number, so a batch names the rows it holds. A batch
    of the wrong shape is recorded and answered with (0, zeros): the run goes on, and the test
    reports the shape instead of an error inside the student's loop.
    """

    def __init__(self, n):
        self.n = n
        self.batches = []

    def data(self):
        rng = np.random.default_rng(11)
        X = np.c_[np.arange(self.n, dtype=float), rng.normal(size=(self.n, D - 1))]
        return X, rng.integers(0, C, size=self.n), 0.1 * rng.normal(size=(D, C))

    def __call__(self, W, Xb, yb):
        Xb, yb = np.asarray(Xb, dtype=float), np.asarray(yb)
        self.batches.append((Xb.shape, yb.shape, Xb[:, 0].tolist() if Xb.ndim == 2 else None))
        if Xb.ndim != 2 or yb.ndim != 1:
            return 0.0, np.zeros_like(np.asarray(W, dtype=float))
        return softmax_loss(W, Xb / self.n, yb)


@pytest.mark.points(1)
@pytest.mark.tags("minibatch_sgd")
def test_minibatch_sgd_batch_of_one_and_of_all(student):
    """minibatch_sgd: batch_size = 1 gives batches of one row, shape (1, D); batch_size = N all N rows"""
    for batch_size in (1, N):
        rec = BatchRecorder(N)
        X, y, W0 = rec.data()
        student.minibatch_sgd(rec, W0, X, y, 0.5, batch_size, 3, seed=4)
        setup = f"N={N}, D={D}, C={C}, lr=0.5, batch_size={batch_size}, num_steps=3, seed=4"
        if len(rec.batches) != 3:
            raise count_failure(3, len(rec.batches), setup)
        for t, (x_shape, y_shape, rows) in enumerate(rec.batches):
            if x_shape != (batch_size, D) or y_shape != (batch_size,):
                raise StudentFailure(
                    CALLBACK.format(
                        name="minibatch_sgd",
                        what=f"call {t} of loss_and_grad got a batch of the wrong shape (X[idx] "
                        "and y[idx] for the batch_size indices idx, kept 2-d and 1-d even when "
                        "batch_size is 1)",
                        setup=setup,
                        expected=f"X_batch of shape {(batch_size, D)}, y_batch of shape "
                        f"{(batch_size,)}",
                        got=f"X_batch of shape {x_shape}, y_batch of shape {y_shape}",
                    ),
                    category="wrong batch shape",
                )
            if sorted(rows) != sorted(set(rows)) or not set(rows) <= set(range(N)):
                raise StudentFailure(
                    CALLBACK.format(
                        name="minibatch_sgd",
                        what=f"call {t} of loss_and_grad got rows that are not {batch_size} "
                        "distinct rows of X",
                        setup=setup,
                        expected=f"{batch_size} distinct rows of X",
                        got=f"rows {rows}",
                    ),
                    category="batch rows not from X",
                )


@pytest.mark.points(1)
@pytest.mark.tags("minibatch_sgd")
def test_minibatch_sgd_leaves_inputs(student):
    """minibatch_sgd leaves W0, X and y unchanged"""
    X, y, W0 = make_data()
    student.minibatch_sgd(softmax_loss, W0, X, y, 0.5, 4, 3, seed=0, rho=0.9)
    expect_unchanged("minibatch_sgd", student.mutated, ("loss_and_grad", "W0", "X", "y"))
