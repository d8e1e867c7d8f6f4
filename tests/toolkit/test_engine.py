"""The engine end to end: reference, stubs, grader faults, determinism, the CLI contract."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from grader import cli, messages
from grader.authoring import pack
from grader.grading import engine
from grader.grading import results_json as gradescope
from grader.grading.results import GradingResult
from grader.sandbox.host import Mother

ROOT = Path(__file__).resolve().parents[2]


def _strip_timings(doc: dict) -> dict:
    doc = json.loads(json.dumps(doc))
    doc.pop("execution_time", None)
    for t in doc["tests"]:
        t["extra_data"].pop("duration", None)
    return doc


@pytest.fixture(scope="module")
def reference_result(mother: Mother) -> GradingResult:
    return engine.grade(ROOT / "solutions", mother=mother)


def test_reference_gets_full_marks(reference_result: GradingResult) -> None:
    assert reference_result.grader_error is None
    failed = [(t.nodeid, t.output) for t in reference_result.tests if t.status == "failed"]
    assert failed == []
    assert reference_result.score == reference_result.max_score > 0


def test_every_function_and_class_is_graded(reference_result: GradingResult) -> None:
    from grader.authoring import pack

    tagged = {tag for t in reference_result.tests for tag in t.tags}
    assert set(pack.active().module_of) <= tagged


def test_public_and_hidden_suites_both_run(reference_result: GradingResult) -> None:
    suites = {t.suite for t in reference_result.tests}
    assert suites == {"public", "hidden"}
    hidden_vis = {t.visibility for t in reference_result.tests if t.suite == "hidden"}
    assert "visible" not in hidden_vis or len(hidden_vis) > 1


def test_stubs_get_zero_without_a_grader_error(stubs: Path, mother: Mother) -> None:
    result = engine.grade(stubs, mother=mother)
    assert result.grader_error is None
    assert result.score == 0
    not_impl = [t for t in result.tests if "not implemented yet" in t.output]
    assert len(not_impl) >= len([t for t in result.tests if t.suite == "public"])


def test_regrading_gives_identical_results(mother: Mother) -> None:
    first = gradescope.to_json(engine.grade(ROOT / "examples" / "buggy", mother=mother))
    second = gradescope.to_json(engine.grade(ROOT / "examples" / "buggy", mother=mother))
    assert _strip_timings(first) == _strip_timings(second)


def test_missing_submission_still_grades_every_test_at_zero(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = engine.grade(empty, engine.Options(suites=("public",)))
    assert result.grader_error is None and result.score == 0 and result.tests
    assert all("was not submitted" in t.output for t in result.tests)


def test_grader_fault_scores_zero_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated fault in the grader")

    monkeypatch.setattr(engine, "run_suites", broken)
    out = tmp_path / "results.json"
    code = cli.main(["grade", str(ROOT / "solutions"), "--out", str(out)])
    assert code == cli.ExitCode.GRADER_ERROR
    doc = json.loads(out.read_text())
    assert doc["score"] == 0
    assert doc["output"] == messages.GRADER_FAILED
    staff = [t for t in doc["tests"] if t["visibility"] == "hidden"]
    assert staff and "simulated fault in the grader" in staff[0]["output"]


def test_a_refusing_canary_stops_the_grading_at_the_first_test(
    monkeypatch: pytest.MonkeyPatch, mother: Mother
) -> None:
    def refuse() -> None:
        raise RuntimeError("simulated canary refusal")

    def arm(box: engine.Sandbox, results_dir: object) -> list[object]:
        box.gate = refuse
        return []

    monkeypatch.setattr(engine, "_arm_canary", arm)
    seen: list[object] = []
    options = engine.Options(progress=lambda outcome, total: seen.append(outcome))
    result = engine.grade(ROOT / "solutions", options, mother)
    assert result.grader_error is not None and "simulated canary refusal" in result.grader_error
    # not one failing test per test of the suites (each formatting the same traceback)
    assert len(seen) <= 1


def test_hypothesis_keeps_its_cache_in_the_closed_home(mother: Mother) -> None:
    from hypothesis import configuration

    engine.grade(ROOT / "solutions", engine.Options(only="svm_loss"), mother)
    assert configuration.storage_directory().path == pack.active().hypothesis
    if engine.running_as_root():
        assert pack.active().hypothesis.stat().st_mode & 0o077 == 0


def test_cli_grade_writes_results_and_exits_zero(tmp_path: Path) -> None:
    """The contract: `python -m grader grade SUB --out R` exits 0 whatever the score."""
    out = tmp_path / "out" / "results.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "grader",
            "grade",
            str(ROOT / "examples" / "buggy"),
            "--out",
            str(out),
            "--suite",
            "public",
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert 0 < doc["score"] < sum(t["max_score"] for t in doc["tests"])
    for t in doc["tests"]:
        assert t["tags"]
        if t["extra_data"]["outcome"] == "skipped":  # a GPU test here: 0/0, no pass or fail
            assert "status" not in t and t["max_score"] == 0 and "needs a GPU" in t["output"]
        else:
            assert t["status"] in ("passed", "failed")
        assert set(t) >= {"name", "number", "score", "max_score", "output", "visibility", "tags"}


def test_cli_rejects_a_missing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["grade", str(tmp_path / "nope"), "--out", str(tmp_path / "r.json")])
    assert code == cli.ExitCode.USAGE
    assert "no such submission" in capsys.readouterr().err


def test_notebook_and_zip_submissions_grade_like_the_folder(tmp_path: Path, mother: Mother) -> None:
    import zipfile

    archive = tmp_path / "sub.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted((ROOT / "solutions").glob("*.py")):
            zf.write(f, f.name)
    nb = ROOT / "examples" / "notebook" / "assignment.ipynb"
    folder = engine.grade(ROOT / "solutions", engine.Options(suites=("public",)), mother=mother)
    for sub in (archive, nb):
        result = engine.grade(sub, engine.Options(suites=("public",)), mother=mother)
        assert result.score == folder.score == folder.max_score
    # The same files in a zip are the same submission (the gradebook keys on this digest).
    zipped = engine.grade(archive, engine.Options(suites=("public",)), mother=mother)
    assert zipped.extra_data["submission_digest"] == folder.extra_data["submission_digest"]


def test_a_notebook_writing_a_file_twice_is_graded_on_the_last_cell_and_says_so(
    tmp_path: Path, mother: Mother
) -> None:
    """Issue 29: two `%%writefile losses.py` cells. The last one wins, as running the notebook
    writes the file (DESIGN.md contract 5) and as a zip's last copy does; the results name it."""
    import nbformat

    nb = nbformat.read(ROOT / "examples" / "notebook" / "assignment.ipynb", as_version=4)
    stubs = (ROOT / "assignment" / "losses.py").read_text()
    options = engine.Options(suites=("public",), only="losses")
    scores = {}
    for order in ("stubs last", "stubs first"):
        copy = nbformat.from_dict(nb)
        cell = nbformat.v4.new_code_cell(f"%%writefile losses.py\n{stubs}")
        if order == "stubs last":
            copy.cells.append(cell)
        else:
            copy.cells.insert(0, cell)
        numbers = [
            i
            for i, c in enumerate(copy.cells, 1)
            if c.cell_type == "code" and c.source.startswith("%%writefile losses.py")
        ]
        path = tmp_path / f"{order.replace(' ', '_')}.ipynb"
        nbformat.write(copy, path)
        result = engine.grade(path, options, mother=mother)
        scores[order] = result.score
        output = gradescope.to_json(result)["output"]
        note = messages.INTAKE["duplicate-cell"].format(
            file="losses.py",
            count=2,
            cells=f"{numbers[0]} and {numbers[1]}",
            used=numbers[1],
            appended="",
        )
        assert note in output, output
        assert result.grader_error is None and result.max_score > 0
    assert scores == {"stubs last": 0.0, "stubs first": result.max_score}


