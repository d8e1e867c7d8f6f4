"""Recorded reference answers: the public tests where the reference is not (issues 6 and 7).

(Over 500 lines on purpose: the recording, its keys, the file format and the replay must agree
bit for bit on how a call is keyed; they are kept in one place so that they cannot drift.)

The student bundle (``grader package --student``) ships the public suites but never
``solutions/``, and the public tests compare the student's functions with the reference. So the
bundle ships the reference's *answers* instead: at package time the reference itself is graded
with the public suites through a ``Recorder`` standing for it, which notes every call the tests
and the sandbox's stand-ins (DESIGN.md contract 6) make, keyed by the function's name and a
canonical digest of its arguments, with what the reference returned. In the bundle the
``reference`` fixture and the stand-ins are a ``Replay`` of that file.

Arguments are bound to the function's signature first (defaults filled in), so ``f(x)`` and
``f(x, h=1e-5)`` are one call; arrays count by dtype, shape and bytes, numbers by value
(``np.float64(2.0)`` is ``2.0``, ``2`` is not), containers by type and order.

**Callable arguments** (``f``, ``fit``, ``objective``, ``loss_and_grad``) cannot be digested: they
count as "a callable" by position, and what the reference did with them is recorded as a tree.
The reference is deterministic, so its first call of a callable is fixed by the other arguments,
and each later call by the answers to the earlier ones: the tree holds, per call, the callable's
position, its arguments, and a branch per answer digest. A replay walks it, making the same calls
of the caller's callables (so call counts agree) and following their answers; the result is the
reference's own as long as every answer is one the reference saw, else the call was not recorded.

**Not recorded** (a miss):

* in a test's own use of ``reference``: the test fails with ``messages.NEEDS_REFERENCE`` ("it
  runs when you submit"). Inside a Hypothesis test the example is rejected instead
  (``hypothesis.reject``), so that shrinking a student's failure, which tries inputs nobody
  recorded, keeps to recorded inputs and still reports the student's failure; a test whose every
  example misses ends unsatisfiable, and the plugin shows the same message (``missed``);
* in a stand-in (the student's function called another assignment function with arguments the
  reference never used there): the worker calls the student's own function instead
  (``protocol.USE_OWN``), as plain Python would.

The file is one ``grader.sandbox.protocol`` frame: a JSON header and raw array bytes, decoded by the
protocol's strict decoder with callables refused. Nothing in it is pickled or executed.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import math
import struct
import sys
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from grader import messages
from grader.authoring import pack
from grader.grading.checks import StudentFailure
from grader.sandbox import protocol

#: ``(name, args, kwargs) -> [(hint, the bug's answer), ...]``:
#: ``grader.grading.feedback.fingerprints``
Fingerprints = Callable[[str, tuple[Any, ...], Mapping[str, Any]], Iterable[tuple[str, Any]]]

FORMAT = "grader-answers"
VERSION = 1
#: Nesting of argument values accepted in a key (the protocol's own bound).
MAX_DEPTH = protocol.MAX_DEPTH


class NotRecorded(StudentFailure):
    """A test asked the reference something the bundle has no recorded answer for."""

    def __init__(self, name: str) -> None:
        super().__init__(
            messages.NEEDS_REFERENCE.format(name=name), category="needs the reference solution"
        )


class UseOwn(Exception):
    """A stand-in has no recorded answer: the worker runs the student's own function."""

    def __init__(self) -> None:
        super().__init__(protocol.USE_OWN)


class Unkeyable(TypeError):
    """A value that has no canonical digest (an object, a callable where none may be)."""


class AnswersError(RuntimeError):
    """An answers file that is not one, or a recording that cannot be replayed faithfully."""


# -- canonical digests ---------------------------------------------------------------------------


