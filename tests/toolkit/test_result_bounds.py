"""What a worker cannot send back is refused as that, at once, in words naming the bound (issue 29).

The encoder keeps its bounds while it walks a value (``grader.sandbox.protocol.Encoder``): a
container's length is counted before its items are visited, an array's size is read before it is
copied, an int's size before it is turned into digits. A refused result fails the call with a
message the student can act on; the worker lives on, and nothing of the grader (its traceback,
its paths) reaches the student. The corpus cases ``huge_broadcast_view``, ``deeply_nested_list``,
``huge_int`` and ``dict_of_millions`` (test_adversarial.py) hold whole gradings to the same.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import struct
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader import messages
from grader.grading import feedback, student
from grader.sandbox import channel, lockdown, protocol, serve
from grader.sandbox.host import Mother, Sandbox
from grader.sandbox.layers import DEFAULT_LIMITS, StudentError, WorkerGone

GRADER = str(Path(protocol.__file__).resolve().parents[1])


def encode(value: Any) -> bytes:
    return protocol.encode({"op": "return", "id": 1}, {"value": value})


def refused(value: Any) -> protocol.TooLarge:
    with pytest.raises(protocol.TooLarge) as err:
        encode(value)
    return err.value


# -- the encoder ---------------------------------------------------------------------------------


def test_a_broadcast_view_is_refused_by_its_size_before_it_is_copied() -> None:
    view = np.broadcast_to(np.float64(0.5), (200000, 200000))  # 298 GiB, costs nothing
    err = refused(view)
    assert str(err) == messages.BOUND_BYTES.format(
        what=messages.BOUND_ARRAY.format(shape=(200000, 200000), dtype="float64", size="298 GiB"),
        bound="64 MiB",
    )


def test_an_array_subclass_cannot_hide_its_size() -> None:
    class Small(np.ndarray):
        nbytes = 8  # type: ignore[assignment]
        size = 1  # type: ignore[assignment]
        shape = (1,)  # type: ignore[assignment]

    view = np.broadcast_to(np.float64(0.5), (100000, 100000)).view(Small)
    assert "74.5 GiB" in str(refused(view))


def test_containers_past_the_entry_bound_are_refused_without_being_walked() -> None:
    class Unwalkable(dict[int, float]):
        def items(self) -> Any:
            raise AssertionError("the encoder walked a container it had to refuse")

    class UnwalkableList(list[float]):
        def __iter__(self) -> Any:
            raise AssertionError("the encoder walked a container it had to refuse")

    bound = messages.BOUND_ENTRIES.format(bound=protocol.MAX_ENTRIES)
    big = Unwalkable.fromkeys(range(5_000_000), 0.5)
    assert str(refused(big)) == bound
    assert str(refused(UnwalkableList([0.0]) * (protocol.MAX_ENTRIES + 1))) == bound
    # Spread over many small containers, the count is the same.
    assert str(refused([[0.0] * 1024] * 1024)) == bound


def test_entries_up_to_the_bound_cross_unchanged() -> None:
    value = [0] * (protocol.MAX_ENTRIES - 1)
    header, body = protocol.parse_frame(encode([value]))
    assert protocol.Decoder(body).value(header["value"]) == [value]


def test_nesting_past_the_depth_bound_is_refused() -> None:
    deep: Any = 1.0
    for _ in range(10_000):
        deep = [deep]
    err = refused(deep)
    assert isinstance(err, protocol.TooDeep)
    assert str(err) == messages.BOUND_DEPTH.format(bound=protocol.MAX_DEPTH)
    ok: Any = 1.0
    for _ in range(protocol.MAX_DEPTH):
        ok = (ok,)
    header, body = protocol.parse_frame(encode(ok))
    assert protocol.Decoder(body).value(header["value"]) == ok


def test_ints_are_bounded_by_their_digits() -> None:
    bound = protocol.MAX_INT_DIGITS
    largest = 10**bound - 1
    for ok in (largest, -largest, 2**64, 10**bound // 3):
        header, body = protocol.parse_frame(encode({"v": ok}))
        assert protocol.Decoder(body).value(header["value"]) == {"v": ok}
    assert "about 4,001 digits" in str(refused(10**bound))
    assert "about 1,023,503 digits" in str(refused(1 << 3_400_000))
    assert "bound of 4,000 digits" in str(refused({1 << 20_000: 0}))  # as a key too


def test_strings_and_long_ints_count_towards_the_byte_bound() -> None:
    big = "x" * 2**20
    assert str(refused([big] * 100)) == messages.BOUND_BYTES.format(what="a string", bound="64 MiB")
    assert "an int takes it past" in str(refused([10**3999] * 100_000))
    assert "(float64, 8 MiB) takes it past" in str(refused([np.zeros(2**20)] * 9))


def _walked(*_: Any) -> Any:
    raise AssertionError("the encoder called the student's own method")


def _decoded(value: Any) -> Any:
    header, body = protocol.parse_frame(encode(value))
    return protocol.Decoder(body).value(header["value"])


def test_a_subclass_cannot_lie_about_its_size_or_contents() -> None:
    """The encoder reads a container through the base class's slots, never the student's
    __len__, __iter__, keys or items: a lie cannot pass a bound or make the walk endless."""

    class Lying(list[float]):
        __len__ = lambda self: 0  # noqa: E731
        __iter__ = __getitem__ = _walked

    class LyingTuple(tuple[float, ...]):
        __len__ = lambda self: 0  # noqa: E731
        __iter__ = __getitem__ = _walked

    class LyingDict(dict[Any, Any]):
        __len__ = lambda self: 0  # noqa: E731
        __iter__ = keys = items = values = __getitem__ = _walked

    class LyingStr(str):
        __len__ = lambda self: 0  # noqa: E731
        __str__ = __iter__ = _walked

    bound = messages.BOUND_ENTRIES.format(bound=protocol.MAX_ENTRIES)
    many = range(protocol.MAX_ENTRIES + 1)
    assert str(refused(Lying(0.5 for _ in many))) == bound
    assert str(refused(LyingTuple(0.5 for _ in many))) == bound
    assert str(refused(LyingDict.fromkeys(many, 0.5))) == bound
    big = LyingStr("x" * 2**20)
    assert str(refused([big] * 100)) == messages.BOUND_BYTES.format(what="a string", bound="64 MiB")
    # Within the bounds, what crosses is the real contents, as the exact base types.
    value = _decoded([Lying([1.0]), LyingTuple((2.0,)), LyingDict({"a": LyingStr("b")})])
    assert value == [[1.0], (2.0,), {"a": "b"}]
    assert [type(x) for x in value] == [list, tuple, dict] and type(value[2]["a"]) is str


def test_an_int_subclass_cannot_lie_about_its_digits() -> None:
    class Small(int):
        bit_length = lambda self: 1  # noqa: E731
        __int__ = __index__ = __str__ = __repr__ = _walked

    err = "bound of 4,000 digits"
    assert err in str(refused(Small(10**5000)))
    assert err in str(refused({Small(10**5000): 0}))  # as a key too
    assert type(_decoded(Small(7))) is int and _decoded({Small(7): Small(8)}) == {7: 8}


def test_a_false_class_is_not_believed() -> None:
    class Pretender:
        __class__ = list  # type: ignore[assignment]
        __len__ = lambda self: 0  # noqa: E731
        __iter__ = _walked

    assert isinstance(Pretender(), list)
    with pytest.raises(protocol.Unencodable, match="a value of type Pretender"):
        encode(Pretender())


def test_the_decoder_counts_entries_too() -> None:
    head = json.dumps({"value": [0] * (protocol.MAX_ENTRIES + 1)}).encode()
    header, body = protocol.parse_frame(struct.pack(">II", len(head), 0) + head)
    with pytest.raises(protocol.ProtocolError, match="more than 1048576 values"):
        protocol.Decoder(body).value(header["value"])


# -- the worker's side ---------------------------------------------------------------------------


class _Exploding(list[int]):
    def __iter__(self) -> Any:
        raise ValueError("no iterating me")


@pytest.mark.parametrize(
    ("exc", "kind", "message"),
    [
        (protocol.TooDeep("d"), "ResultTooDeep", "d"),
        (RecursionError("r"), "ResultTooDeep", "recursion limit"),
        (protocol.TooLarge("l"), "ResultTooLarge", "l"),
        (MemoryError(), "ResultTooLarge", messages.RESULT_OUT_OF_MEMORY),
        (protocol.Unencodable("a value of type X"), "BadReturn", "a value of type X"),
        (ValueError("no"), "BadReturn", "failed with ValueError: no"),
        (SystemExit(3), "BadReturn", "failed with SystemExit: 3"),
    ],
)
def test_every_failure_to_encode_is_a_refusal_without_a_traceback(
    exc: BaseException, kind: str, message: str
) -> None:
    reply = serve.refusal(exc)
    assert reply["type"] == kind and message in reply["message"] and reply["traceback"] == ""


def test_a_students_traceback_keeps_their_frames_and_drops_the_graders() -> None:
    code = compile(
        "def softmax(x):\n    return Decoder(b'').value({'$': 'bogus'})\n", "losses.py", "exec"
    )
    namespace: dict[str, Any] = {"Decoder": protocol.Decoder}
    exec(code, namespace)
    try:
        namespace["softmax"](1)
    except protocol.ProtocolError as exc:
        text = serve.describe(exc)["traceback"]
    assert 'File "losses.py", line 2, in softmax' in text
    assert "ProtocolError: unknown tag 'bogus'" in text
    assert GRADER not in text and "grader/sandbox" not in text


def test_a_workers_last_word_reaches_staff_and_not_the_student() -> None:
    ours, theirs = socket.socketpair()
    try:
        try:
            raise protocol.ProtocolError("the grader's own failure")
        except protocol.ProtocolError as exc:
            lockdown._last_word(theirs.fileno(), exc)
        ours.settimeout(5)
        reply, _ = protocol.recv(ours)
    finally:
        ours.close()
        theirs.close()
    public, staff = channel._fatal(reply)
    assert public == messages.WORKER_FAILED.format(type="ProtocolError")
    assert GRADER not in public and "the grader's own failure" in staff and "lockdown" not in public


# -- through a real worker -----------------------------------------------------------------------

RETURNS = """
import sys
import numpy as np


