"""The reference solutions: the lecture's worked numbers, and agreement with PyTorch.

``solutions/`` is what every grading suite compares students with, so it is checked here
against independent oracles: the numbers on the slides, ``torch.nn.functional``,
``torch.optim``, ``torch.optim.lr_scheduler`` and autograd (ASSIGNMENT.md names each one).
"""

from __future__ import annotations

import importlib
import itertools
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from grader.authoring import pack

MODULES = pack.active().by_module

SOLUTIONS = Path(__file__).resolve().parents[2] / "solutions"


def load_modules(folder: Path) -> dict[str, ModuleType]:
    """Import the six flat modules of ``folder`` (they import each other by plain name) without
    leaving them in ``sys.modules``, where they would clash with other folders' modules."""
    names = list(MODULES)
    saved = {name: sys.modules.pop(name) for name in names if name in sys.modules}
    sys.path.insert(0, str(folder))
    try:
        return {name: importlib.import_module(name) for name in names}
    finally:
        sys.path.remove(str(folder))
        for name in names:
            sys.modules.pop(name, None)
        sys.modules.update(saved)


REF = load_modules(SOLUTIONS)
losses, gradients, optim = REF["losses"], REF["gradients"], REF["optim"]
schedules, search, torch_losses = REF["schedules"], REF["search"], REF["torch_losses"]

# The lecture's three images (one row each) scored for the classes (cat, car, frog).
LECTURE_SCORES = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
LECTURE_LABELS = np.array([0, 1, 2])


def random_problem(
    seed: int, N: int = 8, D: int = 5, C: int = 4
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(D, C)), rng.normal(size=(N, D)), rng.integers(0, C, size=N)


# --------------------------------------------------------------------------- lecture numbers


def test_cross_entropy_of_the_cat_image_is_2_04() -> None:
    loss = losses.cross_entropy_loss(LECTURE_SCORES[:1], LECTURE_LABELS[:1])
    assert round(float(loss), 2) == 2.04


def test_hinge_table_of_the_lecture() -> None:
    per_example = [
        losses.svm_loss(LECTURE_SCORES[i : i + 1], LECTURE_LABELS[i : i + 1]) for i in range(3)
    ]
    assert [round(float(x), 1) for x in per_example] == [2.9, 0.0, 12.9]
    assert round(float(losses.svm_loss(LECTURE_SCORES, LECTURE_LABELS)), 2) == 5.27


def test_doubling_the_scores_keeps_the_car_loss_at_zero() -> None:
    assert losses.svm_loss(2 * LECTURE_SCORES[1:2], LECTURE_LABELS[1:2]) == 0.0


@pytest.mark.parametrize(
    ("lam", "expected"),
    [
        (0.0, [32.0, 39.4, 61.7, 88.9, 113.6]),
        (0.02, [36.0, 40.6, 54.3, 71.1, 86.4]),
    ],
)
def test_ridge_predictions_of_the_latitude_example(lam: float, expected: list[float]) -> None:
    # Train (latitude, temperature) = (42, 33), (39, 38), (30, 62), with a bias column of ones;
    # the slides print the predictions to one decimal.
    X = np.array([[42.0, 1.0], [39.0, 1.0], [30.0, 1.0]])
    y = np.array([33.0, 38.0, 62.0])
    query = np.column_stack([[42.0, 39.0, 30.0, 19.0, 9.0], np.ones(5)])
    predictions = query @ losses.ridge_fit(X, y, lam)
    assert np.round(predictions, 1).tolist() == expected


def _grad_f(w: np.ndarray) -> np.ndarray:
    # f(x, y) = (x + 2y - 7)^2 + (2x + y - 5)^2; its Hessian [[10, 8], [8, 10]] has eigenvalues
    # 2 (along (1, -1)) and 18 (along (1, 1)), so gradient descent is stable for lr < 2/18.
    x, y = w
    r1, r2 = x + 2 * y - 7, 2 * x + y - 5
    return np.array([2 * r1 + 4 * r2, 4 * r1 + 2 * r2])


