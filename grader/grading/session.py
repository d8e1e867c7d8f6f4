"""One grading's state as the engine hands it to the pytest plugin (``grader.grading.plugin``).

Its own module so that the engine, the plugin and the sharded run (``grader.grading.shard``) all
import
it and none of them imports another: the engine passes an ``EngineHook`` to ``pytest.main``,
which puts the session where the plugin finds it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from grader.grading.cores import Spare
    from grader.grading.results import TestOutcome
    from grader.sandbox.host import Sandbox


@dataclass
class GradingSession:
    """One grading: the sandbox, what was submitted, and the outcomes collected so far."""

    sandbox: Sandbox
    submitted: frozenset[str]
    hidden_root: Path | None = None
    verbose: bool = False
    gpu_counts: bool = True
    outcomes: list[TestOutcome] = field(default_factory=list)
    collection_errors: list[str] = field(default_factory=list)
    only: str | None = None
    #: called with each outcome as it is decided (``grader check``'s progress line)
    progress: Callable[[TestOutcome, int], None] | None = None
    total: int = 0
    #: grading processes to share the tests between (``grader.grading.shard``); 1: this one alone
    shards: int = 1
    #: cores a batch lends once they idle (``grader.grading.cores.Spare``): more processes then
    spare: Spare | None = None


SESSION = pytest.StashKey[GradingSession]()


class EngineHook:
    """Passed to ``pytest.main`` by the engine to hand over its session."""

    def __init__(self, session: GradingSession) -> None:
        self.session = session

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        config.stash[SESSION] = self.session
