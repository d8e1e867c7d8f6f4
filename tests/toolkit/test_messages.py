"""Every sentence a student can read, reviewed as a whole (issue 7, item 4).

The templates live in ``grader.messages``; these tests format each one, and then look at what
real failures produce: what was checked, on what input, expected, got, and what to look at.
"""

from __future__ import annotations

import io
import itertools
import re
import string
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader import messages
from grader.authoring import pack
from grader.grading import checks
from grader.grading.checks import StudentFailure

TEMPLATES: dict[str, str] = {
    name: value
    for name, value in vars(messages).items()
    if name.isupper() and isinstance(value, str)
}
TEMPLATES |= {f"INTAKE[{code}]": text for code, text in messages.INTAKE.items()}
# The manifest's sentences of what each module's hidden tests examine are messages too.
TEMPLATES |= {f"hidden[{m.name}]": m.hidden for m in pack.active().modules}

# Every template, rendered with values like the ones it gets, and what the result must say.
# kind: "sentence" ends like one (. : ?); "clause" follows a name or stands as a test's output and
# need not; "fragment" is appended to another message or is one cell of the report.
SAMPLES: dict[str, tuple[str, dict[str, Any], tuple[str, ...]]] = {
    # the worker died or misbehaved
    "TIMED_OUT": ("clause", {"seconds": 10.0}, ("timed out after 10 s", "infinite loop")),
    "TIMED_OUT_AGAIN": (
        "clause",
        {"seconds": 1.0, "full": 10.0},
        ("timed out after 1 s", "earlier tests", "instead of 10 s"),
    ),
    "CRASHED": (
        "clause",
        {"signal": "SIGSEGV", "what": "a segmentation fault"},
        ("crashed with SIGSEGV", "segmentation fault"),
    ),
    "KILLED": ("clause", {"signal": "SIGKILL"}, ("killed (SIGKILL)", "too much memory")),
    "CPU_LIMIT": ("clause", {"seconds": 60}, ("more than 60 s of CPU time",)),
    "FILE_LIMIT": ("clause", {"limit": "16 MiB"}, ("larger than the 16 MiB limit",)),
    "CALLED_EXIT": ("clause", {"status": 3}, ("called exit()", "exit status 3", "return a value")),
    "OUTPUT_FLOOD": ("clause", {"limit": "64 KiB"}, ("printed far more than the 64 KiB",)),
    "OUTPUT_TRUNCATED": ("fragment", {"total": "90000 characters"}, ("90000 characters",)),
    "OUTPUT_CUT": (
        "fragment",
        {"cut": "1.2 MiB", "total": "1.3 MiB", "kept": "32 KiB"},
        ("1.2 MiB cut here", "printed 1.3 MiB", "first and the last 32 KiB"),
    ),
    "RESULTS_CUT": (
        "fragment",
        {"cut": "61,184", "budget": "262,144"},
        ("61,184 characters cut here", "at most 262,144 bytes"),
    ),
    "BAD_REPLY": ("clause", {"detail": "a truncated frame"}, ("could not be read back",)),
    "WORKER_FAILED": (
        "clause",
        {"type": "ProtocolError"},
        ("internal error (ProtocolError)", "could not be checked", "staff have the details"),
    ),
    "FATAL_UNVERIFIED": ("fragment", {}, ("unverified", "student's code may have written it")),
    "WORKER_CLOSED": ("clause", {}, ("already closed",)),
    "WORKER_LOST": ("clause", {}, ("ended unexpectedly",)),
    "MEMORY": ("clause", {"limit": "2 GiB"}, ("exceeded the 2 GiB memory limit",)),
    "EXPIRED": ("clause", {}, ("earlier call", "can no longer be called")),
    # student code raised
    "NOT_IMPLEMENTED": ("clause", {"name": "svm_loss"}, ("`svm_loss` is not implemented yet",)),
    "RAISED": (
        "clause",
        {"name": "softmax", "type": "IndexError", "message": "index 5 is out of bounds"},
        ("`softmax` raised IndexError: index 5 is out of bounds",),
    ),
    "RAISED_AT": (
        "fragment",
        {"file": "losses.py", "line": 28, "code": "`x = y[:, 5]`"},
        ("at losses.py, line 28: `x = y[:, 5]`",),
    ),
    "ON_INPUT": ("fragment", {"inputs": "scores=[[1, 2]]"}, ("input: scores=[[1, 2]]",)),
    "SYSTEM_EXIT": ("clause", {"name": "svm_loss"}, ("`svm_loss` called exit()",)),
    "MISSING_FILE": (
        "clause",
        {"module": "optim", "name": "sgd_step"},
        ("`optim.py` was not submitted", "`sgd_step` could not be graded"),
    ),
    "MISSING_NAME": (
        "clause",
        {"module": "losses", "name": "svm_loss", "hint": "; did you mean `svm_los`?"},
        ("`losses.py` does not define `svm_loss`", "did you mean `svm_los`?"),
    ),
    "IMPORT_FAILED": (
        "clause",
        {
            "module": "losses",
            "type": "SyntaxError",
            "message": "invalid syntax (losses.py, line 3)",
        },
        ("`losses.py` could not be imported", "SyntaxError", "line 3"),
    ),
    "BAD_RETURN": (
        "clause",
        {"name": "softmax", "message": "a generator"},
        ("`softmax` returned something the grader cannot read: a generator",),
    ),
    "RESULT_TOO_LARGE": (
        "clause",
        {"name": "softmax", "message": "it holds more than 9 values"},
        ("`softmax` returned a result too large to send back", "more than 9 values"),
    ),
    "RESULT_TOO_DEEP": (
        "clause",
        {"name": "softmax", "message": "its lists nest more than 32 levels deep"},
        ("`softmax` returned a result nested too deeply", "32 levels deep"),
    ),
    "BOUND_ENTRIES": ("fragment", {"bound": 2**20}, ("more than 1,048,576 values", "counts once")),
    "BOUND_DEPTH": ("fragment", {"bound": 32}, ("more than 32 levels deep",)),
    "BOUND_BYTES": (
        "fragment",
        {"what": "a string", "bound": "64 MiB"},
        ("a string takes it past the 64 MiB bound on one result",),
    ),
    "BOUND_ARRAY": (
        "fragment",
        {"shape": (200000, 200000), "dtype": "float64", "size": "298 GiB"},
        ("shape (200000, 200000) (float64, 298 GiB)",),
    ),
    "BOUND_MESSAGE": ("fragment", {"size": "65 MiB"}, ("65 MiB in all",)),
    "BOUND_INT": (
        "fragment",
        {"digits": 1_000_000, "bound": 4000},
        ("about 1,000,000 digits", "bound of 4,000 digits"),
    ),
    "BOUND_RECURSION": ("fragment", {"limit": 100}, ("recursion limit (100)",)),
    "RESULT_OUT_OF_MEMORY": ("fragment", {}, ("ran out of memory",)),
    "RESULT_UNREADABLE": (
        "fragment",
        {"type": "ValueError", "message": "no"},
        ("reading the result failed with ValueError: no",),
    ),
    "NO_GRADIENT": (
        "clause",
        {"name": "MulticlassHinge"},
        ("`MulticlassHinge`'s backward returned no gradient for `scores`",),
    ),
    "WORKER_GONE": (
        "clause",
        {"name": "sgd_step", "reason": "your code timed out after 10 s"},
        ("`sgd_step`: your code timed out",),
    ),
    # comparisons
    "WRONG_TYPE": (
        "clause",
        {"name": "svm_loss", "expected": "a number", "got": "a list of length 1"},
        ("`svm_loss` should return a number", "returned a list of length 1"),
    ),
    "WRONG_SHAPE": (
        "clause",
        {"name": "softmax", "got": (3, 2), "expected": (2, 3)},
        ("shape (3, 2)", "expected shape (2, 3)"),
    ),
    "NOT_FINITE": ("clause", {"name": "softmax", "what": "nan"}, ("`softmax` returned nan",)),
    "NOT_FINITE_CATEGORY": ("clause", {"what": "-inf"}, ("returned -inf", "numerical stability")),
    "MISMATCH": (
        "clause",
        {
            "name": "svm_loss",
            "where": "",
            "inputs": "scores=[[3.2, 5.1]], y=[0]",
            "expected": "2.9",
            "got": "3.9",
            "detail": "",
        },
        (
            "`svm_loss` returned a wrong value",
            "input:    scores=",
            "expected: 2.9",
            "got:      3.9",
        ),
    ),
    "FIRST_DIFF": (
        "fragment",
        {"index": 1, "expected": "2", "got": "2.5", "count": 1, "size": 3},
        ("first difference at index 1: expected 2, got 2.5 (1 of 3 entries differ)",),
    ),
    "HINT": ("fragment", {"hint": "the sum must skip j = y_i."}, ("hint: the sum must skip",)),
    "DIFFERS": (
        "fragment",
        {"text": "loss: yours is exactly twice the expected one"},
        ("what differs: loss: yours is exactly twice",),
    ),
    "DIFFERS_NOT_FINITE": (
        "clause",
        {"what": "loss", "got": "inf", "expected": "11500"},
        ("loss: yours is inf where the expected value is 11500",),
    ),
    "DIFFERS_SOME_NOT_FINITE": (
        "clause",
        {"what": "dW", "got": "nan and inf", "expected": "-0.5 .. 2"},
        ("dW: yours has nan and inf entries where every expected entry is finite", "-0.5 .. 2"),
    ),
    "DIFFERS_FACTOR": (
        "clause",
        {"what": "loss", "factor": "N = 3 times"},
        ("loss: yours is exactly N = 3 times the expected one",),
    ),
    "DIFFERS_BY_MULTIPLE": (
        "clause",
        {"what": "dW", "c": "-0.1", "arg": "W"},
        ("dW: yours differs from the expected one by exactly -0.1 times the argument `W`",),
    ),
    "MUTATED": (
        "clause",
        {"name": "softmax", "arg": "scores"},
        ("`softmax` modified its argument `scores` in place",),
    ),
    "PROPERTY": (
        "clause",
        {"name": "svm_loss", "prop": "the loss is >= 0", "inputs": "scores=[[0.0]]"},
        ("breaks a property the lecture states: the loss is >= 0", "falsifying input: scores="),
    ),
    "NEEDS_REFERENCE": ("clause", {"name": "svm_loss"}, ("`svm_loss`", "runs when you submit")),
    "NONDETERMINISTIC": ("clause", {"name": "random_search"}, ("different results",)),
    # hidden tests, the grader
    "HIDDEN": (
        "clause",
        {"name": "svm_loss", "category": "wrong result", "advice": messages.HIDDEN_ADVICE},
        ("failed a hidden check of `svm_loss` (wrong result)", "not shown"),
    ),
    "HIDDEN_ADVICE": ("sentence", {}, ("input is not shown", "README")),
    "GRADER_FAILED": ("sentence", {}, ("not your fault", "contact course staff")),
    "NO_LANDLOCK": (
        "sentence",
        {"why": "the kernel has no Landlock"},
        (
            "Landlock is unavailable (the kernel has no Landlock)",
            "mount namespace",
            "may read what",
        ),
    ),
    "GPU_SKIPPED": ("clause", {}, ("needs a GPU", "worth no points")),
    "COULD_NOT_CHECK": (
        "clause",
        {"name": "svm_loss", "kind": "TypeError"},
        ("could not check `svm_loss`", "(TypeError)"),
    ),
    # the intake
    "NONE_EXAMINES": (
        "sentence",
        {"name": "ridge_fit"},
        ("No test in these suites examines `ridge_fit`", "nothing was graded"),
    ),
    "INTAKE_NOTHING_GRADED": ("fragment", {}, ("nothing was graded",)),
    "INTAKE_FILE_DROPPED": ("fragment", {}, ("could not use it",)),
    "INTAKE_NOT_A_FILE": ("sentence", {"name": "x"}, ("`x` is not a file or a folder",)),
    "INTAKE_UNKNOWN_KIND": ("sentence", {"name": "hw.rar"}, ("cannot grade `hw.rar`", ".zip")),
    "INTAKE[missing-file]": (
        "sentence",
        {"file": "optim.py", "hint": " (did you mean `optm.py`? rename it to `optim.py`)"},
        ("`optim.py` is missing", "did you mean `optm.py`?", "will fail until you add it"),
    ),
    "INTAKE[nested-folder]": ("sentence", {"folder": "hw1"}, ("inside a folder `hw1/`",)),
    "INTAKE[wrong-case]": (
        "sentence",
        {"file": "losses.py", "found": "Losses.py"},
        ("graded `Losses.py` as `losses.py`", "case-sensitive"),
    ),
    "INTAKE[pyc-only]": (
        "sentence",
        {"file": "losses.py", "found": "`losses.cpython-311.pyc`"},
        ("only compiled Python for `losses.py`", "submit the source file"),
    ),
    "INTAKE[extra-file]": (
        "sentence",
        {"names": "`helpers.py`", "note": ""},
        ("kept your extra file(s) `helpers.py`",),
    ),
    "INTAKE[ignored-file]": ("sentence", {"names": "`notes.pdf`"}, ("We ignored `notes.pdf`",)),
    "INTAKE[data-file]": (
        "sentence",
        {"names": "`weights.json`"},
        ("kept your data file(s) `weights.json`", "os.path.dirname(__file__)"),
    ),
    "INTAKE[duplicate]": (
        "sentence",
        {"file": "losses.py", "names": "`losses.py`, `losses.py`", "used": "the last one"},
        ("`losses.py` more than once", "we used the last one", "Submit each file once"),
    ),
    "INTAKE[duplicate-cell]": (
        "sentence",
        {
            "file": "losses.py",
            "count": 2,
            "cells": "4 and 9",
            "used": 9,
            "appended": " (with the `-a` cells after it: 10)",
        },
        ("2 `%%writefile losses.py` cells (4 and 9)", "cell 9, writes it (with the", "Keep one"),
    ),
    "USED_LAST_MEMBER": ("fragment", {}, ("the last one in the zip",)),
    "USED_EXACT_NAME": ("fragment", {"file": "`losses.py`"}, ("`losses.py`, the exact name",)),
    "APPENDED_CELLS": ("fragment", {"cells": "10, 11"}, ("`-a` cells after it: 10, 11)",)),
    "INTAKE[not-utf8]": ("sentence", {"file": "losses.py", "offset": 11}, ("not UTF-8", "11")),
    "INTAKE[syntax-error]": (
        "sentence",
        {"file": "losses.py", "line": 3, "text": "x = (1 +", "error": "'(' was never closed"},
        ("`losses.py` has a syntax error on line 3: `x = (1 +`", "until you fix it"),
    ),
    "INTAKE[empty-file]": ("sentence", {"file": "losses.py"}, ("`losses.py` is empty",)),
    "INTAKE[symlink]": ("sentence", {"names": "`losses.py`"}, ("symbolic links",)),
    "INTAKE[special-file]": ("sentence", {"names": "`fifo`"}, ("not regular files",)),
    "INTAKE[unreadable]": (
        "sentence",
        {"names": "`losses.py`", "error": "permission denied"},
        ("could not read `losses.py` (permission denied)",),
    ),
    "INTAKE[unsafe-path]": (
        "sentence",
        {"where": "Your zip", "names": "`../x.py`", "outcome": messages.INTAKE_NOTHING_GRADED},
        ("unsafe path `../x.py`", "nothing was graded"),
    ),
    "INTAKE[too-large]": (
        "sentence",
        {
            "what": "`losses.py`",
            "size": 3_000_000,
            "limit": 1_000_000,
            "outcome": "we could not use it.",
        },
        ("3,000,000 bytes", "limit of 1,000,000 bytes"),
    ),
    "INTAKE[too-many-files]": ("sentence", {"limit": 200, "count": 201}, ("more than 200 files",)),
    "INTAKE[too-deep]": (
        "sentence",
        {"depth": 9, "path": "a/b/c", "limit": 8},
        ("nests folders 9 deep", "limit of 8"),
    ),
    "INTAKE[zip-bomb]": (
        "sentence",
        {"path": "losses.py", "ratio": 500.0, "size": 10_000_000, "limit": 100.0},
        ("expands 500x", "limit of 100x"),
    ),
    "INTAKE[bad-zip]": ("sentence", {"error": "bad CRC"}, ("could not read your zip (bad CRC)",)),
    "INTAKE[bad-notebook]": ("sentence", {"error": "not JSON"}, ("could not read your notebook",)),
    "INTAKE[no-writefile-cells]": ("sentence", {}, ("`%%writefile NAME.py`",)),
    "INTAKE[bad-writefile]": ("sentence", {"line": "%%writefile a b"}, ("`%%writefile a b`",)),
    # grader check's report
    "CHECK_HEADER": (
        "fragment",
        {"what": "`svm_loss`", "path": "assignment/"},
        ("Public tests of `svm_loss` in assignment/",),
    ),
    "CHECK_NOTE": ("fragment", {"note": "`optim.py` is missing"}, ("note: `optim.py`",)),
    "CHECK_CHECKED": ("fragment", {"test": "hinge loss of the table"}, ("checked: hinge loss",)),
    "CHECK_TODO": ("fragment", {}, ("not implemented yet",)),
    "CHECK_MORE": (
        "fragment",
        {"count": 5, "how": messages.CHECK_MORE_CLI},
        ("+5 more failing", "--verbose shows them"),
    ),
    "CHECK_MORE_CLI": ("fragment", {}, ("--verbose",)),
    "CHECK_MORE_NOTEBOOK": (
        "fragment",
        {"name": "svm_loss"},
        ('check("svm_loss", verbose=True)',),
    ),
    "CHECK_TOTAL": (
        "fragment",
        {"got": 11.0, "avail": 17.0, "passed": 11, "tests": 17},
        ("Total: 11/17 public points (11 of 17 tests passed)",),
    ),
    "CHECK_TODO_COUNT": ("sentence", {"count": 3, "total": 28}, ("3 of the 28 functions",)),
    "CHECK_ALL_PASSED": ("sentence", {}, ("Every public test passed", "hidden tests")),
    "CHECK_HIDDEN_INTRO": ("sentence", {}, ("hidden tests will also examine",)),
    "CHECK_FAILED": ("sentence", {}, ("checker itself failed", "not your code", "course staff")),
    "NOT_IN_BUNDLE": (
        "clause",
        {"command": "batch"},
        ("grader batch: this command is one of the course staff's", "`grader check`"),
    ),
    "CHECK_PROGRESS": ("fragment", {"path": "assignment/"}, ("checking assignment/ ...",)),
    "CHECK_PROGRESS_TEST": (
        "fragment",
        {"done": 3, "total": 50, "name": "svm_loss"},
        ("checking [3/50] svm_loss ...",),
    ),
    # the feedback pages of a batch (issue 27)
    "FEEDBACK_TITLE": ("fragment", {"title": "Losses"}, ("Feedback on Losses",)),
    "FEEDBACK_STUDENTS": ("fragment", {"names": "Ada; Bo"}, ("Students: Ada; Bo",)),
    "FEEDBACK_SUBMISSION": ("fragment", {"id": "s01"}, ("Submission: s01",)),
    "FEEDBACK_SCORE": ("fragment", {"score": 7.5, "max_score": 10.0}, ("Score: 7.5 / 10",)),
    "FEEDBACK_SCORE_HIDDEN": ("sentence", {}, ("not shown", "hidden", "grade")),
    "FEEDBACK_LATE": (
        "fragment",
        {"taken": 0.25, "days": 2},
        ("Late penalty: 25%", "2 day(s) late", "scaled"),
    ),
    "FEEDBACK_LATE_DAYS": ("fragment", {"days": 3}, ("3 day(s) after the due date",)),
    "FEEDBACK_LATE_MARKED": ("fragment", {}, ("marked this submission late",)),
    "FEEDBACK_ON_TIME": ("fragment", {}, ("Late penalty: none",)),
    "FEEDBACK_VERSION": (
        "fragment",
        {"version": "suite 0123456789ab, grader 0.1+abc"},
        ("Graded by: suite 0123456789ab",),
    ),
    "FEEDBACK_NOTES": ("sentence", {}, ("Notes",)),
    "FEEDBACK_FUNCTIONS": ("fragment", {}, ("Your functions",)),
    "FEEDBACK_FUNCTION": (
        "fragment",
        {"name": "softmax (losses.py)", "score": 3.0, "max_score": 4.0, "passed": 3, "tests": 4},
        ("softmax (losses.py): 3/4 points", "3 of 4 tests passed"),
    ),
    "FEEDBACK_FAILED_TEST": (
        "clause",
        {"name": "rows sum to one", "score": 0.0, "max_score": 1.0},
        ("failed: rows sum to one (0/1)",),
    ),
    "FEEDBACK_SKIPPED_TEST": ("clause", {"name": "on a GPU"}, ("skipped: on a GPU",)),
    "FEEDBACK_NO_TESTS": ("sentence", {}, ("No test is shown",)),
    "FEEDBACK_HIDDEN_HEADING": ("fragment", {}, ("Hidden tests",)),
    "FEEDBACK_UNSHOWN": (
        "sentence",
        {"count": 12, "max_score": 40.0, "total": 100.0},
        ("12 test(s) are not shown", "worth 40 of the 100 points"),
    ),
    "FEEDBACK_UNSHOWN_EARNED": ("sentence", {"score": 31.5}, ("You earned 31.5",)),
    "FEEDBACK_ALL_SHOWN": ("sentence", {}, ("Every test",)),
    "FEEDBACK_EXAMINED": ("sentence", {}, ("hidden tests examined",)),
    "FEEDBACK_MISSING": ("sentence", {}, ("not available", "instructor")),
    "FEEDBACK_INDEX_TITLE": ("fragment", {}, ("Feedback pages",)),
    "FEEDBACK_INDEX_SHOWN": (
        "sentence",
        {"shown": "visible, after_due_date"},
        ("visible, after_due_date", "`hidden` tests never"),
    ),
    "FEEDBACK_BAD_SHOW": (
        "clause",
        {"value": "hidden", "known": "after_due_date, after_published"},
        ("unknown visibility to show: hidden", "after_published"),
    ),
    "FEEDBACK_OTHER_PACK": (
        "clause",
        {"dir": "hw3", "pack": "hw2", "root": "/course/hw2"},
        ("hw3: the active pack (hw2, /course/hw2) did not grade this batch", "GRADER_PACK"),
    ),
    "FEEDBACK_NO_GRADEBOOK": (
        "clause",
        {"path": "out/gradebook.sqlite"},
        ("out/gradebook.sqlite: no gradebook", "grader batch"),
    ),
    "FEEDBACK_NO_RESULTS": (
        "clause",
        {"file": "results/s01.json", "error": "FileNotFoundError"},
        ("results/s01.json is missing", "FileNotFoundError", "no tests"),
    ),
    "FEEDBACK_WROTE": (
        "fragment",
        {"pages": 12, "index": "pages/index.html"},
        ("wrote 12 feedback pages", "pages/index.html"),
    ),
}
SAMPLES |= {f"hidden[{m.name}]": ("fragment", {}, ()) for m in pack.active().modules}
# LMS downloads in, feedback and grades out (issue 27, grader.classroom.lms / lms_out)
SAMPLES |= {
    "LMS_READ": (
        "sentence",
        {"lms": "Canvas", "layout": "flat", "count": 30, "late": 2},
        ("Canvas download (flat layout)", "30 students", "2 marked late"),
    ),
    "LMS_UNSAFE_PATH": (
        "clause",
        {"archive": "hw1.zip", "path": "../x.py"},
        ("hw1.zip: unsafe path `../x.py`", "nothing was read"),
    ),
    "LMS_DUPLICATE": (
        "clause",
        {"entry": "doejane_1_2_losses.py", "name": "losses.py"},
        ("second file named `losses.py`", "set aside"),
    ),
    "LMS_ODD_NAME": (
        "clause",
        {"entry": "x_1_assignsubmission_file/../a", "name": "../a"},
        ("cannot place (`../a`)", "set aside"),
    ),
    "LMS_NO_ID": ("clause", {"name": "Default group"}, ("`Default group` has no id", "Moodle")),
    "LMS_TOO_LARGE": (
        "clause",
        {"entry": "doejane_1_2_data.npy"},
        ("`doejane_1_2_data.npy` is larger", "not graded"),
    ),
    "LMS_UNMATCHED_FILES": ("sentence", {"count": 2}, ("2 files", "lms/unmatched/")),
    "LMS_LINK": ("clause", {"entry": "notes.py"}, ("notes.py (a symbolic link", "not graded")),
    "LMS_NOT_FROM_LMS": ("clause", {"lms": "Moodle"}, ("not in this batch's Moodle download",)),
    "LMS_NO_PAGE": ("clause", {}, ("no feedback page",)),
    "LMS_NOT_GRADED": ("clause", {}, ("timed out or hit a grader error",)),
    "LMS_CANVAS_NO_FILE": ("clause", {}, ("submitted no file", "uploaded file")),
    "LMS_NO_LMS_ID": ("clause", {"lms": "Canvas"}, ("no Canvas id",)),
    "LMS_ARCHIVE_WROTE": (
        "fragment",
        {"out": "feedback.zip", "count": 29, "lms": "canvas"},
        ("wrote feedback.zip: 29 feedback files",),
    ),
    "LMS_ARCHIVE_UNMATCHED": (
        "sentence",
        {"count": 1, "lms": "Canvas", "listed": "feedback.zip.unmatched.txt"},
        ("1 submissions", "Canvas would match", "feedback.zip.unmatched.txt"),
    ),
    "LMS_NO_DOWNLOAD": ("clause", {"dir": "out"}, ("out: this batch did not read", "lms.json")),
    "LMS_WRONG_LMS": (
        "clause",
        {"dir": "out", "have": "canvas", "want": "moodle"},
        ("read a canvas download, not moodle",),
    ),
    "MOODLE_WROTE": ("fragment", {"out": "g.csv", "rows": 3}, ("wrote g.csv (3 students",)),
    "MOODLE_UNMATCHED": ("sentence", {"count": 2}, ("2 submissions have no Moodle participant",)),
    "MOODLE_NOT_GRADED": ("sentence", {"count": 1}, ("1 submissions timed out",)),
    "MOODLE_TEAMS": (
        "clause",
        {"dir": "hw3"},
        ("hw3: this batch read a team assignment", "group ids", "no worksheet is written"),
    ),
    "MOODLE_OUT_OF": ("clause", {"got": "none"}, ("needs --out-of POINTS", "above 0", "skips")),
    "MOODLE_LISTED": (
        "sentence",
        {"listed": "g.csv.unmatched.txt"},
        ("Everyone left out", "g.csv.unmatched.txt"),
    ),
}