def _descent(lr: float, steps: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """The iterates from (0, 0), their distances to the minimum (1, 3) and their error along
    the steep direction (1, 1)."""
    path = optim.gradient_descent(_grad_f, np.zeros(2), lr, steps)
    error = path - np.array([1.0, 3.0])
    return np.linalg.norm(error, axis=1), error @ np.array([1.0, 1.0])


def test_gradient_descent_step_0_01_falls_short() -> None:
    # Falls short: every step gets closer, yet after 20 steps it is still far from (1, 3).
    distance, _ = _descent(0.01)
    assert np.all(np.diff(distance) < 0)
    assert distance[-1] > 0.5


def test_gradient_descent_step_0_10_converges() -> None:
    # Converges: within 0.05 of (1, 3) after 20 steps, and to 1e-8 after 200.
    distance, _ = _descent(0.10)
    assert distance[-1] < 0.05
    assert _descent(0.10, steps=200)[0][-1] < 1e-8


def test_gradient_descent_step_0_11_oscillates() -> None:
    # Oscillates: the error along the steep direction flips sign at every step and barely
    # shrinks (factor 1 - 18 * 0.11 = -0.98), so it is still far away after 20 steps, yet bounded.
    distance, steep = _descent(0.11)
    assert np.all(np.sign(steep[1:]) == -np.sign(steep[:-1]))
    ratios = np.abs(steep[1:] / steep[:-1])
    assert np.all((ratios > 0.9) & (ratios < 1.0))
    assert distance[-1] > 1.0
    assert distance.max() <= distance[0]


def test_gradient_descent_step_0_12_diverges() -> None:
    # Diverges: the steep error flips sign and grows (factor 1 - 18 * 0.12 = -1.16) without bound.
    distance, steep = _descent(0.12)
    assert np.all(np.sign(steep[1:]) == -np.sign(steep[:-1]))
    assert np.all(np.abs(steep[1:]) > np.abs(steep[:-1]))
    assert distance[-1] > 10 * distance[0]
    assert _descent(0.12, steps=300)[0][-1] > 1e15


def test_gradient_descent_returns_every_iterate() -> None:
    w0 = np.ones((2, 3))
    path = optim.gradient_descent(lambda w: 2 * w, w0, 0.25, 4)
    assert path.shape == (5, 2, 3)
    np.testing.assert_allclose(path[:, 0, 0], [1, 0.5, 0.25, 0.125, 0.0625])
    assert np.all(w0 == 1)


# --------------------------------------------------------------------------- losses vs torch


@pytest.mark.parametrize("seed", range(5))
def test_cross_entropy_matches_torch(seed: int) -> None:
    W, X, y = random_problem(seed)
    scores = 3 * X @ W
    expected = F.cross_entropy(torch.tensor(scores), torch.tensor(y)).item()
    assert losses.cross_entropy_loss(scores, y) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(
        losses.softmax(scores), torch.softmax(torch.tensor(scores), dim=1).numpy(), rtol=1e-12
    )


@pytest.mark.parametrize("margin", [1.0, 0.5, 2.0])
@pytest.mark.parametrize("seed", range(3))
def test_svm_losses_match_torch(seed: int, margin: float) -> None:
    W, X, y = random_problem(seed)
    scores, target = torch.tensor(X @ W), torch.tensor(y)
    C = scores.shape[1]
    hinge = C * F.multi_margin_loss(scores, target, margin=margin).item()
    squared = C * F.multi_margin_loss(scores, target, p=2, margin=margin).item()
    assert losses.svm_loss(X @ W, y, margin) == pytest.approx(hinge, rel=1e-12)
    assert losses.squared_svm_loss(X @ W, y, margin) == pytest.approx(squared, rel=1e-12)


def test_penalties() -> None:
    W = np.array([[1.0, -2.0], [0.5, 0.0]])
    assert losses.l2_penalty(W) == pytest.approx(5.25)
    assert losses.l1_penalty(W) == pytest.approx(3.5)
    assert losses.elastic_net_penalty(W, 0.5) == pytest.approx(0.5 * 5.25 + 3.5)


def test_ridge_fit_solves_the_normal_equations() -> None:
    _, X, _ = random_problem(0, N=12, D=4)
    y = np.random.default_rng(1).normal(size=12)
    w = losses.ridge_fit(X, y, 0.3)
    np.testing.assert_allclose(X.T @ (X @ w - y) + 0.3 * w, 0, atol=1e-12)


# --------------------------------------------------------------------------- gradients vs torch


def _torch_loss_and_grad(
    W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float, kind: str
) -> tuple[float, np.ndarray]:
    Wt = torch.tensor(W, requires_grad=True)
    scores = torch.tensor(X) @ Wt
    if kind == "softmax":
        data_loss = F.cross_entropy(scores, torch.tensor(y))
    else:
        data_loss = W.shape[1] * F.multi_margin_loss(scores, torch.tensor(y))
    loss = data_loss + reg * (Wt**2).sum()
    loss.backward()
    assert Wt.grad is not None
    return loss.item(), Wt.grad.numpy()


@pytest.mark.parametrize("reg", [0.0, 0.7])
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("kind", ["softmax", "svm"])
def test_loss_and_grad_match_torch_autograd(kind: str, seed: int, reg: float) -> None:
    W, X, y = random_problem(seed)
    f = gradients.softmax_loss_and_grad if kind == "softmax" else gradients.svm_loss_and_grad
    loss, dW = f(W, X, y, reg)
    expected_loss, expected_dW = _torch_loss_and_grad(W, X, y, reg, kind)
    assert loss == pytest.approx(expected_loss, rel=1e-12)
    np.testing.assert_allclose(dW, expected_dW, rtol=1e-10, atol=1e-12)


def test_svm_gradient_at_a_kink_counts_the_term_as_inactive() -> None:
    # Scores (1, 0) with label 0: the margin term of class 1 is exactly 0 (a kink).
    W = np.array([[1.0, 0.0]])
    loss, dW = gradients.svm_loss_and_grad(W, np.array([[1.0]]), np.array([0]), 0.0)
    assert loss == 0.0
    np.testing.assert_array_equal(dW, 0.0)


@pytest.mark.parametrize("kind", ["softmax", "svm"])
def test_gradient_check_passes_on_the_reference(kind: str) -> None:
    W, X, y = random_problem(3)
    f = gradients.softmax_loss_and_grad if kind == "softmax" else gradients.svm_loss_and_grad
    passed, error = gradients.gradient_check(
        lambda w: f(w, X, y, 0.1)[0], lambda w: f(w, X, y, 0.1)[1], W.copy()
    )
    assert passed
    assert error < 1e-7


def test_numeric_gradient_is_centered_and_restores_x() -> None:
    calls = []

    def f(x: np.ndarray) -> float:
        calls.append(1)
        return float(np.sum(x**3))

    x = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]])
    original = x.copy()
    grad = gradients.numeric_gradient(f, x)
    # Centered differences of x^3 are exact up to h^2: 3x^2 + h^2.
    np.testing.assert_allclose(grad, 3 * original**2 + 1e-10, rtol=1e-8, atol=1e-8)
    assert len(calls) == 2 * x.size
    assert np.array_equal(x, original)


