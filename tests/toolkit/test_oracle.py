"""The store of torch.optim's answers: exactly what torch computes, and all the suites ask for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from grader.authoring import pack
from grader.grading import engine, oracle
from grader.sandbox.host import Mother


def test_the_store_is_what_torch_computes_for_the_suites_inputs(
    tmp_path: Path, mother: Mother
) -> None:
    fresh = tmp_path / "oracle.npz"
    with oracle.record(fresh):  # every answer computed live by torch.optim
        for module in ("optim", "schedules"):
            result = engine.grade(
                pack.active().solutions, engine.Options(only=module), mother=mother
            )
            assert result.score == result.max_score > 0
    stored = oracle.entries()
    with np.load(fresh, allow_pickle=False) as data:
        live = {k: data[k] for k in data.files}
    assert sorted(stored) == sorted(live), (
        "the suites' inputs changed: run python -m grader.grading.oracle"
    )
    for key, answer in live.items():
        np.testing.assert_array_equal(stored[key], answer)


def test_an_input_not_in_the_store_is_computed_live_by_torch() -> None:
    rng = np.random.default_rng(123)
    w0, grads = rng.normal(size=3), rng.normal(size=(4, 3))
    before = oracle.live_calls
    got = oracle.sgd(w0, grads, lr=0.3, momentum=0.7)
    assert oracle.live_calls == before + 1
    p = torch.tensor(w0, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.3, momentum=0.7)
    for g in grads:
        p.grad = torch.tensor(g)
        opt.step()
    np.testing.assert_array_equal(got[-1], p.detach().numpy())
    again = oracle.sgd(w0, grads, lr=0.3, momentum=0.7)  # remembered for this process
    assert oracle.live_calls == before + 1
    np.testing.assert_array_equal(again, got)


def test_adam_answers_are_per_step_not_aliased() -> None:
    w0, grads = np.zeros(2), np.ones((3, 2))
    steps = oracle.adam(w0, grads, lr=0.1, betas=(0.9, 0.999), eps=1e-8)
    assert steps.shape == (3, 3, 2)
    m = steps[:, 1, 0]
    np.testing.assert_allclose(m, [0.1, 0.19, 0.271])  # 1 - 0.9**t, not the last step thrice


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("step", [0.5, 0.5, 0.05, 0.05, 0.005]),
        ("cosine", [1.0, 0.75, 0.25, 0.0]),
    ],
)
def test_schedules_are_torchs(kind: str, expected: list[float]) -> None:
    if kind == "step":
        got = oracle.step_lr(0.5, step_size=2, gamma=0.1, count=5)
    else:
        got = oracle.cosine_lr(1.0, t_max=3, eta_min=0.0, count=4)
    np.testing.assert_allclose(got, expected, atol=1e-12)
