"""Every sentence a student or instructor can read, defined once (STYLE.md, 7).

Tests import these constants instead of retyping them, and ``tests/toolkit/test_messages.py``
reviews them as a whole: it renders each template with sample values and checks what it must
say. Templates use ``str.format`` fields. Here: why a test failed (the worker, the student's
code, a comparison), what a hidden test shows, the submission's intake notes (``INTAKE``), and
the lines of ``grader check``'s report. The grading suites' own texts, specific to one test, live
with their tests (``tests/grading``).
"""

from __future__ import annotations

import os
import re
import signal
from types import MappingProxyType
from typing import Any

# -- the worker died or misbehaved (one test fails, the next gets a fresh worker) -----------------

TIMED_OUT = "your code timed out after {seconds:g} s (an infinite loop, or far too slow)"
#: A call given the short limit (``grader.sandbox.layers.Limits.strikes``).
TIMED_OUT_AGAIN = (
    "your code timed out after {seconds:g} s (it had timed out in earlier tests, so later calls "
    "get {seconds:g} s instead of {full:g} s; a correct solution needs far less)"
)
CRASHED = "your code crashed with {signal} ({what})"
KILLED = "your code was killed ({signal}); most often this means it used too much memory"
CPU_LIMIT = "your code used more than {seconds} s of CPU time"
FILE_LIMIT = "your code wrote a file larger than the {limit} limit"
CALLED_EXIT = "your code called exit() (exit status {status}); a function must return a value"
OUTPUT_FLOOD = "your code printed far more than the {limit} output limit and was stopped"
OUTPUT_TRUNCATED = "\n[... output truncated: {total} printed in all]"
#: The middle of one test's output, cut by the worker's output limit (issue 14).
OUTPUT_CUT = (
    "\n[... {cut} cut here: your code printed {total} in this test; the first and the last "
    "{kept} are shown ...]\n"
)
#: The middle of one test's output, cut so that the results page stays small (issue 14).
RESULTS_CUT = (
    "\n[... {cut} characters cut here: the results show at most {budget} bytes of output in "
    "all, shared between the tests ...]\n"
)
BAD_REPLY = "your code's result could not be read back ({detail})"
#: The worker stopped on an error of its own (``grader.sandbox.lockdown``'s last word, not an
#: exit of the student's code); the traceback goes to the staff's part of the results.
WORKER_FAILED = (
    "the process that runs your code stopped on an internal error ({type}); this test could "
    "not be checked, and course staff have the details"
)
#: For staff: a ``fatal`` frame that came after the worker's ``ready`` one, when the student's
#: code could have written it; their failure reads as their own exit (issue 29).
FATAL_UNVERIFIED = (
    "unverified: the worker sent this after student code could run, so the student's code may "
    "have written it"
)
WORKER_CLOSED = "the worker for this test was already closed"
WORKER_LOST = "your code's process ended unexpectedly"
MEMORY = "your code exceeded the {limit} memory limit"
EXPIRED = "this function belonged to an earlier call and can no longer be called"

_SIGNAL_WHAT: dict[int, str] = {
    signal.SIGSEGV: "a segmentation fault: memory was accessed that does not exist",
    signal.SIGABRT: "an abort: often a failed allocation or an assertion in native code",
    signal.SIGBUS: "a bus error",
    signal.SIGFPE: "an arithmetic error in native code",
    signal.SIGILL: "an illegal instruction",
}

# -- student code raised --------------------------------------------------------------------------

