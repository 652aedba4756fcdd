"""Speed benchmarks: ``python -m benchmarks.speed`` (see its docstring and the README)."""
