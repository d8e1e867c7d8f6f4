"""The adversarial corpus (tests/corpus/adversarial): building each submission, judging its result.

Each case is a folder with ``case.json`` (what it does, the module its ``attack.py`` is appended to,
the function graded, the expected outcome) and ``attack.py``; any other file in the folder is added
to the submission as it is. The submission is the reference (solutions/*.py) with the attack
appended to one module, or the stubs when ``module`` is null, so the honest score is known: the
reference's full marks for the function graded (``"reference"``), nothing (``"zero"``), exactly
what a plain wrong answer earns (``{"like": CONTROL}``: ``_controls/CONTROL.py`` appended instead
of the attack, graded alongside), or some tests failing and some passing.

Used by test_adversarial.py as root, and run as a script by the same tests as an unprivileged user
(``python adversarial_corpus.py REPORT CASE...``): this module imports only the grader and the
standard library, so it runs from a copy of the project that user can read.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from grader.authoring import pack
from grader.grading import engine
from grader.grading import results_json as gradescope
from grader.grading.results import GradingResult
from grader.sandbox import host as sandbox
from grader.sandbox import layers, slots

#: Generous: a grading that hangs is caught, nothing slower is judged here (bench/ measures).
WALL_LIMIT = 120.0
#: Directories any user may write on a Linux host; no case may leave anything in them.
SHARED_DIRS = ("/tmp", "/var/tmp", "/dev/shm")
SLOT_UIDS = range(layers.SLOT_UID, layers.SLOT_UID + layers.SLOTS)


def corpus_dir() -> Path:
    return pack.ROOT / "tests" / "corpus" / "adversarial"


#: Results of the control submissions, by (control, module, only, suites).
_CONTROLS: dict[tuple[Any, ...], GradingResult] = {}


def case_names(unprivileged_only: bool = False) -> list[str]:
    names = sorted(p.parent.name for p in corpus_dir().glob("*/case.json"))
    if unprivileged_only:
        names = [n for n in names if load_case(n).get("unprivileged")]
    return names


def load_case(name: str) -> dict[str, Any]:
    case: dict[str, Any] = json.loads((corpus_dir() / name / "case.json").read_text())
    return case


def materialize(name: str, dest: Path, places: dict[str, Path], control: str | None = None) -> Path:
    """The submission of case ``name`` in ``dest``; ``@RESULTS@`` etc. become real paths.

    With ``control``, the case's control submission instead: the control's code in place of the
    attack, and none of the case's extra files.
    """
    case = load_case(name)
    src = corpus_dir() / name
    dest.mkdir(parents=True)
    base = pack.active().solutions if case["module"] is not None else pack.active().assignment
    for f in sorted(base.glob("*.py")):
        shutil.copyfile(f, dest / f.name)
    substitutions = {
        "@RESULTS@": str(places["results"] / "results.json"),
        "@SPY@": str(places["spy"] / "late.json"),
        "@ROOT@": str(pack.ROOT),
        "@SOLUTIONS@": str(pack.active().solutions),
        "@PLANTED@": str(planted_clone()),
    }
    for f in sorted(src.iterdir()):
        if f.name in ("case.json", "attack.py") or control is not None:
            continue
        shutil.copyfile(f, dest / f.name)
    if case["module"] is not None:
        attack = (src / "attack.py").read_text()
        if control is not None:
            attack = (corpus_dir() / "_controls" / f"{control}.py").read_text()
        for key, value in substitutions.items():
            attack = attack.replace(key, value)
        target = dest / f"{case['module']}.py"
        target.write_text(target.read_text() + "\n\n# -- the attack --\n" + attack)
    return dest


def course_env(course: Path, home: Path) -> dict[str, str]:
    """The environment of a grader run as another user on a copy of the course at ``course``."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "GRADER_ROOT": str(course),
        "GRADER_SOLUTIONS": str(course / "solutions"),
        "GRADER_SUITES": str(course / "tests" / "grading"),
        "GRADER_NO_GPU": "1",
    }


_PLANTED: list[Path] = []


