"""Fuzzing the intake where test_submission_fuzz.py does not reach: submission folders (links
in and out, special files, odd names, nesting) and a lone .py file. Whatever is on disk, intake
returns a safe Submission or a SubmissionError, and never reads through a link."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grader.authoring import pack
from grader.grading.submission import IntakeLimits, SubmissionError, load_submission

FILES = pack.active().files

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
LIMITS = IntakeLimits(max_total_bytes=4096, max_files=20, max_depth=3, max_file_bytes=1024)
SAFE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\.py|[A-Za-z_][A-Za-z0-9_-]*\.(json|txt|csv|tsv)")
SECRET = "SECRET-REFERENCE-7f3a"

names = st.one_of(
    st.sampled_from([*FILES, "Losses.py", "helper.py", "conftest.py", "numpy.py", ".hidden.py"]),
    st.sampled_from(["__MACOSX", "__pycache__", ".git", "hw", "sub dir", "x.pyc", "notes.txt"]),
    st.text(alphabet=st.characters(blacklist_characters="/\x00"), min_size=1, max_size=12),
)
kinds = st.sampled_from(["file", "dir", "link-out", "link-in", "link-dangling", "link-dir", "fifo"])
contents = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.just(b"def softmax(x):\n    return x\n"),
)


def _build(root: Path, secret: Path, plan: list[tuple[int, str, str, bytes]]) -> None:
    dirs = [root]
    for parent, name, kind, data in plan:
        where = dirs[parent % len(dirs)]
        path = where / name
        if path.exists() or path.is_symlink() or name in (".", ".."):
            continue
        try:
            if kind == "file":
                path.write_bytes(data)
            elif kind == "dir":
                path.mkdir()
                dirs.append(path)
            elif kind == "link-out":
                path.symlink_to(secret)
            elif kind == "link-dir":
                path.symlink_to(secret.parent)
            elif kind == "link-in":
                path.symlink_to(root)
            elif kind == "link-dangling":
                path.symlink_to(root / "nowhere")
            else:
                os.mkfifo(path)
        except OSError:  # a name the file system refuses (too long, invalid bytes)
            continue


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 8), names, kinds, contents), max_size=14))
def test_arbitrary_folders(plan: list[tuple[int, str, str, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        secret = Path(tmp) / "outside" / "losses.py"
        secret.parent.mkdir()
        secret.write_text(f"# {SECRET}\ndef softmax(x):\n    return x\n")
        root = Path(tmp) / "submission"
        root.mkdir()
        _build(root, secret, plan)
        try:
            sub = load_submission(root, LIMITS)
        except SubmissionError as exc:
            assert str(exc)
            return
        assert all(SAFE.fullmatch(n) for n in sub.sources)
        assert all(SECRET not in text for text in sub.sources.values())
        assert sum(len(t.encode("utf-8")) for t in sub.sources.values()) <= LIMITS.max_total_bytes
        if any(p.fatal for p in sub.problems):
            assert sub.sources == {}
        assert secret.read_text().startswith(f"# {SECRET}")  # nothing written through a link


@FUZZ
@given(contents, st.sampled_from(["losses.py", "Losses.py", "helper.py", "x.py"]))
def test_a_lone_python_file(data: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            sub = load_submission(path, LIMITS)
        except SubmissionError as exc:
            assert str(exc)
            return
        assert all(SAFE.fullmatch(n) for n in sub.sources)
        assert all(len(t.encode("utf-8")) <= LIMITS.max_file_bytes for t in sub.sources.values())
