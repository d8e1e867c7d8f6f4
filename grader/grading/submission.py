"""Safe intake: a submission (folder, .py file, zip or notebook) -> {file name: source} + problems.

(Over 500 lines on purpose: every route in (folder, zip, notebook) must apply the same bounded
reads and the same folder rules, which is easiest to keep true when they are read side by side.)

It reads untrusted bytes and never executes them. Every size is bounded before it is read: a zip's
members are all checked (paths, links, count, depth, sizes, ratios) before any member data is
decompressed, and each read is capped at the limit plus one byte, whatever the headers claim.
Only "cannot even read it" raises (:class:`SubmissionError`); everything else is a
:class:`Problem`, fatal when nothing can be graded. Codes are the keys of :data:`MESSAGES`.

The paths inside a submission are never trusted; the top-level path itself comes from the caller
(instructor, Gradescope) and is opened as given.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shlex
import stat
import sys
import textwrap
import warnings
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

from grader import messages
from grader.authoring import pack
from grader.authoring.pack import close_matches

__all__ = [
    "DEFAULT_LIMITS",
    "MESSAGES",
    "IntakeLimits",
    "Problem",
    "Submission",
    "SubmissionError",
    "load_notebook_sources",
    "load_submission",
    "safe_name",
    "write_sources",
]

#: Student-facing messages, one per problem code (the code is the key); they live with every
#: other message a student can read, in ``grader.messages``.
MESSAGES: Final[Mapping[str, str]] = messages.INTAKE

#: What a fatal too-large / unsafe-path problem tells the student to do next.
NOTHING_GRADED: Final = messages.INTAKE_NOTHING_GRADED
FILE_DROPPED: Final = messages.INTAKE_FILE_DROPPED

#: Names that would shadow a module the student's code or the grader imports.
_SHADOWING: Final = frozenset(
    {"numpy", "torch", "pytest", "hypothesis", "conftest", "sitecustomize", "usercustomize"}
    | set(getattr(sys, "stdlib_module_names", ()))
)

_SAFE_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\.py")
#: Text data a student's module may read next to its own file (``os.path.dirname(__file__)``).
_DATA_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\.(?:json|txt|csv|tsv)")
_DRIVE: Final = re.compile(r"[A-Za-z]:")
_JUNK: Final = frozenset({"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini"})
# Below this size a high compression ratio is harmless (the total limit bounds it anyway), and a
# short repetitive source file legitimately compresses more than 100x.
_RATIO_FLOOR: Final = 64 * 2**10
_ZIP_METHODS: Final = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)
_O_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK: Final = getattr(os, "O_NONBLOCK", 0)


class SubmissionError(Exception):
    """The submission cannot be read at all; ``str(err)`` is the student-facing message."""


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    file: str | None = None
    fatal: bool = False


@dataclass(frozen=True)
class Submission:
    kind: Literal["folder", "zip", "notebook"]
    sources: Mapping[str, str]
    problems: tuple[Problem, ...]
    digest: str


@dataclass(frozen=True)
class IntakeLimits:
    max_total_bytes: int = 5 * 2**20
    max_files: int = 200
    max_depth: int = 6
    max_ratio: float = 100.0
    max_file_bytes: int = 2 * 2**20

    @property
    def max_notebook_bytes(self) -> int:
        # A notebook also carries outputs (plots), so its file may be larger than its sources.
        return 4 * self.max_total_bytes


DEFAULT_LIMITS: Final = IntakeLimits()


def _problem(code: str, *, file: str | None = None, fatal: bool = False, **fields: Any) -> Problem:
    return Problem(code, MESSAGES[code].format(file=file, **fields), file, fatal)


def _fatal(code: str, **fields: Any) -> Problem:
    return _problem(code, fatal=True, **fields)


def _too_large(what: str, size: int, limit: int, file: str | None = None) -> Problem:
    """Fatal for a whole submission; for one file (``file`` given), that file is dropped."""
    outcome = NOTHING_GRADED if file is None else FILE_DROPPED
    return _problem("too-large", file=file, fatal=file is None, what=what, size=size,
                    limit=limit, outcome=outcome)  # fmt: skip


def _shown(name: str, width: int = 80) -> str:
    """A name safe to print: undecodable bytes escaped, long names cut."""
    text = name.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= width else text[: width - 3] + "..."


def _names(names: Iterable[str], most: int = 8) -> str:
    shown = [f"`{_shown(n)}`" for n in names]
    if len(shown) <= most:
        return ", ".join(shown)
    return ", ".join(shown[:most]) + f" and {len(shown) - most} more"


class _Corrupt(Exception):
    """A zip member could not be read (bad CRC, truncated data, ...)."""


@dataclass(frozen=True)
class _Entry:
    """One regular file of a submission, not yet read: ``read(n)`` returns at most n bytes."""

    parts: tuple[str, ...]
    size: int
    read: Callable[[int], bytes]


# --- the rules shared by folders, zips and notebooks ---------------------------------------------


def _is_junk(parts: tuple[str, ...]) -> bool:
    return any(p in _JUNK for p in parts) or parts[-1].startswith("._")


def _pyc_module(name: str) -> str | None:
    """``layers.cpython-311.pyc`` -> ``layers``."""
    return name.split(".", 1)[0] if name.lower().endswith(".pyc") else None


def _expected_in(e: _Entry) -> tuple[str, ...] | None:
    """The folder for which ``e`` is an expected file (any case, or its .pyc), else None."""
    name, parent = e.parts[-1], e.parts[:-1]
    module = _pyc_module(name)
    if module is not None and parent[-1:] == ("__pycache__",):
        name, parent = f"{module}.py", parent[:-1]
    expected = {f.lower() for f in pack.active().files}
    return parent if name.lower() in expected and not _is_junk(e.parts) else None


def _lone_notebook(entries: list[_Entry]) -> _Entry | None:
    """The one top-level notebook of a folder or zip without any expected file (Gradescope puts
    an uploaded notebook in a folder), else None."""
    if any(_expected_in(e) is not None for e in entries):
        return None
    notebooks = [e for e in entries if len(e.parts) == 1 and e.parts[0].endswith(".ipynb")]
    return notebooks[0] if len(notebooks) == 1 else None


def _choose_root(entries: list[_Entry]) -> tuple[str, ...]:
    """The folder holding the expected files: the top, else the one nested folder holding most."""
    counts: dict[tuple[str, ...], int] = {}
    for e in entries:
        parent = _expected_in(e)
        if parent is not None:
            counts[parent] = counts.get(parent, 0) + 1
    if not counts or () in counts:
        return ()
    return min(counts, key=lambda d: (-counts[d], len(d), d))


def _decode(data: bytes, name: str, problems: list[Problem]) -> str | None:
    try:
        return data.decode("utf-8-sig")  # a BOM is fine: Python ignores it too
    except UnicodeDecodeError as exc:
        problems.append(_problem("not-utf8", file=name, offset=exc.start))
        return None


def _check_syntax(text: str, name: str, problems: list[Problem]) -> None:
    try:  # PyCF_ONLY_AST: parse, never run
        compile(text, name, "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as exc:
        line = (exc.text or "").strip() or "?"
        problems.append(
            _problem("syntax-error", file=name, line=exc.lineno, text=_shown(line), error=exc.msg)
        )
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        problems.append(
            _problem("syntax-error", file=name, line="?", text="?", error=_shown(str(exc)))
        )


def _assemble(
    entries: list[_Entry], limits: IntakeLimits, problems: list[Problem]
) -> dict[str, str]:
    """Apply the folder rules (nesting, case, .pyc, extras, UTF-8, syntax) to regular files."""
    files = pack.active().files
    expected_lower = {f.lower(): f for f in files}
    root = _choose_root(entries)
    if root:
        problems.append(_problem("nested-folder", folder=_shown("/".join(root))))
    top: dict[str, _Entry] = {}
    dupes: dict[str, list[str]] = {}
    pyc: dict[str, list[str]] = {}
    ignored: list[str] = []
    for e in entries:
        rel = e.parts[len(root) :] if e.parts[: len(root)] == root else ()
        module = _pyc_module(e.parts[-1])
        if _is_junk(e.parts):
            continue
        if module is not None and rel and rel[:-1] in ((), ("__pycache__",)):
            pyc.setdefault(f"{module}.py", []).append("/".join(e.parts))
        elif len(rel) != 1:
            ignored.append("/".join(e.parts))
        elif rel[0] in top:  # a zip may hold a name twice: the last wins, as unzip leaves it
            dupes.setdefault(rel[0], [rel[0]]).append(rel[0])
            top[rel[0]] = e
        else:
            top[rel[0]] = e

    chosen: dict[str, tuple[str, _Entry]] = {n: (n, e) for n, e in top.items() if n in files}
    helpers: list[str] = []
    data_files: list[str] = []
    for name in sorted(top):
        target = expected_lower.get(name.lower())
        if name in files:
            continue
        if target is not None and target in chosen:
            dupes.setdefault(target, [chosen[target][0]]).append(name)
        elif target is not None:
            chosen[target] = (name, top[name])
            problems.append(_problem("wrong-case", file=target, found=_shown(name)))
        elif _SAFE_NAME.fullmatch(name):
            chosen[name] = (name, top[name])
            helpers.append(name)
        elif _DATA_NAME.fullmatch(name):
            chosen[name] = (name, top[name])
            data_files.append(name)
        else:
            ignored.append(name)
    for name, seen in sorted(dupes.items()):
        if all(n == name for n in seen):
            kept = messages.USED_LAST_MEMBER
        else:  # the exact name beats its wrong-case copies, wherever they are
            kept = messages.USED_EXACT_NAME.format(file=f"`{_shown(seen[0])}`")
        problems.append(_problem("duplicate", file=name, names=_names(seen), used=kept))
    if helpers:
        shadows = [h for h in helpers if h[:-3] in _SHADOWING or h.startswith("test_")]
        note = (
            f" Note: {_names(shadows)} share a name with a module Python or the grader uses; "
            "only your own modules will see them."
            if shadows
            else ""
        )
        problems.append(_problem("extra-file", names=_names(helpers), note=note))
    if data_files:
        problems.append(_problem("data-file", names=_names(data_files)))
    if ignored:
        problems.append(_problem("ignored-file", names=_names(sorted(ignored))))

    sources: dict[str, str] = {}
    total = 0
    for target, (name, e) in sorted(chosen.items()):
        data = e.read(limits.max_file_bytes + 1) if e.size <= limits.max_file_bytes else b""
        if e.size > limits.max_file_bytes or len(data) > limits.max_file_bytes:
            size = max(e.size, len(data))
            problems.append(_too_large(f"`{_shown(name)}`", size, limits.max_file_bytes, target))
            continue
        total += len(data)
        if total > limits.max_total_bytes:
            problems.append(_too_large("Your source files", total, limits.max_total_bytes))
            return {}
        text = _decode(data, target, problems)
        if text is None:
            continue
        if target in data_files:
            sources[target] = text
            continue
        if not text.strip():
            problems.append(_problem("empty-file", file=target))
        _check_syntax(text, target, problems)
        sources[target] = text

    for target in files:
        if target in chosen:  # graded, or dropped with its own problem (too large, not UTF-8)
            continue
        if target in pyc:
            problems.append(_problem("pyc-only", file=target, found=_names(pyc[target], 2)))
            continue
        # A file graded under its own name (or as another expected file) is no misspelling.
        used = {name for file, (name, _) in chosen.items() if file in files}
        near = close_matches(target, [n for n in [*top, *ignored] if n not in used])
        hint = f" (did you mean `{_shown(near[0])}`? rename it to `{target}`)" if near else ""
        problems.append(_problem("missing-file", file=target, hint=hint))
    return sources


def _submission(
    kind: Literal["folder", "zip", "notebook"], sources: dict[str, str], problems: list[Problem]
) -> Submission:
    if any(p.fatal for p in problems):
        sources = {}
    items = sorted(sources.items())
    # json escapes every character unambiguously (lone surrogates included)
    digest = hashlib.sha256(json.dumps(items).encode("ascii")).hexdigest()
    return Submission(kind, MappingProxyType(dict(items)), tuple(problems), digest)


# --- folders -------------------------------------------------------------------------------------


def _read_regular(path: str, limit: int) -> bytes:
    """At most ``limit`` bytes of a regular file, refusing links and fifos even if swapped in."""
    fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        chunks: list[bytes] = []
        got = 0
        while got < limit:
            chunk = os.read(fd, min(limit - got, 2**20))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _careful_reader(path: str, shown: str, problems: list[Problem]) -> Callable[[int], bytes]:
    def read(limit: int) -> bytes:
        try:
            return _read_regular(path, limit)
        except OSError as exc:
            problems.append(_problem("unreadable", names=_names([shown]), error=exc.strerror))
            return b""

    return read


def _walk_folder(top: Path, limits: IntakeLimits, problems: list[Problem]) -> list[_Entry] | None:
    """Regular files under ``top`` (sorted, links not followed); None after a fatal problem."""
    entries: list[_Entry] = []
    links: list[str] = []
    special: list[str] = []
    count = 0
    stack: list[tuple[tuple[str, ...], str]] = [((), str(top))]
    while stack:
        parts, directory = stack.pop()
        try:
            with os.scandir(directory) as it:
                children = sorted(it, key=lambda d: d.name)
        except OSError as exc:
            where = _names(["/".join(parts) or "."])
            problems.append(_problem("unreadable", names=where, error=exc.strerror))
            continue
        subdirs: list[tuple[tuple[str, ...], str]] = []
        for child in children:
            rel = (*parts, child.name)
            shown = "/".join(rel)
            count += 1
            if count > limits.max_files:
                problems.append(_fatal("too-many-files", limit=limits.max_files, count=count))
                return None
            if len(rel) - 1 > limits.max_depth:
                deep = _fatal(
                    "too-deep", depth=len(rel) - 1, path=_shown(shown), limit=limits.max_depth
                )
                problems.append(deep)
                return None
            try:
                st = child.stat(follow_symlinks=False)
            except OSError as exc:  # vanished or unreadable while we walked
                problems.append(_problem("unreadable", names=_names([shown]), error=exc.strerror))
                continue
            if stat.S_ISLNK(st.st_mode):
                links.append(shown)
            elif stat.S_ISDIR(st.st_mode):
                # hidden folders (.git, .ipynb_checkpoints) and macOS junk are never graded
                if not (child.name.startswith(".") or child.name in _JUNK):
                    subdirs.append((rel, child.path))
            elif stat.S_ISREG(st.st_mode):
                read = _careful_reader(child.path, shown, problems)
                entries.append(_Entry(rel, st.st_size, read))
            else:
                special.append(shown)
        stack.extend(reversed(subdirs))  # visit folders in name order
    if links:
        problems.append(_problem("symlink", names=_names(links)))
    if special:
        problems.append(_problem("special-file", names=_names(special)))
    entries.sort(key=lambda e: e.parts)
    return entries


# --- zips ----------------------------------------------------------------------------------------


def _member_parts(name: str) -> tuple[str, ...] | None:
    """The path components of a zip member, or None if the name is unsafe."""
    if "\x00" in name or "\\" in name or name.startswith("/") or _DRIVE.match(name):
        return None
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    return None if not parts or ".." in parts else parts


def _zip_member_reader(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[int], bytes]:
    def read(limit: int) -> bytes:
        try:
            with zf.open(info) as f:
                return f.read(limit)
        except Exception as exc:  # zipfile's errors are not a closed set (zlib, lzma, struct ...)
            error = _shown(str(exc) or type(exc).__name__)
            raise _Corrupt(f"`{_shown(info.filename)}`: {error}") from exc

    return read


def _check_members(infos: list[zipfile.ZipInfo], limits: IntakeLimits) -> list[Problem]:
    """Every check that needs no member data; the fatal ones refuse the whole zip."""
    fatal: list[Problem] = []
    unsafe = [i.orig_filename for i in infos if _member_parts(i.orig_filename) is None]
    if unsafe:
        outcome = "we refused the whole zip. " + NOTHING_GRADED
        fatal.append(_fatal("unsafe-path", where="Your zip", names=_names(unsafe), outcome=outcome))
    if len(infos) > limits.max_files:
        fatal.append(_fatal("too-many-files", limit=limits.max_files, count=len(infos)))
    depth, deepest = max(
        ((len(_member_parts(i.filename) or ()) - 1, i.filename) for i in infos), default=(0, "")
    )
    if depth > limits.max_depth:
        fatal.append(_fatal("too-deep", depth=depth, path=_shown(deepest), limit=limits.max_depth))
    total = sum(i.file_size for i in infos)
    if total > limits.max_total_bytes:
        fatal.append(_too_large("Your zip, unpacked,", total, limits.max_total_bytes))
    for i in infos:
        ratio = i.file_size / max(i.compress_size, 1)
        if i.file_size > _RATIO_FLOOR and ratio > limits.max_ratio:
            path, size, limit = _shown(i.filename), i.file_size, limits.max_ratio
            fatal.append(_fatal("zip-bomb", path=path, ratio=ratio, size=size, limit=limit))
            break
    locked = [i.filename for i in infos if i.flag_bits & 0x1]
    if locked:
        fatal.append(_fatal("bad-zip", error=f"{_names(locked, 3)} encrypted"))
    odd = [i.filename for i in infos if i.compress_type not in _ZIP_METHODS]
    if odd:
        fatal.append(_fatal("bad-zip", error=f"{_names(odd, 3)} use an unsupported compression"))
    return fatal


def _load_zip(path: Path, limits: IntakeLimits) -> Submission:
    problems: list[Problem] = []
    size = path.stat().st_size
    # an archive is hardly larger than what it unpacks to (plus headers): refuse before parsing
    cap = 2 * limits.max_total_bytes + 2**16
    if size > cap:
        return _submission("zip", {}, [_too_large("Your zip", size, cap)])
    try:
        zf = zipfile.ZipFile(path)
    except Exception as exc:  # BadZipFile, OSError, EOFError, UnicodeDecodeError, struct.error...
        error = _shown(str(exc) or type(exc).__name__)
        return _submission("zip", {}, [_fatal("bad-zip", error=error)])
    with zf:
        infos = zf.infolist()
        fatal = _check_members(infos, limits)
        if fatal:
            return _submission("zip", {}, fatal)
        entries: list[_Entry] = []
        links: list[str] = []
        for info in infos:
            parts = _member_parts(info.filename)
            if parts is None or info.is_dir():
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                links.append(info.filename)
            else:
                entries.append(_Entry(parts, info.file_size, _zip_member_reader(zf, info)))
        if links:
            problems.append(_problem("symlink", names=_names(links)))
        try:
            notebook = _lone_notebook(entries)
            if notebook is not None:
                return _from_notebook(
                    notebook.read(limits.max_notebook_bytes + 1), limits, problems
                )
            sources = _assemble(entries, limits, problems)
        except _Corrupt as exc:
            return _submission("zip", {}, [_fatal("bad-zip", error=str(exc))])
    return _submission("zip", sources, problems)


# --- notebooks -----------------------------------------------------------------------------------


def _code_cells(raw: object) -> list[tuple[int, str]] | None:
    """(cell number, from 1, counting every cell; source) of the code cells, read with nbformat
    (any version), else from the raw JSON."""
    cells: object = None
    try:
        import nbformat

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            major, minor = nbformat.reader.get_version(raw)  # type: ignore[no-untyped-call]
            nb = nbformat.versions[major].to_notebook_json(raw, minor=minor)
            cells = nbformat.convert(nb, 4).get("cells")  # type: ignore[no-untyped-call]
    except Exception:  # tolerate what nbformat rejects: we only need the code cells' text
        cells = raw.get("cells") if isinstance(raw, dict) else None
    if not isinstance(cells, list):
        return None
    out: list[tuple[int, str]] = []
    for number, cell in enumerate(cells, 1):
        if not isinstance(cell, Mapping) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if isinstance(source, str):
            out.append((number, source))
    return out


def _writefile_magic(cell: str) -> tuple[str, str] | None:
    """(argument line, body) of a ``%%writefile`` cell, as IPython splits it; else None.

    Mirrors IPython's ``TransformerManager.transform_cell``: add a final newline, drop leading
    blank lines, dedent, then ``%%name args`` on the first line and the rest verbatim. (IPython
    also strips pasted ``>>>`` / ``In [1]:`` prompts first; we do not.)
    """
    if "%%writefile" not in cell:
        return None
    if not cell.endswith("\n"):
        cell += "\n"
    lines = cell.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line and not line.isspace()), 0)
    lines = textwrap.dedent("".join(lines[start:])).splitlines(keepends=True)
    if not lines or not lines[0].startswith("%%"):
        return None
    magic, _, args = lines[0][2:].rstrip().partition(" ")
    return (args, "".join(lines[1:])) if magic == "writefile" else None


def _writefile_target(args: str) -> tuple[str | None, bool]:
    """(file name, append) from ``%%writefile``'s arguments, parsed as IPython does."""
    lex = shlex.shlex(args, posix=False)
    lex.whitespace_split, lex.commenters = True, ""
    try:
        tokens = list(lex)
    except ValueError:
        return None, False
    append = any(t in ("-a", "--append") for t in tokens)
    names = [t for t in tokens if t not in ("-a", "--append")]
    if len(names) != 1 or names[0].startswith("-"):
        return None, append
    name = names[0]
    if re.match(r"^('.*')|(\".*\")$", name):  # IPython's own quote test, quirks included
        name = name[1:-1]
    return name, append


