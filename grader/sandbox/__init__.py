"""Where student code runs: the zygote and its workers, their layers, the protocol, the canary.

Imported by the worker too (``python -I -m grader.sandbox.worker``): this file imports
nothing."""
