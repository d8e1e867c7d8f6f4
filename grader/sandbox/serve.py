"""A locked-down worker serving calls of student code over its socket (``grader.sandbox.protocol``).

Each call runs the student's function with the other assignment functions replaced by handles
to the trusted side's stand-ins (DESIGN.md contract 6); what comes back is plain values.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import socket
import sys
import traceback
import types
from collections.abc import Callable
from typing import Any

from grader import messages
from grader.sandbox import protocol
from grader.sandbox.probe import probe

#: Names of the student modules (the zygote's ``modules``, from the pack's manifest): found
#: only in the scratch directory, never elsewhere. Set once per zygote, before any worker.
STUDENT_MODULES: tuple[str, ...] = ()


# -- child: serve calls --------------------------------------------------------------------------


class CallbackFailed(Exception):
    """A callable from the grader raised; its message is the grader's, not ours."""


class Worker:
    """Answers calls; while waiting on a callback it answers nested calls (reentrant RPC)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fns: dict[int, Callable[..., Any]] = {}
        self.next_call = 0

    # values

    def _register(self, fn: Callable[..., Any]) -> int:
        fid = len(self.fns) + 1
        self.fns[fid] = fn
        return fid

    def _remote(self, fid: int) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            return self.callback(fid, args, kwargs)

        call.__name__ = call.__qualname__ = f"grader_callable_{fid}"
        return call

    def _send(self, header: dict[str, Any], values: dict[str, Any]) -> None:
        protocol.send(self.sock, protocol.encode(header, values, self._register))

    def _recv(self) -> tuple[dict[str, Any], Any]:
        header, body = protocol.recv(self.sock)
        return header, protocol.Decoder(body, self._remote)

    # loop

    def serve(self) -> None:
        # Locked down, and no student code has run yet: from here on a ``fatal`` frame may be
        # the student's, so the trusted side believes one only before this (issue 29).
        self._send({"op": "ready"}, {})
        while True:
            header, dec = self._recv()
            if header.get("op") == "exit":
                return
            self.handle(header, dec)

    def callback(self, fid: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        self.next_call += 1
        cid = -self.next_call
        _flush()
        self._send({"op": "callback", "id": cid, "fn": fid}, {"args": args, "kwargs": kwargs})
        while True:
            header, dec = self._recv()
            op = header.get("op")
            if op == "return" and header.get("id") == cid:
                return dec.value(header.get("value"))
            if op == "raise" and header.get("id") == cid:
                raise CallbackFailed(str(header.get("message", "")))
            self.handle(header, dec)

    def handle(self, header: dict[str, Any], dec: Any) -> None:
        op, cid = header.get("op"), header.get("id")
        try:
            if op == "call":
                result = self.call(header, dec)
            elif op == "torch":
                result = self.torch_op(header, dec)
            elif op == "call_fn":
                fn = self.fns[int(header["fn"])]
                result = fn(*dec.value(header["args"]), **dec.value(header["kwargs"]))
            elif op == "probe":
                result = probe(dec.value(header["value"]))
            else:
                raise protocol.ProtocolError(f"unknown op {op!r}")
        except BaseException as exc:  # student code may raise anything, SystemExit included
            _flush()
            self._send({"op": "error", "id": cid, **describe(exc)}, {})
            return
        _flush()
        try:
            frame = protocol.encode({"op": "return", "id": cid}, {"value": result}, self._register)
        except BaseException as exc:  # the student's objects run here too (a list's __iter__)
            self._send({"op": "error", "id": cid, **refusal(exc)}, {})
            return
        protocol.send(self.sock, frame)

    def call(self, header: dict[str, Any], dec: Any) -> Any:
        module = load(str(header["module"]))
        name = str(header["name"])
        if not hasattr(module, name):
            raise MissingName(name, sorted(n for n in vars(module) if not n.startswith("_")))
        fn = getattr(module, name)
        args = dec.value(header["args"])
        kwargs = dec.value(header["kwargs"])
        standins = dec.value(header.get("standins", {"$": "dict", "v": []}))
        before = _snapshot(args, kwargs)
        with _StandIns(standins, exclude=name):
            value = fn(*args, **kwargs)
        return {"value": value, "mutated": _changed(before, args, kwargs)}

    def torch_op(self, header: dict[str, Any], dec: Any) -> Any:
        """Forward (and backward for a given upstream gradient) of a student autograd class."""
        import numpy as np
        import torch

        module = load(str(header["module"]))
        name = str(header["name"])
        if not hasattr(module, name):
            raise MissingName(name, sorted(n for n in vars(module) if not n.startswith("_")))
        cls = getattr(module, name)
        v = dec.value(header["value"])
        device = torch.device(str(v["device"]))
        inputs: list[Any] = []
        for x in v["inputs"]:
            if isinstance(x, np.ndarray) and x.dtype.kind == "f":
                inputs.append(torch.tensor(x, device=device, requires_grad=True))
            elif isinstance(x, np.ndarray):
                kind = torch.bool if x.dtype.kind == "b" else torch.long
                inputs.append(torch.tensor(x, device=device, dtype=kind))
            else:
                inputs.append(x)
        out = cls.apply(*inputs)
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"{name}.apply returned {type(out).__name__}, not a tensor")
        result: dict[str, Any] = {
            "output": out.detach().cpu().numpy(),
            "output_device": str(out.device),
            "output_dtype": str(out.dtype).replace("torch.", ""),
        }
        if v.get("grad_output") is not None:
            g = torch.tensor(v["grad_output"], dtype=out.dtype, device=out.device)
            if out.dim() == 0 and g.dim() == 0:
                # The same upstream gradient reaches the student's backward (1 * g, exactly),
                # without backward(g)'s shape check, whose first use imports sympy (~0.3 s).
                (out * g).backward()  # type: ignore[no-untyped-call]
            else:  # not a scalar: backward(g) says what is wrong, as it always did
                out.backward(g)  # type: ignore[no-untyped-call]
            grads = [x.grad if isinstance(x, torch.Tensor) else None for x in inputs]
            result["grads"] = [None if d is None else d.detach().cpu().numpy() for d in grads]
            first = next(
                (x for x in inputs if isinstance(x, torch.Tensor) and x.requires_grad), None
            )
            grad = None if first is None else first.grad
            result["grad"] = None if grad is None else grad.detach().cpu().numpy()
            result["grad_device"] = None if grad is None else str(grad.device)
        return result


def _snapshot(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    named = {**{str(i): a for i, a in enumerate(args)}, **kwargs}
    return {k: np.array(v, copy=True) for k, v in named.items() if isinstance(v, np.ndarray)}


def _changed(before: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str]:
    """Which array arguments the call modified in place (by position or keyword)."""
    import numpy as np

    named = {**{str(i): a for i, a in enumerate(args)}, **kwargs}
    return [
        k
        for k, old in before.items()
        if not (
            isinstance(named[k], np.ndarray)
            and named[k].shape == old.shape
            and np.array_equal(named[k], old, equal_nan=old.dtype.kind in "fc")
        )
    ]


class MissingName(AttributeError):
    def __init__(self, name: str, available: list[str]) -> None:
        super().__init__(name)
        self.missing = name
        self.available = available


def load(name: str) -> types.ModuleType:
    if name not in STUDENT_MODULES:
        raise protocol.ProtocolError(f"{name!r} is not a student module")
    return importlib.import_module(name)


class _StandIns:
    """Point other assignment functions at the grader's stand-ins for the length of one call.

    Only bindings that *are* the student's own definition are replaced (the defining module's
    global, and ``from layers import x`` copies of it), so a private helper that merely shares a
    name is left alone. Assignment contract 6: one bug costs points once.
    """

    def __init__(self, standins: dict[str, Any], exclude: str) -> None:
        self.standins = {k: v for k, v in standins.items() if k != exclude}
        self.saved: list[tuple[dict[str, Any], str, Any]] = []

    def __enter__(self) -> None:
        if not self.standins:
            return
        mods = [sys.modules[m] for m in STUDENT_MODULES if m in sys.modules]
        for name, standin in self.standins.items():
            originals = [vars(m)[name] for m in mods if name in vars(m)]
            if not originals:
                continue
            owner = next((m for m in mods if _defined_in(vars(m).get(name), m)), None)
            original = vars(owner)[name] if owner is not None else None
            handle = _or_own(standin, original)
            for m in mods:
                ns = vars(m)
                if name in ns and (ns[name] is original or m is owner):
                    self.saved.append((ns, name, ns[name]))
                    ns[name] = handle

    def __exit__(self, *exc: object) -> None:
        for ns, name, value in reversed(self.saved):
            ns[name] = value
        self.saved.clear()


def _or_own(standin: Any, own: Any) -> Any:
    """The stand-in, or the student's own function where the grader answers ``USE_OWN``.

    A student bundle has recorded reference answers instead of the reference
    (grader.grading.answers);
    for a call it holds no answer to, the student's own function runs, as plain Python would.
    """
    if own is None:
        return standin

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return standin(*args, **kwargs)
        except CallbackFailed as exc:
            if str(exc) != protocol.USE_OWN:
                raise
        return own(*args, **kwargs)

    call.__name__ = call.__qualname__ = getattr(standin, "__name__", "standin")
    return call


def _defined_in(obj: Any, module: types.ModuleType) -> bool:
    return getattr(obj, "__module__", None) == module.__name__


def refusal(exc: BaseException) -> dict[str, str]:
    """Why a result cannot be sent, as an error reply: which bound it met, or what broke.

    Never a traceback: encoding is the grader's code, and what failed in it is the result's
    size or type, which the message says (issue 29: a 320 GB broadcast view made the encoder
    raise numpy's memory error, and the student read the grader's traceback)."""
    if isinstance(exc, (protocol.TooDeep, RecursionError)):
        kind = "ResultTooDeep"
        message = str(exc) if isinstance(exc, protocol.TooDeep) else _bound_depth()
    elif isinstance(exc, protocol.TooLarge):
        kind, message = "ResultTooLarge", str(exc)
    elif isinstance(exc, MemoryError):
        kind, message = "ResultTooLarge", messages.RESULT_OUT_OF_MEMORY
    elif isinstance(exc, protocol.Unencodable):
        kind, message = "BadReturn", str(exc)
    else:
        kind = "BadReturn"
        message = messages.RESULT_UNREADABLE.format(type=type(exc).__name__, message=_text(exc))
    return {"type": kind, "message": message[:2000], "traceback": ""}


def _bound_depth() -> str:
    return messages.BOUND_RECURSION.format(limit=sys.getrecursionlimit())


def _text(exc: BaseException) -> str:
    try:
        return str(exc)[:500]
    except BaseException:
        return f"<{type(exc).__name__} whose message cannot be shown>"


def describe(exc: BaseException) -> dict[str, str]:
    """An exception as strings: the only form in which it crosses the boundary."""
    if isinstance(exc, MissingName):
        return {
            "type": "MissingName",
            "message": exc.missing,
            "available": json.dumps(exc.available[:200]),
            "traceback": "",
        }
    text = _student_traceback(exc)
    try:
        message = str(exc)
    except BaseException:
        message = f"<{type(exc).__name__} whose message cannot be shown>"
    return {"type": type(exc).__name__, "message": message[:4000], "traceback": text[-8000:]}


#: The grader's package folder: frames of files under it are ours, not the student's.
_GRADER = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _student_traceback(exc: BaseException) -> str:
    """The traceback without the grader's own frames (the serving loop, a stand-in's handle):
    the student needs their code's lines, and never the grader's paths (issue 29)."""
    try:
        top = traceback.TracebackException.from_exception(exc)
        todo, seen = [top], set()
        while todo:
            t = todo.pop()
            if id(t) in seen:
                continue
            seen.add(id(t))
            kept = [f for f in t.stack if not f.filename.startswith(_GRADER)]
            t.stack = traceback.StackSummary.from_list(kept)
            todo += [c for c in (t.__cause__, t.__context__) if c is not None]
        return "".join(top.format())
    except BaseException:  # a student's exception whose message cannot be shown
        return ""


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
