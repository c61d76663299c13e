"""The Locust user that behaves like sse.js; imported only inside Locust processes."""

from __future__ import annotations

import json

import gevent
from locust import constant, task

from benchmarks.users import ChatUser


class ServerSentEventsUser(ChatUser):
    """Holds one event stream open and reads it in a greenlet, like sse.js; sends by POST.

    A broken stream is reopened after a backoff with ``Last-Event-ID``, as ``EventSource``
    does, so the server resumes after the newest message this client has."""

    strategy_key = "sse"
    wait_time = constant(1)

    def connect(self) -> None:
        self.greenlets.append(gevent.spawn(self.read_stream))

    def read_stream(self) -> None:
        """Read events until stopped; each ``data:`` line is one stored message."""
        while True:
            try:
                answer = self.client.get(
                    f"/api/rooms/{self.room}/events",
                    headers={"Last-Event-ID": str(self.last_id), "Accept": "text/event-stream"},
                    stream=True,
                    timeout=None,
                    name="/api/rooms/[room]/events",
                )
                try:
                    if answer.status_code != 200:
                        raise OSError(f"the stream answered {answer.status_code}")
                    self.back_online()
                    self.timeline.opened()
                    for line in answer.iter_lines():
                        if line.startswith(b"data: "):
                            self.deliver([json.loads(line[len(b"data: ") :])])
                finally:
                    answer.close()
                    self.timeline.closed()
            except (OSError, ValueError):
                pass
            gevent.sleep(self.backoff.next_delay_s())

    @task
    def stay_connected(self) -> None:
        """Nothing to do on a schedule: the reader greenlet receives, the send loop sends."""
