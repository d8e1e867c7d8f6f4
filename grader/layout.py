"""Where the grader finds its trusted material: the reference, the suites, the assignment.

Defaults are the repository's own folders; a packaged autograder (grader package) or an
instructor's fork can point elsewhere with environment variables. Each path is resolved once.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(os.environ.get("GRADER_ROOT", Path(__file__).resolve().parent.parent))
SOLUTIONS = Path(os.environ.get("GRADER_SOLUTIONS", ROOT / "solutions"))
SUITES = Path(os.environ.get("GRADER_SUITES", ROOT / "tests" / "grading"))
PUBLIC_SUITE = SUITES / "public"
HIDDEN_SUITE = SUITES / "hidden"
#: The reference's recorded answers to the public suites, where the reference itself is absent
#: (the student bundle; ``grader.answers``). Never in the repository: ``grader package --student``
#: writes it into the bundle.
ANSWERS = Path(os.environ.get("GRADER_ANSWERS", SUITES / "public_answers.frame"))
ASSIGNMENT = ROOT / "assignment"
EXAMPLES = ROOT / "examples"
#: Hypothesis's home during a grading (not the working directory's ``.hypothesis``): its cache
#: of constants read from the suites and the reference. Created private before the first test.
HYPOTHESIS = ROOT / ".hypothesis"

#: What the sandbox users must never read: the reference, the suites (and the bug library in
#: them), every other test and example of the repository, its history, and Hypothesis's cache of
#: constants taken from the code. ``engine.protect_trusted_files`` closes them off as root; the
#: results directory is closed off per grading (it is an argument, not a fixed place).
TRUSTED_DIRS = tuple(
    dict.fromkeys((SOLUTIONS, SUITES, ROOT / "tests", EXAMPLES, ROOT / ".git", HYPOTHESIS))
)
