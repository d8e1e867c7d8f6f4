"""The wire format between the trusted grader and the untrusted worker.

One frame is ``>II`` (header length, body length), a JSON header, then a body of raw array bytes.
Values are a small tagged vocabulary: JSON scalars and lists, plus

    {"$": "tuple", "v": [...]}                      a tuple
    {"$": "dict", "v": [[key, value], ...]}         a dict with str/int keys
    {"$": "nd", "dtype": "<f8", "shape": [2, 3],    an ndarray (``scalar``: a numpy scalar),
     "off": 0, "len": 48, "scalar": false}          bytes at body[off:off+len]
    {"$": "float", "v": "nan"}                      nan / inf / -inf
    {"$": "fn", "id": 3}                            a callable held by the *sender*

Nothing here is ever unpickled or evaluated: the decoder rebuilds plain Python values and plain
``numpy.ndarray`` objects from an allowlist of dtypes (research/security.md, c.12: unpickling a
worker's reply runs the student's code in the grader). The decoder is the only parser of bytes the
worker sends, so it is strict: bounded frame size, bounded nesting, exact buffer arithmetic.

This module is imported by the worker too, so it depends on nothing but numpy, the stdlib and
``grader.messages`` (the words of its bounds, which a student reads).
"""

from __future__ import annotations

import json
import math
import socket
import struct
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np

from grader import messages

#: Largest frame either side accepts (header + body).
MAX_FRAME = 64 * 2**20
#: Deepest nesting of containers in a value.
MAX_DEPTH = 32
#: Most values in one message: every container counts its items (an array counts once, however
#: large). Checked with ``len`` before a container is walked, so a dict of millions of entries
#: is refused at once instead of after seconds of encoding (issue 29).
MAX_ENTRIES = 2**20
#: Most decimal digits of an int (Python's own ``int``/``str`` conversion stops at 4300).
MAX_INT_DIGITS = 4000
_INT_BITS = int(MAX_INT_DIGITS / math.log10(2))  # an int of no more bits has <= 4000 digits
_INT_LIMIT = 10**MAX_INT_DIGITS
#: Longest string or int literal (digits) accepted in a value.
MAX_STR = 1 * 2**20
MAX_NDIM = 32
_HEAD = struct.Struct(">II")

#: A trusted stand-in's refusal: "no answer here, run the student's own function" (the worker's
#: ``_StandIns``; sent where a student bundle has no recorded reference answer,
#: grader.grading.answers).
USE_OWN = "grader: no recorded reference answer for this call; the student's own function runs"

#: dtypes that may cross the boundary: booleans, integers, floats, complex. Never objects.
ALLOWED_KINDS = frozenset("biufc")


class ProtocolError(Exception):
    """A frame or value that does not follow the format: the peer is broken or hostile."""


class Closed(ProtocolError):
    """The peer closed the connection (the worker exited or crashed)."""


class Unencodable(TypeError):
    """A value of a type the protocol does not carry (a student returned an object)."""


class TooLarge(Unencodable):
    """A value past one of the bounds above; ``str(exc)`` names the bound, for a student."""


class TooDeep(TooLarge):
    """A value whose containers nest deeper than ``MAX_DEPTH``."""


# -- encoding ------------------------------------------------------------------------------------


