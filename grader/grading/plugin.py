"""The pytest plugin: grading markers, the ``student`` fixture, and outcomes as typed results.

Registered through the ``pytest11`` entry point, so it loads in every pytest run; it stays inert
(markers only) unless a grading session is active: either ``grader.grading.engine`` passes one in,
or
``--grader-submission PATH`` is given (plain ``pytest`` inside ``assignment/``). Plugin state
lives in ``config.stash`` (STYLE.md, 3). Cheap to import: pytest and the stdlib only.
"""

from __future__ import annotations

import gc
import os
import time
import traceback
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from grader.authoring import pack
from grader.grading import shapes
from grader.grading.session import SESSION, GradingSession

if TYPE_CHECKING:
    from grader.grading.results import TestOutcome, Visibility

MARKERS = {
    "points": "points(n): the test is worth n points (required on every grading test)",
    "tags": "tags(*names): the assignment functions/classes the test grades (required)",
    "visibility": "visibility(v): hidden | after_due_date | after_published | visible",
    "gpu": "gpu: needs CUDA; skipped (and worth no points) where there is none",
    "category": "category(text): what a hidden test checks, shown instead of its input",
}
DEFAULT_VISIBILITY: dict[str, Visibility] = {"public": "visible", "hidden": "after_due_date"}


_CALL = pytest.StashKey[dict[str, Any]]()
_START = pytest.StashKey[float]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grader", "grading a submission")
    group.addoption(
        "--grader-submission",
        metavar="PATH",
        default=None,
        help="grade this submission (folder, zip or notebook) with the grading suites",
    )
    group.addoption(
        "--grader-verbose",
        action="store_true",
        default=False,
        help="show full inputs and differences in failure messages",
    )


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    path = config.getoption("grader_submission", None)
    if path and SESSION not in config.stash:
        from grader.grading import engine

        if not os.environ.get(pack.ENV) and (around := pack.find(Path(path))) is not None:
            # `pytest` inside a pack's assignment/ (its pytest.ini names the submission): grade
            # with the pack the submission sits in, as `grader check` run there would.
            pack.select(around)
        config.stash[SESSION] = engine.open_session(
            Path(path), verbose=config.option.grader_verbose
        )
        config.add_cleanup(config.stash[SESSION].sandbox.close)
    if SESSION in config.stash:
        from grader.grading import checks, feedback

        checks.use_diagnosis(feedback.diagnose)
        _hypothesis_profile()
        config.pluginmanager.register(Grading(config.stash[SESSION]), "grader-grading")


def _hypothesis_profile() -> None:
    from hypothesis import HealthCheck, Phase, settings
    from hypothesis.configuration import set_hypothesis_home_dir

    # Its cache of constants (read from the suites and the reference) goes where the grader's
    # files are closed off, whatever the working directory (engine.protect_trusted_files).
    try:
        pack.active().hypothesis.mkdir(mode=0o700, exist_ok=True)
    except OSError:  # a read-only installation: Hypothesis's default, the working directory
        pass
    else:
        set_hypothesis_home_dir(pack.active().hypothesis)

    # research/security.md d.9: no deadline (a jittery but correct solution must pass),
    # derandomized (regrades agree), no database (nothing written, nothing replayed).
    settings.register_profile(
        "grading",
        deadline=None,
        derandomize=True,
        database=None,
        max_examples=40,
        print_blob=False,
        report_multiple_bugs=False,
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )
    settings.load_profile("grading")


# -- fixtures (module level: the entry-point module is itself a plugin) -------------------------


