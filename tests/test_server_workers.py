"""``pushlab serve --workers 2``: two server processes behind one port, one Redis, one database.

Messages posted to the one port reach clients of every strategy whichever process
each client landed on, both processes answer requests, and stopping the parent
stops both.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from lab.serverproc import ServerProcess
from tests.clients import Sender, one_receiver_of_each_kind

pytestmark = pytest.mark.slow  # two server processes of its own behind one port

DISTINCT_PIDS_DEADLINE_S = 20.0


def pids_answering(server: ServerProcess, wanted: int) -> set[int]:
    """Ask ``/api/metrics`` (a new connection each time) until ``wanted`` pids answered."""
    seen: set[int] = set()
    deadline = time.monotonic() + DISTINCT_PIDS_DEADLINE_S
    while len(seen) < wanted and time.monotonic() < deadline:
        seen.add(int(server.metrics()["pid"]))
    return seen


@pytest.mark.parametrize("server_name", ["daphne", "uvicorn"])
def test_two_processes_share_one_port_and_deliver_to_every_strategy(
    server_env: dict[str, str], tmp_path: Path, server_name: str
) -> None:
    env = {**server_env, "PUSHLAB_VAR_DIR": str(tmp_path), "PUSHLAB_POLL_INTERVAL_MS": "200"}
    server = ServerProcess(
        env=env, server=server_name, workers=2, log_path=tmp_path / "server.log"
    ).start()
    try:
        children = pids_answering(server, 2)
        assert len(children) == 2 and server.pid not in children, children
        room = f"workers-{uuid.uuid4().hex[:10]}"
        # three clients of each kind: the kernel spreads their connections over both processes
        kinds = [one_receiver_of_each_kind(server.url, room) for _ in range(3)]
        receivers = [receiver.start() for kind in kinds for receiver in kind]
        texts = [f"over two processes {n}" for n in range(1, 7)]
        senders = [Sender("http", server.url, room), Sender("websocket", server.url, room)]
        for number, text in enumerate(texts):
            senders[number % 2].send(text)
        # A WebSocket send does not wait for its message to be stored, so the next HTTP send
        # may be stored first: the order is the server's (ids), the same for every receiver.
        orders = []
        for receiver in receivers:
            receiver.wait_for(len(texts))
            received = receiver.stop()
            assert sorted(m["message"] for m in received) == sorted(texts), receiver
            assert [m["id"] for m in received] == sorted({m["id"] for m in received}), receiver
            orders.append([m["message"] for m in received])
        assert all(order == orders[0] for order in orders), orders
        for sender in senders:
            sender.close()
    finally:
        server.stop()
    for pid in children:  # the parent took both children down with it
        assert not Path(f"/proc/{pid}").exists() or "Z" in read_state(pid), pid


def read_state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "gone"
    return stat[stat.rindex(")") + 2]
