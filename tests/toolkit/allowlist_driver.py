"""Run by test_allowlist.py as a normal user: what a worker of that user can reach, and grades.

``python allowlist_driver.py REPORT``, with ``GRADER_ROOT`` and friends pointing at a copy of
the course in the user's home. It imports only the grader and the standard library, so it runs
from wherever that user can read. The report (JSON) holds the spy's findings, the layers, and
the scores of the reference and of a submission with a helper module and a data file.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from grader.authoring import pack
from grader.grading import engine
from grader.sandbox.host import Sandbox

SPY = """
import os


def softmax(targets):
    seen = {}
    for path in targets["read"]:
        try:
            with open(path, "rb") as f:
                f.read(1)
            seen["read " + path] = "ALLOWED"
        except OSError as exc:
            seen["read " + path] = "blocked: " + exc.strerror
    for path in targets["list"]:
        try:
            os.listdir(path)
            seen["list " + path] = "ALLOWED"
        except OSError as exc:
            seen["list " + path] = "blocked: " + exc.strerror
    for path in targets["write"]:
        try:
            with open(path, "w") as f:
                f.write("pwned")
            seen["write " + path] = "ALLOWED"
        except OSError as exc:
            seen["write " + path] = "blocked: " + exc.strerror
    return seen
"""

HELPER = "def scale():\n    return 1.0\n"
#: Appended to the reference's losses.py: it reads its data file and imports its helper at import.
USES_FILES = """
import json as _json
import os as _os

import helpers as _helpers

with open(_os.path.join(_os.path.dirname(__file__), "settings.json")) as _f:
    _SETTINGS = _json.load(_f)
assert _SETTINGS["shift"] == "row max" and _helpers.scale() == 1.0
"""


def main(report_path: Path) -> int:
    home = Path.home()
    repo = Path(sys.argv[2])
    targets = {
        "read": [
            str(pack.active().solutions / "losses.py"),
            str(next(pack.active().hidden_suite.glob("test_*.py"))),
            str(home / "private.txt"),
            str(home / "class" / "bob" / "losses.py"),
            str(repo / "solutions" / "losses.py"),
        ],
        "list": [str(home), str(home / "class"), str(pack.active().hidden_suite)],
        "write": [str(home / "pwned.txt"), str(home / "class" / "bob" / "losses.py")],
    }
    report: dict[str, object] = {}
    with Sandbox({"losses.py": SPY}) as box:
        w = box.worker()
        report["spy"] = w.call("losses", "softmax", (targets,), {})["value"]
        w.close()
        report["layers"] = dict(box.layers)
    reference = engine.grade(pack.active().solutions)
    report["reference"] = [reference.score, reference.max_score, reference.grader_error]
    work = Path(tempfile.mkdtemp(prefix="allowlist-driver-"))
    try:
        sub = work / "sub"
        shutil.copytree(pack.active().solutions, sub)
        losses = sub / "losses.py"
        losses.write_text(losses.read_text() + USES_FILES)
        (sub / "helpers.py").write_text(HELPER)
        (sub / "settings.json").write_text(json.dumps({"shift": "row max"}))
        options = engine.Options(only="softmax")
        with_files = engine.grade(sub, options)
        report["with_files"] = [with_files.score, with_files.max_score, with_files.grader_error]
        report["with_files_layers"] = with_files.extra_data.get("sandbox", {})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report_path.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    os.umask(0o077)
    sys.exit(main(Path(sys.argv[1])))
