"""The run: ``pushlab bench`` starts a server, checks every strategy delivers, starts Locust,
measures the server, Redis and the floor, and writes ``summary.json`` through
``benchmarks.results``."""
