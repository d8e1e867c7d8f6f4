"""grader.grading.shapes: torch's shape check of an upstream gradient without sympy's import."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from grader.grading import shapes

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_gradcheck_and_backward_with_a_gradient_do_not_import_sympy() -> None:
    got = _run(
        """
        import sys
        import torch
        from grader.grading import shapes

        assert shapes.install()
        x = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda a: (a * a).sum(), (x,))
        (x * 2).backward(torch.ones(3, 2, dtype=torch.float64))
        try:
            (x * 2).backward(torch.ones(2, 3, dtype=torch.float64))
        except RuntimeError as exc:
            print(str(exc).splitlines()[0])
        print("sympy" in sys.modules)
        """
    )
    mismatch, imported = got.strip().splitlines()
    assert imported == "False"
    # the wrong shape is still refused, with torch's own message
    assert mismatch.startswith("Mismatch in shape: grad_output[0] has a shape of")


def test_a_grading_of_the_torch_module_never_imports_sympy() -> None:
    got = _run(
        """
        import os, sys
        os.environ["GRADER_PREFORK"] = "0"
        from grader.grading import engine
        result = engine.grade(
            __import__("pathlib").Path("solutions"),
            engine.Options(only="SoftmaxCrossEntropy", shards=1),
        )
        assert result.grader_error is None, result.grader_error
        assert result.score == result.max_score > 0, result.score
        print("sympy" in sys.modules)
        """
    )
    assert got.strip().splitlines()[-1] == "False"


SIZES = [
    ((2, 3), (2, 3)),
    ((2, 3), (3, 2)),
    ((2, 3), (2, 3, 1)),
    ((), ()),
    ([4], (4,)),
    (torch.Size([5, 1]), torch.Size([5, 1])),
    (torch.Size([5, 1]), torch.Size([5])),
    (7, 7),
    (7, 8),
]


@pytest.mark.parametrize(("x", "y"), SIZES)
def test_the_stand_in_answers_as_the_real_module(x: object, y: object) -> None:
    import torch.fx.experimental.symbolic_shapes as real

    if isinstance(real, shapes._StandIn):  # this process installed it: take the real one
        real = shapes._real()  # type: ignore[assignment]
    assert shapes.sym_eq(x, y) == real.sym_eq(x, y)
    assert type(shapes.sym_eq(x, y)) is type(real.sym_eq(x, y))
    for value in (True, False):
        assert shapes.expect_true(value) is real.expect_true(value)
    for bad in (1, None, "yes"):  # what the real one refuses, the stand-in refuses alike
        with pytest.raises(AssertionError):
            real.expect_true(bad)
        with pytest.raises(AssertionError):
            shapes.expect_true(bad)
    with pytest.raises(AssertionError):
        shapes.sym_eq((1, 2), "12")


def test_anything_else_asked_of_it_loads_the_real_module() -> None:
    got = _run(
        f"""
        import sys
        import torch
        from grader.grading import shapes

        assert shapes.install()
        import {shapes.NAME} as m
        assert type(m).__name__ == "_StandIn" and "sympy" not in sys.modules
        print(m.ShapeEnv.__module__)
        print(type(sys.modules[shapes.NAME]).__name__, "sympy" in sys.modules)
        from {shapes.NAME} import guard_bool  # a name the stand-in does not have
        print(guard_bool(True))
        """
    )
    assert got.split() == [shapes.NAME, "module", "True", "True"]
