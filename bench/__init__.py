"""Benchmarks: `make bench` (= `python -m bench [name ...]`). Figures go in the README."""
