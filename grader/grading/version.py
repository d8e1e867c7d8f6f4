"""What graded a submission: the suite digest and the grader's version (issue 14).

A gradebook row and the hidden part of its results.json carry the same pair, so that a regrade
can say which submissions were graded by an older suite or grader and not yet graded again.

* the *suite digest*: a hash of everything besides the submission that decides its grade (the
  grading suites, the reference solutions, the grading options). A batch grades everything
  again when it changes.
* the *grader version*: the package's version and a hash of its own code. A batch does not
  grade again when only it changes (a cosmetic fix must not cost a MOOC a full regrade); it
  reports the rows graded by another one, and ``grader regrade`` grades those again.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader import __version__
from grader.authoring import pack

__all__ = ["Version", "grader_version", "suite_digest"]


@dataclass(frozen=True, order=True)
class Version:
    suite_digest: str
    grader: str

    def as_json(self) -> dict[str, str]:
        return {"suite_digest": self.suite_digest, "grader": self.grader}

    @classmethod
    def from_json(cls, data: Any) -> Version | None:
        if not isinstance(data, dict):
            return None
        suite, grader = data.get("suite_digest"), data.get("grader")
        if not isinstance(suite, str) or not isinstance(grader, str):
            return None
        return cls(suite, grader)

    def short(self) -> str:
        return f"suite {self.suite_digest[:12]}, grader {self.grader}"


def engine_options(suites: Sequence[str], only: str | None, gpu_counts: bool) -> dict[str, Any]:
    """The grading options that are part of the suite digest, as plain data."""
    return {"suites": list(suites), "only": only, "gpu_counts": gpu_counts}


def suite_digest(options: dict[str, Any]) -> str:
    """A hash of the pack's manifest (its limits and points change results too), the grading
    suites, the reference solutions and ``options`` (engine_options)."""
    h = hashlib.sha256()
    h.update(json.dumps(options, sort_keys=True).encode())
    manifest = pack.active().root / pack.MANIFEST
    if manifest.is_file():
        h.update(b"\0" + pack.MANIFEST.encode() + b"\0" + manifest.read_bytes())
    for top in (pack.active().suites, pack.active().solutions):
        _hash_tree(h, top)
    return h.hexdigest()


@functools.cache
def grader_version() -> str:
    """``<package version>+<first 12 hex digits of a hash of the grader's own files>``."""
    h = hashlib.sha256()
    _hash_tree(h, Path(__file__).resolve().parents[1])  # the whole grader package
    return f"{__version__}+{h.hexdigest()[:12]}"


def _hash_tree(h: Any, top: Path) -> None:
    for p in sorted(top.rglob("*")):
        rel = p.relative_to(top)
        if not p.is_file() or any(
            part.startswith(".") or part == "__pycache__" for part in rel.parts
        ):
            continue
        h.update(f"\0{top.name}/{rel.as_posix()}\0".encode())
        h.update(p.read_bytes())
