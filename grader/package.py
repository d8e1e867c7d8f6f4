"""Build what leaves the course repository: Gradescope's autograder.zip and the student bundle.

    python -m grader package --out autograder.zip
    python -m grader package --student --out student.zip

Both zips are deterministic (sorted entries, fixed timestamps and modes): the same tree gives
the same bytes, so a rebuilt zip that Gradescope already has can be recognised by its hash.

The autograder zip holds, at its root (Gradescope wants the files, not a folder of them):
``setup.sh`` and ``run_autograder`` (from ``gradescope/``, pins substituted, LF endings, mode
755), the ``grader`` package with ``pyproject.toml`` and ``README.md`` (so ``pip install
/autograder/source`` works), ``solutions/``, ``tests/grading/`` (public, hidden, pytest.ini,
bugs.py), ``requirements.txt`` (the versions installed here) and ``policies.json``.

The student bundle holds ``assignment/``, the public suite and the grader, and nothing of the
reference: no solutions/, no hidden suite, no bugs.py (tests/toolkit/test_package.py checks it
line by line against the reference's solution regions).
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import stat
import sys
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from grader.policies import POLICY_FILE, Policy

#: The repository (not GRADER_ROOT: packaging always starts from the instructor's checkout).
REPO = Path(__file__).resolve().parent.parent
TEMPLATES = REPO / "gradescope"

#: What the grader needs at run time; the pins are the versions installed here.
RUNTIME = ("numpy", "torch", "pytest", "hypothesis", "pytest-timeout", "nbformat", "pyseccomp")
#: Installed from PyTorch's own index by setup.sh, not from requirements.txt.
SEPARATE = frozenset({"torch"})

#: Memory of each student worker above its start-up footprint, in MiB (run_autograder's
#: default). Gradescope's container has 768 MB in all; the trusted process and the worker's
#: zygote hold ~400 MB of it (measured with `grader simulate`, docs/GRADESCOPE.md).
MEMORY_LIMIT_MB = 256

ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold
EXECUTABLE = frozenset({"setup.sh", "run_autograder"})
_SKIP_PARTS = frozenset({"__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache"})


class PackageError(RuntimeError):
    """Something the zip needs is missing; the message says what and where."""


@dataclass(frozen=True)
class Entry:
    name: str  # the path inside the zip, POSIX
    data: bytes
    executable: bool = False


# -- the autograder zip ------------------------------------------------------------------------


def autograder_entries(repo: Path = REPO, policy: Policy | None = None) -> list[Entry]:
    """Every file of autograder.zip, in zip order."""
    policy = policy or Policy()
    pins = pinned_requirements()
    torch_spec = _torch_spec(pins)
    subst = {
        "@PYTHON_VERSION@": f"{sys.version_info.major}.{sys.version_info.minor}",
        "@TORCH_SPEC@": torch_spec,
        "@MEMORY_LIMIT_MB@": str(MEMORY_LIMIT_MB),
    }
    entries = [
        Entry(name, _script(TEMPLATES / name, subst), executable=True) for name in EXECUTABLE
    ]
    requirements = "".join(
        f"{name}=={version}\n" for name, version in sorted(pins.items()) if name not in SEPARATE
    )
    header = (
        "# Pinned by `grader package` from the instructor's environment; torch is installed\n"
        f"# separately by setup.sh ({torch_spec}, PyTorch's CPU index).\n"
    )
    entries.append(Entry("requirements.txt", (header + requirements).encode()))
    entries.append(Entry(POLICY_FILE, (json.dumps(policy.to_json(), indent=2) + "\n").encode()))
    for name in ("pyproject.toml", "README.md"):
        entries.append(Entry(name, _read(repo / name)))
    entries += _tree(repo, "grader", suffixes=(".py", ".json", ".typed"))
    entries += _tree(repo, "solutions", suffixes=(".py",))
    entries += _tree(repo, "tests/grading", suffixes=(".py", ".ini"))
    for required in ("solutions", "tests/grading/public", "tests/grading/hidden"):
        if not any(e.name.startswith(required + "/") for e in entries):
            raise PackageError(f"nothing under {repo / required}: the autograder needs it")
    return _sorted(entries)


def build_autograder(out: Path, repo: Path = REPO, policy: Policy | None = None) -> Path:
    write_zip(out, autograder_entries(repo, policy))
    return out


# -- the student bundle ------------------------------------------------------------------------

STUDENT_README = """\
# Loss Functions and Optimization: your assignment

    assignment/         the six files you complete, the notebook, and the assignment's README
    tests/grading/public/   the public tests (the hidden tests run only on Gradescope)
    grader/             the course's grader, which runs the public tests on your files

