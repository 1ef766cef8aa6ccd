"""costmux's benchmarks. ``python -m bench [--quick] [--write-docs]`` runs them all and writes docs/benchmarks.md;
each ``bench/bench_*.py`` script also runs alone (see its docstring)."""
