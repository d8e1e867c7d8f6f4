"""Benchmark: grading one submission end to end, against the import floor, and its peak memory.

    .venv/bin/python bench/bench_grade.py [--repeat 3] [--skip-one-core] [--serial] [SUBMISSION]

Prints, for this machine, the median wall time (and the CPU time of the whole process tree) of

* the floor: ``python -c "import numpy, torch, pytest, hypothesis"`` (what any grader pays), and
* ``python -m grader grade SUBMISSION --out ...`` (default: the reference, which runs every test),

their ratio (goal: <= 2x on all the cores this process may use; with ``--serial`` also for one
grading process, ``grade --shards 1``, as gradings ran before issue 15; with
``--without-prefork`` also with ``GRADER_PREFORK=0``, the zygotes started as interpreters of their
own instead of forked from the clean mothers, ``grader.prefork``), the same on one core
(``taskset -c 0`` for both; goal <= 3x), the peak memory of the whole grading process tree,
grader plus sandbox workers, sampled from /proc every 10 ms as the sum of PSS (each physical page
counted once, as a container's limit counts it; goal: <= 700 MB, so a grading fits Gradescope's
default 768 MB; summed RSS is printed too: it counts the zygote's pages again in every forked
worker), and the per-test overhead: the CPU one trivial test costs (a generated suite of tests
that each make one call of ``l2_penalty`` on a 2x2 array, run in-process by pytest with the
grading plugin against a sandbox of the reference, as a grading runs them), on the grader's side
(pytest, the plugin, the ``student`` fixture, the call's round trip and the outcome) and on the
worker's (the zygote's fork and hand-over, the worker's lock-down, import, call and exit, and
the zygote's clean-up after it), with their share of a grading's CPU, and under them the
least a fresh process per test can cost: one fork and exit of a process that imported numpy.
Floor and grading runs alternate, so a slow spell of the machine hits both; the ratios, not the
seconds, are what to compare between machines. Timings are medians (the spread is printed); no
assertion is made here.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
FLOOR = [PY, "-c", "import numpy, torch, pytest, hypothesis"]
sys.path.insert(0, str(ROOT))
from grader.sandbox.worker import children_of, subreaper  # noqa: E402


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (``grader.sandbox.worker.children_of``: a few small reads per
    process of the tree, not every /proc/*/stat of the machine; the samplers call this every
    10-20 ms and must not take the CPU from what they measure)."""
    children = children_of(pid)
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def memory(pids: list[int]) -> tuple[int, int]:
    """(RSS, PSS) in bytes summed over ``pids``.

    RSS counts a page shared by two processes twice (the forked workers share most of the
    zygote's torch pages); PSS splits it between them, so the sum over the tree counts every
    page once, as a container's memory limit does.
    """
    rss = pss = 0
    for p in pids:
        try:
            text = Path(f"/proc/{p}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Rss:"):
                rss += int(line.split()[1]) * 1024
            elif line.startswith("Pss:"):
                pss += int(line.split()[1]) * 1024
    return rss, pss


