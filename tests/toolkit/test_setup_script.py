"""gradescope/setup.sh stops at the network step that failed and says what it tried.

The steps run alone (``setup.sh --only``) against package indexes made here: a local folder of
wheels built by the test (a pin it lacks is the "deliberately broken pin"), and an address that
refuses connections (no index answers). No network is used; the venv is made once per module.
The whole set-up from a bare system is ``scripts/gradescope-e2e`` (docs/GRADESCOPE.md).
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from grader.gradescope import package

UNREACHABLE = "http://127.0.0.1:9/simple"  # the discard port: nothing listens, refused at once


def _wheel(folder: Path, name: str, version: str) -> Path:
    """A minimal valid wheel of an empty distribution (pip installs it without any network)."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    out = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(out, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return out


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The unpacked autograder zip, with a venv made by its own ``venv`` step."""
    from grader.gradescope.simulate import extract

    base = tmp_path_factory.mktemp("setup")
    extract(package.build_autograder(base / "autograder.zip"), base / "source")
    done = _setup(base / "source", "venv", {})
    assert done.returncode == 0, done.stdout
    return base / "source"


def _setup(source: Path, steps: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    clean.update(
        AUTOGRADER_ROOT=str(source.parent),
        PIP_CONFIG_FILE=os.devnull,  # none of this machine's pip configuration
        PIP_RETRIES="0",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        **env,
    )
    return subprocess.run(
        ["bash", str(source / "setup.sh"), "--only", steps],
        env=clean,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )


def test_a_broken_pin_stops_the_set_up_and_is_named(source: Path, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "gradeprobe_good", "1.0")
    _wheel(wheels, "gradeprobe_pinned", "1.0")
    requirements = source / "requirements.txt"
    original = requirements.read_text()
    try:
        # the second pin asks for a version the index does not have: the broken pin
        requirements.write_text("gradeprobe-good==1.0\ngradeprobe-pinned==3.0\n")
        done = _setup(source, "requirements", {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)})
    finally:
        requirements.write_text(original)
    assert done.returncode != 0, done.stdout + done.stderr
    assert "FAILED at step 'requirements'" in done.stderr
    assert "no package index had gradeprobe-pinned==3.0" in done.stderr
    assert f"find-links {wheels}" in done.stderr  # where pip looked
    assert "==> set-up done" not in done.stdout


def test_the_pins_install_when_the_index_has_them(source: Path, tmp_path: Path) -> None:
    """The same step with a satisfiable pin: the failure above is the pin's, not the step's."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "gradeprobe_good", "1.0")
    requirements = source / "requirements.txt"
    original = requirements.read_text()
    try:
        requirements.write_text("gradeprobe-good==1.0\n")
        done = _setup(source, "requirements", {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)})
    finally:
        requirements.write_text(original)
    assert done.returncode == 0, done.stderr
    assert "==> set-up done" in done.stdout
    venv_python = source.parent / "venv" / "bin" / "python"
    show = subprocess.run(
        [str(venv_python), "-m", "pip", "show", "gradeprobe-good"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Version: 1.0" in show.stdout


def test_an_unreachable_index_stops_the_pip_step(source: Path) -> None:
    """`pip install --upgrade pip` alone exits 0 here (pip is installed); the step must not."""
    done = _setup(source, "pip,torch", {"PIP_INDEX_URL": UNREACHABLE})
    assert done.returncode != 0, done.stdout + done.stderr
    assert "FAILED at step 'pip': no package index answered" in done.stderr
    assert f"index {UNREACHABLE}" in done.stderr
    assert "ERROR: No matching distribution found for pip" in done.stderr  # pip's own words
    assert "==> torch" not in done.stdout  # stopped at the failed step


def test_torch_step_names_its_own_index(source: Path) -> None:
    done = _setup(
        source,
        "torch",
        {"TORCH_INDEX_URL": UNREACHABLE, "TORCH_SPEC": "torch==0.0.1", "PIP_FIND_LINKS": ""},
    )
    assert done.returncode != 0, done.stdout + done.stderr
    assert "FAILED at step 'torch': no package index had torch==0.0.1" in done.stderr
    assert f"index {UNREACHABLE}" in done.stderr


def test_an_unknown_step_is_refused(source: Path) -> None:
    done = _setup(source, "requirments", {})
    assert done.returncode == 2
    assert "no step 'requirments'" in done.stderr


def _ctimes(root: Path) -> dict[str, int]:
    return {
        str(p): p.lstat().st_ctime_ns
        for p in [root, *root.rglob("*")]
        if "results" not in p.parts  # made by the step itself
    }


def test_the_run_time_permission_step_changes_only_what_differs(source: Path) -> None:
    """On Gradescope the image is a read-only layer: any chmod of its files copies them up.

    run_autograder runs the permission step on every submission; once the set-up has made the
    modes right it must not touch a file (a chmod to the same mode still changes the ctime).
    """
    root = source.parent
    permissions = ["bash", str(source / "setup.sh"), "--permissions-only", str(root)]
    subprocess.run(permissions, check=True)
    venv_files = list((root / "venv").rglob("*"))
    assert len(venv_files) > 500  # a real venv, from the module's set-up
    before = _ctimes(root)
    time.sleep(0.05)  # ctimes are in ns; a change would show even without it
    subprocess.run(permissions, check=True)
    changed = [p for p, t in _ctimes(root).items() if before.get(p) != t]
    assert changed == []
    # ... and what it must still do: a file opened again is closed again
    secret = source / "solutions" / "losses.py"
    secret.chmod(0o644)
    subprocess.run(permissions, check=True)
    assert secret.stat().st_mode & 0o077 == 0
    assert _ctimes(root)[str(secret)] != before[str(secret)]
