"""The single-bug corpus: every known bug of ``tests/grading/bugs.py`` graded as a submission.

Each bug is the reference with one wrong line (or a few: mistakes made together). Graded with
the engine, it must fail at least one test tagged with its own function and no test tagged only
with other functions (one bug costs points in one place). The same table drives
``grader.grading.feedback.diagnose``; for the fingerprinted bugs listed in ``HINT_FIRES`` the
hint must reach the student's feedback.

Speed: one warm ``Mother`` for the module; each bug is graded on the suites of its own module
(``Options(only=module)``) plus the modules that import it (``search`` imports ``losses``), since
every other module is the untouched reference. ``test_isolation_full_grading`` grades one bug of
each file against every suite, to check that shortcut.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import pytest

from grader.authoring import pack
from grader.grading import engine, feedback
from grader.grading import results_json as gradescope
from grader.grading.feedback import Bug
from grader.grading.results import GradingResult, TestOutcome
from grader.sandbox.host import Mother
from grader.sandbox.layers import Limits

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = ROOT / "solutions"
BUGS: tuple[Bug, ...] = feedback.bugs(ROOT / "tests" / "grading")
BY_ID = {b.id: b for b in BUGS}
LIMITS = Limits(call_timeout=3.0)

#: Fingerprinted bugs whose hint must show in the feedback of a failed test of their function.
HINT_FIRES = (
    "softmax-no-shift",
    "softmax-global-max",
    "softmax-normalize-columns",
    "ce-log-of-probability",
    "ce-shift-not-added-back",
    "ce-sum-not-mean",
    "ce-every-label-column",
    "ce-sign",
    "ce-global-max",
    "svm-includes-correct-class",
    "svm-sum-not-mean",
    "svm-mean-over-all-entries",
    "svm-max-not-sum",
    "svm-margin-hardcoded",
    "sqsvm-not-squared",
    "sqsvm-square-of-sum",
    "sqsvm-includes-correct-class",
    "sqsvm-sum-not-mean",
    "l2-norm-not-squared",
    "l2-half",
    "l1-no-abs",
    "elastic-beta-on-l1",
    "elastic-beta-on-both",
    "elastic-no-abs",
    "ridge-ignores-lam",
    "ridge-lam-everywhere",
    "ridge-lam-times-2n",
    "smgrad-no-shift",
    "smgrad-missing-one-hot",
    "smgrad-grad-not-averaged",
    "smgrad-loss-sum",
    "smgrad-loss-half-reg",
    "smgrad-reg-grad-1x",
    "smgrad-global-max",
    "svmgrad-missing-correct-column",
    "svmgrad-correct-column-sign",
    "svmgrad-kink-active",
    "svmgrad-kink-active-in-grad",
    "svmgrad-includes-correct-class",
    "svmgrad-reg-grad-1x",
    "svmgrad-grad-not-averaged",
    "relerr-signed-difference",
    "relerr-mean",
    "relerr-abs-of-sum",
    "sgd-ascent",
    "sgd-ignores-lr",
    "momentum-dampening",
    "momentum-ignored",
    "momentum-old-velocity",
    "momentum-sign",
    "adam-no-bias-correction-m",
    "adam-no-bias-correction-v",
    "adam-t-off-by-one",
    "adam-v-not-squared",
    "adam-no-sqrt",
    "gd-ascent",
    "minibatch-with-replacement",
    "minibatch-default-rho",
    "minibatch-full-batch",
    "minibatch-same-batch",
    "adam-eps-inside-sqrt",
    "minibatch-velocity-dropped",
    "minibatch-schedule-off-by-one",
    "step-decay-early",
    "step-decay-smooth",
    "step-decay-ceil",
    "cosine-not-clamped",
    "cosine-ignores-lr-min",
    "cosine-no-half",
    "cosine-half-period",
    "cv-sum-not-mean",
    "cv-fit-on-validation",
    "cv-error-on-train",
    # issue 26: the mistakes real students make, alone and together
    "ce-no-shift-log-of-probability",
    "ce-global-max-log-of-probability",
    "smgrad-log-of-probability",
    "smgrad-no-reg-in-loss",
    "smgrad-no-reg-in-grad",
    "smgrad-reg-without-reg",
    "smgrad-reg-w-dot-wt",
    "svmgrad-loss-half-reg",
    "svmgrad-reg-grad-half",
    "svmgrad-reg-grad-averaged",
    "svmgrad-no-reg-in-loss",
    "svmgrad-no-reg-in-grad",
    "adam-no-bias-correction",
    "adam-t-fixed",
    "smgrad-half-reg",
    "smgrad-no-reg",
    "smgrad-no-shift-log-of-probability",
    "smgrad-global-max-log-of-probability",
    "smgrad-log-of-probability-half-reg",
    "smgrad-no-shift-half-reg",
    "smgrad-global-max-half-reg",
    "smgrad-no-shift-log-of-probability-half-reg",
    "smgrad-global-max-log-of-probability-half-reg",
    "svmgrad-half-reg",
    "svmgrad-no-reg",
    "ce-log-of-probability-one-hot",
    "smgrad-reg-norm-not-squared",
    "smgrad-log-of-probability-one-hot",
    "svmgrad-reg-norm-not-squared",
    "svmgrad-grad-counts-correct-class",
    "sce-no-shift",
    "sce-log-of-probability",
    "sce-forward-sum",
    "smgrad-reg-l1",
    "svmgrad-reg-l1",
    "smgrad-half-reg-grad-not-averaged",
    "hinge-kink-active-in-backward",
)


def _importers() -> dict[str, set[str]]:
    """Module -> the student modules whose reference source imports it."""
    out: dict[str, set[str]] = {m: set() for m in pack.active().by_module}
    for mod in pack.active().by_module:
        text = (SOLUTIONS / f"{mod}.py").read_text(encoding="utf-8")
        for other in pack.active().by_module:
            if other != mod and re.search(
                rf"^\s*(from {other} import|import {other}\b)", text, re.M
            ):
                out[other].add(mod)
    return out


IMPORTERS = _importers()


def write_submission(dest: Path, patched: dict[str, str] | None = None) -> Path:
    """All six reference files in ``dest``, with the given files' text replaced."""
    dest.mkdir(parents=True, exist_ok=True)
    for src in sorted(SOLUTIONS.glob("*.py")):
        text = (patched or {}).get(src.name, src.read_text(encoding="utf-8"))
        (dest / src.name).write_text(text, encoding="utf-8")
    return dest