NOT_IMPLEMENTED = "`{name}` is not implemented yet (it raises NotImplementedError)"
RAISED = "`{name}` raised {type}: {message}"
#: Appended to RAISED: the last line of the student's own files in the traceback.
RAISED_AT = "\n  at {file}, line {line}: {code}"
#: Appended to a failure that has no input line of its own (the student's code raised).
ON_INPUT = "\n  input: {inputs}"
SYSTEM_EXIT = "`{name}` called exit() instead of returning a value"
MISSING_FILE = "`{module}.py` was not submitted, so `{name}` could not be graded"
MISSING_NAME = "`{module}.py` does not define `{name}`{hint}"
IMPORT_FAILED = "`{module}.py` could not be imported: {type}: {message}"
BAD_RETURN = "`{name}` returned something the grader cannot read: {message}"
#: A result past a bound of the worker's reply (``grader.sandbox.protocol``, issue 29); the
#: detail is one of the BOUND_ sentences below.
RESULT_TOO_LARGE = "`{name}` returned a result too large to send back to the grader: {message}"
RESULT_TOO_DEEP = "`{name}` returned a result nested too deeply to send back: {message}"
BOUND_ENTRIES = (
    "it holds more than {bound:,} values (the bound on one result: each item of a list, tuple "
    "or dict counts; an array counts once)"
)
BOUND_DEPTH = "its lists, tuples and dicts nest more than {bound} levels deep (the bound)"
BOUND_BYTES = "{what} takes it past the {bound} bound on one result"
BOUND_ARRAY = "an array of shape {shape} ({dtype}, {size})"
BOUND_MESSAGE = "its encoding, {size} in all,"
BOUND_INT = "an int of about {digits:,} digits is past the bound of {bound:,} digits"
BOUND_RECURSION = (
    "its containers nest deeper than the worker's recursion limit ({limit}) lets it walk"
)
RESULT_OUT_OF_MEMORY = "the worker ran out of memory while copying it to send it back"
#: The worker could not finish sending a result (it ran out of memory, or a method of the
#: student's object raised while it was read).
RESULT_UNREADABLE = "reading the result failed with {type}: {message}"
NO_GRADIENT = (
    "`{name}`'s backward returned no gradient for `scores` (it must return one, and None for `y`)"
)
WORKER_GONE = "`{name}`: {reason}"

# -- comparisons ----------------------------------------------------------------------------------

WRONG_TYPE = "`{name}` should return {expected}, but returned {got}"
WRONG_SHAPE = "`{name}` returned an array of shape {got}; expected shape {expected}"
NOT_FINITE = "`{name}` returned {what} where the correct result is finite"
#: A hidden test's category for NOT_FINITE: what came back, never the input.
NOT_FINITE_CATEGORY = "returned {what}; numerical stability"
MISMATCH = (
    "`{name}` returned a wrong value{where}.\n"
    "  input:    {inputs}\n"
    "  expected: {expected}\n"
    "  got:      {got}\n"
    "{detail}"
)
FIRST_DIFF = (
    "  first difference at index {index}: expected {expected}, got {got}"
    " ({count} of {size} entries differ)\n"
)
HINT = "  hint: {hint}\n"
#: No known bug explains a wrong answer: how it differs from the expected one (only what is true
#: of the numbers: grader.grading.differences), under the public message.
DIFFERS = "  what differs: {text}\n"
#: ``what`` is whatever the check compared: a noun ("loss") or a phrase ("the learning rate at
#: t = 0, 1, ..., 10 (index = t)"), so it leads, and "yours" follows.
DIFFERS_NOT_FINITE = "{what}: yours is {got} where the expected value is {expected}"
DIFFERS_SOME_NOT_FINITE = (
    "{what}: yours has {got} entries where every expected entry is finite "
    "(the expected values there range over {expected})"
)
DIFFERS_FACTOR = "{what}: yours is exactly {factor} the expected one"
DIFFERS_BY_MULTIPLE = (
    "{what}: yours differs from the expected one by exactly {c} times the argument `{arg}`"
)
MUTATED = "`{name}` modified its argument `{arg}` in place; it must leave its inputs unchanged"
PROPERTY = "`{name}` breaks a property the lecture states: {prop}.\n  falsifying input: {inputs}\n"
NEEDS_REFERENCE = (
    "this check of `{name}` needs the course's reference solution, which your bundle does not "
    "hold (it has the reference's answers to the public tests' own inputs, not to these): it "
    "runs when you submit"
)
NONDETERMINISTIC = "`{name}` returned different results for the same input"

# -- what a hidden test shows (no hidden inputs) --------------------------------------------------

HIDDEN = "failed a hidden check of `{name}` ({category}). {advice}"
HIDDEN_ADVICE = (
    "The input is not shown for hidden tests; check your function against the spec "
    "in the assignment README and the messages of the public tests."
)

# -- the grader itself ----------------------------------------------------------------------------

GRADER_FAILED = (
    "The autograder failed while grading this submission; this is not your fault. "
    "Your instructor has the details. Please contact course staff."
)
#: Printed once at start-up where the kernel has no Landlock
#: (grader.grading.engine.allowlist_notice).
NO_LANDLOCK = (
    "Landlock is unavailable ({why}): only a mount namespace, where one can be made, "
    "keeps the disk from the workers, else a submission may read what the grader's user can "
    "(docs/SECURITY.md)."
)
GPU_SKIPPED = "skipped: this test needs a GPU and the grader has none (worth no points here)"
COULD_NOT_CHECK = "the grader could not check `{name}`: its result led to an error ({kind})"

