"""The grading process: one warm ``python -m grader.classroom.process --serve`` child per job
slot of a batch or per Dask worker, and the records it answers with.

Each holds one warm ``sandbox.Mother`` and the imports of torch, pytest, Hypothesis and the
reference, reads one job per line of JSON on its stdin and answers with one line on its stdout.
A job names a submission by its path (a local batch) or carries its content, as the safe intake
read it (a Dask task: ``grader.classroom.cluster``). Results cross processes as plain JSON data
(``to_wire``), never pickled objects of ours.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, Literal

from grader.authoring import pack
from grader.grading.cores import Spare
from grader.grading.results import GradingResult, TestOutcome
from grader.sandbox import ONE_THREAD

__all__ = ["DEFAULT_RECYCLE", "Graded", "GraderProcess", "from_wire", "to_wire"]

#: A grading process is replaced after this many submissions, so that whatever pytest or
#: Hypothesis keep per run cannot grow without bound (peak memory stays flat in long batches).
DEFAULT_RECYCLE: Final = 100
START_TIMEOUT: Final = 180.0

Kind = Literal["result", "timeout", "crash"]


@dataclass(frozen=True)
class Graded:
    """What came back for one job: the result as wire data (see ``to_wire``), and when."""

    kind: Kind
    result: dict[str, Any]
    started: float  # epoch seconds
    finished: float


class GraderProcess:
    """A warm ``python -m grader.classroom.process --serve`` child: one submission at a time, with a
    deadline.

    Every grading in it forks its sandbox from the same ``Mother``; a grading past its deadline
    gets the whole process tree killed (the process is replaced for the next one).
    """

    def __init__(
        self,
        log: IO[bytes] | None = None,
        recycle: int = DEFAULT_RECYCLE,
        assignment: str | None = None,
        spare: Spare | None = None,
    ) -> None:
        self._log = log
        self._recycle = recycle
        #: the cores the batch lends its last gradings (``cores.Spare``), inherited
        self._spare = spare
        #: the pack its gradings use (``GRADER_PACK``); None: this process's own
        self.assignment = assignment
        self._proc: subprocess.Popen[bytes] | None = None
        self._buf = b""
        self._eof = False
        self.graded = 0

    def _start(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, **ONE_THREAD}  # as `grader grade`'s clean process (grader.prefork)
        if self.assignment is not None:
            env[pack.ENV] = self.assignment
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH")) if p
        )
        fds: tuple[int, ...] = ()
        env.pop(Spare.ENV, None)
        if self._spare is not None:
            env[Spare.ENV] = self._spare.env()
            fds = (self._spare.read, self._spare.write)
        proc = subprocess.Popen(
            [sys.executable, "-m", "grader.classroom.process", "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            start_new_session=True,
            pass_fds=fds,
        )
        self._proc, self._buf, self._eof, self.graded = proc, b"", False, 0
        ready = self._readline(time.monotonic() + START_TIMEOUT)
        if ready is None or json.loads(ready).get("op") != "ready":
            self.close()
            raise RuntimeError("the grading process did not start (see its log)")
        return proc

    def grade(self, what: Path | dict[str, Any], options: dict[str, Any], timeout: float) -> Graded:
        """Grade ``what``: a submission's path, or its content as ``shipping.submission_wire``
        gives it (a Dask task carries no path)."""
        if self._proc is None or self._proc.poll() is not None or self.graded >= self._recycle:
            self.close()
            self._start()
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        started = time.time()
        job = {"path": str(what)} if isinstance(what, Path) else {"submission": what}
        request = {"op": "grade", **job, "options": options}
        try:
            proc.stdin.write((json.dumps(request) + "\n").encode())
            proc.stdin.flush()
        except OSError:
            return self._failed("crash", started, "the grading process was gone")
        line = self._readline(time.monotonic() + timeout)
        self.graded += 1
        if line is None:
            if not self._eof:
                self.close()
                return self._failed(
                    "timeout",
                    started,
                    f"grading took longer than the batch's limit of {timeout:g} s per "
                    "submission and was stopped",
                )
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)  # its exit status, if it is ending by itself
            self.close()
            return self._failed(
                "crash", started, f"the grading process died (exit {proc.returncode})"
            )
        return Graded("result", json.loads(line)["result"], started, time.time())

    def _failed(self, kind: Kind, started: float, why: str) -> Graded:
        result = GradingResult(tests=(), grader_error=why, execution_time=time.time() - started)
        return Graded(kind, to_wire(result), started, time.time())

    def _readline(self, deadline: float) -> bytes | None:
        """One line from the child, or None at the deadline or when it exits (``_eof``)."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    self._eof = True
                    return None
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            _kill_tree(proc.pid)
        for stream in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
        proc.wait()


