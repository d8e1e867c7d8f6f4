"""Benchmark: grading one submission end to end, against the import floor, and its peak memory.

    .venv/bin/python bench/bench_grade.py [--repeat 3] [SUBMISSION]

Prints, for this machine, the median wall time of

* the floor: ``python -c "import numpy, torch, pytest, hypothesis"`` (what any grader pays), and
* ``python -m grader grade SUBMISSION --out ...`` (default: the reference, which runs every test),

their ratio (goal: <= 3x), and the peak resident memory of the whole grading process tree,
grader plus sandbox workers, sampled from /proc every 10 ms (goal: <= 700 MB, so a grading fits
Gradescope's default 768 MB). Timings are medians of several runs; no assertion is made here.
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


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        p = int(stat.parent.name)
        children.setdefault(int(fields[1]), []).append(p)
        rss[p] = int(fields[21]) * 4096
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total


def run(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak tree RSS of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    done.set()
    sampler.join()
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {code}")
    return time.perf_counter() - start, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submission", nargs="?", default=str(ROOT / "solutions"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp()) / "results.json"
    grade = [PY, "-m", "grader", "grade", args.submission, "--out", str(out)]
    run(FLOOR)  # warm the page cache for both
    floor, grading, peaks = [], [], []
    for _ in range(args.repeat):
        floor.append(run(FLOOR)[0])
        seconds, peak = run(grade)
        grading.append(seconds)
        peaks.append(peak)
    f, g = statistics.median(floor), statistics.median(grading)
    print(f"floor  (import numpy, torch, pytest, hypothesis): {f:6.2f} s")
    print(f"grade  ({Path(args.submission).name}):{'':>23}{g:6.2f} s")
    print(f"ratio  grade / floor: {g / f:5.2f}x   (goal <= 3x)")
    print(f"peak memory of the grading tree: {max(peaks) / 2**20:6.0f} MB   (goal <= 700 MB)")


if __name__ == "__main__":
    main()