def test_relative_error() -> None:
    a = np.array([1.0, 0.0, 2.0])
    assert gradients.relative_error(a, a) == 0.0
    assert gradients.relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert gradients.relative_error(a, np.array([1.0, 0.0, 3.0])) == pytest.approx(0.2)


# --------------------------------------------------------------------------- optimizers vs torch


def _torch_trajectory(
    make_optimizer: type[torch.optim.Optimizer],
    w0: np.ndarray,
    grads: list[np.ndarray],
    **kw: float,
) -> list[np.ndarray]:
    param = torch.tensor(w0.copy(), requires_grad=True)
    optimizer = make_optimizer([param], **kw)
    trajectory = []
    for g in grads:
        optimizer.zero_grad()
        param.grad = torch.tensor(g)
        optimizer.step()
        trajectory.append(param.detach().numpy().copy())
    return trajectory


def _gradients(seed: int, steps: int = 20) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(3, 2)) for _ in range(steps)]


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_momentum_matches_torch_sgd(rho: float) -> None:
    w0, grads = np.random.default_rng(7).normal(size=(3, 2)), _gradients(1)
    expected = _torch_trajectory(torch.optim.SGD, w0, grads, lr=0.1, momentum=rho)
    w, v = w0.copy(), np.zeros_like(w0)
    for g, target in zip(grads, expected, strict=True):
        w, v = optim.sgd_momentum_step(w, g, v, 0.1, rho)
        np.testing.assert_allclose(w, target, rtol=1e-9, atol=1e-12)


def test_momentum_with_rho_0_is_sgd() -> None:
    w, dw = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    w_new, _ = optim.sgd_momentum_step(w, dw, np.zeros(2), 0.1, rho=0.0)
    np.testing.assert_allclose(w_new, optim.sgd_step(w, dw, 0.1))


