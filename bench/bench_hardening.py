"""Benchmark: what the sandbox's hardening costs, as ratios measured in the same run.

    .venv/bin/python bench/bench_hardening.py [--repeat 3] [--workers 40] [--cli]

Prints, for this machine (run it as root to measure every layer):

* grading the reference (every test) with all layers on, and with every layer off
  (``GRADER_UNSAFE_DISABLE``: seccomp, uid, userns, netns, mountns, landlock, rlimits,
  canary), both forked from one warm mother, alternating, median of ``--repeat`` runs each;
  and their ratio;
* one test's worker (fork, lock down, one call, close) with and without the layers, median over
  ``--workers`` workers: the per-test price of the layers;
* the start-up canary: one probe (``grader.sandbox.canary.run``) on a ready sandbox, median of 10,
next
  to a grading's time (the engine runs it once per mother, and once per `grader grade`);
* with ``--cli``: ``python -m grader grade solutions`` end to end, on and off (no mother: the
  canary runs every time there).

Nothing is asserted; the figures go to docs/SECURITY.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.grading import engine  # noqa: E402
from grader.sandbox import canary  # noqa: E402
from grader.sandbox import host as sandbox  # noqa: E402

ALL_OFF = ",".join(sandbox.LAYERS)


def with_layers(off: str, fn: Callable[[], float]) -> float:
    saved = os.environ.get(sandbox.UNSAFE_DISABLE)
    if off:
        os.environ[sandbox.UNSAFE_DISABLE] = off
    else:
        os.environ.pop(sandbox.UNSAFE_DISABLE, None)
    try:
        return fn()
    finally:
        if saved is None:
            os.environ.pop(sandbox.UNSAFE_DISABLE, None)
        else:
            os.environ[sandbox.UNSAFE_DISABLE] = saved


def grading(mother: sandbox.Mother, results: Path) -> Callable[[], float]:
    def run() -> float:
        start = time.perf_counter()
        result = engine.grade(
            ROOT / "solutions", engine.Options(results_dir=results), mother=mother
        )
        elapsed = time.perf_counter() - start
        assert result.grader_error is None, result.grader_error
        assert result.score == result.max_score
        return elapsed

    return run


def worker_round_trips(mother: sandbox.Mother, count: int) -> Callable[[], float]:
    sources = {f.name: f.read_text() for f in (ROOT / "solutions").glob("*.py")}

    def run() -> float:
        times = []
        with sandbox.Sandbox(sources, mother=mother, torch=True) as box:
            box.ready()
            for _ in range(count):
                start = time.perf_counter()
                w = box.worker()
                w.call("losses", "l2_penalty", (np.ones((2, 3)),), {})
                w.close()
                times.append(time.perf_counter() - start)
        return statistics.median(times)

    return run


def canary_probe(mother: sandbox.Mother, results: Path) -> float:
    sources = {f.name: f.read_text() for f in (ROOT / "solutions").glob("*.py")}
    times = []
    with sandbox.Sandbox(sources, mother=mother, torch=True) as box:
        box.ready()
        for _ in range(10):
            start = time.perf_counter()
            canary.run(box, results)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def cli(off: str, out: Path) -> float:
    env = dict(os.environ)
    env.pop(sandbox.UNSAFE_DISABLE, None)
    if off:
        env[sandbox.UNSAFE_DISABLE] = off
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(ROOT / "solutions"), "--out", str(out)],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=40)
    parser.add_argument("--cli", action="store_true", help="also time `grader grade` end to end")
    args = parser.parse_args(argv)
    print(f"running as {'root' if os.geteuid() == 0 else 'a normal user'}; off = {ALL_OFF}")
    with tempfile.TemporaryDirectory(prefix="bench-hardening-") as tmp:
        results = Path(tmp) / "results"
        mother = sandbox.Mother()
        try:
            on_runs: list[float] = []
            off_runs: list[float] = []
            for _ in range(args.repeat):  # alternate, so drift on a shared box hits both alike
                on_runs.append(with_layers("", grading(mother, results)))
                off_runs.append(with_layers(ALL_OFF, grading(mother, results)))
            on, off = statistics.median(on_runs), statistics.median(off_runs)
            print(f"grading the reference, all layers on   {on:7.2f} s  (runs {_fmt(on_runs)})")
            print(f"grading the reference, all layers off  {off:7.2f} s  (runs {_fmt(off_runs)})")
            print(f"  ratio on/off                          {on / off:7.2f}")
            w_on = with_layers("", worker_round_trips(mother, args.workers))
            w_off = with_layers(ALL_OFF, worker_round_trips(mother, args.workers))
            print(f"one test's worker (fork, call, close), on   {w_on * 1000:6.1f} ms")
            print(f"one test's worker (fork, call, close), off  {w_off * 1000:6.1f} ms")
            print(f"  ratio on/off                               {w_on / w_off:6.2f}")
            probe = with_layers("", lambda: canary_probe(mother, results))
            print(
                f"start-up canary, one probe                 {probe * 1000:6.1f} ms"
                f"  ({100 * probe / on:.1f}% of a grading; once per mother)"
            )
        finally:
            mother.close()
        if args.cli:
            c_on = statistics.median(cli("", Path(tmp) / "a.json") for _ in range(args.repeat))
            c_off = statistics.median(
                cli(ALL_OFF, Path(tmp) / "b.json") for _ in range(args.repeat)
            )
            print(f"grader grade (new process), on   {c_on:6.2f} s")
            print(f"grader grade (new process), off  {c_off:6.2f} s")
            print(f"  ratio on/off                    {c_on / c_off:6.2f}")
    return 0


def _fmt(xs: list[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in xs)


if __name__ == "__main__":
    sys.exit(main())
