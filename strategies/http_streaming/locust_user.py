"""The Locust user that behaves like http-streaming.js; imported only inside Locust processes."""

from __future__ import annotations

import json
from http.client import HTTPException

import gevent
from locust import constant, task

from strategies.locust_client import TransportUser


class HttpStreamingUser(TransportUser):
    """Holds one never-ending response open and reads it line by line in a greenlet, like
    http-streaming.js; sends by POST. A broken stream is reopened after a backoff with
    ``?after=`` the newest id this client has (there is no ``Last-Event-ID`` here)."""

    strategy_key = "http-streaming"
    wait_time = constant(30)
    """The task does nothing: a long wait keeps thousands of idle users from waking Locust."""

    def connect(self) -> None:
        self.greenlets.append(gevent.spawn(self.read_stream))

    def read_stream(self) -> None:
        """Read lines until stopped; each non-empty line is one stored message.

        Releasing a stream that has not ended closes its socket (it never goes back to the
        pool half-read)."""
        while True:
            answer = None
            try:
                answer = self.client.get(
                    f"/api/rooms/{self.room}/stream?after={self.last_id}",
                    stream=True,
                    name="/api/rooms/[room]/stream",
                )
                if answer.status_code != 200 or answer._response is None:
                    raise OSError(f"the stream answered {answer.status_code}")
                self.back_online()
                self.connection_opened()
                while line := answer._response.readline(b"\n"):
                    if line.strip():
                        self.deliver([json.loads(line)])
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
