"""grader batch --dask on a cluster that shares nothing with the coordinator but the grader.

A ``dask scheduler`` and two ``dask worker`` processes started as separate commands, as an
instructor would; each worker runs in a private mount namespace where the checkout's pack (its
manifest, ``solutions/``, ``tests/``, ``examples/``, ``assignment/``, the notebook) and this
test's folders (the batch input, the gradebooks) do not exist, and as a user of its own made
for the test. What a worker grades reaches it only through the tasks: the submission's content
and the pack by digest (grader.classroom.shipping).

Needs root (mount namespaces, useradd); the cluster is shared by the module's tests.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pwd
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grader.classroom import batch, cluster, discover, shipping
from grader.classroom.batch import BatchOptions
from grader.classroom.gradebook import Gradebook

distributed = pytest.importorskip("distributed")

from adversarial_corpus import materialize  # noqa: E402
from test_batch import FAST_ARGS, ROOT, comparable, make_class, read_book  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mount namespaces, useradd)"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

VENV_BIN = Path(sys.executable).parent
#: What a worker must not see of the checkout: the pack and everything beside the grader.
HIDDEN_DIRS = ("solutions", "tests", "examples", "assignment", "packs", "bench", "docs")
HIDDEN_FILES = ("assignment.toml", "notebook.py")
#: Long enough for a grading under load, short enough for the looping submission.
TIMEOUT = 60.0
OPTIONS = BatchOptions(jobs=2, suites=("public",), only="losses", timeout=TIMEOUT)


class Cluster:
    """A scheduler and named workers, each worker a ``dask worker`` command of its own."""

    def __init__(self, base: Path, hide: Path) -> None:
        base.mkdir(exist_ok=True)
        self.base = base
        self.hide = hide  # this test session's folders: the inputs and outputs
        self.user = _worker_user()
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.scratch: list[Path] = []
        self.logs = base / "logs"
        self.logs.mkdir()
        sched_file = base / "scheduler.json"
        self.scheduler = subprocess.Popen(
            [
                *(str(VENV_BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0"),
                *("--no-dashboard", "--scheduler-file", str(sched_file)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.logs / "scheduler.log").open("wb"),
            start_new_session=True,
            # a hung (stopped) worker is dropped after a minute, not Dask's default five
            env={**os.environ, "DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL": "60s"},
        )
        deadline = time.monotonic() + 60
        while not sched_file.is_file() or not sched_file.read_text().strip():
            assert time.monotonic() < deadline, (self.logs / "scheduler.log").read_text()
            time.sleep(0.2)
        self.address = json.loads(sched_file.read_text())["address"]
        self.client = distributed.Client(self.address, set_as_default=False)

    def start(self, name: str, overlay: tuple[Path, Path] | None = None) -> None:
        """Start worker ``name`` (``overlay``: a file bound over one of the grader's own)."""
        uid, gid, home = self.user
        local = Path(tempfile.mkdtemp(prefix=f"grader-dask-{name}-"))
        os.chown(local, uid, gid)
        self.scratch.append(local)
        lines = ["set -e"]
        for d in HIDDEN_DIRS:
            if (ROOT / d).is_dir():
                lines.append(
                    f"mount -t tmpfs -o size=64k,mode=0755 none {shlex.quote(str(ROOT / d))}"
                )
        for f in HIDDEN_FILES:
            if (ROOT / f).exists():
                lines.append(f"mount --bind /dev/null {shlex.quote(str(ROOT / f))}")
        lines.append(f"mount -t tmpfs -o size=64k,mode=0755 none {shlex.quote(str(self.hide))}")
        if overlay is not None:
            lines.append(
                f"mount --bind {shlex.quote(str(overlay[0]))} {shlex.quote(str(overlay[1]))}"
            )
        env = {
            "HOME": str(home),
            "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "GRADER_NO_GPU": "1",
        }
        lines.append(
            f"cd / && exec setpriv --reuid={uid} --regid={gid} --clear-groups env -i "
            + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
            + f" {shlex.quote(str(VENV_BIN / 'dask'))} worker {self.address} --nthreads 1"
            + f" --name {name} --no-dashboard --local-directory {shlex.quote(str(local))}"
            + " --death-timeout 120"
        )
        self.workers[name] = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(lines)],
            stdout=subprocess.DEVNULL,
            stderr=(self.logs / f"{name}.log").open("ab"),
            start_new_session=True,
        )

    def kill(self, name: str) -> None:
        """SIGKILL the whole ``dask worker`` command (nanny and worker)."""
        proc = self.workers.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def wait_for(self, n: int) -> dict[str, int]:
        """Wait until exactly ``n`` workers are connected; their pids by address."""
        deadline = time.monotonic() + 180
        while True:
            assert time.monotonic() < deadline, self.log_tail()
            with contextlib.suppress(OSError):  # a killed worker the scheduler still lists
                if len(self.client.nthreads()) == n:
                    pids: dict[str, int] = self.client.run(os.getpid)
                    if len(pids) == n:
                        return pids
            time.sleep(0.5)

    def pid_of(self, name: str) -> int:
        """The pid of worker ``name``'s worker process (the nanny's child)."""
        pids: dict[str, int] = self.client.run(os.getpid)
        info = self.client.scheduler_info()["workers"]
        return next(pid for addr, pid in pids.items() if info[addr]["name"] == name)

    def stop_while_busy(self, name: str, pid: int) -> None:
        """SIGSTOP worker ``name`` (process ``pid``) once it holds a task: at the first result it
        may be between two tasks, and a task it never started is moved, not overdue. A worker
        runs one task at a time and starts the one it is handed at once; 0.1 s lets its start
        reach the coordinator (a grading takes longer than that)."""
        addr = next(
            a for a, w in self.client.scheduler_info()["workers"].items() if w["name"] == name
        )
        for _ in range(500):
            if self.client.processing(workers=[addr]).get(addr):
                break
            time.sleep(0.01)
        time.sleep(0.1)
        os.kill(pid, signal.SIGSTOP)

    def log_tail(self) -> str:
        return "\n".join(f"{p.name}: {p.read_text()[-3000:]}" for p in self.logs.iterdir())

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        for name in list(self.workers):
            self.kill(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.scheduler.pid, signal.SIGKILL)
        self.scheduler.wait()
        for d in self.scratch:
            shutil.rmtree(d, ignore_errors=True)


