"""Helpers for the tests and the benchmarks; tests/README.md says which module does what."""
