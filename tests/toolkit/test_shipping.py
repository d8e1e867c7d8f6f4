"""What a Dask task carries (grader.classroom.shipping): the submission's content, the pack by
digest, and nothing that runs when unpickled. No cluster here: tests/toolkit/test_cluster.py
runs the same through separate scheduler and worker processes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import pickletools
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.authoring import pack
from grader.classroom import shipping
from grader.grading.submission import load_submission

ROOT = Path(__file__).resolve().parents[2]


def _copy_pack(dest: Path) -> Path:
    """A copy of the repository's pack (manifest, reference, suites, stubs, notebook)."""
    dest.mkdir()
    shutil.copy(ROOT / pack.MANIFEST, dest)
    shutil.copy(ROOT / "notebook.py", dest)
    ignore = shutil.ignore_patterns("__pycache__", ".hypothesis")
    shutil.copytree(ROOT / "solutions", dest / "solutions", ignore=ignore)
    shutil.copytree(ROOT / "assignment", dest / "assignment", ignore=ignore)
    shutil.copytree(ROOT / "tests" / "grading", dest / "tests" / "grading", ignore=ignore)
    return dest


def test_the_pack_archive_is_content_addressed_and_holds_what_grading_reads(
    tmp_path: Path,
) -> None:
    copy = _copy_pack(tmp_path / "pack")
    (copy / "solutions" / "__pycache__").mkdir()
    (copy / "solutions" / "__pycache__" / "losses.cpython-311.pyc").write_bytes(b"junk")
    a = shipping.PackArchive.build(copy)
    b = shipping.PackArchive.build(ROOT)
    assert a.digest == b.digest and a.data == b.data  # same content, another place: same bytes
    with zipfile.ZipFile(io.BytesIO(a.data)) as zf:
        names = set(zf.namelist())
    assert {"assignment.toml", "notebook.py", "solutions/losses.py"} <= names
    assert {"tests/grading/oracle.npz", "tests/grading/bugs.py"} <= names
    assert any(n.startswith("tests/grading/hidden/") for n in names)
    assert not any("__pycache__" in n or "/." in n for n in names)
    (copy / "tests" / "grading" / "hidden" / "test_losses_hidden.py").write_text("# changed\n")
    assert shipping.PackArchive.build(copy).digest != a.digest


def test_unpacked_privately_and_graded_with_the_same_suite_digest(tmp_path: Path) -> None:
    archive = shipping.PackArchive.build(ROOT)
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    dest = shipping.unpack(archive.digest, archive.data, cache)
    assert dest == cache / archive.digest
    for p in [dest, *dest.rglob("*")]:
        assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0, p  # nobody else reads any of it
    assert pack.load(dest).module_names == pack.load(ROOT).module_names
    again = shipping.unpack(archive.digest, archive.data, cache)  # kept: not unpacked twice
    assert again == dest and len(list(cache.iterdir())) == 1
    code = (
        "from grader.grading import version;"
        "print(version.suite_digest(version.engine_options(['public'], 'losses', True)))"
    )

    def digest_with(root: Path) -> str:
        env = {**os.environ, pack.ENV: str(root)}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        return out.stdout.strip()

    assert digest_with(dest) == digest_with(ROOT)


def test_unpack_refuses_what_is_not_the_pack_it_was_told(tmp_path: Path) -> None:
    archive = shipping.PackArchive.build(ROOT)
    with pytest.raises(shipping.PackError, match="does not match its digest"):
        shipping.unpack("0" * 64, archive.data, tmp_path)
    for name in ("../escape.py", "/abs.py"):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr(name, "x = 1\n")
        data = buf.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        with pytest.raises(shipping.PackError, match="unsafe member"):
            shipping.unpack(digest, data, tmp_path)
    assert not (tmp_path.parent / "escape.py").exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # nothing left behind


