"""The Locust user that behaves like sse.js; imported only inside Locust processes."""

from __future__ import annotations

import json
from http.client import HTTPException

import gevent
from locust import constant, task

from strategies.locust_client import TransportUser


class ServerSentEventsUser(TransportUser):
    """Holds one event stream open and reads it in a greenlet, like sse.js; sends by POST.

    A broken stream is reopened after a backoff with ``Last-Event-ID``, as ``EventSource``
    does, so the server resumes after the newest message this client has."""

    strategy_key = "sse"
    wait_time = constant(30)
    """The task does nothing: a long wait keeps thousands of idle users from waking Locust."""

    def connect(self) -> None:
        self.greenlets.append(gevent.spawn(self.read_stream))

    def read_stream(self) -> None:
        """Read events until stopped; each ``data:`` line is one stored message.

        The body is read line by line from geventhttpclient's response; releasing a stream
        that has not ended closes its socket (it never goes back to the pool half-read).
        """
        while True:
            answer = None
            try:
                answer = self.client.get(
                    f"/api/rooms/{self.room}/events",
                    headers={"Last-Event-ID": str(self.last_id), "Accept": "text/event-stream"},
                    stream=True,
                    name="/api/rooms/[room]/events",
                )
                if answer.status_code != 200 or answer._response is None:
                    raise OSError(f"the stream answered {answer.status_code}")
                self.back_online()
                self.connection_opened()
                while line := answer._response.readline(b"\n"):
                    if line.startswith(b"data: "):
                        self.deliver([json.loads(line[len(b"data: ") :])])
            except (OSError, ValueError, HTTPException):
                pass
            finally:
                self.connection_closed()
                if answer is not None and answer._response is not None:
                    answer.release()
            gevent.sleep(self.backoff.next_delay_s())

    @task
    def stay_connected(self) -> None:
        """Nothing to do on a schedule: the reader greenlet receives, the send loop sends."""
