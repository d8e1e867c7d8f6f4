"""``grader new NAME``: a pack to start from, which grades straight away.

It writes a complete, small assignment (docs/AUTHORING.md walks through each file): the manifest,
one student module with its solution region, a public and a hidden test (one of them a
Hypothesis property), one known bug, the pytest configuration, the notebook's narrative, and the
generated ``assignment/``. Its solution gets full marks and its stubs zero with no edit; the
instructor then replaces the example with their own, keeping the shape.
"""

from __future__ import annotations

import re
from pathlib import Path

from grader.authoring import assign, pack

__all__ = ["NewPackError", "create"]


class NewPackError(ValueError):
    """The pack cannot be created there; the message says why."""


_MANIFEST = """\
# The manifest of this pack: what the grader must know about the assignment (docs/AUTHORING.md).

[assignment]
name = "{name}"
title = "{title}"

[[modules]]
name = "warmup"
functions = ["scale"]
hidden = "larger arrays, a factor of zero, and that scaling by one changes nothing"

[limits]
call_timeout = 10.0
"""

_SOLUTION = '''\
"""Warm-up: the first module of the assignment. Replace it with your own."""

import numpy as np


def scale(x, factor):
    """Every entry of ``x`` multiplied by ``factor``.

    Inputs:
    - x: a NumPy array of any shape (float64)
    - factor: a number

    Returns a new array of the same shape; ``x`` is left unchanged.
    """
    # BEGIN SOLUTION
    return np.asarray(x, dtype=np.float64) * factor
    # END SOLUTION
'''

_PUBLIC = '''\
"""warmup.py, public cases: students see these inputs and the answers."""

import numpy as np
import pytest

from grader.testing import compare


@pytest.mark.points(1)
@pytest.mark.tags("scale")
def test_scale_small(student, reference):
    """scale of a 2x2 array by 3"""
    compare(student, reference, "scale", np.array([[1.0, -2.0], [0.5, 4.0]]), 3.0)
'''

_HIDDEN = '''\
"""warmup.py, hidden cases: a failure says what was checked, never the input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from grader.testing import as_array, compare, fail_property, summarize


@pytest.mark.points(2)
@pytest.mark.tags("scale")
@pytest.mark.category("a larger array and a factor of zero")
def test_scale_large_and_zero(student, reference):
    """scale of a 50x20 array by 0.25 and by 0"""
    x = np.random.default_rng(0).normal(size=(50, 20))
    compare(student, reference, "scale", x, 0.25)
    compare(student, reference, "scale", x, 0.0)


@pytest.mark.points(2)
@pytest.mark.tags("scale")
@pytest.mark.category("scaling by one leaves the array as it is")
@settings(max_examples=25, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(max_dims=2), elements=st.floats(-1e3, 1e3)))
def test_scale_by_one_is_the_identity(student, x):
    """scale(x, 1) equals x"""
    got = as_array("scale", student.scale(x, 1.0), x.shape)
    if not np.array_equal(got, x):
        fail_property("scale", "scale(x, 1) == x", f"x={summarize(x)}, got={summarize(got)}")
'''

_BUGS = '''\
"""Known bugs of this pack: one wrong line of the solution each, and what to tell the student.

Trusted (it quotes the solution): never shipped to students. A failing test whose student answer
equals a bug's answer gets the bug's hint; each bug must lose points in its own function's
tests and nowhere else (docs/AUTHORING.md).
"""

from grader.testing import Bug

BUGS = [
    Bug(
        "scale-adds",
        "scale",
        "warmup.py",
        "return np.asarray(x, dtype=np.float64) * factor",
        "return np.asarray(x, dtype=np.float64) + factor",
        "every entry is off by the same amount: you add the factor instead of multiplying by it.",
    ),
]
'''

_PYTEST_INI = """\
# The grading suites' pytest configuration, used by the grader (never by your own tests).
[pytest]
addopts = --strict-markers
python_files = test_*.py
python_functions = test_*
timeout = 300
"""

_STUDENT_PYTEST_INI = """\
# `pytest` in this folder runs the public tests against your files, with the same messages as
# `python -m grader check` (your code runs in a separate, sandboxed process).
[pytest]
addopts = --grader-submission=. --import-mode=importlib -p no:cacheprovider -q
testpaths = ../tests/grading/public
"""

_NOTEBOOK = """\
# The notebook of this pack, in the "percent" format: `grader assign` builds assignment.ipynb
# from it (docs/AUTHORING.md).

# %% [markdown]
# # {title}
#
# Fill in each region between `# ==== YOUR CODE HERE ====` and `# ==== END OF YOUR CODE ====`,
# run the cell to save the file, then run the checks below it.

# %% [setup]

# %% [markdown]
# ## 1. Warm-up (`warmup.py`)
#
# `scale(x, factor)` multiplies every entry of an array by a number.

# %% [writefile] warmup.py

# %%
warmup = fresh("warmup")
with unless_missing():
    print(warmup.scale(np.arange(4.0), 2.0))
"""

_README = """\
# {title}

A pack made by `grader new`: an assignment the grader can grade as it is. Replace the warm-up
with your own modules, keeping the shape (docs/AUTHORING.md of the grader walks through it):

    python -m grader grade --pack {dest} {dest}/solutions   # the reference: full marks
    python -m grader grade --pack {dest} {dest}/assignment  # the stubs: zero
    python -m grader assign --pack {dest}   # again after editing solutions/ or notebook.py
"""


def create(name: str, dest: Path) -> list[Path]:
    """Write a new pack called ``name`` into ``dest`` (created; must not hold anything yet).

    Returns the files written. Raises :class:`NewPackError` for a bad name or a used folder.
    """
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", name):
        raise NewPackError(
            f"{name!r}: a pack's name is a short slug (lower-case letters, digits, - and _)"
        )
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise NewPackError(f"{dest} already exists and is not empty: choose another --dest")
    title = name.replace("-", " ").replace("_", " ").capitalize()
    files = {
        pack.MANIFEST: _MANIFEST.format(name=name, title=title),
        "solutions/warmup.py": _SOLUTION,
        "tests/grading/public/test_warmup.py": _PUBLIC,
        "tests/grading/hidden/test_warmup_hidden.py": _HIDDEN,
        "tests/grading/bugs.py": _BUGS,
        "tests/grading/pytest.ini": _PYTEST_INI,
        "notebook.py": _NOTEBOOK.format(title=title),
        "README.md": _README.format(title=title, dest=dest),
        "assignment/pytest.ini": _STUDENT_PYTEST_INI,
    }
    written = []
    for relative, text in files.items():
        path = dest / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    made = pack.load(dest)
    written += assign.write(made.solutions, made.assignment, made)
    return written
