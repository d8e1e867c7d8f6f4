"""Learning-rate schedules: the learning rate to use at step (or epoch) ``t = 0, 1, 2, ...``.

Both return a plain number. Use the standard library and NumPy only: no
torch.optim.lr_scheduler in this file.
"""

from __future__ import annotations

import math


def step_decay(lr0: float, t: int, step_size: int, gamma: float = 0.1) -> float:
    """Step decay: multiply the learning rate by ``gamma`` every ``step_size`` steps.

    ``lr0 * gamma ** (t // step_size)``, as ``torch.optim.lr_scheduler.StepLR``: steps
    ``0 .. step_size - 1`` use ``lr0``, the first decay happens at ``t = step_size``.
    """
    # TODO: implement step_decay as its docstring says.
    # ==== YOUR CODE HERE ====
    # t // step_size counts how many decays have happened by step t.
    return lr0 * gamma ** (t // step_size)
    # ==== END OF YOUR CODE ====


def cosine_decay(lr0: float, t: int, T: int, lr_min: float = 0.0) -> float:
    """Cosine decay from ``lr0`` at ``t = 0`` down to ``lr_min`` at ``t = T``.

    ``lr_min + (lr0 - lr_min) * (1 + cos(pi * t / T)) / 2`` for ``0 <= t <= T``, and ``lr_min``
    for ``t > T`` (as ``torch.optim.lr_scheduler.CosineAnnealingLR`` within its first period).
    """
    # TODO: implement cosine_decay as its docstring says.
    # ==== YOUR CODE HERE ====
    # After T steps the schedule stays at its floor.
    if t > T:
        return lr_min
    # (1 + cos) / 2 glides from 1 at t = 0 to 0 at t = T, slowly at both ends.
    return lr_min + (lr0 - lr_min) * (1 + math.cos(math.pi * t / T)) / 2
    # ==== END OF YOUR CODE ====
