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
DIFFERS_NOT_FINITE = "your {what} is {got} while the expected {what} is {expected}"
DIFFERS_SOME_NOT_FINITE = (
    "your {what} has {got} entries where every expected entry is finite "
    "(the expected values there range over {expected})"
)
DIFFERS_FACTOR = "your {what} is exactly {factor} the expected one"
DIFFERS_BY_MULTIPLE = (
    "your {what} differs from the expected one by exactly {c} times the argument `{arg}`"
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
        "duplicate": "Your submission has `{file}` more than once ({names}); we used the first, "
        "{first}. Submit each file once.",
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
CHECK_PROGRESS = "checking {path} ..."
CHECK_PROGRESS_TEST = "checking [{done}/{total}] {name} ..."


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
