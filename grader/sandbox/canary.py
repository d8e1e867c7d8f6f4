"""The sandbox's start-up self-test: before grading, a worker tries what a student must not.

A worker forked exactly as a test's worker is (same zygote, same uid, rlimits, seccomp,
namespaces and Landlock) is asked to read the reference and the suites, to read a world-readable
file planted outside the allowlist and list the grader's home, to list and write the results
directory, to write the shared temporary folders, to connect to a socket the grader listens on, to
signal and inspect the grader, and to fork past its process limit
(``grader.sandbox.worker.probe``). Each
attempt that succeeds names the layer that should have stopped it.

As root (Gradescope, CI, a grading server) every layer is expected: one breach and the grader
refuses to grade (``CanaryFailure``: a grader error, results.json says "the autograder failed" and
names the missing layer in its staff-only entry), like codejail's service that "refuses to run if
codejail has not been configured properly" (research/security.md). The file-system allowlist is
expected wherever the kernel has Landlock or a mount namespace could be made; on a kernel with
Landlock, grading as root without it is refused unless ``GRADER_UNSAFE_DISABLE`` names it. As a
normal user some layers cannot exist (no uid of its own): the canary warns on stderr, once per
process, about whatever secret got through, and grading goes on.

The report is cached per warm ``Mother`` (or per process without one) and per sandbox layout, so a
batch pays for it once; a grading without a mother pays one extra forked worker (docs/SECURITY.md
has the measured cost).
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.authoring import pack
from grader.sandbox.host import (
    OWN_UID,
    Mother,
    Sandbox,
    landlock_expected,
    running_as_root,
    undumpable,
)

# The layer that should have stopped each kind of attempt, in the words of docs/SECURITY.md.
TRUSTED_LAYER = "the file-system allowlist (Landlock, the minimal mount tree) and the sandbox uid"
ALLOWLIST_LAYER = "the file-system allowlist (Landlock, the minimal mount tree)"
RESULTS_LAYER = "the sandbox uid and a results directory only root can use"
NETWORK_LAYER = "seccomp (no sockets), the network namespace and Landlock (no TCP)"
FORK_LAYER = "seccomp (no fork) and RLIMIT_NPROC for the sandbox uid"
SIGNAL_LAYER = "seccomp (signals to itself only) and the sandbox uid"
INSPECT_LAYER = "the sandbox uid (as a normal user: the grader made non-dumpable)"
MOUNT_LAYER = "the file-system allowlist (writes only in the work dir: Landlock, the mount tree)"
#: Host directories anyone may write; with the mount namespace on, the worker may not.
SHARED_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm")


def _secret_dirs() -> tuple[Path, ...]:
    """What a student must never see, among the trusted directories (the student bundle has
    the public suite, and ``grader check`` runs it as the student: no warning for that)."""
    return (
        pack.active().solutions,
        pack.active().hidden_suite,
        pack.active().examples,
        pack.ROOT / ".git",
    )


@dataclass(frozen=True)
class Attempt:
    """One thing the probe tried, and what happened."""

    what: str
    outcome: str  # the worker's words: "blocked: Permission denied", "ALLOWED", ...
    layer: str
    required: bool  # as root, an allowed attempt makes the grader refuse to grade
    #: worth a warning without root: it reaches something secret (the reference, the hidden
    #: suite, the history, results) or the grader itself; not a student's own public tests
    secret: bool = True

    @property
    def allowed(self) -> bool:
        return self.outcome.startswith("ALLOWED")


@dataclass(frozen=True)
class Report:
    attempts: tuple[Attempt, ...]
    root: bool
    seconds: float
    reused: bool = False

    @property
    def breaches(self) -> list[Attempt]:
        """Allowed attempts that a complete sandbox blocks."""
        return [a for a in self.attempts if a.allowed and a.required]

    @property
    def allowed(self) -> list[Attempt]:
        return [a for a in self.attempts if a.allowed]

    def missing_layers(self) -> list[str]:
        return list(dict.fromkeys(a.layer for a in self.breaches))

    def summary(self) -> str:
        """One line for the result's staff-only extra data (no timing: regrades must agree)."""
        blocked = len(self.attempts) - len(self.allowed)
        text = f"passed ({blocked} attempts blocked)"
        if self.breaches:
            text = f"FAILED ({len(self.breaches)} breaches)"
            if not self.root:
                text = f"incomplete: not root ({len(self.allowed)} attempts allowed)"
        if self.allowed:
            text += "; allowed: " + "; ".join(a.what for a in self.allowed)
        return text

    def describe(self, attempts: Iterable[Attempt]) -> str:
        return "\n".join(f"  - {a.what}: {a.outcome} (missing: {a.layer})" for a in attempts)


