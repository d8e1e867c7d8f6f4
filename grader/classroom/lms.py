"""An LMS's own download of a class's submissions, as ``grader batch`` input (issue 27, item 2).

    grader batch "hw1 submissions.zip" --out DIR       # Canvas's "Download Submissions"
    grader batch hw1-1234.zip --out DIR                 # Moodle's "Download all submissions"

``read_download(source, workdir)`` recognizes the download (a zip, or the folder it was unpacked
into), groups each student's files under the names the student uploaded in
``workdir/lms/submissions/<id>/``, and returns one ``LmsSubmission`` per student with the LMS's
id and late marker (they reach the gradebook through ``Student.lms_id`` and ``Student.late``).
The submission id is the LMS's (``canvas-101``, ``moodle-501``), so a later download of the same
class finds the same gradebook rows even when a name changed. A file larger than any submission
may be is listed and left in the download.
What the LMS's naming does not explain is kept, never dropped: a file no student owns goes to
``workdir/lms/unmatched/``, a second file of a student under the same name to
``workdir/lms/set-aside/<id>/``; both are listed in ``workdir/lms.json`` (``grader.classroom
.lms_out`` reads it to name the feedback files) and printed.

The naming rules, read in each LMS's source (docs/BATCH.md cites the commits):

* Canvas, ``lib/content_zipper.rb`` (``get_filename``, ``add_upload_submission``,
  ``add_text_or_url``): a flat zip of ``<name>[_LATE]_<user id>_<attachment id>_<file name>``
  per uploaded file, ``<name>[_LATE]_<user id>_text.html`` / ``_link.html`` for a text entry or
  a URL; under anonymous grading ``anon_<anonymous id>`` replaces the name and the user id. The
  name part (sortable name, lower case, non-word characters deleted) is lossy and never an
  identity. An exact repeat of an entry name gets ``-1``, ``-2`` before the extension
  (``Attachment.make_unique_filename``). Only each student's latest attempt is in the zip.
* Moodle, ``mod/assign/classes/downloader.php`` (4.1+; ``locallib.php``
  ``download_submissions`` before): ``<full name>_<participant id>_assignsubmission_<plugin>``
  as a folder holding the submission's own paths (the default, "download as folders"; 3.1-4.0
  add a trailing ``_``), or as a prefix of each file name when flat. The full name has ``_``
  turned into spaces; the id is the per-assignment participant id ("Participant N"), a team's
  group id in team assignments, and absent for ``Default group``. Moodle's zip has no late
  marker.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Final, Literal, TextIO

from grader import messages
from grader.classroom.gradebook import Student
from grader.grading.submission import DEFAULT_LIMITS
from grader.safe_text import for_terminal

__all__ = ["MANIFEST", "Download", "LmsError", "LmsSubmission", "load_manifest", "read_download"]

Lms = Literal["canvas", "moodle"]
MANIFEST: Final = "lms.json"
_ANON: Final = re.compile(r"[1-9A-HJ-NP-Za-km-z]{5}")  # Canvas's Anonymity.generate_short_id
_MOODLE: Final = re.compile(r"assign(submission|feedback)")
_JUNK: Final = ("__MACOSX/", ".DS_Store", "Thumbs.db")
#: A file of the download larger than this is not copied: no submission may be so large.
_MAX_BYTES: Final = DEFAULT_LIMITS.max_notebook_bytes


class LmsError(Exception):
    """The download cannot be read (an unsafe path, a broken zip); the message says what."""


@dataclass(frozen=True)
class LmsFile:
    entry: str  # the path in the download
    path: str  # where it went: the uploaded name in the student's folder, else under set-aside/
    attachment: str = ""  # Canvas's attachment id of an uploaded file
    set_aside: bool = False


@dataclass(frozen=True)
class LmsSubmission:
    id: str  # the batch's submission id (results/<id>.json)
    path: Path  # the student's folder of files, named as uploaded
    lms_id: str  # canvas:<user id> | canvas:anon_<id> | moodle:<participant or group id> | ""
    name: str  # the name the LMS put in the file names (lossy on Canvas)
    late: bool = False
    files: tuple[LmsFile, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def student(self) -> Student:
        return Student(name=self.name, lms_id=self.lms_id, late=self.late)


@dataclass
class Download:
    lms: Lms
    layout: Literal["flat", "folders"]
    submissions: list[LmsSubmission] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)  # entries no student owns
    #: a Moodle team assignment's download (it has a team in no group: ``Default group``, no
    #: id), whose ids are group ids; one whose teams are all in groups cannot be told apart
    team: bool = False


# -- reading the entries ---------------------------------------------------------------------


def _entries(source: Path, links: list[str]) -> Iterator[tuple[str, bytes | None]]:
    """(relative POSIX path, content) of every file of the download, in name order; the content
    is None for a file larger than any submission may be (left in the download, not copied).
    A symbolic link is never followed nor created: its name goes to ``links``, to be listed."""
    if source.is_dir():
        for p in sorted(source.rglob("*")):
            if p.is_symlink():
                links.append(p.relative_to(source).as_posix())
            elif p.is_file():
                big = p.stat().st_size > _MAX_BYTES
                yield p.relative_to(source).as_posix(), None if big else p.read_bytes()
        return
    try:
        with zipfile.ZipFile(source) as zf:
            for info in sorted(zf.infolist(), key=lambda i: i.filename):
                name = info.filename
                if info.is_dir():
                    continue
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    links.append(name)
                    continue
                parts = PurePosixPath(name).parts
                if name.startswith("/") or ".." in parts or "\\" in name or ":" in parts[0]:
                    raise LmsError(
                        messages.LMS_UNSAFE_PATH.format(archive=source, path=for_terminal(name))
                    )
                with zf.open(info) as fh:  # never trust the size the header declares
                    data = fh.read(_MAX_BYTES + 1)
                yield name, None if len(data) > _MAX_BYTES else data
    except zipfile.BadZipFile as exc:
        raise LmsError(f"{source}: {exc}") from None


def _id(token: str) -> bool:
    """An id as both LMSs write it: ASCII digits (Ruby's ``/^\\d+$/``, PHP's ``is_numeric``)."""
    return token.isascii() and token.isdigit()


def _junk(path: str) -> bool:
    base = path.rsplit("/", 1)[-1]
    return path.startswith(_JUNK[0]) or base in _JUNK[1:] or base.startswith("._")


# -- Canvas ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Canvas:
    key: str  # user id, or anon_<id>
    name: str
    late: bool
    attachment: str  # "" for text.html / link.html
    filename: str


def _canvas(base: str) -> _Canvas | None:
    """One entry name of Canvas's submissions zip, or None when Canvas would not write it."""
    tokens = base.split("_")
    at = next(
        (i for i, t in enumerate(tokens) if _id(t) or (t == "anon" and i + 1 < len(tokens))),
        None,
    )
    if at is None:
        return None
    name = tokens[:at]
    late = bool(name) and name[-1] in ("LATE", "late")  # older Canvas lowercased everything
    if late:
        name = name[:-1]
    if tokens[at] == "anon":
        if not _ANON.fullmatch(tokens[at + 1]) or name:
            return None
        key, rest = f"anon_{tokens[at + 1]}", tokens[at + 2 :]
    else:
        key, rest = tokens[at], tokens[at + 1 :]
    if rest in (["text.html"], ["link.html"]):
        return _Canvas(key, "_".join(name), late, "", rest[0])
    if len(rest) < 2 or not _id(rest[0]):
        return None
    return _Canvas(key, "_".join(name), late, rest[0], "_".join(rest[1:]))


