"""One forked worker seen from the trusted side: a ``Worker`` proxies calls over its socket
(arguments out as copies, values back decoded by ``grader.sandbox.protocol``, never unpickled;
callables stay here as handles the worker calls back), times them out, and keeps what it prints
within bounds.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import time
from collections.abc import Callable
from typing import Any, Protocol

from grader import messages
from grader.sandbox import protocol
from grader.sandbox.layers import Limits, StudentError, WorkerGone


class Owner(Protocol):
    """What a worker needs of the sandbox that forked it (``grader.sandbox.host.Sandbox``; a
    protocol, so that this module does not import the one that imports it)."""

    limits: Limits

    @property
    def _parent(self) -> Owner | None: ...
    def timeout_for(self, name: str) -> float: ...
    def timed_out(self, name: str, seconds: float) -> str: ...
    def call_started(self, name: str, limit: float) -> None: ...
    def call_ended(self, name: str, limit: float, used: float, timed_out: bool) -> None: ...
    def _reap(self, pid: int) -> int | None: ...
    def _release(self, pid: int) -> None: ...
    def _forget(self, w: Worker) -> None: ...


# -- one worker (one test) -----------------------------------------------------------------------


class Worker:
    """A proxy to one forked worker process."""

    def __init__(self, sandbox: Owner, pid: int, sock: socket.socket, out_fd: int) -> None:
        self.sandbox = sandbox
        self.pid = pid
        self.sock = sock
        self.gone: WorkerGone | None = None
        self.output = _BoundedOutput(out_fd, sandbox.limits)
        self._poll = select.poll()
        self._poll.register(sock.fileno(), select.POLLIN)
        self._poll.register(out_fd, select.POLLIN)
        self._fns: dict[int, Callable[..., Any]] = {}
        self._next_fid = 0
        self._next_id = 0
        self.calls = 0
        # Whether the worker said it is locked down and about to serve (its ``ready`` frame):
        # after that, the student's code may write anything to the socket, a ``fatal`` frame
        # too, so one is no longer the grader's word (issue 29).
        self._ready = False
        self._unverified = ""  # the last such frame, for staff, should the worker die

    # values

    def _register(self, fn: Callable[..., Any]) -> int:
        self._next_fid += 1
        fid = self._next_fid
        self._fns[fid] = fn
        return fid

    def _remote(self, fid: int) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            return self.request({"op": "call_fn", "fn": fid}, {"args": args, "kwargs": kwargs})

        return call

    # calls

    def call(
        self,
        module: str,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        standins: dict[str, Callable[..., Any]] | None = None,
    ) -> Any:
        header = {"op": "call", "module": module, "name": name}
        values = {"args": args, "kwargs": kwargs, "standins": standins or {}}
        return self.request(header, values)

    def torch_op(self, module: str, name: str, value: dict[str, Any]) -> dict[str, Any]:
        result = self.request({"op": "torch", "module": module, "name": name}, {"value": value})
        if not isinstance(result, dict):
            raise WorkerGone("the worker answered a torch operation with a malformed reply")
        return result

    def request(self, header: dict[str, Any], values: dict[str, Any]) -> Any:
        if self.gone is not None:
            raise self.gone
        self._next_id += 1
        cid = self._next_id
        self.calls += 1
        first_fid = self._next_fid + 1
        try:
            return self._request(cid, header, values)
        finally:
            # A handle (a reference stand-in, a callable argument) lives as long as the call it
            # was sent with: one stashed by the student and called later finds nothing here.
            for fid in range(first_fid, self._next_fid + 1):
                self._fns.pop(fid, None)

    def _request(self, cid: int, header: dict[str, Any], values: dict[str, Any]) -> Any:
        try:
            frame = protocol.encode({**header, "id": cid}, values, self._register)
            protocol.send(self.sock, frame)
        except OSError:
            raise self._die(None) from None
        name = str(header.get("name", header["op"]))
        limit = self.sandbox.timeout_for(name)
        deadline = time.monotonic() + limit
        timed_out = False
        self.sandbox.call_started(name, limit)
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    raise self._die(self.sandbox.timed_out(name, limit))
                if not self._wait_for_reply(remaining):
                    continue
                self.sock.settimeout(max(deadline - time.monotonic(), 0.001))
                try:
                    reply, body = protocol.recv(self.sock)
                except TimeoutError:
                    continue
                except protocol.Closed:
                    raise self._die(None) from None
                except (protocol.ProtocolError, OSError) as exc:
                    raise self._die(messages.BAD_REPLY.format(detail=exc)) from None
                dec = protocol.Decoder(body, self._remote)
                op = reply.get("op")
                if op == "ready":
                    self._ready = True
                    continue
                if op == "fatal":  # the worker's own last word (``lockdown._last_word``)
                    if not self._ready:
                        raise self._die(*_fatal(reply), grader_fault=True)
                    self._unverified = _unverified(reply)  # kept for staff, else ignored
                    continue
                try:
                    if op == "callback":
                        paused = time.monotonic()
                        self._answer_callback(reply, dec)
                        deadline += time.monotonic() - paused
                        continue
                    if reply.get("id") != cid:
                        unknown = reply.get("id")
                        raise protocol.ProtocolError(f"reply to an unknown call {unknown!r}")
                    if op == "return":
                        return dec.value(reply.get("value"))
                    if op == "error":
                        raise StudentError(
                            str(reply.get("type", "Exception")),
                            str(reply.get("message", "")),
                            str(reply.get("traceback", "")),
                            str(reply.get("available", "")),
                        )
                    raise protocol.ProtocolError(f"unknown reply {op!r}")
                except protocol.ProtocolError as exc:
                    raise self._die(messages.BAD_REPLY.format(detail=exc)) from None
        finally:
            # How long it ran against its limit (callbacks to the trusted side not counted).
            used = limit if timed_out else min(limit, limit - (deadline - time.monotonic()))
            self.sandbox.call_ended(name, limit, used, timed_out)

    def _answer_callback(self, reply: dict[str, Any], dec: protocol.Decoder) -> None:
        cid = reply.get("id")
        fn = self._fns.get(reply.get("fn"))  # type: ignore[arg-type]
        if fn is None:
            frame = protocol.encode({"op": "raise", "id": cid, "message": messages.EXPIRED}, {})
            try:
                protocol.send(self.sock, frame)
            except OSError:
                raise self._die(None) from None
            return
        args = dec.value(reply.get("args"))
        kwargs = dec.value(reply.get("kwargs"))
        if not isinstance(args, tuple) or not isinstance(kwargs, dict):
            raise protocol.ProtocolError("malformed callback arguments")
        try:
            result = fn(*args, **kwargs)
        except WorkerGone:
            raise
        except Exception as exc:
            frame = protocol.encode({"op": "raise", "id": cid, "message": str(exc)[:2000]}, {})
        else:
            try:
                frame = protocol.encode({"op": "return", "id": cid}, {"value": result})
            except protocol.Unencodable as exc:
                frame = protocol.encode({"op": "raise", "id": cid, "message": str(exc)}, {})
        try:
            protocol.send(self.sock, frame)
        except OSError:
            raise self._die(None) from None

    def _wait_for_reply(self, timeout: float) -> bool:
        """Read what the worker prints until its reply starts to arrive (True) or time is up.

        Reading its output here, not in a thread, means that when a reply is in, everything
        printed before it (the worker flushes first) has been read or is in the pipe.
        """
        for fd, _event in self._poll.poll(max(int(timeout * 1000), 1)):
            if fd == self.output.fd:
                if not self.output.read_available():
                    self._poll.unregister(fd)  # closed: it died, or closed its stdout
                if self.output.flooded:
                    raise self._die(None)
            else:
                return True
        return False

    # death

    def _kill(self) -> None:
        _killpg(self.pid)

    def _die(self, reason: str | None, staff: str = "", grader_fault: bool = False) -> WorkerGone:
        """Kill the worker, find out why it is gone, and remember it for later calls."""
        self._kill()
        status = self.sandbox._reap(self.pid)
        if reason is None:  # it may have said why before it exited (a failed lock-down)
            word = self._last_word()
            if word is not None:
                reason, staff, grader_fault = *word, True
        staff = staff or self._unverified
        self.output.finish()  # it is dead: what it printed is all in the pipe
        self.output.close()
        if self.output.flooded:
            reason = messages.OUTPUT_FLOOD.format(limit=_size(self.sandbox.limits.output))
        if reason is None:
            reason = messages.describe_exit(status, self.sandbox.limits)
        self.gone = WorkerGone(reason, staff, grader_fault)
        self.sock.close()
        self.sandbox._forget(self)
        return self.gone

    def _last_word(self) -> tuple[str, str] | None:
        """The ``fatal`` frame a dead worker left unread in its socket before its ``ready``
        one, as ``_die``'s reason; one after it is kept for staff as unverified."""
        if self._ready:
            return None  # what follows ``ready`` may be the student's: read by ``_request``
        try:
            self.sock.settimeout(0.1)  # it is dead: what it sent is here, or nothing is
            reply, _ = protocol.recv(self.sock)
            if reply.get("op") == "ready":
                self._ready = True
                reply, _ = protocol.recv(self.sock)
                if reply.get("op") == "fatal":
                    self._unverified = _unverified(reply)
                return None
        except (protocol.ProtocolError, OSError):
            return None
        return _fatal(reply) if reply.get("op") == "fatal" else None

    def close(self) -> None:
        if self.gone is None:
            # Between calls the worker only waits for the next one, and it flushed its output
            # before its last reply: the pipe holds everything, so read it, then kill.
            self.output.finish()
            self._kill()
            self.sock.close()
            self.sandbox._release(self.pid)
            self.gone = WorkerGone(messages.WORKER_CLOSED)
        self.output.close()
        self.sandbox._forget(self)


