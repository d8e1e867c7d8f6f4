"""What a batch grades: the submissions of its input, each a ``Job``.

The input is a folder of submissions (one sub-folder, zip or notebook each), a Gradescope
"Export Submissions" folder or zip, or a Canvas or Moodle download (read by
``grader.classroom.lms``). Nothing here grades or writes the gradebook; ``grader.classroom.batch``
runs the jobs.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from grader.classroom import lms
from grader.classroom.gradebook import Student

__all__ = ["BatchError", "Job", "content_digest", "discover", "read_metadata"]

METADATA: Final = "submission_metadata.yml"
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")


class BatchError(Exception):
    """The batch cannot run (bad input, a busy output folder); the message says what to do."""


# -- what to grade -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One submission to grade."""

    id: str
    path: Path
    students: tuple[Student, ...] = ()


def discover(source: Path, workdir: Path) -> list[Job]:
    """The submissions in ``source``, sorted by id.

    ``source`` is a folder holding one sub-folder, zip or notebook per submission, or a
    Gradescope "Export Submissions" folder or zip (``submission_metadata.yml`` next to
    ``submission_<n>/`` folders). A zip export is unpacked once into ``workdir/input``.
    Canvas's and Moodle's own downloads (zip or folder) are read by ``grader.classroom.lms``:
    one submission per student, with the LMS's ids and late marks.
    """
    try:
        download = lms.read_download(source, workdir)
    except lms.LmsError as exc:
        raise BatchError(str(exc)) from None
    if download is not None:
        return [Job(s.id, s.path, (s.student,)) for s in download.submissions]
    if source.is_file() and zipfile.is_zipfile(source):
        source = _unpack_export(source, workdir / "input")
    if not source.is_dir():
        raise BatchError(f"{source}: not a folder or a zip of submissions")
    root = _export_root(source)
    if root is not None:
        return _gradescope_jobs(root)
    if any(p.suffix == ".py" for p in source.iterdir() if p.is_file()):
        raise BatchError(
            f"{source} holds .py files itself, so it looks like one submission: grade it with "
            "`grader grade`, or put each submission in a sub-folder (or zip) of its own"
        )
    entries = [
        p
        for p in sorted(source.iterdir())
        if not p.name.startswith((".", "__"))
        and (p.is_dir() or p.suffix.lower() in (".zip", ".ipynb"))
    ]
    stems = [p.stem if p.is_file() else p.name for p in entries]
    jobs = []
    for p, stem in zip(entries, stems, strict=True):
        name = stem if stems.count(stem) == 1 else p.name  # alice/ and alice.zip: keep both
        sid = _safe_id(name)
        # A folder named by an email address identifies its student (plain folder inputs).
        students = (Student(email=name),) if "@" in name else ()
        jobs.append(Job(sid, p, students))
    if not jobs:
        raise BatchError(f"{source}: no submissions (sub-folders, .zip or .ipynb files) found")
    return jobs


def _safe_id(name: str) -> str:
    """The id as a file name of ``results/``: kept when plain, else made plain plus a hash."""
    if _SAFE_ID.fullmatch(name):
        return name
    plain = re.sub(r"[^A-Za-z0-9._@+-]+", "_", name).strip("._")[:64] or "submission"
    return f"{plain}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def _export_root(source: Path) -> Path | None:
    if (source / METADATA).is_file():
        return source
    subs = [p for p in source.iterdir() if p.is_dir() and (p / METADATA).is_file()]
    return subs[0] if len(subs) == 1 else None


def _gradescope_jobs(root: Path) -> list[Job]:
    meta = read_metadata(root / METADATA)
    jobs = []
    for p in sorted(root.iterdir()):
        if p.name.startswith(".") or not (p.is_dir() or p.suffix.lower() in (".zip", ".ipynb")):
            continue
        key = p.name if p.is_dir() else p.stem
        jobs.append(Job(_safe_id(key), p, meta.get(key, ())))
    if not jobs:
        raise BatchError(f"{root}: a Gradescope export without submission folders")
    return jobs


def read_metadata(path: Path) -> dict[str, tuple[Student, ...]]:
    """``submission_metadata.yml`` -> ``{"submission_<n>": (students...)}``.

    Gradescope writes it from Ruby: keys are symbols (``:submitters:``, ``:name:``) and some
    values carry Ruby tags. We strip the colons and read unknown tags as plain data, and take
    only what we need, so a new field in the export cannot break the batch.
    """
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover - pyyaml comes with dask and the dev extra
        raise BatchError("reading a Gradescope export needs PyYAML: pip install pyyaml") from exc

    loader_class: Any = type("ExportLoader", (yaml.SafeLoader,), {})

    def any_tag(loader: Any, suffix: str, node: Any) -> Any:
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_scalar(node)

    loader_class.add_multi_constructor("!", any_tag)
    loader_class.add_multi_constructor("tag:", any_tag)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=loader_class)
    except yaml.YAMLError as exc:
        raise BatchError(f"{path}: not readable YAML ({exc})") from exc
    out: dict[str, tuple[Student, ...]] = {}
    for key, value in (raw or {}).items():
        entry = _unsymbol(value)
        people = entry.get("submitters") if isinstance(entry, dict) else None
        out[str(key).lstrip(":")] = tuple(
            Student(
                name=str(p.get("name") or ""),
                email=str(p.get("email") or ""),
                sid=str(p.get("sid") or ""),
            )
            for p in (people or [])
            if isinstance(p, dict)
        )
    return out


def _unsymbol(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k).lstrip(":"): _unsymbol(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unsymbol(v) for v in value]
    return value


def _unpack_export(archive: Path, dest: Path) -> Path:
    """Unpack an export zip once (a rerun reuses it); refuses paths that leave ``dest``."""
    done = dest / ".unpacked"
    if done.is_file() and done.read_text() == _file_digest(archive):
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            parts = Path(info.filename).parts
            if info.filename.startswith("/") or ".." in parts or "\\" in info.filename:
                raise BatchError(f"{archive}: unsafe path {info.filename!r} in the export")
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                continue  # a symlink: never followed, never created
            zf.extract(info, dest)
    done.write_text(_file_digest(archive))
    return dest


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def content_digest(path: Path) -> str:
    """The engine's digest of the student's sources (what ``submission_digest`` will say)."""
    from grader.grading.submission import SubmissionError, load_submission

    try:
        return load_submission(path).digest
    except SubmissionError:
        # Unreadable as a submission: its raw bytes key it (the grading will say what is wrong).
        return "raw:" + (_file_digest(path) if path.is_file() else "unreadable")
