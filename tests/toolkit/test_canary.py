"""The start-up canary: it passes with every layer, refuses as root when one is missing, warns
(and grading goes on) without root, runs once per warm mother, and costs one forked worker."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader import cli, messages
from grader.authoring import pack
from grader.grading import engine
from grader.sandbox import canary, landlock
from grader.sandbox import host as sandbox
from grader.sandbox.host import Mother, Sandbox

ROOT = Path(__file__).resolve().parents[2]
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="the layers the canary checks need root")


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    canary.clear_cache()
    yield
    canary.clear_cache()


def _sources() -> dict[str, str]:
    return {f.name: f.read_text() for f in sorted((ROOT / "solutions").glob("*.py"))}


@root_only
@pytest.mark.asroot
def test_every_attempt_is_blocked_with_every_layer(tmp_path: Path, mother: Mother) -> None:
    results = tmp_path / "results"
    engine.protect_trusted_files(results)
    with Sandbox(_sources(), mother=mother) as box:
        report = canary.run(box, results)
    assert report.root and report.breaches == [] and report.allowed == [], report.summary()
    tried = " | ".join(a.what for a in report.attempts)
    for what in (
        "read solutions/",
        "read tests/grading/",
        *(["list .git"] if (ROOT / ".git").is_dir() else []),  # a file in a git worktree
        "list examples",
        "write the results directory",
        "open a network connection",
        "fork past the process limit",
        "signal the grader",
        "inspect the grader process",
        "write /tmp",
        "read a planted world-readable file",
        "list the home",
    ):
        assert what in tried
    assert report.summary().startswith("passed (")


@root_only
@pytest.mark.asroot
def test_without_the_allowlist_the_planted_file_is_read(tmp_path: Path, mother: Mother) -> None:
    """The planted file is world-readable: the allowlist, not its mode, is what the canary tests.
    With Landlock and the mount tree off it is read (and said), not a breach: such a grader has
    no allowlist to expect (an old kernel in a container)."""
    os.environ[sandbox.UNSAFE_DISABLE] = "landlock,mountns"
    try:
        with Sandbox(_sources(), mother=mother) as box:
            report = canary.run(box, tmp_path)
    finally:
        del os.environ[sandbox.UNSAFE_DISABLE]
    (planted,) = [a for a in report.attempts if a.what.startswith("read a planted")]
    assert planted.allowed and not planted.required, planted


@root_only
@pytest.mark.asroot
def test_a_worker_without_landlock_on_a_kernel_with_it_is_refused(
    tmp_path: Path, mother: Mother
) -> None:
    if not landlock.abi()[0]:
        pytest.skip(f"this kernel has no Landlock: {landlock.abi()[1]}")
    with Sandbox(_sources(), mother=mother) as box:
        box.ready()
        box.layers["landlock"] = "failed: simulated"  # what a zygote would report
        report = canary.run(box, tmp_path)
    assert [a.what for a in report.breaches] == ["restrict itself with Landlock"]
    assert report.missing_layers() == [canary.ALLOWLIST_LAYER]


# Each layer turned off (GRADER_UNSAFE_DISABLE) lets some attempt through; as root the grader
# then refuses to grade and names what is missing.
MISSING = [
    ("uid,landlock,mountns", "read solutions/", canary.TRUSTED_LAYER),
    ("seccomp,netns,landlock", "open a network connection to 127.0.0.1", canary.NETWORK_LAYER),
    ("seccomp,rlimits", "fork past the process limit", canary.FORK_LAYER),
]


@root_only
@pytest.mark.asroot
@pytest.mark.parametrize(("off", "attempt", "layer"), MISSING)
def test_a_missing_layer_makes_the_grader_refuse_as_root(
    off: str, attempt: str, layer: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(sandbox.UNSAFE_DISABLE, off)
    out = tmp_path / "results" / "results.json"
    code = cli.main(["grade", str(ROOT / "solutions"), "--out", str(out), "--only", "softmax"])
    assert code == cli.ExitCode.GRADER_ERROR
    doc = json.loads(out.read_text())
    assert doc["score"] == 0 and doc["output"] == messages.GRADER_FAILED
    # No test counted: the canary stood before the first worker that runs student code.
    (staff,) = doc["tests"]
    assert staff["visibility"] == "hidden"
    assert "start-up canary failed" in staff["output"]
    assert attempt in staff["output"] and layer in staff["output"]
    assert "Traceback" not in staff["output"]


@root_only
@pytest.mark.asroot
def test_a_results_directory_others_can_write_is_refused(mother: Mother) -> None:
    # Not root's and open to all: not ours to close. With the allowlist on, the worker still
    # cannot write it; without it (an old kernel in a container), the canary says no. (Under
    # /tmp, not pytest's tmp_path: the sandbox uid must be able to reach it.)
    top = Path(tempfile.mkdtemp(prefix="grader-canary-"))
    try:
        top.chmod(0o755)
        results = top / "shared"
        results.mkdir()
        os.chown(results, 65534, 65534)
        results.chmod(0o777)
        os.environ[sandbox.UNSAFE_DISABLE] = "mountns,landlock"
        try:
            result = engine.grade(
                ROOT / "solutions",
                engine.Options(only="softmax", suites=("public",), results_dir=results),
                mother=mother,
            )
        finally:
            del os.environ[sandbox.UNSAFE_DISABLE]
        assert result.grader_error is not None and result.tests == ()
        assert "write the results directory" in result.grader_error
        assert canary.RESULTS_LAYER in result.grader_error
        assert stat.S_IMODE(results.stat().st_mode) == 0o777  # left as it was
        assert list(results.iterdir()) == []  # the probe's file was removed
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_without_root_the_canary_warns_and_grading_goes_on(
    tmp_path: Path,
    mother: Mother,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The judgement of a non-root grader, on what a worker without its own uid can do.
    monkeypatch.setattr(canary, "running_as_root", lambda: False)
    monkeypatch.setenv(sandbox.UNSAFE_DISABLE, "uid,landlock,mountns")
    options = engine.Options(only="softmax", suites=("public",), results_dir=tmp_path)
    for _ in range(2):
        result = engine.grade(ROOT / "solutions", options, mother=mother)
        assert result.grader_error is None
        assert result.score == result.max_score > 0
    err = capsys.readouterr().err
    assert err.count("the sandbox is incomplete when the grader is not root") == 1
    assert "read solutions/" in err and canary.TRUSTED_LAYER in err
    assert result.extra_data["sandbox"]["canary"].startswith("incomplete: not root")


def test_a_student_checking_their_work_gets_no_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `grader check` on the student bundle: the worker has the student's uid and can read the
    # public suite it is run against. That is no news to the student, and not worth a warning;
    # the reference or the hidden suite would be (an instructor grading as a normal user).
    public = canary._judge(
        f"read {pack.active().public_suite / 'test_losses.py'}", "ALLOWED", None, False
    )
    tmp = canary._judge("write /tmp", "ALLOWED", None, False)
    secret = canary._judge(f"read {pack.active().solutions / 'losses.py'}", "ALLOWED", None, False)
    hidden = canary._judge(f"list {pack.active().hidden_suite}", "ALLOWED", None, False)
    assert not public.secret and not tmp.secret and secret.secret and hidden.secret
    canary.warn(canary.Report((public, tmp), root=False, seconds=0.0))
    assert capsys.readouterr().err == ""
    canary.warn(canary.Report((public, tmp, secret, hidden), root=False, seconds=0.0))
    err = capsys.readouterr().err
    assert "read solutions/losses.py" in err and "test_losses" not in err


def test_the_canary_runs_once_per_mother(mother: Mother, monkeypatch: pytest.MonkeyPatch) -> None:
    runs: list[canary.Report] = []
    real_run = canary.run

    def counting(box: Sandbox, results_dir: Path | None = None) -> canary.Report:
        runs.append(real_run(box, results_dir))
        return runs[-1]

    monkeypatch.setattr(canary, "run", counting)
    options = engine.Options(only="l2_penalty", suites=("public",))
    for _ in range(3):
        result = engine.grade(ROOT / "solutions", options, mother=mother)
        assert result.grader_error is None and "canary" in result.extra_data["sandbox"]
    assert len(runs) == 1


def test_a_grading_that_runs_no_student_code_needs_no_canary(
    tmp_path: Path, mother: Mother, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(canary, "run", lambda *a: pytest.fail("the canary ran"))
    empty = tmp_path / "empty"
    empty.mkdir()
    result = engine.grade(empty, engine.Options(only="softmax"), mother=mother)
    assert result.grader_error is None and result.score == 0


def test_a_typo_in_the_unsafe_switch_is_a_grader_error(
    mother: Mother, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(sandbox.UNSAFE_DISABLE, "seccom")
    result = engine.grade(ROOT / "solutions", engine.Options(only="softmax"), mother=mother)
    assert result.grader_error is not None
    assert "unknown layer seccom" in result.grader_error and "seccomp" in result.grader_error


@root_only
@pytest.mark.asroot
def test_a_shared_results_directory_is_never_chmodded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(sandbox.UNSAFE_DISABLE, "landlock")  # the fallback that changes modes
    before = os.stat("/tmp").st_mode
    engine.protect_trusted_files(Path("/tmp"))
    assert os.stat("/tmp").st_mode == before
    repo_mode = ROOT.stat().st_mode
    engine.protect_trusted_files(ROOT)  # an ancestor of grader/ and the venv: left open
    assert ROOT.stat().st_mode == repo_mode
    mine = tmp_path / "results"
    engine.protect_trusted_files(mine)
    assert stat.S_IMODE(mine.stat().st_mode) == 0o700


@root_only
@pytest.mark.asroot
@pytest.mark.parametrize("off", ["", "landlock"])
def test_a_batch_closes_its_output_directory_only_without_the_allowlist(
    tmp_path: Path, off: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where Landlock holds, the grader changes no mode of the instructor's (the workers cannot
    reach the folder whatever its mode); without it, as root, it closes the folder."""
    import io

    from grader.classroom import batch

    if off:
        monkeypatch.setenv(sandbox.UNSAFE_DISABLE, off)
    elif not landlock.abi()[0]:
        pytest.skip(f"this kernel has no Landlock: {landlock.abi()[1]}")
    source, out = tmp_path / "class", tmp_path / "out"
    (source / "alice").mkdir(parents=True)
    (source / "alice" / "schedules.py").write_text((ROOT / "solutions/schedules.py").read_text())
    out.mkdir()
    out.chmod(0o755)
    options = batch.BatchOptions(jobs=1, suites=("public",), only="step_decay")
    summary = batch.run_batch(source, out, options, stream=io.StringIO())
    assert summary.done == 1
    assert stat.S_IMODE(out.stat().st_mode) == (0o700 if off else 0o755)
