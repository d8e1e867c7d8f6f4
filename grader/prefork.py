"""One import of numpy and torch for a grading and its sandbox (issue 15).

A ``grader grade`` paid those imports twice, ~2 s of CPU in a grading of ~9: once in the grading
process, whose suites use torch, and once in each zygote (``python -I -m grader.sandbox.worker``,
started with a scrubbed environment), which preloads them for the student's code. Forking the
zygotes from the grading process would save the second import and hand the student a copy of
the grader's memory: its environment (the user's tokens), its arguments, what it has read.

So the command starts again clean. ``reexec`` writes the real arguments, environment, working
directory and ``sys.path`` to an anonymous memory file (``memfd_create``: kernel memory, not the
process's) and execs ``python -I -m grader`` with a scrubbed environment of the same kind a
worker gets. That process holds nothing of the user's: it imports numpy and forks the lean
mother, imports torch and forks the torch mother (``host.Mother(here=True)``); only then does
``resume`` read the memory file back, and the grading goes on as it would have, its sandbox's
zygotes forked from those mothers as a batch's are. Every zygote and worker is thus a fork of a
process that never held the environment, the arguments, a suite or a submission (a test plants
a secret in the environment and has a submission scan its worker's whole memory for it).

What the grading process keeps of its clean start: numpy and torch were imported with one
thread each (the scrubbed environment's ``OMP_NUM_THREADS`` and the like, as in every worker;
the grader's arrays are far too small for a second thread to help) and it runs in isolated
mode (``sys.flags.isolated``); its ``sys.path``, environment and working directory are the
original ones again. ``GRADER_PREFORK=0`` turns all of it off: the zygotes start as their own
interpreters, as before. Where a mother cannot be forked, the grading starts its zygotes the
old way and says nothing: the results are the same either way (a test compares them).
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from grader.sandbox import ONE_THREAD

if TYPE_CHECKING:
    from grader.sandbox.host import Mother

ENV = "GRADER_PREFORK"
#: the first argument of the clean process: ``python -I -m grader RESUME FD torch|lean``
RESUME = "--resume-prefork"
#: the commands that grade a submission in this process (their zygotes are worth forking)
COMMANDS = frozenset({"grade", "check"})

# Passed to the clean process as they are: where temporary files go (the mothers' folders and,
# later, the grading's), the GPUs the workers may use and the libraries they need (both given
# to every worker already). Nothing else of the user's environment crosses.
_PASSED = ("TMPDIR", "CUDA_VISIBLE_DEVICES", "LD_LIBRARY_PATH")


def wanted() -> bool:
    """Whether to start again clean: on unless ``GRADER_PREFORK=0``, on Linux with memfd."""
    return os.environ.get(ENV, "1") != "0" and hasattr(os, "memfd_create") and hasattr(os, "fork")


def scrubbed_env() -> dict[str, str]:
    """The clean process's whole environment (what the mothers' memory holds of one)."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        **ONE_THREAD,
    }
    env.update({k: os.environ[k] for k in _PASSED if k in os.environ})
    return env


def reexec(argv: Sequence[str], torch: bool) -> NoReturn:
    """Exec ``python -I -m grader`` clean; it forks the mothers, then runs ``argv`` (``resume``)."""
    state = {
        "argv": list(argv),
        "sys_argv": list(sys.argv),
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "path": list(sys.path),
    }
    fd = os.memfd_create("grader-prefork", 0)  # no MFD_CLOEXEC: it must cross the exec
    os.write(fd, json.dumps(state).encode())
    sys.stdout.flush()
    sys.stderr.flush()
    args = [sys.executable, "-I", "-m", "grader", RESUME, str(fd), "torch" if torch else "lean"]
    os.execve(sys.executable, args, scrubbed_env())


def resume(args: Sequence[str]) -> list[str]:
    """In the clean process: fork the mothers, then become the original command again.

    Returns the original command's arguments, for ``grader.cli.main``.
    """
    from grader.sandbox.host import adopt

    fd, kind = int(args[0]), args[1]
    mother = _fork_mothers(torch=kind == "torch")
    state = _read(fd)
    os.chdir(state["cwd"])
    os.environ.clear()
    os.environ.update(state["env"])
    sys.path[:] = state["path"]
    sys.argv[:] = state["sys_argv"]
    if mother is not None:
        adopt(mother)
        atexit.register(mother.close)
    return list(state["argv"])


def _fork_mothers(torch: bool) -> Mother | None:
    """The lean mother (numpy) and, for a pack with torch modules, the torch one beside it."""
    import numpy
    import numpy.random  # noqa: F401

    from grader.sandbox.host import Mother
    from grader.sandbox.layers import SandboxError

    try:
        lean = Mother(torch=False, here=True)
    except (SandboxError, OSError, ValueError):
        return None
    if not torch:
        return lean
    try:
        import torch as _torch  # noqa: F401

        return Mother(torch=True, here=True, lean=lean, marker=lean.marker)
    except Exception:  # no torch, or its mother did not start: the zygotes start themselves
        lean.close()
        return None


def _read(fd: int) -> dict[str, Any]:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    os.close(fd)
    state: dict[str, Any] = json.loads(b"".join(chunks))
    return state
