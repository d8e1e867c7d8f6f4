"""Known bugs of the backprop pack: one wrong line of the reference each, and the hint for it.

Trusted (it quotes reference lines): never shipped to students. Used for the hints in feedback
(a variant that reproduces the student's answer names its bug) and as the bug corpus (each
variant must lose points in tests of its own function and nowhere else).

``old`` is a substring of exactly one line of ``solutions/<file>``; ``new`` replaces it. Hints
speak to the student: the symptom, and where to look, not the fix's code.
"""

from __future__ import annotations

from grader.testing import Bug

LAYERS, NET = "layers.py", "net.py"

BUGS: list[Bug] = [
    # -- affine_forward ------------------------------------------------------------------------
    Bug(
        "affine-no-bias",
        "affine_forward",
        LAYERS,
        "return x @ w + b",
        "return x @ w",
        "every output differs from the expected one by the same amount in each column: the bias "
        "b is part of the affine layer, one entry per output unit, added to every example.",
    ),
    # -- affine_backward -----------------------------------------------------------------------
    Bug(
        "affine-dw-no-transpose",
        "affine_backward",
        LAYERS,
        "dw = x.T @ dout",
        "dw = x @ dout",
        "dw fails (a shape error) or comes out wrong: dw must have the shape of w, (D, M), and "
        "each entry dw[d, m] sums x[n, d] * dout[n, m] over the examples n. Check which axes "
        "your matrix product contracts.",
    ),
    Bug(
        "affine-db-mean",
        "affine_backward",
        LAYERS,
        "db = np.sum(dout, axis=0)",
        "db = np.mean(dout, axis=0)",
        "db is too small by a factor N (the number of examples): the same bias is used by every "
        "row, so each row's upstream gradient adds to it in full; nothing is averaged here.",
    ),
    # -- relu_forward --------------------------------------------------------------------------
    Bug(
        "relu-forward-in-place",
        "relu_forward",
        LAYERS,
        "return np.maximum(0, x)",
        "return np.maximum(0, x, out=x)",
        "your relu overwrites its input x: the backward pass needs the original x (which units "
        "were off), so return a new array and leave x as it was.",
        fingerprint=False,  # its output is right; only the check of x says what is wrong
    ),
    # -- relu_backward -------------------------------------------------------------------------
    Bug(
        "relu-backward-inverted",
        "relu_backward",
        LAYERS,
        "dx = np.where(x > 0, dout, 0.0)",
        "dx = np.where(x < 0, dout, 0.0)",
        "your dx is non-zero exactly where it should be 0: the gradient flows through the units "
        "that were on in the forward pass (x > 0) and is blocked where they were off.",
    ),
    Bug(
        "relu-backward-kink",
        "relu_backward",
        LAYERS,
        "dx = np.where(x > 0, dout, 0.0)",
        "dx = np.where(x >= 0, dout, 0.0)",
        "your dx is wrong only where x is exactly 0: at the kink use the subgradient 0 (a unit "
        "at 0 is off), as torch.relu does.",
    ),
    # -- two_layer_loss ------------------------------------------------------------------------
    Bug(
        "net-loss-sum",
        "two_layer_loss",
        NET,
        "data_loss = -np.sum(log_probs[rows, y]) / N",
        "data_loss = -np.sum(log_probs[rows, y])",
        "your loss is too large: its data part is N times the expected one (N examples). The "
        "data loss is the mean of the examples' cross-entropies, not their sum.",
    ),
    Bug(
        "net-softmax-no-shift",
        "two_layer_loss",
        NET,
        "shifted = scores - np.max(scores, axis=1, keepdims=True)",
        "shifted = scores",
        "large scores give nan or inf: np.exp overflows above about 709. Subtract each row's "
        "largest score before exponentiating; the softmax does not change when a row is shifted.",
    ),
    Bug(
        "net-reg-grad-no-2",
        "two_layer_loss",
        NET,
        "dW2 = dW2 + 2 * reg * W2",
        "dW2 = dW2 + reg * W2",
        "grads['W2'] is wrong only when reg > 0, by a multiple of W2: the derivative of "
        "reg * sum(W2**2) is twice what your code adds.",
    ),
    Bug(
        "net-backward-skips-relu",
        "two_layer_loss",
        NET,
        "_, dW1, db1 = affine_backward(da1, X, W1, b1)",
        "_, dW1, db1 = affine_backward(dh1, X, W1, b1)",
        "grads['W1'] and grads['b1'] are wrong while W2's and b2's are right: on the way back "
        "from the hidden layer the gradient must pass through the ReLU (blocked at the units "
        "that were off) before the first affine layer.",
    ),
]
