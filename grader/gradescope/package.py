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

The student bundle holds ``assignment/``, the public suite, the reference's recorded answers to
it (``grader.grading.answers``: data, recorded by grading the reference with the public suites) and
the part of the grader that ``grader check`` runs (``STUDENT_PACKAGES``: none of the instructor's
commands), and nothing of the reference's code: no solutions/, no hidden suite, no bugs.py
(tests/toolkit/test_package.py checks it line by line against the reference's solution regions,
and runs the public tests from an unpacked bundle).
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

from grader.authoring import pack
from grader.authoring.pack import Pack
from grader.classroom.policies import POLICY_FILE, Policy

#: The repository (not GRADER_ROOT: packaging always starts from the instructor's checkout).
REPO = Path(__file__).resolve().parents[2]
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


def autograder_entries(
    repo: Path = REPO, policy: Policy | None = None, assignment: Pack | None = None
) -> list[Entry]:
    """Every file of autograder.zip, in zip order: the engine from ``repo``, the pack
    ``assignment`` (default: the active one) at the zip's root, as Gradescope unpacks it."""
    policy = policy or Policy()
    p = pack.active() if assignment is None else assignment
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
    entries.append(Entry(pack.MANIFEST, _read(p.root / pack.MANIFEST)))
    solutions, suites = _inside(p, p.solutions), _inside(p, p.suites)
    entries += _tree(p.root, solutions, suffixes=(".py",))
    entries += _tree(p.root, suites, suffixes=(".py", ".ini", ".npz"))
    for required in (solutions, f"{suites}/public", f"{suites}/hidden"):
        if not any(e.name.startswith(required + "/") for e in entries):
            raise PackageError(f"nothing under {p.root / required}: the autograder needs it")
    return _sorted(entries)


def _inside(p: Pack, folder: Path) -> str:
    """``folder`` relative to the pack's root (the zip holds the pack as it is laid out)."""
    try:
        return folder.resolve().relative_to(p.root).as_posix()
    except ValueError:
        raise PackageError(f"{folder} is outside the pack {p.root}: a pack is one folder") from None


def build_autograder(
    out: Path, repo: Path = REPO, policy: Policy | None = None, assignment: Pack | None = None
) -> Path:
    write_zip(out, autograder_entries(repo, policy, assignment))
    return out


# -- the student bundle ------------------------------------------------------------------------

STUDENT_README = """\
# {title}: your assignment

    assignment/             the files you complete ({files}), the notebook, and a README
    tests/grading/public/   the public tests (the hidden tests run only on Gradescope)
    tests/grading/public_answers.frame   the reference's answers to the public tests' inputs
    grader/                 the course's grader, which runs the public tests on your files

Set up once, in this folder (Python {python} or newer, on Linux; on Windows, inside WSL):

    python3 -m venv .venv
    .venv/bin/python -m pip install {torch_spec} --index-url https://download.pytorch.org/whl/cpu
    .venv/bin/python -m pip install -r requirements.txt
    .venv/bin/python -m pip install --no-deps -e .

(The second line installs PyTorch without CUDA, a far smaller download; the assignment needs no
GPU. Skip it to let the third line install PyTorch from PyPI instead.)

Check your work (after `source .venv/bin/activate`, or with `.venv/bin/python` for `python`):

    python -m grader check                     # every public test, as a report (from this folder)
    python -m grader check --only {function}     # one function (or one file: --only {module})
    cd assignment && python -m pytest          # the same tests through pytest

and in the notebook, `check("{module}")` or `check("{function}")` (run Jupyter with this venv's
Python: `.venv/bin/python -m pip install notebook`, then `.venv/bin/python -m notebook`).
Exit status 0 means every public test passed.

The public tests compare your functions with the course's reference solution, which is not in
this bundle: `tests/grading/public_answers.frame` holds the reference's answers to exactly the
inputs the public tests use (data, not code). A check that would need the reference on other
inputs says so ("it runs when you submit"); where one of your functions calls another of yours
with inputs the recording does not hold, your own function answers. Gradescope runs the same
public tests with the reference itself, and the hidden tests. Submit your .py files (or the
notebook) there.
"""

#: The part of ``grader/`` a student's ``grader check`` runs (and ``pytest`` in ``assignment/``,
#: the notebook's ``check``): the packages whose every module it may use, and single modules of
#: the others. The instructor's commands (``grader.classroom``, ``grader.gradescope``, authoring's
#: ``assign`` and ``new``) stay home (issue 29); ``grader batch`` and the like in a bundle say so
#: (``messages.NOT_IN_BUNDLE``).
STUDENT_PACKAGES = ("grader", "grader/sandbox", "grader/grading")
STUDENT_MODULES = ("grader/authoring/__init__.py", "grader/authoring/pack.py")

#: Where the bundle holds the reference's recorded answers
#: (``grader.authoring.pack.active().answers`` there).
ANSWERS_ENTRY = "tests/grading/public_answers.frame"