class Exploding(list):
    def __iter__(self):
        raise SystemExit(3)


class Lying(list):
    def __len__(self):
        return 0

    def __iter__(self):
        return iter([])


def softmax(kind):
    if kind == "view":
        return np.broadcast_to(np.float64(0.5), (200000, 200000))
    if kind == "dict":
        return dict.fromkeys(range(3_000_000), 0.5)
    if kind == "int":
        return 1 << 3_400_000
    if kind == "exit":
        return Exploding([1, 2])
    if kind == "lying":
        return Lying(0.5 for _ in range(3_000_000))
    if kind == "shallow":
        sys.setrecursionlimit(45)
        value = 1.0
        for _ in range(30):
            value = [value]
        return value
    return [1.0, 2.0]
"""


def test_a_worker_refuses_each_result_and_lives_on(mother: Mother) -> None:
    with Sandbox({"losses.py": RETURNS}, mother=mother) as box:
        worker = box.worker()
        try:
            seen = {}
            for kind in ("view", "dict", "int", "lying", "shallow"):
                with pytest.raises(StudentError) as err:
                    worker.call("losses", "softmax", (kind,), {})
                failure = student.failure_from(err.value, "softmax", "losses")
                seen[kind] = (err.value.type, failure.message)
                assert err.value.traceback == "" and GRADER not in failure.message
            # The same worker answers: no refusal ended it.
            assert worker.call("losses", "softmax", ("fine",), {})["value"] == [1.0, 2.0]
            # A subclass's own __iter__ is never called: its real items cross (issue 29).
            assert worker.call("losses", "softmax", ("exit",), {})["value"] == [1, 2]
        finally:
            worker.close()
    assert {seen[k][0] for k in ("view", "dict", "int", "lying")} == {"ResultTooLarge"}
    assert "298 GiB" in seen["view"][1] and "64 MiB bound" in seen["view"][1]
    assert "more than 1,048,576 values" in seen["dict"][1]
    assert "more than 1,048,576 values" in seen["lying"][1]
    assert "bound of 4,000 digits" in seen["int"][1]
    assert seen["shallow"][0] == "ResultTooDeep" and "recursion limit (45)" in seen["shallow"][1]


@pytest.mark.skipif(sys.platform != "linux", reason="rlimits as Linux sets them")
def test_a_worker_that_cannot_lock_down_says_so_to_staff_only(mother: Mother) -> None:
    """A lock-down that fails (here an rlimit the kernel refuses) is the grader's failure: the
    student reads WORKER_FAILED, not "your code called exit()", and no traceback."""
    limits = dataclasses.replace(DEFAULT_LIMITS, nofile=2**40)
    with Sandbox({"losses.py": RETURNS}, limits=limits, mother=mother) as box:
        worker = box.worker()
        with pytest.raises(WorkerGone) as err:
            worker.call("losses", "softmax", ("fine",), {})
        worker.close()
    assert err.value.reason == messages.WORKER_FAILED.format(type="ValueError")
    assert "setrlimit" in err.value.staff and "lockdown.py" in err.value.staff
    assert err.value.grader_fault and _explained(err.value).staff["suspect_grader"] is True


FORGES = """
import gc
import json
import os
import socket
import struct


