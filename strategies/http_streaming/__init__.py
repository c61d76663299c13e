"""HTTP streaming: one never-ending response per client, one JSON message per line."""