def planted_clone() -> Path:
    """A world-readable copy of the course (its reference and hidden suite) outside the
    grader's tree, as another clone or last year's copy elsewhere on the disk would be.

    Planted once per process under /srv or /opt where we may write there (root), else in the
    temporary directory, and removed when the process exits: no reliance on what a machine
    happens to hold.
    """
    if _PLANTED:
        return _PLANTED[0]
    parent = next((d for d in ("/srv", "/opt") if os.access(d, os.W_OK)), tempfile.gettempdir())
    top = Path(tempfile.mkdtemp(prefix="grader-planted-course-", dir=parent))
    atexit.register(shutil.rmtree, top, True)
    for rel, src in (
        ("solutions", pack.active().solutions),
        ("tests/grading", pack.active().suites),
    ):
        shutil.copytree(src, top / rel, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(pack.active().root / pack.MANIFEST, top)
    for path in [top, *top.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    _PLANTED.append(top)
    return top


def options_for(case: dict[str, Any], results_dir: Path) -> engine.Options:
    limits = dataclasses.replace(layers.DEFAULT_LIMITS, **case.get("limits", {}))
    return engine.Options(
        suites=tuple(case.get("suites", engine.SUITES)),
        only=case["only"],
        limits=limits,
        results_dir=results_dir,
    )


def judge(
    case: dict[str, Any], result: GradingResult, control: GradingResult | None = None
) -> list[str]:
    """What is wrong with ``result`` for ``case`` (an empty list: the score is honest)."""
    problems = []
    if result.grader_error is not None:
        return [f"grader error: {result.grader_error[-2000:]}"]
    passed = [t for t in result.tests if t.status == "passed"]
    failed = [t for t in result.tests if t.status == "failed"]
    expect = case["expect"]
    if not result.tests or result.max_score <= 0:
        problems.append("no test graded the function")
    if expect == "reference":
        if failed or result.score != result.max_score:
            problems.append(
                f"expected the reference's full marks, got {result.score}/{result.max_score}: "
                + "; ".join(f"{t.name}: {_message(t)[:300]}" for t in failed)
            )
    elif expect == "zero":
        if passed or result.score != 0:
            problems.append(
                f"expected 0, got {result.score}/{result.max_score}; passed: "
                + ", ".join(t.name for t in passed)
            )
    elif "like" in expect:
        assert control is not None
        got = sorted((t.name, t.status) for t in result.tests)
        want = sorted((t.name, t.status) for t in control.tests)
        if got != want or result.score != control.score:
            problems.append(
                f"expected what a plain wrong answer earns ({control.score}/{control.max_score}, "
                f"{want}), got {result.score}/{result.max_score}: {got}"
            )
    else:
        if len(failed) < expect.get("failed_at_least", 0):
            problems.append(f"expected at least {expect['failed_at_least']} failed tests")
        if len(passed) < expect.get("passed_at_least", 0):
            problems.append(f"expected at least {expect['passed_at_least']} passed tests")
    if "message" in case and failed:
        missing = [t.name for t in failed if case["message"].lower() not in _message(t).lower()]
        if missing:
            problems.append(
                f"{case['message']!r} not in the message of {missing[:3]}: {_message(failed[0])}"
            )
    if result.execution_time > WALL_LIMIT:
        problems.append(f"took {result.execution_time:.0f} s")
    leaks = grader_leaks(gradescope.to_json(result))
    if leaks:
        problems.append(f"the grader's paths or traceback in what the student reads: {leaks}")
    text = json.dumps(gradescope.to_json(result))
    if "ADVERSARIAL forged" in text or '"score": 999' in text:
        problems.append("a forged result reached results.json")
    if "TAMPERED" in text:
        problems.append("the submission changed a file of the project (it says so)")
    return problems


#: The grader's own files as a traceback or a message would name them (issue 29).
_GRADER_FILES = re.compile(
    r"grader/(sandbox|grading|authoring|classroom|gradescope)/|grader/(cli|prefork|messages)\.py"
)


def grader_leaks(results: dict[str, Any]) -> dict[str, str]:
    """The texts of results.json a student may read (the top-level output, every test's
    output, hidden or not) that name a file of the grader, each with the line that does:
    what the grader's traceback always shows. ``extra_data`` is staff's and not looked at."""
    texts = {"(top-level output)": str(results.get("output", ""))}
    texts.update({str(t.get("name")): str(t.get("output", "")) for t in results["tests"]})
    here = str(Path(engine.__file__).resolve().parents[1])
    leaks = {}
    for name, text in texts.items():
        for line in text.splitlines():
            if here in line or _GRADER_FILES.search(line):
                leaks[name] = line[:300]
                break
    return leaks


def _message(t: Any) -> str:
    return str(t.extra.get("message", t.output)) if t.extra else t.output


def digest(paths: Iterable[Path]) -> str:
    """A hash of every file under ``paths``: name, owner, mode and bytes."""
    h = hashlib.sha256()
    for top in paths:
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for name in sorted(filenames):
                f = Path(dirpath) / name
                if f.is_symlink() or not f.is_file():
                    continue
                st = f.stat()
                h.update(f"{f} {st.st_uid} {st.st_mode:o}\n".encode() + f.read_bytes())
    return h.hexdigest()


def project_digest() -> str:
    """The contents of the reference, the corpus and the sandbox's own modules.

    Not all of grader/ and tests/: other people may edit the suites and the rest of grader/
    while this runs on a shared machine. ``foreign_files`` covers those (anything a sandbox
    uid wrote there would be its own), and the corpus's ``tamper_with_the_project`` case
    reports every write it manages.
    """
    grader_dir = Path(engine.__file__).resolve().parent
    own = [grader_dir / f for f in ("worker.py", "sandbox.py", "protocol.py", "canary.py")]
    return digest([pack.active().solutions, corpus_dir(), *own])


def foreign_files() -> list[str]:
    """Files of the project (grader/, tests/, solutions/) not owned by the owner of their tree."""
    grader_dir = Path(engine.__file__).resolve().parent
    found = []
    for top in (grader_dir, pack.ROOT / "tests", pack.active().solutions):
        if not top.exists():
            continue
        me = top.stat().st_uid
        for dirpath, dirnames, filenames in os.walk(top):
            for name in dirnames + filenames:
                path = Path(dirpath) / name
                with contextlib.suppress(OSError):
                    if path.lstat().st_uid != me:
                        found.append(str(path))
    return found


def stray_files(also: Iterable[Path] = ()) -> set[str]:
    """Files a worker could have left outside its scratch: anything named ADVERSARIAL, and
    anything a sandbox uid owns, in the shared directories (and in ``also``, recursively)."""
    found = set()
    for d in SHARED_DIRS:
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            try:
                owner = e.stat(follow_symlinks=False).st_uid
            except OSError:
                continue
            if "ADVERSARIAL" in e.name or (
                owner in SLOT_UIDS and not e.name.startswith("grader-sub-")
            ):
                found.add(e.path)
    for top in also:
        for dirpath, _, filenames in os.walk(top):
            found.update(str(Path(dirpath) / n) for n in filenames if "ADVERSARIAL" in n)
    return found


def grade_case(
    name: str, work: Path, mother: sandbox.Mother, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Grade case ``name`` like ``grader grade`` would, and collect every check's evidence.

    ``env``: more environment for the grading; layers turned off add up with the case's own.
    """
    case = load_case(name)
    merged = {**(env or {}), **case.get("env", {})}
    off = {(env or {}).get(layers.UNSAFE_DISABLE), case.get("env", {}).get(layers.UNSAFE_DISABLE)}
    if off - {None}:
        merged[layers.UNSAFE_DISABLE] = ",".join(sorted(o for o in off if o))
    case["env"] = merged
    places = {"results": work / "results", "spy": work / "spy"}
    places["results"].mkdir(parents=True)
    places["spy"].mkdir()
    places["spy"].chmod(0o777)  # a daemon that survived could write here (not root: it can)
    sub = materialize(name, work / "submission", places)
    before = project_digest()
    strays = stray_files()
    saved = {k: os.environ.get(k) for k in case.get("env", {})}
    os.environ.update(case.get("env", {}))
    try:
        result = engine.grade(sub, options_for(case, places["results"]), mother=mother)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    gradescope.write(result, places["results"] / "results.json")
    written = (places["results"] / "results.json").read_bytes().decode("utf-8")
    control = None
    expect = case["expect"]
    if isinstance(expect, dict) and "like" in expect:
        key = (expect["like"], case["module"], case["only"], tuple(case.get("suites", ())))
        if key not in _CONTROLS:
            sub = materialize(name, work / "control", places, control=expect["like"])
            _CONTROLS[key] = engine.grade(sub, options_for(case, places["results"]), mother)
        control = _CONTROLS[key]
    return {
        "name": name,
        "problems": judge(case, result, control),
        "score": result.score,
        "max_score": result.max_score,
        "survivors": [p for p in slots.marked_processes(mother.marker) if p not in mother.pids],
        "project_changed": project_digest() != before or bool(foreign_files()),
        "results_match": json.loads(written) == gradescope.to_json(result),
        "results_dir": sorted(p.name for p in places["results"].iterdir()),
        "strays": sorted(stray_files([work]) - strays),
        "sandbox": dict(result.extra_data.get("sandbox", {})),
        "spy": sorted(p.name for p in places["spy"].iterdir()),
    }


def unsupported(report: dict[str, Any]) -> str | None:
    """Why this machine cannot hold the case to its promise (a layer it needs is missing)."""
    layer = load_case(report["name"]).get("needs")
    if layer is not None and report["sandbox"].get(layer) != "on":
        return f"needs the {layer} layer, which is {report['sandbox'].get(layer)!r} here"
    return None


def failures(report: dict[str, Any]) -> list[str]:
    """Every broken promise in one case's report."""
    out = list(report["problems"])
    if report["survivors"]:
        out.append(f"processes survived the grading: {report['survivors']}")
    if report["project_changed"]:
        out.append("a file of the project (tests, solutions, grader) changed")
    if not report["results_match"] or report["results_dir"] != ["results.json"]:
        out.append(f"results directory holds {report['results_dir']}, or a changed results.json")
    if report["strays"]:
        out.append(f"files written outside the scratch directory: {report['strays'][:5]}")
    if report["spy"]:
        out.append(f"a process wrote after the grading: {report['spy']}")
    return out


def main(argv: list[str]) -> int:
    """``adversarial_corpus.py REPORT CASE...``: grade the cases, write a JSON report."""
    report_path, names = Path(argv[0]), argv[1:]
    work = report_path.parent / "work"
    mother = sandbox.Mother()
    reports = []
    try:
        for name in names:
            reports.append(grade_case(name, work / name, mother))
    finally:
        mother.close()
    time.sleep(2.0)  # the daemons of the corpus write 1.5 s after their test: none may
    for r in reports:
        r["spy"] = sorted(p.name for p in (work / r["name"] / "spy").iterdir())
    report_path.write_text(json.dumps(reports, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
