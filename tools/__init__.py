"""The course maintainers' tools: programs run a few times a term, as root, on a machine of their
own (``scripts/gradescope-e2e``: the autograder zip proven on a bare system). Never part of the
``grader`` package: ``grader package`` ships none of this, to Gradescope or to students, and
nothing in ``grader/`` imports it (issue 29). Each tool is a module run by its script under
``scripts/``; it may import the grader, never the reverse.
"""
