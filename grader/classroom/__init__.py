"""A whole class: batch grading, the gradebook, exports, the report, regrades, integrity."""