class CanaryFailure(RuntimeError):
    """As root, a worker could do what a student must not: the grader refuses to grade."""

    def __init__(self, report: Report) -> None:
        self.report = report
        super().__init__(
            "the sandbox's start-up canary failed, so this submission was not graded: a worker "
            "locked down like a test's could\n"
            + report.describe(report.breaches)
            + "\nMissing layer(s): "
            + "; ".join(report.missing_layers())
            + ". See docs/SECURITY.md (the canary)."
        )


def check(box: Sandbox, results_dir: Path | None = None) -> Report:
    """Run the canary (or reuse its report); ``CanaryFailure`` as root if anything got through.

    Without root the caller passes the report to ``warn`` (once it may print to stderr).
    """
    key = _key(box, results_dir)
    cache = _cache_for(box.mother)
    with _LOCK:
        report = cache.get(key)
    if report is None:
        report = run(box, results_dir)
        with _LOCK:
            cache[key] = report
    else:
        report = Report(report.attempts, report.root, report.seconds, reused=True)
    if report.root and report.breaches:
        raise CanaryFailure(report)
    return report


def allowlist_expected(box: Sandbox) -> bool:
    """Whether the worker's view of the disk must be an allowlist: Landlock is in the kernel and
    not turned off, or the minimal mount tree is on."""
    return box.layers.get("mountns") == "on" or landlock_expected(box.disabled)


def run(box: Sandbox, results_dir: Path | None = None) -> Report:
    """Probe ``box`` once (one fresh worker) and judge each attempt."""
    start = time.perf_counter()
    root = running_as_root()
    box.ready()
    expected = allowlist_expected(box)
    files = {}
    for d in pack.trusted_dirs():
        if os.path.isdir(d):  # False where even the grader cannot look (not ours to probe)
            files[d] = _a_file_in(d)
    # A file anyone may read, outside the allowlist (as a readable clone of the course elsewhere
    # on the disk would be), and the grader's home: only the allowlist keeps them from a worker.
    plant = Path(tempfile.mkdtemp(prefix="grader-canary-plant-"))
    home = Path.home()
    listen = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        plant.chmod(0o755)
        planted = plant / "planted.txt"
        planted.write_text("the canary's planted file\n")
        planted.chmod(0o644)
        listen.bind(("127.0.0.1", 0))
        listen.listen(4)
        listen.setblocking(False)
        request: dict[str, Any] = {
            "read": [str(f) for f in files.values() if f is not None] + [str(planted)],
            "list": [str(d) for d in files] + [str(home)],
            "write": [],
            "port": listen.getsockname()[1],
            "grader": os.getpid(),
            "nproc": box.limits.nproc,
        }
        if results_dir is not None:
            request["list"].append(str(results_dir))
            request["write"].append(str(results_dir))
        request["write"].extend(d for d in SHARED_WRITABLE if os.path.isdir(d))
        with undumpable():
            raw = box.probe(request)
        connected = _accepted(listen)
    finally:
        listen.close()
        shutil.rmtree(plant, ignore_errors=True)
    outside = (planted, home)
    attempts = []
    for what, said in raw.items():
        if what == "uid":
            continue
        outcome = said
        if what == "network" and connected and not said.startswith("ALLOWED"):
            outcome = "ALLOWED (the grader's socket saw the connection)"
        attempts.append(_judge(what, outcome, results_dir, expected, outside))
    state = box.layers.get("landlock", "")
    if landlock_expected(box.disabled) and not state.startswith("on"):
        # The kernel has Landlock, and the workers did not get it: as root, refuse.
        attempts.append(
            Attempt(
                "restrict itself with Landlock", f"ALLOWED (layer {state})", ALLOWLIST_LAYER, True
            )
        )
    return Report(tuple(attempts), root=root, seconds=time.perf_counter() - start)