def test_adam_matches_torch_adam() -> None:
    w0, grads = np.random.default_rng(8).normal(size=(3, 2)), _gradients(2)
    kw = {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-6}
    param = torch.tensor(w0.copy(), requires_grad=True)
    optimizer = torch.optim.Adam([param], **kw)  # type: ignore[arg-type]
    w, m, v = w0.copy(), np.zeros_like(w0), np.zeros_like(w0)
    for t, g in enumerate(grads, start=1):
        optimizer.zero_grad()
        param.grad = torch.tensor(g)
        optimizer.step()
        w, m, v = optim.adam_step(w, g, m, v, t, lr=0.05, beta1=0.8, beta2=0.99, eps=1e-6)
        np.testing.assert_allclose(w, param.detach().numpy(), rtol=1e-9, atol=1e-12)


def test_minibatch_sgd_follows_the_recipe() -> None:
    # Replays ASSIGNMENT.md's recipe by hand with a schedule and momentum.
    W0, X, y = random_problem(4, N=30)
    seen: list[np.ndarray] = []

    def loss_and_grad(W: np.ndarray, Xb: np.ndarray, yb: np.ndarray) -> tuple[float, np.ndarray]:
        seen.append(Xb)
        loss, dW = gradients.softmax_loss_and_grad(W, Xb, yb, 0.01)
        return loss, dW

    def schedule(t: int) -> float:
        return schedules.cosine_decay(0.5, t, 10)

    original = W0.copy()
    W, history = optim.minibatch_sgd(loss_and_grad, W0, X, y, 0.5, 7, 12, seed=3, rho=0.9,
                                     lr_schedule=schedule)  # fmt: skip
    assert np.array_equal(W0, original)
    rng = np.random.default_rng(3)
    w, v = original.copy(), np.zeros_like(original)
    for t in range(12):
        idx = rng.choice(30, size=7, replace=False)
        np.testing.assert_array_equal(seen[t], X[idx])
        loss, dW = gradients.softmax_loss_and_grad(w, X[idx], y[idx], 0.01)
        assert history[t] == pytest.approx(loss, rel=1e-12)
        v = 0.9 * v + dW
        w = w - schedule(t) * v
    np.testing.assert_allclose(W, w, rtol=1e-12)
    assert len(history) == 12


# --------------------------------------------------------------------------- schedules vs torch


def _torch_lrs(
    make: type[torch.optim.lr_scheduler.LRScheduler], steps: int, **kw: int
) -> list[float]:
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    scheduler = make(optimizer, **kw)
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def test_step_decay_matches_step_lr() -> None:
    expected = _torch_lrs(torch.optim.lr_scheduler.StepLR, 12, step_size=3)
    ours = [schedules.step_decay(0.5, t, 3) for t in range(12)]
    np.testing.assert_allclose(ours, expected, rtol=1e-12)


def test_cosine_decay_matches_cosine_annealing_within_its_period() -> None:
    expected = _torch_lrs(torch.optim.lr_scheduler.CosineAnnealingLR, 11, T_max=10)
    ours = [schedules.cosine_decay(0.5, t, 10) for t in range(11)]
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-15)


def test_cosine_decay_stays_at_lr_min_after_T() -> None:
    lrs = [schedules.cosine_decay(0.5, t, 10, lr_min=0.01) for t in range(25)]
    assert lrs[0] == 0.5
    assert all(a >= b for a, b in itertools.pairwise(lrs))
    assert lrs[10:] == [pytest.approx(0.01)] * 15


# --------------------------------------------------------------------------- search


def test_k_fold_indices_follow_array_split() -> None:
    folds = search.k_fold_indices(10, 3)
    for (train, val), expected in zip(folds, np.array_split(np.arange(10), 3), strict=True):
        np.testing.assert_array_equal(val, expected)
        np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(10))


def test_train_val_test_split_partitions() -> None:
    train, val, test = search.train_val_test_split(23, val_frac=0.2, test_frac=0.3, seed=5)
    assert (len(train), len(val), len(test)) == (23 - 5 - 7, 5, 7)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val, test])), np.arange(23))


def test_grid_search_ties_go_to_the_first_combination() -> None:
    calls = []

    def objective(a: int, b: int) -> float:
        calls.append((a, b))
        return float((a - 1) ** 2)

    best, value = search.grid_search(objective, {"a": [0, 1, 2], "b": [5, 6]})
    assert best == {"a": 1, "b": 5}
    assert value == 0.0
    assert len(calls) == 6