def test_a_misspelled_function_says_did_you_mean(tmp_path: Path, mother: Mother) -> None:
    sub = tmp_path / "typo"
    sub.mkdir()
    source = (ROOT / "solutions" / "losses.py").read_text()
    (sub / "losses.py").write_text(source.replace("def svm_loss(", "def svm_los("))
    result = engine.grade(sub, engine.Options(suites=("public",), only="losses"), mother=mother)
    svm = [t for t in result.tests if t.tags == ("svm_loss",)]
    assert svm and all(t.status == "failed" for t in svm)
    assert "`losses.py` does not define `svm_loss`; did you mean `svm_los`?" in svm[0].output
    others = [t for t in result.tests if "svm_loss" not in t.tags]
    assert others and all(t.status == "passed" for t in others)


def test_a_syntax_error_fails_only_its_module(tmp_path: Path, mother: Mother) -> None:
    sub = tmp_path / "syntax"
    sub.mkdir()
    for f in (ROOT / "solutions").glob("*.py"):
        (sub / f.name).write_text(f.read_text())
    (sub / "schedules.py").write_text("def step_decay(lr0, t, step_size, gamma=0.1):\n  return (\n")
    result = engine.grade(sub, engine.Options(suites=("public",)), mother=mother)
    assert "schedules.py" in result.output  # intake names the file and the line
    for t in result.tests:
        broken = any(tag in ("step_decay", "cosine_decay") for tag in t.tags)
        assert (t.status == "failed") == broken, (t.name, t.output)
    failed = [t for t in result.tests if t.status == "failed"]
    assert failed and "could not be imported" in failed[0].output