def load_notebook_sources(
    nb_bytes: bytes, limits: IntakeLimits = DEFAULT_LIMITS
) -> tuple[dict[str, str], list[Problem]]:
    """The files a notebook's ``%%writefile`` cells would write, and what went wrong."""
    if len(nb_bytes) > limits.max_notebook_bytes:
        return {}, [_too_large("Your notebook", len(nb_bytes), limits.max_notebook_bytes)]
    try:
        raw = json.loads(nb_bytes)
    except json.JSONDecodeError as exc:
        error = f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        return {}, [_fatal("bad-notebook", error=error)]
    except (ValueError, RecursionError) as exc:  # not UTF-8/16/32, absurd nesting or numbers
        error = _shown(f"not valid JSON: {exc}", 200)
        return {}, [_fatal("bad-notebook", error=error)]
    cells = _code_cells(raw)
    if cells is None:
        return {}, [_fatal("bad-notebook", error="it has no list of cells")]
    problems: list[Problem] = []
    files: dict[str, list[str]] = {}  # parts joined once at the end: appends stay linear
    writers: dict[str, list[int]] = {}  # the cells that (re)wrote each file, in order
    appenders: dict[str, list[int]] = {}  # the -a cells since the last of them
    found = False
    for number, cell in cells:
        magic = _writefile_magic(cell)
        if magic is None:
            continue
        found = True
        args, body = magic
        name, append = _writefile_target(args)
        if name is None:
            problems.append(_problem("bad-writefile", line=_shown(f"%%writefile {args}")))
            continue
        while name.startswith("./"):
            name = name[2:]
        if not name or _member_parts(name) != (name,) or name.startswith("~"):
            problems.append(
                _problem(
                    "unsafe-path",
                    where="A `%%writefile` cell",
                    names=_names([name]),
                    outcome="we ignored that cell.",
                )
            )
            continue
        if append and name in files:
            files[name].append(body)
            appenders[name].append(number)
        else:  # a plain %%writefile, or an -a that creates the file: it starts a new copy
            files[name] = [body]
            writers.setdefault(name, []).append(number)
            appenders[name] = []
    for name, numbers in writers.items():
        if len(numbers) > 1:
            problems.append(_duplicate_cells(name, numbers, appenders[name]))
    if not found:
        problems.append(_problem("no-writefile-cells", fatal=True))
    return {name: "".join(parts) for name, parts in files.items()}, problems