def children_cpu() -> float:
    """CPU seconds of every descendant reaped so far (we are their subreaper)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def reap_orphans() -> None:
    """Reap what was reparented to us (a grading's processes exit after it sometimes)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.02)


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (every process of its tree) of one command, with nothing
    else of ours running (no memory sampling)."""
    cpu = children_cpu()
    start = time.perf_counter()
    code = subprocess.call(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    reap_orphans()
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {code}")
    return wall, children_cpu() - cpu


def run(cmd: list[str]) -> tuple[float, int, int]:
    """Wall seconds, peak tree RSS and peak tree PSS of one command.

    The sampler reads /proc every 10 ms, which takes CPU from the command: time a command with
    ``timed`` and measure its memory with this, in separate runs.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak_rss = peak_pss = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_rss, peak_pss
        while not done.is_set():
            rss, pss = memory(tree(proc.pid))
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    done.set()
    sampler.join()
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {code}")
    return time.perf_counter() - start, peak_rss, peak_pss


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def compare(
    label: str, floor_cmd: list[str], grade_cmd: list[str], repeat: int, goal: float, name: str
) -> float:
    """Alternate floor and grading runs; print medians, spreads and the ratio; return it."""
    timed(floor_cmd)  # warm the page cache for both
    timed(grade_cmd)
    floor, grading = [], []
    for _ in range(repeat):
        floor.append(timed(floor_cmd))
        grading.append(timed(grade_cmd))
    fw, gw = [f[0] for f in floor], [g[0] for g in grading]
    fc, gc = [f[1] for f in floor], [g[1] for g in grading]
    ratios = [g / f for f, g in zip(fw, gw, strict=True)]
    f, g = statistics.median(fw), statistics.median(gw)
    print(f"[{label}]")
    print(
        f"  floor  (import numpy, torch, pytest, hypothesis): {f:6.2f} s wall ({spread(fw)}),"
        f" {statistics.median(fc):5.2f} s CPU"
    )
    print(
        f"  grade  ({name}):{'':>23}{g:6.2f} s wall ({spread(gw)}),"
        f" {statistics.median(gc):5.2f} s CPU"
    )
    pairs = spread(ratios)
    print(f"  ratio  grade / floor: {g / f:5.2f}x (per pair: {pairs})   (goal <= {goal:g}x)")
    return statistics.median(gc)


#: The generated suite of ``per_test``: one call of a trivial function per test.
_TRIVIAL = """
import numpy as np
import pytest

W = np.array([[0.5, -1.5], [2.0, 1.0]])


@pytest.mark.points(1)
@pytest.mark.tags("l2_penalty")
@pytest.mark.parametrize("i", range({n}))
def test_trivial(i{fixture}):
    {body}
"""


def _zygote_cpu(pid: int) -> float:
    """CPU seconds of a zygote and of its reaped children (the workers), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def per_test(n: int, rounds: int) -> dict[str, float]:
    """CPU milliseconds of one trivial test: grader side and worker side (run in-process)."""
    import contextlib
    import gc
    import io

    import pytest

    from grader.authoring import pack
    from grader.grading import engine
    from grader.grading.session import EngineHook, GradingSession
    from grader.grading.submission import load_submission

    sources = dict(load_submission(ROOT / "solutions").sources)
    box = engine.new_sandbox(sources).start()
    results: dict[str, list[float]] = {"grader": [], "worker": [], "empty": []}
    try:
        box.settle()
        if box._lean is None:
            raise SystemExit("the lean zygote did not start")
        zygote = box._lean._pid
        assert zygote is not None
        box.worker(lean=True).close()
        for r in range(rounds + 1):  # the first round warms up (imports, the reference)
            for with_student in (False, True):
                folder = Path(tempfile.mkdtemp(prefix="bench-pertest-"))
                test = folder / f"test_trivial_{r}_{int(with_student)}.py"
                test.write_text(
                    _TRIVIAL.format(
                        n=n,
                        fixture=", student" if with_student else "",
                        body="student.l2_penalty(W)" if with_student else "pass",
                    )
                )
                session = GradingSession(sandbox=box, submitted=frozenset(sources), shards=1)
                marks: dict[str, float] = {}

                class Hook(EngineHook):
                    def __init__(self, session: GradingSession, marks: dict[str, float]) -> None:
                        super().__init__(session)
                        self.marks = marks

                    @pytest.hookimpl(wrapper=True)
                    def pytest_runtestloop(self, session: Any) -> Any:
                        m = self.marks
                        m["cpu0"], m["z0"] = time.process_time(), _zygote_cpu(zygote)
                        try:
                            return (yield)
                        finally:
                            m["cpu1"], m["z1"] = time.process_time(), _zygote_cpu(zygote)

                args = [str(test), "-c", str(pack.active().suites / "pytest.ini"), "--rootdir",
                        str(folder), "--import-mode=importlib", "-p", "no:cacheprovider",
                        "--assert=plain", "-p", "no:unraisableexception", "-p", "no:logging",
                        "--tb=native", "-q", "--no-header"]  # fmt: skip
                out = io.StringIO()
                gc.disable()  # as the engine does while it starts (the plugin turns it on)
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                    code = pytest.main(args, plugins=[Hook(session, marks)])
                shutil.rmtree(folder, ignore_errors=True)
                if code != 0 or len(session.outcomes) != n:
                    raise SystemExit(f"the trivial suite failed:\n{out.getvalue()[-3000:]}")
                if r == 0:
                    continue
                grader_ms = (marks["cpu1"] - marks["cpu0"]) / n * 1000
                if with_student:
                    results["grader"].append(grader_ms)
                    results["worker"].append((marks["z1"] - marks["z0"]) / n * 1000)
                else:
                    results["empty"].append(grader_ms)
    finally:
        box.close()
    return {k: statistics.median(v) for k, v in results.items()} | {
        f"{k}_spread": max(v) - min(v) for k, v in results.items()
    }


#: The floor under a worker's cost: a process with numpy imported (as the lean zygote has) forks
#: a child that exits at once, N times; CPU of parent and children together, from getrusage.
_FORK_FLOOR = """
import os, resource, sys
import numpy, numpy.random
n = int(sys.argv[1])
for _ in range(20):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
def cpu(who):
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime
me, kids = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN)
for _ in range(n):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
print((cpu(resource.RUSAGE_SELF) - me) / n * 1e3, (cpu(resource.RUSAGE_CHILDREN) - kids) / n * 1e3)
"""


def fork_floor(n: int = 2000) -> tuple[float, float]:
    """CPU ms of one fork and exit of a numpy process: (the parent's share, the child's)."""
    out = subprocess.check_output([PY, "-c", _FORK_FLOOR, str(n)], text=True)
    parent, child = (float(x) for x in out.split())
    return parent, child


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submission", nargs="?", default=str(ROOT / "solutions"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-one-core", action="store_true")
    parser.add_argument("--serial", action="store_true", help="also `grade --shards 1`")
    parser.add_argument(
        "--without-prefork",
        action="store_true",
        help="also with GRADER_PREFORK=0 (the zygotes start as interpreters, as before)",
    )
    parser.add_argument(
        "--per-test", type=int, default=200, metavar="N", help="trivial tests a round (0: skip)"
    )
    parser.add_argument("--per-test-probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.per_test_probe:
        print(json.dumps(per_test(args.per_test, rounds=3)))
        return
    subreaper()
    out = Path(tempfile.mkdtemp()) / "results.json"
    grade = [PY, "-m", "grader", "grade", args.submission, "--out", str(out)]
    cores = len(os.sched_getaffinity(0))
    name = Path(args.submission).name
    grading_cpu = compare(f"{cores} cores", FLOOR, grade, args.repeat, goal=2, name=name)
    tests = len(json.loads(out.read_text())["tests"])
    if args.serial:
        serial = [*grade, "--shards", "1"]
        label = f"{cores} cores, one grading process (--shards 1)"
        compare(label, FLOOR, serial, args.repeat, goal=2, name=name)
    if args.without_prefork:
        before = ["env", "GRADER_PREFORK=0", *grade]
        label = f"{cores} cores, zygotes as interpreters (GRADER_PREFORK=0)"
        compare(label, FLOOR, before, args.repeat, goal=2, name=name)
    if not args.skip_one_core:
        one = ["taskset", "-c", str(min(os.sched_getaffinity(0)))]
        compare("1 core (taskset)", one + FLOOR, one + grade, args.repeat, goal=3, name=name)
        if args.without_prefork:
            label = "1 core, GRADER_PREFORK=0"
            compare(label, one + FLOOR, one + before, args.repeat, goal=3, name=name)
    rss, pss = [], []
    for _ in range(args.repeat):
        _, peak_rss, peak_pss = run(grade)
        rss.append(peak_rss)
        pss.append(peak_pss)
    print(f"peak memory of the grading tree: {max(pss) / 2**20:6.0f} MB PSS (goal <= 700 MB)")
    print(f"  (summed RSS, shared pages counted once per process: {max(rss) / 2**20:.0f} MB)")
    if args.per_test:
        probe = [PY, str(Path(__file__).resolve()), "--per-test-probe", "--per-test",
                 str(args.per_test)]  # fmt: skip
        got = json.loads(subprocess.check_output(probe, cwd=ROOT))
        share = (got["grader"] + got["worker"]) * tests / 1000 / grading_cpu
        print(
            f"per-test overhead (one trivial test, CPU): grader {got['grader']:.2f} ms"
            f" (+-{got['grader_spread'] / 2:.2f}; pytest alone {got['empty']:.2f}),"
            f" worker {got['worker']:.2f} ms (+-{got['worker_spread'] / 2:.2f})"
            "   (goal < 2 ms each);"
            f" x {tests} tests = {share:.0%} of the grading's CPU"
        )
        parent, child = fork_floor()
        print(
            f"  under it, a bare fork and exit of a numpy process: {parent + child:.2f} ms"
            f" (parent {parent:.2f}, child {child:.2f}): the least any fresh worker costs"
        )


if __name__ == "__main__":
    main()
