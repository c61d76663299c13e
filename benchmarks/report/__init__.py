"""The report: charts, report.md and the docs' numbers, each a pure function of a saved
``summary.json`` read through ``benchmarks.results``."""