def test_only_rejects_a_name_outside_the_assignment() -> None:
    with pytest.raises(ValueError, match="did you mean `svm_loss`"):
        engine.Options(only="svm_los")


def test_cli_grade_only_with_a_typo_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    code = cli.main(["grade", str(ROOT / "solutions"), "--out", str(out), "--only", "adam_stp"])
    assert code == cli.ExitCode.USAGE
    assert "did you mean `adam_step`?" in capsys.readouterr().err
    assert not out.exists()


def test_only_a_function_no_suite_examines_is_an_empty_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mother: Mother
) -> None:
    suites = tmp_path / "suites"
    (suites / "public").mkdir(parents=True)
    (suites / "pytest.ini").write_text((ROOT / "tests/grading/pytest.ini").read_text())
    (suites / "public" / "test_one.py").write_text(
        "import pytest\n\n\n"
        "@pytest.mark.points(1)\n"
        '@pytest.mark.tags("svm_loss")\n'
        "def test_svm(student):\n"
        '    """svm_loss runs"""\n'
        "    student.svm_loss\n"
    )
    with_suites = dataclasses.replace(pack.load(pack.ROOT), suites=suites)
    monkeypatch.setattr(pack, "active", lambda: with_suites)
    options = engine.Options(suites=("public",), only="adam_step")
    result = engine.grade(ROOT / "solutions", options, mother=mother)
    assert result.grader_error is None
    assert result.tests == () and result.max_score == 0
    assert messages.NONE_EXAMINES.format(name="adam_step") in result.output


HANGING_PROPERTY = '''
import numpy as np
import pytest
from hypothesis import given, strategies as st

HUNG = []


@pytest.mark.points(1)
@pytest.mark.tags("svm_loss")
@given(st.integers(0, 50))
def test_property(student, n):
    """a property whose input makes the submission hang"""
    if n > 5:
        HUNG.append(n)
    student.svm_loss(np.full((1, 2), float(n)), np.ones((1, 1)), np.array([0]))


@pytest.mark.points(1)
@pytest.mark.tags("svm_loss")
def test_no_replay(student):
    """Hypothesis stopped at the hung call instead of shrinking by replaying it"""
    assert len(HUNG) == 1, HUNG
    student.svm_loss(np.zeros((1, 2)), np.ones((1, 1)), np.array([0]))
'''


def test_hypothesis_stops_when_the_worker_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mother: Mother
) -> None:
    suites = tmp_path / "suites"
    (suites / "public").mkdir(parents=True)
    (suites / "pytest.ini").write_text((ROOT / "tests/grading/pytest.ini").read_text())
    (suites / "public" / "test_hang.py").write_text(HANGING_PROPERTY)
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "losses.py").write_text(
        "def svm_loss(W, X, y, reg=0.0, margin=1.0):\n"
        "    while W[0, 0] > 5:\n"
        "        pass\n"
        "    return 0.0\n"
    )
    with_suites = dataclasses.replace(pack.load(pack.ROOT), suites=suites)
    monkeypatch.setattr(pack, "active", lambda: with_suites)
    limits = dataclasses.replace(engine.DEFAULT_LIMITS, call_timeout=1.0)
    options = engine.Options(suites=("public",), limits=limits)
    result = engine.grade(sub, options, mother=mother)
    assert result.grader_error is None
    hung, after = result.tests
    assert hung.status == "failed" and "timed out after 1 s" in hung.output
    assert after.status == "passed", after.output