def fields(template: str) -> list[str]:
    return [f for _, f, _, _ in string.Formatter().parse(template) if f]


def test_every_template_has_a_sample() -> None:
    # A new message needs its row above: that is how it gets reviewed.
    assert sorted(SAMPLES) == sorted(TEMPLATES)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_template_renders_as_one_readable_message(name: str) -> None:
    template = TEMPLATES[name]
    kind, values, parts = SAMPLES[name]
    assert set(values) == set(fields(template)), name  # every field filled, none invented
    text = template.format(**values)
    assert text.strip() and "{" not in text and "}" not in text
    for part in parts:
        assert part in text, (name, part)
    lines = text.strip("\n").splitlines()
    # No stray whitespace, no doubled word, no space before punctuation; fields aligned after
    # a colon ("expected: ", "got:      ") are the only runs of spaces inside a line.
    assert all(line == line.rstrip() for line in lines), name
    words = text.split()
    assert not any(a == b and a.isalpha() for a, b in itertools.pairwise(words)), name
    for line in lines:
        assert not re.search(r"[^:\s] {2,}\S", line.strip()), (name, line)
        assert not re.search(r" [.,;:](\s|$)", line), (name, line)
    own = "".join(literal for literal, _, _, _ in string.Formatter().parse(template))
    assert own.count("`") % 2 == 0, name  # every code span closed
    assert own.count("(") == own.count(")"), name
    first = lines[0].strip()
    assert len(first) <= 240, name  # one readable line before any detail
    if kind == "sentence":
        assert first[:1].isupper() or first[:1] in "`0123456789", name
        assert text.rstrip().endswith((".", ":", "?", ")")), name
    elif kind == "clause":
        assert not first[:1].isupper() or first.startswith("`"), name  # follows "`name`: "