def _reachable_by_others(path: Path) -> bool:
    """Whether a user other than the owner can reach ``path`` (every folder above it o+x)."""
    return all(p.stat().st_mode & stat.S_IXOTH for p in [path, *path.parents])


def _worker_user() -> tuple[int, int, Path]:
    """A user of the test's own for the workers (kept: a second run reuses it); root itself
    where that user could not reach the checkout or its venv (a clone under /root): the workers
    still share nothing with the coordinator but the installation, and the sandbox's own users
    apply."""
    if not (_reachable_by_others(ROOT / "grader") and _reachable_by_others(VENV_BIN)):
        home = Path("/var/tmp/grader-dask-test-root-home")
        home.mkdir(mode=0o700, exist_ok=True)
        return 0, 0, home
    name = "grader-dask-test"
    home = Path("/var/tmp/grader-dask-test-home")
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        if shutil.which("useradd") is None:
            pytest.skip("needs useradd (Debian's passwd package) to make the workers' user")
        subprocess.run(
            ["useradd", "--no-create-home", "--home-dir", str(home), "--shell", "/bin/false", name],
            check=True,
        )
        entry = pwd.getpwnam(name)
    home.mkdir(mode=0o700, exist_ok=True)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    return entry.pw_uid, entry.pw_gid, home


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("cluster"), tmp_path_factory.getbasetemp())
    try:
        c.start("w1")
        c.start("w2")
        c.wait_for(2)
        yield c
    finally:
        c.close()


def _class(root: Path) -> Path:
    """Seven submissions: the reference (folder and zip), the stubs, the known bugs, the
    notebook, one that loops at import, and one the intake cannot grade (no files)."""
    src = make_class(root, 4)
    shutil.copytree(ROOT / "examples" / "notebook", src / "s04-notebook")
    loop = src / "s05-loop"
    shutil.copytree(ROOT / "solutions", loop, ignore=shutil.ignore_patterns("__pycache__"))
    (loop / "losses.py").write_text((loop / "losses.py").read_text() + "\nwhile True:\n    pass\n")
    (src / "s06-empty").mkdir()
    return src