def _feed(out: list[bytes], v: Any, callables: list[Callable[..., Any]] | None, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise Unkeyable("value nested too deeply")
    if v is None:
        out.append(b"N")
    elif isinstance(v, (bool, np.bool_)):
        out.append(b"T" if v else b"F")
    elif isinstance(v, (int, np.integer)):
        text = str(int(v)).encode()
        out.append(b"i%d:" % len(text) + text)
    elif isinstance(v, (float, np.float64)):
        x = float(v)
        out.append(b"f" + (b"nan" if math.isnan(x) else struct.pack("<d", x)))
    elif isinstance(v, str):
        data = v.encode("utf-8", errors="surrogatepass")
        out.append(b"s%d:" % len(data) + data)
    elif isinstance(v, (np.ndarray, np.generic)):
        arr = np.array(v, copy=True, order="C", subok=False)
        if arr.dtype.kind not in protocol.ALLOWED_KINDS:
            raise Unkeyable(f"an array of dtype {arr.dtype}")
        arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
        if arr.dtype.kind == "f":  # one pattern for every nan
            arr = np.where(np.isnan(arr), np.array(np.nan, arr.dtype), arr)
        head = f"{arr.dtype.str}|{arr.shape}|{isinstance(v, np.generic)}".encode()
        data = arr.tobytes()
        out.append(b"a%d:" % len(head) + head + b"%d:" % len(data) + data)
    elif isinstance(v, (tuple, list)):
        out.append((b"t" if isinstance(v, tuple) else b"l") + b"%d:" % len(v))
        for x in v:
            _feed(out, x, callables, depth + 1)
    elif isinstance(v, dict):
        out.append(b"d%d:" % len(v))
        for k, x in v.items():  # in order: a dict argument's order can matter
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise Unkeyable(f"a dict key of type {type(k).__name__}")
            _feed(out, k, None, depth + 1)
            _feed(out, x, callables, depth + 1)
    elif _is_callable_arg(v) and callables is not None:
        if depth != 1:  # an argument itself, never inside a container
            raise Unkeyable("a callable inside a container")
        out.append(b"c%d" % len(callables))
        callables.append(v)
    else:
        raise Unkeyable(f"a value of type {type(v).__name__}")


def digest(v: Any) -> str:
    """The canonical digest of a plain value (no callables)."""
    out: list[bytes] = []
    _feed(out, v, None, 0)
    return hashlib.sha256(b"".join(out)).hexdigest()


def call_key(
    name: str, signature: inspect.Signature, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> tuple[str, list[Callable[..., Any]], inspect.BoundArguments]:
    """``(digest, callables in argument order, bound arguments)`` of one call of ``name``."""
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise Unkeyable(f"arguments that do not fit {name}{signature}: {exc}") from None
    bound.apply_defaults()
    callables: list[Callable[..., Any]] = []
    out = [b"call:", name.encode(), b":"]
    for pname, value in bound.arguments.items():
        out.append(pname.encode() + b"=")
        _feed(out, value, callables, 1)
    return hashlib.sha256(b"".join(out)).hexdigest(), callables, bound


def _answer_key(value: Any) -> str:
    return "=" + digest(value)


def _raised_key(exc: BaseException) -> str:
    return f"!{type(exc).__name__}: {str(exc)[:500]}"


def _frozen(v: Any) -> Any:
    """A deep copy of a plain value, arrays as plain ``ndarray``s (what the file holds)."""
    if isinstance(v, np.ndarray):
        return np.array(v, copy=True, subok=False)
    if isinstance(v, tuple):
        return tuple(_frozen(x) for x in v)
    if isinstance(v, list):
        return [_frozen(x) for x in v]
    if isinstance(v, dict):
        return {k: _frozen(x) for k, x in v.items()}
    return v


# -- the answers: a table of call trees ----------------------------------------------------------


@dataclass
class Answers:
    """What the reference answered: ``table[key]`` is the root node of that call's tree.

    A node is ``{"result": value}``, ``{"error": text}`` (the reference raised), or
    ``{"call": (position, args, kwargs), "next": {answer digest: node index}}``.
    """

    signatures: dict[str, inspect.Signature] = field(default_factory=dict)
    table: dict[str, int] = field(default_factory=dict)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    #: per call key: ``[(hint, what that known bug's variant returns), ...]`` in the library's order
    hints: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)

    def _node(self) -> int:
        self.nodes.append({})
        return len(self.nodes) - 1

    def add(self, name: str, key: str, trace: list[tuple[Any, str]], end: dict[str, Any]) -> None:
        """One recorded call: its callbacks ``(call, answer digest)`` in order, then its end."""
        if key not in self.table:
            self.table[key] = self._node()
        node = self.nodes[self.table[key]]
        for call, answer in trace:
            if "call" not in node:
                if node:
                    raise AnswersError(
                        f"{name}: the reference did not call back the same way twice"
                    )
                node.update(call=call, next={})
            elif digest(node["call"]) != digest(call):
                raise AnswersError(f"{name}: the reference's callbacks are not deterministic")
            if answer not in node["next"]:
                node["next"][answer] = self._node()
            node = self.nodes[node["next"][answer]]
        if "call" in node or (node and digest(node) != digest(end)):
            raise AnswersError(f"{name}: the reference gave two answers to one call")
        node.update(end)

    # the file

    def to_bytes(self) -> bytes:
        sigs = {
            name: [_param(p) for p in sig.parameters.values()]
            for name, sig in self.signatures.items()
        }
        table = dict(sorted(self.table.items()))
        try:
            return protocol.encode(
                {"format": FORMAT, "version": VERSION},
                {
                    "signatures": dict(sorted(sigs.items())),
                    "table": table,
                    "nodes": self.nodes,
                    "hints": dict(sorted(self.hints.items())),
                },
            )
        except protocol.Unencodable as exc:
            raise AnswersError(f"a recorded value cannot be written: {exc}") from None

    @classmethod
    def from_bytes(cls, data: bytes) -> Answers:
        try:
            header, body = protocol.parse_frame(data)
            if header.get("format") != FORMAT or header.get("version") != VERSION:
                raise AnswersError(f"not a {FORMAT} file of version {VERSION}")
            dec = protocol.Decoder(body)  # no make_fn: a callable in the file is an error
            sigs = dec.value(header["signatures"])
            table = dec.value(header["table"])
            nodes = dec.value(header["nodes"])
            hints = dec.value(header["hints"])
        except (protocol.ProtocolError, KeyError, ValueError, TypeError) as exc:
            raise AnswersError(f"unreadable answers file: {exc}") from None
        if not (
            isinstance(sigs, dict)
            and isinstance(table, dict)
            and isinstance(nodes, list)
            and all(isinstance(n, dict) for n in nodes)
            and all(isinstance(i, int) and 0 <= i < len(nodes) for i in table.values())
            and isinstance(hints, dict)
            and all(isinstance(h, list) for h in hints.values())
        ):
            raise AnswersError("unreadable answers file: bad structure")
        signatures = {
            name: inspect.Signature([_parameter(p) for p in params])
            for name, params in sigs.items()
        }
        return cls(signatures=signatures, table=table, nodes=nodes, hints=hints)


def _param(p: inspect.Parameter) -> tuple[str, int, bool, Any]:
    has_default = p.default is not inspect.Parameter.empty
    return (p.name, int(p.kind), has_default, p.default if has_default else None)


def _parameter(p: Any) -> inspect.Parameter:
    name, kind, has_default, default = p
    return inspect.Parameter(
        str(name),
        inspect._ParameterKind(int(kind)),
        default=default if has_default else inspect.Parameter.empty,
    )


# -- recording (package time, trusted, with the reference) ---------------------------------------


class Recorder:
    """Stands for the reference while the public suites grade it; notes every call.

    Also notes the inputs the tests give the student's functions and the reference, so that
    ``finish`` can store, for each, what every known bug's variant returns there: the bundle's
    hints (``feedback.diagnose`` without the bug library, which quotes the reference).
    """

    def __init__(self, live: Any) -> None:
        self.live = live
        self.answers = Answers()
        #: calls that could not be recorded (``grader package`` refuses to build with any)
        self.problems: list[str] = []
        self._seen: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        functions = live.functions()
        self._tests = {name: self._recording(name, fn, True) for name, fn in functions.items()}
        self._standins = {name: self._recording(name, fn, False) for name, fn in functions.items()}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in pack.active().classes:
            self.problems.append(f"a public test uses reference.{name}: classes are not recorded")
            raise AnswersError(
                f"reference.{name} cannot be recorded for the student bundle: compute the expected "
                "values of a public test with torch on the trusted side, or make it hidden"
            )
        if name not in self._tests:
            raise AttributeError(f"{name!r} is not part of the assignment{pack.did_you_mean(name)}")
        return self._tests[name]

    def functions(self) -> dict[str, Callable[..., Any]]:
        """The stand-ins (``student.Student``), recording too."""
        return dict(self._standins)

    def saw(self, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        """A test called the student's ``name`` with these arguments (``Student.observer``)."""
        self._seen.append((name, _frozen(args), _frozen(dict(kwargs))))

    def finish(self, fingerprints: Fingerprints) -> Answers:
        """The answers, with the known bugs' answers to every input the tests used
        (``fingerprints``: ``grader.grading.feedback.fingerprints``)."""
        for name, args, kwargs in self._seen:
            signature = self.answers.signatures.get(name)
            if signature is None:
                continue
            try:
                key, _, _ = call_key(name, signature, args, kwargs)
            except Unkeyable:
                continue
            if key in self.answers.hints:
                continue
            found = []
            try:
                for hint, theirs in fingerprints(name, args, kwargs):
                    try:
                        digest(theirs)
                    except Unkeyable:
                        continue
                    found.append((hint, _frozen(theirs)))
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException:  # a callable that needed the test's worker, now gone
                found = []
            self.answers.hints[key] = found
        self._seen.clear()
        return self.answers

    def _recording(self, name: str, fn: Callable[..., Any], test: bool) -> Callable[..., Any]:
        signature = inspect.signature(fn)
        self.answers.signatures[name] = signature

        def recording(*args: Any, **kwargs: Any) -> Any:
            try:
                key, _, bound = call_key(name, signature, args, kwargs)
            except Unkeyable as exc:
                self.problems.append(f"{name}: a call with {exc}")
                return fn(*args, **kwargs)
            if test:
                self.saw(name, args, kwargs)
            trace: list[tuple[Any, str]] = []
            for i, position in enumerate(_callable_params(bound)):
                bound.arguments[position] = _traced(i, bound.arguments[position], trace)
            try:
                result = fn(*bound.args, **bound.kwargs)
            except Exception as exc:
                self._add(name, key, trace, {"error": str(exc)[:2000]})
                raise
            try:
                digest(result)
            except Unkeyable as exc:
                self.problems.append(f"{name} returned {exc}")
                return result
            self._add(name, key, trace, {"result": _frozen(result)})
            return result

        recording.__name__ = recording.__qualname__ = name
        recording.__signature__ = signature  # type: ignore[attr-defined]
        recording.__doc__ = fn.__doc__
        return recording

    def _add(self, name: str, key: str, trace: list[tuple[Any, str]], end: dict[str, Any]) -> None:
        try:
            self.answers.add(name, key, trace, end)
        except AnswersError as exc:
            self.problems.append(str(exc))


def _callable_params(bound: inspect.BoundArguments) -> list[str]:
    return [k for k, v in bound.arguments.items() if _is_callable_arg(v)]


def _is_callable_arg(v: Any) -> bool:
    return callable(v) and not isinstance(v, (type, np.ndarray, np.generic))


def _traced(
    position: int, fn: Callable[..., Any], trace: list[tuple[Any, str]]
) -> Callable[..., Any]:
    def traced(*args: Any, **kwargs: Any) -> Any:
        call = (position, _frozen(args), _frozen(kwargs))
        try:
            answer = fn(*args, **kwargs)
        except Exception as exc:
            trace.append((call, _raised_key(exc)))
            raise
        trace.append((call, _answer_key(answer)))
        return answer

    traced.__name__ = traced.__qualname__ = getattr(fn, "__name__", "callable")
    traced.__doc__ = getattr(fn, "__doc__", None)
    return traced


# -- replaying (in the student bundle) -----------------------------------------------------------


class Replay:
    """The reference's recorded answers, in its place: ``reference.f(x)``."""

    def __init__(self, answers: Answers) -> None:
        self.answers = answers
        _REPLAYS.add(self)
        #: misses in the current test (the plugin resets it per test)
        self.misses = 0
        #: stand-in calls that fell back to the student's own function, in the current test
        self.own_calls = 0
        #: the keys of every recorded call that was replayed (all tests)
        self.used: set[str] = set()
        self._tests = {name: self._replaying(name, stand_in=False) for name in answers.signatures}
        self._standins = {name: self._replaying(name, stand_in=True) for name in answers.signatures}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._tests:
            return self._tests[name]
        if name in pack.active().module_of:  # a torch class: never recorded
            self._miss(name)
        raise AttributeError(f"{name!r} is not part of the assignment{pack.did_you_mean(name)}")

    def functions(self) -> dict[str, Callable[..., Any]]:
        return dict(self._standins)

    def hint(
        self, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any], got: Any
    ) -> str | None:
        """``feedback.diagnose`` from the recorded answers of the known bugs."""
        from grader.grading.checks import same_values, telling

        signature = self.answers.signatures.get(name)
        if signature is None:
            return None
        try:
            key, _, _ = call_key(name, signature, args, kwargs)
        except Unkeyable:
            return None
        for hint, theirs in self.answers.hints.get(key, ()):
            # Only an agreement on finite numbers names a bug: the bundle has no probes to tell
            # apart two bugs that both give inf here (feedback.diagnose).
            if same_values(theirs, got) and telling([theirs]):
                return str(hint)
        return None

    def _miss(self, name: str) -> Any:
        self.misses += 1
        if "hypothesis" in sys.modules:
            from hypothesis import reject
            from hypothesis.control import currently_in_test_context

            if currently_in_test_context():
                reject()  # an example nobody recorded (shrinking): not this test's failure
        raise NotRecorded(name)

    def _replaying(self, name: str, stand_in: bool) -> Callable[..., Any]:
        signature = self.answers.signatures[name]

        def missing() -> Any:
            if stand_in:
                self.own_calls += 1
                raise UseOwn()
            return self._miss(name)

        def replaying(*args: Any, **kwargs: Any) -> Any:
            try:
                key, callables, _ = call_key(name, signature, args, kwargs)
            except Unkeyable:
                return missing()
            index = self.answers.table.get(key)
            if index is None:
                return missing()
            self.used.add(key)
            node = self.answers.nodes[index]
            raised: Exception | None = None
            while "call" in node:
                position, cargs, ckwargs = node["call"]
                raised = None
                try:
                    answer = _answer_key(callables[position](*_frozen(cargs), **_frozen(ckwargs)))
                except Exception as exc:
                    raised, answer = exc, _raised_key(exc)
                following = node["next"].get(answer)
                if following is None:  # the caller's callables answer what the reference never saw
                    return missing()
                node = self.answers.nodes[following]
            if "error" in node:
                if raised is not None:
                    raise raised  # the callable's own exception, as the reference let it through
                raise RecordedError(str(node["error"]))
            return _frozen(node["result"])

        replaying.__name__ = replaying.__qualname__ = name
        replaying.__signature__ = signature  # type: ignore[attr-defined]
        return replaying


class RecordedError(Exception):
    """The reference raised on this input when it was recorded (the same text)."""


# -- which reference the suites get --------------------------------------------------------------

_override: Any = None


@contextlib.contextmanager
def standing_in(reference: Any) -> Iterator[Any]:
    """Within the block, the suites' ``reference`` (and the stand-ins) is ``reference``."""
    global _override
    saved, _override = _override, reference
    try:
        yield reference
    finally:
        _override = saved


def for_suites() -> Any:
    """The reference the suites use: the live one where ``solutions/`` is, else the recording."""
    if _override is not None:
        return _override
    if pack.active().solutions.is_dir():
        from grader.grading.reference import reference

        return reference()
    if pack.active().answers.is_file():
        return replay(pack.active().answers)
    raise AnswersError(
        f"neither the reference ({pack.active().solutions}) nor its recorded answers "
        f"({pack.active().answers}) "
        "are here: the public tests need one of them"
    )


@cache
def replay(path: Path) -> Replay:
    return Replay(Answers.from_bytes(path.read_bytes()))


_REPLAYS: weakref.WeakSet[Replay] = weakref.WeakSet()


def begin_test() -> None:
    """A new test starts: forget the misses of the last one."""
    for r in _REPLAYS:
        r.misses = r.own_calls = 0


def missed() -> bool:
    """Whether the current test asked a recording for an answer it does not hold."""
    return any(r.misses for r in _REPLAYS)


def recorded_hint(
    name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any], got: Any
) -> str | None:
    """The recorded hint for a student's answer, where a recording stands for the reference."""
    try:
        ref = for_suites()
    except AnswersError:
        return None
    return ref.hint(name, args, kwargs, got) if isinstance(ref, Replay) else None


def record(
    live: Any, run: Callable[[], Any], fingerprints: Fingerprints
) -> tuple[Answers, Any, list[str]]:
    """Run ``run()`` (a grading of the reference) with a ``Recorder`` of ``live`` standing in;
    the known bugs' answers to the inputs it saw come from ``fingerprints``."""
    recorder = Recorder(live)
    with standing_in(recorder):
        outcome = run()
    return recorder.finish(fingerprints), outcome, recorder.problems
