"""Feedback files back to Canvas or Moodle in one upload (issue 27, item 3).

    grader lms-feedback DIR --out feedback.zip [--lms canvas|moodle] [--text] [--show VISIBILITY]

``feedback_archive(dir, page, out)`` writes the zip the batch's LMS takes back in bulk, one
feedback file per student (a page of ``grader feedback``), each named as that LMS's own code
matches it; every submission of the batch that the LMS would not match is returned, printed
and written beside the zip (``<out>.unmatched.txt``), never left out silently.

* **Canvas**, "Upload submissions" on the assignment page (``GradebooksController
  #submissions_zip_upload``; ``AbstractAssignment#generate_comments_from_files`` and
  ``#infer_comment_context_from_filename``): each file's base name is split on ``_``; the first
  two all-digit pieces are the user id and the id of one of that student's *current*
  attachments (the newer code drops ``LATE`` pieces and reads ``anon_<id>`` first); a last piece
  starting with ``link`` or a name starting with ``._`` is ignored. The file becomes a comment,
  "See attached file", and carries the display name of the student's attachment it names. We
  write ``<user id>_<attachment id>_feedback.html`` (``anon_<id>_<attachment id>_...`` under
  anonymous grading), with an attachment id from the download, so a student who submitted text
  or a URL (no attachment) cannot be matched.
* **Moodle**, "Upload multiple feedback files in a zip" (``mod/assign/feedback/file/
  importziplib.php``, ``is_valid_filename_for_import``): a path component split on ``_`` into
  at most five pieces must give a numeric participant id (a team's group id) in the second and
  a plugin in the third and fourth; the fifth is the stored file name; names starting with
  ``.`` or ``~`` are skipped. We write ``<name>_<participant id>_assignfeedback_file_feedback
  .html`` at the top of the zip, the form both the old importer (the file name alone, exactly
  five pieces) and the new one (each path component) accept.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from grader import messages
from grader.classroom.export import write_left_out
from grader.classroom.gradebook import Record
from grader.classroom.lms import Download, LmsSubmission, load_manifest
from grader.safe_text import for_terminal

__all__ = [
    "Archive",
    "LmsOutError",
    "archive_lines",
    "canvas_name",
    "feedback_archive",
    "moodle_name",
]

#: What a page source gives for a submission id: the file's bytes, or None (no page).
Page = Callable[[str], bytes | None]
_STAMP: Final = (2020, 1, 1, 0, 0, 0)  # a fixed time in the zip: the same batch, the same bytes


class LmsOutError(Exception):
    """No archive can be written (the batch read no LMS download); the message says why."""


@dataclass
class Archive:
    lms: str
    out: Path
    written: list[tuple[str, str]] = field(default_factory=list)  # (submission id, entry)
    unmatched: list[tuple[str, str, str]] = field(default_factory=list)  # (id, name, why)

    @property
    def listed(self) -> Path:
        return self.out.with_name(self.out.name + ".unmatched.txt")


def canvas_name(sub: LmsSubmission, suffix: str) -> str | None:
    """The feedback file's name Canvas matches to ``sub``, or None when it has no attachment."""
    key = sub.lms_id.removeprefix("canvas:")
    attachments = sorted((f.attachment for f in sub.files if f.attachment), key=int)
    if not sub.lms_id.startswith("canvas:") or not key or not attachments:
        return None
    return f"{key}_{attachments[0]}_feedback.{suffix}"


def moodle_name(sub: LmsSubmission, suffix: str) -> str | None:
    """The feedback file's name Moodle matches to ``sub``, or None when it has no id."""
    key = sub.lms_id.removeprefix("moodle:")
    if not sub.lms_id.startswith("moodle:") or not key.isdigit():
        return None
    # The name piece only has to hold no "_" (and not start the file with "." or "~").
    name = re.sub(r"[_/\\]+", " ", sub.name).lstrip(".~ ") or "Participant"
    return f"{name}_{key}_assignfeedback_file_feedback.{suffix}"


def feedback_archive(
    workdir: Path,
    records: Sequence[Record],
    page: Page,
    out: Path,
    suffix: str = "html",
    lms: str | None = None,
) -> Archive:
    """Write the bulk feedback zip of the batch in ``workdir`` to ``out``, and the list of the
    submissions it could not name beside it; ``lms`` checks which LMS the caller expects."""
    download = load_manifest(workdir)
    if download is None:
        raise LmsOutError(messages.LMS_NO_DOWNLOAD.format(dir=workdir))
    if lms is not None and lms != download.lms:
        raise LmsOutError(messages.LMS_WRONG_LMS.format(dir=workdir, have=download.lms, want=lms))
    done = Archive(download.lms, out)
    namer = canvas_name if download.lms == "canvas" else moodle_name
    graded = {r.id for r in records}
    by_id = {s.id: s for s in download.submissions}
    entries: dict[str, bytes] = {}
    for sub_id in sorted(graded | set(by_id)):
        sub = by_id.get(sub_id)
        who = sub.name if sub is not None else _names(records, sub_id)
        if sub is None:
            why = messages.LMS_NOT_FROM_LMS.format(lms=_title(download))
        elif sub_id not in graded:
            why = messages.LMS_NO_PAGE
        elif (entry := namer(sub, suffix)) is None:
            no_file = download.lms == "canvas" and sub.lms_id
            why = (
                messages.LMS_CANVAS_NO_FILE
                if no_file
                else messages.LMS_NO_LMS_ID.format(lms=_title(download))
            )
        elif (content := page(sub_id)) is None:
            why = messages.LMS_NO_PAGE
        else:
            entries[entry] = content
            done.written.append((sub_id, entry))
            continue
        done.unmatched.append((sub_id, who, why))
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w") as zf:
        for entry, content in sorted(entries.items()):
            info = zipfile.ZipInfo(entry, _STAMP)
            # writestr(ZipInfo) takes the compression from the ZipInfo, not from the ZipFile
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)
    write_left_out(done.listed, done.unmatched)
    return done


def _title(download: Download) -> str:
    return download.lms.capitalize()


def _names(records: Sequence[Record], sub_id: str) -> str:
    rec = next((r for r in records if r.id == sub_id), None)
    return "; ".join(s.name for s in rec.students if s.name) if rec is not None else ""


def archive_lines(done: Archive) -> list[str]:
    """What the command prints: the zip, then every submission left out and why."""
    lines = [messages.LMS_ARCHIVE_WROTE.format(out=done.out, count=len(done.written), lms=done.lms)]
    if done.unmatched:
        lines.append(
            messages.LMS_ARCHIVE_UNMATCHED.format(
                count=len(done.unmatched), lms=done.lms.capitalize(), listed=done.listed
            )
        )
        lines += [
            f"  {for_terminal(sub_id)} ({for_terminal(who or '?')}): {why}"
            for sub_id, who, why in done.unmatched
        ]
    return lines
