"""The classes of real student code that issue 16 found graded wrongly, written as students do.

Each submission is the reference with one function replaced by code in the style of public
course solutions (loops, ``f -= np.max(f)``, a float64 tensor built by hand). The bug library
(tests/grading/bugs.py) holds the same mistakes as one-line patches; these show the class is
caught as real code writes it: in its own function's tests only, with a message that names it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.grading import engine, feedback
from grader.grading.results import GradingResult
from grader.sandbox.host import Mother
from grader.sandbox.layers import Limits

ROOT = Path(__file__).resolve().parents[2]
BUGS_HINT = {b.id: b.hint for b in feedback.bugs(ROOT / "tests" / "grading")}

# CS231n's svm_loss_naive: `> 0` for the loss, `>= 0` for the gradient.
SVM_KINK_IN_GRAD = """
def svm_loss_and_grad(W, X, y, reg, margin=1.0):
    dW = np.zeros(W.shape)
    loss = 0.0
    for i in range(X.shape[0]):
        scores = X[i].dot(W)
        correct_class_score = scores[y[i]]
        for j in range(W.shape[1]):
            if j == y[i]:
                continue
            m = scores[j] - correct_class_score + margin
            if m > 0:
                loss += m
            if m >= 0:
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss /= X.shape[0]
    dW /= X.shape[0]
    return loss + reg * np.sum(W * W), dW + 2 * reg * W
"""

# The whole score matrix shifted by its largest entry; the loss stays an np.float64.
SOFTMAX_GLOBAL_MAX = """
def softmax_loss_and_grad(W, X, y, reg):
    N = X.shape[0]
    f = X.dot(W)
    f -= np.max(f)
    log_sum = np.log(np.sum(np.exp(f), axis=1))
    loss = np.mean(log_sum - f[np.arange(N), y]) + reg * np.sum(W * W)
    p = np.exp(f - log_sum[:, None])
    p[np.arange(N), y] -= 1
    return loss, X.T.dot(p) / N + 2 * reg * W
"""

# One-hot labels made as float64, whatever the dtype of the scores.
TORCH_FLOAT64_ONE_HOT = """
class SoftmaxCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scores, y):
        N, C = scores.shape
        one_hot = torch.zeros(N, C, dtype=torch.float64, device=scores.device)
        one_hot[torch.arange(N), y] = 1
        shifted = scores - scores.max(dim=1, keepdim=True).values
        log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
        ctx.save_for_backward(log_probs, one_hot)
        return -(one_hot * log_probs).sum() / N

    @staticmethod
    def backward(ctx, grad_output):
        log_probs, one_hot = ctx.saved_tensors
        return grad_output * (log_probs.exp() - one_hot) / log_probs.shape[0], None
"""


def grade(tmp_path: Path, mother: Mother, module: str, code: str) -> GradingResult:
    """The reference, with ``code`` appended to ``module`` (its definitions win), graded on the
    suites of that module."""
    sub = tmp_path / "sub"
    sub.mkdir()
    for src in sorted((ROOT / "solutions").glob("*.py")):
        text = src.read_text(encoding="utf-8")
        (sub / src.name).write_text(text + code if src.stem == module else text)
    result = engine.grade(
        sub, engine.Options(only=module, limits=Limits(call_timeout=3.0)), mother=mother
    )
    assert result.grader_error is None, result.grader_error
    return result


def failed(result: GradingResult) -> dict[str, tuple[str, ...]]:
    return {t.nodeid.split("::")[-1]: t.tags for t in result.tests if t.status == "failed"}


def message(result: GradingResult, test: str) -> str:
    outcome = next(t for t in result.tests if t.nodeid.endswith("::" + test))
    return str(outcome.extra.get("message", outcome.output))


@pytest.mark.slow
def test_an_svm_gradient_with_ge_at_the_kink_loses_the_kink_test_only(
    tmp_path: Path, mother: Mother
) -> None:
    result = grade(tmp_path, mother, "gradients", SVM_KINK_IN_GRAD)
    # issue 26: the kink has a public test too, so the student sees it before the deadline
    assert failed(result) == {
        "test_svm_grad_at_a_kink": ("svm_loss_and_grad",),
        "test_svm_loss_and_grad_at_the_kink": ("svm_loss_and_grad",),
    }
    assert result.max_score - result.score == 1
    text = message(result, "test_svm_grad_at_a_kink")
    assert "exactly on their kink" in text and "Your dW counts them as active" in text
    hidden = next(t for t in result.tests if t.nodeid.endswith("::test_svm_grad_at_a_kink"))
    assert "wrong gradient at a kink" in hidden.output  # the hidden test's category


@pytest.mark.slow
def test_a_global_max_shift_is_told_its_loss_is_minus_inf(tmp_path: Path, mother: Mother) -> None:
    result = grade(tmp_path, mother, "gradients", SOFTMAX_GLOBAL_MAX)
    # issue 26: finite at |scores| = 1e4 has a public test too
    assert set(failed(result)) == {
        "test_softmax_grad_huge_scores",
        "test_softmax_loss_and_grad_large_scores",
    }
    public = message(result, "test_softmax_loss_and_grad_large_scores")
    assert "hint: " + BUGS_HINT["smgrad-global-max"] in public
    text = message(result, "test_softmax_grad_huge_scores")
    assert "`softmax_loss_and_grad` returned -inf (loss) where the correct result is finite" in text
    assert "could not be read back" not in text
    hidden = next(t for t in result.tests if t.nodeid.endswith("::test_softmax_grad_huge_scores"))
    assert "returned -inf; numerical stability" in hidden.output
    assert "each row by its own maximum" in hidden.output  # the hint of smgrad-global-max


@pytest.mark.slow
def test_a_float64_tensor_in_torch_code_loses_the_dtype_test_only(
    tmp_path: Path, mother: Mother
) -> None:
    result = grade(tmp_path, mother, "torch_losses", TORCH_FLOAT64_ONE_HOT)
    assert failed(result) == {"test_sce_float32": ("SoftmaxCrossEntropy",)}
    assert "turned float32 scores into a float64 loss" in message(result, "test_sce_float32")
