"""A bounded results.json (issue 14, item 5): each test keeps the first and last of what the
student printed, all tests share one budget, and every cut says how much it took out."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from grader import messages
from grader.authoring import pack
from grader.grading import engine
from grader.grading import results_json as gradescope
from grader.grading.results import GradingResult, TestOutcome
from grader.sandbox.host import Limits, _BoundedOutput

CUT = re.compile(r"\[\.\.\. ([\d,]+) characters cut here")


def _captured(data: bytes, limits: Limits) -> _BoundedOutput:
    read, write = os.pipe()
    out = _BoundedOutput(read, limits)
    view = memoryview(data)
    while view:
        n = os.write(write, view[:60000])
        view = view[n:]
        out.read_available()
    os.close(write)
    out.finish()
    out.close()
    return out


def test_a_test_keeps_the_first_and_the_last_of_what_was_printed() -> None:
    limits = Limits(output=4096)
    data = b"FIRST" + b"." * 50_000 + b"LAST"
    out = _captured(data, limits)
    text = out.text()
    assert out.total == len(data)
    assert text.startswith("FIRST") and text.endswith("LAST")
    cut = messages.OUTPUT_CUT.format(cut="45 KiB", total="49 KiB", kept="2 KiB")
    assert cut in text
    assert len(text) == 4096 + len(cut)
    # under the limit nothing is cut and nothing is said
    short = _captured(b"hello\n" * 10, limits)
    assert short.text() == "hello\n" * 10


def outcome(i: int, output: str) -> TestOutcome:
    return TestOutcome(
        name=f"test {i}",
        number=f"1.{i}",
        max_score=1.0,
        score=0.0,
        status="failed",
        output=output,
        extra={"traceback": "Traceback ...\n" + "  frame\n" * 2000},
    )


def test_all_tests_share_one_budget_fairly() -> None:
    long = "BEGIN" + "x" * 64 * 2**10 + "END"
    tests = (*(outcome(i, long) for i in range(190)), outcome(190, "a short message"))
    data = gradescope.to_json(GradingResult(tests=tests))
    size = len(json.dumps(data, ensure_ascii=False).encode())
    assert size < gradescope.OUTPUT_BUDGET + gradescope.STAFF_BUDGET + 200 * 2**10
    outputs = [t["output"] for t in data["tests"]]
    assert outputs[-1] == "a short message"  # a short output is kept whole
    shown = sum(len(o.encode()) for o in outputs)
    assert gradescope.OUTPUT_BUDGET * 0.95 < shown <= gradescope.OUTPUT_BUDGET  # and used
    for o in outputs[:-1]:
        assert o.startswith("BEGIN") and o.endswith("END")
        (cut,) = CUT.findall(o)
        assert len(o) - len(CUT.search(o).group()) < len(long)  # type: ignore[union-attr]
        assert int(cut.replace(",", "")) > len(long) // 2
    tracebacks = [t["extra_data"]["traceback"] for t in data["tests"]]
    assert all(CUT.search(tb) for tb in tracebacks)  # the staff part is bounded too
    # nothing to cut: the serializer leaves every text as it is
    small = gradescope.to_json(GradingResult(tests=(outcome(0, long),)))
    assert small["tests"][0]["output"] == long


def printing_stubs(dest: Path, size: int) -> Path:
    """The stubs, each function printing ``size`` characters before it raises."""
    dest.mkdir()
    for stub in sorted(pack.active().assignment.glob("*.py")):
        text = re.sub(
            r"\n(\s+)raise NotImplementedError",
            rf'\n\1print("BEGIN" + "x" * {size} + "END")\n\1raise NotImplementedError',
            stub.read_text(),
        )
        (dest / stub.name).write_text(text)
    return dest


def test_results_of_a_40_mb_printing_submission_stay_under_1_mb(tmp_path: Path) -> None:
    # 400 kB in every call of every function, over 191 tests (at least one call each):
    # more than 40 MB printed, each test's own capture would have kept 64 KiB of it.
    sub = printing_stubs(tmp_path / "printer", 400_000)
    out = tmp_path / "results.json"
    result = engine.grade_to_file(sub, out, engine.Options())
    assert len(result.tests) * 400_000 > 40e6
    assert out.stat().st_size < 2**20
    data = json.loads(out.read_text())
    assert data["score"] == 0  # the output never changes a score
    printed = [t["output"] for t in data["tests"] if "Your code printed" in t["output"]]
    assert printed
    for text in printed:
        tail = text.split("Your code printed:\n", 1)[1]
        assert tail.startswith("BEGIN") and tail.rstrip().endswith("END")
        assert CUT.search(text) or "cut here" in text
