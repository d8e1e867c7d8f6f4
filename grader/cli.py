"""The command line: a thin argparse front over typed functions (STYLE.md, 11).

    python -m grader grade SUBMISSION --out results.json
    python -m grader demo
    python -m grader assign

Each subcommand is a function ``(args) -> ExitCode``; the work lives in the modules they call.
Every command takes ``--pack DIR`` (``grader.authoring.pack``).

(Over 500 lines on purpose: every command's arguments and help, each a few lines of argparse
and a few of dispatch; none of it is logic, and one parser reads best in one place.)
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import gc
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from grader import messages
from grader.authoring import pack
from grader.safe_text import for_terminal


class ExitCode(enum.IntEnum):
    OK = 0
    FAILED = 1  # `check`: some public test failed; `assign --check`: files out of date
    GRADER_ERROR = 2  # the grader itself failed (results.json still written)
    USAGE = 3


Command = Callable[[argparse.Namespace], ExitCode]


def _say(text: object, *, err: bool = False, multiline: bool = False) -> None:
    """Print what may carry student text (a name, an id, a submission's path, a grading's
    error): its control characters shown, never sent to the terminal (``grader.safe_text``,
    issue 29). One line unless ``multiline``, so that no student text forges a line."""
    print(for_terminal(text, newlines=multiline), file=sys.stderr if err else sys.stdout)


def _grade(args: argparse.Namespace) -> ExitCode:
    from grader.grading import engine

    submission = Path(args.submission)
    if not submission.exists():
        _say(f"grader: no such submission: {submission}", err=True)
        return ExitCode.USAGE
    try:
        options = engine.Options(
            suites=tuple(args.suite or engine.SUITES),
            only=args.only,
            verbose=args.verbose,
            gpu_counts=not args.gpu_informational,
            results_dir=Path(args.out).resolve().parent,
            shards=args.shards,
        )
    except ValueError as exc:
        print(f"grader grade: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    if args.memory_limit is not None:
        limits = dataclasses.replace(engine.pack_limits(), memory=args.memory_limit * 2**20)
        options = dataclasses.replace(options, limits=limits)
    if args.metadata:
        # Gradescope (issue 6, item 5): record the submission, apply the policies, then write.
        from grader.classroom import policies
        from grader.grading import results_json as gradescope

        result = policies.apply(
            engine.grade(submission, options),
            policies.load_metadata(Path(args.metadata)),
            policies.load_policy(pack.active().root),
        )
        gradescope.write(result, Path(args.out))
    else:
        result = engine.grade_to_file(submission, Path(args.out), options)
    _say(f"{submission}: {result.score:g} / {result.max_score:g} -> {args.out}")
    if result.grader_error is not None:
        _say(result.grader_error, err=True, multiline=True)
        return ExitCode.GRADER_ERROR
    return ExitCode.OK


def _new(args: argparse.Namespace) -> ExitCode:
    from grader.authoring import new

    dest = Path(args.dest or args.name)
    try:
        written = new.create(args.name, dest)
    except (new.NewPackError, pack.ManifestError) as exc:
        print(f"grader new: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    print(f"wrote {len(written)} files into {dest}; next:")
    print(f"  python -m grader grade --pack {dest} {dest / 'solutions'}   # full marks")
    print(f"  python -m grader grade --pack {dest} {dest / 'assignment'}  # zero")
    print("  docs/AUTHORING.md: how to make it your assignment")
    return ExitCode.OK


def _assign(args: argparse.Namespace) -> ExitCode:
    from grader.authoring import assign

    dest = Path(args.dest) if args.dest else pack.active().assignment
    if args.check:
        stale = assign.stale(pack.active().solutions, dest)
        for path in stale:
            print(f"out of date: {dest / path}  (run: python -m grader assign{_pack_arg()})")
        return ExitCode.FAILED if stale else ExitCode.OK
    for written in assign.write(pack.active().solutions, dest):
        print(f"wrote {written}")
    return ExitCode.OK


def _pack_arg() -> str:
    """`` --pack DIR`` for a command to suggest, where the active pack is not this repository's."""
    root = pack.active().root
    return "" if root == pack.ROOT.resolve() else f" --pack {root}"