def patched_source(bug: Bug) -> str:
    return bug.patch((SOLUTIONS / bug.file).read_text(encoding="utf-8"))


def strip_timings(doc: dict) -> dict:
    doc = json.loads(json.dumps(doc))
    doc.pop("execution_time", None)
    for t in doc["tests"]:
        t.get("extra_data", {}).pop("duration", None)
    return doc


def describe(tests: list[TestOutcome]) -> str:
    return "\n".join(f"  {t.nodeid} {t.tags}: {t.output[:300]!r}" for t in tests)


@pytest.fixture(scope="module")
def corpus_mother() -> Iterator[Mother]:
    m = Mother()
    yield m
    m.close()


@pytest.fixture(scope="module")
def reference_result(corpus_mother: Mother) -> GradingResult:
    return engine.grade(SOLUTIONS, engine.Options(limits=LIMITS), mother=corpus_mother)


@pytest.fixture(scope="module")
def graded(
    corpus_mother: Mother,
    reference_result: GradingResult,
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[Bug], list[TestOutcome]]:
    """bug -> the outcomes of the suites it can affect (cached: each bug is graded once)."""
    with_tests = {pack.active().module_of[tag] for t in reference_result.tests for tag in t.tags}

    @cache
    def grade(bug_id: str) -> tuple[TestOutcome, ...]:
        bug = BY_ID[bug_id]
        folder = write_submission(tmp_path_factory.mktemp(bug.id), {bug.file: patched_source(bug)})
        module = bug.file[:-3]
        outcomes: list[TestOutcome] = []
        for mod in sorted({module} | IMPORTERS[module]):
            if mod != module and mod not in with_tests:
                continue  # no suite of that module yet: nothing it could break
            result = engine.grade(
                folder, engine.Options(only=mod, limits=LIMITS), mother=corpus_mother
            )
            assert result.grader_error is None, f"{bug.id} ({mod}):\n{result.grader_error}"
            outcomes.extend(result.tests)
        return tuple(outcomes)

    return lambda bug: list(grade(bug.id))


