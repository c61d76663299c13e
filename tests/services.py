"""Where the external services of the ``REDIS_URL`` / ``DATABASE_URL`` tests are, and
whether they are up: python-svc machines and CI have them, a user's fresh machine not."""

from __future__ import annotations

import socket

EXTERNAL_REDIS = ("127.0.0.1", 6379)
EXTERNAL_POSTGRES = ("127.0.0.1", 5432)


def tcp_reachable(address: tuple[str, int], timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection(address, timeout=timeout):
            return True
    except OSError:
        return False