def _duplicate_cells(name: str, numbers: list[int], appended: list[int]) -> Problem:
    """The note of a file written by several cells: which one the grading used (issue 29)."""
    listed = [str(n) for n in numbers]
    cells = ", ".join(listed[:-1]) + " and " + listed[-1]
    after = ", ".join(str(n) for n in appended)
    return _problem(
        "duplicate-cell",
        file=name,
        count=len(numbers),
        cells=cells,
        used=numbers[-1],
        appended=messages.APPENDED_CELLS.format(cells=after) if appended else "",
    )


# --- the public entry points ---------------------------------------------------------------------


def _read_top(path: Path, limit: int) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(limit)
    except OSError as exc:
        raise SubmissionError(f"We could not read `{path.name}` ({exc.strerror}).") from exc


def load_submission(path: Path, limits: IntakeLimits = DEFAULT_LIMITS) -> Submission:
    """Read a submission without running any of it."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise SubmissionError(f"We could not find the submission `{path}`.") from exc
    problems: list[Problem] = []
    suffix = path.suffix.lower()
    if stat.S_ISDIR(mode):
        entries = _walk_folder(path, limits, problems)
        notebook = None if entries is None else _lone_notebook(entries)
        if notebook is not None:
            return _from_notebook(notebook.read(limits.max_notebook_bytes + 1), limits, problems)
        sources = {} if entries is None else _assemble(entries, limits, problems)
        return _submission("folder", sources, problems)
    if not stat.S_ISREG(mode):
        raise SubmissionError(messages.INTAKE_NOT_A_FILE.format(name=_shown(path.name)))
    if suffix == ".zip":
        return _load_zip(path, limits)
    if suffix == ".ipynb":
        return _from_notebook(_read_top(path, limits.max_notebook_bytes + 1), limits, problems)
    if suffix == ".py":
        data = _read_top(path, limits.max_file_bytes + 1)
        entry = _Entry((path.name,), len(data), lambda limit: data[:limit])
        return _submission("folder", _assemble([entry], limits, problems), problems)
    raise SubmissionError(messages.INTAKE_UNKNOWN_KIND.format(name=_shown(path.name)))


def _encoded(name: str, text: str) -> _Entry:
    # a lone surrogate (legal in notebook JSON) then fails UTF-8 decoding, like a bad byte
    data = text.encode("utf-8", "surrogatepass")
    return _Entry((name,), len(data), lambda limit: data[:limit])


def _from_notebook(data: bytes, limits: IntakeLimits, problems: list[Problem]) -> Submission:
    files, found = load_notebook_sources(data, limits)
    problems.extend(found)
    if any(p.fatal for p in problems):
        return _submission("notebook", {}, problems)
    entries = [_encoded(name, text) for name, text in files.items()]
    return _submission("notebook", _assemble(entries, limits, problems), problems)


def safe_name(name: str) -> bool:
    """Whether ``name`` may be a file of a submission: a plain module name or a text data file."""
    return bool(_SAFE_NAME.fullmatch(name) or _DATA_NAME.fullmatch(name))


def write_sources(sub: Submission, dest: Path) -> None:
    """Write each source to ``dest/name`` (flat, mode 0o644); refuse names that are not plain."""
    bad = [name for name in sub.sources if not safe_name(name)]
    if bad:
        raise ValueError(f"refusing to write files with unsafe names: {_names(bad)}")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name, text in sub.sources.items():
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(dest / name, flags, 0o644)
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o644)
            f.write(text.encode("utf-8"))