def test_a_broken_manifest_raises_inside_unpack_with_its_message(tmp_path: Path) -> None:
    copy = _copy_pack(tmp_path / "pack")
    archive = shipping.PackArchive.build(copy)
    (copy / "solutions" / "losses.py").unlink()  # the archive still holds it
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive.data)) as zin, zipfile.ZipFile(buf, "w") as zout:
        for info in zin.infolist():
            if info.filename != "solutions/losses.py":
                zout.writestr(info, zin.read(info))
    data = buf.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    with pytest.raises(pack.ManifestError, match=r"has no solution file .*solutions/losses\.py"):
        shipping.unpack(digest, data, tmp_path / "cache")


def test_a_folder_outside_the_pack_is_refused_with_the_key_to_change(tmp_path: Path) -> None:
    copy = _copy_pack(tmp_path / "pack")
    shutil.move(copy / "solutions", tmp_path / "elsewhere")
    manifest = copy / pack.MANIFEST
    manifest.write_text(
        manifest.read_text().replace(
            "[[modules]]", '[paths]\nsolutions = "../elsewhere"\n\n[[modules]]', 1
        )
    )
    with pytest.raises(shipping.PackError, match=r"paths\.solutions .* lies outside the pack"):
        shipping.PackArchive.build(copy)


def test_a_shipped_submission_is_what_the_intake_read(tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    shutil.copytree(ROOT / "examples" / "buggy", folder)
    (folder / "notes.txt").write_text("data a module may read\n")
    (folder / "Losses.PY").write_text("x = 1\n")  # a problem the intake reports
    with zipfile.ZipFile(tmp_path / "sub.zip", "w") as zf:
        for f in sorted((ROOT / "solutions").glob("*.py")):
            zf.write(f, f"nested/{f.name}")
    notebook = ROOT / "examples" / "notebook" / "assignment.ipynb"
    for path in (folder, tmp_path / "sub.zip", notebook):
        wire = shipping.submission_wire(path)
        assert json.loads(json.dumps(wire)) == wire  # plain JSON data
        got, want = shipping.submission_from_wire(wire), load_submission(path)
        assert (got.kind, dict(got.sources), got.problems, got.digest) == (
            want.kind,
            dict(want.sources),
            want.problems,
            want.digest,
        )
    assert "notes.txt" in shipping.submission_wire(folder)["sources"]
    missing = shipping.submission_wire(tmp_path / "nope")
    sub = shipping.submission_from_wire(missing)
    assert sub.sources == {} and sub.problems[0].fatal and "nope" in sub.problems[0].message


def test_task_arguments_hold_no_reference_to_any_code(tmp_path: Path) -> None:
    """A pickle of what a task carries has no GLOBAL opcode: unpickling it imports and runs
    nothing (the issue's worker died importing a module whose default argument read the pack)."""
    from grader.classroom import cluster

    settings = {"options": {"suites": ["public"], "only": None}, "timeout": 60.0, "recycle": 100}
    args = (shipping.submission_wire(ROOT / "solutions"), "ab" * 32, settings, cluster.versions())
    ops = {op.name for op, _, _ in pickletools.genops(pickle.dumps(args))}
    assert not ops & {"GLOBAL", "STACK_GLOBAL", "REDUCE", "INST", "OBJ", "NEWOBJ"}, ops


def test_importing_the_batch_modules_reads_no_pack(tmp_path: Path) -> None:
    """What a Dask worker imports to unpickle a task must work where no pack exists."""
    env = {**os.environ, pack.ENV: str(tmp_path / "no-such-pack"), "GRADER_ROOT": str(tmp_path)}
    code = "import grader.classroom.batch, grader.classroom.cluster, grader.grading.engine"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_a_worker_of_another_installation_is_named_with_the_versions() -> None:
    from grader.classroom import cluster

    ours = cluster.versions()
    assert set(ours) == {"grader", "python", "numpy", "torch"}
    assert cluster.mismatch("tcp://w:1", dict(ours), ours) is None
    theirs = {**ours, "grader": "0.0.1+abc", "numpy": "1.0"}
    msg = cluster.mismatch("tcp://w:1", theirs, ours)
    assert msg is not None and "tcp://w:1" in msg
    assert f"grader 0.0.1+abc (here {ours['grader']})" in msg
    assert f"numpy 1.0 (here {ours['numpy']})" in msg
    assert f"python {ours['python']}" not in msg  # only what differs is named