def softmax(x):
    head = json.dumps({"op": "fatal", "type": "ValueError", "traceback": "forged"}).encode()
    for sock in [o for o in gc.get_objects() if isinstance(o, socket.socket)]:
        try:  # the worker's own; others the zygote left may be closed
            sock.sendall(struct.pack(">II", len(head), 0) + head)
        except OSError:
            pass
    os._exit(3)
"""


def _explained(exc: WorkerGone) -> feedback.Feedback:
    try:
        raise exc
    except WorkerGone:
        return feedback.explain(pytest.ExceptionInfo.from_current(), ("softmax",))


def test_a_fatal_frame_from_student_code_is_not_the_graders(mother: Mother) -> None:
    """Student code can write a ``fatal`` frame to the worker's socket: after the worker's
    ``ready`` frame one is not believed, and the exit reads as the student's own (issue 29)."""
    with Sandbox({"losses.py": FORGES}, mother=mother) as box:
        worker = box.worker()
        with pytest.raises(WorkerGone) as err:
            worker.call("losses", "softmax", (1.0,), {})
        worker.close()
    gone = err.value
    assert gone.reason == messages.CALLED_EXIT.format(status=3)
    assert not gone.grader_fault
    assert gone.staff.startswith(messages.FATAL_UNVERIFIED) and "forged" in gone.staff
    fb = _explained(gone)
    assert "internal error" not in fb.public and "suspect_grader" not in fb.staff
    assert fb.staff["worker_unverified"] is True and "forged" in fb.staff["worker"]
