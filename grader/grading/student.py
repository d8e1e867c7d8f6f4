"""What a grading test holds: ``student``, a proxy to the submission running in the sandbox.

``student.f(x)`` sends copies of the arguments to a fresh worker, runs the
student's function there with every *other* assignment function replaced by a handle to the
reference (DESIGN.md contract 6: one bug costs points once), and returns the decoded value.
Student exceptions become ``StudentFailure`` with a teacher's message; a dead worker raises
``WorkerGone`` (a BaseException, see ``grader.sandbox.host``).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from grader import messages
from grader.authoring import pack
from grader.grading.checks import StudentFailure
from grader.grading.results import CutBy
from grader.sandbox.channel import Worker
from grader.sandbox.host import Sandbox
from grader.sandbox.layers import StudentError, WorkerGone, nvidia_driver

T = TypeVar("T")


@dataclass
class Usage:
    """What one test's calls of student code used (``TestOutcome.slowest_call`` and after)."""

    slowest_call: float = 0.0
    peak_memory: int = 0
    cut_by: CutBy = ""


class Student:
    """Attribute access to the student's functions and classes, one worker per test."""

    def __init__(
        self,
        sandbox: Sandbox,
        standins: Mapping[str, Callable[..., Any]],
        submitted: frozenset[str],
    ) -> None:
        self._sandbox = sandbox
        self._standins = dict(standins)
        self._submitted = submitted
        #: this test's workers: one for the modules that need torch, one for the rest (``lean``)
        self._workers: dict[bool, Worker] = {}
        #: each worker's address space when it was handed over (its start-up footprint)
        self._footprint: dict[bool, int] = {}
        self.usage = Usage()
        #: array arguments (by position "0", "1", ... or keyword) the last call modified
        self.mutated: tuple[str, ...] = ()
        #: told of each call before it runs: ``observer(name, args, kwargs)`` (a recording of the
        #: reference notes the inputs the tests use, grader.grading.answers)
        self.observer: Callable[[str, tuple[Any, ...], dict[str, Any]], None] | None = None

    def __repr__(self) -> str:
        return "<your submission>"  # stable: shown in Hypothesis' failing-input reports

    def worker(self, module: str) -> Worker:
        """This test's worker for a call of ``module`` (torch is loaded only for the modules the
        manifest says need it)."""
        lean = module not in pack.active().torch_modules
        if lean not in self._workers:
            w = self._workers[lean] = self._sandbox.worker(lean=lean)
            self._footprint[lean] = _status_bytes(w.pid, _MEMORY[self._resident(lean)][1])
        return self._workers[lean]

    def _resident(self, lean: bool) -> bool:
        # Measure what the worker's cap counts: its address space, except in a torch worker
        # where NVIDIA's driver is loaded (the cap is then on data: the driver reserves address
        # space by the GPU's size, grader.sandbox.host), where resident memory is the honest figure.
        return not lean and nvidia_driver()

    @property
    def output(self) -> str:
        """What the student's code printed during this test (sanitized, capped)."""
        return "".join(w.output.text() for w in self._workers.values())

    def close(self) -> None:
        for lean, w in self._workers.items():
            peak = _status_bytes(w.pid, _MEMORY[self._resident(lean)][0]) if w.gone is None else 0
            if peak:
                self.usage.peak_memory = max(self.usage.peak_memory, peak - self._footprint[lean])
            w.close()

    @contextmanager
    def aside(self) -> Iterator[None]:
        """Calls that are not the test's own: the known-bug probes of a failed check
        (grader.grading.feedback). A timeout among them is no strike against the limits of
        later calls (``Sandbox.budget``), and neither it nor their time marks this test."""
        spent = self._sandbox.budget()
        slowest, cut_by = self.usage.slowest_call, self.usage.cut_by
        try:
            yield
        finally:
            self._sandbox.restore_budget(spent)
            self.usage.slowest_call, self.usage.cut_by = slowest, cut_by

    def measured(self, call: Callable[[], T]) -> T:
        """Run one call of student code, noting its time and which limit stopped it, if one did."""
        timeouts = sum(getattr(self._sandbox, "timeouts", {}).values())
        start = time.perf_counter()
        try:
            return call()
        except StudentError as exc:
            if exc.type == "MemoryError":
                self.usage.cut_by = "memory"
            raise
        except WorkerGone as exc:
            if sum(getattr(self._sandbox, "timeouts", {}).values()) > timeouts:
                self.usage.cut_by = "timeout"
            elif exc.reason.startswith(_KILLED):
                self.usage.cut_by = "memory"
            raise
        finally:
            self.usage.slowest_call = max(self.usage.slowest_call, time.perf_counter() - start)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in pack.active().module_of:
            raise NotInAssignment(name)
        if name in pack.active().classes:
            return TorchClass(self, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self.call(name, *args, **kwargs)

        call.__name__ = name
        return call

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        module = pack.active().owner(name)
        self._require(module, name)
        if self.observer is not None:
            self.observer(name, args, kwargs)
        standins = {k: v for k, v in self._standins.items() if k != name}
        worker = self.worker(module)
        try:
            reply = self.measured(lambda: worker.call(module, name, args, kwargs, standins))
        except StudentError as exc:
            raise failure_from(exc, name, module) from None
        if not isinstance(reply, dict) or "value" not in reply:
            raise StudentFailure(messages.BAD_RETURN.format(name=name, message="bad reply"))
        self.mutated = tuple(reply.get("mutated", ()))
        return reply["value"]

    def _require(self, module: str, name: str) -> None:
        if f"{module}.py" not in self._submitted:
            raise StudentFailure(
                messages.MISSING_FILE.format(module=module, name=name), category="missing file"
            )


class NotInAssignment(AttributeError):
    """``student.<name>`` for a name the assignment does not define. The suggestion is worked
    out when the message is read: Hypothesis asks every test's ``student`` for attributes it may
    have (``execute_example``...) and drops the error, and difflib cost ~2 ms a question."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.missing = name

    def __str__(self) -> str:
        return f"{self.missing!r} is not part of the assignment{pack.did_you_mean(self.missing)}"


class TorchClass:
    """A student's ``torch.autograd.Function``, run in the worker on a chosen device."""

    def __init__(self, student: Student, name: str) -> None:
        self.student = student
        self.name = name

    def run(self, *inputs: Any, grad_output: Any = None, device: str = "cpu") -> dict[str, Any]:
        """``Class.apply(*inputs)`` in the worker, and its backward for ``grad_output`` if given.

        Each NumPy array becomes a tensor on ``device``: a floating-point one requires grad (its
        gradient comes back), an integer one is a long tensor; anything else is passed as it
        is. The reply: ``output`` (an array) with ``output_device`` and ``output_dtype``, and
        after a backward ``grads`` (one per input, None where there is none) and ``grad``, the
        first floating-point input's, with ``grad_device``.
        """
        module = pack.active().owner(self.name)
        self.student._require(module, self.name)
        value = {
            "inputs": [np.asarray(x) if isinstance(x, np.ndarray) else x for x in inputs],
            "grad_output": None if grad_output is None else np.asarray(grad_output, dtype=float),
            "device": device,
        }
        worker = self.student.worker(module)
        try:
            return self.student.measured(lambda: worker.torch_op(module, self.name, value))
        except StudentError as exc:
            raise failure_from(exc, self.name, module) from None

    def function(self, *rest: Any) -> Callable[[Any], Any]:
        """A trusted-side torch function of the first input (``rest`` fixed) whose forward and
        backward run remotely.

        ``torch.autograd.gradcheck`` can then check the student's hand-written backward against
        finite differences of the student's own forward, with every number computed remotely.
        """
        import torch

        run = self.run

        class Remote(torch.autograd.Function):
            @staticmethod
            def forward(ctx: Any, scores: Any) -> Any:
                ctx.save_for_backward(scores)
                out = run(scores.detach().cpu().numpy(), *rest)
                return torch.as_tensor(np.asarray(out["output"]), dtype=scores.dtype)

            @staticmethod
            def backward(ctx: Any, grad: Any) -> Any:
                (scores,) = ctx.saved_tensors
                upstream = grad.detach().cpu().numpy()
                out = run(scores.detach().cpu().numpy(), *rest, grad_output=upstream)
                if out.get("grad") is None:
                    raise StudentFailure(messages.NO_GRADIENT.format(name=spec_name(run)))
                return torch.as_tensor(np.asarray(out["grad"]), dtype=scores.dtype)

        return Remote.apply


#: The /proc/PID/status fields of a worker's peak and of its size when handed over: address
#: space, or resident memory (True) where the cap is on data (``Student._resident``).
_MEMORY = {False: ("VmPeak", "VmSize"), True: ("VmHWM", "VmRSS")}
#: How a worker killed by the kernel (most often for its memory) is described.
_KILLED = messages.KILLED.split("{", 1)[0]


def _status_bytes(pid: int, key: str) -> int:
    """A ``/proc/PID/status`` size (``VmPeak``, ``VmSize``) in bytes; 0 if it cannot be read."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def spec_name(run: Any) -> str:
    owner = getattr(run, "__self__", None)
    return getattr(owner, "name", "the class")


#: The worker's refusals to send a result (``grader.sandbox.serve.refusal``): the message, the
#: category a hidden test names.
_REFUSED = {
    "BadReturn": (messages.BAD_RETURN, "wrong type"),
    "ResultTooLarge": (messages.RESULT_TOO_LARGE, "result too large"),
    "ResultTooDeep": (messages.RESULT_TOO_DEEP, "result nested too deeply"),
}


def failure_from(exc: StudentError, name: str, module: str) -> StudentFailure:
    """A student exception as a test failure a student can act on."""
    if exc.type == "NotImplementedError":
        return StudentFailure(
            messages.NOT_IMPLEMENTED.format(name=name), category="not implemented"
        )
    if exc.type == "MissingName":
        hint = pack.did_you_mean(name, exc.available)
        return StudentFailure(
            messages.MISSING_NAME.format(module=module, name=name, hint=hint),
            category="missing function",
        )
    if exc.type in ("SystemExit", "KeyboardInterrupt", "GeneratorExit"):
        return StudentFailure(messages.SYSTEM_EXIT.format(name=name), category="crash")
    if exc.type == "MemoryError":
        return StudentFailure(messages.MEMORY.format(limit="2 GiB"), category="crash")
    if exc.type in _REFUSED:
        template, category = _REFUSED[exc.type]
        message = messages.sanitize(exc.message, 2000)
        return StudentFailure(template.format(name=name, message=message), category=category)
    if _is_import_failure(exc, module):
        return StudentFailure(
            messages.IMPORT_FAILED.format(module=module, type=exc.type, message=exc.message),
            category="import error",
            staff=exc.traceback,
        )
    traceback, where = _own_frames(exc.traceback, module)
    return StudentFailure(
        messages.RAISED.format(
            name=name, type=exc.type, message=messages.sanitize(exc.message, 500)
        )
        + where,
        category="exception",
        staff=exc.traceback,
        detail=messages.sanitize(traceback, 3000),
    )


_FRAME = re.compile(
    r'^ *File "(?P<path>[^"\n]+)", line (?P<line>\d+), in [^\n]*\n(?P<code>[^\n]*)', re.M
)


def _own_frames(traceback: str, module: str) -> tuple[str, str]:
    """The traceback with the sandbox's folder cut from the student's file names, and where in
    the student's files it was raised (``RAISED_AT``, or "" when no frame is theirs).

    The student's files sit together in the worker's folder, a temporary one that means nothing
    to them: ``File "layers.py", line 28`` is what they can find in their editor.
    """
    frames = list(_FRAME.finditer(traceback))
    folders = {
        os.path.dirname(m["path"])
        for m in frames
        if os.path.basename(m["path"]) in (f"{module}.py", *pack.active().files)
    } - {""}
    own = [m for m in frames if os.path.dirname(m["path"]) in folders]
    for folder in folders:
        traceback = traceback.replace(f'File "{folder}{os.sep}', 'File "')
    if not own:
        return traceback, ""
    last = own[-1]
    code = last["code"].strip()
    if not code or code.startswith('File "'):
        code = "(source not available)"
    else:
        code = f"`{code[:117] + '...' if len(code) > 120 else code}`"
    where = messages.RAISED_AT.format(
        file=os.path.basename(last["path"]), line=last["line"], code=messages.sanitize(code)
    )
    return traceback, where


def _is_import_failure(exc: StudentError, module: str) -> bool:
    # The worker imports the module on the first call; an error then carries the import frames.
    return exc.type in (
        "SyntaxError",
        "IndentationError",
        "ModuleNotFoundError",
        "ImportError",
    ) or ("importlib._bootstrap" in exc.traceback and f"{module}.py" in exc.traceback)
