"""torch's autograd with an upstream gradient, without importing sympy (~0.27 s of CPU a grading).

``torch.autograd.grad(out, x, grad_outputs)`` and ``out.backward(g)`` check that each upstream
gradient has its output's shape with ``expect_true(sym_eq(a, b))`` from
``torch.fx.experimental.symbolic_shapes``, a module that imports sympy at its top: ~0.27 s the
first time, in every grading whose suites call ``torch.autograd.gradcheck`` (each of its vjps
passes an upstream gradient) or ``backward(g)``. That was the largest single cost of the tests'
trusted side (issue 15).

``install`` puts a stand-in under that module's name in the grading process. It answers
``expect_true`` and ``sym_eq`` for plain values, the only kind a grading's tensors have (a
``torch.Size`` of ints, a bool), as the real functions do; for anything else (a ``SymInt`` or
``SymBool`` of ``torch.compile`` or ``torch.export``, a type the real one rejects) it defers to
the real module. Asked for any other name, the stand-in imports the real module, hands it over
in ``sys.modules`` and forwards to it from then on: nothing that needs symbolic shapes sees a
difference but the time its first use takes. A test holds the stand-in to the real functions.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

NAME = "torch.fx.experimental.symbolic_shapes"


class _StandIn(types.ModuleType):
    """``NAME`` until something needs more of it than a shape check of plain values."""

    def __getattr__(self, attr: str) -> Any:
        # The import system asks a module in ``sys.modules`` for ``__path__`` on every
        # ``from NAME import ...``: no dunder loads the real module, but ``__all__`` (``*``).
        if attr.startswith("__") and attr != "__all__":
            raise AttributeError(attr)
        return getattr(_real(), attr)


def _real() -> types.ModuleType:
    """The real module, imported now if it was not (and left in ``sys.modules``)."""
    module = sys.modules.get(NAME)
    if isinstance(module, _StandIn):
        del sys.modules[NAME]
        try:
            module = importlib.import_module(NAME)
        except BaseException:
            sys.modules[NAME] = _STAND_IN  # as it was: the next use tries again
            raise
    elif module is None:
        module = importlib.import_module(NAME)
    return module


def _plain_ints(x: Any) -> bool:
    return isinstance(x, (tuple, list)) and all(type(v) is int for v in x)


def sym_eq(x: Any, y: Any) -> Any:
    """The real ``sym_eq`` for sizes of plain ints (``==``, elementwise); else the real one."""
    if _plain_ints(x) and _plain_ints(y):
        return len(x) == len(y) and all(a == b for a, b in zip(x, y, strict=False))
    if type(x) is int and type(y) is int:
        return x == y
    return _real().sym_eq(x, y)


def expect_true(a: Any, skip: int = 0) -> Any:
    """The real ``expect_true`` for a plain bool (itself); else the real one."""
    if type(a) is bool:
        return a
    return _real().expect_true(a, skip + 1)


_STAND_IN = _StandIn(NAME, "stand-in for the real module until more than a shape check is asked")
_STAND_IN.sym_eq = sym_eq  # type: ignore[attr-defined]
_STAND_IN.expect_true = expect_true  # type: ignore[attr-defined]


def install() -> bool:
    """Put the stand-in in place if torch is imported and the real module is not; returns
    whether the stand-in is what ``NAME`` now imports."""
    if "torch" not in sys.modules:
        return False
    if NAME not in sys.modules:
        sys.modules[NAME] = _STAND_IN
    return sys.modules[NAME] is _STAND_IN
