"""scripts/slurm-e2e's pieces that need no Slurm (issue 28): the configuration, reading sinfo,
squeue and /proc/meminfo, stopping daemons and finding what was left, comparing gradebooks.

The run itself needs root, Debian's Slurm and a few minutes: `.ci/run` runs it only when asked
(``GRADER_SLURM_E2E=1``). What it relies on is tested here with real processes and real
gradebooks: a daemon that ignores SIGTERM, a job step left running, a gradebook that differs in
one test.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.classroom import discover
from grader.classroom.gradebook import Gradebook, Outcome, Record

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import slurm_e2e  # noqa: E402
import slurm_local  # noqa: E402
from slurm_local import Layout  # noqa: E402

MEMINFO = "MemTotal:       24684000 kB\nMemFree:        19000000 kB\n"


def conf_of(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_slurm_conf_keeps_every_file_in_the_private_folder(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "run")
    conf = conf_of(slurm_local.slurm_conf(layout, "vm", 2, 21000, (40001, 40002)))
    for key in (
        "StateSaveLocation",
        "SlurmdSpoolDir",
        "SlurmctldPidFile",
        "SlurmdPidFile",
        "SlurmctldLogFile",
        "SlurmdLogFile",
    ):
        assert Path(conf[key]).is_relative_to(layout.root), key
    assert conf["AuthInfo"] == f"socket={layout.socket}"
    assert layout.socket.is_relative_to(layout.root)
    # no cgroup.conf needed, no accounting daemon
    assert conf["ProctrackType"] == "proctrack/linuxproc"
    assert conf["TaskPlugin"] == "task/none"
    assert conf["AccountingStorageType"] == "accounting_storage/none"
    assert (conf["SlurmctldPort"], conf["SlurmdPort"]) == ("40001", "40002")
    assert conf["SlurmctldHost"] == "vm(127.0.0.1)"
    node = conf["NodeName"].split()
    assert node[0] == "vm" and "CPUs=2" in node and "RealMemory=21000" in node
    partition = conf["PartitionName"].split()
    assert partition[0] == slurm_local.PARTITION and "Nodes=vm" in partition


def test_node_memory_is_under_memtotal() -> None:
    assert slurm_local.node_memory_mb(MEMINFO) == 24684000 * 9 // 10 // 1024
    with pytest.raises(ValueError, match="MemTotal"):
        slurm_local.node_memory_mb("MemFree: 1 kB\n")


def test_free_ports_are_distinct_and_bindable() -> None:
    import socket

    ports = slurm_local.free_ports(2)
    assert len(set(ports)) == 2
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_only_a_plain_idle_node_reads_as_ready() -> None:
    states = slurm_local.node_states("vm idle\nvm2 idle*\nvm3 drain~\n\n")
    assert states == {"vm": "idle", "vm2": "idle*", "vm3": "drain~"}
    assert slurm_local.job_ids("12\n 13 \n\n") == ["12", "13"]
    assert slurm_local.job_ids("") == []


# -- processes ----------------------------------------------------------------------------------


def start_named(tmp_path: Path, name: str, ignore_term: bool = False) -> subprocess.Popen[bytes]:
    """A process whose name (comm) is ``name``: Python run through a link of that name."""
    link = tmp_path / name
    if not link.exists():
        link.symlink_to(sys.executable)
    code = "import signal, time\n"
    if ignore_term:
        code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    code += "print('up', flush=True)\ntime.sleep(120)\n"
    proc = subprocess.Popen([str(link), "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
    return proc


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait()
        if p.stdout is not None:
            p.stdout.close()


def test_stop_terminates_by_the_pid_file_and_kills_one_that_ignores_term(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    polite = start_named(tmp_path, "polite")
    stubborn = start_named(tmp_path, "stubborn", ignore_term=True)
    procs += [polite, stubborn]
    (tmp_path / "polite.pid").write_text(f"{polite.pid}\n")
    (tmp_path / "stubborn.pid").write_text(f"{stubborn.pid}\n")
    assert slurm_local.stop(tmp_path / "polite.pid") is None
    assert polite.wait(5) == -signal.SIGTERM
    said = slurm_local.stop(tmp_path / "stubborn.pid", bound=0.5)
    assert said is not None and "ignored SIGTERM" in said and str(stubborn.pid) in said
    assert stubborn.wait(5) == -signal.SIGKILL
    # a daemon that never started, or is gone already: nothing to say
    assert slurm_local.stop(tmp_path / "missing.pid") is None
    assert slurm_local.stop(tmp_path / "polite.pid") is None


def test_processes_named_finds_by_name_as_pgrep_does(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    before = set(slurm_local.processes_named(slurm_local.DAEMONS))
    step = start_named(tmp_path, "slurmstepd")
    procs.append(step)
    now = slurm_local.processes_named(slurm_local.DAEMONS)
    assert now[step.pid] == "slurmstepd"
    assert slurm_local.left_running(before, now) == {step.pid: "slurmstepd"}
    pgrep = subprocess.run(
        ["pgrep", "-x", "slurmstepd"], capture_output=True, text=True, check=False
    )
    assert str(step.pid) in pgrep.stdout.split()


def test_teardown_stops_the_daemons_and_kills_and_reports_what_was_left(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    layout = Layout(tmp_path / "run")
    layout.root.mkdir()
    # what ran before the run is not ours: recorded, never touched
    layout.before.write_text(json.dumps(sorted(slurm_local.processes_named(slurm_local.DAEMONS))))
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    slurmd = start_named(bin_, "slurmd")
    munged = start_named(bin_, "munged")
    step = start_named(bin_, "slurmstepd")  # a job step outliving its slurmd
    procs += [slurmd, munged, step]
    layout.pid("slurmd").write_text(f"{slurmd.pid}\n")
    layout.pid("munged").write_text(f"{munged.pid}\n")
    problems = slurm_local.teardown(layout, linger=0.5)
    assert slurmd.wait(5) == -signal.SIGTERM and munged.wait(5) == -signal.SIGTERM
    assert step.wait(5) == -signal.SIGKILL
    assert problems == [f"slurmstepd (pid {step.pid}) was still running after the teardown: killed"]
    # and a teardown of a clean folder (the shell trap after a normal end) finds nothing
    assert slurm_local.teardown(layout, linger=0.5) == []
    assert slurm_e2e.main(["--teardown", str(layout.root)]) == slurm_e2e.EXIT_OK


def test_a_missing_tool_is_exit_3_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(slurm_local.CannotRun, match="no-such-slurm-tool"):
        slurm_local._require(("no-such-slurm-tool",))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(slurm_local.CannotRun, match="root"):
        slurm_local._require(("sh",))


def test_a_run_that_cannot_start_says_so_with_exit_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_slurm(layout: Layout) -> slurm_e2e.Report:
        slurm_local._require(("no-such-slurmctld",))
        raise AssertionError("unreachable")

    monkeypatch.setattr(slurm_e2e, "run", no_slurm)
    assert slurm_e2e.main(["--folder", str(tmp_path / "run")]) == slurm_e2e.EXIT_CANNOT
    assert "cannot run on this machine: no-such-slurmctld not found" in capsys.readouterr().err


# -- the class and the comparison -----------------------------------------------------------------


def test_the_class_has_every_kind_of_submission(tmp_path: Path) -> None:
    source = slurm_e2e.make_class(tmp_path / "class")
    jobs = {job.id: job for job in discover.discover(source, tmp_path / "out")}
    assert sorted(jobs) == [
        "buggy",
        "looping",
        "notebook",
        "partial",
        "reference",
        "reference-zip",
        "stubs",
    ]
    assert "while t >= 0:" in (source / "looping" / "schedules.py").read_text()


def record(sub: str, scores: dict[str, float], status: str = "graded") -> Record:
    outcomes = tuple(
        Outcome(
            n, f"test {n}", s, 2.0, "passed" if s == 2.0 else "failed", "hidden", ("f",), "", 0.1
        )
        for n, s in scores.items()
    )
    return Record(
        id=sub,
        content_digest="c" * 64,
        suite_digest="s" * 64,
        score=sum(scores.values()),
        max_score=2.0 * len(scores),
        status=status,  # type: ignore[arg-type]
        started="2026-12-07T00:00:00Z",
        finished="2026-12-07T00:00:01Z",
        wall_seconds=time.time() % 10,  # timings differ from run to run: never compared
        outcomes=outcomes,
    )


def book(folder: Path, *records: Record) -> Path:
    folder.mkdir()
    with Gradebook(folder / "gradebook.sqlite") as b:
        for r in records:
            b.record(r)
    return folder


def test_compare_books_names_the_submission_and_the_test_that_differ(tmp_path: Path) -> None:
    a = book(tmp_path / "local", record("ann", {"1.1": 2, "1.2": 2}), record("bob", {"1.1": 0}))
    same = book(tmp_path / "same", record("ann", {"1.1": 2, "1.2": 2}), record("bob", {"1.1": 0}))
    assert slurm_local.compare_books(a, same) == ([], 3)
    other = book(
        tmp_path / "slurm",
        record("ann", {"1.1": 2, "1.2": 0}),
        record("cid", {"1.1": 2}),
    )
    diffs, compared = slurm_local.compare_books(a, other)
    assert compared == 2
    assert "bob: only in local" in diffs and "cid: only in slurm" in diffs
    assert "ann: score 4.0 vs 2.0" in diffs
    assert "ann: test 1.2 score 2.0 vs 0.0" in diffs
    assert "ann: test 1.2 status 'passed' vs 'failed'" in diffs


def test_the_shell_scripts_parse_and_pass_shellcheck(shellcheck: str) -> None:
    for script in (ROOT / "scripts" / "slurm-e2e", ROOT / ".ci" / "run"):
        subprocess.run(["bash", "-n", str(script)], check=True)
        proc = subprocess.run(
            [shellcheck, str(script)], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stdout


@pytest.fixture
def bare_clone() -> Iterator[Path]:
    """The script alone in a folder every user can read, with or without a .venv."""
    root = Path(tempfile.mkdtemp(prefix="slurm-e2e-test-"))
    try:
        root.chmod(0o755)
        (root / "scripts").mkdir(mode=0o755)
        shutil.copy(ROOT / "scripts" / "slurm-e2e", root / "scripts" / "slurm-e2e")
        yield root
    finally:
        shutil.rmtree(root)


def test_the_script_without_a_venv_is_exit_3(bare_clone: Path) -> None:
    proc = subprocess.run(
        ["bash", str(bare_clone / "scripts" / "slurm-e2e")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 3
    assert "cannot run on this machine: no .venv here: run ./scripts/setup first" in proc.stderr


@pytest.mark.asroot
def test_the_script_as_a_normal_user_is_exit_3_before_installing_anything(
    bare_clone: Path,
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to run the script as nobody")
    (bare_clone / ".venv" / "bin").mkdir(parents=True)
    (bare_clone / ".venv" / "bin" / "python").symlink_to("/bin/true")
    as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    proc = subprocess.run(
        [*as_nobody, "bash", str(bare_clone / "scripts" / "slurm-e2e")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 3, proc.stderr
    assert "it must run as root" in proc.stderr
    assert "installing" not in proc.stdout


@pytest.mark.asroot
def test_the_workers_python_hides_the_course_files_only_from_the_worker(
    tmp_path: Path, shellcheck: str
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root for a mount namespace")
    secret = tmp_path / "solutions"
    secret.mkdir()
    (secret / "losses.py").write_text("the reference\n")
    wrapper = tmp_path / "worker-python"
    wrapper.write_text(slurm_local.worker_python(sys.executable, [secret]))
    wrapper.chmod(0o755)
    lint = subprocess.run([shellcheck, str(wrapper)], capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout
    code = "import os, sys; print(sorted(os.listdir(sys.argv[1])), sys.executable)"
    proc = subprocess.run(
        [str(wrapper), "-c", code, str(secret)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["[]", sys.executable]  # the real interpreter, nothing seen
    assert (secret / "losses.py").read_text() == "the reference\n"  # still there for us


def test_a_slurm_already_running_is_exit_3_and_left_alone(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    other = start_named(tmp_path, "slurmctld")
    procs.append(other)
    layout = Layout(tmp_path / "run")
    with pytest.raises(slurm_local.CannotRun, match=f"slurmctld pid {other.pid}"):
        slurm_local.start(layout, slurm_local.Timings())
    assert other.poll() is None
    assert not layout.pid("munged").exists()