class _BoundedOutput:
    """A worker's stdout+stderr: keeps the first and the last ``limit / 2`` bytes, marks a flood
    past 20x ``limit``; never parsed.

    The head shows what the student printed first (often the line they meant to see), the tail
    what came last before the failure (issue 14): a print in a loop no longer hides the end.
    """

    def __init__(self, fd: int, limits: Limits) -> None:
        self.fd = fd
        os.set_blocking(fd, False)
        self._head_size = limits.output // 2
        self._tail_size = limits.output - self._head_size
        self._kill_at = limits.output * limits.output_kill
        self._head = bytearray()
        self._tail = bytearray()  # the last ``_tail_size`` bytes after the head
        self.total = 0
        self.flooded = False
        self._closed = False

    def read_available(self) -> bool:
        """Read what is in the pipe now; False once it is closed at the other end (or by us)."""
        while not self._closed:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not chunk:
                return False
            self.total += len(chunk)
            room = self._head_size - len(self._head)
            if room > 0:
                self._head += chunk[:room]
                chunk = chunk[room:]
            if chunk:
                self._tail += chunk
                if len(self._tail) > self._tail_size:
                    del self._tail[: len(self._tail) - self._tail_size]
            if self.total > self._kill_at:
                self.flooded = True
                return True
        return False

    def finish(self) -> None:
        """Read what is left (no waiting: a daemon it started may hold the pipe open)."""
        self.read_available()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(OSError):
                os.close(self.fd)

    def text(self) -> str:
        """What the student printed: sanitized, never parsed; a cut middle says how much."""
        kept = len(self._head) + len(self._tail)
        if self.total <= kept:
            return messages.sanitize(bytes(self._head + self._tail))
        cut = messages.OUTPUT_CUT.format(
            cut=_size(self.total - kept), total=_size(self.total), kept=_size(len(self._tail))
        )
        return messages.sanitize(bytes(self._head)) + cut + messages.sanitize(bytes(self._tail))


def _fatal(reply: dict[str, Any]) -> tuple[str, str]:
    """A worker's ``fatal`` frame as (what the student reads, the traceback for staff)."""
    kind = messages.sanitize(str(reply.get("type", "")), 100)
    staff = messages.sanitize(str(reply.get("traceback", "")), 8000)
    return messages.WORKER_FAILED.format(type=kind), staff


def _unverified(reply: dict[str, Any]) -> str:
    """A ``fatal`` frame sent after student code could run, for staff, marked as such."""
    return messages.FATAL_UNVERIFIED + "\n" + _fatal(reply)[1]


def _killpg(pid: int) -> None:
    # Each worker is a session leader, so its process group holds everything it started
    # (a setsid() daemon escapes this; the uid reaper at the end of grading catches it).
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)


def _size(n: int) -> str:
    if n < 2**10:
        return f"{n} bytes"
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"