class Encoder:
    """Encodes one message; callables are registered with ``register_fn`` and sent by id.

    The bounds are kept while the value is walked, never after: ``_entries`` counts the values
    seen (a container adds its length before its items are visited) and ``_size`` the bytes the
    message will take at least (array buffers exactly, strings and long ints by their length),
    so whatever is too large is refused before the work of encoding it is done. ``frame`` still
    checks the exact size: the running count is a lower bound of it.
    """

    def __init__(self, register_fn: Callable[[Callable[..., Any]], int] | None = None) -> None:
        self._register_fn = register_fn
        self._chunks: list[bytes] = []
        self._size = 0
        self._body = 0
        self._entries = 0

    def value(self, v: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise TooDeep(messages.BOUND_DEPTH.format(bound=MAX_DEPTH))
        # The value's real type, and its contents read through the base class's own slots: a
        # subclass's __len__, __iter__, items or bit_length is the student's code, which can lie
        # about a size or never end, and isinstance believes a __class__ property (issue 29).
        # Each value is turned into its exact base type before it is measured or walked.
        kind = type(v)
        # NumPy first: np.float64 is a subclass of float, and as a JSON number it would lose its
        # dtype (and, for inf and nan, reach the float branch with a repr of its own, issue 16).
        # As raw bytes every numpy scalar keeps its dtype, sign of zero and NaN exactly.
        if issubclass(kind, (np.ndarray, np.generic)):
            return self._array(v)
        if v is None or kind is bool:
            return v
        if issubclass(kind, str):
            return self._str(str.__str__(v))
        if issubclass(kind, int):
            return self._int(int.__int__(v))
        if issubclass(kind, float):
            f = float.__float__(v)
            return f if math.isfinite(f) else {"$": "float", "v": _float_name(f)}
        if issubclass(kind, (tuple, list, dict)):
            if issubclass(kind, tuple):
                n = tuple.__len__(v)
            elif issubclass(kind, list):
                n = list.__len__(v)
            else:
                n = dict.__len__(v)
            self._entries += n  # before any item is visited: a huge one is refused at once
            if self._entries > MAX_ENTRIES:
                raise TooLarge(messages.BOUND_ENTRIES.format(bound=MAX_ENTRIES))
            depth += 1
            if issubclass(kind, tuple):
                items = tuple.__getitem__(v, slice(None))  # an exact tuple of the real items
                return {"$": "tuple", "v": [self.value(x, depth) for x in items]}
            if issubclass(kind, list):
                return [self.value(x, depth) for x in list.copy(v)]
            pairs = []
            for k, x in list(dict.items(v)):
                pairs.append([self._key(k), self.value(x, depth)])
            return {"$": "dict", "v": pairs}
        if callable(v) and self._register_fn is not None:
            return {"$": "fn", "id": self._register_fn(v)}
        raise Unencodable(f"a value of type {kind.__name__}")

    def _str(self, v: str) -> str:
        self._size += len(v)
        if self._size > MAX_FRAME:
            self._too_large("a string")
        return v

    def _int(self, v: int) -> int:
        if v.bit_length() > 64:  # cheap for the ints of every day
            self._long_int(v)
        return v

    def _key(self, k: Any) -> str | int:
        kind = type(k)
        if issubclass(kind, str):
            return self._str(str.__str__(k))
        if issubclass(kind, int) and kind is not bool:
            return self._int(int.__int__(k))
        raise Unencodable(f"dict key of type {kind.__name__}")

    def _grow(self, n: int, what: str) -> None:
        self._size += n
        if self._size > MAX_FRAME:
            self._too_large(what)

    def _too_large(self, what: str) -> NoReturn:
        raise TooLarge(messages.BOUND_BYTES.format(what=what, bound=_size(MAX_FRAME)))

    def _long_int(self, v: int) -> None:
        digits = int(v.bit_length() * math.log10(2)) + 1  # within one of the exact count
        if v.bit_length() > _INT_BITS and abs(v) >= _INT_LIMIT:
            raise TooLarge(messages.BOUND_INT.format(digits=digits, bound=MAX_INT_DIGITS))
        self._grow(digits, "an int")

    def _array(self, v: np.ndarray | np.generic) -> dict[str, Any]:
        scalar = issubclass(type(v), np.generic)
        if not scalar:
            # Before the copy: a broadcast view of 320 GB costs its maker nothing, its copy
            # everything. The base class's descriptors, which a subclass cannot override.
            dtype = _NDARRAY_DTYPE(v)
            if dtype.kind not in ALLOWED_KINDS:
                raise Unencodable(f"an array of dtype {dtype}")
            nbytes = _NDARRAY_NBYTES(v)
            if self._size + nbytes > MAX_FRAME:
                shape = tuple(_NDARRAY_SHAPE(v))
                what = messages.BOUND_ARRAY.format(shape=shape, dtype=dtype, size=_size(nbytes))
                self._grow(nbytes, what)
        # np.array(..., copy=True) drops subclasses and their lying __eq__ (security.md T7).
        arr = np.array(v, copy=True, order="C", subok=False)
        if scalar and arr.dtype.kind not in ALLOWED_KINDS:  # an array's was checked above
            raise Unencodable(f"an array of dtype {arr.dtype}")
        data = arr.tobytes()
        self._size += len(data)  # within the bound: an array's size was checked before its copy
        off = self._body
        self._chunks.append(data)
        self._body += len(data)
        return {
            "$": "nd",
            "dtype": arr.dtype.str,
            "shape": list(arr.shape),
            "off": off,
            "len": len(data),
            "scalar": scalar,
        }

    def frame(self, header: dict[str, Any]) -> bytes:
        head = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
        body = b"".join(self._chunks)
        if len(head) + len(body) > MAX_FRAME:
            what = messages.BOUND_MESSAGE.format(size=_size(len(head) + len(body)))
            raise TooLarge(messages.BOUND_BYTES.format(what=what, bound=_size(MAX_FRAME)))
        return _HEAD.pack(len(head), len(body)) + head + body


_NDARRAY_DTYPE = np.ndarray.dtype.__get__
_NDARRAY_NBYTES = np.ndarray.nbytes.__get__
_NDARRAY_SHAPE = np.ndarray.shape.__get__


def _size(n: int) -> str:
    """Bytes for a reader: ``64 MiB``, ``298 GiB``."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"


def _float_name(v: float) -> str:
    """``"nan"``, ``"inf"`` or ``"-inf"``, whatever ``repr`` a float subclass may have."""
    if math.isnan(v):
        return "nan"
    return "inf" if v > 0 else "-inf"


def encode(
    header: dict[str, Any],
    values: dict[str, Any],
    register_fn: Callable[[Callable[..., Any]], int] | None = None,
) -> bytes:
    """A frame whose header is ``header`` plus each of ``values`` encoded under its key."""
    enc = Encoder(register_fn)
    full = dict(header)
    for key, v in values.items():
        full[key] = enc.value(v)
    return enc.frame(full)


# -- decoding ------------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ProtocolError(f"bare JSON constant {name}")


class Decoder:
    """Rebuilds values from a header and its body; ``make_fn`` turns a peer's fn id into a proxy."""

    def __init__(self, body: bytes, make_fn: Callable[[int], Any] | None = None) -> None:
        self._body = memoryview(body)
        self._make_fn = make_fn
        self._entries = 0

    def _count(self, items: list[Any]) -> list[Any]:
        self._entries += len(items)
        if self._entries > MAX_ENTRIES:
            raise ProtocolError(f"more than {MAX_ENTRIES} values in one message")
        return items

    def value(self, v: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise ProtocolError("value nested too deeply")
        if v is None or isinstance(v, bool):
            return v
        if isinstance(v, int):
            return v
        if isinstance(v, float):
            return v
        if isinstance(v, str):
            if len(v) > MAX_STR:
                raise ProtocolError("string too long")
            return v
        if isinstance(v, list):
            return [self.value(x, depth + 1) for x in self._count(v)]
        if not isinstance(v, dict):
            raise ProtocolError(f"unexpected JSON value of type {type(v).__name__}")
        tag = v.get("$")
        if tag == "tuple":
            return tuple(self.value(x, depth + 1) for x in self._count(_list(v, "v")))
        if tag == "dict":
            out: dict[Any, Any] = {}
            for item in self._count(_list(v, "v")):
                if not isinstance(item, list) or len(item) != 2:
                    raise ProtocolError("dict item is not a pair")
                key = item[0]
                if isinstance(key, bool) or not isinstance(key, (str, int)):
                    raise ProtocolError("dict key is not a str or int")
                out[key] = self.value(item[1], depth + 1)
            return out
        if tag == "float":
            text = v.get("v")
            if text not in ("nan", "inf", "-inf"):
                raise ProtocolError(f"bad float literal {text!r}")
            return float(text)
        if tag == "nd":
            return self._array(v)
        if tag == "fn":
            fid = v.get("id")
            if self._make_fn is None or not isinstance(fid, int) or isinstance(fid, bool):
                raise ProtocolError("unexpected callable")
            return self._make_fn(fid)
        raise ProtocolError(f"unknown tag {tag!r}")

    def _array(self, v: dict[str, Any]) -> Any:
        try:
            dtype = np.dtype(str(v["dtype"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"bad dtype: {exc}") from None
        if dtype.kind not in ALLOWED_KINDS or dtype.hasobject or dtype.fields is not None:
            raise ProtocolError(f"dtype {dtype} is not allowed")
        shape = _list(v, "shape")
        # No axis can be longer than a frame has bytes (an empty array with an axis of 2**62
        # would otherwise reach numpy's own "array is too big").
        if len(shape) > MAX_NDIM or not all(
            isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_FRAME for n in shape
        ):
            raise ProtocolError("bad shape")
        off, length = v.get("off"), v.get("len")
        if not (isinstance(off, int) and isinstance(length, int)) or off < 0 or length < 0:
            raise ProtocolError("bad buffer reference")
        count = math.prod(shape)
        if count * dtype.itemsize != length or off + length > len(self._body):
            raise ProtocolError("buffer size does not match dtype and shape")
        try:
            arr = np.frombuffer(self._body[off : off + length], dtype=dtype).reshape(shape).copy()
        except ValueError as exc:  # e.g. an empty array whose other axes overflow numpy's size
            raise ProtocolError(f"bad shape: {exc}") from None
        if v.get("scalar") is True:
            if arr.ndim != 0:
                raise ProtocolError("scalar with a shape")
            return arr[()]
        return arr


def _list(v: dict[str, Any], key: str) -> list[Any]:
    x = v.get(key)
    if not isinstance(x, list):
        raise ProtocolError(f"field {key!r} is not a list")
    return x


def parse_frame(data: bytes) -> tuple[dict[str, Any], bytes]:
    """Split one complete frame into its JSON header and body (no value decoding)."""
    if len(data) < _HEAD.size:
        raise ProtocolError("truncated frame")
    hlen, blen = _HEAD.unpack_from(data)
    if hlen + blen > MAX_FRAME or len(data) != _HEAD.size + hlen + blen:
        raise ProtocolError("frame length mismatch")
    return _header(bytes(data[_HEAD.size : _HEAD.size + hlen])), bytes(data[_HEAD.size + hlen :])


def _header(raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError(f"bad header: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError("header is not an object")
    return header


# -- sockets -------------------------------------------------------------------------------------


def send(sock: socket.socket, frame: bytes) -> None:
    sock.sendall(frame)


def recv(sock: socket.socket, limit: int = MAX_FRAME) -> tuple[dict[str, Any], bytes]:
    """Read one frame; the socket's own timeout applies to each read."""
    head = _recv_exact(sock, _HEAD.size)
    hlen, blen = _HEAD.unpack(head)
    if hlen + blen > limit:
        raise ProtocolError(f"frame of {hlen + blen} bytes exceeds the {limit}-byte limit")
    header = _header(_recv_exact(sock, hlen))
    body = _recv_exact(sock, blen) if blen else b""
    return header, body


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise Closed("connection closed")
        got += k
    return bytes(buf)
