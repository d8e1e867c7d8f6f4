"""Writing an assignment: the pack's manifest, the stubs and the notebook generated from the
reference."""
