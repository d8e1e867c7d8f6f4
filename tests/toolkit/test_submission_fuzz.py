"""Fuzzing the intake: whatever the bytes, it returns a safe Submission or a SubmissionError."""

from __future__ import annotations

import io
import json
import re
import tempfile
import warnings
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grader.authoring import pack
from grader.grading.submission import (
    IntakeLimits,
    Submission,
    SubmissionError,
    load_notebook_sources,
    load_submission,
    write_sources,
)

FILES = pack.active().files

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
# small limits, so the fuzzer reaches them
LIMITS = IntakeLimits(max_total_bytes=4096, max_files=20, max_depth=3, max_file_bytes=1024)
SAFE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\.py|[A-Za-z_][A-Za-z0-9_-]*\.(json|txt|csv|tsv)")


def snapshot(root: Path) -> set[Path]:
    return set(root.rglob("*"))


def check_safe(sub: Submission, limits: IntakeLimits) -> None:
    assert all(SAFE.fullmatch(name) for name in sub.sources)
    assert sum(len(s.encode("utf-8")) for s in sub.sources.values()) <= limits.max_total_bytes
    assert all(len(s.encode("utf-8")) <= limits.max_file_bytes for s in sub.sources.values())
    assert len(sub.sources) <= limits.max_files
    assert len(sub.digest) == 64
    if any(p.fatal for p in sub.problems):
        assert sub.sources == {}


def load_bytes(data: bytes, suffix: str, limits: IntakeLimits = LIMITS) -> None:
    """Load ``data`` as a file and write what came out; nothing may land outside the sandbox."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        inbox, outbox = base / "in", base / "in" / "out"
        inbox.mkdir()
        path = inbox / f"submission{suffix}"
        path.write_bytes(data)
        try:
            sub = load_submission(path, limits)
        except SubmissionError as exc:
            assert str(exc)
            return
        check_safe(sub, limits)
        write_sources(sub, outbox)
        assert snapshot(base) == {inbox, path, outbox} | {outbox / n for n in sub.sources}


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_as_zip(data: bytes) -> None:
    load_bytes(data, ".zip")


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_as_notebook(data: bytes) -> None:
    load_bytes(data, ".ipynb")


@FUZZ
@given(st.binary(min_size=22, max_size=600), st.data())
def test_mangled_real_zip(noise: bytes, data: st.DataObject) -> None:
    """A valid zip with bytes overwritten somewhere: headers, sizes, data."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in FILES:
            zf.writestr(f"hw/{name}", f"VALUE = {name!r}\n" * 3)
    raw = buf.getvalue()
    at = data.draw(st.integers(0, len(raw) - 1))
    width = data.draw(st.integers(1, 8))
    load_bytes(raw[:at] + noise[:width] + raw[at + width :], ".zip")


segment = st.one_of(
    st.sampled_from(["..", ".", "", "hw", "__MACOSX", "__pycache__", "C:", "a\\b", "~", "\x00"]),
    st.sampled_from([*FILES, "Losses.py", "LOSSES.PY", "x.pyc", "helper.py", "conftest.py"]),
    st.text(min_size=1, max_size=12),
    st.text(alphabet="ab/", min_size=200, max_size=300),
)
plain = st.sampled_from(["hw", "sub", "__pycache__", "__MACOSX"])
expected = st.sampled_from(
    [*FILES, "Losses.py", "helper.py", "x.cpython-311.pyc", "n.txt", "a.ipynb"]
)
member_name = st.one_of(
    expected,  # mostly names that reach the folder rules, sometimes hostile ones
    st.builds("{}/{}".format, plain, expected),
    st.lists(segment, min_size=1, max_size=6).map("/".join).filter(bool),
)
member_body = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"x = 1\n", b"def f(:\n", b"\xef\xbb\xbfA = 1\n", b"", b"\0" * 5000]),
)


@FUZZ
@given(
    st.lists(st.tuples(member_name, member_body, st.booleans()), max_size=25),
    st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]),
)
def test_structured_zip(members: list[tuple[str, bytes, bool]], method: int) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicate names are part of the fuzz
        for name, body, link in members:
            info = zipfile.ZipInfo(name)
            info.compress_type = method
            if link:
                info.external_attr = 0o120777 << 16
            zf.writestr(info, body)
    load_bytes(buf.getvalue(), ".zip")


magic_line = st.one_of(
    st.builds(
        "{}%%writefile {}{}\n".format,
        st.sampled_from(["", "\n", "  ", " \n\t"]),
        st.sampled_from(["", "-a ", "--append "]),
        st.one_of(
            st.sampled_from([*FILES, "Losses.py", "./optim.py", "'search.py'", '"a b.py"']),
            st.sampled_from(["../evil.py", "/etc/x.py", "sub/x.py", "~/x.py", "'", ""]),
            st.text(max_size=20),
        ),
    ),
    st.text(max_size=30),
)
cell_source = st.builds(str.__add__, magic_line, st.text(max_size=200))
cell = st.builds(
    lambda kind, source, as_list: {
        "cell_type": kind,
        "metadata": {},
        "source": source.splitlines(keepends=True) if as_list else source,
    },
    st.sampled_from(["code", "code", "markdown", "raw"]),
    cell_source,
    st.booleans(),
)


@FUZZ
@given(st.lists(cell, max_size=12), st.sampled_from([4, 3, 5, "4"]))
def test_structured_notebook(cells: list[dict[str, object]], version: object) -> None:
    nb = {"cells": cells, "metadata": {}, "nbformat": version, "nbformat_minor": 4}
    data = json.dumps(nb).encode()
    load_bytes(data, ".ipynb")
    files, problems = load_notebook_sources(data, LIMITS)
    assert all("/" not in name and name not in ("", ".", "..") for name in files)
    assert all(p.code for p in problems)