def _unknown(only: str | None, command: str) -> bool:
    """Say so (with a suggestion) when ``--only`` names nothing of the assignment."""
    if only is None or only in pack.active().module_of or only in pack.active().by_module:
        return False
    names = [*pack.active().module_of, *pack.active().by_module]
    print(
        f"grader {command}: {only!r} is not part of the assignment{pack.did_you_mean(only, names)}",
        file=sys.stderr,
    )
    return True


def _check(args: argparse.Namespace) -> ExitCode:
    from grader.grading import check

    path = Path(args.path) if args.path else check.default_path()
    if not path.exists():
        _say(f"grader: nothing to check at {path}", err=True)
        return ExitCode.USAGE
    if _unknown(args.only, "check"):
        return ExitCode.USAGE
    result, _ = check.run_check(path, only=args.only, verbose=args.verbose)
    if result.grader_error is not None:
        return ExitCode.GRADER_ERROR
    return ExitCode.OK if check.passed(result) else ExitCode.FAILED


def _demo(args: argparse.Namespace) -> ExitCode:
    from grader.classroom import demo

    return ExitCode.OK if demo.run() else ExitCode.GRADER_ERROR


def _batch(args: argparse.Namespace) -> ExitCode:
    from grader.classroom import batch, discover

    if _unknown(args.only, args.command):
        return ExitCode.USAGE
    options = batch.BatchOptions(
        jobs=args.jobs,
        suites=tuple(args.suite or ("public", "hidden")),
        only=args.only,
        gpu_counts=not args.gpu_informational,
        timeout=args.timeout,
        regrade=getattr(args, "regrade", False),
        retry_errors=args.retry_errors,
        shards=args.shards,
        upgrade=args.command == "regrade",
        check_similarity=not args.no_similarity,
        dask_wait=args.dask_wait,
        dask_insecure=args.dask_insecure,
    )
    try:
        summary = batch.run_batch(Path(args.input), Path(args.out), options, dask=args.dask)
    except discover.BatchError as exc:
        _say(f"grader {args.command}: {exc}", err=True)
        return ExitCode.USAGE
    return ExitCode.GRADER_ERROR if summary.counts.get("grader error") else ExitCode.OK


def _gradebook_at(folder: str, command: str) -> Path | None:
    path = Path(folder) / "gradebook.sqlite"
    if not path.is_file():
        print(
            f"grader {command}: no gradebook at {path} (run `grader batch` first)", file=sys.stderr
        )
        return None
    return path


def _export(args: argparse.Namespace) -> ExitCode:
    from grader.classroom import export, gradebook

    path = _gradebook_at(args.dir, "export")
    if path is None:
        return ExitCode.USAGE
    if args.format and not args.out:
        print(f"grader export: --format {args.format} needs --out FILE", file=sys.stderr)
        return ExitCode.USAGE
    if args.out and not args.format:
        print(
            "grader export: --out FILE needs --format csv|gradescope|canvas|moodle",
            file=sys.stderr,
        )
        return ExitCode.USAGE
    if not (args.csv or args.gradescope or args.format):
        print(
            "grader export: say what to write: --csv FILE, --gradescope FILE, or "
            "--format canvas --out FILE",
            file=sys.stderr,
        )
        return ExitCode.USAGE
    if (args.roster or args.assignment) and args.format != "canvas":
        print("grader export: --roster and --assignment go with --format canvas", file=sys.stderr)
        return ExitCode.USAGE
    if args.out_of is not None and args.format != "moodle":
        print("grader export: --out-of goes with --format moodle", file=sys.stderr)
        return ExitCode.USAGE
    # Without it the worksheet holds the grader's points (208 for this pack) where a Moodle
    # assignment's maximum defaults to 100, and Moodle skips each grade above it silently.
    if args.format == "moodle" and not (args.out_of is not None and 0 < args.out_of < math.inf):
        got = "none" if args.out_of is None else f"{args.out_of:g}"
        print(f"grader export: {messages.MOODLE_OUT_OF.format(got=got)}", file=sys.stderr)
        return ExitCode.USAGE
    roster = None
    if args.roster:
        try:
            roster = export.read_roster(Path(args.roster))
        except export.RosterError as exc:
            _say(f"grader export: {exc}", err=True)
            return ExitCode.USAGE
    with gradebook.Gradebook(path) as book:
        records = book.records()
    csv_out = args.csv or (args.out if args.format == "csv" else None)
    upload = args.gradescope or (args.out if args.format == "gradescope" else None)
    if csv_out:
        n = export.export_csv(records, Path(csv_out))
        _say(f"wrote {csv_out} ({n} students)")
    if upload:
        n = export.export_gradescope_csv(records, Path(upload))
        _say(f"wrote {upload} ({n} students with an email or SID)")
    if args.format == "canvas":
        done = export.export_canvas(
            records, Path(args.out), args.assignment or export.DEFAULT_ASSIGNMENT, roster
        )
        for line in export.canvas_lines(done, Path(args.out)):
            _say(line)
    if args.format == "moodle":
        from grader.classroom import lms

        # A team download's ids are group ids, which may equal an unrelated participant's id.
        download = lms.load_manifest(Path(args.dir))
        if download is not None and download.team:
            _say(f"grader export: {messages.MOODLE_TEAMS.format(dir=args.dir)}", err=True)
            return ExitCode.USAGE
        moodle = export.export_moodle(records, Path(args.out), args.out_of)
        for line in export.moodle_lines(moodle, Path(args.out)):
            _say(line)
    return ExitCode.OK


