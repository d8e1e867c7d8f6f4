"""A local Gradescope: run autograder.zip on one submission the way Gradescope would.

(Just over 500 lines: the simulated /autograder, its CPU quota and the checks of what came back
describe one run together.)

    python -m grader simulate SUBMISSION [--zip autograder.zip] [--out RESULTS.json]

It unpacks the zip into a temporary root laid out like ``/autograder`` (source/, submission/,
results/, submission_metadata.json, run_autograder), runs setup.sh's permission step (not its
apt and pip steps: the current interpreter stands in for /autograder/venv), then runs
``run_autograder`` as Gradescope does (as the current user, root in CI; cwd the root) under
Gradescope's default limits, validates results.json against ``gradescope_schema.json`` and
shows what a student would see under each visibility setting.

Memory: Gradescope's 768 MB is a container (cgroup) limit on resident memory. An
``RLIMIT_AS`` of 768 MB on the whole run cannot stand in for it: torch alone reserves gigabytes
of address space it never touches. So the simulator polls the process tree and sums each
process's proportional set size (PSS: shared pages counted once across the tree, as a cgroup
counts them) and, when that sum passes the limit, does what the kernel's OOM killer does in
the container: kills the process with the highest ``oom_score`` (most often the student's
worker, which the grader reports as a failed test) and lets the rest go on. If the victim is
the grader itself, run_autograder's fallback writes the "autograder failed" results.json.

CPU: Gradescope gives a default autograder half a vCPU. As root on a machine whose cgroup
file system is writable (cgroup v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``), the run goes into a
cgroup of its own with that quota, so its wall time is Gradescope's; elsewhere the report says
the limit was not applied.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from grader.authoring import pack
from grader.grading.results import VISIBILITIES
from grader.grading.results_json import effective_visibility

#: Gradescope's defaults (research/autograders.md, A.3).
TIME_LIMIT = 600.0
MEMORY_LIMIT = 768 * 2**20
CPU_LIMIT = 0.5  # CPUs
POLL = 0.1
CGROUP = Path("/sys/fs/cgroup")

#: When a student sees tests of each visibility (Gradescope's specs).
WHEN_SHOWN = {
    "visible": "always",
    "after_due_date": "after the due date (the late due date if late submissions are allowed)",
    "after_published": "once the instructor publishes the grades",
    "hidden": "never",
}
#: The moments a student looks, and the visibilities shown by then.
PHASES: tuple[tuple[str, frozenset[str]], ...] = (
    ("before the due date", frozenset({"visible"})),
    ("after the due date", frozenset({"visible", "after_due_date"})),
    ("after grades are published", frozenset({"visible", "after_due_date", "after_published"})),
)


def fake_metadata() -> dict[str, Any]:
    """A plausible submission_metadata.json (Gradescope's docs/submission_metadata.md)."""
    return {
        "id": 123456789,
        "created_at": "2025-10-01T14:22:32.365935-07:00",
        "assignment": {
            "id": 25828,
            "course_id": 1234,
            "title": pack.active().title,
            "release_date": "2025-09-17T00:00:00.000000-07:00",
            "due_date": "2025-10-08T23:59:00.000000-07:00",
            "late_due_date": None,
            "group_submission": False,
            "group_size": None,
            "total_points": "0.0",
        },
        "submission_method": "upload",
        "users": [{"email": "student@example.edu", "id": 1234, "name": "Ada Student"}],
        "previous_submissions": [],
    }


@dataclass(frozen=True)
class Simulation:
    """What one simulated Gradescope run produced."""

    root: Path  # the temporary /autograder (removed unless kept)
    results: dict[str, Any] | None  # results.json, or None when none was written
    returncode: int | None  # run_autograder's exit status (None: killed by the simulator)
    wall: float  # seconds
    peak_memory: int  # bytes: the largest PSS sum of the process tree seen
    killed: str | None = None  # "time limit" when the simulator stopped the whole run
    oom_kills: tuple[str, ...] = ()  # the processes killed at the memory limit, one line each
    schema_errors: tuple[str, ...] = ()
    log: str = ""  # run_autograder's stdout and stderr (Gradescope's results/stdout)
    cpu: str = ""  # the CPU limit the run had, or why it had none (``cpu_quota``)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.results is not None and not self.schema_errors and self.killed is None


def simulate(
    submission: Path,
    zip_path: Path | None = None,
    *,
    metadata: Mapping[str, Any] | None = None,
    time_limit: float = TIME_LIMIT,
    memory_limit: int = MEMORY_LIMIT,
    cpus: float | None = CPU_LIMIT,
    python: str = sys.executable,
    keep: bool = False,
    env: Mapping[str, str] | None = None,
    work: Path | None = None,
) -> Simulation:
    """Run the autograder in ``zip_path`` (built from this checkout if None) on ``submission``.

    ``work``: an empty folder to hold the simulated root (``work/autograder``); a fresh temporary
    one by default. It is removed afterwards unless ``keep``. ``cpus``: the CPU quota of the run
    (None: none).
    """
    work = Path(tempfile.mkdtemp(prefix="gradescope-sim-")) if work is None else work
    work.chmod(0o711)  # like /: the sandbox uids may traverse, not list
    root = work / "autograder"
    try:
        if zip_path is None:
            from grader.gradescope import package

            zip_path = package.build_autograder(work / "autograder.zip")
        lay_out(root, zip_path, submission, fake_metadata() if metadata is None else metadata)
        subprocess.run(
            ["bash", str(root / "source" / "setup.sh"), "--permissions-only", str(root)],
            check=True,
        )
        run_env = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
        run_env.update(AUTOGRADER_ROOT=str(root), AUTOGRADER_PYTHON=python, **(env or {}))
        log_path = work / "stdout"
        with cpu_quota(cpus) as (procs, cpu), log_path.open("wb") as log:
            start = time.monotonic()
            command = [str(root / "run_autograder")]
            if procs is not None:  # join the cgroup, then exec: all it starts is held to it
                command = ["sh", "-c", 'echo $$ > "$0" && exec "$@"', str(procs), *command]
            proc = subprocess.Popen(
                command,
                cwd=root,
                env=run_env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            peak, killed, oom = _watch(proc, time_limit, memory_limit)
            wall = time.monotonic() - start
        text = log_path.read_text(encoding="utf-8", errors="replace")
        shutil.copy(log_path, root / "results" / "stdout")
        results, errors = _read_results(root / "results" / "results.json")
        return Simulation(
            root=root,
            results=results,
            returncode=None if killed else proc.returncode,
            wall=wall,
            peak_memory=peak,
            killed=killed,
            oom_kills=tuple(oom),
            schema_errors=errors,
            log=text,
            cpu=cpu,
        )
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def lay_out(root: Path, zip_path: Path, submission: Path, metadata: Mapping[str, Any]) -> None:
    """``root`` as Gradescope has /autograder when run_autograder starts."""
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    source = root / "source"
    extract(zip_path, source)
    shutil.copy2(source / "run_autograder", root / "run_autograder")
    dest = root / "submission"
    dest.mkdir()
    if submission.is_dir():
        shutil.copytree(submission, dest, dirs_exist_ok=True)
    elif submission.suffix.lower() == ".zip":
        extract(submission, dest)  # Gradescope unpacks an uploaded zip into submission/
    else:
        shutil.copy2(submission, dest / submission.name)
    (root / "results").mkdir()
    (root / "submission_metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")


def extract(zip_path: Path, dest: Path) -> None:
    """Unzip with the modes stored in the zip (zipfile drops them); refuse unsafe paths."""
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            parts = PurePosixPath(info.filename).parts
            if info.filename.startswith("/") or ".." in parts or not parts:
                raise ValueError(f"{zip_path}: unsafe member {info.filename!r}")
            target = dest.joinpath(*parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(info))
            mode = (info.external_attr >> 16) & 0o777
            target.chmod(mode if info.create_system == 3 and mode else 0o644)


def schema() -> dict[str, Any]:
    text = (
        resources.files("grader.gradescope").joinpath("gradescope_schema.json").read_text("utf-8")
    )
    data: dict[str, Any] = json.loads(text)
    return data


def validate(results: Any) -> tuple[str, ...]:
    """Every way ``results`` breaks Gradescope's specification (empty when it follows it)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    return tuple(
        f"{'/'.join(str(p) for p in e.absolute_path) or '(top level)'}: {e.message}"
        for e in sorted(validator.iter_errors(results), key=lambda e: list(e.absolute_path))
    )


def _read_results(path: Path) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
    if not path.is_file():
        return None, ("no results.json was written: Gradescope shows the student an error",)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        return None, (f"results.json is not JSON ({exc}): Gradescope shows an error",)
    return data, validate(data)


# -- the CPU quota -------------------------------------------------------------------------------


@contextlib.contextmanager
def cpu_quota(cpus: float | None) -> Iterator[tuple[Path | None, str]]:
    """A cgroup limited to ``cpus`` CPUs: (its ``cgroup.procs``, a description), removed after.

    (None, why) where none can be made: not root, no writable cpu controller, or ``cpus`` None.
    """
    if cpus is None:
        yield None, "no CPU limit (asked for none)"
        return
    if os.geteuid() != 0:
        yield None, f"not limited to {cpus:g} CPU (needs root to make a cgroup)"
        return
    period = 100_000
    quota = max(1000, int(cpus * period))
    name = f"grader-sim-{os.getpid()}-{time.monotonic_ns()}"
    group: Path | None = None
    try:
        if (CGROUP / "cgroup.controllers").is_file():  # cgroup v2, unified
            if "cpu" not in (CGROUP / "cgroup.controllers").read_text().split():
                raise OSError("the cgroup v2 hierarchy has no cpu controller")
            with contextlib.suppress(OSError):
                (CGROUP / "cgroup.subtree_control").write_text("+cpu")
            group = CGROUP / name
            group.mkdir()
            (group / "cpu.max").write_text(f"{quota} {period}")
        elif (CGROUP / "cpu" / "cpu.cfs_quota_us").is_file():  # cgroup v1
            group = CGROUP / "cpu" / name
            group.mkdir()
            (group / "cpu.cfs_period_us").write_text(str(period))
            (group / "cpu.cfs_quota_us").write_text(str(quota))
        else:
            raise OSError(f"no cpu controller under {CGROUP}")
    except OSError as exc:
        if group is not None:
            _remove_group(group)
        yield None, f"not limited to {cpus:g} CPU ({exc})"
        return
    try:
        yield group / "cgroup.procs", f"{cpus:g} CPU (cgroup {group})"
    finally:
        _remove_group(group)


def _remove_group(group: Path) -> None:
    """rmdir the cgroup once its processes are gone (the watch killed them all)."""
    for _ in range(50):
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)


# -- watching the process tree -----------------------------------------------------------------


def _watch(
    proc: subprocess.Popen[bytes], time_limit: float, memory_limit: int
) -> tuple[int, str | None, list[str]]:
    """Wait for ``proc`` under both limits. Returns (peak PSS bytes, killed, OOM kills)."""
    deadline = time.monotonic() + time_limit
    peak = 0
    oom: list[str] = []
    dying: set[int] = set()
    while proc.poll() is None:
        tree = descendants(proc.pid)
        used = sum(_pss(pid) for pid in tree)
        peak = max(peak, used)
        # Like the kernel, pick no new victim while the last one still holds its memory: its
        # pages are counted until it is gone, and the next biggest is most often the grader.
        dying = {pid for pid in dying if _holds_memory(pid)}
        if used > memory_limit and not dying:
            victim = max(tree, key=_oom_score)
            dying.add(victim)
            oom.append(f"pid {victim} ({_comm(victim)}) at {used / 2**20:.0f} MiB in all")
            _kill([victim])
        if time.monotonic() > deadline:
            # run_autograder first: killed after the grader, it would write its fallback
            # results.json ("the autograder failed") in between, which Gradescope never does.
            tree = descendants(proc.pid)
            _kill([proc.pid])
            _kill(tree - {proc.pid})
            proc.wait()
            return peak, "time limit", oom
        time.sleep(POLL)
    _kill(descendants(proc.pid) - {proc.pid})  # nothing of the run may outlive it
    return peak, None, oom


def _holds_memory(pid: int) -> bool:
    """Still alive, or a zombie that has not released its pages yet (PSS above zero)."""
    return _pss(pid) > 0


def _oom_score(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/oom_score").read_text())
    except (OSError, ValueError):
        return -1


def _comm(pid: int) -> str:
    """The process's name and command line: the sandbox names its processes
    (``grader-worker``...), which share the grader's command line when forked from it."""
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
        line = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "?"
    return f"{name}: {line[:80].strip()}"


def descendants(pid: int) -> set[int]:
    """``pid`` and every process below it (by parent pid, across sessions)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # the command name is parenthesized and may hold spaces: split after it
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        if p not in out:
            out.add(p)
            todo.extend(children.get(p, []))
    return out


def _pss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _kill(pids: Iterable[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# -- what a student sees ------------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """The tests of one visibility setting, or everything shown at one moment."""

    label: str
    when: str
    tests: tuple[str, ...]
    score: float
    max_score: float
    total_shown: bool


def by_visibility(results: Mapping[str, Any]) -> list[Shown]:
    """One entry per visibility setting: which tests carry it, and their points."""
    tests = list(results.get("tests") or [])
    total_shown = not any(effective_visibility(results, t) == "hidden" for t in tests)
    out = []
    for vis in VISIBILITIES:
        mine = [t for t in tests if effective_visibility(results, t) == vis]
        out.append(
            Shown(
                label=vis,
                when=WHEN_SHOWN[vis],
                tests=tuple(str(t.get("name", "")) for t in mine),
                score=round(sum(float(t.get("score") or 0) for t in mine), 6),
                max_score=round(sum(float(t.get("max_score") or 0) for t in mine), 6),
                total_shown=total_shown,
            )
        )
    return out


def by_phase(results: Mapping[str, Any]) -> list[Shown]:
    """What the student's page shows at each moment (instructors always see everything)."""
    tests = list(results.get("tests") or [])
    total_shown = not any(effective_visibility(results, t) == "hidden" for t in tests)
    out = []
    for label, shown in PHASES:
        mine = [t for t in tests if effective_visibility(results, t) in shown]
        out.append(
            Shown(
                label=label,
                when=", ".join(v for v in VISIBILITIES if v in shown),
                tests=tuple(str(t.get("name", "")) for t in mine),
                score=round(sum(float(t.get("score") or 0) for t in mine), 6),
                max_score=round(sum(float(t.get("max_score") or 0) for t in mine), 6),
                total_shown=total_shown,
            )
        )
    return out


def student_views(results: Mapping[str, Any], examples: int = 2) -> str:
    """The printout of ``grader simulate``: what a student sees, setting by setting."""
    tests = list(results.get("tests") or [])
    hidden = sum(effective_visibility(results, t) == "hidden" for t in tests)
    lines = ["What a student sees (instructors always see every test):"]
    for s in by_visibility(results):
        names = "; ".join(s.tests[:examples]) + (" ..." if len(s.tests) > examples else "")
        lines.append(
            f"  {s.label:<16} {len(s.tests):>4} tests  {s.score:g} / {s.max_score:g} points"
            f"  shown {s.when}" + (f"\n  {'':<16} e.g. {names}" if s.tests else "")
        )
    score = results.get("score")
    if hidden:
        lines.append(
            f"  total score: HIDDEN from the student ({hidden} hidden test(s); Gradescope hides "
            "the total whenever any test is hidden)"
        )
    else:
        lines.append(
            f"  total score: shown ({score:g})"
            if isinstance(score, (int, float))
            else "  total score: shown (the sum of the tests)"
        )
    output = str(results.get("output") or "")
    top_vis = results.get("visibility") or "visible"
    if output:
        first = output.splitlines()[0][:100]
        lines.append(f"  top-level output ({top_vis}): {first!r}")
    lines.append(f"  stdout of run_autograder: {results.get('stdout_visibility') or 'hidden'}")
    lines.append("By moment:")
    for s in by_phase(results):
        total = f"{s.score:g} / {s.max_score:g}" if s.total_shown else "total hidden"
        lines.append(f"  {s.label:<28} {len(s.tests):>4} tests shown ({s.when}); {total}")
    return "\n".join(lines)


def describe(sim: Simulation) -> str:
    """The whole report: run, limits, schema, the student's view."""
    mib = sim.peak_memory / 2**20
    lines = [
        f"run_autograder: exit {sim.returncode}, {sim.wall:.1f} s of {TIME_LIMIT:g} s, "
        f"peak memory (PSS of the process tree) {mib:.0f} MiB of {MEMORY_LIMIT / 2**20:.0f} MiB",
        f"CPU: {sim.cpu}",
    ]
    if sim.killed:
        lines.append(f"KILLED at the {sim.killed}: on Gradescope the student gets 0 and no tests")
    for kill in sim.oom_kills:
        lines.append(f"out of memory: killed {kill} (as the container's OOM killer would)")
    if sim.schema_errors:
        lines.append("results.json breaks Gradescope's specification:")
        lines += [f"  {e}" for e in sim.schema_errors]
    elif sim.results is not None:
        lines.append(
            "results.json follows Gradescope's specification "
            "(grader/gradescope/gradescope_schema.json)"
        )
    if sim.results is not None:
        lines.append(student_views(sim.results))
    return "\n".join(lines)


__all__: Sequence[str] = [
    "CPU_LIMIT",
    "MEMORY_LIMIT",
    "TIME_LIMIT",
    "Simulation",
    "by_phase",
    "by_visibility",
    "cpu_quota",
    "describe",
    "fake_metadata",
    "simulate",
    "student_views",
    "validate",
]
