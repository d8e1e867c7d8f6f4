"""What a Dask task carries instead of paths: a submission's content and the pack, by digest.

A worker of a cluster shares nothing with the coordinator but the grader installation
(docs/BATCH.md, "Dask"). So a task carries

* the **submission** as the safe intake read it on the coordinator (``submission_wire``): the
  same bounded ``{name: source}`` (modules and text data files), the problems found and the
  digest; the grading process grades that, never a path;
* the **pack** by its digest: the coordinator builds one content-addressed archive of the
  manifest, the reference, the suites (public, hidden, the bugs, pytest.ini, torch's recorded
  answers), the stubs and the notebook (``PackArchive.build``); each worker receives it once
  and unpacks it into a private folder of its own (``unpack``), kept by digest.

Everything here is plain data on the wire (``bytes``, ``str``, ``dict``): unpickling a task runs
nothing of ours, and unpacking happens inside the task, where a failure is that submission's
grader error (``grader.classroom.cluster``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from grader.authoring import pack

__all__ = [
    "PackArchive",
    "PackError",
    "cache_root",
    "submission_from_wire",
    "submission_wire",
    "unpack",
]

#: Where a worker keeps the packs it received, by digest (``GRADER_PACK_CACHE`` overrides).
CACHE_ENV: Final = "GRADER_PACK_CACHE"
#: A pack larger than this is refused: it is sent to every worker (the reference and suites of
#: a course are a few hundred kB; this leaves room for recorded answers and data).
MAX_PACK_BYTES: Final = 256 * 2**20
#: The unpacked folder is complete once this file exists in it (an interrupted unpack is redone).
_COMPLETE: Final = ".complete"
#: Fixed zip member times: the same pack gives the same bytes, hence the same digest.
_EPOCH: Final = (1980, 1, 1, 0, 0, 0)


class PackError(Exception):
    """The pack cannot be shipped or set up; the message says which file and why."""


# -- the submission ----------------------------------------------------------------------------


def submission_wire(path: Path) -> dict[str, Any]:
    """The submission at ``path`` as the safe intake reads it, as plain JSON data.

    A submission that cannot be read at all travels as its message (the grading reports it, as
    ``grader grade`` would)."""
    from grader.grading.submission import SubmissionError, load_submission

    try:
        sub = load_submission(path)
    except SubmissionError as exc:
        return {"unreadable": str(exc)}
    return {
        "kind": sub.kind,
        "sources": dict(sub.sources),
        "problems": [
            {"code": p.code, "message": p.message, "file": p.file, "fatal": p.fatal}
            for p in sub.problems
        ],
        "digest": sub.digest,
    }


def submission_from_wire(data: dict[str, Any]) -> Any:
    """``submission_wire``'s data back as the ``Submission`` the engine grades.

    An unreadable submission becomes one with no sources and one fatal problem carrying its
    message: the engine then reports exactly what it reports for the path itself."""
    from grader.grading.submission import Problem, Submission

    if "unreadable" in data:
        problem = Problem("unreadable", str(data["unreadable"]), None, True)
        return Submission("folder", {}, (problem,), "")
    sources = data["sources"]
    if not isinstance(sources, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in sources.items()
    ):
        raise ValueError("a shipped submission's sources must map file names to text")
    problems = tuple(
        Problem(str(p["code"]), str(p["message"]), p.get("file"), bool(p["fatal"]))
        for p in data["problems"]
    )
    return Submission(data["kind"], dict(sources), problems, str(data["digest"]))


# -- the pack ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackArchive:
    """The active pack as one zip: ``digest`` is the SHA-256 of ``data``."""

    digest: str
    data: bytes
    files: int

    @classmethod
    def build(cls, root: Path | None = None) -> PackArchive:
        """The archive of the pack at ``root`` (default: the active one).

        It holds what grading reads: the manifest, the reference, the suites, the stubs and the
        notebook, at their places relative to the pack, without caches and hidden files. A
        folder outside the pack (``[paths]`` pointing elsewhere) cannot keep its place on a
        worker, so it is refused with the key to change."""
        p = pack.active() if root is None else pack.load(root)
        base = p.root
        parts: list[tuple[str, Path]] = [(pack.MANIFEST, base / pack.MANIFEST)]
        named = [("solutions", p.solutions), ("suites", p.suites), ("assignment", p.assignment)]
        if p.notebook is not None:
            named.append(("notebook", p.notebook))
        for key, named_path in named:
            where = named_path.resolve()
            if not where.exists():
                continue  # a student bundle has no solutions; a pack may have no stubs yet
            if not where.is_relative_to(base):
                raise PackError(
                    f"{base / pack.MANIFEST}: paths.{key} ({where}) lies outside the pack, so "
                    "it cannot be shipped to Dask workers; move it into the pack's folder"
                )
            files = [where] if where.is_file() else sorted(where.rglob("*"))
            parts += [(f.relative_to(base).as_posix(), f) for f in files if _shipped(f, base)]
        buf = io.BytesIO()
        names = sorted(dict(parts).items())
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, path in names:
                info = zipfile.ZipInfo(name, _EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, path.read_bytes())
        data = buf.getvalue()
        if len(data) > MAX_PACK_BYTES:
            raise PackError(
                f"the pack at {base} is {len(data) / 2**20:.0f} MiB as an archive, more than "
                f"the {MAX_PACK_BYTES // 2**20} MiB sent to each Dask worker"
            )
        return cls(hashlib.sha256(data).hexdigest(), data, len(names))


def _shipped(path: Path, base: Path) -> bool:
    rel = path.relative_to(base).parts
    return (
        path.is_file()
        and not path.is_symlink()
        and not any(part.startswith(".") or part == "__pycache__" for part in rel)
    )


def cache_root() -> Path:
    """This worker's folder of unpacked packs: ``$GRADER_PACK_CACHE``, else
    ``~/.cache/grader/packs``; created private (0700) and refused when another user could
    reach it."""
    where = os.environ.get(CACHE_ENV) or str(Path.home() / ".cache" / "grader" / "packs")
    root = Path(where)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = root.stat()
    if st.st_uid != os.geteuid():
        raise PackError(f"{root}: the pack cache belongs to another user (uid {st.st_uid})")
    if st.st_mode & 0o077:
        os.chmod(root, 0o700)
    return root


def unpack(digest: str, data: bytes, root: Path | None = None) -> Path:
    """The pack ``data`` unpacked under ``root/digest`` (once: a later call finds it), then
    loaded, so that a broken manifest raises here (``pack.ManifestError``).

    The folder and everything in it is private to this worker's user (0700 folders, 0600
    files): the sandbox users cannot read it as root, and it is on no allowlist, and the
    pack's trusted folders are denied to the workers by name wherever they are
    (``pack.trusted_dirs``)."""
    if hashlib.sha256(data).hexdigest() != digest:
        raise PackError(f"the pack received does not match its digest {digest[:12]}")
    if root is None:
        root = cache_root()
    else:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
    dest = root / digest
    if not (dest / _COMPLETE).is_file():
        staging = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=root))
        try:
            _extract(data, staging)
            fd = os.open(staging / _COMPLETE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as done:
                done.write(digest)
            # Atomic: ``dest`` only ever appears complete. Another worker process of this user
            # may have won the race; its folder is then the same content, and stays.
            with contextlib.suppress(OSError):
                os.rename(staging, dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if not (dest / _COMPLETE).is_file():
            raise PackError(
                f"could not unpack the pack {digest[:12]} into {dest} (remove that folder if an "
                "interrupted run left it)"
            )
    pack.load(dest)
    return dest


def _extract(data: bytes, dest: Path) -> None:
    """Regular files only, each under ``dest``: no absolute paths, ``..``, links or devices."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            parts = Path(info.filename).parts
            bad = info.filename.startswith("/") or ".." in parts or "\\" in info.filename
            if bad or not parts or (info.external_attr >> 16) & 0o170000 not in (0, 0o100000):
                raise PackError(f"the pack holds an unsafe member {info.filename!r}")
            if info.is_dir():
                continue
            target = dest.joinpath(*parts)
            for depth in range(1, len(parts)):  # each folder private, not only the last
                dest.joinpath(*parts[:depth]).mkdir(mode=0o700, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(zf.read(info))