def test_a_sandbox_that_never_starts_is_a_grader_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grader.sandbox import host as sandbox

    def dead_zygote(cfg: dict, cwd: Path, timeout: float) -> tuple:
        ours, theirs = sandbox.socket.socketpair(
            sandbox.socket.AF_UNIX, sandbox.socket.SOCK_SEQPACKET
        )
        proc = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
        theirs.close()  # the zygote's end: closed before any hello
        return ours, proc

    monkeypatch.setattr(sandbox, "_spawn", dead_zygote)
    result = engine.grade(ROOT / "solutions", engine.Options(suites=("public",), only="svm_loss"))
    assert result.grader_error is not None
    assert "the sandbox did not start" in result.grader_error
    assert result.score == 0


def test_a_submission_that_hangs_everywhere_gets_short_timeouts_after_its_strikes(
    tmp_path: Path, mother: Mother
) -> None:
    # losses.py loops at import: every test of losses.py would wait out the full call timeout,
    # 15 functions x their tests x 10 s, far past Gradescope's 10 minutes.
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "losses.py").write_text("while True:\n    pass\n")
    limits = dataclasses.replace(
        engine.DEFAULT_LIMITS, call_timeout=1.0, strikes=2, patience=3.0, short_timeout=0.2
    )
    options = engine.Options(suites=("public",), only="losses", limits=limits)
    result = engine.grade(sub, options, mother)
    assert result.grader_error is None and result.score == 0
    timed = [t for t in result.tests if "timed out after" in t.output]
    full = [t for t in timed if "timed out after 1 s" in t.output]
    short = [t for t in timed if "timed out after 0.2 s" in t.output]
    assert len(timed) == len(result.tests) > 10
    # the full limit until 3 s were lost (or a function's second strike), then the short one
    assert 2 <= len(full) <= 3 and len(short) == len(timed) - len(full)
    assert "instead of 1 s" in short[0].output


def test_only_torch_losses_gets_the_torch_zygote() -> None:
    from grader.sandbox.host import lean_eligible

    TORCH_FILES = ("torch_losses.py",)  # the manifest's torch = true modules

    def subs(losses: str) -> dict[str, str]:
        return {"torch_losses.py": "import torch\n", "losses.py": losses}

    docs_only = '"""As torch.optim.SGD does."""\n# torch\ndef f():\n    """torch"""\n    return 1\n'
    assert lean_eligible(subs(docs_only), TORCH_FILES)
    for uses in (
        "import torch",
        "from torch import nn",
        "import numpy as torch",
        "x = __import__('torch')",
        "def f(t):\n    return t.torch_thing",
    ):
        assert not lean_eligible(subs(uses), TORCH_FILES), uses
    # no torch_losses.py: no torch zygote
    assert not lean_eligible({"losses.py": docs_only}, TORCH_FILES)
    assert not lean_eligible(subs("def f(:\n"), TORCH_FILES)  # unparsable: as before


def test_the_reference_is_graded_with_both_zygotes(mother: Mother) -> None:
    result = engine.grade(ROOT / "solutions", engine.Options(), mother)
    assert result.score == result.max_score > 0
    assert result.extra_data["sandbox"]["lean"] == "on"


def test_a_batch_forks_both_zygotes_from_warm_mothers(mother: Mother) -> None:
    """No interpreter start per submission: the lean zygote too comes from a (lean) mother."""
    import numpy as np

    def parent(pid: int | None) -> int:
        assert pid is not None
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])

    sources = {f.name: f.read_text() for f in (ROOT / "solutions").glob("*.py")}
    assert mother.lean is not None and len(set(mother.pids)) == 2
    with engine.new_sandbox(sources, mother=mother) as box:
        lean = box._lean
        assert lean is not None
        assert parent(box._pid) == mother.pid
        assert parent(lean._pid) == mother.lean.pid
        w = box.worker(lean=True)
        assert w.call("losses", "l2_penalty", (np.ones(2),), {})["value"] == 2.0
        w.close()
        assert box.layers["lean"] == "on"


