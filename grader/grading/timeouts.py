"""The timeout budget of a grading run on several processes (grader.grading.shard).

A call's limit depends on the timeouts of the tests before it in the serial order
(``Limits.timeout_for``: after two timeouts of a function, or 90 s lost, calls get 1 s). Two
things keep a sharded grading's limits those of a serial run:

* ``Watch`` notes each test's calls, and ``replay`` checks them against the serial budget: an
  outcome stands when each of its timeouts had the serial limit and each other call ended
  within it. The shard runs the others again, in their place.
* ``Seen`` shares the timeouts each process has seen, so that most outcomes stand: a test
  starts with all of them, and a call another process has waited on for the short limit counts
  as one (correct code answers in milliseconds).
"""

from __future__ import annotations

import mmap
import struct
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grader.sandbox.layers import Limits

#: timeouts so far per called name, and the wall seconds they cost (``Sandbox.budget``)
Budget = tuple[dict[str, int], float]

#: What a test's calls were, as ``Watch`` notes them: ``[name, limit]`` for each timeout,
#: ``{name: longest call}`` for the calls between two timeouts (the budget, and so every limit,
#: stays the same between two timeouts).
CallLog = list[Any]


@dataclass
class Seen:
    """The timeouts each process of one grading has seen: one row per process in a shared page,
    written by that process only: its timeouts (a count per name of ``names``), the call it is
    waiting on (its name's index or -1, its limit, when it started: CLOCK_MONOTONIC, one clock
    for all processes) and the seconds timeouts cost it."""

    rows: mmap.mmap
    names: tuple[str, ...]
    rank: int = 0
    size: int = 1
    #: this process's own timeouts (names outside ``names`` too)
    own: Budget = field(default_factory=lambda: ({}, 0.0))

    def __post_init__(self) -> None:
        # Written at every call of student code: the layout and the names' places, once.
        self._row = self.row_of(self.names)
        self._index = {name: k for k, name in enumerate(self.names)}

    @classmethod
    def create(cls, names: tuple[str, ...], size: int) -> Seen:
        """Rows for ``size`` processes, shared with the ones forked after this."""
        row = cls.row_of(names)
        rows = mmap.mmap(-1, row.size * size)
        for r in range(size):
            row.pack_into(rows, r * row.size, *([0] * len(names)), -1, 0.0, 0.0, 0.0)
        return cls(rows, names, size=size)

    def close(self) -> None:
        self.rows.close()

    @staticmethod
    def row_of(names: tuple[str, ...]) -> struct.Struct:
        return struct.Struct(f"={len(names)}iiddd")

    def _write(self, call: int = -1, limit: float = 0.0, start: float = 0.0) -> None:
        row = self._row
        counts = (self.own[0].get(k, 0) for k in self.names)
        row.pack_into(self.rows, self.rank * row.size, *counts, call, limit, start, self.own[1])

    def add(self, before: Budget, after: Budget) -> None:
        """Count the timeouts of a test this process ran (``after`` less ``before``)."""
        counts = dict(self.own[0])
        for name, n in after[0].items():
            if n > before[0].get(name, 0):
                counts[name] = counts.get(name, 0) + n - before[0].get(name, 0)
        self.own = counts, self.own[1] + after[1] - before[1]
        self._write()

    def calling(self, name: str | None, limit: float = 0.0) -> None:
        """Publish the call this process now waits on (None: none)."""
        index = -1 if name is None else self._index.get(name, -1)
        self._write(index, limit, time.monotonic() if index >= 0 else 0.0)

    def spent(self, presume_after: float) -> Budget:
        """This process's timeouts and those the others have seen so far, counting as a timeout
        a call another process has waited on for ``presume_after`` seconds or more (a serial
        run would count it before the next test)."""
        counts, lost = dict(self.own[0]), self.own[1]
        row = self._row
        now = time.monotonic()
        for r in range(self.size):
            if r == self.rank:
                continue
            *seen, call, limit, start, seconds = row.unpack_from(self.rows, r * row.size)
            if call >= 0 and now - start >= presume_after:
                seen[call] += 1
                seconds += limit
            for name, n in zip(self.names, seen, strict=True):
                if n:
                    counts[name] = counts.get(name, 0) + n
            lost += seconds
        return counts, lost


class Watch:
    """``Sandbox.watch`` while a process of a sharded grading runs a test: the test's calls
    (``log``), and the one in flight published in the process's row."""

    def __init__(self, seen: Seen) -> None:
        self.seen = seen
        self.log: CallLog = []

    def started(self, name: str, limit: float) -> None:
        self.seen.calling(name, limit)

    def ended(self, name: str, limit: float, used: float, timed_out: bool) -> None:
        self.seen.calling(None)
        log = self.log
        if timed_out:
            log.append([name, limit])
            return
        if not log or not isinstance(log[-1], dict):
            log.append({})
        log[-1][name] = max(log[-1].get(name, 0.0), used)


def replay(log: CallLog, budget: Budget, limits: Limits) -> Budget | None:
    """The budget after a test whose calls ``log`` notes, run with ``budget`` spent before it
    as in the serial order; None when the serial run could have seen something else: a call
    that timed out at another limit than the serial one, or that ran as long as it."""
    counts, lost = dict(budget[0]), budget[1]
    for entry in log:
        if isinstance(entry, dict):
            for name, used in entry.items():
                if used >= limits.timeout_for(name, counts, lost):
                    return None
        else:
            name, limit = entry
            if limit != limits.timeout_for(name, counts, lost):
                return None
            counts[name] = counts.get(name, 0) + 1
            lost += limit
    return counts, lost