def test_random_search_stays_in_bounds_and_samples_log_uniformly() -> None:
    samples: list[float] = []

    def objective(lr: float, reg: float) -> float:
        samples.append(lr)
        assert 0.0 <= reg <= 1.0
        return abs(math.log10(lr) + 3)

    best, value = search.random_search(
        objective, {"lr": (1e-6, 1.0, "log"), "reg": (0.0, 1.0, "linear")}, 2000, seed=1
    )
    assert len(samples) == 2000
    assert min(samples) >= 1e-6
    assert max(samples) <= 1.0
    # Log-uniform: half the samples below the geometric midpoint 1e-3.
    assert np.mean(np.array(samples) < 1e-3) == pytest.approx(0.5, abs=0.05)
    assert value == min(abs(math.log10(s) + 3) for s in samples)
    assert best["lr"] == samples[int(np.argmin([abs(math.log10(s) + 3) for s in samples]))]


def test_choose_ridge_lambda_picks_the_least_cv_error() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6))
    y = X @ rng.normal(size=6) + 2.0 * rng.normal(size=40)
    lams = [100.0, 0.0, 1.0, 10.0]

    def cv_error(lam: float) -> float:
        return search.cross_validate(
            lambda Xt, yt: losses.ridge_fit(Xt, yt, lam),
            lambda w, Xv, yv: float(np.mean((Xv @ w - yv) ** 2)),
            X,
            y,
            5,
        )

    errors = {lam: cv_error(lam) for lam in lams}
    assert search.choose_ridge_lambda(X, y, lams) == min(lams, key=lambda lam: errors[lam])


def test_choose_ridge_lambda_ties_go_to_the_smallest() -> None:
    # All-zero targets: every lam predicts 0 exactly, a tie.
    X = np.random.default_rng(0).normal(size=(10, 2))
    assert search.choose_ridge_lambda(X, np.zeros(10), [1.0, 0.5, 2.0], k=5) == 0.5


# --------------------------------------------------------------------------- torch_losses


def _scores(seed: int, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randn(7, 5, generator=generator, dtype=dtype, requires_grad=True)
    return scores, torch.randint(0, 5, (7,), generator=generator)


@pytest.mark.parametrize("seed", range(3))
def test_softmax_cross_entropy_function_matches_torch(seed: int) -> None:
    scores, y = _scores(seed)
    loss = torch_losses.SoftmaxCrossEntropy.apply(scores, y)
    (grad,) = torch.autograd.grad(loss, scores)
    expected = F.cross_entropy(scores, y)
    (expected_grad,) = torch.autograd.grad(expected, scores)
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("margin", [1.0, 0.3])
@pytest.mark.parametrize("seed", range(3))
def test_multiclass_hinge_function_matches_torch(seed: int, margin: float) -> None:
    scores, y = _scores(seed)
    loss = torch_losses.MulticlassHinge.apply(scores, y, margin)
    (grad,) = torch.autograd.grad(loss, scores)
    expected = 5 * F.multi_margin_loss(scores, y, margin=margin)
    (expected_grad,) = torch.autograd.grad(expected, scores)
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-12, atol=1e-14)
    # The default margin, and margin as a keyword: ASSIGNMENT.md writes apply(scores, y, margin=m).
    default = torch_losses.MulticlassHinge.apply(scores, y)
    torch.testing.assert_close(default, 5 * F.multi_margin_loss(scores, y))
    by_keyword = torch_losses.MulticlassHinge.apply(scores, y, margin=margin)
    torch.testing.assert_close(by_keyword, expected)


@pytest.mark.parametrize("name", ["SoftmaxCrossEntropy", "MulticlassHinge"])
def test_torch_functions_pass_gradcheck(name: str) -> None:
    function = getattr(torch_losses, name)
    for seed in range(3):
        scores, y = _scores(seed)
        assert torch.autograd.gradcheck(lambda s, y=y: function.apply(s, y), (scores,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["SoftmaxCrossEntropy", "MulticlassHinge"])
def test_torch_functions_preserve_dtype(name: str, dtype: torch.dtype) -> None:
    scores, y = _scores(0, dtype)
    loss = getattr(torch_losses, name).apply(scores, y)
    (grad,) = torch.autograd.grad(loss, scores)
    assert loss.dtype == grad.dtype == dtype
    assert loss.shape == ()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["SoftmaxCrossEntropy", "MulticlassHinge"])
def test_torch_functions_run_on_cuda(name: str) -> None:
    scores, y = _scores(0)
    on_gpu = scores.detach().cuda().requires_grad_()
    loss = getattr(torch_losses, name).apply(on_gpu, y.cuda())
    (grad,) = torch.autograd.grad(loss, on_gpu)
    assert loss.is_cuda
    assert grad.is_cuda
    expected = getattr(torch_losses, name).apply(scores, y)
    torch.testing.assert_close(loss.cpu(), expected)