# -- the library itself --------------------------------------------------------------------------


def test_library_size_and_coverage() -> None:
    assert len(BUGS) >= 65
    assert len({b.id for b in BUGS}) == len(BUGS), "bug ids must be unique"
    per_function = {name: sum(b.function == name for b in BUGS) for name in pack.active().module_of}
    assert min(per_function.values()) >= 1, per_function
    assert sum(b.fingerprint for b in BUGS) >= 20


@pytest.mark.parametrize("bug", BUGS, ids=lambda b: b.id)
def test_bug_patches_its_lines_and_compiles(bug: Bug) -> None:
    assert bug.function in pack.active().module_of, f"{bug.function!r} is not an assignment name"
    assert bug.file == f"{pack.active().module_of[bug.function]}.py"
    source = (SOLUTIONS / bug.file).read_text(encoding="utf-8")
    patched = bug.patch(source)  # raises unless `old` is on exactly one line
    assert patched != source
    compile(patched, bug.file, "exec")
    changed = [
        (a, b) for a, b in zip(source.splitlines(), patched.splitlines(), strict=True) if a != b
    ]
    assert len(changed) == len(bug.edits)  # each edit on a line of its own
    assert bug.hint.strip() and not any(old in bug.hint for old, _ in bug.edits)


def test_library_is_the_one_the_grader_loads() -> None:
    assert pack.active().suites.resolve() == (ROOT / "tests" / "grading").resolve()
    assert [b.id for b in feedback.bugs()] == [b.id for b in BUGS]


# -- reference, stubs, determinism -------------------------------------------------------------


@pytest.mark.slow
def test_reference_gets_full_marks(reference_result: GradingResult) -> None:
    assert reference_result.grader_error is None
    failed = [t for t in reference_result.tests if t.status == "failed"]
    assert not failed, describe(failed)
    assert reference_result.score == reference_result.max_score > 0


@pytest.mark.slow
def test_stubs_get_zero(corpus_mother: Mother, tmp_path: Path) -> None:
    stubs = ROOT / "assignment"
    if not any(stubs.glob("*.py")):
        stubs = tmp_path / "stubs"
        stubs.mkdir()
        for name in pack.active().files:
            (stubs / name).write_text(_stub_module(name[:-3]), encoding="utf-8")
    result = engine.grade(stubs, engine.Options(limits=LIMITS), mother=corpus_mother)
    assert result.grader_error is None
    assert result.tests
    assert result.score == 0
    passed = [t for t in result.tests if t.status == "passed" and t.max_score > 0]
    assert not passed, describe(passed)


def _stub_module(module: str) -> str:
    lines = ["import torch", ""] if module == "torch_losses" else []
    for name in pack.active().by_module[module]:
        if name in pack.active().classes:
            lines += [
                f"class {name}(torch.autograd.Function):",
                "    @staticmethod",
                "    def forward(ctx, *args):",
                "        raise NotImplementedError",
                "",
                "    @staticmethod",
                "    def backward(ctx, *args):",
                "        raise NotImplementedError",
                "",
            ]
        else:
            lines += [f"def {name}(*args, **kwargs):", "    raise NotImplementedError", ""]
    return "\n".join(lines)


