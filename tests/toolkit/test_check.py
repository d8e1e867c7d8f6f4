"""`grader check`, tried as a student would: stubs, a partly correct assignment, the reference,
from a terminal and through a pipe, one function or one file, and the notebook's helper."""

from __future__ import annotations

import io
import os
import pty
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader import cli, messages
from grader.authoring import pack
from grader.grading import check, feedback
from grader.grading.results import GradingResult, TestOutcome

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = ROOT / "assignment"
SOLUTIONS = ROOT / "solutions"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "grader", "check", *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def run_on_a_terminal(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """``grader check`` with its stdout and stderr on a pseudo-terminal: (exit code, output)."""
    main, child = pty.openpty()
    environ = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | {"TERM": "xterm"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "grader", "check", *args],
        stdin=subprocess.DEVNULL,
        stdout=child,
        stderr=child,
        cwd=ROOT,
        env=environ | (env or {}),
    )
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    return proc.wait(timeout=300), b"".join(chunks).decode("utf-8", "replace")


def a_student_folder(
    tmp_path: Path, *, solved: tuple[str, ...] = (), bugs: tuple[str, ...] = ()
) -> Path:
    """A copy of ``assignment/`` (README, notebook, pytest.ini included) in which the files
    ``solved`` are the reference's and each bug of ``bugs`` (ids of tests/grading/bugs.py) is
    patched into its file, as a student's one wrong line."""
    folder = tmp_path / "assignment"
    shutil.copytree(ASSIGNMENT, folder)
    for name in solved:
        shutil.copy(SOLUTIONS / name, folder / name)
    for bug in (b for b in feedback.bugs() if b.id in bugs):
        path = folder / bug.file
        path.write_text(bug.patch(path.read_text(encoding="utf-8")), encoding="utf-8")
    return folder


def rows(text: str) -> dict[str, str]:
    """Function name -> its report row's mark (ok, FAIL, TODO)."""
    found = re.findall(r"^  (ok  |FAIL|TODO) (\w+) ", ANSI.sub("", text), flags=re.M)
    return {name: mark.strip() for mark, name in found}


# -- the stubs ------------------------------------------------------------------------------------


def test_stubs_are_one_todo_line_per_function_and_exit_1() -> None:
    proc = run_cli()  # default: assignment/
    assert proc.returncode == cli.ExitCode.FAILED
    assert "\x1b[" not in proc.stdout and "\r" not in proc.stdout  # piped: plain text
    assert rows(proc.stdout) == dict.fromkeys(pack.active().module_of, "TODO")
    todo_rows = [line for line in proc.stdout.splitlines() if line.endswith(messages.CHECK_TODO)]
    assert len(todo_rows) == len(pack.active().module_of)
    assert "checked:" not in proc.stdout  # no per-test detail for what is not written yet
    count = messages.CHECK_TODO_COUNT.format(
        count=len(pack.active().module_of), total=len(pack.active().module_of)
    )
    assert count in proc.stdout and "Total: 0/" in proc.stdout
    # assignment/'s README, notebook and pytest.ini are not a submission's stray files here.
    assert "note:" not in proc.stdout, proc.stdout
    assert all(len(line) <= check.WIDTH for line in proc.stdout.splitlines())


# -- a partly correct assignment ------------------------------------------------------------------


def test_partial_assignment_passes_the_right_functions() -> None:
    out = io.StringIO()
    result, text = check.run_check(ROOT / "examples" / "partial", out=out)
    by_tag = result.by_tag()
    for done in ("svm_loss", "softmax", "step_decay", "cosine_decay"):
        got, avail = by_tag[done]
        assert got == avail > 0, done
    for todo in ("softmax_loss_and_grad", "sgd_momentum_step"):
        assert by_tag[todo][0] == 0, todo
    assert not check.passed(result)
    marks = rows(text)
    assert marks["svm_loss"] == "ok" and marks["softmax_loss_and_grad"] == "TODO"
    assert out.getvalue() == text


