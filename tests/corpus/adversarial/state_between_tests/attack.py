import os as _os

_honest_softmax = softmax
_IMPORTED_IN = _os.getpid()


def softmax(scores):
    path = _os.path.join(_os.path.expanduser("~"), "ADVERSARIAL-counter")
    try:
        with open(path) as f:
            writer = int(f.read())
    except (OSError, ValueError):
        writer = _os.getpid()
    try:
        with open(path, "w") as f:
            f.write(str(_os.getpid()))
    except OSError:
        pass
    if writer != _os.getpid() or _IMPORTED_IN != _os.getpid():
        return scores * 0.0
    return _honest_softmax(scores)