def _judge(
    what: str,
    outcome: str,
    results_dir: Path | None,
    expected: bool,
    outside: tuple[Path, ...] = (),
) -> Attempt:
    verb, _, path = what.partition(" ")
    label = what
    if verb in ("read", "list", "write") and path:
        p = Path(path)
        if p in outside:
            # Readable by anyone (the planted file) or by the grader's user (its home): only
            # the allowlist stops these; without one (no Landlock, no mount namespace) the
            # grader says so once instead of refusing.
            label = (
                f"{verb} {'a planted world-readable file' if verb == 'read' else 'the home'} {p}"
            )
            return Attempt(label, outcome, ALLOWLIST_LAYER, expected)
        if results_dir is not None and p == results_dir:
            # Listing matters where the directory was closed (results of other gradings);
            # a directory left open on purpose (the repository root, /tmp) is only written.
            closed = verb == "write" or not _mode(p) & stat.S_IROTH
            return Attempt(f"{verb} the results directory {p}", outcome, RESULTS_LAYER, closed)
        if path in SHARED_WRITABLE:
            # With neither Landlock nor a mount namespace (an old kernel in a container) the
            # sandbox uid may write /tmp like any user: a known limit, not a broken layer.
            return Attempt(f"write {path}", outcome, MOUNT_LAYER, expected, secret=False)
        label = f"{verb} {_short(p)}"
        secret = any(p.is_relative_to(s) for s in _secret_dirs())
        return Attempt(label, outcome, TRUSTED_LAYER, True, secret=secret)
    layer = {
        "network": NETWORK_LAYER,
        "fork": FORK_LAYER,
        "signal the grader": SIGNAL_LAYER,
        "inspect the grader process": INSPECT_LAYER,
    }.get(what, "unknown")
    if what == "network":
        label = "open a network connection to 127.0.0.1"
    elif what == "fork":
        label = "fork past the process limit"
    return Attempt(label, outcome, layer, True)


def _mode(p: Path) -> int:
    try:
        return p.stat().st_mode
    except OSError:
        return 0


def _short(p: Path) -> str:
    try:
        return str(p.relative_to(pack.ROOT))
    except ValueError:
        return str(p)


def _a_file_in(d: Path) -> Path | None:
    """Some regular file under ``d`` (the trusted side can read it; can the worker?)."""
    for dirpath, dirnames, filenames in os.walk(d):
        dirnames.sort()
        for name in sorted(filenames):
            f = Path(dirpath) / name
            if f.is_file() and not f.is_symlink():
                return f
    return None


def _accepted(listen: socket.socket) -> bool:
    try:
        conn, _ = listen.accept()
    except (BlockingIOError, OSError):
        return False
    conn.close()
    return True


# -- caching and warnings -------------------------------------------------------------------------

_LOCK = threading.Lock()
_BY_MOTHER: weakref.WeakKeyDictionary[Mother, dict[tuple[Any, ...], Report]] = (
    weakref.WeakKeyDictionary()
)
_NO_MOTHER: dict[tuple[Any, ...], Report] = {}
_WARNED: set[str] = set()


def _cache_for(mother: Mother | None) -> dict[tuple[Any, ...], Report]:
    if mother is None:
        return _NO_MOTHER
    with _LOCK:
        return _BY_MOTHER.setdefault(mother, {})


def _key(box: Sandbox, results_dir: Path | None) -> tuple[Any, ...]:
    """What the outcome depends on: privileges, layers (not which slot uid), the paths probed."""
    box.ready()
    layers = tuple(sorted((k, v) for k, v in box.layers.items() if k != "user"))
    return (
        running_as_root(),
        box.layers.get("user") == OWN_UID,
        layers,
        box.disabled,
        box.limits.nproc,
        results_dir,
        pack.trusted_dirs(),
    )


def warn(report: Report) -> None:
    """Without root, say on stderr (once per process) what the sandbox could not prevent."""
    secrets = [a for a in report.allowed if a.secret]
    if report.root or not secrets:
        return
    text = (
        "grader: warning: the sandbox is incomplete when the grader is not root; a submission "
        "could\n"
        + report.describe(secrets)
        + "\n(grading goes on; run as root, or in the Gradescope image, for untrusted "
        "submissions: docs/SECURITY.md)"
    )
    # Once per set of missing layers: a batch does not repeat it for every submission.
    key = "\n".join(sorted({a.layer for a in secrets}))
    if key not in _WARNED:
        _WARNED.add(key)
        print(text, file=sys.stderr, flush=True)


def clear_cache() -> None:
    """Forget every report (tests that change the sandbox's layers between gradings)."""
    with _LOCK:
        _NO_MOTHER.clear()
        _BY_MOTHER.clear()
        _WARNED.clear()
