"""Fuzzing the decoder of worker replies (grader.sandbox.protocol): whatever the worker sends, the
trusted side gets plain values or a ProtocolError, never another exception, never an object it
did not ask for, and never a large allocation decided by the worker."""

from __future__ import annotations

import json
import math
import socket
import struct
import threading
import tracemalloc
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grader.sandbox import protocol

FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: A decode may allocate what its frame holds, a few times over, and nothing near a frame limit.
ALLOCATION_BOUND = 8 * 2**20

PLAIN = (type(None), bool, int, float, str, list, tuple, dict, np.ndarray, np.generic)


def plain(value: Any, fn_ok: bool = False) -> bool:
    """Only the protocol's vocabulary: no subclass, no object dtype, nothing callable."""
    if isinstance(value, (list, tuple)):
        return type(value) in (list, tuple) and all(plain(v, fn_ok) for v in value)
    if isinstance(value, dict):
        return type(value) is dict and all(
            type(k) in (str, int) and plain(v, fn_ok) for k, v in value.items()
        )
    if isinstance(value, np.ndarray):
        return type(value) is np.ndarray and value.dtype.kind in protocol.ALLOWED_KINDS
    if callable(value):
        return fn_ok
    return isinstance(value, PLAIN)


def decode(data: bytes) -> Any:
    """The trusted side's whole path for one frame: split, then decode every value."""
    header, body = protocol.parse_frame(data)
    dec = protocol.Decoder(body, make_fn=lambda fid: lambda *a: fid)
    return {k: dec.value(v) for k, v in header.items()}


def decodes_safely(data: bytes) -> None:
    tracemalloc.start()
    try:
        try:
            out = decode(data)
        except protocol.ProtocolError:
            return
        finally:
            _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert plain(out, fn_ok=True)
    assert peak <= ALLOCATION_BOUND + 4 * len(data), peak


# -- values the worker may legitimately send ------------------------------------------------------

arrays = st.sampled_from(["<f8", "<f4", "<i8", "|b1", "<c16", "|u1"]).flatmap(
    lambda dt: st.lists(st.integers(0, 4), max_size=3).map(
        lambda shape: np.arange(int(np.prod(shape))).astype(dt).reshape(shape)
    )
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    arrays,
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.one_of(st.text(max_size=5), st.integers(-5, 5)), inner, max_size=4),
    ),
    max_leaves=20,
)


def frame_of(value: Any) -> bytes:
    return protocol.encode({"op": "return", "id": 1}, {"value": value})


@FUZZ
@given(values)
def test_every_encodable_value_comes_back_equal(value: Any) -> None:
    out = decode(frame_of(value))["value"]
    assert plain(out)
    assert _same(out, value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(b, (np.ndarray, np.generic)):
        nan_ok = np.asarray(b).dtype.kind in "fc"
        return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=nan_ok)
    if isinstance(b, float) and math.isnan(b):
        return isinstance(a, float) and math.isnan(a)
    if isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in b)
    return bool(a == b) and type(a) is type(b)


# -- what a hostile worker may send instead -------------------------------------------------------


@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes(data: bytes) -> None:
    decodes_safely(data)


@FUZZ
@given(values, st.data())
def test_mutated_valid_frames(value: Any, data: st.DataObject) -> None:
    frame = bytearray(frame_of(value))
    for _ in range(data.draw(st.integers(1, 8))):
        op = data.draw(st.sampled_from(["flip", "cut", "grow", "splice"]))
        i = data.draw(st.integers(0, max(len(frame) - 1, 0)))
        if op == "flip" and frame:
            frame[i] ^= data.draw(st.integers(1, 255))
        elif op == "cut":
            del frame[i:]
        elif op == "grow":
            frame[i:i] = data.draw(st.binary(min_size=1, max_size=16))
        else:
            frame[i : i + 4] = data.draw(st.sampled_from([b'"$"', b"-1", b"1e999", b"{}", b"[["]))
    decodes_safely(bytes(frame))


json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**64), 2**64), st.floats(), st.text(max_size=8)
)
tagged = st.fixed_dictionaries(
    {"$": st.sampled_from(["nd", "tuple", "dict", "float", "fn", "obj", "pickle"])},
    optional={
        "v": st.one_of(json_leaf, st.lists(json_leaf, max_size=3)),
        "dtype": st.one_of(
            st.sampled_from(["<f8", "|O", "V8", "<M8[s]", "S3", "<U2", "f8,i4", "(2,)f8", "?"]),
            st.text(max_size=12),
        ),
        "shape": st.one_of(
            st.lists(st.integers(-(2**64), 2**64), max_size=4),
            st.lists(st.sampled_from([0, 1, 2**31, 2**62, 2**63]), max_size=4),
            json_leaf,
        ),
        "off": st.one_of(st.integers(-(2**64), 2**64), json_leaf),
        "len": st.one_of(st.integers(-(2**64), 2**64), json_leaf),
        "scalar": json_leaf,
        "id": json_leaf,
    },
)
hostile_json = st.recursive(
    st.one_of(json_leaf, tagged),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


@FUZZ
@given(hostile_json, st.binary(max_size=256))
def test_hostile_headers(value: Any, body: bytes) -> None:
    head = json.dumps({"op": "return", "id": 1, "value": value}).encode()
    decodes_safely(struct.pack(">II", len(head), len(body)) + head + body)


@pytest.mark.parametrize(
    "shape",
    [
        [2**40, 2**40],
        [0, 2**63],
        [2**62, 0, 2**62],
        [0] + [2**26] * 31,
        [-1],
        [1] * 33,
        [2**31] * 3,
    ],
)
def test_absurd_shapes_are_refused_without_allocating(shape: list[int]) -> None:
    nd = {"$": "nd", "dtype": "<f8", "shape": shape, "off": 0, "len": 0, "scalar": False}
    head = json.dumps({"op": "return", "id": 1, "value": nd}).encode()
    decodes_safely(struct.pack(">II", len(head), 0) + head)


def test_deep_nesting_is_refused() -> None:
    for depth in (protocol.MAX_DEPTH + 2, 5000, 200_000):
        head = ("[" * depth + "]" * depth).encode()
        frame = struct.pack(">II", len(head) + 11, 0) + b'{"value": ' + head + b"}"
        with pytest.raises(protocol.ProtocolError):
            decode(frame)


def _send_and_recv(raw: bytes, close: bool = True) -> None:
    ours, theirs = socket.socketpair()
    ours.settimeout(5)

    def worker() -> None:
        theirs.sendall(raw)
        if close:
            theirs.close()

    t = threading.Thread(target=worker)
    t.start()
    try:
        tracemalloc.start()
        try:
            protocol.recv(ours)
        finally:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        pytest.fail("a frame was accepted")
    except protocol.ProtocolError:
        assert peak < ALLOCATION_BOUND
    finally:
        t.join()
        ours.close()
        if not close:
            theirs.close()


@pytest.mark.parametrize(
    ("hlen", "blen"),
    [(2**32 - 1, 0), (0, 2**32 - 1), (protocol.MAX_FRAME, 1), (2**31, 2**31)],
)
def test_huge_declared_sizes_are_refused_before_reading(hlen: int, blen: int) -> None:
    # The worker claims gigabytes and sends 8 bytes: refused at once, nothing allocated.
    _send_and_recv(struct.pack(">II", hlen, blen), close=False)


@FUZZ
@given(st.binary(max_size=64))
def test_a_connection_that_ends_mid_frame(data: bytes) -> None:
    head = b'{"op": "return", "id": 1}'
    _send_and_recv(struct.pack(">II", len(head), 16) + head + data[:15])
