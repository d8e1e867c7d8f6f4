"""grader feedback (issue 27, item 1): one page per student of a batch, as Gradescope would show it.

One real batch (both suites of `losses.py`, so a submission costs a few seconds) of a Gradescope
export: the reference, the stubs, a known bug of ``tests/grading/bugs.py`` (caught by a public
test with a hint) and a submission that prints and raises HTML, its student named with HTML.
The tests read the pages the command writes; markers planted in every staff-only place of the
results and the gradebook must reach no page.
"""

from __future__ import annotations

import dataclasses
import html
import io
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import browser
import pytest

from grader import messages
from grader.authoring import pack
from grader.classroom import batch, feedback_pages, policies
from grader.classroom.batch import BatchOptions
from grader.classroom.gradebook import Gradebook
from grader.cli import ExitCode, main
from grader.grading import feedback, results_json
from grader.grading.results import GradingResult, TestOutcome

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = BatchOptions(jobs=2, suites=("public", "hidden"), only="losses", timeout=300)

BUG = next(b for b in feedback.bugs(ROOT / "tests" / "grading") if b.id == "svm-sum-not-mean")
EVIL_NAME = "<script>alert('name')</script>Mallory & <b>Co</b>"
PRINTED = "<script>alert('printed')</script>"
RAISED = "<img src=x onerror=alert('raised')>"
EVIL_CODE = f'''

def softmax(scores):
    print("{PRINTED}")
    raise ValueError("{RAISED}")
'''
#: Planted in every place a student must never see (the test's own words, found nowhere else).
MARK = {
    "extra_data": "MARK-EXTRA-DATA-7f3a",
    "test extra_data": "MARK-TEST-EXTRA-91c2",
    "traceback": "MARK-TRACEBACK-5d8e",
    "node id": "MARK-NODEID-2b6f",
    "grader path": "/opt/MARK-GRADER-PATH-c4e1/grader/grading/engine.py",
    "gradebook error": "MARK-GRADEBOOK-ERROR-a9d0",
    "hidden test": "MARK-HIDDEN-TEST-NAME-e37b",
}

METADATA = f"""\
submission_1:
  :submitters:
  - :name: Ada Reference
    :sid: '1815'
    :email: ada@example.com
submission_2:
  :submitters:
  - :name: Sam Stub
    :sid: '1816'
    :email: sam@example.com
submission_3:
  :submitters:
  - :name: Bea Buggy
    :sid: '1817'
    :email: bea@example.com
  - :name: Bo Partner
    :sid: '1818'
    :email: bo@example.com
submission_4:
  :submitters:
  - :name: "{EVIL_NAME}"
    :sid: '1819'
    :email: mallory@example.com
"""
NAMES = {
    "submission_1": ["Ada Reference"],
    "submission_2": ["Sam Stub"],
    "submission_3": ["Bea Buggy", "Bo Partner"],
    "submission_4": [EVIL_NAME],
}


#: Every element a page may hold: nothing that loads, runs or links.
PAGE_TAGS = {
    "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "table", "tr", "td",
    "p", "ul", "li", "section", "span", "pre", "b",
}  # fmt: skip