# -- Moodle ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Moodle:
    name: str
    key: str  # participant (or group) id; "" for Default group
    path: str  # the file's path in the submission


def _moodle(path: str) -> _Moodle | None:
    """Split as Moodle's own importer splits a path (``importziplib.php``): the first component
    of ``<name>_<id>_<subtype>_<plugin>[_<rest>]`` names the student; the rest is the file."""
    parts = path.split("/")
    for i, part in enumerate(parts):
        pieces = part.split("_", 4)
        if len(pieces) >= 4 and _id(pieces[1]) and _MOODLE.fullmatch(pieces[2]):
            name, key = pieces[0], pieces[1]
            rest = pieces[4] if len(pieces) == 5 else ""
        elif len(pieces) >= 3 and _MOODLE.fullmatch(pieces[1]):  # a team without a group
            name, key = pieces[0], ""
            rest = "_".join(pieces[3:])
        else:
            continue
        inner = "/".join(p for p in (rest, *parts[i + 1 :]) if p)
        if not inner:
            return None
        return _Moodle(name, key, inner)
    return None


# -- the download ----------------------------------------------------------------------------


def detect(source: Path) -> Lms | None:
    """Which LMS wrote ``source``, from its entry names alone (None: not an LMS download).

    Canvas's entries are flat files named by its rules; a Moodle download has at least one
    path its importer would recognize. Half the entries must fit, so that a stray file or two
    (a README someone added) does not hide the download, and a folder of plain submissions
    (``alice.zip``, ``bob/``) is never taken for one.
    """
    if not (source.is_dir() or zipfile.is_zipfile(source)):
        return None
    names = [n for n in _names(source) if not _junk(n)]
    if not names:
        return None
    moodle = sum(_moodle(n) is not None for n in names)
    if moodle and 2 * moodle >= len(names):
        return "moodle"
    # A name in a sub-folder is never Canvas's (its zip is flat) but counts against the half
    # rule like any other stray, rather than hiding the whole download (it goes to unmatched).
    canvas = sum(_canvas(n) is not None for n in names if "/" not in n)
    if canvas and 2 * canvas >= len(names):
        return "canvas"
    return None


