"""Grading one submission: the engine, the pytest plugin, the checks, feedback, results."""
