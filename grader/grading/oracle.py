"""torch.optim as the oracle of a pack's optimizer and schedule suites, its answers kept on disk.

Suites check students' optimizer steps and their learning rates over time against torch.optim run on
the same inputs (``grader.testing`` exports ``sgd``, ``adam``, ``step_lr``, ``cosine_lr``).
Building the first torch optimizer imports ``torch._dynamo``: about a second, a fifth of
grading this repository's reference. The suites' inputs are fixed (seeded, and Hypothesis is
derandomized), so torch's answers to them are computed once, by ``python -m grader.grading.oracle``,
into the pack's ``tests/grading/oracle.npz``; a grading looks each answer up by a digest of
its inputs and runs torch only for an input it has not seen (a pack without a store works,
at that cost).

The store holds numbers that torch computed, nothing else: ``tests/toolkit/test_oracle.py``
recomputes every entry with torch and checks that grading the reference needs no live call
(so a suite whose inputs changed fails until the store is rebuilt). It is trusted data, read
with ``allow_pickle=False``, and never shipped to students (they get torch live).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from grader.authoring import pack


def store() -> Path:
    """The active pack's store (``<suites>/oracle.npz``)."""
    return pack.active().oracle_store


_store: dict[str, np.ndarray] | None = None
#: answers computed live in this process, by digest (written out by ``record``)
_new: dict[str, np.ndarray] = {}
#: how many answers this process had to compute live (the store's coverage test reads it)
live_calls = 0
#: Whether ``record`` is collecting (the answers computed live stay in this process: a sharded
#: grading runs serially then, grader.grading.shard).
recording = False


def sgd(w0: np.ndarray, grads: Sequence[np.ndarray], lr: float, momentum: float) -> np.ndarray:
    """The weights after each step of ``torch.optim.SGD(momentum=..., dampening=0)``.

    Shape ``(len(grads), *w0.shape)``, float64.
    """
    args = {"lr": float(lr), "momentum": float(momentum)}
    return _answer("sgd", args, w0, grads, _torch_sgd)


def adam(
    w0: np.ndarray,
    grads: Sequence[np.ndarray],
    lr: float,
    betas: tuple[float, float],
    eps: float,
) -> np.ndarray:
    """``(w, exp_avg, exp_avg_sq)`` after each step of ``torch.optim.Adam``.

    Shape ``(len(grads), 3, *w0.shape)``, float64.
    """
    args = {"lr": float(lr), "betas": [float(b) for b in betas], "eps": float(eps)}
    return _answer("adam", args, w0, grads, _torch_adam)


def step_lr(lr0: float, step_size: int, gamma: float, count: int) -> np.ndarray:
    """The learning rate at t = 0 .. count-1 under ``StepLR``, stepped once per t."""
    args = {"lr0": float(lr0), "step_size": int(step_size), "gamma": float(gamma), "n": count}
    return _answer("step_lr", args, None, (), _torch_schedule)


def cosine_lr(lr0: float, t_max: int, eta_min: float, count: int) -> np.ndarray:
    """The learning rate at t = 0 .. count-1 under ``CosineAnnealingLR``, stepped once per t."""
    args = {"lr0": float(lr0), "T_max": int(t_max), "eta_min": float(eta_min), "n": count}
    return _answer("cosine_lr", args, None, (), _torch_schedule)


# -- the store ------------------------------------------------------------------------------------