@pytest.mark.slow
def test_grading_twice_gives_identical_results(corpus_mother: Mother, tmp_path: Path) -> None:
    bug = BY_ID["svm-includes-correct-class"]
    folder = write_submission(tmp_path / "sub", {bug.file: patched_source(bug)})
    options = engine.Options(limits=LIMITS)
    first = gradescope.to_json(engine.grade(folder, options, mother=corpus_mother))
    second = gradescope.to_json(engine.grade(folder, options, mother=corpus_mother))
    assert first["score"] < sum(t["max_score"] for t in first["tests"])
    assert strip_timings(first) == strip_timings(second)


# -- the corpus ------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("bug", BUGS, ids=lambda b: b.id)
def test_bug_is_caught_by_its_own_tests_only(
    bug: Bug, graded: Callable[[Bug], list[TestOutcome]]
) -> None:
    outcomes = graded(bug)
    failed = [t for t in outcomes if t.status == "failed"]
    own = [t for t in failed if bug.function in t.tags]
    elsewhere = [t for t in failed if bug.function not in t.tags]
    assert own, f"no test tagged {bug.function!r} fails on bug {bug.id!r} ({bug.hint})"
    assert not elsewhere, f"bug {bug.id!r} also costs points elsewhere:\n{describe(elsewhere)}"


@pytest.mark.slow
@pytest.mark.parametrize("bug_id", HINT_FIRES)
def test_fingerprint_hint_reaches_the_student(
    bug_id: str, graded: Callable[[Bug], list[TestOutcome]]
) -> None:
    bug = BY_ID[bug_id]
    assert bug.fingerprint
    failed = [t for t in graded(bug) if t.status == "failed" and bug.function in t.tags]
    hinted = [
        t
        for t in failed
        if (t.suite == "public" and bug.hint in t.output) or t.extra.get("fingerprint") == bug.hint
    ]
    assert hinted, f"the hint of {bug.id!r} shows in no failed test:\n{describe(failed)}"


#: Bugs whose answer coincides with another bug's on some suite input, so that the other hint
#: (still true of their answer there) may be shown: bug id -> the ids whose hint may appear.
SHARED_ANSWERS = {
    "ce-no-shift": {"ce-log-of-probability"},  # both inf on huge scores
    "l1-abs-of-sum": {"l1-no-abs"},  # equal when sum(W) > 0
    "step-decay-ceil": {"step-decay-early"},  # equal at t = step_size - 1
}


@pytest.mark.slow
@pytest.mark.parametrize("bug", BUGS, ids=lambda b: b.id)
def test_no_misleading_hint(bug: Bug, graded: Callable[[Bug], list[TestOutcome]]) -> None:
    """A failed test never shows the hint of an unrelated bug."""
    allowed = {bug.hint} | {BY_ID[i].hint for i in SHARED_ANSWERS.get(bug.id, ())}
    shown = {
        t.extra["fingerprint"]: t.nodeid
        for t in graded(bug)
        if t.status == "failed" and t.extra.get("fingerprint")
    }
    wrong = {hint: node for hint, node in shown.items() if hint not in allowed}
    assert not wrong, f"{bug.id}: misleading hints {wrong}"


@pytest.mark.slow
@pytest.mark.parametrize("bug_id", sorted({b.file: b.id for b in reversed(BUGS)}.values()), ids=str)
def test_isolation_full_grading(bug_id: str, corpus_mother: Mother, tmp_path: Path) -> None:
    """One bug per file against every suite: nothing outside its function loses points."""
    bug = BY_ID[bug_id]
    folder = write_submission(tmp_path / "sub", {bug.file: patched_source(bug)})
    result = engine.grade(folder, engine.Options(limits=LIMITS), mother=corpus_mother)
    assert result.grader_error is None
    failed = [t for t in result.tests if t.status == "failed"]
    assert any(bug.function in t.tags for t in failed)
    elsewhere = [t for t in failed if bug.function not in t.tags]
    assert not elsewhere, describe(elsewhere)