def _kill_tree(pid: int, root: bool = True) -> None:
    """SIGKILL ``pid`` and all its descendants (the Mother and zygotes live in other sessions);
    with ``root=False`` only the descendants (a process taking its own down)."""
    from grader.sandbox.worker import children_of

    children = children_of(pid)
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    for p in tree if root else tree[1:]:  # the parent first so it cannot fork replacements
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p, signal.SIGKILL)


def _follow(parent: int) -> None:
    """In a grading process: once its coordinator is gone (killed, even with -9, or a Dask
    worker that died), take this process's mothers, zygotes and workers down with it and exit.
    Nobody reads what it would grade, and a submission that loops would spin to its deadline."""
    while os.getppid() == parent:
        time.sleep(1.0)
    for _ in range(2):  # the second pass: whatever a dying mother forked meanwhile
        _kill_tree(os.getpid(), root=False)
    os._exit(1)


def _serve() -> int:
    """The grading process: read a job per line, grade it, answer with one line."""
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # whatever else prints (pytest, libraries) goes to the log, not the channel
    sys.stdout = sys.stderr
    from grader.classroom import shipping
    from grader.grading import engine, reference
    from grader.sandbox import host as sandbox  # the warm imports, once

    del reference
    threading.Thread(target=_follow, args=(os.getppid(),), daemon=True).start()
    mother = sandbox.Mother(torch=True)
    spare = Spare.from_env()
    channel.write(json.dumps({"op": "ready", "pid": os.getpid()}) + "\n")
    channel.flush()
    try:
        for line in sys.stdin:
            req = json.loads(line)
            started = time.monotonic()
            try:
                if not mother.alive():
                    mother.close()  # the one of the two still running, and its folder
                    mother = sandbox.Mother(torch=True)
                o = req["options"]
                options = engine.Options(
                    suites=tuple(o["suites"]),
                    only=o["only"],
                    gpu_counts=o["gpu_counts"],
                    shards=o.get("shards"),
                    spare=spare,
                )
                what = (
                    Path(req["path"])
                    if "path" in req
                    else shipping.submission_from_wire(req["submission"])
                )
                result = engine.grade(what, options, mother)
            except Exception:  # engine.grade does not raise; its set-up here might
                result = GradingResult(
                    tests=(),
                    grader_error=traceback.format_exc(),
                    execution_time=time.monotonic() - started,
                )
            channel.write(json.dumps({"op": "graded", "result": to_wire(result)}) + "\n")
            channel.flush()
    finally:
        mother.close()
    return 0


# -- results on the wire (between processes) -------------------------------------------------


def to_wire(result: GradingResult) -> dict[str, Any]:
    """The typed record as plain JSON data; ``from_wire`` rebuilds the identical record."""
    return {
        "tests": [t.to_wire() for t in result.tests],
        "output": result.output,
        "execution_time": result.execution_time,
        "grader_error": result.grader_error,
        "extra_data": dict(result.extra_data),
    }


def from_wire(data: dict[str, Any]) -> GradingResult:
    return GradingResult(
        tests=tuple(TestOutcome.from_wire(t) for t in data["tests"]),
        output=data["output"],
        execution_time=data["execution_time"],
        grader_error=data["grader_error"],
        extra_data=data["extra_data"],
    )


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        sys.exit(_serve())
    sys.exit("usage: python -m grader.classroom.process --serve  (started by `grader batch`)")
