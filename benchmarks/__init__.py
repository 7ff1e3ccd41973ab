"""Benchmarks: scripts that print figures (not tests). See benchmarks/README.md."""
