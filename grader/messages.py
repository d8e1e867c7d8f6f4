"""Every sentence a student or instructor can read, defined once (STYLE.md, 7).

Tests import these constants instead of retyping them, and ``tests/toolkit/test_messages.py``
reviews them as a whole. Templates use ``str.format`` fields.
"""

from __future__ import annotations

import os
import re
import signal
from typing import Any

# -- the worker died or misbehaved (one test fails, the next gets a fresh worker) -----------------

TIMED_OUT = "your code timed out after {seconds:g} s (an infinite loop, or far too slow)"
CRASHED = "your code crashed with {signal} ({what})"
KILLED = "your code was killed ({signal}); most often this means it used too much memory"
CPU_LIMIT = "your code used more than {seconds} s of CPU time"
FILE_LIMIT = "your code wrote a file larger than the {limit} limit"
CALLED_EXIT = "your code called exit() (exit status {status}); a function must return a value"
OUTPUT_FLOOD = "your code printed far more than the {limit} output limit and was stopped"
OUTPUT_TRUNCATED = "\n[... output truncated: {total} printed in all]"
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
SYSTEM_EXIT = "`{name}` called exit() instead of returning a value"
MISSING_FILE = "`{module}.py` was not submitted, so `{name}` could not be graded"
MISSING_NAME = "`{module}.py` does not define `{name}`{hint}"
IMPORT_FAILED = "`{module}.py` could not be imported: {type}: {message}"
BAD_RETURN = "`{name}` returned something the grader cannot read: {message}"

# -- comparisons ----------------------------------------------------------------------------------

WRONG_TYPE = "`{name}` should return {expected}, but returned {got}"
WRONG_SHAPE = "`{name}` returned an array of shape {got}; expected shape {expected}"
NOT_FINITE = "`{name}` returned {what} where the correct result is finite"
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

# -- the grader itself ----------------------------------------------------------------------------

GRADER_FAILED = (
    "The autograder failed while grading this submission; this is not your fault. "
    "Your instructor has the details. Please contact course staff."
)
GPU_SKIPPED = "skipped: this test needs a GPU and the grader has none (worth no points here)"


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
