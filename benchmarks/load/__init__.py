"""The load: what Locust runs against the server — the users, the load shapes, the sampled
clients' timeline records and the master/worker messages of distributed Locust."""