def test_templates_speak_to_the_student_not_about_the_grader() -> None:
    student_facing = {k: v for k, v in TEMPLATES.items() if k not in ("GRADER_FAILED",)}
    for name, text in student_facing.items():
        assert "Traceback" not in text and "pytest" not in text.lower(), name


def test_a_wrong_value_message_has_input_expected_got_and_where() -> None:
    with pytest.raises(StudentFailure) as info:
        checks.expect_close(
            "svm_loss",
            np.array([1.0, 2.5, 3.0]),
            np.array([1.0, 2.0, 3.0]),
            inputs={"scores": np.eye(3), "y": np.array([0, 1, 2])},
        )
    text = info.value.message
    for part in ("`svm_loss` returned a wrong value", "input:", "scores=", "expected:", "got:"):
        assert part in text
    assert "first difference at index 1: expected 2, got 2.5 (1 of 3 entries differ)" in text


def test_shape_type_and_stability_messages_name_the_problem() -> None:
    with pytest.raises(StudentFailure, match=r"shape \(3, 2\); expected shape \(2, 3\)"):
        checks.as_array("softmax", np.zeros((3, 2)), (2, 3))
    with pytest.raises(StudentFailure, match="should return a number"):
        checks.as_scalar("svm_loss", "1.0")
    with pytest.raises(StudentFailure, match="returned nan where the correct result is finite"):
        checks.expect_close("l2_penalty", np.float32("nan"), 1.0, inputs={})
    # The value itself, sign included (issue 16): -inf is not "inf", and an array says where.
    with pytest.raises(StudentFailure, match="returned -inf where the correct result is finite"):
        checks.expect_close("cross_entropy_loss", np.float64("-inf"), 2.0, inputs={})
    with pytest.raises(StudentFailure) as info:
        checks.expect_close(
            "softmax", np.array([[0.5, np.nan], [-np.inf, np.nan]]), np.full((2, 2), 0.5), inputs={}
        )
    assert (
        "returned an array with nan in 2 and -inf in 1 of its 4 entries (the first at index "
        "(0, 1)) where the correct result is finite"
    ) in info.value.message
    assert info.value.category == "returned an array with nan and -inf entries; numerical stability"