# --------------------------------------------------------------------------- stability, mutation

HUGE = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4, 1e4], [5.0, 1e4, 3.0]])
HUGE_LABELS = np.array([2, 0, 2])


def test_losses_are_finite_at_scores_of_1e4() -> None:
    assert np.all(np.isfinite(losses.softmax(HUGE)))
    np.testing.assert_allclose(losses.softmax(HUGE).sum(axis=1), 1.0)
    expected = F.cross_entropy(torch.tensor(HUGE), torch.tensor(HUGE_LABELS)).item()
    assert losses.cross_entropy_loss(HUGE, HUGE_LABELS) == pytest.approx(expected, rel=1e-12)
    assert math.isfinite(losses.svm_loss(HUGE, HUGE_LABELS))
    assert math.isfinite(losses.squared_svm_loss(HUGE, HUGE_LABELS))
    X = np.eye(3)
    loss, dW = gradients.softmax_loss_and_grad(HUGE, X, HUGE_LABELS, 0.0)
    assert loss == pytest.approx(expected, rel=1e-12)
    assert np.all(np.isfinite(dW))
    scores = torch.tensor(HUGE, requires_grad=True)
    loss_t = torch_losses.SoftmaxCrossEntropy.apply(scores, torch.tensor(HUGE_LABELS))
    (grad,) = torch.autograd.grad(loss_t, scores)
    assert torch.isfinite(loss_t)
    assert torch.all(torch.isfinite(grad))


def _calls() -> Iterator[tuple[str, object, tuple[object, ...]]]:
    W, X, y = random_problem(0)
    S = X @ W
    yield "softmax", losses.softmax, (S,)
    yield "cross_entropy_loss", losses.cross_entropy_loss, (S, y)
    yield "svm_loss", losses.svm_loss, (S, y)
    yield "squared_svm_loss", losses.squared_svm_loss, (S, y)
    yield "l2_penalty", losses.l2_penalty, (W,)
    yield "l1_penalty", losses.l1_penalty, (W,)
    yield "elastic_net_penalty", losses.elastic_net_penalty, (W, 0.5)
    yield "ridge_fit", losses.ridge_fit, (X, X[:, 0], 0.1)
    yield "softmax_loss_and_grad", gradients.softmax_loss_and_grad, (W, X, y, 0.1)
    yield "svm_loss_and_grad", gradients.svm_loss_and_grad, (W, X, y, 0.1)
    yield "numeric_gradient", gradients.numeric_gradient, (lambda w: float(np.sum(w**2)), W)
    yield "relative_error", gradients.relative_error, (W, 2 * W)
    yield "sgd_step", optim.sgd_step, (W, W, 0.1)
    yield "sgd_momentum_step", optim.sgd_momentum_step, (W, W, W, 0.1)
    yield "adam_step", optim.adam_step, (W, W, W, W**2, 3)
    yield "gradient_descent", optim.gradient_descent, (lambda w: w, W, 0.1, 3)
    loss_and_grad = lambda W, Xb, yb: gradients.softmax_loss_and_grad(W, Xb, yb, 0.0)  # noqa: E731
    yield "minibatch_sgd", optim.minibatch_sgd, (loss_and_grad, W, X, y, 0.1, 4, 3)
    yield (
        "cross_validate",
        search.cross_validate,
        (
            lambda Xt, yt: losses.ridge_fit(Xt, yt, 0.1),
            lambda w, Xv, yv: float(np.mean((Xv @ w - yv) ** 2)),
            X,
            X[:, 0],
            4,
        ),
    )
    yield "choose_ridge_lambda", search.choose_ridge_lambda, (X, X[:, 0], [0.1, 1.0], 4)


@pytest.mark.parametrize(("name", "function", "args"), list(_calls()), ids=lambda x: str(x)[:30])
def test_no_input_is_modified(name: str, function: object, args: tuple[object, ...]) -> None:
    before = [np.copy(a) if isinstance(a, np.ndarray) else None for a in args]
    assert callable(function)
    function(*args)
    for arg, copy in zip(args, before, strict=True):
        if copy is not None:
            assert isinstance(arg, np.ndarray)
            assert np.array_equal(arg, copy), f"{name} modified an argument"


def test_every_assignment_name_is_defined() -> None:
    for module, names in MODULES.items():
        for name in names:
            assert hasattr(REF[module], name), f"solutions/{module}.py lacks {name}"
