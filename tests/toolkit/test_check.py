"""`grader check`, tried as a student would: stubs, a partly correct assignment, the reference."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from grader import check, cli

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "grader", "check", *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def test_stubs_are_all_not_implemented_and_exit_1() -> None:
    proc = run_cli()  # default: assignment/
    assert proc.returncode == cli.ExitCode.FAILED
    assert "\x1b[" not in proc.stdout  # piped: plain text
    assert "Total: 0/" in proc.stdout
    assert "is not implemented yet" in proc.stdout
    assert " ok " not in proc.stdout.replace("FAIL", "")


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
    assert "ok   svm_loss" in text and "FAIL softmax_loss_and_grad" in text


def test_buggy_assignment_gets_pointed_at_its_bugs() -> None:
    _, text = check.run_check(ROOT / "examples" / "buggy", out=io.StringIO())
    assert "FAIL svm_loss" in text
    assert "expected: 5.266667" in text and "got:      6.266667" in text


def test_reference_exits_0() -> None:
    proc = run_cli("solutions")
    assert proc.returncode == cli.ExitCode.OK, proc.stdout
    assert "The hidden tests will also examine" in proc.stdout


def test_only_one_function() -> None:
    out = io.StringIO()
    result, text = check.run_check(ROOT / "solutions", only="svm_loss", out=out)
    assert result.tests and all("svm_loss" in t.tags for t in result.tests)
    assert "losses.py: " in text and "optim.py: " not in text


def test_only_with_a_typo_suggests_the_name() -> None:
    proc = run_cli("--only", "svm_los")
    assert proc.returncode == cli.ExitCode.USAGE
    assert "did you mean `svm_loss`?" in proc.stderr


def test_notebook_cell_helper_checks_one_function(capsys: object) -> None:
    assert check.check("svm_loss", path=ROOT / "solutions") is True
    assert check.check("svm_loss", path=ROOT / "assignment") is False


def test_colours_only_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    style = check.style_for(Tty())
    assert style.good("x") != "x"
    assert check.style_for(io.StringIO()).good("x") == "x"
