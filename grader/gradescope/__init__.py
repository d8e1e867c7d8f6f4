"""Gradescope: the autograder zip and the student bundle, the simulator, the bare-system check."""
