"""One grading shared between forked grading processes (grader.grading.shard): the results are a
serial
run's, byte for byte but for the two wall-clock fields, whatever the submission does."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from grader.grading import engine, shard
from grader.grading import results_json as gradescope
from grader.grading.results import TestOutcome
from grader.sandbox.host import Mother, Sandbox
from grader.sandbox.layers import DEFAULT_LIMITS

ROOT = Path(__file__).resolve().parents[2]


def _results_json(result: object) -> str:
    """results.json as written, less the wall-clock measurements (execution_time, duration)
    and the sandbox uid (whichever slot was free: another grading on the machine holds one)."""
    doc = json.loads(json.dumps(gradescope.to_json(result)))  # type: ignore[arg-type]
    doc.pop("execution_time")
    for t in doc["tests"]:
        t["extra_data"].pop("duration")
    return re.sub(r"uid[ =]\d+", "uid N", json.dumps(doc, indent=2))


def _submission(tmp_path: Path, edit: tuple[str, str, str] | None = None) -> Path:
    sub = tmp_path / "sub"
    sub.mkdir()
    for src in (ROOT / "solutions").glob("*.py"):
        text = src.read_text()
        if edit is not None and src.name == edit[0]:
            assert edit[1] in text
            text = text.replace(edit[1], edit[2], 1)
        (sub / src.name).write_text(text)
    return sub


def _both(path: Path, mother: Mother, **options: object) -> tuple[str, str]:
    serial = engine.grade(path, engine.Options(shards=1, **options), mother)  # type: ignore[arg-type]
    sharded = engine.grade(path, engine.Options(shards=2, **options), mother)  # type: ignore[arg-type]
    assert serial.grader_error is None and sharded.grader_error is None
    return _results_json(serial), _results_json(sharded)


def test_the_reference_sharded_gives_the_serial_results(mother: Mother) -> None:
    serial, sharded = _both(ROOT / "solutions", mother)
    assert json.loads(serial)["score"] == sum(t["max_score"] for t in json.loads(serial)["tests"])
    assert sharded == serial
    assert len(json.loads(serial)["tests"]) > 100


def test_stubs_and_a_bug_that_raises_sharded_give_the_serial_results(
    stubs: Path, tmp_path: Path, mother: Mother
) -> None:
    serial, sharded = _both(stubs, mother)
    assert sharded == serial and json.loads(serial)["score"] == 0
    # A bug that raises: tracebacks (staff's part) and failure messages everywhere it is used.
    raising = _submission(
        tmp_path, ("losses.py", "return float(np.sum(W * W))", "return float(np.sum(W * W)) / 0")
    )
    serial, sharded = _both(raising, mother)
    assert sharded == serial
    assert "ZeroDivisionError" in serial and 'File \\"losses.py\\"' in serial


def test_a_grading_with_timeouts_sharded_gives_the_serial_results(
    tmp_path: Path, mother: Mother
) -> None:
    """Timeouts are the one state carried from test to test (the budget): the tests after the
    first timeout are run again, in order, with the serial run's budget."""
    looping = _submission(
        tmp_path,
        (
            "schedules.py",
            "    return lr0 * gamma",
            "    while t >= 0:\n        pass\n    return lr0 * gamma",
        ),
    )
    limits = dataclasses.replace(
        DEFAULT_LIMITS, call_timeout=0.5, short_timeout=0.2, strikes=2, patience=1.2
    )
    serial, sharded = _both(looping, mother, limits=limits, only="schedules")
    assert sharded == serial
    assert serial.count("timed out after 0.5 s") >= 2  # two full timeouts, then short ones
    assert serial.count("timed out after 0.2 s") >= 1


def _record(timed_out: bool = False, clean: bool = True) -> shard._Record:
    outcome = TestOutcome(name="t", number="1.1", max_score=1, score=1, status="passed")
    return shard._Record(outcome, clean, timed_out, ({}, 0.0))


def test_which_outcomes_stand_and_which_run_again() -> None:
    # No timeout: every outcome stands.
    assert shard.to_run_again({i: _record() for i in range(5)}, 5) == (None, [])
    # A test that timed out: it stands, everything after it runs again (a missing one too).
    records = {i: _record(timed_out=i == 2) for i in range(5) if i != 1}
    assert shard.to_run_again(records, 5) == (2, [1, 3, 4])
    # A test run after a timeout in its own process ran with a spent budget: run again.
    records = {0: _record(), 1: _record(clean=False), 2: _record(), 3: _record(timed_out=True)}
    assert shard.to_run_again(records, 4) == (3, [1])


def test_every_test_is_a_unit_of_its_own() -> None:
    """The torch module's tests are no longer held together (their sympy import is gone,
    ``grader.grading.shapes``): any test may go to either process."""

    class Item:
        def __init__(self, tag: str) -> None:
            self.tag = tag

        def get_closest_marker(self, name: str) -> object:
            return pytest.mark.tags(self.tag).mark

    items = [Item(t) for t in ("svm_loss", "SoftmaxCrossEntropy", "sgd_step", "MulticlassHinge")]
    assert shard.units_of(items) == [[0], [1], [2], [3]]  # type: ignore[arg-type]


@pytest.mark.parametrize("version", [1, 2])
def test_a_cgroup_cpu_quota_above_us_bounds_the_shards(
    version: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gradescope's ½ vCPU (the simulator's quota, a container's --cpus) gives one process,
    whether the quota is on our own cgroup or on one above it."""
    root = tmp_path / "cgroup"
    if version == 2:
        ours, above = root / "box" / "grading", root / "box"
        ours.mkdir(parents=True)
        (ours / "cpu.max").write_text("max 100000\n")
        (above / "cpu.max").write_text("50000 100000\n")
        lines = "0::/box/grading\n"
    else:
        ours, above = root / "cpu" / "box" / "grading", root / "cpu" / "box"
        ours.mkdir(parents=True)
        for folder, quota in ((ours, "-1"), (above, "150000")):
            (folder / "cpu.cfs_quota_us").write_text(quota)
            (folder / "cpu.cfs_period_us").write_text("100000")
        lines = "1:cpu,cpuacct:/box/grading\n0::/\n"
    (tmp_path / "self-cgroup").write_text(lines)
    monkeypatch.setattr(shard, "CGROUP", root)
    monkeypatch.setattr(shard, "PROC_CGROUP", tmp_path / "self-cgroup")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert shard._cgroup_quota() == (0.5 if version == 2 else 1.5)
    assert shard.available_cpus() == 1 and shard.default_shards() == 1


def _socket_targets(pid: int) -> set[str]:
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith(("socket:", "pipe:")):
            found.add(target)
    return found


def test_a_worker_holds_no_descriptor_of_its_zygote_with_two_channels() -> None:
    """With a second control channel (a shard's), the zygote holds two channels and two spare
    workers' ends; a worker inherits none of them (it could drive its zygote, or another test's
    worker, as the grader)."""
    sources = {p.name: p.read_text() for p in (ROOT / "solutions").glob("*.py")}
    box = Sandbox(sources, torch=False).start()
    try:
        box.settle()
        channels = box.attach()
        assert len(channels) == 1
        first = box.worker()
        reply = first.call("losses", "l2_penalty", (np.array([[1.0, 2.0]]),), {})
        assert reply["value"] == 5.0
        zygote = box._pid
        assert zygote is not None
        ours = _socket_targets(zygote)
        assert len(ours) >= 4  # the two channels, the spares' sockets and pipes
        assert not _socket_targets(first.pid) & ours
        first.close()
        for channel in channels:
            channel.close()
    finally:
        box.close()
    assert box.survivors == []
