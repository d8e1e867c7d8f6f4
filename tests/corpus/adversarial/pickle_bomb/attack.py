import os as _os


class _Evil:
    def __reduce__(self):
        return (_os.system, ("touch /tmp/ADVERSARIAL-unpickled",))


def softmax(scores):
    return {"value": _Evil(), "also": [_Evil()]}