def test_large_inputs_are_summarized_not_dumped() -> None:
    text = checks.summarize(np.arange(1000.0).reshape(10, 100))
    assert text == "array of shape (10, 100) (float64), values 0 .. 999"


def test_exit_statuses_read_as_causes() -> None:
    import signal

    from grader.sandbox.layers import DEFAULT_LIMITS

    segv = messages.describe_exit(signal.SIGSEGV, DEFAULT_LIMITS)
    assert "crashed with SIGSEGV" in segv and "segmentation fault" in segv
    assert "called exit()" in messages.describe_exit(3 << 8, DEFAULT_LIMITS)
    assert "too much memory" in messages.describe_exit(signal.SIGKILL, DEFAULT_LIMITS)


def test_sanitize_removes_control_characters_and_bad_utf8() -> None:
    text = messages.sanitize(b"ok\x00\x1b[31mred\xff\r\nnext")
    assert "\x00" not in text and "\x1b" not in text and "\ufffd" in text
    assert text.endswith("\nnext")


def test_student_messages_for_every_failure_kind(tmp_path: Path) -> None:
    from grader.grading.student import failure_from
    from grader.sandbox.layers import StudentError

    cases = {
        "NotImplementedError": "is not implemented yet",
        "SystemExit": "called exit()",
        "MemoryError": "memory limit",
        "ZeroDivisionError": "`svm_loss` raised ZeroDivisionError: division by zero",
    }
    for kind, expected in cases.items():
        failure = failure_from(StudentError(kind, "division by zero"), "svm_loss", "losses")
        assert expected in failure.message, kind
    missing = failure_from(
        StudentError("MissingName", "svm_loss", available='["svm_los", "softmax"]'),
        "svm_loss",
        "losses",
    )
    assert missing.message == "`losses.py` does not define `svm_loss`; did you mean `svm_los`?"