Set up once (Python 3.10 or newer):

    python3 -m venv .venv
    .venv/bin/python -m pip install -r requirements.txt
    .venv/bin/python -m pip install --no-deps -e .

Then work in `assignment/` (the notebook or the .py files) and submit the six .py files
(or the notebook) to Gradescope. The public tests compare your functions with the course's
reference, which is not part of this bundle: run them with `python -m grader check` where your
course provides the reference (GRADER_SOLUTIONS=/path/to/it), or simply submit to Gradescope,
where they run with the hidden tests.
"""


def student_entries(repo: Path = REPO) -> list[Entry]:
    """Every file of the student bundle: nothing hidden, nothing of the reference."""
    entries = _tree(repo, "assignment", suffixes=(".py", ".ipynb", ".md", ".ini"))
    if not any(e.name.endswith(".py") for e in entries):
        raise PackageError(
            f"no stubs in {repo / 'assignment'}: run `python -m grader assign` first"
        )
    entries += [
        e
        for e in _tree(repo, "tests/grading", suffixes=(".py", ".ini"))
        if e.name.startswith("tests/grading/public/") or e.name == "tests/grading/pytest.ini"
    ]
    entries += _tree(repo, "grader", suffixes=(".py", ".json", ".typed"))
    entries.append(Entry("pyproject.toml", _read(repo / "pyproject.toml")))
    entries.append(Entry("README.md", STUDENT_README.encode()))
    pins = pinned_requirements()
    entries.append(
        Entry("requirements.txt", "".join(f"{n}=={v}\n" for n, v in sorted(pins.items())).encode())
    )
    return _sorted(entries)


def build_student(out: Path, repo: Path = REPO) -> Path:
    write_zip(out, student_entries(repo))
    return out


# -- pins --------------------------------------------------------------------------------------


def pinned_requirements(roots: Iterable[str] = RUNTIME) -> dict[str, str]:
    """``{name: version}`` of ``roots`` and everything they need, as installed here.

    torch's local version label (``+cpu``) is dropped: setup.sh asks PyTorch's index for it.
    """
    env = {k: str(v) for k, v in default_environment().items()}
    pins: dict[str, str] = {}
    todo = [canonicalize_name(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in pins:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError as exc:
            raise PackageError(f"{name} is not installed in {sys.prefix}") from exc
        pins[name] = dist.version.split("+")[0]
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({**env, "extra": ""}):
                todo.append(canonicalize_name(req.name))
    return pins


def _torch_spec(pins: Mapping[str, str]) -> str:
    return f"torch=={pins['torch']}"


# -- deterministic zips ------------------------------------------------------------------------


def write_zip(out: Path, entries: Iterable[Entry]) -> None:
    """Sorted entries, one fixed timestamp, Unix modes 644/755: same input, same bytes."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for entry in _sorted(entries):
            info = zipfile.ZipInfo(entry.name, date_time=ZIP_TIME)
            info.create_system = 3  # Unix: external_attr holds the mode
            mode = 0o755 if entry.executable else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, entry.data, compresslevel=9)
    tmp.replace(out)


def _sorted(entries: Iterable[Entry]) -> list[Entry]:
    by_name: dict[str, Entry] = {}
    for e in entries:
        if e.name in by_name:
            raise PackageError(f"{e.name} would be in the zip twice")
        by_name[e.name] = e
    return [by_name[n] for n in sorted(by_name)]


def _tree(repo: Path, folder: str, suffixes: tuple[str, ...]) -> list[Entry]:
    base = repo / folder
    if not base.is_dir():
        return []
    out = []
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(repo)
        if not path.is_file() or _SKIP_PARTS & set(rel.parts) or not path.name.endswith(suffixes):
            continue
        out.append(Entry(rel.as_posix(), _read(path)))
    return out


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise PackageError(f"{path} is missing: the zip needs it") from exc


def _script(path: Path, subst: Mapping[str, str]) -> bytes:
    """A template with its pins filled in and LF endings (CRLF is "Exec format error")."""
    text = _read(path).decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    for key, value in subst.items():
        text = text.replace(key, value)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise PackageError(f"{path}: placeholder(s) {sorted(set(left))} have no value")
    if not text.startswith("#!/usr/bin/env bash\n"):
        raise PackageError(f"{path} must start with #!/usr/bin/env bash")
    return text.encode("utf-8")


__all__ = [
    "MEMORY_LIMIT_MB",
    "PackageError",
    "build_autograder",
    "build_student",
    "pinned_requirements",
]
