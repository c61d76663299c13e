"""pushlab's benchmarks: Locust users per strategy, the runner, metrics, charts and the report."""
