"""pushlab's benchmarks, one package per step of their data: ``load`` (what Locust runs),
``run`` (``pushlab bench`` measuring it), ``results`` (summary.json) and ``report``."""