class OnFirstResult(io.StringIO):
    """The batch's progress stream: runs ``action`` once the first result is in."""

    def __init__(self, action: Any) -> None:
        super().__init__()
        self.action = action
        self.done = False

    def write(self, s: str) -> int:
        if not self.done and s.startswith("[1/"):
            self.action()
            self.done = True
        return super().write(s)


def _batch_until_first_result(cmd: list[str], then: Any, wait: int) -> tuple[int, str, float]:
    """Run ``grader batch`` ``cmd``; once its first result is printed, call ``then``; returns
    its exit status, its stderr and the seconds it ran after ``then``."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if line.startswith("[1/"):
                break
        then()
        after = time.monotonic()
        _, err = proc.communicate(timeout=wait + 120)
        return proc.returncode, err, time.monotonic() - after
    finally:
        if proc.poll() is None:
            proc.kill()


def test_same_gradebook_as_a_local_batch_despite_a_killed_worker(
    tmp_path: Path, dask_cluster: Cluster
) -> None:
    src = _class(tmp_path / "class")
    local_out, dask_out = tmp_path / "local", tmp_path / "dask"
    batch.run_batch(src, local_out, OPTIONS, stream=io.StringIO())
    stream = OnFirstResult(lambda: dask_cluster.kill("w1"))
    try:
        summary = batch.run_batch(src, dask_out, OPTIONS, dask=dask_cluster.address, stream=stream)
    finally:
        dask_cluster.start("w1")
    assert stream.done
    assert summary.done == 7, stream.getvalue()
    local = {r.id: r for r in read_book(local_out)}
    assert local["s05-loop"].status == "timed out"
    assert local["s00-ref"].score == local["s00-ref"].max_score > 0
    assert local["s01-stub"].score == 0 < local["s00-ref"].score
    assert 0 < local["s02-buggy"].score < local["s00-ref"].score
    assert comparable(read_book(dask_out)) == comparable(read_book(local_out)), stream.getvalue()
    # the progress stream said what the cluster was doing
    assert "worker" in stream.getvalue() and "connected" in stream.getvalue()
    # the results.json files say the same, test by test
    for sid in local:
        here = json.loads((local_out / "results" / f"{sid}.json").read_text())
        there = json.loads((dask_out / "results" / f"{sid}.json").read_text())
        assert [(t["name"], t["score"], t["status"]) for t in here["tests"]] == [
            (t["name"], t["score"], t["status"]) for t in there["tests"]
        ]
        assert here["extra_data"]["version"] == there["extra_data"]["version"]
    # the workers never saw the pack or the input at their paths, and unpacked the pack privately
    uid, _, home = dask_cluster.user
    packs = [
        p for p in (home / ".cache" / "grader" / "packs").iterdir() if not p.name.startswith(".")
    ]
    assert packs and all(p.stat().st_uid == uid and p.stat().st_mode & 0o077 == 0 for p in packs)
    dask_cluster.wait_for(2)


def test_every_worker_killed_stops_within_the_bound_and_a_rerun_resumes(
    tmp_path: Path, dask_cluster: Cluster
) -> None:
    src = make_class(tmp_path / "class", 6)
    out = tmp_path / "out"
    wait = 20
    cmd = [sys.executable, "-m", "grader", "batch", str(src), "--out", str(out), *FAST_ARGS]
    cmd += ["--dask", dask_cluster.address, "--dask-wait", str(wait), "--no-similarity"]
    try:
        code, err, took = _batch_until_first_result(
            cmd, lambda: [dask_cluster.kill("w1"), dask_cluster.kill("w2")], wait
        )
    finally:
        dask_cluster.start("w1")
        dask_cluster.start("w2")
    assert code == 3, err
    assert took < wait + 60, took
    assert f"no Dask worker was connected for {wait} s" in err, err
    assert "run the same command again" in err
    first = {r.id for r in read_book(out)}
    assert 1 <= len(first) < 6
    dask_cluster.wait_for(2)
    again = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert f"{len(first)} already in the gradebook, {6 - len(first)} to grade" in again.stdout
    with Gradebook(out / "gradebook.sqlite") as book:
        assert len(book.records()) == 6
        assert all(book.history(r.id) == [] for r in book.records())  # none graded twice
        assert len(book.runs()) == 2


def test_a_broken_pack_is_each_submissions_grader_error_and_the_worker_grades_on(
    tmp_path: Path, dask_cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = make_class(tmp_path / "class", 2)
    before = dask_cluster.wait_for(2)
    real = shipping.PackArchive.build()

    def broken() -> shipping.PackArchive:
        """The real pack, but its manifest's name is not a slug (valid here, not there)."""
        import hashlib
        import zipfile

        buf = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(real.data)) as zin, zipfile.ZipFile(buf, "w") as zout:
            for info in zin.infolist():
                data = zin.read(info)
                if info.filename == "assignment.toml":
                    data = data.replace(b'name = "', b'name = "Not A Slug ', 1)
                zout.writestr(info, data)
        data = buf.getvalue()
        return shipping.PackArchive(hashlib.sha256(data).hexdigest(), data, real.files)

    monkeypatch.setattr(shipping.PackArchive, "build", staticmethod(broken))
    opts = BatchOptions(**{**OPTIONS.__dict__, "check_similarity": False})
    summary = batch.run_batch(src, tmp_path / "bad", opts, dask=dask_cluster.address)
    assert summary.counts == {"grader error": 2}
    for r in read_book(tmp_path / "bad"):
        assert "the pack could not be set up on the Dask worker" in r.error
        assert "assignment.toml: assignment.name: 'Not A Slug" in r.error
        assert "must be a short slug" in r.error
    monkeypatch.undo()
    assert dask_cluster.wait_for(2) == before  # no worker died
    good = batch.run_batch(src, tmp_path / "good", opts, dask=dask_cluster.address)
    assert good.counts == {"graded": 2}
    assert dask_cluster.wait_for(2) == before


