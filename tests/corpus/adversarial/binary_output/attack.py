import sys as _sys

import numpy as _np


def softmax(scores):
    _sys.stdout.buffer.write(b"\x00\x01\x1b[31mRED\x1b[0m\xff\xfe\xc3\x28\rOVERWRITE\n")
    _sys.stdout.flush()
    _sys.stderr.write("\u202e reversed \ud800 lone surrogate\n".encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
    return _np.zeros_like(scores)