def digest(kind: str, args: dict[str, Any], w0: Any, grads: Sequence[Any]) -> str:
    """A digest of everything the answer depends on (floats by their exact bits)."""
    h = hashlib.sha256(json.dumps([kind, args], sort_keys=True).encode())
    for a in ([] if w0 is None else [w0]) + list(grads):
        arr = np.ascontiguousarray(np.asarray(a, dtype=np.float64))
        h.update(repr(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()[:32]


def _answer(
    kind: str, args: dict[str, Any], w0: Any, grads: Sequence[Any], live: Any
) -> np.ndarray:
    global live_calls
    key = digest(kind, args, w0, grads)
    found = _load().get(key)
    if found is None:
        found = _new.get(key)
    if found is None:
        live_calls += 1
        found = np.asarray(live(kind, args, w0, grads), dtype=np.float64)
        _new[key] = found
    answer: np.ndarray = found.copy()
    return answer


def _load() -> dict[str, np.ndarray]:
    global _store
    if _store is None:
        _store = {}
        if store().is_file():
            with np.load(store(), allow_pickle=False) as data:
                _store = {k: data[k] for k in data.files}
    return _store


def entries() -> dict[str, np.ndarray]:
    """Everything in the store (for its test)."""
    return dict(_load())


@contextlib.contextmanager
def record(path: Path | None = None) -> Iterator[None]:
    """Collect the answers computed in the block, then write exactly those to ``path``
    (default: the active pack's store)."""
    global _store, recording
    path = store() if path is None else path
    saved, _store = _store, {}
    _new.clear()
    recording = True
    try:
        yield
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".oracle-", suffix=".npz")
        with os.fdopen(fd, "wb") as f:
            arrays: dict[str, Any] = dict(sorted(_new.items()))
            np.savez_compressed(f, **arrays)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        recording = False
        _store = saved if path != store() else None
        _new.clear()


# -- torch, live -----------------------------------------------------------------------------------


def _torch_sgd(kind: str, args: dict[str, Any], w0: Any, grads: Sequence[Any]) -> np.ndarray:
    import torch

    p = torch.tensor(np.asarray(w0, dtype=np.float64), requires_grad=True)
    opt = torch.optim.SGD([p], lr=args["lr"], momentum=args["momentum"], dampening=0.0)
    out = []
    for g in grads:
        p.grad = torch.tensor(np.asarray(g, dtype=np.float64))
        opt.step()
        out.append(p.detach().numpy().copy())
    return np.array(out)


def _torch_adam(kind: str, args: dict[str, Any], w0: Any, grads: Sequence[Any]) -> np.ndarray:
    import torch

    p = torch.tensor(np.asarray(w0, dtype=np.float64), requires_grad=True)
    betas = tuple(args["betas"])
    opt = torch.optim.Adam([p], lr=args["lr"], betas=betas, eps=args["eps"], foreach=False)
    out = []
    for g in grads:
        p.grad = torch.tensor(np.asarray(g, dtype=np.float64))
        opt.step()
        state = opt.state[p]
        out.append(
            # copies: torch updates its state tensors in place at every step
            [
                p.detach().numpy().copy(),
                state["exp_avg"].numpy().copy(),
                state["exp_avg_sq"].numpy().copy(),
            ]
        )
    return np.array(out)


def _torch_schedule(kind: str, args: dict[str, Any], w0: Any, grads: Sequence[Any]) -> np.ndarray:
    import torch

    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=args["lr0"])
    scheduler: Any
    if kind == "step_lr":
        scheduler = torch.optim.lr_scheduler.StepLR(
            opt, step_size=args["step_size"], gamma=args["gamma"]
        )
    else:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=args["T_max"], eta_min=args["eta_min"]
        )
    lrs = []
    for _ in range(args["n"]):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return np.array(lrs, dtype=np.float64)


def main(argv: Sequence[str] | None = None) -> int:
    """Rebuild the store: grade the reference with every answer computed live by torch."""
    from grader.grading import engine

    with record():
        result = engine.grade(pack.active().solutions)
    if result.grader_error is not None or result.score != result.max_score:
        print(result.grader_error or "the reference did not get full marks", file=sys.stderr)
        return 1
    print(f"{store()}: {len(entries())} answers of torch.optim")
    return 0


if __name__ == "__main__":
    # Through the imported module: the suites record into grader.grading.oracle, not into __main__.
    import importlib

    sys.exit(importlib.import_module("grader.grading.oracle").main())
