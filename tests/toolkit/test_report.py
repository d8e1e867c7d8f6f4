"""grader report: an HTML page whose pictures render in a real headless browser."""

from __future__ import annotations

import shutil
from pathlib import Path

import browser
import pytest

from grader.classroom.gradebook import Gradebook, Outcome, Record, Student
from grader.classroom.report import write_report


def _outcome(i: int, passed: bool, fingerprint: str = "") -> Outcome:
    tag = ("svm_loss", "softmax", "sgd_step")[i % 3]
    return Outcome(
        f"1.{i}",
        f"test {i} <b>",
        float(passed),
        1.0,
        "passed" if passed else "failed",
        "public",
        (tag,),
        fingerprint,
        0.05,
    )


def make_gradebook(out: Path, n: int = 12) -> None:
    with Gradebook(out / "gradebook.sqlite") as book:
        for k in range(n):
            status = "graded" if k < n - 2 else ("timed out", "grader error")[k - n + 2]
            outcomes = (
                ()
                if status != "graded"
                else tuple(
                    _outcome(i, (i + k) % 4 != 0, "sums over j == y_i <script>" if i == 0 else "")
                    for i in range(9)
                )
            )
            book.record(
                Record(
                    id=f"s{k:02d}<i>",
                    content_digest=str(k),
                    suite_digest="s",
                    score=sum(o.score for o in outcomes),
                    max_score=float(len(outcomes)),
                    status=status,  # type: ignore[arg-type]
                    started="2024-01-01T00:00:00+00:00",
                    finished="2024-01-01T00:00:02+00:00",
                    wall_seconds=1.0 + k,
                    students=(Student(f"Student <{k}>", f"s{k}@x.org", str(k)),),
                    outcomes=outcomes,
                    error="" if status == "graded" else "stopped after 600 s",
                )
            )


def test_report_writes_html_and_pictures(tmp_path: Path) -> None:
    make_gradebook(tmp_path)
    written = write_report(tmp_path, tmp_path / "site" / "report.html")
    html = written[0].read_text()
    assert len(written) == 6  # the page and five pictures
    for png in written[1:]:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f'src="{png.name}"' in html  # relative: the folder can be moved as a whole
    assert "<script>" not in html.replace("<script>\nwindow", "")  # student text escaped
    assert "&lt;script&gt;" in html and "s10&lt;i&gt;" in html
    assert "timed out" in html and "stopped after 600 s" in html


def test_report_of_an_empty_or_missing_gradebook(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="grader batch"):
        write_report(tmp_path, tmp_path / "r.html")
    Gradebook(tmp_path / "gradebook.sqlite").open().close()
    assert write_report(tmp_path, tmp_path / "r.html") == [tmp_path / "r.html"]


@browser.needs_chromium
def test_report_renders_its_images_in_headless_chromium(tmp_path: Path) -> None:
    make_gradebook(tmp_path)
    page = write_report(tmp_path, tmp_path / "site" / "report.html")[0]
    flags = ("--virtual-time-budget=10000", "--dump-dom")
    dom = browser.run(page, tmp_path / "profile", *flags)
    assert 'id="images-status" data-ok="yes"' in dom, dom[-2000:]
    assert "images loaded: 5/5" in dom
    # a broken picture is noticed: the check is not vacuous
    (page.parent / "report-scores.png").write_bytes(b"not a png")
    shutil.rmtree(tmp_path / "profile")
    dom = browser.run(page, tmp_path / "profile", *flags)
    assert 'data-ok="no"' in dom and "images loaded: 4/5" in dom
