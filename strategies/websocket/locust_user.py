"""The Locust user that behaves like websocket.js; imported only inside Locust processes."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import gevent
import websocket
from locust import constant, task

from strategies.locust_client import TransportUser


class WebSocketUser(TransportUser):
    """One socket per client and a reader greenlet, like websocket.js (resumes with ?after=)."""

    strategy_key = "websocket"
    wait_time = constant(30)
    """The task does nothing: a long wait keeps thousands of idle users from waking Locust."""
    socket: websocket.WebSocket | None = None
    unconfirmed: dict[str, str]
    """Frames sent but not yet seen back stored, by client_id: re-sent after a reconnect."""

    def connect(self) -> None:
        self.unconfirmed = {}
        self.open_socket()
        self.greenlets.append(gevent.spawn(self.read_loop))

    def open_socket(self) -> None:
        host = self.host or ""
        url = host.replace("http", "ws", 1) + f"/ws/chat/{self.room}/?after={self.last_id}"
        cookies = self.cookie_header()
        started = time.perf_counter()
        exception: Exception | None = None
        try:
            self.socket = websocket.create_connection(
                url, origin=host, cookie=cookies, skip_utf8_validation=True, **connected(host)
            )
        except (OSError, websocket.WebSocketException) as exc:
            exception = exc
        self.environment.events.request.fire(
            request_type="WS",
            name="/ws/chat/[room]/ connect",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=exception,
            context={},
        )
        if exception is not None:
            raise exception
        self.connection_opened()

    def read_loop(self) -> None:
        """The reader greenlet: websocket-client blocks cooperatively under gevent.

        When the socket closes (a server restart), it reconnects like the page:
        jittered backoff, then ``?after=<newest id>`` so the server sends what was missed.
        """
        while True:
            try:
                assert self.socket is not None
                frame = json.loads(self.socket.recv())
            except (OSError, AssertionError, ValueError, websocket.WebSocketException):
                self.reconnect()
                continue
            if "error" in frame:
                self.environment.events.request.fire(
                    request_type="WS",
                    name="/ws/chat/[room]/ error frame",
                    response_time=0,
                    response_length=0,
                    exception=RuntimeError(frame["error"]),
                    context={},
                )
            else:
                self.deliver([frame])

    def reconnect(self) -> None:
        """Close the dead socket, then open a new one after a backoff delay, until one opens."""
        self.connection_closed()
        with contextlib.suppress(OSError, websocket.WebSocketException):
            if self.socket is not None:
                self.socket.close()
        self.socket = None
        while self.socket is None:
            gevent.sleep(self.backoff.next_delay_s())
            with contextlib.suppress(OSError, websocket.WebSocketException):
                self.open_socket()
        self.back_online()
        for frame in list(self.unconfirmed.values()):  # they may have died with the old socket
            with contextlib.suppress(OSError, websocket.WebSocketException):
                self.socket.send(frame)
                self.resends += 1

    def send(self, text: str, client_id: str) -> bool:
        frame = json.dumps({"message": text, "client_id": client_id})
        self.unconfirmed[client_id] = frame
        try:
            assert self.socket is not None
            self.socket.send(frame)
            return True
        except (OSError, AssertionError, websocket.WebSocketException):
            return False

    def confirmed(self, client_id: str | None) -> None:
        if client_id is not None:
            self.unconfirmed.pop(client_id, None)

    def disconnect(self) -> None:
        if self.socket is not None:
            self.socket.close()

    @task
    def stay_connected(self) -> None:
        """Nothing to do on a schedule: the reader greenlet receives, the send loop sends."""


def connected(host: str) -> dict[str, Any]:
    """A TCP connection to a plain-HTTP host, for ``create_connection(socket=...)``.

    Given no socket, websocket-client looks up proxy settings in the environment and resolves
    the host through gevent's thread pool on every connect: a tenth of Locust's CPU while
    thousands of clients join (py-spy). An ``https`` host is left to websocket-client (TLS).
    """
    address = urlsplit(host)
    if address.scheme != "http" or address.hostname is None:
        return {}
    sock = socket.socket(socket.AF_INET6 if ":" in address.hostname else socket.AF_INET)
    try:
        sock.connect((address.hostname, address.port or 80))
    except OSError:
        sock.close()
        raise
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return {"socket": sock}