#: How a duplicate's note names the copy used (INTAKE["duplicate"]'s ``used``).
USED_LAST_MEMBER = "the last one in the zip, as unzipping it would"
USED_EXACT_NAME = "{file}, the exact name"
#: INTAKE["duplicate-cell"]'s ``appended``: the ``%%writefile -a`` cells after the last one.
APPENDED_CELLS = " (with the `-a` cells after it: {cells})"

# -- the submission's intake: one note per problem code (grader.grading.submission)
# ----------------------

INTAKE = MappingProxyType(
    {
        "missing-file": "`{file}` is missing from your submission{hint}; "
        "the tests for `{file}` will fail until you add it.",
        "nested-folder": "Your submission has the files inside a folder `{folder}/`; we used them, "
        "but next time submit the files themselves, not the folder.",
        "wrong-case": "We graded `{found}` as `{file}`; please name it exactly `{file}` next time "
        "(file names are case-sensitive on the grader).",
        "pyc-only": "We found only compiled Python for `{file}` ({found}), which we cannot grade; "
        "submit the source file `{file}`.",
        "extra-file": "We kept your extra file(s) {names}; your modules may import them.{note}",
        "data-file": "We kept your data file(s) {names} beside your modules; read them from "
        "the folder of your module's own file (`os.path.dirname(__file__)`).",
        "ignored-file": "We ignored {names}: we use only .py files with plain names "
        "(letters, digits, _) at the top of a submission, and text data beside them "
        "(.json, .txt, .csv, .tsv).",
        "duplicate": "Your submission has `{file}` more than once ({names}); we used {used}. "
        "Submit each file once.",
        #: A notebook's duplicate cells: the last wins, as running the notebook writes the file
        #: (DESIGN.md contract 5), the rule of a zip's duplicates too (docs/ARCHITECTURE.md).
        "duplicate-cell": "Your notebook has {count} `%%writefile {file}` cells ({cells}); "
        "each replaces the file, so we graded it as the last one, cell {used}, writes "
        "it{appended}, as running the notebook does. Keep one such cell.",
        "not-utf8": "`{file}` is not UTF-8 text (bad byte at offset {offset}); "
        "save it as UTF-8 and resubmit. We could not use it.",
        "syntax-error": "`{file}` has a syntax error on line {line}: `{text}` ({error}). "
        "The tests for `{file}` will fail until you fix it.",
        "empty-file": "`{file}` is empty; the tests for `{file}` will fail until you fill it in.",
        "symlink": "We ignored {names}: symbolic links are not allowed in a submission; "
        "submit the files themselves.",
        "special-file": "We ignored {names}: they are not regular files.",
        "unreadable": "We could not read {names} ({error}); resubmit it.",
        "unsafe-path": "{where} has an unsafe path {names} (absolute, `..`, a drive letter or "
        "backslashes); {outcome}",
        "too-large": "{what} is {size:,} bytes, over the limit of {limit:,} bytes; {outcome}",
        "too-many-files": "Your submission has more than {limit} files ({count} seen); nothing was "
        "graded. Submit only the .py files of the assignment.",
        "too-deep": "Your submission nests folders {depth} deep (`{path}`), over the limit of "
        "{limit}; nothing was graded. Submit the .py files, not a folder tree.",
        "zip-bomb": "Your zip's member `{path}` expands {ratio:.0f}x ({size:,} bytes), over the "
        "limit of {limit:.0f}x; nothing was graded. Zip only your .py files.",
        "bad-zip": "We could not read your zip ({error}); nothing was graded. Create the zip again "
        "(without a password) from your .py files and resubmit.",
        "bad-notebook": "We could not read your notebook ({error}); nothing was graded. Save it "
        "again from Jupyter, check that it opens, and resubmit.",
        "no-writefile-cells": "Your notebook has no cell starting with `%%writefile NAME.py`, so "
        "nothing was graded. Keep the `%%writefile` line at the top of each solution cell.",
        "bad-writefile": "A notebook cell starts with `{line}`, which Jupyter cannot run (it "
        "needs exactly one file name); we ignored that cell.",
    }
)

#: What a fatal too-large / unsafe-path problem, or one that drops a file, tells the student.
INTAKE_NOTHING_GRADED = "nothing was graded. Submit only the .py files of the assignment."
INTAKE_FILE_DROPPED = "we could not use it. Keep your source files small."
INTAKE_NOT_A_FILE = "`{name}` is not a file or a folder."
INTAKE_UNKNOWN_KIND = (
    "We cannot grade `{name}`: submit your .py files, a .zip of them, or the assignment notebook "
    "(.ipynb)."
)