def student_entries(repo: Path = REPO, assignment: Pack | None = None) -> list[Entry]:
    """Every file of the student bundle: nothing hidden, nothing of the reference's code.

    The bundle is laid out like a pack (its manifest, ``assignment/``, the public suite at
    ``tests/grading/public``) whatever the instructor's pack calls its folders, so that the
    grader in it finds them where the manifest's defaults say."""
    p = pack.active() if assignment is None else assignment
    entries = _moved(p.assignment, "assignment", (".py", ".ipynb", ".md", ".ini"))
    if not any(e.name.endswith(".py") for e in entries):
        raise PackageError(f"no stubs in {p.assignment}: run `python -m grader assign` first")
    entries += _moved(p.public_suite, "tests/grading/public", (".py", ".ini"))
    if (p.suites / "pytest.ini").is_file():
        entries.append(Entry("tests/grading/pytest.ini", _read(p.suites / "pytest.ini")))
    entries.append(Entry(pack.MANIFEST, _bundle_manifest(p)))
    entries.append(Entry(ANSWERS_ENTRY, record_public_answers(p)))
    shipped = [e for e in _tree(repo, "grader", (".py", ".json", ".typed")) if _for_students(e)]
    entries += shipped
    packages = {e.name.rsplit("/", 1)[0].replace("/", ".") for e in shipped}
    entries.append(Entry("pyproject.toml", _bundle_pyproject(repo / "pyproject.toml", packages)))
    pins = pinned_requirements()
    first = p.modules[0]
    readme = STUDENT_README.format(
        title=p.title,
        files=", ".join(p.files),
        module=first.name,
        function=first.names[0],
        torch_spec=_torch_spec(pins),
        python=f"{sys.version_info.major}.{sys.version_info.minor}",
    )
    entries.append(Entry("README.md", readme.encode()))
    entries.append(
        Entry("requirements.txt", "".join(f"{n}=={v}\n" for n, v in sorted(pins.items())).encode())
    )
    return _sorted(entries)


def _for_students(e: Entry) -> bool:
    return e.name.rsplit("/", 1)[0] in STUDENT_PACKAGES or e.name in STUDENT_MODULES


_PACKAGE_LINE = re.compile(r'^\s*"?(grader(?:\.\w+)*)"?\s*(?:,|=)')


def _bundle_pyproject(path: Path, packages: set[str]) -> bytes:
    """The repository's pyproject.toml, naming only the packages the bundle holds (setuptools
    refuses a listed package whose folder is missing: ``pip install -e .`` would fail)."""
    kept = []
    for line in _read(path).decode("utf-8").splitlines(keepends=True):
        named = _PACKAGE_LINE.match(line)
        if named is None or named[1] in packages or named[1] == "grader":
            kept.append(line)
    return "".join(kept).encode("utf-8")


def _moved(folder: Path, name: str, suffixes: tuple[str, ...]) -> list[Entry]:
    """The files of ``folder`` as entries under ``name``."""
    return [
        Entry(f"{name}/{e.name.split('/', 1)[1]}", e.data)
        for e in _tree(folder.parent, folder.name, suffixes)
    ]


def _bundle_manifest(p: Pack) -> bytes:
    """The pack's manifest for the bundle, its [paths] dropped: the bundle uses the defaults.
    (It has no solutions/: ``grader.authoring.pack`` accepts that where the recorded answers
    are.)"""
    text = _read(p.root / pack.MANIFEST).decode("utf-8")
    kept, skipping = [], False
    for line in text.splitlines():
        if line.strip().startswith("["):
            skipping = line.strip() == "[paths]"
        if not skipping:
            kept.append(line)
    return ("\n".join(kept).rstrip("\n") + "\n").encode("utf-8")


def record_public_answers(assignment: Pack | None = None) -> bytes:
    """The reference's answers to the public suites, as the bundle's answers file.

    Grades the reference itself with the public suites, a ``grader.grading.answers.Recorder``
    standing
    for it (in the tests' ``reference`` and the sandbox's stand-ins). Every public test must
    pass, and every call be recordable: otherwise the bundle could not replay it.
    """
    from grader.grading import answers, engine, feedback
    from grader.grading.reference import reference

    p = pack.active() if assignment is None else assignment
    if p.root != pack.active().root:
        raise PackageError(
            f"the public answers are recorded by grading with the active pack "
            f"({pack.active().root}), not {p.root}: run `grader package --pack {p.root}`"
        )
    if not p.solutions.is_dir():
        raise PackageError(f"no reference at {p.solutions}: its answers are recorded")
    options = engine.Options(suites=("public",))
    recorded, result, problems = answers.record(
        reference(), lambda: engine.grade(p.solutions, options), feedback.fingerprints
    )
    if result.grader_error is not None:
        raise PackageError(
            f"grading the reference with the public suites failed:\n{result.grader_error}"
        )
    failed = [t.nodeid for t in result.tests if t.status == "failed"]
    if failed:
        raise PackageError(
            "the reference fails public tests, so their answers cannot be recorded: "
            + ", ".join(failed)
        )
    if problems:
        raise PackageError(
            "calls of the public tests that cannot be recorded:\n  " + "\n  ".join(problems)
        )
    try:
        return recorded.to_bytes()
    except answers.AnswersError as exc:
        raise PackageError(str(exc)) from None


def build_student(out: Path, repo: Path = REPO, assignment: Pack | None = None) -> Path:
    write_zip(out, student_entries(repo, assignment))
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
    "record_public_answers",
]
