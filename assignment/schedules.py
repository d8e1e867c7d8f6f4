"""Learning-rate schedules: the learning rate to use at step (or epoch) ``t = 0, 1, 2, ...``.

Both return a plain number. Use the standard library and NumPy only: no
torch.optim.lr_scheduler in this file.
"""

from __future__ import annotations

import math  # noqa: F401 (your code will use it)


def step_decay(lr0: float, t: int, step_size: int, gamma: float = 0.1) -> float:
    """Step decay: multiply the learning rate by ``gamma`` every ``step_size`` steps.

    ``lr0 * gamma ** (t // step_size)``, as ``torch.optim.lr_scheduler.StepLR``: steps
    ``0 .. step_size - 1`` use ``lr0``, the first decay happens at ``t = step_size``.
    """
    # TODO: implement step_decay as its docstring says.
    # ==== YOUR CODE HERE ====
    raise NotImplementedError("step_decay is not implemented yet")
    # ==== END OF YOUR CODE ====


def cosine_decay(lr0: float, t: int, T: int, lr_min: float = 0.0) -> float:
    """Cosine decay from ``lr0`` at ``t = 0`` down to ``lr_min`` at ``t = T``.

    ``lr_min + (lr0 - lr_min) * (1 + cos(pi * t / T)) / 2`` for ``0 <= t <= T``, and ``lr_min``
    for ``t > T`` (as ``torch.optim.lr_scheduler.CosineAnnealingLR`` within its first period).
    """
    # TODO: implement cosine_decay as its docstring says.
    # ==== YOUR CODE HERE ====
    raise NotImplementedError("cosine_decay is not implemented yet")
    # ==== END OF YOUR CODE ====
