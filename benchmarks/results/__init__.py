"""The results: ``summary.json``, the one record a run leaves, written by the runner and read
by the report, the docs and the notebooks — all through ``benchmarks.results.summary``."""