@pytest.fixture
def student(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The submission, through a fresh sandboxed worker for this test."""
    from grader.grading import answers
    from grader.grading.student import Student

    session = _session(request.config)
    ref = answers.for_suites()
    proxy = Student(session.sandbox, ref.functions(), session.submitted)
    if isinstance(ref, answers.Recorder):
        proxy.observer = ref.saw
    try:
        yield proxy
    finally:
        proxy.close()
        request.node.stash[_CALL] = {
            **request.node.stash.get(_CALL, {}),
            "printed": proxy.output,
            "usage": proxy.usage,
        }


@pytest.fixture(scope="session")
def reference() -> Any:
    """The reference solutions (trusted side), or their recorded answers in a student bundle."""
    from grader.grading import answers

    return answers.for_suites()


@pytest.fixture(scope="session")
def diagnose() -> Callable[..., str | None]:
    """Bug fingerprints: ``diagnose(name, args, kwargs, got, ask=None, part=None) -> hint or None``
    (``ask(args, kwargs)``: the student's answer to a probe; docs/SUITES.md, "Hints")."""
    from grader.grading import feedback

    return feedback.diagnose


def _session(config: pytest.Config) -> GradingSession:
    if SESSION not in config.stash:
        raise pytest.UsageError(
            "the `student` fixture needs a grading session: run `python -m grader check`, "
            "`grader grade`, or pytest with --grader-submission PATH"
        )
    return config.stash[SESSION]


def _marker_arg(item: pytest.Item, name: str) -> Any:
    mark = item.get_closest_marker(name)
    if mark is None:
        return None
    return mark.args


def validate(item: pytest.Item) -> tuple[float, tuple[str, ...], Visibility | None]:
    """Points, tags and visibility of a grading test; a mistake is an error naming the test."""
    from grader.authoring import pack
    from grader.grading.results import VISIBILITIES

    where = item.nodeid
    points = _marker_arg(item, "points")
    default = pack.active().default_points
    if points is None and default is not None:
        points = (default,)
    if not points or len(points) != 1 or not isinstance(points[0], (int, float)) or points[0] < 0:
        raise pytest.UsageError(f"{where}: needs @pytest.mark.points(n) with one number n >= 0")
    tags: tuple[str, ...] = tuple(t for mark in item.iter_markers("tags") for t in mark.args)
    if not tags:
        raise pytest.UsageError(f"{where}: needs @pytest.mark.tags('function_name', ...)")
    for tag in tags:
        if tag not in pack.active().module_of:
            raise pytest.UsageError(
                f"{where}: tag {tag!r} is not a function or class of the assignment"
                f"{pack.did_you_mean(tag)}"
            )
    vis = _marker_arg(item, "visibility")
    visibility = None
    if vis is not None:
        if len(vis) != 1 or vis[0] not in VISIBILITIES:
            raise pytest.UsageError(f"{where}: visibility must be one of {', '.join(VISIBILITIES)}")
        visibility = vis[0]
    return float(points[0]), tags, visibility


class Grading:
    """The active half of the plugin, registered only while grading."""

    def __init__(self, session: GradingSession) -> None:
        self.session = session
        self._numbers: dict[str, str] = {}

    # collection

    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        files: dict[str, int] = {}
        counts: dict[str, int] = {}
        keep = []
        for item in items:
            _, tags, _ = validate(item)
            if self.session.only is not None and not _selected(self.session.only, tags):
                continue
            keep.append(item)
            f = str(item.path)
            files.setdefault(f, len(files) + 1)
            counts[f] = counts.get(f, 0) + 1
            self._numbers[item.nodeid] = f"{files[f]}.{counts[f]}"
        items[:] = keep
        self.session.total = len(keep)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.session.collection_errors.append(f"{report.nodeid}: {report.longrepr}")

    # running

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        # Everything imported and collected so far (torch, Hypothesis, the suites: ~1.5 million
        # objects) lives as long as the grading; the collector need not walk it again in every
        # full collection (five of them, ~0.4 s). The tests' own garbage is still collected.
        gc.freeze()
        gc.enable()  # the engine holds it off while importing (grader.grading.engine.grade)
        # gradcheck and backward(g) no longer import sympy for their shape check (~0.27 s).
        shapes.install()
        try:
            return (yield)
        finally:
            gc.unfreeze()

    @pytest.hookimpl(specname="pytest_runtestloop", tryfirst=True)
    def pytest_runtestloop_sharded(self, session: pytest.Session) -> bool | None:
        """The tests, shared between ``shards`` forked grading processes (``grader.grading.shard``),
        or None: pytest runs them here, one after another."""
        from grader.grading import shard

        if session.items and not session.config.option.collectonly:
            shard.prepare(self.session)
        return shard.run(session, self.session, self.session.shards, self.session.spare)

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        from grader.grading import answers

        answers.begin_test()
        item.stash[_START] = time.perf_counter()
        if item.get_closest_marker("gpu") is not None and not _cuda():
            from grader import messages

            pytest.skip(messages.GPU_SKIPPED)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        info = item.stash.get(_CALL, {})
        excinfo = call.excinfo
        if report.when == "call" and report.failed:
            excinfo = needs_reference(excinfo, validate(item)[1][0])
        if (report.when == "setup" and (report.failed or report.skipped)) or report.when == "call":
            info["report"] = (report.outcome, excinfo)
        item.stash[_CALL] = info
        box = self.session.sandbox
        if box.gate_error is not None or box.failed is not None:
            # The canary refused, or the sandbox never started: every later test would fail for
            # the grader's sake. Stop here; the engine turns it into a grader error.
            item.session.shouldstop = "the sandbox cannot grade (see the grader error)"
        if report.when == "teardown":
            outcome = self._outcome(item, info)
            self.session.outcomes.append(outcome)
            if self.session.progress is not None:
                self.session.progress(outcome, self.session.total)
        elif report.failed and report.when == "call":
            # Plain pytest shows the same message a student gets in results.json.
            from grader.grading import feedback

            _, tags, _ = validate(item)
            report.longrepr = feedback.explain(excinfo, tags, self.session.verbose).public
        return report

    def _outcome(self, item: pytest.Item, info: dict[str, Any]) -> TestOutcome:
        from grader.grading import feedback
        from grader.grading.results import TestOutcome

        points, tags, visibility = validate(item)
        suite = self._suite(item)
        outcome, excinfo = info.get("report", ("failed", None))
        name = _title(item)
        extra: dict[str, Any] = {"nodeid": item.nodeid}
        duration = time.perf_counter() - item.stash.get(_START, time.perf_counter())
        status: str
        if outcome == "passed":
            status, score, output = "passed", points, ""
        elif outcome == "skipped":
            # A GPU test where there is none: informational, worth nothing here (contract 3).
            status, score, output = "skipped", 0.0, _skip_reason(excinfo)
            extra["points_with_gpu"] = points
            points = 0.0
        else:
            status, score = "failed", 0.0
            marked = _marker_arg(item, "category")
            fb = feedback.explain(
                excinfo,
                tags,
                verbose=self.session.verbose,
                category=str(marked[0]) if marked else None,
            )
            output = fb.public if suite == "public" else fb.hidden
            # Paths in tracebacks name the student's file, not our scratch directory (a new
            # one each grading: a regrade gives the same results, staff's part included).
            scratches = [f"{scratch}/" for scratch in self.session.sandbox.scratches]
            extra.update(
                {k: _strip(v, scratches) if isinstance(v, str) else v for k, v in fb.staff.items()}
            )
            printed = _strip(info.get("printed", ""), scratches)
            if printed and suite == "public":
                output += "\n\nYour code printed:\n" + printed
        gpu = item.get_closest_marker("gpu") is not None
        if gpu and status != "skipped" and not self.session.gpu_counts:
            extra["points_with_gpu"] = points
            points, score = 0.0, 0.0
        return TestOutcome(
            name=name,
            number=self._numbers.get(item.nodeid, "0"),
            max_score=points,
            score=score,
            status=status,  # type: ignore[arg-type]
            output=output,
            tags=tags,
            visibility=visibility or DEFAULT_VISIBILITY[suite],
            suite=suite,
            nodeid=item.nodeid,
            duration=duration,
            extra=extra,
            **_usage(info.get("usage")),
        )

    def _suite(self, item: pytest.Item) -> str:
        root = self.session.hidden_root
        if root is not None and Path(item.path).is_relative_to(root):
            return "hidden"
        return "public"


def _strip(text: str, prefixes: list[str]) -> str:
    for prefix in prefixes:
        text = text.replace(prefix, "")
    return text


def _usage(usage: Any) -> dict[str, Any]:
    """The ``TestOutcome`` fields of what a test's student calls used (``student.Usage``)."""
    if usage is None:
        return {}
    return {
        "slowest_call": round(usage.slowest_call, 4),
        "peak_memory": max(int(usage.peak_memory), 0),
        "cut_by": usage.cut_by,
    }


def needs_reference(excinfo: Any, name: str) -> Any:
    """A failure caused by answers a student bundle lacks says so (``grader.grading.answers``).

    Inside Hypothesis the examples without answers are rejected; a test left with nothing else
    ends unsatisfiable, or in an error of the suite's own: the student reads why instead.
    """
    from grader.grading import answers
    from grader.grading.checks import StudentFailure

    exc = None if excinfo is None else excinfo.value
    if not answers.missed() or isinstance(exc, StudentFailure):
        return excinfo
    try:
        raise answers.NotRecorded(name) from exc
    except answers.NotRecorded:
        return pytest.ExceptionInfo.from_current()


def _selected(only: str, tags: tuple[str, ...]) -> bool:
    """``--only`` names a function/class, or a whole module."""
    from grader.authoring import pack

    return any(tag == only or pack.active().module_of[tag] == only for tag in tags)


def _title(item: pytest.Item) -> str:
    fn = getattr(item, "function", None)
    doc = (getattr(fn, "__doc__", None) or "").strip().splitlines()
    base = doc[0].rstrip(".") if doc else item.name.removeprefix("test_").replace("_", " ")
    params = getattr(item, "callspec", None)
    if params is not None:
        base += f" [{params.id}]"
    return base


def _skip_reason(excinfo: Any) -> str:
    if excinfo is None:
        return "skipped"
    return str(getattr(excinfo.value, "msg", excinfo.value))


def _cuda() -> bool:
    if os.environ.get("GRADER_NO_GPU"):
        return False
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def format_exception(excinfo: Any) -> str:
    if excinfo is None:
        return ""
    return "".join(traceback.format_exception(excinfo.type, excinfo.value, excinfo.tb))