def _lms_feedback(args: argparse.Namespace) -> ExitCode:
    from grader.classroom import feedback_pages, gradebook, lms_out

    path = _gradebook_at(args.dir, "lms-feedback")
    if path is None:
        return ExitCode.USAGE
    with gradebook.Gradebook(path) as book:
        records = book.records()
    try:
        pages = {p.id: p for p in feedback_pages.pages(Path(args.dir), args.show or ())}
        done = lms_out.feedback_archive(
            Path(args.dir),
            records,
            lambda sub_id: (
                None
                if sub_id not in pages
                else (pages[sub_id].text if args.text else pages[sub_id].html).encode()
            ),
            Path(args.out),
            "txt" if args.text else "html",
            args.lms,
        )
    except (lms_out.LmsOutError, FileNotFoundError, ValueError) as exc:
        _say(f"grader lms-feedback: {exc}", err=True)
        return ExitCode.USAGE
    for line in lms_out.archive_lines(done):
        _say(line)
    # which tests the pages reveal: after the deadline, `--show after_due_date` is usually meant
    _say(
        messages.FEEDBACK_INDEX_SHOWN.format(
            shown=", ".join(sorted({"visible", *(args.show or ())}))
        )
    )
    return ExitCode.OK


def _limits(args: argparse.Namespace) -> ExitCode:
    from grader.classroom import gradebook, limits

    path = _gradebook_at(args.dir, "limits")
    if path is None:
        return ExitCode.USAGE
    with gradebook.Gradebook(path) as book:
        records = book.records()
    for line in limits.lines(limits.suggest(records)):
        _say(line)
    return ExitCode.OK


def _report(args: argparse.Namespace) -> ExitCode:
    from grader.classroom import report

    try:
        written = report.write_report(Path(args.dir), Path(args.out))
    except FileNotFoundError as exc:
        _say(f"grader report: {exc}", err=True)
        return ExitCode.USAGE
    _say(f"wrote {written[0]} and {len(written) - 1} pictures")
    return ExitCode.OK


