"""The assignment notebook runs top to bottom: with the reference code, and with the stubs.

Each run starts a real Jupyter kernel (ipykernel's ``python3``) in a fresh folder, as a student
would open the notebook, so these tests take some seconds each.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from grader import messages
from grader.authoring import assign, pack

FILES = pack.active().files
MODULES = pack.active().by_module

SOLUTIONS = Path(__file__).resolve().parents[2] / "solutions"


def execute(notebook: nbformat.NotebookNode, cwd: Path) -> str:
    """Run every cell in a new kernel working in ``cwd``; all the text the cells printed."""
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=180,
        allow_errors=True,  # errors are asserted on below, with the cell that raised
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute()
    texts = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.outputs:
            assert output.output_type != "error", (
                f"cell {cell.id} raised {output.ename}: {output.evalue}\n{cell.source[:300]}"
            )
            if cell.source.startswith("# The public tests of"):  # a check cell
                assert output.output_type == "stream", f"cell {cell.id} shows {output}"
            if output.output_type == "stream":
                assert output.name == "stdout", f"cell {cell.id} wrote to stderr: {output.text}"
                texts.append(output.text)
    return "".join(texts)


@pytest.fixture(autouse=True)
def _headless(monkeypatch: pytest.MonkeyPatch) -> None:
    # The kernel inherits the environment: plot without a display.
    monkeypatch.setenv("MPLBACKEND", "Agg")


@pytest.mark.slow
def test_reference_notebook_runs_and_reproduces_the_lecture(tmp_path: Path) -> None:
    printed = execute(assign.reference_notebook(SOLUTIONS), tmp_path)
    for expected in [
        "hinge loss of the cat image: 2.9",
        "hinge loss of the car image: 0.0",
        "hinge loss of the frog image: 12.9",
        "mean hinge loss: 5.27",
        "car image with every score doubled: 0.0",
        "cross-entropy of the cat image: 2.04",
        "lam = 0.0: predictions [ 32.   39.4  61.7  88.9 113.6]",
        "lam = 0.02: predictions [36.  40.6 54.3 71.1 86.4]",
        "SoftmaxCrossEntropy passes gradcheck: True",
        "MulticlassHinge passes gradcheck: True",
    ]:
        assert expected in printed
    assert printed.count("passed: True") == 2
    assert "not implemented yet" not in printed
    # Each file's check cell ran the public tests on what the notebook wrote: all pass, and
    # the files the notebook has not reached yet go unmentioned.
    assert printed.count("Public tests of `") == len(FILES)
    assert printed.count(messages.CHECK_ALL_PASSED) == len(FILES)
    assert "FAIL" not in printed and "note:" not in printed
    # The %%writefile cells wrote exactly the completed files.
    for name in FILES:
        expected_text = assign.completed_source((SOLUTIONS / name).read_text(), SOLUTIONS / name)
        assert (tmp_path / name).read_text() == expected_text


@pytest.mark.slow
def test_stub_notebook_runs_and_says_what_is_missing(tmp_path: Path) -> None:
    notebook = nbformat.reads(assign.render(SOLUTIONS)[assign.NOTEBOOK], as_version=4)
    printed = execute(notebook, tmp_path)
    missing = [line for line in printed.splitlines() if line.startswith("not implemented yet: ")]
    assert missing
    graded = {name for names in MODULES.values() for name in names}
    for line in missing:
        name = line.removeprefix("not implemented yet: ")
        assert name.split(".")[0] in graded, line
    assert "not implemented yet: svm_loss" in missing
    assert "not implemented yet: SoftmaxCrossEntropy.forward" in missing
    # The check cells report the stubs as not implemented instead of crashing, one line each.
    assert printed.count("Public tests of `") == len(FILES)
    todo = [line.split()[1] for line in printed.splitlines() if line.startswith("  TODO ")]
    assert sorted(todo) == sorted(graded)
    assert "note:" not in printed
    for name in FILES:
        assert (tmp_path / name).read_text() == assign.render(SOLUTIONS)[name]
