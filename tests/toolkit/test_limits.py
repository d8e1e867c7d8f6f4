"""Limits from data (issue 14, item 4): the batch records each test's slowest call and peak
memory in the gradebook (not in results.json), and ``grader limits`` turns them into suggested
limits with the share of students each would cut off."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pytest

from grader.authoring import pack
from grader.classroom import batch, demo, limits
from grader.classroom.gradebook import Gradebook, Outcome, Record, Student
from grader.cli import main

FAST = batch.BatchOptions(
    jobs=2, suites=("public",), only="losses", timeout=120, check_similarity=False
)
MiB = 2**20

#: Appended to the reference's losses.py: softmax asks for 16 GiB first (over the memory
#: limit: a MemoryError), l2_penalty fills 320 MB and then answers correctly.
HOG = """
_softmax = softmax
def softmax(scores):
    np.ones(2**31)
    return _softmax(scores)
"""
BIG = """
_l2_penalty = l2_penalty
def l2_penalty(W):
    filler = np.ones(40_000_000)
    return _l2_penalty(W) + 0.0 * filler[0]
"""


def demo_class(root: Path) -> Path:
    """The demo's submissions (the reference, the stubs, examples/) as a batch's input, and
    two students who use a lot of memory."""
    root.mkdir()
    for label, path in demo.submissions():
        name = re.sub(r"[^a-z]+", "-", label.split(" ")[0].split("/")[-1])
        if path.is_file():
            shutil.copy(path, root / f"{name}{path.suffix}")
        else:
            shutil.copytree(path, root / name, ignore=shutil.ignore_patterns("*.md", "*.ipynb"))
    for name, extra in (("hog", HOG), ("big", BIG)):
        shutil.copytree(pack.active().solutions, root / name, ignore=shutil.ignore_patterns("__*"))
        losses = root / name / "losses.py"
        losses.write_text(losses.read_text() + extra)
    return root


@pytest.fixture(scope="module")
def demo_batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("limits")
    out = base / "out"
    batch.run_batch(demo_class(base / "class"), out, FAST, stream=io.StringIO())
    return out


def records(out: Path) -> dict[str, Record]:
    with Gradebook(out / "gradebook.sqlite") as book:
        return {r.id: r for r in book.records()}


def test_the_batch_records_call_times_and_memory_in_the_gradebook_only(demo_batch: Path) -> None:
    rows = records(demo_batch)
    assert len(rows) == 7 and {"reference", "stubs", "notebook", "hog", "big"} <= set(rows)
    ref = rows["reference"]
    assert all(0 < o.slowest_call < 10 and o.cut_by == "" for o in ref.outcomes)
    hog = [o for o in rows["hog"].outcomes if "softmax" in o.tags]
    assert hog and all(o.cut_by == "memory" and o.status == "failed" for o in hog)
    big = [o for o in rows["big"].outcomes if "l2_penalty" in o.tags]
    assert big and all(o.status == "passed" and o.peak_memory >= 300 * MiB for o in big)
    assert max(o.peak_memory for o in ref.outcomes) < 100 * MiB
    text = (demo_batch / "results" / "big.json").read_text()
    assert "peak_memory" not in text and "slowest_call" not in text and "cut_by" not in text
    assert all("duration" in t["extra_data"] for t in json.loads(text)["tests"])


def test_suggested_limits_on_the_demo_batch_with_the_share_each_would_cut(
    demo_batch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["limits", str(demo_batch)]) == 0
    printed = capsys.readouterr().out
    rows = list(records(demo_batch).values())
    passing = [o for r in rows for o in r.outcomes if o.status == "passed"]
    peak = max(o.peak_memory for o in passing)  # p99.9 of fewer than 1000 is the largest
    slowest = max(o.slowest_call for o in passing)
    memory = max(-(-peak * 4 // (64 * MiB)) * 64, 256)
    timeout = max(limits._round_up(slowest * 10), 1.0)
    assert printed.startswith(f"Limits from {len(passing)} passing tests of this batch:")
    # The memory hog is the one student the current limit cut off, and the suggestion too.
    assert (
        f"  memory limit: now 2048 MiB, cut off 1 of 7 students (14.3%); suggested {memory:g}"
        " MiB, would cut off 1 of 7 students (14.3%)"
    ) in printed
    assert memory >= 4 * 300  # the passing 320 MB student sets it
    assert (
        f"  per-call timeout: now 10 s, cut off 0 of 7 students (0.0%); suggested {timeout:g} s,"
    ) in printed
    assert "Slowest tests for students (seconds per test: median, p90, slowest):" in printed


def outcome(status: str, call: float, memory: int = 0, cut: str = "") -> Outcome:
    return Outcome("1.1", "t", 1.0, 1.0, status, "public", (), "", call, call, memory, cut)


def record(sub_id: str, outcomes: list[Outcome], students: int = 1) -> Record:
    return Record(
        id=sub_id,
        content_digest=sub_id,
        suite_digest="s",
        score=0,
        max_score=1,
        status="graded",
        started="",
        finished="",
        wall_seconds=1,
        students=tuple(Student(f"{sub_id}{i}", f"{sub_id}{i}@x") for i in range(students)),
        outcomes=tuple(outcomes),
    )


def test_the_suggestion_is_a_high_quantile_of_passing_calls_times_a_margin() -> None:
    ok = [outcome("passed", 0.01 * i, 10 * MiB * i) for i in range(1, 51)]  # up to 0.5 s
    rows = [
        record("a", ok),
        record("b", [outcome("failed", 10.0, cut="timeout")]),  # cut by the current limit
        record("c", [outcome("failed", 6.0)], students=2),  # a group, over the suggestion only
        record("d", [outcome("failed", 0.1, cut="memory")]),
    ]
    found = limits.suggest(rows)
    assert found.measured == 50
    assert found.timeout.suggested == 5.0  # 0.5 s x 10
    assert (found.timeout.cut_now, found.timeout.cut_suggested, found.timeout.students) == (1, 3, 5)
    assert found.memory.suggested == 2048  # 500 MiB x 4 = 2000, up to 64 MiB steps
    assert (found.memory.cut_now, found.memory.cut_suggested) == (1, 1)
    lines = limits.lines(found)
    assert "cut off 1 of 5 students (20.0%); suggested 5 s, would cut off 3 of 5" in lines[1]


def test_a_torch_worker_under_a_data_cap_is_measured_by_its_resident_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where NVIDIA's driver is loaded the torch worker's cap is on data, and CUDA reserves
    # address space by the GPU's size: its peak address space would say nothing. Pretend the
    # driver is there (for the measurement only) and fill 320 MB in the torch class's forward.
    from grader.grading import engine, student

    monkeypatch.setattr(student, "nvidia_driver", lambda: True)
    sub = tmp_path / "sub"
    shutil.copytree(pack.active().solutions, sub, ignore=shutil.ignore_patterns("__*"))
    torch_losses = sub / "torch_losses.py"
    text = torch_losses.read_text()
    old = '        """Mean over rows of ``-log softmax(scores)[i, y_i]``, as a 0-d tensor.'
    assert text.count(old) == 1
    torch_losses.write_text(
        text.replace(old, "        import numpy; numpy.ones(40_000_000)\n" + old, 1)
    )
    result = engine.grade(sub, engine.Options(suites=("public",), only="SoftmaxCrossEntropy"))
    assert result.grader_error is None and result.tests
    assert all(t.status == "passed" for t in result.tests)
    assert max(t.peak_memory for t in result.tests) >= 300 * MiB
