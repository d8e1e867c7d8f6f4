"""How a wrong answer differs from the expected one, when no known bug explains it.

No hint is better than a wrong one (issue 26), so where the bug library names nothing the
student reads what is *true* of the numbers, found the same way for every function:

* a non-finite answer where the expected one is finite (``loss: yours is inf where the expected
  value is 11500.0``);
* an answer that is the expected one times a constant: 2, 1/2, -1, N or 1/N (N: the rows of the
  argument ``X`` or ``scores``), C or 1/C (the columns of ``scores``); without such an argument,
  the bare factor k or 1/k of a size k > 2 of an array argument;
* an answer that differs from the expected one by exactly a multiple of one of the array
  arguments (a penalty's gradient off by ``reg * W``).

Only public tests show it: it quotes the expected value, which a public test shows anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from grader import messages

#: Relative tolerance of "exactly": far below any real mistake, above float64 noise.
EXACT = 1e-7
#: The argument names that hold the examples, one per row (N of them; scores' columns are the
#: C classes). The first array argument is no guide: it may be the weights W, (D, C).
EXAMPLES = ("X", "scores")


def describe(what: str, got: Any, expected: Any, inputs: Mapping[str, Any]) -> str | None:
    """One sentence on how ``got`` differs from ``expected`` (both numbers or arrays of the same
    shape), or None where nothing simple is true of them."""
    try:
        g = np.asarray(got, dtype=np.float64)
        e = np.asarray(expected, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if g.shape != e.shape or e.size == 0 or not np.all(np.isfinite(e)):
        return None
    if not np.all(np.isfinite(g)):
        if g.ndim == 0:
            return messages.DIFFERS_NOT_FINITE.format(what=what, got=_num(g), expected=_num(e))
        bad = ~np.isfinite(g)
        kinds = " and ".join(
            k
            for k, hit in (("nan", np.isnan(g)), ("inf", np.isposinf(g)), ("-inf", np.isneginf(g)))
            if np.any(hit)
        )
        there = e[bad]
        shown = f"{_num(there.min())} .. {_num(there.max())}"
        return messages.DIFFERS_SOME_NOT_FINITE.format(what=what, got=kinds, expected=shown)
    factor = _factor(g, e, inputs)
    if factor is not None:
        return messages.DIFFERS_FACTOR.format(what=what, factor=factor)
    multiple = _multiple(g - e, inputs)
    if multiple is not None:
        c, arg = multiple
        return messages.DIFFERS_BY_MULTIPLE.format(what=what, c=_num(c), arg=arg)
    return None


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    scale = max(float(np.max(np.abs(b))), 1e-300)
    return bool(np.all(np.abs(a - b) <= EXACT * scale))


def _factor(g: np.ndarray, e: np.ndarray, inputs: Mapping[str, Any]) -> str | None:
    if not np.any(e) or _close(g, e):
        return None
    named = [(2.0, "twice"), (0.5, "half"), (-1.0, "minus")]
    examples = next((k for k in EXAMPLES if _array(inputs.get(k)) and np.ndim(inputs[k]) >= 1), "")
    if examples:
        held = np.asarray(inputs[examples])
        n = held.shape[0]
        if n > 1:
            named += [(float(n), f"N = {n} times"), (1 / n, f"1/N = 1/{n} times")]
        if examples == "scores" and held.ndim == 2 and held.shape[1] not in (1, n):
            c = held.shape[1]
            named += [(float(c), f"C = {c} times"), (1 / c, f"1/C = 1/{c} times")]
    else:  # which size is N is not known here: the bare factor, from the arrays' sizes
        sizes = {d for v in inputs.values() if _array(v) for d in np.shape(v) if d > 2}
        named += [(k, f"{w} times") for d in sorted(sizes) for k, w in ((d, d), (1 / d, f"1/{d}"))]
    for k, words in named:
        if _close(g, k * e):
            return words
    return None


def _multiple(diff: np.ndarray, inputs: Mapping[str, Any]) -> tuple[float, str] | None:
    """``(c, name)`` where ``diff == c * inputs[name]`` exactly (an array argument of the same
    shape, not all zeros), c not 0."""
    if diff.ndim == 0 or not np.any(diff):
        return None
    for name, value in inputs.items():
        if not _array(value) or np.shape(value) != diff.shape:
            continue
        a = np.asarray(value, dtype=np.float64)
        norm = float(np.sum(a * a))
        if norm == 0 or not np.all(np.isfinite(a)):
            continue
        c = float(np.sum(a * diff) / norm)
        if c != 0 and _close(c * a, diff):
            return c, name
    return None


def _array(v: Any) -> bool:
    return isinstance(v, np.ndarray) and v.dtype.kind in "biuf"


def _num(x: Any) -> str:
    value = float(x)
    if not np.isfinite(value):
        return str(value)
    return np.format_float_positional(value, precision=6, unique=True, trim="-")
