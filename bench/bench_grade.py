"""Benchmark: grading one submission end to end, against the import floor, and its peak memory.

    .venv/bin/python bench/bench_grade.py [--repeat 3] [SUBMISSION]

Prints, for this machine, the median wall time of

* the floor: ``python -c "import numpy, torch, pytest, hypothesis"`` (what any grader pays), and
* ``python -m grader grade SUBMISSION --out ...`` (default: the reference, which runs every test),

their ratio (goal: <= 3x), and the peak memory of the whole grading process tree, grader plus
sandbox workers, sampled from /proc every 10 ms as the sum of PSS (each physical page counted
once, as a container's limit counts it; goal: <= 700 MB, so a grading fits Gradescope's default
768 MB). Summed RSS is printed too: it counts the zygote's pages again in every forked worker.
Timings are medians of several runs; no assertion is made here.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
FLOOR = [PY, "-c", "import numpy, torch, pytest, hypothesis"]
sys.path.insert(0, str(ROOT))
from grader.worker import children_of  # noqa: E402


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (``grader.worker.children_of``: a few small reads per
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


def timed(cmd: list[str]) -> float:
    """Wall seconds of one command, with nothing else running (no memory sampling)."""
    start = time.perf_counter()
    code = subprocess.call(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {code}")
    return time.perf_counter() - start


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submission", nargs="?", default=str(ROOT / "solutions"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp()) / "results.json"
    grade = [PY, "-m", "grader", "grade", args.submission, "--out", str(out)]
    timed(FLOOR)  # warm the page cache for both
    timed(grade)
    floor, grading, rss, pss = [], [], [], []
    for _ in range(args.repeat):  # alternating, so a slow spell of the machine hits both
        floor.append(timed(FLOOR))
        grading.append(timed(grade))
    for _ in range(args.repeat):
        _, peak_rss, peak_pss = run(grade)
        rss.append(peak_rss)
        pss.append(peak_pss)
    f, g = statistics.median(floor), statistics.median(grading)
    print(f"floor  (import numpy, torch, pytest, hypothesis): {f:6.2f} s")
    print(f"grade  ({Path(args.submission).name}):{'':>23}{g:6.2f} s")
    print(f"ratio  grade / floor: {g / f:5.2f}x   (goal <= 3x)")
    print(f"peak memory of the grading tree: {max(pss) / 2**20:6.0f} MB PSS (goal <= 700 MB)")
    print(f"  (summed RSS, shared pages counted once per process: {max(rss) / 2**20:.0f} MB)")


if __name__ == "__main__":
    main()