def test_a_mother_whose_lean_half_died_is_not_alive_and_closes_whole() -> None:
    """The batch replaces a mother that is not alive(); closing it must end both processes."""
    import os
    import signal
    import time

    m = Mother()
    assert m.lean is not None and m.alive()
    os.kill(m.lean.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while m.alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not m.alive()
    torch_mother = m.pid
    m.close()  # waits for it: gone, not even a zombie
    assert not Path(f"/proc/{torch_mother}").exists()


def test_a_warm_process_does_not_grow_from_grading_to_grading(mother: Mother) -> None:
    """A batch's grading process runs hundreds of gradings: what each leaves must be collected
    (the collector is held off and the heap frozen during a grading, grader.grading.engine)."""
    import gc

    options = engine.Options(only="schedules")
    counts = []
    for _ in range(5):
        result = engine.grade(ROOT / "solutions", options, mother)
        assert result.score == result.max_score > 0
        counts.append(len(gc.get_objects()))
    # Before the fix, each grading left ~11,000 objects behind (~1.5 MB). The first gradings
    # may fill caches once (a CI run saw +1,034 objects from the second to the third, then +3):
    # the last grading must end less than a tenth of one grading's old leak above the most any
    # of the three before it ended at (the count wobbles by ~1,000 either way from run to run; a
    # leak only climbs).
    assert counts[4] - max(counts[1:4]) < 1000, counts


def test_a_numpy_module_that_imports_torch_keeps_one_zygote(tmp_path: Path, mother: Mother) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    for f in (ROOT / "solutions").glob("*.py"):
        (sub / f.name).write_text(f.read_text())
    text = (sub / "schedules.py").read_text()
    (sub / "schedules.py").write_text(text + "\nimport torch  # noqa: E402, F401\n")
    options = engine.Options(only="schedules")
    result = engine.grade(sub, options, mother)
    assert result.score == result.max_score > 0
    assert "lean" not in result.extra_data["sandbox"]


LIMITS_AND_HOG = """
import numpy as np


def l2_penalty(W):
    return 0.0


def l1_penalty(W):
    return float(np.ones(2**29).sum())  # 4 GiB
"""


def test_where_cuda_may_run_memory_is_capped_by_data_not_address_space(
    monkeypatch: pytest.MonkeyPatch, mother: Mother
) -> None:
    """The CUDA driver cannot start under a few GiB of RLIMIT_AS: with NVIDIA's driver present,
    the torch zygote's workers get RLIMIT_DATA instead, and a memory hog still fails."""
    from grader.sandbox import host as sandbox
    from grader.sandbox.host import Sandbox
    from grader.sandbox.layers import StudentError

    def limits_of(torch: bool) -> dict[str, int]:
        box = Sandbox({}, torch=torch)
        try:
            return box._rlimits()
        finally:
            box.close()

    monkeypatch.setattr(sandbox, "nvidia_driver", lambda: True)
    assert "as" in limits_of(torch=False)
    limits = limits_of(torch=True)
    assert "as" not in limits and limits["data"] > engine.DEFAULT_LIMITS.memory
    with Sandbox({"losses.py": LIMITS_AND_HOG}, torch=True, mother=mother) as box:
        w = box.worker()
        assert w.call("losses", "l2_penalty", (0,), {})["value"] == 0.0  # locked down by now
        # Read from here: the worker's own /proc is outside its allowlist.
        table = Path(f"/proc/{w.pid}/limits").read_text()
        rows = {line[:26].strip(): line[26:].split()[0] for line in table.splitlines()[1:]}
        assert rows["Max address space"] == "unlimited"
        assert int(rows["Max data size"]) == limits["data"]
        with pytest.raises(StudentError) as err:
            w.call("losses", "l1_penalty", (0,), {})
        assert err.value.type == "MemoryError"
        w.close()
    monkeypatch.setattr(sandbox, "nvidia_driver", lambda: False)
    assert "as" in limits_of(torch=True)


def test_workers_are_the_first_an_oom_killer_takes() -> None:
    from grader.sandbox.host import Sandbox

    src = {"losses.py": "def l2_penalty(W):\n    return 0.0\n"}
    with Sandbox(src) as box:
        w = box.worker()
        assert w.call("losses", "l2_penalty", ([1.0, 2.0],), {})["value"] == 0.0
        # Read from here: the worker's own /proc is outside its allowlist.
        assert Path(f"/proc/{w.pid}/oom_score_adj").read_text().strip() == "1000"
        w.close()