#: The note of a grading whose ``--only`` names something no test of the chosen suites examines.
NONE_EXAMINES = "No test in these suites examines `{name}`, so nothing was graded."

# -- `grader check`'s report (grader.grading.check)
# -------------------------------------------------------

CHECK_HEADER = "Public tests of {what} in {path}"
CHECK_NOTE = "note: {note}"
CHECK_CHECKED = "checked: {test}"
CHECK_TODO = "not implemented yet"
CHECK_MORE = "(+{count} more failing; {how} shows them all)"
CHECK_MORE_CLI = "--verbose"
CHECK_MORE_NOTEBOOK = 'check("{name}", verbose=True)'
CHECK_TOTAL = "Total: {got:g}/{avail:g} public points ({passed} of {tests} tests passed)"
CHECK_TODO_COUNT = "{count} of the {total} functions checked are not implemented yet."
CHECK_ALL_PASSED = (
    "Every public test passed. The hidden tests check more: a pass here does not guarantee full "
    "marks."
)
CHECK_HIDDEN_INTRO = "The hidden tests will also examine:"
CHECK_FAILED = "The checker itself failed (not your code); please tell course staff:"
#: An instructor's command run from a student bundle, which ships only what `check` runs.
NOT_IN_BUNDLE = (
    "grader {command}: this command is one of the course staff's and is not part of this "
    "bundle, which holds what `grader check` needs; use `python -m grader check`."
)
CHECK_PROGRESS = "checking {path} ..."
CHECK_PROGRESS_TEST = "checking [{done}/{total}] {name} ..."

# -- the feedback pages of a batch (grader.classroom.feedback_pages, issue 27)
# ------------------------------------

FEEDBACK_TITLE = "Feedback on {title}"
FEEDBACK_STUDENTS = "Students: {names}"
FEEDBACK_SUBMISSION = "Submission: {id}"
FEEDBACK_SCORE = "Score: {score:g} / {max_score:g}"
FEEDBACK_SCORE_HIDDEN = (
    "Score: not shown here, as on Gradescope, because some tests are hidden; your instructor "
    "posts your grade."
)
FEEDBACK_LATE = "Late penalty: {taken:.0%} ({days} day(s) late; every test's score is scaled by it)"
FEEDBACK_LATE_DAYS = "Late: {days} day(s) after the due date"
FEEDBACK_LATE_MARKED = "Late: your course's site marked this submission late"
FEEDBACK_ON_TIME = "Late penalty: none"
FEEDBACK_VERSION = "Graded by: {version}"
FEEDBACK_NOTES = "Notes on your submission:"
FEEDBACK_FUNCTIONS = "Your functions"
FEEDBACK_FUNCTION = "{name}: {score:g}/{max_score:g} points, {passed} of {tests} tests passed"
FEEDBACK_FAILED_TEST = "failed: {name} ({score:g}/{max_score:g})"
FEEDBACK_SKIPPED_TEST = "skipped: {name}"
FEEDBACK_NO_TESTS = "No test is shown on this page."
FEEDBACK_UNSHOWN = (
    "{count} test(s) are not shown on this page; they are worth {max_score:g} of the {total:g} "
    "points."
)
FEEDBACK_UNSHOWN_EARNED = "You earned {score:g} of those points."
FEEDBACK_HIDDEN_HEADING = "Hidden tests"
FEEDBACK_ALL_SHOWN = "Every test of this grading is shown on this page."
FEEDBACK_EXAMINED = "What the hidden tests examined:"
FEEDBACK_MISSING = (
    "The details of this grading are not available; your instructor has been told and will "
    "send them."
)
#: The instructor's side: the index page and the command's notes.
FEEDBACK_INDEX_TITLE = "Feedback pages"
FEEDBACK_INDEX_SHOWN = (
    "Shown to students: tests of visibility {shown}; `hidden` tests never, nor staff details."
)
FEEDBACK_BAD_SHOW = "unknown visibility to show: {value} (known: {known})"
FEEDBACK_OTHER_PACK = (
    "{dir}: the active pack ({pack}, {root}) did not grade this batch, or it changed since; its "
    "pages would describe another assignment. Run from the batch's pack folder (or set "
    "GRADER_PACK to it), or regrade the batch with this pack"
)
FEEDBACK_NO_GRADEBOOK = "{path}: no gradebook here (run `grader batch` first)"
FEEDBACK_NO_RESULTS = "{file} is missing or unreadable ({error}); its page shows no tests"
FEEDBACK_WROTE = "wrote {pages} feedback pages (HTML and text) and the index {index}"