def _names(source: Path) -> list[str]:
    if source.is_dir():
        return [p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()]
    with zipfile.ZipFile(source) as zf:
        return [i.filename for i in zf.infolist() if not i.is_dir()]


def read_download(source: Path, workdir: Path, stream: TextIO | None = None) -> Download | None:
    """The download at ``source`` laid out in ``workdir/lms/`` (rebuilt on each call, so a newer
    download replaces the older one), its manifest written, its notes printed; None when
    ``source`` is not an LMS download."""
    lms = detect(source)
    if lms is None:
        return None
    root = workdir / "lms"
    if root.exists():
        shutil.rmtree(root)
    got = _read_canvas(source, root) if lms == "canvas" else _read_moodle(source, root)
    (workdir / MANIFEST).write_text(
        json.dumps(_to_json(got, workdir), indent=1) + "\n", encoding="utf-8"
    )
    for line in notice_lines(got):
        print(line, file=stream or sys.stderr)
    return got


class _Builder:
    """Students' files, each under its uploaded name; a second file of the same name is set
    aside (the intake would keep only one), a file no student owns is kept as unmatched."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, list[LmsFile]] = {}
        self.notes: dict[str, list[str]] = {}

    def add(self, sid: str, entry: str, rel: str, data: bytes | None, attachment: str = "") -> None:
        taken = {f.path for f in self.files.get(sid, []) if not f.set_aside}
        folder = self.root / "submissions" / sid
        why = (
            messages.LMS_TOO_LARGE
            if data is None
            else messages.LMS_DUPLICATE
            if rel in taken
            else messages.LMS_ODD_NAME
            if not _plain(rel)
            else None
        )
        file = LmsFile(entry, rel, attachment)
        if why is None and data is not None:
            try:
                _write(folder / rel, data)
            except OSError:  # a file and a folder of one name (`a`, `a/b`): one cannot be placed
                why = messages.LMS_ODD_NAME
        if why is not None:
            kept = f"{len(self.files.get(sid, []))}_{rel.replace('/', '_')}"
            file = LmsFile(entry, "", attachment, True)
            if data is not None:
                _write(self.root / "set-aside" / sid / kept, data)
            self.notes.setdefault(sid, []).append(why.format(entry=entry, name=rel))
        folder.mkdir(parents=True, exist_ok=True)  # a student whose files were all set aside
        self.files.setdefault(sid, []).append(file)

    def stray(self, entry: str, data: bytes | None) -> None:
        if data is None:
            return  # listed, and left in the download
        # a file and a folder of one name (`a`, `a/b`): listed all the same, one copy left out
        with contextlib.suppress(OSError):
            _write(self.root / "unmatched" / entry, data)


def _write(dest: Path, data: bytes) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)


def _plain(rel: str) -> bool:
    parts = rel.split("/")
    return all(p not in ("", ".", "..") for p in parts)


def _read_canvas(source: Path, root: Path) -> Download:
    got = Download("canvas", "flat")
    build = _Builder(root)
    people: dict[str, _Canvas] = {}
    found: list[tuple[str, _Canvas, str, bytes | None]] = []
    links: list[str] = []
    for entry, data in _entries(source, links):
        parsed = None if "/" in entry or _junk(entry) else _canvas(entry)
        if parsed is None:
            got.unmatched.append(entry)
            build.stray(entry, data)
        else:
            found.append((_submission_id("canvas", parsed.name, parsed.key), parsed, entry, data))
    got.unmatched += [messages.LMS_LINK.format(entry=link) for link in links]
    # An exact repeat of an entry name got "-<n>" before its extension (make_unique_filename):
    # the same attachment of the same student under its own name plus such a suffix is a copy.
    names = {(sid, p.attachment, p.filename) for sid, p, _, _ in found}

    def original(sid: str, p: _Canvas) -> str:
        plain = re.sub(r"-\d+(?=\.[^.]*$|$)", "", p.filename)
        return plain if plain != p.filename and (sid, p.attachment, plain) in names else ""

    # A student's later upload (the larger attachment id) first, and an original before its
    # copies: of two files of one name, the intake grades the one it meets first.
    found.sort(key=lambda f: (f[0], -int(f[1].attachment or 0), bool(original(*f[:2])), f[2]))
    for sid, parsed, entry, data in found:
        people.setdefault(sid, parsed)
        people[sid] = parsed if parsed.late else people[sid]
        name = original(sid, parsed) or parsed.filename
        build.add(sid, entry, name, data, parsed.attachment)
    for sid, who in sorted(people.items()):
        got.submissions.append(
            LmsSubmission(
                id=sid,
                path=root / "submissions" / sid,
                lms_id=f"canvas:{who.key}",
                name=who.name,
                late=who.late,
                files=tuple(build.files[sid]),
                notes=tuple(build.notes.get(sid, ())),
            )
        )
    return got


def _read_moodle(source: Path, root: Path) -> Download:
    build = _Builder(root)
    people: dict[str, _Moodle] = {}
    folders = False
    unmatched: list[str] = []
    links: list[str] = []
    for entry, data in _entries(source, links):
        parsed = None if _junk(entry) else _moodle(entry)
        if parsed is None:
            unmatched.append(entry)
            build.stray(entry, data)
            continue
        folders = folders or "/" in entry.split("_assign", 1)[-1]
        sid = _submission_id("moodle", parsed.name, parsed.key)
        people.setdefault(sid, parsed)
        build.add(sid, entry, parsed.path, data)
    unmatched += [messages.LMS_LINK.format(entry=link) for link in links]
    got = Download("moodle", "folders" if folders else "flat", unmatched=unmatched)
    got.team = any(not who.key for who in people.values())
    for sid, who in sorted(people.items()):
        notes = build.notes.get(sid, [])
        if not who.key:
            notes = [messages.LMS_NO_ID.format(name=who.name), *notes]
        got.submissions.append(
            LmsSubmission(
                id=sid,
                path=root / "submissions" / sid,
                lms_id=f"moodle:{who.key}" if who.key else "",
                name=who.name,
                files=tuple(build.files[sid]),
                notes=tuple(notes),
            )
        )
    return got


def _submission_id(lms: Lms, name: str, key: str) -> str:
    """The LMS's id, never the name: a name changes (Moodle reveals it after blind marking,
    a student corrects it) and the next download must still find the same gradebook row."""
    if key:
        return f"{lms}-{key}"
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()[:48]
    return f"{lms}-{slug or 'submission'}"


# -- the manifest ----------------------------------------------------------------------------


def _to_json(got: Download, workdir: Path) -> dict[str, object]:
    return {
        "lms": got.lms,
        "layout": got.layout,
        "unmatched": got.unmatched,
        "team": got.team,
        "submissions": [
            {
                **asdict(s),
                "path": s.path.relative_to(workdir).as_posix(),
                "files": [asdict(f) for f in s.files],
            }
            for s in got.submissions
        ],
    }


def load_manifest(workdir: Path) -> Download | None:
    """What ``read_download`` recorded in ``workdir`` (None: the batch read no LMS download)."""
    path = workdir / MANIFEST
    if not path.is_file():
        return None
    raw = json.loads(path.read_text(encoding="utf-8"))
    subs = [
        LmsSubmission(
            **{
                **{k: v for k, v in s.items() if k != "prefix"},  # kept by an older lms.json
                "path": workdir / s["path"],
                "files": tuple(LmsFile(**f) for f in s["files"]),
                "notes": tuple(s["notes"]),
            }
        )
        for s in raw["submissions"]
    ]
    team = bool(raw.get("team", False))  # absent from an lms.json written before it was kept
    return Download(raw["lms"], raw["layout"], subs, list(raw["unmatched"]), team)


def notice_lines(got: Download) -> list[str]:
    """What the batch prints about the download (student text made safe for a terminal)."""
    late = sum(s.late for s in got.submissions)
    lines = [
        messages.LMS_READ.format(
            lms=got.lms.capitalize(), layout=got.layout, count=len(got.submissions), late=late
        )
    ]
    for s in got.submissions:
        lines += [f"  {for_terminal(s.id)}: {for_terminal(n)}" for n in s.notes]
    if got.unmatched:
        lines.append(messages.LMS_UNMATCHED_FILES.format(count=len(got.unmatched)))
        lines += [f"  {for_terminal(e)}" for e in got.unmatched]
    return lines
