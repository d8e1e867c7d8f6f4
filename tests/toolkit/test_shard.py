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

from grader.grading import cores, engine, shard, timeouts
from grader.grading import results_json as gradescope
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


#: Timeouts a test can afford: two strikes of 0.5 s, then 0.2 s (after 1.2 s lost, for all).
SHORT_LIMITS = dataclasses.replace(
    DEFAULT_LIMITS, call_timeout=0.5, short_timeout=0.2, strikes=2, patience=1.2
)


def _looping(tmp_path: Path) -> Path:
    """The reference with ``step_decay`` looping forever (a busy loop: its timeouts spin)."""
    loop = "    while t >= 0:\n        pass\n    return lr0 * gamma"
    return _submission(tmp_path, ("schedules.py", "    return lr0 * gamma", loop))


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
    tmp_path: Path, mother: Mother, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Timeouts are the one state carried from test to test (the budget): the serial budget is
    replayed over each test's calls, and a test whose limits differ runs again in its place."""
    looping, limits = _looping(tmp_path), SHORT_LIMITS
    merged: list[tuple[int, list[int]]] = []
    merge = shard._merge

    def counted(session: pytest.Session, grading: object, shared: shard._Shared) -> list[int]:
        again = merge(session, grading, shared)  # type: ignore[arg-type]
        merged.append((shared.n, again))
        return again

    monkeypatch.setattr(shard, "_merge", counted)
    serial, sharded = _both(looping, mother, limits=limits, only="schedules")
    assert sharded == serial
    assert serial.count("timed out after 0.5 s") >= 2  # two full timeouts, then short ones
    assert serial.count("timed out after 0.2 s") >= 1
    # The outcomes after the first timeout mostly stand: the processes shared their timeouts.
    [(n, again)] = merged
    timed_out = [i for i, t in enumerate(json.loads(serial)["tests"]) if "timed out" in t["output"]]
    assert len(again) < len([i for i in range(n) if i > timed_out[0]]) / 2


def test_a_core_lent_mid_grading_wakes_a_helper_and_the_results_stay_serial(
    tmp_path: Path, mother: Mother, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's slot out of work lends its core (``cores.Spare``): the helper a grading forked
    beside it takes it, runs tests from the same queue, and gives it back when they run out;
    with timeouts, the results are still the serial run's. Without a core lent, the helper
    runs nothing."""
    looping, limits = _looping(tmp_path), SHORT_LIMITS
    from_helpers: list[int] = []  # the outcomes each read of a helper's pipe brought
    read = shard._Reader.read

    def counted(reader: shard._Reader, records: dict[int, shard._Record], grading: object) -> None:
        before = len(records)
        read(reader, records, grading)  # type: ignore[arg-type]
        from_helpers.append(len(records) - before)

    monkeypatch.setattr(shard._Reader, "read", counted)
    monkeypatch.setattr(shard, "available_cpus", lambda: 2)  # a 1-core machine lends too
    options = {"limits": limits, "only": "schedules"}
    serial = engine.grade(looping, engine.Options(shards=1, **options), mother)  # type: ignore[arg-type]
    assert from_helpers == []  # no helper without a batch
    spare = cores.Spare.create()
    try:
        os.write(spare.write, b"+")
        lent = engine.grade(looping, engine.Options(shards=1, spare=spare, **options), mother)  # type: ignore[arg-type]
        assert sum(from_helpers) > 0
        assert os.read(spare.read, 8) == b"+"  # given back
        assert _results_json(lent) == _results_json(serial)
        from_helpers.clear()
        again = engine.grade(looping, engine.Options(shards=1, spare=spare, **options), mother)  # type: ignore[arg-type]
        assert from_helpers and sum(from_helpers) == 0
        assert _results_json(again) == _results_json(serial)
    finally:
        os.close(spare.read)
        os.close(spare.write)


def test_the_serial_budget_replayed_over_a_tests_calls() -> None:
    """An outcome stands when the serial run would have given every call the limit it had (for
    a timeout) or at least the time it took (for the others)."""
    lim = dataclasses.replace(
        DEFAULT_LIMITS, call_timeout=10.0, short_timeout=1.0, strikes=2, patience=90.0
    )
    fresh: timeouts.Budget = ({}, 0.0)
    # No timeout, calls well within the short limit: stands, whatever the budget.
    quick = [{"svm_loss": 0.01, "step_decay": 0.2}]
    assert timeouts.replay(quick, fresh, lim) == fresh
    assert timeouts.replay(quick, ({"step_decay": 5}, 95.0), lim) == ({"step_decay": 5}, 95.0)
    # A 2.5 s call stands with the full limit, not where the serial run gives the short one.
    slow = [{"step_decay": 2.5}]
    assert timeouts.replay(slow, ({"step_decay": 1}, 10.0), lim) == ({"step_decay": 1}, 10.0)
    assert timeouts.replay(slow, ({"step_decay": 2}, 20.0), lim) is None
    assert timeouts.replay(slow, ({"svm_loss": 1}, 90.0), lim) is None  # patience spent
    # A timeout stands when the serial run had the same limit, and is counted.
    full = [{"svm_loss": 0.01}, ["step_decay", 10.0], {"svm_loss": 0.02}]
    assert timeouts.replay(full, fresh, lim) == ({"step_decay": 1}, 10.0)
    assert timeouts.replay(full, ({"step_decay": 2}, 20.0), lim) is None  # serially: 1 s
    short = [["step_decay", 1.0]]
    assert timeouts.replay(short, ({"step_decay": 2}, 20.0), lim) == ({"step_decay": 3}, 21.0)
    assert timeouts.replay(short, fresh, lim) is None  # serially: the full 10 s
    # Within one test the budget moves at each timeout: the second strike shortens the third.
    strikes = [["step_decay", 10.0], ["step_decay", 10.0], ["step_decay", 1.0]]
    assert timeouts.replay(strikes, fresh, lim) == ({"step_decay": 3}, 21.0)
    assert timeouts.replay([*strikes[:2], {"step_decay": 1.5}], fresh, lim) is None


def test_the_processes_share_the_timeouts_they_have_seen() -> None:
    """Each process starts a test with every process's timeouts so far, and counts a call
    another process has waited on for the short limit as one: a looping function's calls get
    the short limit everywhere once it has (presumably) timed out twice anywhere."""
    names = ("step_decay", "svm_loss")
    one = timeouts.Seen.create(names, 2)
    two = dataclasses.replace(one, rank=1)
    one.calling(None)
    two.calling(None)
    one.add(({}, 0.0), ({"step_decay": 1}, 10.0))
    two.add(({"svm_loss": 4}, 3.0), ({"svm_loss": 4, "step_decay": 1, "other": 1}, 23.0))
    assert one.spent(1.0) == ({"step_decay": 2}, 30.0)  # a name outside the table stays local
    assert two.spent(1.0) == ({"step_decay": 2, "other": 1}, 30.0)
    # A call in flight counts once it has run for ``presume_after`` seconds, at its limit.
    two.calling("step_decay", 10.0)
    assert one.spent(1.0) == ({"step_decay": 2}, 30.0)
    assert one.spent(0.0) == ({"step_decay": 3}, 40.0)
    two.calling(None)
    assert one.spent(0.0) == ({"step_decay": 2}, 30.0)
    one.close()


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
    monkeypatch.setattr(cores, "CGROUP", root)
    monkeypatch.setattr(cores, "PROC_CGROUP", tmp_path / "self-cgroup")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert cores._cgroup_quota() == (0.5 if version == 2 else 1.5)
    assert cores.available_cpus() == 1 and shard.default_shards() == 1


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