def test_a_students_bugs_are_pointed_at_and_the_rest_passes(tmp_path: Path) -> None:
    folder = a_student_folder(
        tmp_path,
        solved=("losses.py", "gradients.py"),
        bugs=("svm-includes-correct-class", "svmgrad-reg-grad-1x"),
    )
    proc = run_cli(str(folder))
    assert proc.returncode == cli.ExitCode.FAILED
    text = proc.stdout
    marks = rows(text)
    assert marks["svm_loss"] == marks["svm_loss_and_grad"] == "FAIL"
    others = set(pack.active().by_module["losses"] + pack.active().by_module["gradients"]) - {
        "svm_loss",
        "svm_loss_and_grad",
    }
    assert all(marks[name] == "ok" for name in others), text
    assert all(marks[name] == "TODO" for name in pack.active().by_module["optim"])
    hints = {b.id: b.hint for b in feedback.bugs()}
    for bug in ("svm-includes-correct-class", "svmgrad-reg-grad-1x"):
        assert messages.HINT.format(hint=hints[bug]).strip() in text, bug
    # What was checked, on what input, what was expected and what came back.
    block = text[text.index("FAIL svm_loss ") :]
    for part in ("checked: hinge loss of the cat/car/frog table", "input:", "expected: 5.266667"):
        assert part in block
    assert "got:      6.266667" in block
    more = messages.CHECK_MORE.format(count=6, how=messages.CHECK_MORE_CLI)
    assert more in block
    assert "note:" not in text  # README.md, assignment.ipynb, pytest.ini: nothing to say


def test_verbose_shows_every_failing_test(tmp_path: Path) -> None:
    folder = a_student_folder(tmp_path, solved=("losses.py",), bugs=("svm-includes-correct-class",))
    result, text = check.run_check(folder, only="svm_loss", verbose=True, out=io.StringIO())
    failing = [t for t in result.tests if t.status == "failed"]
    assert len(failing) > 1
    assert text.count("checked: ") == len(failing)
    assert all(f"checked: {t.name}" in text for t in failing)
    assert "more failing" not in text


def test_the_buggy_example_gets_its_hint() -> None:
    _, text = check.run_check(ROOT / "examples" / "buggy", out=io.StringIO())
    assert rows(text)["svm_loss"] == "FAIL"
    assert "expected: 5.266667" in text and "got:      6.266667" in text
    assert "hint: your loss is exactly `margin` too high" in text


# -- the reference --------------------------------------------------------------------------------


def test_reference_exits_0_and_says_what_is_left() -> None:
    proc = run_cli("solutions")
    assert proc.returncode == cli.ExitCode.OK, proc.stdout
    assert set(rows(proc.stdout).values()) == {"ok"}
    assert messages.CHECK_ALL_PASSED in proc.stdout
    assert messages.CHECK_HIDDEN_INTRO in proc.stdout
    assert messages.CHECK_HEADER.format(what="every function", path="solutions/") in proc.stdout


# -- --only ---------------------------------------------------------------------------------------


def test_only_one_function() -> None:
    out = io.StringIO()
    result, text = check.run_check(SOLUTIONS, only="svm_loss", out=out)
    assert result.tests and all("svm_loss" in t.tags for t in result.tests)
    assert list(rows(text)) == ["svm_loss"]
    assert "losses.py: " in text and "optim.py: " not in text
    assert "of `svm_loss` in" in text


def test_only_one_file_by_its_module_name(tmp_path: Path) -> None:
    # A folder holding only losses.py, as the notebook has it once its first cell has run.
    folder = tmp_path / "work"
    folder.mkdir()
    shutil.copy(SOLUTIONS / "losses.py", folder / "losses.py")
    proc = run_cli("--only", "losses", str(folder))
    assert proc.returncode == cli.ExitCode.OK, proc.stdout + proc.stderr
    assert set(rows(proc.stdout)) == set(pack.active().by_module["losses"])
    assert "of `losses.py` in" in proc.stdout
    assert "note:" not in proc.stdout  # the files not written yet are not this check's business
    # Checking everything, the missing files are said once each, and the run fails.
    everything = run_cli(str(folder))
    assert everything.returncode == cli.ExitCode.FAILED
    assert everything.stdout.count("note: `") == len(pack.active().files) - 1
    assert "did you mean" not in everything.stdout  # losses.py is no misspelt torch_losses.py


def test_only_with_a_typo_suggests_the_name() -> None:
    proc = run_cli("--only", "svm_los")
    assert proc.returncode == cli.ExitCode.USAGE
    assert "did you mean `svm_loss`?" in proc.stderr
    assert run_cli("--only", "loses").stderr.count("did you mean `losses`?") == 1


def test_a_missing_folder_is_a_usage_error() -> None:
    proc = run_cli("no/such/folder")
    assert proc.returncode == cli.ExitCode.USAGE
    assert "nothing to check" in proc.stderr


# -- terminal or pipe -----------------------------------------------------------------------------


