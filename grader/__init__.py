"""An autograder and assignment toolkit for machine-learning courses; an assignment is a pack.

The command line is ``python -m grader`` (see ``grader.cli``). This package is imported by the
sandboxed worker too, so it imports nothing at load time.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
