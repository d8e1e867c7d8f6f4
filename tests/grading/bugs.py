"""The library of known bugs: one wrong line of the reference each, with what to tell the student.

Trusted (it quotes reference lines): never shipped to students. Two uses:

* ``grader.grading.feedback.diagnose`` runs every variant of a failing function on the failing input; if
  one reproduces the student's answer, its ``hint`` goes into the feedback (``fingerprint=True``);
* ``tests/toolkit/test_bug_corpus.py`` grades every variant as a submission: each must lose
  points on a test of its own function and nowhere else.

``old`` is a substring of exactly one line of ``solutions/<file>``; ``new`` replaces it. Where the
line a student would get wrong is shared word for word by two functions of the same file (the
final ``dW = X.T @ dscores + 2 * reg * W`` of both gradients, the ``if ... < best_value`` of both
searches), the bug is written on a neighbouring comment line of the right function as a
statement with exactly the same effect (``reg = reg / 2`` before the shared line gives a gradient
with ``reg * W``); those are marked "same effect as" below.

Hints speak to the student: the symptom, and where to look, without the fix's code.
``fingerprint=False`` where the variant's output says nothing specific (it crashes, or it
coincides with another bug's output on typical inputs).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.testing import Bug, Probe

L, G, OPT, S, H, T = (
    "losses.py",
    "gradients.py",
    "optim.py",
    "schedules.py",
    "search.py",
    "torch_losses.py",
)

#: Hints of the numerical-stability mistakes of the softmax losses, shared by the functions that
#: compute one (each bug below is one of them, or two of them together).
NO_SHIFT = (
    "large scores overflow `np.exp` (exp(710) is already inf), so your loss is inf or nan: "
    "shift each row of scores by its own maximum before exponentiating (softmax does not change)."
)
GLOBAL_MAX = (
    "your loss is inf or nan when one row's scores are far below another row's: you shift every "
    "row by the largest score of the whole matrix, so all of a low row's exponentials underflow "
    "to 0; each row needs its own maximum."
)
LOG_OF_PROBABILITY = (
    "you shift each row by its maximum, but your loss is still inf when the correct class scores "
    "far below the best one in its row: its probability underflows to 0 and you take the log of "
    "that 0. Look at where you take the log: get the log-probabilities from the shifted scores "
    "themselves (the log-sum-exp trick), never as the log of a probability."
)
ONE_HOT_LOG = (
    "your loss is nan (or inf) when some class scores far below the best one in its row, although "
    "you shift each row by its maximum: that class's probability underflows to 0, its log is -inf, "
    "and your one-hot mask's 0 times -inf is nan. Look at where you take the log: get the "
    "log-probabilities from the shifted scores themselves (the log-sum-exp trick), never as the "
    "log of a probability, and take only the correct class's entry of each row."
)
THEN_LOG = (
    "Even with that fixed, taking the log of a probability gives inf when the correct class "
    "scores far below the best one (its probability underflows to 0): get the log-probabilities "
    "from the shifted scores themselves (the log-sum-exp trick)."
)
HALF_REG = (
    "you use the 1/2 convention for the penalty: this assignment's regularized loss is "
    "reg * sum(W**2) without a factor 1/2, so your loss's penalty is half the expected one and "
    "your dW's is reg * W instead of its derivative 2 * reg * W."
)


def together(id: str, *parts: Bug, hint: str = "") -> Bug:
    """The mistakes of ``parts`` made together in one function: the edits of all of them, and
    their hints one after the other unless ``hint`` says it in one."""
    first = parts[0]
    assert all(b.function == first.function and b.file == first.file for b in parts)
    edits = tuple(e for b in parts for e in b.edits)
    return Bug(
        id,
        first.function,
        first.file,
        edits[0][0],
        edits[0][1],
        hint or " Also: ".join(b.hint for b in parts),
        also=edits[1:],
    )


BUGS: list[Bug] = [
    # -- softmax -------------------------------------------------------------------------------
    Bug(
        "softmax-no-shift",
        "softmax",
        L,
        "shifted = scores - np.max(scores, axis=1, keepdims=True)",
        "shifted = scores",
        "large scores overflow `np.exp` (exp(710) is already inf): make every row's largest "
        "score 0 before exponentiating; softmax does not change when a row is shifted.",
    ),
    Bug(
        "softmax-global-max",
        "softmax",
        L,
        "shifted = scores - np.max(scores, axis=1, keepdims=True)",
        "shifted = scores - np.max(scores)",
        "rows whose scores are far below the other rows' come out as nan: you shift every row by "
        "the same number (the largest score of the whole array); each row needs its own maximum.",
    ),
    Bug(
        "softmax-normalize-columns",
        "softmax",
        L,
        "exp_scores / np.sum(exp_scores, axis=1, keepdims=True)",
        "exp_scores / np.sum(exp_scores, axis=0, keepdims=True)",
        "your columns sum to 1, not your rows: each example is a row, so normalize along the "
        "class axis (axis=1).",
    ),
    Bug(
        "softmax-no-keepdims",
        "softmax",
        L,
        "exp_scores / np.sum(exp_scores, axis=1, keepdims=True)",
        "exp_scores / np.sum(exp_scores, axis=1)",
        "the row sums broadcast along the wrong axis (a shape (N,) array divides the columns): "
        "keep the summed axis so that each row is divided by its own sum.",
    ),
    # -- cross_entropy_loss --------------------------------------------------------------------
    Bug(
        "ce-log-of-probability",
        "cross_entropy_loss",
        L,
        "log_probs = scores - log_sum_exp",
        "log_probs = np.log(np.exp(scores - row_max) / np.exp(scores - row_max).sum(axis=1, "
        "keepdims=True))",
        LOG_OF_PROBABILITY,
    ),
    Bug(
        "ce-no-shift",
        "cross_entropy_loss",
        L,
        "log_sum_exp = row_max + np.log(np.sum(np.exp(scores - row_max), axis=1, keepdims=True))",
        "log_sum_exp = np.log(np.sum(np.exp(scores), axis=1, keepdims=True))",
        "large scores overflow `np.exp` and the loss becomes inf or nan: use the log-sum-exp "
        "trick (shift each row by its maximum, then add the maximum back).",
    ),
    Bug(
        # The usual first attempt: probabilities from unshifted scores, then their log.
        "ce-no-shift-log-of-probability",
        "cross_entropy_loss",
        L,
        "log_probs = scores - log_sum_exp",
        "log_probs = np.log(np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True))",
        NO_SHIFT + " " + THEN_LOG,
    ),
    Bug(
        # CS231n's `f -= np.max(f)` (the whole matrix), then the log of the probability.
        "ce-global-max-log-of-probability",
        "cross_entropy_loss",
        L,
        "log_probs = scores - log_sum_exp",
        "log_probs = np.log(np.exp(scores - np.max(scores)) / np.exp(scores - np.max(scores))"
        ".sum(axis=1, keepdims=True))",
        GLOBAL_MAX + " " + THEN_LOG,
    ),
    Bug(
        # log(p) of every class, summed under a one-hot mask: 0 * log(0) is nan
        "ce-log-of-probability-one-hot",
        "cross_entropy_loss",
        L,
        "log_probs = scores - log_sum_exp",
        "log_probs = np.log(np.exp(scores - row_max) / np.exp(scores - row_max).sum(axis=1, "
        "keepdims=True))",
        ONE_HOT_LOG,
        also=(
            (
                "return float(-np.mean(log_probs[rows, y]))",
                "return float(-np.sum(np.eye(scores.shape[1])[y] * log_probs) / N)",
            ),
        ),
    ),
    Bug(
        "ce-shift-not-added-back",
        "cross_entropy_loss",
        L,
        "log_sum_exp = row_max + np.log(",
        "log_sum_exp = np.log(",
        "your log-sum-exp is off by each row's largest score: after shifting the scores by the "
        "row maximum, add that maximum back (log sum exp(s) = m + log sum exp(s - m)).",
    ),
    Bug(
        "ce-sum-not-mean",
        "cross_entropy_loss",
        L,
        "return float(-np.mean(log_probs[rows, y]))",
        "return float(-np.sum(log_probs[rows, y]))",
        "your loss is N times too large (N = number of examples): the loss is the mean over "
        "examples, not the sum.",
    ),
    Bug(
        "ce-every-label-column",
        "cross_entropy_loss",
        L,
        "return float(-np.mean(log_probs[rows, y]))",
        "return float(-np.mean(log_probs[:, y]))",
        "your loss averages more than one entry per example: for row i take only the "
        "log-probability of its own label y[i] (index rows and labels together).",
    ),
    Bug(
        "ce-sign",
        "cross_entropy_loss",
        L,
        "return float(-np.mean(log_probs[rows, y]))",
        "return float(np.mean(log_probs[rows, y]))",
        "your loss is negative: cross-entropy is minus the log-probability of the correct "
        "class, and it is never below 0.",
    ),
    Bug(
        # A real class (issue 16): `f -= np.max(f)` shifts every row by the array's largest score.
        "ce-global-max",
        "cross_entropy_loss",
        L,
        "row_max = np.max(scores, axis=1, keepdims=True)",
        "row_max = np.max(scores)",
        "your loss is -inf (or nan) when one row's scores are far below another row's: you shift "
        "every row by the largest score of the whole array, so a low row's exponentials all "
        "underflow to 0; shift each row by its own maximum (axis=1) and add that back.",
    ),
    # -- svm_loss --------------------------------------------------------------------------------
    Bug(
        "svm-includes-correct-class",
        "svm_loss",
        L,
        "return float(np.sum(margins) / N)",
        "return float(np.sum(np.maximum(0, scores - correct + margin)) / N)",
        "your loss is exactly `margin` too high per example: the sum must skip j = y_i.",
    ),
    Bug(
        "svm-sum-not-mean",
        "svm_loss",
        L,
        "return float(np.sum(margins) / N)",
        "return float(np.sum(margins))",
        "your loss is N times too large (N = number of examples): average the per-example "
        "losses over the examples.",
    ),
    Bug(
        "svm-mean-over-all-entries",
        "svm_loss",
        L,
        "return float(np.sum(margins) / N)",
        "return float(np.mean(margins))",
        "your loss is C times too small (C = number of classes): sum the terms over the classes, "
        "then average over the examples only.",
    ),
    Bug(
        "svm-max-not-sum",
        "svm_loss",
        L,
        "return float(np.sum(margins) / N)",
        "return float(np.sum(np.max(margins, axis=1)) / N)",
        "your loss counts only the worst wrong class of each example: the multiclass SVM loss "
        "adds up the terms of every wrong class.",
    ),
    Bug(
        # same effect as writing `+ 1` for `+ margin` in svm_loss's margins line
        "svm-margin-hardcoded",
        "svm_loss",
        L,
        "# How far each wrong class comes within",
        "margin = 1.0  #",
        "your loss is right for margin=1 but ignores other values of `margin`: use the "
        "argument, not the constant 1.",
    ),
    # -- squared_svm_loss ------------------------------------------------------------------------
    Bug(
        "sqsvm-not-squared",
        "squared_svm_loss",
        L,
        "return float(np.sum(margins**2) / N)",
        "return float(np.sum(margins) / N)",
        "your result equals the plain hinge loss: square each term max(0, ...) before adding "
        "the terms up.",
    ),
    Bug(
        "sqsvm-square-of-sum",
        "squared_svm_loss",
        L,
        "return float(np.sum(margins**2) / N)",
        "return float(np.sum(margins) ** 2 / N)",
        "you square the total instead of each term: the squared hinge loss is a sum of squares, "
        "not the square of a sum.",
    ),
    Bug(
        "sqsvm-includes-correct-class",
        "squared_svm_loss",
        L,
        "return float(np.sum(margins**2) / N)",
        "return float(np.sum(np.maximum(0, scores - correct + margin) ** 2) / N)",
        "your loss is exactly `margin**2` too high per example: the sum must skip j = y_i.",
    ),
    Bug(
        "sqsvm-sum-not-mean",
        "squared_svm_loss",
        L,
        "return float(np.sum(margins**2) / N)",
        "return float(np.sum(margins**2))",
        "your loss is N times too large (N = number of examples): average over the examples.",
    ),
    # -- penalties -------------------------------------------------------------------------------
    Bug(
        "l2-norm-not-squared",
        "l2_penalty",
        L,
        "return float(np.sum(W * W))",
        "return float(np.sqrt(np.sum(W * W)))",
        "you return the Euclidean norm of W; the L2 penalty is the sum of the squares (no "
        "square root).",
    ),
    Bug(
        "l2-half",
        "l2_penalty",
        L,
        "return float(np.sum(W * W))",
        "return float(0.5 * np.sum(W * W))",
        "your penalty is exactly half the expected one: this assignment's R(W) has no factor 1/2.",
    ),
    Bug(
        "l1-no-abs",
        "l1_penalty",
        L,
        "return float(np.sum(np.abs(W)))",
        "return float(np.sum(W))",
        "negative weights reduce your penalty: L1 adds up the absolute values of the weights.",
    ),
    Bug(
        "l1-abs-of-sum",
        "l1_penalty",
        L,
        "return float(np.sum(np.abs(W)))",
        "return float(np.abs(np.sum(W)))",
        "positive and negative weights cancel in your penalty: take the absolute value of each "
        "weight before adding them up.",
    ),
    Bug(
        "elastic-beta-on-l1",
        "elastic_net_penalty",
        L,
        "return float(np.sum(beta * W * W + np.abs(W)))",
        "return float(np.sum(W * W + beta * np.abs(W)))",
        "`beta` weighs the wrong term: in this assignment's (the slide's) form it multiplies "
        "the squared weights, and the absolute values have weight 1.",
    ),
    Bug(
        "elastic-beta-on-both",
        "elastic_net_penalty",
        L,
        "return float(np.sum(beta * W * W + np.abs(W)))",
        "return float(np.sum(beta * (W * W + np.abs(W))))",
        "`beta` multiplies both terms: only the squared term is weighted by beta.",
    ),
    Bug(
        "elastic-no-abs",
        "elastic_net_penalty",
        L,
        "return float(np.sum(beta * W * W + np.abs(W)))",
        "return float(np.sum(beta * W * W + W))",
        "negative weights reduce your penalty: the L1 part adds up absolute values.",
    ),
    # -- ridge_fit -------------------------------------------------------------------------------
    Bug(
        "ridge-ignores-lam",
        "ridge_fit",
        L,
        "return np.linalg.solve(A, b)",
        "return np.linalg.solve(X.T @ X, b)",
        "your weights do not change with `lam`: the penalty adds lam to the diagonal of the "
        "matrix of the normal equations.",
    ),
    Bug(
        "ridge-lam-everywhere",
        "ridge_fit",
        L,
        "A = X.T @ X + lam * np.eye(D)",
        "A = X.T @ X + lam",
        "you add lam to every entry of X^T X; the penalty belongs on the diagonal only "
        "(lam times the identity).",
    ),
    Bug(
        "ridge-lam-times-2n",
        "ridge_fit",
        L,
        "A = X.T @ X + lam * np.eye(D)",
        "A = X.T @ X + 2 * X.shape[0] * lam * np.eye(D)",
        "your penalty is scaled by 2N: this assignment's objective is ||y - Xw||^2 + lam ||w||^2 "
        "(a sum, not a mean, of squared errors), so the diagonal gets lam itself.",
    ),
    # -- softmax_loss_and_grad -------------------------------------------------------------------
    Bug(
        "smgrad-no-shift",
        "softmax_loss_and_grad",
        G,
        "shifted = scores - np.max(scores, axis=1, keepdims=True)",
        "shifted = scores",
        "large scores overflow `np.exp` and give nan: shift each row of scores by its maximum "
        "before exponentiating.",
    ),
    Bug(
        "smgrad-missing-one-hot",
        "softmax_loss_and_grad",
        G,
        "dscores[rows, y] -= 1",
        "pass",
        "the gradient of the scores is the probabilities minus the one-hot labels: the correct "
        "class's column of your dW misses its minus-one part, so the data part of dW does not "
        "add up to zero across classes.",
    ),
    Bug(
        # same effect as forgetting `dscores /= N`
        "smgrad-grad-not-averaged",
        "softmax_loss_and_grad",
        G,
        "# d loss / d scores = (probabilities - one_hot(y)) / N.",
        "N = 1",
        "your dW (data part) is N times too large: the loss is a mean over the examples, so "
        "its gradient is one too.",
    ),
    Bug(
        "smgrad-loss-sum",
        "softmax_loss_and_grad",
        G,
        "loss = -np.mean(log_probs[rows, y]) + reg * np.sum(W * W)",
        "loss = -np.sum(log_probs[rows, y]) + reg * np.sum(W * W)",
        "your loss (data part) is N times too large: average over the examples.",
    ),
    Bug(
        "smgrad-loss-half-reg",
        "softmax_loss_and_grad",
        G,
        "loss = -np.mean(log_probs[rows, y]) + reg * np.sum(W * W)",
        "loss = -np.mean(log_probs[rows, y]) + 0.5 * reg * np.sum(W * W)",
        "your loss's regularization term is half the expected one: it is reg * sum(W**2), "
        "without a factor 1/2.",
    ),
    Bug(
        # same effect as `dW = X.T @ dscores + reg * W`
        "smgrad-reg-grad-1x",
        "softmax_loss_and_grad",
        G,
        "# Backprop through scores = X @ W, then add the penalty's gradient.",
        "reg = reg / 2",
        "the regularization part of your dW is half what it should be: the derivative of "
        "reg * sum(W**2) is 2 * reg * W.",
    ),
    Bug(
        # A real class (issue 16): CS231n-style `f -= np.max(f)` over the whole score matrix.
        "smgrad-global-max",
        "softmax_loss_and_grad",
        G,
        "shifted = scores - np.max(scores, axis=1, keepdims=True)",
        "shifted = scores - np.max(scores)",
        "your loss is -inf and your dW nan for rows whose scores are far below another row's: "
        "you shift every row by the largest score of the whole matrix, so a low row's "
        "exponentials all underflow to 0; shift each row by its own maximum (axis=1).",
    ),
    Bug(
        # Rows shifted by their maximum, then the log of the normalized probability.
        "smgrad-log-of-probability",
        "softmax_loss_and_grad",
        G,
        "log_probs = shifted - np.log(sum_exp)",
        "log_probs = np.log(exp_scores / sum_exp)",
        LOG_OF_PROBABILITY,
    ),
    Bug(
        "smgrad-no-reg-in-loss",
        "softmax_loss_and_grad",
        G,
        "loss = -np.mean(log_probs[rows, y]) + reg * np.sum(W * W)",
        "loss = -np.mean(log_probs[rows, y])",
        "your loss leaves out the regularization: it is the data loss plus reg * sum(W**2) "
        "(your dW has its term; your loss does not).",
    ),
    Bug(
        # same effect as `dW = X.T @ dscores`
        "smgrad-no-reg-in-grad",
        "softmax_loss_and_grad",
        G,
        "# Backprop through scores = X @ W, then add the penalty's gradient.",
        "reg = 0",
        "your dW leaves out the regularization's gradient (your loss has the penalty, so its "
        "gradient needs the penalty's derivative too).",
    ),
    Bug(
        "smgrad-reg-without-reg",
        "softmax_loss_and_grad",
        G,
        "loss = -np.mean(log_probs[rows, y]) + reg * np.sum(W * W)",
        "loss = -np.mean(log_probs[rows, y]) + np.sum(W * W)",
        "your loss's penalty does not depend on `reg`: the regularization term is reg times "
        "sum(W**2).",
    ),
    Bug(
        "smgrad-reg-w-dot-wt",
        "softmax_loss_and_grad",
        G,
        "loss = -np.mean(log_probs[rows, y]) + reg * np.sum(W * W)",
        "loss = -np.mean(log_probs[rows, y]) + reg * np.sum(W.dot(W.T))",
        "your loss's penalty is not reg * sum(W**2): sum the squares of the entries of W "
        "(elementwise), not the entries of a matrix product of W with itself.",
    ),
    Bug(
        "smgrad-reg-norm-not-squared",
        "softmax_loss_and_grad",
        G,
        "loss = -np.mean(log_probs[rows, y]) + reg * np.sum(W * W)",
        "loss = -np.mean(log_probs[rows, y]) + reg * np.linalg.norm(W)",
        "your loss's penalty is reg times the norm of W, not times its square: the penalty is "
        "reg * sum(W**2), the sum of the squared entries (no square root).",
    ),
    Bug(
        "smgrad-reg-l1",
        "softmax_loss_and_grad",
        G,
        "loss = -np.mean(log_probs[rows, y]) + reg * np.sum(W * W)",
        "loss = -np.mean(log_probs[rows, y]) + reg * np.sum(np.abs(W))",
        "your loss's penalty is the L1 one, reg times the sum of |W|: this loss uses the L2 "
        "penalty reg * sum(W**2) (and your dW has the L2 penalty's gradient).",
    ),
    Bug(
        # log(p) of every class, summed under a one-hot mask: 0 * log(0) is nan
        "smgrad-log-of-probability-one-hot",
        "softmax_loss_and_grad",
        G,
        "log_probs = shifted - np.log(sum_exp)",
        "log_probs = np.log(exp_scores / sum_exp)",
        ONE_HOT_LOG,
        also=(
            (
                "loss = -np.mean(log_probs[rows, y]) + reg * np.sum(W * W)",
                "loss = -np.sum(np.eye(W.shape[1])[y] * log_probs) / N + reg * np.sum(W * W)",
            ),
        ),
    ),
    # -- svm_loss_and_grad -----------------------------------------------------------------------
    Bug(
        "svmgrad-missing-correct-column",
        "svm_loss_and_grad",
        G,
        "dscores[rows, y] = -np.sum(active, axis=1)",
        "pass",
        "your dW misses the correct class's part: every violated margin also pushes the score "
        "of the correct class y_i down, so its column gets -x_i once per violation.",
    ),
    Bug(
        "svmgrad-correct-column-sign",
        "svm_loss_and_grad",
        G,
        "dscores[rows, y] = -np.sum(active, axis=1)",
        "dscores[rows, y] = np.sum(active, axis=1)",
        "the correct class's column of your dW has the wrong sign: raising s_{y_i} lowers the "
        "loss.",
    ),
    Bug(
        "svmgrad-kink-active",
        "svm_loss_and_grad",
        G,
        "active = (margins > 0).astype(scores.dtype)",
        "active = (margins >= 0).astype(scores.dtype)",
        "you count terms with margin exactly 0 as active (including the correct class's own "
        "zeroed term): only terms strictly greater than 0 contribute to the gradient.",
    ),
    Bug(
        "svmgrad-includes-correct-class",
        "svm_loss_and_grad",
        G,
        "margins[rows, y] = 0",
        "pass",
        "your loss is `margin` too high per example and your gradient counts the correct class "
        "as a violation of itself: the sum must skip j = y_i.",
    ),
    Bug(
        "svmgrad-margin-hardcoded",
        "svm_loss_and_grad",
        G,
        "margins = np.maximum(0, scores - correct + margin)",
        "margins = np.maximum(0, scores - correct + 1)",
        "your loss and gradient are right for margin=1 but ignore other values of `margin`.",
    ),
    Bug(
        # same effect as `dW = X.T @ dscores + reg * W`
        "svmgrad-reg-grad-1x",
        "svm_loss_and_grad",
        G,
        "# Each violated margin (strictly > 0) pushes",
        "reg = reg / 2  #",
        "the regularization part of your dW is half what it should be: the derivative of "
        "reg * sum(W**2) is 2 * reg * W.",
    ),
    Bug(
        # same effect as forgetting `dscores /= N`
        "svmgrad-grad-not-averaged",
        "svm_loss_and_grad",
        G,
        "# ... and the correct class's score down by 1",
        "N = 1  #",
        "your dW (data part) is N times too large: the loss is a mean over the examples, so "
        "its gradient is one too.",
    ),
    Bug(
        # A real class (issue 16): the loss uses `margin > 0`, the gradient `>= 0` on the raw
        # margins (the correct class excluded), so only terms exactly at a kink differ.
        "svmgrad-kink-active-in-grad",
        "svm_loss_and_grad",
        G,
        "active = (margins > 0).astype(scores.dtype)",
        "active = ((scores - correct + margin >= 0) & (np.arange(scores.shape[1]) != y[:, None]))"
        ".astype(scores.dtype)",
        "at a kink (a term with s_j - s_{y_i} + margin exactly 0) your gradient counts the term "
        "as active, while your loss (max(0, .)) does not: the gradient must use the same strict "
        "> 0, so a term at its kink adds nothing to dW.",
    ),
    Bug(
        "svmgrad-loss-half-reg",
        "svm_loss_and_grad",
        G,
        "loss = np.sum(margins) / N + reg * np.sum(W * W)",
        "loss = np.sum(margins) / N + 0.5 * reg * np.sum(W * W)",
        "your loss's regularization term is half the expected one: it is reg * sum(W**2), "
        "without a factor 1/2.",
    ),
    Bug(
        # same effect as `dW += 0.5 * reg * W`
        "svmgrad-reg-grad-half",
        "svm_loss_and_grad",
        G,
        "# Each violated margin (strictly > 0) pushes",
        "reg = reg / 4  #",
        "the regularization part of your dW is a quarter of what it should be (0.5 * reg * W): "
        "the derivative of reg * sum(W**2) is 2 * reg * W.",
    ),
    Bug(
        # same effect as adding 2 * reg * W to dW before dividing it by N
        "svmgrad-reg-grad-averaged",
        "svm_loss_and_grad",
        G,
        "# Each violated margin (strictly > 0) pushes",
        "reg = reg / N  #",
        "the regularization part of your dW is divided by N (the number of examples): only the "
        "data part is a mean over the examples; add the penalty's gradient after averaging.",
    ),
    Bug(
        "svmgrad-no-reg-in-loss",
        "svm_loss_and_grad",
        G,
        "loss = np.sum(margins) / N + reg * np.sum(W * W)",
        "loss = np.sum(margins) / N",
        "your loss leaves out the regularization: it is the data loss plus reg * sum(W**2) "
        "(your dW has its term; your loss does not).",
    ),
    Bug(
        # same effect as `dW = X.T @ dscores`
        "svmgrad-no-reg-in-grad",
        "svm_loss_and_grad",
        G,
        "# Each violated margin (strictly > 0) pushes",
        "reg = 0  #",
        "your dW leaves out the regularization's gradient (your loss has the penalty, so its "
        "gradient needs the penalty's derivative too).",
    ),
    Bug(
        "svmgrad-reg-norm-not-squared",
        "svm_loss_and_grad",
        G,
        "loss = np.sum(margins) / N + reg * np.sum(W * W)",
        "loss = np.sum(margins) / N + reg * np.linalg.norm(W)",
        "your loss's penalty is reg times the norm of W, not times its square: the penalty is "
        "reg * sum(W**2), the sum of the squared entries (no square root).",
    ),
    Bug(
        "svmgrad-reg-l1",
        "svm_loss_and_grad",
        G,
        "loss = np.sum(margins) / N + reg * np.sum(W * W)",
        "loss = np.sum(margins) / N + reg * np.sum(np.abs(W))",
        "your loss's penalty is the L1 one, reg times the sum of |W|: this loss uses the L2 "
        "penalty reg * sum(W**2) (and your dW has the L2 penalty's gradient).",
    ),
    Bug(
        # the loss skips j = y_i (or takes its `margin` back out), the gradient does not
        "svmgrad-grad-counts-correct-class",
        "svm_loss_and_grad",
        G,
        "active = (margins > 0).astype(scores.dtype)",
        "active = ((margins > 0) | (np.arange(scores.shape[1]) == y[:, None]))"
        ".astype(scores.dtype)",
        "your loss is right but the correct class's column of your dW is off by one x_i per "
        "example: your gradient counts the term j = y_i (whose margin is always `margin` > 0) as "
        "a violation; the gradient skips j = y_i, as the loss does.",
    ),
    # -- numeric_gradient ------------------------------------------------------------------------
    Bug(
        "numgrad-not-restored",
        "numeric_gradient",
        G,
        "x[ix] = old_value\n",
        "pass\n",
        "`x` does not hold its original values afterwards (and later entries are estimated at a "
        "shifted point): put each perturbed entry back before moving on.",
        fingerprint=False,
    ),
    Bug(
        "numgrad-minus-from-plus",
        "numeric_gradient",
        G,
        "x[ix] = old_value - h",
        "x[ix] -= h",
        "your estimate is about half the true derivative: the second evaluation must be at "
        "x - h, but subtracting h from x + h lands back on x.",
    ),
    Bug(
        "numgrad-forward-difference",
        "numeric_gradient",
        G,
        "grad[ix] = (f_plus - f_minus) / (2 * h)",
        "grad[ix] = (f_plus - f(x)) / h",
        "your estimate is one-sided (error of order h) and calls f three times per entry: use "
        "the centered difference with exactly two calls per entry.",
    ),
    Bug(
        "numgrad-no-two",
        "numeric_gradient",
        G,
        "grad[ix] = (f_plus - f_minus) / (2 * h)",
        "grad[ix] = (f_plus - f_minus) / h",
        "your estimate is exactly twice the derivative: the two evaluation points are 2h apart.",
    ),
    Bug(
        "numgrad-rows-only",
        "numeric_gradient",
        G,
        "for ix in np.ndindex(x.shape):",
        "for ix in np.ndindex(x.shape[0]):",
        "for arrays of two or more dimensions you perturb a whole row at once: visit every "
        "single entry of x (any shape).",
    ),
    # -- relative_error --------------------------------------------------------------------------
    Bug(
        "relerr-signed-difference",
        "relative_error",
        G,
        "np.max(np.abs(a - b) / np.maximum(1e-8",
        "np.max((a - b) / np.maximum(1e-8",
        "your error can be negative or miss entries where b > a: take the absolute difference.",
    ),
    Bug(
        "relerr-mean",
        "relative_error",
        G,
        "return float(np.max(",
        "return float(np.mean(",
        "a single bad entry among many barely moves your error: report the largest elementwise "
        "relative error, not the average.",
    ),
    Bug(
        "relerr-abs-of-sum",
        "relative_error",
        G,
        "np.abs(a) + np.abs(b)))",
        "np.abs(a + b)))",
        "entries of opposite sign blow up your error: the denominator adds the absolute values.",
    ),
    Bug(
        "relerr-no-floor",
        "relative_error",
        G,
        "np.maximum(1e-8, np.abs(a) + np.abs(b))",
        "(np.abs(a) + np.abs(b))",
        "two zero entries give nan (0 / 0): the denominator has a floor of 1e-8.",
    ),
    # -- gradient_check --------------------------------------------------------------------------
    Bug(
        "gradcheck-passed-inverted",
        "gradient_check",
        G,
        "return bool(error < tol), error",
        "return bool(error > tol), error",
        "your `passed` is the opposite of what it should be: the check passes when the error "
        "is below tol.",
        fingerprint=False,
    ),
    Bug(
        "gradcheck-ignores-h",
        "gradient_check",
        G,
        "numeric = numeric_gradient(f, x, h)",
        "numeric = numeric_gradient(f, x)",
        "your error does not change with `h`: pass the step on to the numeric gradient.",
    ),
    Bug(
        "gradcheck-absolute-error",
        "gradient_check",
        G,
        "error = relative_error(analytic, numeric)",
        "error = float(np.max(np.abs(analytic - numeric)))",
        "your error is an absolute difference: it must be the relative error (it does not "
        "depend on the scale of the gradient).",
    ),
    Bug(
        "gradcheck-le-tol",
        "gradient_check",
        G,
        "return bool(error < tol), error",
        "return bool(error <= tol), error",
        "an error exactly equal to tol passes your check: passed is error < tol, strictly.",
        fingerprint=False,  # its answer (True, tol) is also what gradcheck-passed-inverted gives
    ),
    # -- sgd_step --------------------------------------------------------------------------------
    Bug(
        "sgd-ascent",
        "sgd_step",
        OPT,
        "return w - lr * dw",
        "return w + lr * dw",
        "your step goes uphill: move against the gradient.",
    ),
    Bug(
        "sgd-ignores-lr",
        "sgd_step",
        OPT,
        "return w - lr * dw",
        "return w - dw",
        "your step does not depend on `lr`: scale the gradient by the learning rate.",
    ),
    # -- sgd_momentum_step -----------------------------------------------------------------------
    Bug(
        "momentum-dampening",
        "sgd_momentum_step",
        OPT,
        "v_new = rho * v + dw\n",
        "v_new = rho * v + (1 - rho) * dw\n",
        "your first steps are (1 - rho) times too short: PyTorch's momentum (this assignment's) "
        "adds the full gradient to the velocity, without dampening.",
    ),
    Bug(
        "momentum-ignored",
        "sgd_momentum_step",
        OPT,
        "w_new = w - lr * v_new\n",
        "w_new = w - lr * dw\n",
        "your weights follow plain SGD: the step must follow the velocity, not the raw gradient.",
    ),
    Bug(
        "momentum-old-velocity",
        "sgd_momentum_step",
        OPT,
        "w_new = w - lr * v_new\n",
        "w_new = w - lr * v\n",
        "your weights move with the previous step's velocity (the first step does not move at "
        "all): update the velocity first, then step along the new one.",
    ),
    Bug(
        "momentum-sign",
        "sgd_momentum_step",
        OPT,
        "v_new = rho * v + dw\n",
        "v_new = rho * v - dw\n",
        "your weights move uphill: check the sign with which the gradient enters the velocity "
        "and the step.",
    ),
    # -- adam_step -------------------------------------------------------------------------------
    Bug(
        "adam-no-bias-correction-m",
        "adam_step",
        OPT,
        "m_hat = m_new / (1 - beta1**t)\n",
        "m_hat = m_new\n",
        "your first steps are too short: the first moment starts at 0 and must be bias-corrected "
        "by 1 - beta1**t.",
    ),
    Bug(
        "adam-no-bias-correction-v",
        "adam_step",
        OPT,
        "    v_hat = v_new / (1 - beta2**t)",
        "    v_hat = v_new",
        "your first steps are too long: the second moment starts at 0 and must be bias-corrected "
        "by 1 - beta2**t.",
    ),
    Bug(
        "adam-t-off-by-one",
        "adam_step",
        OPT,
        "m_hat = m_new / (1 - beta1**t)\n",
        "m_hat = m_new / (1 - beta1 ** (t + 1))\n",
        "your bias correction uses the next step's number: `t` already counts from 1.",
    ),
    Bug(
        "adam-eps-inside-sqrt",
        "adam_step",
        OPT,
        "np.sqrt(v_hat) + eps",
        "np.sqrt(v_hat + eps)",
        "eps goes outside the square root, as in torch.optim.Adam: your steps differ for "
        "small gradients.",
    ),
    Bug(
        "adam-no-bias-correction",
        "adam_step",
        OPT,
        "m_hat = m_new / (1 - beta1**t)\n",
        "m_hat = m_new\n",
        "your steps differ from torch.optim.Adam's in the first steps and agree later: both "
        "moments start at 0, so both need their bias correction (by 1 - beta1**t and "
        "1 - beta2**t, with t the step's number).",
        also=(("    v_hat = v_new / (1 - beta2**t)", "    v_hat = v_new"),),
    ),
    Bug(
        # `1 - beta1` for `1 - beta1**t`, or a t that is never advanced past 1
        "adam-t-fixed",
        "adam_step",
        OPT,
        "m_hat = m_new / (1 - beta1**t)\n",
        "m_hat = m_new / (1 - beta1)\n",
        "your first step is right but the later ones are not: your bias corrections always use "
        "t = 1 (1 - beta1 instead of 1 - beta1 to the power t, or a t that is never advanced); "
        "use the step's number t, which grows with every step.",
        also=(("    v_hat = v_new / (1 - beta2**t)", "    v_hat = v_new / (1 - beta2)"),),
    ),
    Bug(
        "adam-v-not-squared",
        "adam_step",
        OPT,
        "v_new = beta2 * v + (1 - beta2) * dw * dw",
        "v_new = beta2 * v + (1 - beta2) * dw",
        "your second moment tracks the gradient, not its square (so its square root can be nan): "
        "v averages dw**2.",
    ),
    Bug(
        "adam-no-sqrt",
        "adam_step",
        OPT,
        "np.sqrt(v_hat) + eps",
        "v_hat + eps",
        "your steps are far from lr in size: divide by the square root of the second moment "
        "(the gradient's typical magnitude), not by the moment itself.",
    ),
    # -- gradient_descent ------------------------------------------------------------------------
    Bug(
        "gd-in-place",
        "gradient_descent",
        OPT,
        "w = w - lr * grad_fn(w)",
        "w -= lr * grad_fn(w)",
        "all your iterates are the same array (and `w0` may change): updating `w` in place "
        "overwrites the earlier iterates you stored; build a new array at each step.",
        fingerprint=False,
    ),
    Bug(
        "gd-ascent",
        "gradient_descent",
        OPT,
        "w = w - lr * grad_fn(w)",
        "w = w + lr * grad_fn(w)",
        "your iterates climb: step against the gradient.",
    ),
    Bug(
        "gd-missing-w0",
        "gradient_descent",
        OPT,
        "iterates = [w]",
        "iterates = []",
        "your array of iterates misses the starting point w_0: it has num_steps + 1 rows.",
        fingerprint=False,
    ),
    # -- minibatch_sgd ---------------------------------------------------------------------------
    Bug(
        "minibatch-with-replacement",
        "minibatch_sgd",
        OPT,
        "idx = rng.choice(N, size=batch_size, replace=False)\n",
        "idx = rng.choice(N, size=batch_size, replace=True)\n",
        "your minibatches repeat examples: draw distinct indices (without replacement).",
    ),
    Bug(
        "minibatch-default-rho",
        "minibatch_sgd",
        OPT,
        "W, velocity = sgd_momentum_step(W, dW, velocity, step_lr, rho)",
        "W, velocity = sgd_momentum_step(W, dW, velocity, step_lr)",
        "your run uses momentum 0.9 whatever `rho` says: pass `rho` on to the step.",
    ),
    Bug(
        "minibatch-velocity-dropped",
        "minibatch_sgd",
        OPT,
        "W, velocity = sgd_momentum_step(W, dW, velocity, step_lr, rho)",
        "W, _ = sgd_momentum_step(W, dW, velocity, step_lr, rho)",
        "your run has no momentum: feed the returned velocity back into the next step.",
    ),
    Bug(
        "minibatch-schedule-off-by-one",
        "minibatch_sgd",
        OPT,
        "step_lr = lr if lr_schedule is None else lr_schedule(t)",
        "step_lr = lr if lr_schedule is None else lr_schedule(t + 1)",
        "your schedule is one step ahead: the first step uses lr_schedule(0).",
    ),
    Bug(
        "minibatch-full-batch",
        "minibatch_sgd",
        OPT,
        "loss, dW = loss_and_grad(W, X[idx], y[idx])\n",
        "loss, dW = loss_and_grad(W, X, y)\n",
        "you compute the loss on all the data at every step: each step uses only its minibatch.",
    ),
    Bug(
        "minibatch-same-batch",
        "minibatch_sgd",
        OPT,
        "idx = rng.choice(N, size=batch_size, replace=False)\n",
        "idx = np.random.default_rng(seed).choice(N, size=batch_size, replace=False)\n",
        "every step sees the same minibatch: create the random generator once, before the "
        "loop, and keep drawing from it.",
    ),
    Bug(
        "minibatch-squeezed-batch",
        "minibatch_sgd",
        OPT,
        "    loss, dW = loss_and_grad(W, X[idx], y[idx])",
        "    loss, dW = loss_and_grad(W, np.squeeze(X[idx]), np.squeeze(y[idx]))",
        "with batch_size = 1 your batch loses its axis (shape (D,) instead of (1, D)): pass "
        "X[idx] and y[idx] as they are, without squeezing.",
        fingerprint=False,  # its answer equals the reference's wherever batch_size > 1
    ),
    # -- step_decay ------------------------------------------------------------------------------
    Bug(
        "step-decay-early",
        "step_decay",
        S,
        "return lr0 * gamma ** (t // step_size)",
        "return lr0 * gamma ** ((t + 1) // step_size)",
        "your rate drops one step early: steps 0 .. step_size - 1 use lr0, the first decay "
        "happens at t = step_size (as StepLR).",
    ),
    Bug(
        "step-decay-smooth",
        "step_decay",
        S,
        "return lr0 * gamma ** (t // step_size)",
        "return lr0 * gamma ** (t / step_size)",
        "your rate decays smoothly at every step: step decay is piecewise constant (count whole "
        "periods only).",
    ),
    Bug(
        "step-decay-ceil",
        "step_decay",
        S,
        "return lr0 * gamma ** (t // step_size)",
        "return lr0 * gamma ** math.ceil(t / step_size)",
        "your rate drops already at t = 1: the number of decays by step t rounds down.",
    ),
    # -- cosine_decay ----------------------------------------------------------------------------
    Bug(
        "cosine-not-clamped",
        "cosine_decay",
        S,
        "if t > T:",
        "if False:",
        "past t = T your rate rises again: it stays at lr_min after T.",
    ),
    Bug(
        "cosine-ignores-lr-min",
        "cosine_decay",
        S,
        "return lr_min + (lr0 - lr_min) * (1 + math.cos(math.pi * t / T)) / 2",
        "return lr0 * (1 + math.cos(math.pi * t / T)) / 2",
        "your rate decays to 0 instead of `lr_min`.",
    ),
    Bug(
        "cosine-no-half",
        "cosine_decay",
        S,
        "(1 + math.cos(math.pi * t / T)) / 2",
        "(1 + math.cos(math.pi * t / T))",
        "your rate starts above lr0: (1 + cos) goes from 2 to 0, so halve it.",
    ),
    Bug(
        "cosine-half-period",
        "cosine_decay",
        S,
        "math.cos(math.pi * t / T)",
        "math.cos(math.pi * t / (2 * T))",
        "your rate is still halfway at t = T: the cosine covers half a period (angle 0 to pi) "
        "between t = 0 and t = T.",
    ),
    # -- train_val_test_split --------------------------------------------------------------------
    Bug(
        "split-floor",
        "train_val_test_split",
        H,
        "num_test = round(N * test_frac)",
        "num_test = int(N * test_frac)",
        "your test set is one index short for some N: its size is N * test_frac rounded to the "
        "nearest integer, not rounded down.",
        fingerprint=False,
    ),
    Bug(
        "split-not-shuffled",
        "train_val_test_split",
        H,
        "order = rng.permutation(N)",
        "order = np.arange(N)",
        "your split is not random: shuffle the indices with the seeded generator first.",
        fingerprint=False,
    ),
    Bug(
        "split-overlap",
        "train_val_test_split",
        H,
        "val_idx = order[num_test : num_test + num_val]",
        "val_idx = order[:num_val]",
        "your validation and test sets share indices: the three sets must be disjoint.",
        fingerprint=False,
    ),
    Bug(
        "split-val-size-from-test-frac",
        "train_val_test_split",
        H,
        "num_val = round(N * val_frac)",
        "num_val = round(N * test_frac)",
        "your validation set's size ignores `val_frac`.",
        fingerprint=False,
    ),
    # -- k_fold_indices --------------------------------------------------------------------------
    Bug(
        "kfold-remainder-dropped",
        "k_fold_indices",
        H,
        "for val_idx in np.array_split(np.arange(N), k):",
        "for val_idx in np.split(np.arange(N - N % k), k):",
        "when k does not divide N, the last N % k examples are never validated on: the folds "
        "must cover every index (np.array_split's sizes).",
        fingerprint=False,
    ),
    Bug(
        "kfold-remainder-to-last",
        "k_fold_indices",
        H,
        "for val_idx in np.array_split(np.arange(N), k):",
        "for val_idx in [np.arange(N)[i * (N // k) : N if i == k - 1 else (i + 1) * (N // k)] "
        "for i in range(k)]:",
        "your folds put the whole remainder into the last one: the folds are "
        "np.array_split(np.arange(N), k) (the first N % k folds get one extra index).",
        fingerprint=False,
    ),
    Bug(
        "kfold-val-in-train",
        "k_fold_indices",
        H,
        "is_train[val_idx] = False",
        "pass",
        "your training indices include the validation fold: train on everything else only.",
        fingerprint=False,
    ),
    Bug(
        "kfold-pair-swapped",
        "k_fold_indices",
        H,
        "folds.append((np.flatnonzero(is_train), val_idx))",
        "folds.append((val_idx, np.flatnonzero(is_train)))",
        "your pairs are in the wrong order: each is (train_idx, val_idx).",
        fingerprint=False,
    ),
    Bug(
        "kfold-shuffled",
        "k_fold_indices",
        H,
        "for val_idx in np.array_split(np.arange(N), k):",
        "for val_idx in np.array_split(np.random.default_rng(0).permutation(N), k):",
        "your folds are shuffled: here they are consecutive, np.array_split(np.arange(N), k) in "
        "order (shuffle the data before, if it needs shuffling).",
        fingerprint=False,
    ),
    # -- cross_validate --------------------------------------------------------------------------
    Bug(
        "cv-sum-not-mean",
        "cross_validate",
        H,
        "return float(np.mean(errors))",
        "return float(np.sum(errors))",
        "your result is k times too large: return the mean of the k fold errors.",
    ),
    Bug(
        "cv-fit-on-validation",
        "cross_validate",
        H,
        "model = fit(X[train_idx], y[train_idx])\n",
        "model = fit(X[val_idx], y[val_idx])\n",
        "your error is measured on the same examples the model was fitted on: fit on the k - 1 "
        "training folds and measure on the held-out fold.",
    ),
    Bug(
        "cv-error-on-train",
        "cross_validate",
        H,
        "errors.append(error(model, X[val_idx], y[val_idx]))",
        "errors.append(error(model, X[train_idx], y[train_idx]))",
        "your error is measured on the same examples the model was fitted on: fit on the k - 1 "
        "training folds and measure on the held-out fold.",
    ),
    Bug(
        "cv-mean-over-examples",
        "cross_validate",
        H,
        "errors.append(error(model, X[val_idx], y[val_idx]))",
        "errors.extend([error(model, X[val_idx], y[val_idx])] * len(val_idx))",
        "your mean weights each fold by its size: when k does not divide N the folds differ in "
        "size, and the result is the plain mean of the k fold errors.",
        fingerprint=False,
    ),
    # -- grid_search -----------------------------------------------------------------------------
    Bug(
        "grid-zip-not-product",
        "grid_search",
        H,
        "itertools.product(*(grid[name] for name in names))",
        "zip(*(grid[name] for name in names))",
        "you try only some of the combinations (the first value of each list together, then "
        "the second, ...): try every combination.",
        fingerprint=False,
    ),
    Bug(
        # same effect as `value > best_value`, with the value's sign flipped
        "grid-maximizes",
        "grid_search",
        H,
        "# Strictly better only: on a tie the earlier combination stays.",
        "value = -value",
        "you keep the worst combination: lower objective values are better.",
        fingerprint=False,
    ),
    Bug(
        "grid-names-sorted",
        "grid_search",
        H,
        "names = list(grid)",
        "names = sorted(grid)",
        "on a tie you keep the wrong combination: ties go to the first in itertools.product "
        "order over the grid's names as given.",
        fingerprint=False,
    ),
    # -- random_search ---------------------------------------------------------------------------
    Bug(
        "random-log-as-linear",
        "random_search",
        H,
        "sample = math.exp(rng.uniform(math.log(low), math.log(high)))",
        "sample = rng.uniform(low, high)",
        "your samples of a 'log' parameter are uniform, not log-uniform: almost all of them "
        "land in the top decade.",
        fingerprint=False,
    ),
    Bug(
        "random-log10-then-exp",
        "random_search",
        H,
        "sample = math.exp(rng.uniform(math.log(low), math.log(high)))",
        "sample = math.exp(rng.uniform(math.log10(low), math.log10(high)))",
        "your log-scale samples are not log-uniform between the bounds: the exponent's base "
        "and the log's base must match.",
        fingerprint=False,
    ),
    Bug(
        "random-one-evaluation-short",
        "random_search",
        H,
        "for _ in range(num_iters):",
        "for _ in range(num_iters - 1):",
        "you evaluate the objective num_iters - 1 times: it must be exactly num_iters.",
        fingerprint=False,
    ),
    Bug(
        # same effect as `value > best_value`, with the value's sign flipped
        "random-maximizes",
        "random_search",
        H,
        "# Strictly better only: on a tie the earlier evaluation stays.",
        "value = -value",
        "you keep the worst sample: lower objective values are better.",
        fingerprint=False,
    ),
    Bug(
        "random-linear-no-offset",
        "random_search",
        H,
        "sample = rng.uniform(low, high)",
        "sample = rng.uniform(0, high - low)",
        "your 'linear' samples start at 0, not at low: draw them uniformly between low and high.",
        fingerprint=False,
    ),
    Bug(
        # same effect as creating the generator inside the sampling loop
        "random-reseeded-in-loop",
        "random_search",
        H,
        "# exp(log(high)) may round a hair past the bound: clip it back inside.",
        "rng = np.random.default_rng(seed)",
        "all your samples are the same: create the generator once, before the loop, so that "
        "each draw continues its stream.",
        fingerprint=False,
    ),
    # -- choose_ridge_lambda ---------------------------------------------------------------------
    Bug(
        "ridge-lambda-largest-on-tie",
        "choose_ridge_lambda",
        H,
        "for lam in sorted(lams):",
        "for lam in sorted(lams, reverse=True):",
        "on a tie you return the largest lam: ties go to the smallest.",
        fingerprint=False,
    ),
    Bug(
        "ridge-lambda-maximizes",
        "choose_ridge_lambda",
        H,
        "if best_lam is None or error < best_error:",
        "if best_lam is None or error > best_error:",
        "you return the lam with the largest validation error: keep the least.",
        fingerprint=False,
    ),
    Bug(
        "ridge-lambda-k-ignored",
        "choose_ridge_lambda",
        H,
        "error = cross_validate(fit, mean_squared_error, X, y, k)",
        "error = cross_validate(fit, mean_squared_error, X, y, 5)",
        "your choice ignores `k`: cross-validate with k folds.",
        fingerprint=False,
    ),
    Bug(
        "ridge-lambda-train-error",
        "choose_ridge_lambda",
        H,
        "error = cross_validate(fit, mean_squared_error, X, y, k)",
        "error = mean_squared_error(fit(X, y), X, y)",
        "you choose lam by its error on the data it was fitted on, which always favours the "
        "smallest lam: use the k-fold validation error.",
        fingerprint=False,
    ),
    # -- SoftmaxCrossEntropy (the torch variants are not fingerprinted: diagnose calls plain
    # functions, and the torch tests compare with torch itself) ---------------------------------
    Bug(
        "sce-no-shift",
        "SoftmaxCrossEntropy",
        T,
        "shifted = scores - scores.max(dim=1, keepdim=True).values",
        "shifted = scores",
        "large scores overflow exp() in your forward: shift each row by its maximum first.",
    ),
    Bug(
        # rows shifted by their maximum, then the log of the normalized probability
        "sce-log-of-probability",
        "SoftmaxCrossEntropy",
        T,
        "log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()",
        "log_probs = (shifted.exp() / shifted.exp().sum(dim=1, keepdim=True)).log()",
        LOG_OF_PROBABILITY,
    ),
    Bug(
        "sce-forward-sum",
        "SoftmaxCrossEntropy",
        T,
        "return -log_probs[rows, y].mean()",
        "return -log_probs[rows, y].sum()",
        "your loss is N times too large: the loss is a mean over the examples.",
    ),
    Bug(
        "sce-backward-missing-one-hot",
        "SoftmaxCrossEntropy",
        T,
        "dscores[rows, y] -= 1",
        "pass",
        "your backward returns the probabilities: subtract the one-hot labels.",
        fingerprint=False,
    ),
    Bug(
        "sce-backward-not-averaged",
        "SoftmaxCrossEntropy",
        T,
        "return grad_output * dscores / N, None\n",
        "return grad_output * dscores, None\n",
        "your backward is N times too large: the forward averages over the examples.",
        fingerprint=False,
    ),
    Bug(
        "sce-backward-ignores-grad-output",
        "SoftmaxCrossEntropy",
        T,
        "return grad_output * dscores / N, None\n",
        "return dscores / N, None\n",
        "your backward ignores grad_output: multiply by the upstream gradient (chain rule).",
        fingerprint=False,
    ),
    Bug(
        # A real class (issue 16): a float64 tensor mixed into float32 scores makes a float64 loss.
        "sce-float64-one-hot",
        "SoftmaxCrossEntropy",
        T,
        "return -log_probs[rows, y].mean()",
        "return -(log_probs * torch.eye(log_probs.shape[1], dtype=torch.float64, "
        "device=log_probs.device)[y]).sum() / len(y)",
        "your forward turns float32 scores into a float64 loss: a tensor you create as float64 "
        "(the one-hot labels) promotes everything it touches; create it with "
        "dtype=scores.dtype.",
        fingerprint=False,
    ),
    # -- MulticlassHinge -------------------------------------------------------------------------
    Bug(
        "hinge-includes-correct-class",
        "MulticlassHinge",
        T,
        "margins[rows, y] = 0",
        "pass",
        "your loss is `margin` too high per example: the sum must skip j = y_i.",
        fingerprint=False,
    ),
    Bug(
        "hinge-backward-missing-correct-column",
        "MulticlassHinge",
        T,
        "dscores[rows, y] = -active.sum(dim=1)",
        "pass",
        "your backward misses the correct class: each violation also pushes s_{y_i} down.",
        fingerprint=False,
    ),
    Bug(
        "hinge-margin-ignored",
        "MulticlassHinge",
        T,
        "margins = (scores - correct + margin).clamp(min=0)",
        "margins = (scores - correct + 1).clamp(min=0)",
        "your loss ignores `margin`.",
        fingerprint=False,
    ),
    Bug(
        "hinge-backward-not-averaged",
        "MulticlassHinge",
        T,
        "return grad_output * dscores / N, None, None",
        "return grad_output * dscores, None, None",
        "your backward is N times too large: the forward averages over the examples.",
        fingerprint=False,
    ),
    Bug(
        "hinge-forward-sum",
        "MulticlassHinge",
        T,
        "return margins.sum() / N",
        "return margins.sum()",
        "your loss is N times too large: the loss is a mean over the examples.",
        fingerprint=False,
    ),
    Bug(
        # A real class (issue 16), as sce-float64-one-hot: a float64 mask of the correct classes.
        "hinge-float64-mask",
        "MulticlassHinge",
        T,
        "margins[rows, y] = 0",
        "margins = margins * (1 - torch.eye(margins.shape[1], dtype=torch.float64, "
        "device=margins.device)[y])",
        "your forward turns float32 scores into a float64 loss: the mask you create as float64 "
        "promotes everything it touches; create new tensors with dtype=scores.dtype.",
        fingerprint=False,
    ),
    Bug(
        "hinge-kink-active-in-backward",
        "MulticlassHinge",
        T,
        "active = (margins > 0).to(scores.dtype)",
        "active = ((scores - correct + margin >= 0) & (torch.arange(scores.shape[1], "
        "device=scores.device) != y.unsqueeze(1))).to(scores.dtype)",
        "at a kink (a term with s_j - s_{y_i} + margin exactly 0) your backward counts the term "
        "as active: use the same strict > 0 as the forward's clamp, so it adds nothing.",
    ),
]


# -- the same mistakes as students make them together ----------------------------------------------
# After the single bugs: the first bug of the library that explains an answer is the one named.

_ONE = {b.id: b for b in BUGS}
_SM_HALF = together(
    "smgrad-half-reg", _ONE["smgrad-loss-half-reg"], _ONE["smgrad-reg-grad-1x"], hint=HALF_REG
)
_SM_NO_SHIFT = Bug(
    "",
    "softmax_loss_and_grad",
    G,
    _ONE["smgrad-no-shift"].old,
    _ONE["smgrad-no-shift"].new,
    NO_SHIFT,
)
_SM_GLOBAL = Bug(
    "",
    "softmax_loss_and_grad",
    G,
    _ONE["smgrad-global-max"].old,
    _ONE["smgrad-global-max"].new,
    GLOBAL_MAX,
)
_SM_THEN_LOG = Bug(
    "",
    "softmax_loss_and_grad",
    G,
    _ONE["smgrad-log-of-probability"].old,
    _ONE["smgrad-log-of-probability"].new,
    THEN_LOG,
)
BUGS += [
    _SM_HALF,
    together(
        "smgrad-no-reg",
        _ONE["smgrad-no-reg-in-loss"],
        _ONE["smgrad-no-reg-in-grad"],
        hint="your loss and your dW leave out the regularization: the loss adds reg * sum(W**2), "
        "and dW that term's gradient.",
    ),
    together(
        "smgrad-no-shift-log-of-probability",
        _SM_NO_SHIFT,
        _SM_THEN_LOG,
        hint=f"{NO_SHIFT} {THEN_LOG}",
    ),
    together(
        "smgrad-global-max-log-of-probability",
        _SM_GLOBAL,
        _SM_THEN_LOG,
        hint=f"{GLOBAL_MAX} {THEN_LOG}",
    ),
    together("smgrad-log-of-probability-half-reg", _ONE["smgrad-log-of-probability"], _SM_HALF),
    together("smgrad-half-reg-grad-not-averaged", _SM_HALF, _ONE["smgrad-grad-not-averaged"]),
    together("smgrad-no-shift-half-reg", _SM_NO_SHIFT, _SM_HALF),
    together("smgrad-global-max-half-reg", _SM_GLOBAL, _SM_HALF),
    together(
        "smgrad-no-shift-log-of-probability-half-reg",
        _SM_NO_SHIFT,
        _SM_THEN_LOG,
        _SM_HALF,
        hint=f"{NO_SHIFT} {THEN_LOG} Also: {HALF_REG}",
    ),
    together(
        "smgrad-global-max-log-of-probability-half-reg",
        _SM_GLOBAL,
        _SM_THEN_LOG,
        _SM_HALF,
        hint=f"{GLOBAL_MAX} {THEN_LOG} Also: {HALF_REG}",
    ),
    together(
        "svmgrad-half-reg",
        _ONE["svmgrad-loss-half-reg"],
        _ONE["svmgrad-reg-grad-1x"],
        hint=HALF_REG,
    ),
    together(
        "svmgrad-no-reg",
        _ONE["svmgrad-no-reg-in-loss"],
        _ONE["svmgrad-no-reg-in-grad"],
        hint="your loss and your dW leave out the regularization: the loss adds reg * sum(W**2), "
        "and dW that term's gradient.",
    ),
]


# -- probes ----------------------------------------------------------------------------------------
# Inputs on which a student's function is compared with the bugs that agree with it on a failed
# test's input (grader.grading.feedback.diagnose): several bugs give the same inf or nan on one
# input and differ here, each probe making some of them fail and not others. X = I makes the scores
# of a loss-and-gradient the rows of W.

#: exp overflows for every row, no probability underflows, all rows of the same size
OVERFLOW = np.array([[1000.0, 999.0, 998.0], [998.0, 1000.0, 999.0]])
OVERFLOW_Y = np.array([0, 1])
#: rows of very different size (a global shift underflows the small row), nothing underflows
#: within a row
MIXED = np.array([[20.0, 0.0, 0.0], [1000.0, 0.0, 0.0]])
MIXED_Y = np.array([0, 0])
#: the correct class of row 0 far below that row's best score: its probability underflows to 0
UNDERFLOW = np.array([[1000.0, 0.0, -5.0], [0.0, 1.0, 2.0]])
UNDERFLOW_Y = np.array([2, 0])
#: rows of one size, a wrong class of each far below its row's best, the correct class near it
WRONG_UNDERFLOWS = np.array([[1000.0, 0.0, 999.0], [999.0, 1000.0, 0.0]])
WRONG_UNDERFLOWS_Y = np.array([0, 1])
SMALL = np.array([[1.0, 2.0, 0.5], [-0.3, 0.8, 2.1], [0.0, 0.0, 0.0], [0.5, -1.0, 0.25]])
SMALL_Y = np.array([2, 0, 1, 1])
# a linear classifier with N = 4, D = 2, C = 3 and reg 0.3 (none of N, D, C equal)
W_SMALL = np.array([[0.2, -0.5, 0.1], [1.0, 0.3, -0.7]])
X_SMALL = np.array([[1.0, -1.0], [0.5, 2.0], [-1.5, 0.25], [2.0, 0.0]])
Y_SMALL = np.array([1, 0, 2, 2])
# small integers: the terms s_1 - s_0 + 1 of row 0 and s_0 - s_1 + 1, s_2 - s_1 + 1 of row 1
# are exactly 0 (at the hinge's kink); s_2 - s_0 + 1 of row 0 is active
W_KINK = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0]])
KINK_Y = np.array([0, 1])
EYE = np.eye(2)

PROBES: list[Probe] = [
    Probe("softmax", (OVERFLOW,), about="exp overflows, rows of one size"),
    Probe("softmax", (MIXED,), about="rows of very different size"),
    Probe("softmax", (SMALL,), about="small scores"),
    Probe("cross_entropy_loss", (OVERFLOW, OVERFLOW_Y), about="exp overflows, nothing underflows"),
    Probe("cross_entropy_loss", (MIXED, MIXED_Y), about="rows of very different size"),
    Probe("cross_entropy_loss", (UNDERFLOW, UNDERFLOW_Y), about="a probability underflows"),
    Probe(
        "cross_entropy_loss",
        (WRONG_UNDERFLOWS, WRONG_UNDERFLOWS_Y),
        about="a wrong class's probability underflows",
    ),
    Probe("cross_entropy_loss", (SMALL, SMALL_Y), about="small scores"),
    Probe("softmax_loss_and_grad", (OVERFLOW, EYE, OVERFLOW_Y, 0.0), about="exp overflows"),
    Probe("softmax_loss_and_grad", (MIXED, EYE, MIXED_Y, 0.0), about="rows of different size"),
    Probe("softmax_loss_and_grad", (UNDERFLOW, EYE, UNDERFLOW_Y, 0.0), about="p_y underflows"),
    Probe(
        "softmax_loss_and_grad",
        (WRONG_UNDERFLOWS, EYE, WRONG_UNDERFLOWS_Y, 0.0),
        about="a wrong class's probability underflows",
    ),
    Probe("softmax_loss_and_grad", (W_SMALL, X_SMALL, Y_SMALL, 0.3), about="small, reg 0.3"),
    Probe("svm_loss_and_grad", (W_SMALL, X_SMALL, Y_SMALL, 0.3), about="small, reg 0.3"),
    Probe("svm_loss_and_grad", (W_SMALL, X_SMALL, Y_SMALL, 0.0, 2.5), about="margin 2.5"),
    Probe("svm_loss_and_grad", (W_KINK, EYE, KINK_Y, 0.0), about="terms at the kink"),
    Probe(
        "relative_error",
        (np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.2, 2.7])),
        about="no zero entries",
    ),
    Probe("relative_error", (np.array([0.0, 1.0]), np.array([0.0, 2.0])), about="a 0 in both"),
    Probe(
        "adam_step",
        (np.array([0.5, -1.0]), np.array([0.2, -0.4]), np.zeros(2), np.zeros(2), 1, 0.1),
        about="the first step",
    ),
    Probe(
        "adam_step",
        (
            np.array([0.5, -1.0]),
            np.array([0.2, -0.4]),
            np.array([0.05, -0.1]),
            np.array([0.002, 0.01]),
            3,
            0.1,
        ),
        about="the third step",
    ),
]


def _forward_loss(cls: Any, scores: np.ndarray, y: np.ndarray) -> float:
    """The loss a variant's autograd class computes in its forward, as the tests read it."""
    import torch

    with torch.no_grad():
        out = cls.apply(torch.tensor(scores), torch.tensor(y, dtype=torch.long))
    return float(out)


def _forward_backward(
    cls: Any, scores: np.ndarray, y: np.ndarray, margin: float = 1.0, grad_output: float = 1.0
) -> tuple[float, np.ndarray]:
    """A variant's autograd class run forward and backward: (loss, gradient for scores)."""
    import torch

    s = torch.tensor(scores, requires_grad=True)
    extra = (margin,) if margin != 1.0 else ()
    out = cls.apply(s, torch.tensor(y, dtype=torch.long), *extra)
    out.backward(torch.tensor(grad_output, dtype=out.dtype))
    assert s.grad is not None
    return float(out.detach()), s.grad.numpy()


#: How the fingerprints call a variant's class (grader.grading.feedback: ``CALLS``): the
#: forward's loss of SoftmaxCrossEntropy (its forward tests), forward and backward of
#: MulticlassHinge (its backward tests compare member 1, the gradient).
CALLS = {"SoftmaxCrossEntropy": _forward_loss, "MulticlassHinge": _forward_backward}
PROBES += [Probe("MulticlassHinge", (W_KINK, KINK_Y), about="terms at the kink")]
PROBES += [
    Probe("SoftmaxCrossEntropy", probe.args, about=probe.about)
    for probe in PROBES
    if probe.function == "cross_entropy_loss"
]