class Tags(HTMLParser):
    """The elements and attribute names of a page, as a browser's parser reads them."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.attributes: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.names.add(tag)
        self.attributes |= {name for name, _ in attrs}


def _copy_py(src: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    for f in sorted(src.glob("*.py")):
        shutil.copy(f, dest / f.name)
    return dest


def make_export(root: Path) -> Path:
    top = root / "export"
    _copy_py(ROOT / "solutions", top / "submission_1")
    _copy_py(ROOT / "assignment", top / "submission_2")
    buggy = _copy_py(ROOT / "solutions", top / "submission_3")
    (buggy / BUG.file).write_text(BUG.patch((ROOT / "solutions" / BUG.file).read_text()))
    evil = _copy_py(ROOT / "solutions", top / "submission_4")
    with (evil / "losses.py").open("a") as fh:
        fh.write(EVIL_CODE)
    (top / "submission_metadata.yml").write_text(METADATA)
    return top


def _plant(out: Path) -> None:
    """Markers in every staff-only place: results.json's extra_data (top and per test), a
    traceback and a node id there, the grader's error entry, the gradebook's error column, and
    one failing test turned `hidden`."""
    for path in sorted((out / "results").glob("*.json")):
        data = json.loads(path.read_text())
        data["extra_data"] = {**data.get("extra_data", {}), "note": MARK["extra_data"]}
        for t in data["tests"]:
            t["extra_data"] = {
                **t.get("extra_data", {}),
                "note": MARK["test extra_data"],
                "traceback": f"Traceback: {MARK['traceback']} in {MARK['grader path']}",
                "nodeid": f"hidden/test_losses.py::{MARK['node id']}",
            }
        data["tests"].append(
            {
                "name": "Autograder error (staff only)",
                "score": 0.0,
                "max_score": 0.0,
                "status": "failed",
                "output": f"Traceback {MARK['traceback']} {MARK['grader path']}",
                "visibility": "hidden",
                "tags": [],
            }
        )
        path.write_text(json.dumps(data))
    with Gradebook(out / "gradebook.sqlite") as book:
        for rec in book.records():
            book.record(dataclasses.replace(rec, error=MARK["gradebook error"]))


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("feedback")
    out = base / "batch"
    batch.run_batch(make_export(base), out, OPTIONS, stream=io.StringIO())
    return out


def results(out: Path, sub_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "results" / f"{sub_id}.json").read_text())
    return data


def write(out: Path, dest: Path, *show: str) -> dict[str, tuple[str, str]]:
    """``grader feedback`` through the CLI; {id: (html, text)} of what it wrote."""
    args = ["feedback", str(out), "--out", str(dest)]
    for s in show:
        args += ["--show", s]
    assert main(args) == 0
    pages = {}
    for html_file in sorted(dest.glob("*.html")):
        if html_file.name != feedback_pages.INDEX:
            text = html_file.with_suffix(".txt").read_text()
            pages[html_file.stem] = (html_file.read_text(), text)
    return pages


def test_one_page_per_student_and_an_index_linking_them(graded: Path, tmp_path: Path) -> None:
    pages = write(graded, tmp_path / "pages")
    assert sorted(pages) == sorted(NAMES)
    index = (tmp_path / "pages" / "index.html").read_text()
    for sub_id in NAMES:
        assert f'href="{sub_id}.html"' in index and f'href="{sub_id}.txt"' in index
    # each page names its own students and no one else's, nor another submission's id
    for sub_id, (page, text) in pages.items():
        for other, names in NAMES.items():
            for name in names:
                assert (html.escape(name) in page) == (other == sub_id), (sub_id, name)
                assert (name in text) == (other == sub_id), (sub_id, name)
            assert (other in text) == (other == sub_id)
        # what the hidden tests of the graded module examine (the batch graded losses.py only)
        for m in pack.active().modules:
            assert (f"{m.file}: {m.hidden}" in text) == (m.name == "losses"), m.name
            assert (html.escape(m.hidden) in page) == (m.name == "losses"), m.name
    # the HTML stands alone: no script, no link or picture to fetch; print has its own style
    for page, _ in pages.values():
        tags = Tags()
        tags.feed(page)
        assert tags.names <= PAGE_TAGS, tags.names - PAGE_TAGS
        assert tags.attributes <= {"lang", "charset", "name", "content", "class"}
        assert "@media print" in page


def test_another_packs_batch_is_refused_not_described_with_this_pack(
    graded: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # `grader feedback hw3/` run where another pack is active: its title, functions and hidden
    # tests' sentences would be the other assignment's
    monkeypatch.setenv(pack.ENV, str(ROOT / "packs" / "backprop"))
    assert main(["feedback", str(graded), "--out", str(tmp_path / "pages")]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "the active pack (backprop" in err and "did not grade this batch" in err
    assert not (tmp_path / "pages" / feedback_pages.INDEX).exists()


def test_a_grading_with_no_test_lists_no_hidden_tests_examined(graded: Path) -> None:
    with Gradebook(graded / "gradebook.sqlite") as book:
        rec = book.records()[0]
    timed_out = dataclasses.replace(rec, status="timed out", outcomes=())
    view = feedback_pages.build_view(timed_out, {"tests": []}, frozenset({"visible"}))
    assert view.examined == ()  # not every module of the pack


def test_score_version_and_every_function_line(graded: Path, tmp_path: Path) -> None:
    pages = write(graded, tmp_path / "pages")
    with Gradebook(graded / "gradebook.sqlite") as book:
        records = {r.id: r for r in book.records()}
    for sub_id, (page, text) in pages.items():
        rec = records[sub_id]
        score = messages.FEEDBACK_SCORE.format(
            score=results(graded, sub_id)["score"], max_score=rec.max_score
        )
        assert score in text and score in page
        assert messages.FEEDBACK_VERSION.format(version=rec.version.short()) in text
        # nothing in this batch says when it was submitted: no "Late penalty: none"
        assert messages.FEEDBACK_ON_TIME not in text and "Late" not in text
        visible = [t for t in results(graded, sub_id)["tests"] if t["visibility"] == "visible"]
        for name in {t["tags"][0] for t in visible}:
            mine = [t for t in visible if t["tags"][0] == name]
            line = messages.FEEDBACK_FUNCTION.format(
                name=f"{name} (losses.py)",
                score=sum(t["score"] for t in mine),
                max_score=sum(t["max_score"] for t in mine),
                passed=sum(t["status"] == "passed" for t in mine),
                tests=len(mine),
            )
            assert line in text, (sub_id, line)
    assert "FAIL" not in pages["submission_1"][1]  # the reference fails nothing


def test_a_public_failure_shows_its_input_expected_got_and_hint(
    graded: Path, tmp_path: Path
) -> None:
    page, text = write(graded, tmp_path / "pages")["submission_3"]
    failed = [
        t
        for t in results(graded, "submission_3")["tests"]
        if t["status"] == "failed" and t["visibility"] == "visible"
    ]
    assert failed and all(t["tags"] == [BUG.function] for t in failed)
    hinted = [t for t in failed if BUG.hint in t["output"]]
    assert hinted, "the bug's public failure carries its hint"
    for t in hinted:
        assert "input:" in t["output"] and "expected:" in t["output"]
        assert html.escape(t["output"].strip()) in page
        for line in t["output"].strip().splitlines():
            assert line in text
        shown = messages.FEEDBACK_FAILED_TEST.format(name=t["name"], score=0.0, max_score=1.0)
        assert t["name"] in text and shown.split(" (")[0] in text


def test_hidden_suite_failures_only_with_the_flag_and_only_their_hidden_message(
    graded: Path, tmp_path: Path
) -> None:
    tests = results(graded, "submission_3")["tests"]
    hidden_failed = [
        t for t in tests if t["visibility"] == "after_due_date" and t["status"] == "failed"
    ]
    assert hidden_failed, "the bug fails a hidden test too"
    before_page, before = write(graded, tmp_path / "before")["submission_3"]
    after_page, after = write(graded, tmp_path / "after", "after_due_date")["submission_3"]
    for t in hidden_failed:
        assert t["name"] not in before and html.escape(t["name"]) not in before_page
        assert t["name"] in after and html.escape(t["output"].strip()) in after_page
        # a hidden failure says what kind of check failed, never its input
        assert "input:" not in t["output"] and "hidden check" in t["output"]
    count = sum(t["visibility"] != "visible" for t in tests)
    assert f"{count} test(s) are not shown" in before
    assert messages.FEEDBACK_ALL_SHOWN in after
    # after_published names another visibility: it does not reveal after_due_date tests
    published = write(graded, tmp_path / "published", "after_published")["submission_3"][1]
    assert all(t["name"] not in published for t in hidden_failed)


def test_a_hidden_test_never_appears_and_hides_the_total(graded: Path, tmp_path: Path) -> None:
    out = tmp_path / "batch"
    shutil.copytree(graded, out)
    data = results(out, "submission_3")
    victim = next(t for t in data["tests"] if t["status"] == "failed")
    victim["name"] = MARK["hidden test"]
    victim["output"] = MARK["hidden test"]
    victim["visibility"] = "hidden"
    (out / "results" / "submission_3.json").write_text(json.dumps(data))
    for show in ((), ("after_due_date", "after_published")):
        page, text = write(out, tmp_path / f"pages{len(show)}", *show)["submission_3"]
        assert MARK["hidden test"] not in page and MARK["hidden test"] not in text
        assert messages.FEEDBACK_SCORE_HIDDEN in text
        # the template's own formatting (``:g``: 3 not 3.0), so that a leak would be caught
        shown = messages.FEEDBACK_SCORE.format(score=data["score"], max_score=0).split(" / ")[0]
        assert shown not in text and shown not in page
        assert messages.FEEDBACK_UNSHOWN_EARNED.split("{")[0] not in text


def test_no_staff_text_reaches_a_page(graded: Path, tmp_path: Path) -> None:
    out = tmp_path / "batch"
    shutil.copytree(graded, out)
    real = {  # what the grader itself put in the hidden part: node ids and tracebacks
        str(v)
        for path in (graded / "results").glob("*.json")
        for t in json.loads(path.read_text())["tests"]
        for k, v in (t.get("extra_data") or {}).items()
        if k in ("nodeid", "traceback") and v
    }
    assert any("::" in v for v in real)
    _plant(out)
    pages = write(out, tmp_path / "pages", "after_due_date", "after_published")
    assert len(pages) == len(NAMES)
    for sub_id, (page, text) in pages.items():
        for where, marker in MARK.items():
            assert marker not in page and marker not in text, (sub_id, where)
        for staff in real:
            assert staff not in text, (sub_id, staff)
        for both in (page, text):
            assert "::" not in both and "Traceback" not in both, sub_id
            assert str(ROOT) not in both and str(out) not in both, sub_id
            assert not re.search(r"\b(public|hidden)/test_\w+\.py", both), sub_id
            assert "grader/" not in both, sub_id


def test_student_text_is_escaped_and_stays_on_its_own_page(graded: Path, tmp_path: Path) -> None:
    pages = write(graded, tmp_path / "pages")
    page, text = pages["submission_4"]
    outputs = "\n".join(t["output"] for t in results(graded, "submission_4")["tests"])
    assert PRINTED in outputs and RAISED in outputs  # the grading carried them
    for raw in (PRINTED, RAISED, EVIL_NAME):
        assert raw not in page and html.escape(raw) in page
        assert raw in text  # plain text is shown as written
    for other in ("submission_1", "submission_2", "submission_3"):
        for raw in (PRINTED, RAISED, EVIL_NAME):
            assert html.escape(raw) not in pages[other][0] and raw not in pages[other][1]
    index = (tmp_path / "pages" / "index.html").read_text()
    assert EVIL_NAME not in index and html.escape(EVIL_NAME) in index


def test_a_missing_results_file_is_said_not_skipped(graded: Path, tmp_path: Path) -> None:
    out = tmp_path / "batch"
    shutil.copytree(graded, out)
    (out / "results" / "submission_2.json").unlink()
    written = feedback_pages.write_pages(out, tmp_path / "pages")
    assert sorted(written.files) == sorted(NAMES)
    assert "results/submission_2.json" in written.problems["submission_2"]
    text = written.files["submission_2"][1].read_text()
    assert messages.FEEDBACK_MISSING in text and "Sam Stub" in text and "Score" not in text
    index = written.index.read_text()
    assert html.escape(written.problems["submission_2"]) in index


def test_a_grader_failure_says_so_and_nothing_of_its_traceback(
    graded: Path, tmp_path: Path
) -> None:
    out = tmp_path / "batch"
    shutil.copytree(graded, out)
    failed = GradingResult(tests=(), grader_error=f"Traceback {MARK['traceback']}")
    (out / "results" / "submission_2.json").write_text(json.dumps(results_json.to_json(failed)))
    page, text = write(out, tmp_path / "pages")["submission_2"]
    assert messages.GRADER_FAILED in text and html.escape(messages.GRADER_FAILED) in page
    assert MARK["traceback"] not in page + text and "Traceback" not in page + text
    assert messages.FEEDBACK_NO_TESTS in text and messages.FEEDBACK_ALL_SHOWN not in text
    assert "not shown on this page" not in text  # the staff's entry is not a test to count


def test_usage_errors(tmp_path: Path) -> None:
    assert main(["feedback", str(tmp_path), "--out", str(tmp_path / "p")]) == ExitCode.USAGE
    with pytest.raises(ValueError, match="unknown visibility"):
        list(feedback_pages.pages(tmp_path, ["hidden"]))
    with pytest.raises(SystemExit):
        main(["feedback", str(tmp_path), "--out", str(tmp_path / "p"), "--show", "hidden"])


def test_late_penalty_from_the_policy_and_the_lms_mark(graded: Path, tmp_path: Path) -> None:
    out = tmp_path / "batch"
    shutil.copytree(graded, out)
    # submission_3 as Gradescope's policy leaves it: 1.5 days late (2 started) at 10% a day
    data = results(out, "submission_3")
    result = GradingResult(
        tests=tuple(
            TestOutcome(
                name=t["name"],
                number=t["number"],
                max_score=t["max_score"],
                score=t["score"],
                status=t.get("status", "skipped"),
                output=t["output"],
                tags=tuple(t["tags"]),
                visibility=t["visibility"],
            )
            for t in data["tests"]
        ),
        output=data["output"],
    )
    meta = {
        "created_at": "2026-03-03T12:00:00+00:00",
        "assignment": {"due_date": "2026-03-01T23:59:00+00:00"},
    }
    late = policies.apply(result, meta, policies.Policy(late_penalty_per_day=0.1))
    results_json.write(late, out / "results" / "submission_3.json")
    # submission_1's student, as an LMS download marks them: late, no penalty known
    with Gradebook(out / "gradebook.sqlite") as book:
        rec = next(r for r in book.records() if r.id == "submission_1")
        marked = tuple(dataclasses.replace(s, late=True) for s in rec.students)
        book.record(dataclasses.replace(rec, students=marked))
        # submission_4's student as a Canvas download names them: not marked LATE, so on time
        rec = next(r for r in book.records() if r.id == "submission_4")
        canvas = tuple(dataclasses.replace(s, lms_id="canvas:104") for s in rec.students)
        book.record(dataclasses.replace(rec, students=canvas))
    # submission_2 as Gradescope's policy records one on time
    on_time = results(out, "submission_2")
    on_time["extra_data"] = {"submission": {"days_late": 0, "late_penalty": 0.0}}
    (out / "results" / "submission_2.json").write_text(json.dumps(on_time))
    pages = write(out, tmp_path / "pages")
    page, text = pages["submission_3"]
    penalty = messages.FEEDBACK_LATE.format(taken=0.2, days=2)
    assert penalty in text and html.escape(penalty) in page
    score = messages.FEEDBACK_SCORE.format(score=late.score, max_score=late.max_score)
    assert score in text and late.score == pytest.approx(0.8 * result.score)
    assert messages.FEEDBACK_LATE_MARKED in pages["submission_1"][1]
    assert messages.FEEDBACK_ON_TIME in pages["submission_2"][1]
    assert messages.FEEDBACK_ON_TIME in pages["submission_4"][1]
    with Gradebook(out / "gradebook.sqlite") as book:  # the same row from Moodle: unknown
        rec = next(r for r in book.records() if r.id == "submission_4")
        moodle = tuple(dataclasses.replace(s, lms_id="moodle:7") for s in rec.students)
        book.record(dataclasses.replace(rec, students=moodle))
    assert "Late" not in feedback_pages.page_for(out, "submission_4").text


# -- in a browser ---------------------------------------------------------------------------------

#: Added to a copy of a page by the test only (the pages have no script): what the student
#: reads (innerText) and whether anything is wider than the window.
PROBE = """<script>
window.addEventListener("load", function () {
  var out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({
    text: document.body.innerText,
    width: document.documentElement.scrollWidth,
    window: window.innerWidth,
    images: document.images.length,
    scripts: document.scripts.length
  });
  document.body.appendChild(out);
});
</script>"""


def _chromium(page: Path, profile: Path, width: int) -> dict[str, Any]:
    flags = (f"--window-size={width},900", "--virtual-time-budget=5000", "--dump-dom")
    dom = browser.run(page, profile, *flags)
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    probe: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return probe


@browser.needs_chromium
def test_pages_render_in_headless_chromium_in_a_narrow_window(graded: Path, tmp_path: Path) -> None:
    write(graded, tmp_path / "pages")
    failed = next(
        t
        for t in results(graded, "submission_3")["tests"]
        if t["status"] == "failed" and BUG.hint in t["output"]
    )
    for sub_id in ("submission_3", "submission_4"):
        page = (tmp_path / "pages" / f"{sub_id}.html").read_text()
        probed = tmp_path / f"{sub_id}-probed.html"
        probed.write_text(page.replace("</body>", PROBE + "</body>"))
        for width in (1200, 360):
            seen = _chromium(probed, tmp_path / f"profile-{sub_id}-{width}", width)
            text = seen["text"]
            assert seen["scripts"] == 1 and seen["images"] == 0, seen  # only the probe
            assert seen["width"] <= seen["window"], (width, seen["width"], seen["window"])
            if width == 360:  # headless Chromium's narrowest window is 500 CSS pixels
                assert seen["window"] <= 520, seen["window"]
            for name in NAMES[sub_id]:
                assert name in text
            if sub_id == "submission_3":
                assert BUG.hint in " ".join(text.split())
                assert "input:" in text and failed["name"] in text
            else:  # the student's HTML is read as text, not run
                assert PRINTED in text and RAISED in text and EVIL_NAME in text
    # the check can fail: a line that cannot wrap makes the page wider than a narrow window
    wide = tmp_path / "wide.html"
    wide.write_text(
        (tmp_path / "pages" / "submission_3.html")
        .read_text()
        .replace("</body>", '<div style="width:2000px">x</div>' + PROBE + "</body>")
    )
    seen = _chromium(wide, tmp_path / "profile-wide", 360)
    assert seen["width"] > seen["window"]


@browser.needs_chromium
def test_a_page_prints_to_pdf(graded: Path, tmp_path: Path) -> None:
    write(graded, tmp_path / "pages")
    pdf = tmp_path / "page.pdf"
    page = tmp_path / "pages" / "submission_3.html"
    browser.run(page, tmp_path / "profile", "--no-pdf-header-footer", f"--print-to-pdf={pdf}")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and data.count(b"/Type /Page") >= 1
