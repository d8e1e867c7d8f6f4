"""The two losses as PyTorch autograd functions with a hand-written backward pass.

Each class implements ``forward`` (compute the loss from the scores, saving what the backward
pass needs with ``ctx.save_for_backward``) and ``backward`` (given ``grad_output``, the gradient
of the final objective with respect to the loss, return the gradient with respect to each input
of ``forward``). Call them through ``apply``::

    loss = SoftmaxCrossEntropy.apply(scores, y)
    loss.backward()  # runs your backward

Rules: no autograd inside ``forward`` or ``backward`` (no ``.backward()``,
``torch.autograd.grad``, nor ``torch.nn.functional`` losses); keep every tensor on the device of
the inputs (do not call ``.cpu()``, ``.cuda()`` or ``.to(device)`` on them) and in the dtype of
``scores``. ``scores`` is ``(N, C)``, ``y`` is ``(N,)`` int64 labels; each loss returns a 0-d
tensor. Both must pass ``torch.autograd.gradcheck`` in float64.
"""

from __future__ import annotations

from typing import Any

import torch


class SoftmaxCrossEntropy(torch.autograd.Function):
    """Mean softmax cross-entropy, equal to ``torch.nn.functional.cross_entropy(scores, y)``."""

    @staticmethod
    def forward(ctx: Any, scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean over rows of ``-log softmax(scores)[i, y_i]``, as a 0-d tensor.

        Use the log-sum-exp trick (shift each row by its max) so that scores up to 1e4 stay
        finite. Save what ``backward`` needs with ``ctx.save_for_backward``.
        """
        # TODO: implement SoftmaxCrossEntropy.forward as its docstring says.
        # ==== YOUR CODE HERE ====
        raise NotImplementedError("SoftmaxCrossEntropy.forward is not implemented yet")
        # ==== END OF YOUR CODE ====

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        """Gradient of the loss for ``scores`` (shape ``(N, C)``), and ``None`` for ``y``.

        ``d loss / d scores = (softmax(scores) - one_hot(y)) / N``, times ``grad_output``.
        """
        # TODO: implement SoftmaxCrossEntropy.backward as its docstring says.
        # ==== YOUR CODE HERE ====
        raise NotImplementedError("SoftmaxCrossEntropy.backward is not implemented yet")
        # ==== END OF YOUR CODE ====


class MulticlassHinge(torch.autograd.Function):
    """Mean multiclass SVM loss (``svm_loss``), equal to
    ``C * torch.nn.functional.multi_margin_loss(scores, y, margin=margin)``."""

    @staticmethod
    def forward(
        ctx: Any, scores: torch.Tensor, y: torch.Tensor, margin: float = 1.0
    ) -> torch.Tensor:
        """Mean over rows of ``sum_{j != y_i} max(0, s_j - s_{y_i} + margin)``, a 0-d tensor.

        At a kink (a term exactly 0) count the term as inactive. Save what ``backward`` needs.
        """
        # TODO: implement MulticlassHinge.forward as its docstring says.
        # ==== YOUR CODE HERE ====
        raise NotImplementedError("MulticlassHinge.forward is not implemented yet")
        # ==== END OF YOUR CODE ====

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        """Gradient of the loss for ``scores``, and ``None`` for ``y`` and ``margin``.

        Each active term adds ``+1 / N`` to ``s_j`` and ``-1 / N`` to ``s_{y_i}``.
        """
        # TODO: implement MulticlassHinge.backward as its docstring says.
        # ==== YOUR CODE HERE ====
        raise NotImplementedError("MulticlassHinge.backward is not implemented yet")
        # ==== END OF YOUR CODE ====