def test_a_task_on_a_hung_worker_is_cancelled_at_its_deadline_and_recorded(
    tmp_path: Path, dask_cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """w1's worker process is stopped (SIGSTOP: alive, silent) once the first result is in; the
    task it holds is cancelled at its deadline (the limit, plus a grace shortened here) and
    recorded as timed out, the rest is graded on w2, and the batch ends on its own."""
    src = make_class(tmp_path / "class", 4)
    monkeypatch.setattr(cluster, "GRACE", 5.0)
    opts = BatchOptions(**{**OPTIONS.__dict__, "timeout": 30.0, "check_similarity": False})
    pid = dask_cluster.pid_of("w1")
    stream = OnFirstResult(lambda: dask_cluster.stop_while_busy("w1", pid))
    try:
        summary = batch.run_batch(
            src, tmp_path / "out", opts, dask=dask_cluster.address, stream=stream
        )
    finally:
        with contextlib.suppress(ProcessLookupError):  # the scheduler may have had it replaced
            os.kill(pid, signal.SIGCONT)
    assert stream.done and summary.done == 4, stream.getvalue()
    book = {r.id: r for r in read_book(tmp_path / "out")}
    overdue = [r for r in book.values() if "ran past its deadline of 35 s" in r.error]
    assert overdue and all(r.status == "timed out" for r in overdue), stream.getvalue()
    assert all(r.status == "graded" for r in book.values() if r not in overdue)
    dask_cluster.kill("w1")  # whatever the scheduler made of it, a fresh one
    dask_cluster.start("w1")
    dask_cluster.wait_for(2)


def test_a_worker_of_another_grader_is_refused_before_any_grading(
    tmp_path: Path, dask_cluster: Cluster
) -> None:
    # A real second installation: the grader's own files differ (its version hash with them).
    changed = tmp_path / "__init__.py"
    changed.write_text((ROOT / "grader" / "__init__.py").read_text() + "\n# another build\n")
    changed.chmod(0o644)
    tmp_path.chmod(0o755)
    other = Path(tempfile.mkdtemp(prefix="grader-other-init-"))
    shutil.copy(changed, other / "__init__.py")
    other.chmod(0o755)
    src = make_class(tmp_path / "class", 2)
    dask_cluster.start("odd", overlay=(other / "__init__.py", ROOT / "grader" / "__init__.py"))
    try:
        dask_cluster.wait_for(3)
        out = tmp_path / "out"
        with pytest.raises(discover.BatchError) as err:
            batch.run_batch(src, out, OPTIONS, dask=dask_cluster.address, stream=io.StringIO())
    finally:
        dask_cluster.kill("odd")
        shutil.rmtree(other, ignore_errors=True)
    ours = cluster.versions()["grader"]
    message = str(err.value)
    assert "runs another installation than this coordinator" in message
    assert f"(here {ours})" in message and "grader " in message
    assert message.count("Dask worker tcp://") == 1  # only the odd one is named
    assert read_book(out) == [] and not list((out / "results").glob("*.json"))
    dask_cluster.wait_for(2)


ATTACK_ON_SUBMISSIONS = '''

def softmax(scores):
    """Walks the worker's disk for any other losses.py (the pack's reference, another
    submission of the batch) and answers with it."""
    import os as _os

    here = _os.path.realpath(_os.path.dirname(__file__))
    for top, dirs, files in _os.walk("/"):
        dirs[:] = [d for d in dirs if _os.path.join(top, d) not in ("/proc", "/sys", "/dev")]
        if "losses.py" in files and _os.path.realpath(top) != here:
            try:
                with open(_os.path.join(top, "losses.py")) as f:
                    source = f.read()
            except OSError:
                continue
            if "def softmax" in source and "_os.walk" not in source:
                namespace = {}
                exec(compile(source, "found", "exec"), namespace)
                return namespace["softmax"](scores)
    return _np.zeros_like(scores)
'''


def test_an_attack_through_the_cluster_finds_neither_the_pack_nor_other_submissions(
    tmp_path: Path, dask_cluster: Cluster
) -> None:
    src = tmp_path / "class"
    places = {"results": tmp_path / "results", "spy": tmp_path / "spy"}
    for p in places.values():
        p.mkdir()
    materialize("steal_from_disk", src / "a-steal-from-disk", places)
    materialize("steal_from_disk", src / "b-control", places, control="softmax_zeros")
    own = src / "c-steal-submissions"
    shutil.copytree(ROOT / "solutions", own, ignore=shutil.ignore_patterns("__pycache__"))
    text = (own / "losses.py").read_text()
    (own / "losses.py").write_text(text + "\nimport numpy as _np\n" + ATTACK_ON_SUBMISSIONS)
    shutil.copytree(ROOT / "solutions", src / "d-ref", ignore=shutil.ignore_patterns("__pycache__"))
    opts = BatchOptions(jobs=2, only="softmax", timeout=TIMEOUT * 2, check_similarity=False)
    out = tmp_path / "out"
    batch.run_batch(src, out, opts, dask=dask_cluster.address, stream=io.StringIO())
    book = {r.id: r for r in read_book(out)}
    assert book["d-ref"].score == book["d-ref"].max_score > 0
    control = book["b-control"]
    assert control.status == "graded" and control.score < book["d-ref"].score
    for attack in ("a-steal-from-disk", "c-steal-submissions"):
        rec = book[attack]
        assert rec.status == "graded", rec.error
        assert (rec.score, [o.status for o in rec.outcomes]) == (
            control.score,
            [o.status for o in control.outcomes],
        ), attack
        shown = (out / "results" / f"{attack}.json").read_text()
        # neither a listing of the hidden suite (the attack prints one if it can) nor code
        assert "['test_" not in shown and "def softmax" not in shown


def test_a_lost_scheduler_stops_the_batch_within_the_bound(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A cluster of its own: its scheduler is SIGKILLed after the first result."""
    own = Cluster(tmp_path / "own-cluster", tmp_path_factory.getbasetemp())
    try:
        own.start("solo")
        own.wait_for(1)
        src = make_class(tmp_path / "class", 4)
        out = tmp_path / "out"
        wait = 20
        cmd = [sys.executable, "-m", "grader", "batch", str(src), "--out", str(out), *FAST_ARGS]
        cmd += ["--dask", own.address, "--dask-wait", str(wait), "--no-similarity"]
        code, err, took = _batch_until_first_result(
            cmd, lambda: os.killpg(own.scheduler.pid, signal.SIGKILL), wait
        )
    finally:
        own.close()
    assert code == 3, err
    assert took < wait + 60, took
    assert f"the Dask scheduler could not be reached for {wait} s" in err, err
    assert "run the same command again" in err
    assert 1 <= len(read_book(out)) < 4
