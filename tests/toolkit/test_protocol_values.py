"""Every value a student function may return crosses the worker boundary unchanged (issue 16).

A loss may come back as a Python float or int, a NumPy scalar of any allowed dtype, a 0-d array,
a bool of either kind; inf, -inf, nan and -0.0 included. Each must reach the test as that value,
with its type and dtype, the sign of its zero and its NaN-ness, so that a wrong answer is judged
(and named: "your loss is -inf") instead of failing as a result "that could not be read back".
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from grader.grading import engine
from grader.sandbox import protocol
from grader.sandbox.host import Limits, Mother, Sandbox

ROOT = Path(__file__).resolve().parents[2]

#: Every dtype of the protocol's allowed kinds (``protocol.ALLOWED_KINDS``: b, i, u, f, c).
DTYPES = [
    np.dtype(t)
    for t in (
        np.bool_,
        np.int8,
        np.int16,
        np.int32,
        np.int64,
        np.uint8,
        np.uint16,
        np.uint32,
        np.uint64,
        np.float16,
        np.float32,
        np.float64,
        np.longdouble,
        np.complex64,
        np.complex128,
    )
]
SPECIAL = (math.inf, -math.inf, math.nan, -0.0, 0.0)


def _element(dtype: np.dtype) -> st.SearchStrategy[Any]:
    """Any value of ``dtype``, its special values drawn often."""
    if dtype.kind in "fc":
        special = st.sampled_from(SPECIAL).map(dtype.type)
        if dtype == np.longdouble:  # Hypothesis draws floats of 16, 32 and 64 bits only
            return st.one_of(special, st.floats().map(dtype.type))
        return st.one_of(special, hnp.from_dtype(dtype))
    return hnp.from_dtype(dtype)


def _numpy_value(dtype: np.dtype) -> st.SearchStrategy[Any]:
    """A NumPy scalar of ``dtype`` or a 0-d array holding one."""
    scalar = _element(dtype).map(dtype.type)
    return st.one_of(scalar, scalar.map(lambda x: np.array(x, dtype=dtype)))


returns = st.one_of(
    st.sampled_from(DTYPES).flatmap(_numpy_value),
    st.booleans(),
    st.integers(-(2**80), 2**80),
    st.sampled_from(SPECIAL),
    st.floats(),
)


def round_trip(value: Any) -> Any:
    frame = protocol.encode({"op": "return", "id": 1}, {"value": value})
    header, body = protocol.parse_frame(frame)
    return protocol.Decoder(body).value(header["value"])


def assert_same(got: Any, sent: Any) -> None:
    """Same type, dtype and shape; same value bit for bit (so the sign of a zero and NaN too)."""
    assert type(got) is type(sent), (got, sent)
    if isinstance(sent, (np.ndarray, np.generic)):
        assert got.dtype == sent.dtype and np.shape(got) == np.shape(sent), (got, sent)
        if sent.dtype.kind in "fc":
            parts = (np.real, np.imag) if sent.dtype.kind == "c" else (np.real,)
            for part in parts:
                assert np.isnan(part(got)) == np.isnan(part(sent)), (got, sent)
                assert np.signbit(part(got)) == np.signbit(part(sent)), (got, sent)
        assert np.asarray(got).tobytes() == np.asarray(sent).tobytes(), (got, sent)
    elif isinstance(sent, float):
        assert math.isnan(got) == math.isnan(sent), (got, sent)
        if not math.isnan(sent):
            assert got == sent and math.copysign(1, got) == math.copysign(1, sent), (got, sent)
    else:
        assert got == sent, (got, sent)


@settings(max_examples=400, deadline=None, database=None, derandomize=True)
@given(returns)
def test_every_value_a_student_may_return_comes_back_as_itself(value: Any) -> None:
    assert_same(round_trip(value), value)


@pytest.mark.parametrize(
    "value",
    [np.float64("inf"), np.float64("-inf"), np.float32("nan"), np.float64(-0.0), -0.0],
    ids=["f64-inf", "f64-minus-inf", "f32-nan", "f64-minus-zero", "py-minus-zero"],
)
def test_the_values_of_the_issue_come_back(value: Any) -> None:
    # Before issue 16, np.float64 took the Python-float branch: -inf was sent as the literal
    # "np.float64(-inf)", which the decoder refused, and a finite one came back a plain float.
    assert_same(round_trip(value), value)


def test_the_decoder_still_accepts_only_its_three_float_names() -> None:
    class Odd(float):
        def __repr__(self) -> str:
            return "__import__('os')"

    assert round_trip(Odd("-inf")) == -math.inf
    with pytest.raises(protocol.ProtocolError, match="bad float literal"):
        protocol.Decoder(b"").value({"$": "float", "v": "np.float64(-inf)"})


# -- through a real worker ------------------------------------------------------------------------

RETURNS = """
import numpy as np

VALUES = [
    np.float64("inf"), np.float64("-inf"), np.float32("nan"), np.float64(-0.0),
    np.array(np.float64("-inf")), np.float16(-0.0), np.complex128(complex("-inf+nanj")),
    np.int64(-3), np.uint8(255), np.bool_(False), True, 2**70, float("-inf"), -0.0,
]


def l2_penalty(i):
    return VALUES[i]
"""


def test_a_worker_returns_each_of_them_unchanged(mother: Mother) -> None:
    namespace: dict[str, Any] = {}
    exec(RETURNS, namespace)
    with Sandbox({"losses.py": RETURNS}, mother=mother) as box:
        worker = box.worker()
        try:
            for i, sent in enumerate(namespace["VALUES"]):
                assert_same(worker.call("losses", "l2_penalty", (i,), {})["value"], sent)
        finally:
            worker.close()


def test_a_non_finite_loss_is_judged_and_named(tmp_path: Path, mother: Mother) -> None:
    """The issue's reproduction: an l2_penalty returning np.float64("inf") fails on its value."""
    sub = tmp_path / "sub"
    sub.mkdir()
    source = (ROOT / "solutions" / "losses.py").read_text(encoding="utf-8")
    old = "    return float(np.sum(W * W))\n"
    assert source.count(old) == 1
    (sub / "losses.py").write_text(source.replace(old, '    return np.float64("inf")\n'))
    result = engine.grade(
        sub, engine.Options(only="l2_penalty", limits=Limits(call_timeout=3.0)), mother=mother
    )
    assert result.grader_error is None
    failed = [t for t in result.tests if t.status == "failed"]
    assert failed and all(t.tags == ("l2_penalty",) for t in failed)
    for t in failed:
        message = t.extra.get("message", t.output)
        assert "could not be read back" not in message, message
    public = [t for t in failed if t.suite == "public"]
    assert public and "`l2_penalty` returned inf where the correct result is finite" in (
        public[0].output
    )