def describe_exit(status: int | None, limits: Any) -> str:
    """Why a worker process ended, from its wait status, in a student's words."""
    if status is None:
        return WORKER_LOST
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        if sig == signal.SIGXCPU:
            return CPU_LIMIT.format(seconds=limits.cpu)
        if sig == signal.SIGXFSZ:
            return FILE_LIMIT.format(limit=f"{limits.fsize // 2**20} MiB")
        if sig == signal.SIGKILL:
            return KILLED.format(signal=name)
        return CRASHED.format(signal=name, what=_SIGNAL_WHAT.get(sig, "a fatal signal"))
    if os.WIFEXITED(status):
        return CALLED_EXIT.format(status=os.WEXITSTATUS(status))
    return WORKER_LOST


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


def sanitize(data: bytes | str, limit: int | None = None) -> str:
    """Text safe to show: valid UTF-8, no control characters or ANSI escapes (keeps \\t, \\n)."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("\N{REPLACEMENT CHARACTER}", text)
    if limit is not None and len(text) > limit:
        text = text[:limit] + OUTPUT_TRUNCATED.format(total=f"{len(text)} characters")
    return text


# -- LMS downloads in, feedback and grades out (grader.classroom.lms, lms_out; issue 27)
# ---------------------------

LMS_READ = (
    "Read a {lms} download ({layout} layout): {count} students' submissions, {late} marked late "
    "by the LMS."
)
LMS_UNSAFE_PATH = "{archive}: unsafe path `{path}` in the download; nothing was read"
LMS_DUPLICATE = (
    "`{entry}` is a second file named `{name}` for this student; the intake grades one file of a "
    "name, so this one was set aside (lms/set-aside/), not graded"
)
LMS_ODD_NAME = "`{entry}` has a file name the grader cannot place (`{name}`); set aside, not graded"
LMS_NO_ID = (
    "`{name}` has no id in the download (Moodle's team submissions of students in no group): "
    "graded, but no feedback file or grade can be matched to it in Moodle"
)
LMS_UNMATCHED_FILES = (
    "{count} files of the download follow none of the LMS's naming, so no student owns them; "
    "kept in lms/unmatched/, not graded:"
)
LMS_LINK = "{entry} (a symbolic link: never followed, not graded)"
LMS_NOT_FROM_LMS = "not in this batch's {lms} download"
LMS_NO_PAGE = "no feedback page"
LMS_CANVAS_NO_FILE = (
    "submitted no file (text entry or URL): Canvas attaches a feedback file only to an "
    "uploaded file"
)
LMS_NO_LMS_ID = "no {lms} id"
LMS_ARCHIVE_WROTE = "wrote {out}: {count} feedback files for {lms}"
LMS_ARCHIVE_UNMATCHED = (
    "{count} submissions could not be given a file {lms} would match (listed in {listed}):"
)
LMS_NO_DOWNLOAD = (
    "{dir}: this batch did not read an LMS download (no lms.json); grade Canvas's or Moodle's "
    "download with `grader batch` first"
)
LMS_WRONG_LMS = "{dir}: this batch read a {have} download, not {want}"
MOODLE_WROTE = "wrote {out} ({rows} students with a grade)"
MOODLE_UNMATCHED = (
    "{count} submissions have no Moodle participant id, so their grades are not written:"
)
MOODLE_NOT_GRADED = (
    "{count} submissions timed out or hit a grader error, so their grades are not written "
    "(see `grader report`):"
)
LMS_TOO_LARGE = "`{entry}` is larger than any submission may be; left in the download, not graded"
MOODLE_LISTED = "Everyone left out is also listed in {listed}."
MOODLE_OUT_OF = (
    "--format moodle needs --out-of POINTS, the assignment's maximum grade in Moodle, a number "
    "above 0 (got {got}): scores are scaled to it, and Moodle skips a grade above its maximum "
    "without a word"
)
LMS_NOT_GRADED = "timed out or hit a grader error (see `grader report`)"
MOODLE_TEAMS = (
    "{dir}: this batch read a team assignment's download (a team in Default group): its ids "
    "are group ids, not participants', so no worksheet is written (the feedback zip is right "
    "for teams)"
)
