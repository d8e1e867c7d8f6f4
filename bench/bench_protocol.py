"""Benchmark: the worker protocol's encoder, now and at an earlier commit, in the same run.

    .venv/bin/python bench/bench_protocol.py [--against REV] [--repeat 41]

Issue 29 made the encoder keep its bounds (entries, depth, bytes, long ints) while it walks a
value. Every call of student code pays the encoder twice (the arguments out, the result back),
so the bounds must not make the per-test path dearer. This prints, for the messages a grading
really sends (a call of ``l2_penalty`` on a 2x2 array and its reply; ``svm_loss`` on a batch; a
result holding a loss history of 1,000 floats; a dict result of 100 entries), the median time
of ``protocol.encode`` then decoding the frame, with the encoder of ``REV`` (default: the commit
before issue 29's) and with the working tree's, and their ratio: of the best rounds (the cost
itself, on a machine others load) and of the medians. Then what a dict of 5 million
entries costs each (REV walks it all before the frame check; the working tree refuses it).
``--repeat`` rounds of ~5 ms each, alternating between the two; no assertion is made here.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from grader.sandbox import protocol  # noqa: E402

#: The last commit before the bounds (issue 29, part 2).
BEFORE = "4287f23"


def load_at(rev: str) -> types.ModuleType:
    """``grader/sandbox/protocol.py`` as it was at ``rev``, as a module of its own."""
    source = subprocess.run(
        ["git", "show", f"{rev}:grader/sandbox/protocol.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType(f"protocol_at_{rev}")
    exec(compile(source, f"protocol.py@{rev}", "exec"), module.__dict__)
    return module


def messages_of_a_grading() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    rng = np.random.default_rng(0)
    call = {"op": "call", "module": "losses", "name": "l2_penalty", "id": 7}
    return {
        "call l2_penalty(2x2)": (call, {"args": (rng.normal(size=(2, 2)),), "kwargs": {}}),
        "reply to it": ({"op": "return", "id": 7}, {"value": {"value": 0.5, "mutated": []}}),
        "call svm_loss(64x10)": (
            call,
            {
                "args": (rng.normal(size=(64, 10)), rng.integers(0, 10, 64)),
                "kwargs": {"reg": 0.1},
                "standins": {},
            },
        ),
        "reply: (loss, grad)": (
            {"op": "return", "id": 7},
            {"value": {"value": (1.25, rng.normal(size=(64, 10))), "mutated": []}},
        ),
        "reply: 1,000-float history": (
            {"op": "return", "id": 7},
            {"value": {"value": [float(x) for x in rng.normal(size=1000)], "mutated": []}},
        ),
        "reply: dict of 100": (
            {"op": "return", "id": 7},
            {"value": {"value": {f"k{i}": (i, 0.5) for i in range(100)}, "mutated": []}},
        ),
    }


def round_trip(mod: types.ModuleType, header: dict[str, Any], values: dict[str, Any]) -> None:
    frame = mod.encode(header, values, lambda fn: 1)
    head, body = mod.parse_frame(frame)
    dec = mod.Decoder(body, lambda fid: None)
    for key in values:
        dec.value(head[key])


def timed(fn: Callable[[], Any], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default=BEFORE, help="the commit to compare with")
    parser.add_argument("--repeat", type=int, default=41)
    args = parser.parse_args(argv)
    before = load_at(args.against)
    print(f"encode + decode, {args.repeat} alternating rounds: {args.against} vs working tree")
    print("(best round: the cost without the machine's other load; median: with it)")
    print(f"{'message':28} {'best before':>12} {'best now':>10} {'ratio':>6} {'median ratio':>13}")
    best, middle = [], []
    for name, (header, values) in messages_of_a_grading().items():
        old = functools.partial(round_trip, before, header, values)
        new = functools.partial(round_trip, protocol, header, values)
        n = max(1, int(0.005 / max(timed(new, 3), 1e-7)))  # ~5 ms a round
        then, now = [], []
        for _ in range(args.repeat):
            then.append(timed(old, n))
            now.append(timed(new, n))
        best.append(min(now) / min(then))
        middle.append(statistics.median(now) / statistics.median(then))
        print(
            f"{name:28} {min(then) * 1e6:10.1f}us {min(now) * 1e6:8.1f}us {best[-1]:5.2f}x"
            f" {middle[-1]:12.2f}x"
        )
    mean_best, mean_middle = statistics.geometric_mean(best), statistics.geometric_mean(middle)
    print(f"{'geometric mean':28} {'':12} {'':10} {mean_best:5.2f}x {mean_middle:12.2f}x")

    big = dict.fromkeys(range(5_000_000), 0.5)
    for label, mod in ((args.against, before), ("working tree", protocol)):
        start = time.perf_counter()
        try:
            mod.encode({"op": "return", "id": 1}, {"value": big})
            outcome = "encoded"
        except mod.Unencodable as exc:
            outcome = f"refused: {str(exc)[:60]}"
        took = time.perf_counter() - start
        print(f"dict of 5,000,000 entries, {label}: {took:.3f} s ({outcome})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
