"""Benchmarks (not tests): `python -m bench`; results and how to read them in docs/benchmarks.md."""
