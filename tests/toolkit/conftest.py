"""Shared fixtures of the toolkit's own tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.sandbox.host import Mother

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def mother() -> Iterator[Mother]:
    """One warm worker process for the whole session: each grading forks from it (~0.5 s)."""
    m = Mother()
    yield m
    m.close()


@pytest.fixture
def stubs(tmp_path: Path) -> Path:
    """The generated stubs (assignment/*.py) as a submission folder of their own."""
    dest = tmp_path / "stubs"
    dest.mkdir()
    for src in sorted((ROOT / "assignment").glob("*.py")):
        (dest / src.name).write_text(src.read_text())
    return dest


@pytest.fixture(scope="session")
def student_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The student bundle (``grader package --student``: records the reference's answers, ~10 s)."""
    from grader.gradescope import package

    return package.build_student(tmp_path_factory.mktemp("student") / "student.zip")
