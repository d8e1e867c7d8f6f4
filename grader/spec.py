"""The assignment's public face: which student modules exist and what each must define.

This mirrors the tables of ASSIGNMENT.md (course staff's spec). Everything that needs to know
"which function lives where" asks this module: intake (expected files), the worker (what to load,
what to stand in with the reference), the plugin (valid ``tags``), feedback ("did you mean").
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: Student modules, in the order the lecture meets them, with the names each must define.
MODULES: dict[str, tuple[str, ...]] = {
    "losses": (
        "softmax",
        "cross_entropy_loss",
        "svm_loss",
        "squared_svm_loss",
        "l2_penalty",
        "l1_penalty",
        "elastic_net_penalty",
        "ridge_fit",
    ),
    "gradients": (
        "softmax_loss_and_grad",
        "svm_loss_and_grad",
        "numeric_gradient",
        "relative_error",
        "gradient_check",
    ),
    "optim": (
        "sgd_step",
        "sgd_momentum_step",
        "adam_step",
        "gradient_descent",
        "minibatch_sgd",
    ),
    "schedules": ("step_decay", "cosine_decay"),
    "search": (
        "train_val_test_split",
        "k_fold_indices",
        "cross_validate",
        "grid_search",
        "random_search",
        "choose_ridge_lambda",
    ),
    "torch_losses": ("SoftmaxCrossEntropy", "MulticlassHinge"),
}

#: The torch classes; they are driven by worker-side forward/backward operations, not called.
CLASSES: frozenset[str] = frozenset(MODULES["torch_losses"])

#: Every graded name, mapped to its module.
MODULE_OF: dict[str, str] = {name: mod for mod, names in MODULES.items() for name in names}

#: File names a submission may contain.
FILES: tuple[str, ...] = tuple(f"{mod}.py" for mod in MODULES)


def module_of(name: str) -> str:
    """The module that defines ``name``; KeyError with a suggestion if there is none."""
    try:
        return MODULE_OF[name]
    except KeyError:
        raise KeyError(f"{name!r} is not part of the assignment{did_you_mean(name)}") from None


def close_matches(name: str, candidates: Iterable[str]) -> list[str]:
    """Names in ``candidates`` that look like a misspelling of ``name`` (best first)."""
    cands = list(candidates)
    by_lower = {c.lower(): c for c in cands}
    if name.lower() in by_lower and by_lower[name.lower()] != name:
        return [by_lower[name.lower()]]
    return difflib.get_close_matches(name, cands, n=3, cutoff=0.75)


def did_you_mean(name: str, candidates: Iterable[str] | None = None) -> str:
    """'; did you mean `x`?' for a near miss, else ''."""
    matches = close_matches(name, MODULE_OF if candidates is None else candidates)
    return f"; did you mean `{matches[0]}`?" if matches else ""


def check_only(name: str | None) -> None:
    """ValueError (with a suggestion) unless ``name`` is None or a function, class or module."""
    if name is not None and name not in MODULE_OF and name not in MODULES:
        raise ValueError(
            f"--only {name!r}: not a function, class or module of the assignment"
            f"{did_you_mean(name, [*MODULE_OF, *MODULES])}"
        )