def test_on_a_terminal_colours_and_a_progress_line() -> None:
    code, text = run_on_a_terminal("--only", "svm_loss", "solutions")
    assert code == cli.ExitCode.OK, text
    assert "\x1b[32mok  \x1b[0m" in text  # green
    assert (
        "\r\x1b[K  " + messages.CHECK_PROGRESS_TEST.format(done=1, total=7, name="svm_loss") in text
    )
    assert "[7/7]" in text
    # The progress line is erased before the report: the report reads as on a pipe.
    report = text[text.rindex("\r\x1b[K") + len("\r\x1b[K") :]
    assert ANSI.sub("", report).replace("\r\n", "\n").startswith("Public tests of `svm_loss`")


def test_on_a_terminal_failures_are_red_and_the_exit_code_is_kept() -> None:
    code, text = run_on_a_terminal("--only", "softmax")  # the stubs
    assert code == cli.ExitCode.FAILED
    assert "\x1b[33mTODO\x1b[0m" in text  # yellow: to do, not wrong


def test_no_color_keeps_the_progress_line_but_drops_the_colours() -> None:
    code, text = run_on_a_terminal("--only", "svm_loss", "solutions", env={"NO_COLOR": "1"})
    assert code == cli.ExitCode.OK
    assert "checking [1/7] svm_loss" in text
    assert not re.search(r"\x1b\[[0-9;]*m", text)


def test_colours_only_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    style = check.style_for(Tty())
    assert style.good("x") != "x"
    assert check.style_for(io.StringIO()).good("x") == "x"
    assert check.interactive(Tty()) and not check.interactive(io.StringIO())


# -- the notebook's helper ------------------------------------------------------------------------


def test_notebook_cell_helper_checks_one_function(capsys: pytest.CaptureFixture[str]) -> None:
    passed = check.check("svm_loss", path=SOLUTIONS)
    assert isinstance(passed, check.Checked) and bool(passed) is True
    assert bool(check.check("svm_loss", path=ASSIGNMENT)) is False
    printed = capsys.readouterr().out
    assert printed.count("Public tests of `svm_loss`") == 2
    with pytest.raises(ValueError, match="did you mean `svm_loss`"):
        check.check("svm_los")


def test_notebook_helper_shows_nothing_after_its_report(tmp_path: Path) -> None:
    # IPython calls _ipython_display_ instead of printing the value: a check cell does not end
    # in a bare True/False under the report.
    assert check.Checked(False)._ipython_display_() is None
    assert repr(check.Checked(True)) == "Checked(passed=True)"
    folder = a_student_folder(tmp_path, solved=("losses.py",), bugs=("svm-includes-correct-class",))
    _, text = check.run_check(folder, only="losses", out=io.StringIO(), notebook=True)
    how = messages.CHECK_MORE_NOTEBOOK.format(name="svm_loss")
    assert messages.CHECK_MORE.format(count=6, how=how) in text


# -- the report on its own ------------------------------------------------------------------------


def outcome(name: str, status: str, output: str = "", tag: str = "svm_loss") -> TestOutcome:
    score = 1.0 if status == "passed" else 0.0
    return TestOutcome(name, "1", 1.0, score, status, output, (tag,))  # type: ignore[arg-type]


def test_a_function_half_written_is_a_failure_not_a_todo() -> None:
    todo = messages.NOT_IMPLEMENTED.format(name="svm_loss")
    half = GradingResult(tests=(outcome("a", "passed"), outcome("b", "failed", todo)))
    assert rows(check.report(half, ASSIGNMENT)) == {"svm_loss": "FAIL"}
    none = GradingResult(tests=(outcome("a", "failed", todo), outcome("b", "failed", todo)))
    assert rows(check.report(none, ASSIGNMENT)) == {"svm_loss": "TODO"}
    wrong = GradingResult(tests=(outcome("a", "failed", todo), outcome("b", "failed", "wrong")))
    assert rows(check.report(wrong, ASSIGNMENT)) == {"svm_loss": "FAIL"}


def test_a_checker_failure_says_so_and_nothing_else() -> None:
    broken = GradingResult(tests=(), grader_error="Traceback ...")
    text = check.report(broken, ASSIGNMENT)
    assert messages.CHECK_FAILED in text and "Total" not in text


def test_hidden_notes_are_only_the_assignment_folders_own_files(tmp_path: Path) -> None:
    folder = a_student_folder(tmp_path)
    assert check.quiet_notes(folder, None)  # README.md, assignment.ipynb, pytest.ini
    # Jupyter's checkpoints of the notebook, opened in that folder, are the folder's own too.
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / "assignment-checkpoint.ipynb").write_text("{}")
    assert len(check.quiet_notes(folder, None)) == 1
    proc = run_cli(str(folder))
    assert "note:" not in proc.stdout
    (folder / "notes.pdf").write_text("mine")
    assert not check.quiet_notes(folder, None)  # a stray file of the student's: say it