def test_an_exception_says_where_in_the_students_file() -> None:
    from grader.grading.student import failure_from
    from grader.sandbox.layers import StudentError

    traceback = (
        "Traceback (most recent call last):\n"
        '  File "/tmp/grader-sub-x1/losses.py", line 28, in softmax\n'
        "    shifted = scores - np.max(scores)[:, 5]\n"
        '  File "/tmp/grader-sub-x1/helpers.py", line 3, in shift\n'
        "    return x[5]\n"
        '  File "/usr/lib/numpy/core.py", line 9, in f\n'
        "    raise IndexError\n"
        "IndexError: index 5 is out of bounds\n"
    )
    failure = failure_from(
        StudentError("IndexError", "index 5 is out of bounds", traceback=traceback),
        "softmax",
        "losses",
    )
    # The last line of the student's own files (a helper of theirs counts), as they know it.
    assert failure.message == (
        "`softmax` raised IndexError: index 5 is out of bounds\n"
        "  at helpers.py, line 3: `return x[5]`"
    )
    assert 'File "losses.py", line 28' in failure.detail
    assert "grader-sub-" not in failure.detail and "/usr/lib/numpy/core.py" in failure.detail
    assert "grader-sub-" in failure.staff  # staff keep the full traceback
    # No frame of theirs (it raised inside numpy from a lambda of the test): no location.
    bare = failure_from(
        StudentError("ValueError", "bad", traceback="Traceback\n"), "softmax", "losses"
    )
    assert bare.message == "`softmax` raised ValueError: bad"


def test_an_exception_in_a_real_check_shows_where_and_the_input(tmp_path: Path) -> None:
    from grader.grading import check

    root = Path(__file__).resolve().parents[2]
    text = (root / "solutions" / "losses.py").read_text(encoding="utf-8")
    line = "shifted = scores - np.max(scores, axis=1, keepdims=True)"
    assert text.count(line) == 1
    (tmp_path / "losses.py").write_text(text.replace(line, line + "[:, 5]"), encoding="utf-8")
    number = text[: text.index(line)].count("\n") + 1
    _, report = check.run_check(tmp_path, only="softmax", out=io.StringIO())
    assert "`softmax` raised IndexError: index 5 is out of bounds" in report
    assert f"at losses.py, line {number}: `{line}[:, 5]`" in report
    assert "input: scores=[[ 1. ,  2. ,  0.5], [-0.3,  0.8,  2.1]]" in report
