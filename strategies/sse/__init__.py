"""Server-Sent Events: one held ``text/event-stream`` response per client."""