def _feedback(args: argparse.Namespace) -> ExitCode:
    from grader import messages
    from grader.classroom import feedback_pages
    from grader.safe_text import for_terminal

    try:
        written = feedback_pages.write_pages(Path(args.dir), Path(args.out), args.show or ())
    except (FileNotFoundError, ValueError) as exc:
        print(f"grader feedback: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    print(messages.FEEDBACK_WROTE.format(pages=len(written.files), index=written.index))
    for sub_id, problem in sorted(written.problems.items()):  # ids are student text
        print(f"  {for_terminal(sub_id)}: {for_terminal(problem)}", file=sys.stderr)
    return ExitCode.OK


def _package(args: argparse.Namespace) -> ExitCode:
    from grader.classroom import policies
    from grader.gradescope import package

    out = Path(args.out)
    try:
        if args.student:
            package.build_student(out)
        else:
            policy = policies.Policy(
                late_penalty_per_day=args.late_penalty_per_day,
                late_penalty_max=args.late_penalty_max,
                max_submissions=args.max_submissions,
            )
            package.build_autograder(out, policy=policy)
    except (package.PackageError, ValueError) as exc:
        print(f"grader package: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    print(f"wrote {out}")
    return ExitCode.OK


def _simulate(args: argparse.Namespace) -> ExitCode:
    from grader.gradescope import simulate

    submission = Path(args.submission)
    if not submission.exists():
        _say(f"grader: no such submission: {submission}", err=True)
        return ExitCode.USAGE
    if args.cpus < 0:
        print("grader simulate: --cpus must be 0 (no limit) or more", file=sys.stderr)
        return ExitCode.USAGE
    sim = simulate.simulate(
        submission,
        Path(args.zip) if args.zip else None,
        keep=args.keep,
        cpus=args.cpus or None,
    )
    _say(simulate.describe(sim), multiline=True)
    if args.keep:
        print(f"kept the simulated /autograder at {sim.root}")
    if args.out and sim.results is not None:
        Path(args.out).write_text(json.dumps(sim.results, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return ExitCode.OK if sim.ok else ExitCode.GRADER_ERROR


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grader",
        description="Autograder and assignment toolkit: grades the assignment pack it is given "
        "(--pack DIR; default: the pack around the working directory, else the repository's).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--pack",
        metavar="DIR",
        help="the assignment pack (a folder with assignment.toml); default: the nearest one at "
        "or above the working directory, else this repository's",
    )

    def add(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], **kwargs)

    p = add("grade", help="grade one submission into Gradescope's results.json")
    p.add_argument("submission", help="a folder of the student's files, a .zip, or a notebook")
    p.add_argument("--out", default="results.json", help="where to write results.json")
    p.add_argument("--suite", action="append", choices=["public", "hidden"], help="default: both")
    p.add_argument("--only", metavar="NAME", help="grade only the tests of this function")
    p.add_argument("--verbose", action="store_true", help="full inputs and differences")
    p.add_argument(
        "--gpu-informational",
        action="store_true",
        help="GPU tests are worth no points even where CUDA is present (default: they count "
        "where CUDA is present; without CUDA they are always skipped and worth nothing)",
    )
    p.add_argument(
        "--memory-limit",
        type=int,
        metavar="MIB",
        help="memory of each student worker above its start-up footprint (default: 2048)",
    )
    p.add_argument(
        "--metadata",
        metavar="FILE",
        help="Gradescope's submission_metadata.json: recorded in extra_data; policies applied",
    )
    p.add_argument(
        "--shards",
        type=_positive,
        metavar="N",
        help="grading processes to share the tests between (default: one per core this "
        "process may use, at most 2; the results are those of one process)",
    )
    p.set_defaults(run=_grade)

    p = add("check", help="run the public tests on your files; readable report")
    p.add_argument("path", nargs="?", help="folder or notebook (default: assignment/)")
    p.add_argument("--only", metavar="NAME", help="one function, class or module of the assignment")
    p.add_argument("--verbose", action="store_true", help="full inputs and differences")
    p.set_defaults(run=_check)

    p = sub.add_parser("new", help="scaffold a new assignment pack that grades straight away")
    p.add_argument("name", help="the pack's name, a short slug (e.g. backprop)")
    p.add_argument("--dest", help="the folder to create (default: ./NAME)")
    p.set_defaults(run=_new, pack=None, needs_pack=False)

    p = add("assign", help="generate assignment/ (stubs + notebook) from solutions/")
    p.add_argument("--dest", help="where to write (default: the pack's assignment/)")
    p.add_argument("--check", action="store_true", help="only report files that are out of date")
    p.set_defaults(run=_assign)

    p = add("demo", help="grade the reference, the stubs and examples/; print a table")
    p.set_defaults(run=_demo)

    p = add("batch", help="grade many submissions into a resumable gradebook")
    _grading_arguments(p)
    p.add_argument("--regrade", action="store_true", help="grade everything again")
    p.set_defaults(run=_batch)

    p = add(
        "regrade",
        help="grade again what an older grader or suite graded; print and write what changed",
    )
    _grading_arguments(p)
    p.set_defaults(run=_batch)

    p = add("export", help="a batch's gradebook as CSV (class, Gradescope, Canvas)")
    p.add_argument("dir", help="the --out folder of `grader batch`")
    p.add_argument("--csv", metavar="FILE", help="one row per student, per-test scores")
    p.add_argument("--gradescope", metavar="FILE", help="Gradescope score upload CSV")
    p.add_argument(
        "--format",
        choices=["csv", "gradescope", "canvas", "moodle"],
        help="what to write to --out: the class CSV, Gradescope's upload, Canvas's import, "
        "Moodle's grading worksheet (from a batch of Moodle's download)",
    )
    p.add_argument("--out", metavar="FILE", help="the file --format writes")
    p.add_argument(
        "--roster",
        metavar="FILE",
        help="Canvas: the students to match (Canvas's gradebook export, or a CSV with "
        "name/email/sid/login/section columns); default: the submitters the batch knows",
    )
    p.add_argument(
        "--assignment",
        metavar="NAME",
        help="Canvas: the assignment column, 'Name (id)' for an existing assignment "
        "(default: a new one called Autograder)",
    )
    p.add_argument(
        "--out-of",
        type=float,
        metavar="POINTS",
        help="Moodle: the assignment's maximum grade in Moodle, scores are scaled to it "
        "(required with --format moodle)",
    )
    p.set_defaults(run=_export)

    p = add(
        "lms-feedback",
        help="the zip that gives every student of a Canvas or Moodle batch their feedback page",
    )
    p.add_argument("dir", help="the --out folder of `grader batch` on an LMS download")
    p.add_argument("--out", required=True, help="the zip to upload to the LMS")
    p.add_argument("--lms", choices=["canvas", "moodle"], help="check the batch's LMS is this")
    p.add_argument("--text", action="store_true", help="plain-text pages instead of HTML")
    p.add_argument(
        "--show",
        action="append",
        choices=("after_due_date", "after_published"),
        help="as for `grader feedback`",
    )
    p.set_defaults(run=_lms_feedback)

    p = add("limits", help="suggested timeout and memory limit from a batch's data")
    p.add_argument("dir", help="the --out folder of `grader batch`")
    p.set_defaults(run=_limits)

    p = add("report", help="an HTML class report with pictures from a batch")
    p.add_argument("dir", help="the --out folder of `grader batch`")
    p.add_argument("--out", default="report.html", help="the HTML file (PNGs go next to it)")
    p.set_defaults(run=_report)

    p = add("feedback", help="a feedback page (HTML and text) per student of a batch")
    p.add_argument("dir", help="the --out folder of `grader batch`")
    p.add_argument("--out", required=True, help="the folder for the pages and index.html")
    p.add_argument(
        "--show",
        action="append",
        choices=("after_due_date", "after_published"),
        help="also show tests of this visibility (repeatable); `hidden` tests never appear",
    )
    p.set_defaults(run=_feedback)

    p = add("package", help="build Gradescope's autograder.zip (or the student bundle)")
    p.add_argument("--out", default="autograder.zip", help="the zip to write")
    p.add_argument("--student", action="store_true", help="the student bundle: nothing hidden")
    p.add_argument("--late-penalty-per-day", type=float, default=0.0, metavar="FRACTION")
    p.add_argument("--late-penalty-max", type=float, default=1.0, metavar="FRACTION")
    p.add_argument("--max-submissions", type=int, metavar="N", help="default: unlimited")
    p.set_defaults(run=_package)

    p = add("simulate", help="run autograder.zip on a submission like Gradescope")
    p.add_argument("submission", help="a folder of the student's files, a .zip, or a notebook")
    p.add_argument("--zip", help="the autograder zip (default: built from this checkout)")
    p.add_argument("--out", help="also copy results.json here")
    p.add_argument("--keep", action="store_true", help="keep the simulated /autograder tree")
    p.add_argument(
        "--cpus",
        type=float,
        default=0.5,
        metavar="N",
        help="CPU quota of the run, as Gradescope's default 0.5 vCPU (0: none; needs root)",
    )
    p.set_defaults(run=_simulate)
    return parser


def _grading_arguments(p: argparse.ArgumentParser) -> None:
    """What `batch` and `regrade` share."""
    p.add_argument(
        "input",
        help="a folder of submissions, a Gradescope export, or Canvas's or Moodle's download of "
        "the submissions (folder or zip)",
    )
    p.add_argument("--out", required=True, help="folder for results/, gradebook.sqlite, logs/")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="grading processes")
    p.add_argument("--dask", metavar="ADDRESS", help="grade on this Dask scheduler instead")
    p.add_argument(
        "--dask-wait",
        type=_positive_float,
        default=300.0,
        metavar="S",
        help="with --dask: stop after this many seconds with no worker or no scheduler "
        "(default 300); rerunning the command resumes",
    )
    p.add_argument(
        "--dask-insecure",
        action="store_true",
        help="with --dask: accept a plain tcp:// scheduler beyond this machine (no encryption, "
        "no authentication: only on a network no one else reaches)",
    )
    p.add_argument("--timeout", type=float, default=600.0, help="wall seconds per submission")
    p.add_argument("--suite", action="append", choices=["public", "hidden"], help="default: both")
    p.add_argument("--only", metavar="NAME", help="grade only the tests of this function")
    p.add_argument("--gpu-informational", action="store_true", help="as for `grade`")
    p.add_argument("--retry-errors", action="store_true", help="grade time-outs, errors again")
    p.add_argument(
        "--no-similarity",
        action="store_true",
        help="skip the comparison of the submissions' code at the end",
    )
    p.add_argument(
        "--shards",
        type=_positive,
        metavar="N",
        help="processes each grading shares its tests between (default: the cores per job, "
        "at most 2; 1 with --dask)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Command = args.run
    try:
        # Before anything reads it; GRADER_PACK carries it to every process the grader starts.
        if getattr(args, "needs_pack", True):
            pack.select(args.pack or os.environ.get(pack.ENV) or None)
    except pack.ManifestError as exc:
        print(f"grader {args.command}: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    try:
        return int(run(args))
    except ModuleNotFoundError as exc:
        if (exc.name or "").startswith("grader.") and _in_a_student_bundle():
            print(messages.NOT_IN_BUNDLE.format(command=args.command), file=sys.stderr)
            return ExitCode.USAGE
        extra = _EXTRAS.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        print(
            f"grader {args.command}: needs {exc.name}, which is not installed: "
            f'pip install "grader[{extra}]"',
            file=sys.stderr,
        )
        return ExitCode.USAGE


def run() -> NoReturn:
    """The ``grader`` command and ``python -m grader``: ``main()``, then a quick exit.

    By its end a grading process holds ~1.5 million objects (torch, Hypothesis, the suites),
    and the interpreter's last garbage collection walked them all on the way out: ~0.7 s of a
    6 s grading. Frozen, they are left to the operating system, which frees a dead process's
    memory at once; atexit handlers and the flushing of output still run as usual.
    ``grade`` and ``check`` skip the interpreter's tear-down as well (``_quick_exit``).
    """
    from grader import prefork

    argv = sys.argv[1:]
    if argv[:1] == [prefork.RESUME]:
        argv = prefork.resume(argv[1:])
    else:
        _start_clean(argv)
    code = main(argv)
    gc.freeze()
    if argv[:1] and argv[0] in prefork.COMMANDS:
        _quick_exit(code)
    sys.exit(code)


def _quick_exit(code: int) -> NoReturn:
    """Exit as the interpreter would, less its tear-down of every module.

    Tearing down torch, Hypothesis, pytest and the suites took ~0.13 s at the end of every
    ``grader grade`` (a fifth of what it costs beyond the import floor, issue 15). What an exit
    must still do is done here, in the interpreter's order: wait for threads that are not
    daemons, run the atexit handlers (the mothers' close, ``weakref.finalize`` and tempfile
    clean-ups, logging's flush), flush standard output and error; then ``os._exit``. These two
    commands write their files with ``with`` blocks, closed before ``main`` returns.
    """
    import atexit
    import threading

    me = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not me and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):  # closed, or replaced by something odd
            code = code or 120  # as the interpreter's own exit reports a failed flush
    os._exit(code)


def _start_clean(argv: list[str]) -> None:
    """For ``grade`` and ``check``, start again from a scrubbed process (``grader.prefork``),
    which forks the sandbox's mothers before it reads anything of the grading; else return."""
    from grader import prefork

    if not argv or argv[0] not in prefork.COMMANDS or not prefork.wanted():
        return
    try:
        args = build_parser().parse_args(argv)
        pack.select(args.pack or os.environ.get(pack.ENV) or None)
        torch = bool(pack.active().torch_modules)
    except (SystemExit, pack.ManifestError):
        return  # ``main`` says what is wrong, as it would have
    prefork.reexec(argv, torch)


def _in_a_student_bundle() -> bool:
    """A student bundle ships what ``check`` runs, never ``grader.classroom`` (issue 29)."""
    return not (Path(__file__).resolve().parent / "classroom").is_dir()


# Optional dependencies of the instructor's commands, and the extra that installs each.
_EXTRAS = {
    "matplotlib": "instructor",
    "yaml": "instructor",
    "jsonschema": "instructor",
    "copydetect": "instructor",
    "dask": "distributed",
    "distributed": "distributed",
}
