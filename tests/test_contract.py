"""The strategy contract, against a real server: whoever posts, every client of every
strategy in the room receives each message once, in id order (docs/guarantees.md, "Delivery").

Parametrized over the registry, so a new strategy is tested the moment it is registered
(and fails loudly until its registry row names a test receiver).
"""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders

from lab.serverproc import ServerProcess
from strategies import STRATEGIES
from tests.clients import Receiver, Sender, receiver_for

MESSAGES_PER_TEST = 5

STRATEGY_PARAMS = [pytest.param(key, id=key) for key in STRATEGIES]
PAIR_PARAMS = [
    pytest.param(sender, receiver, id=f"{sender}-to-{receiver}")
    for sender, receiver in itertools.product(STRATEGIES, repeat=2)
]


def unique_room(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def start_receiver(key: str, server: ServerProcess, room: str) -> Receiver:
    return receiver_for(key)(server.url, room).start()


def assert_received_once_in_order(receiver: Receiver, texts: list[str]) -> None:
    """Exactly the sent texts, ids 1..N with no gap, no repeat and no reordering."""
    received = receiver.wait_for(len(texts))
    received = receiver.stop()  # anything that arrived late (a duplicate) is in here too
    assert [m["id"] for m in received] == list(range(1, len(texts) + 1))
    assert [m["message"] for m in received] == texts
    assert {m["room"] for m in received} == {receiver.room}


@pytest.mark.parametrize("key", STRATEGY_PARAMS)
def test_every_strategy_has_test_clients(key: str) -> None:
    strategy = STRATEGIES[key]
    assert issubclass(receiver_for(key), Receiver), strategy.test_receiver
    assert strategy.sends_over in ("http", "websocket")
    assert strategy.healthy_state, "the browser tests wait for this #connection-state"


@pytest.mark.parametrize("key", STRATEGY_PARAMS)
def test_registry_entry_is_complete(key: str) -> None:
    strategy = STRATEGIES[key]
    assert strategy.key == key
    assert strategy.title and strategy.summary
    assert strategy.colour.startswith("#") and len(strategy.colour) == 7
    script = finders.find(strategy.client_script)
    assert script, f"no static file {strategy.client_script}"
    assert f'pushlab.register("{key}"' in Path(str(script)).read_text(), (
        "the browser client must register under the registry key"
    )
    module_name, _, class_name = strategy.locust_user.partition(":")
    module = (
        Path(__file__).resolve().parent.parent.joinpath(*module_name.split(".")).with_suffix(".py")
    )
    assert f"class {class_name}(" in module.read_text(), strategy.locust_user  # not imported:
    # Locust's gevent patching must stay out of the test process


@pytest.mark.parametrize(("sender_key", "receiver_key"), PAIR_PARAMS)
def test_pair_delivers_each_message_once_in_order(
    live_server_process, sender_key: str, receiver_key: str
) -> None:
    room = unique_room("pair")
    receiver = start_receiver(receiver_key, live_server_process, room)
    sender = Sender.like(sender_key, live_server_process.url, room)
    texts = [f"{sender_key} says {n}" for n in range(1, MESSAGES_PER_TEST + 1)]
    try:
        for text in texts:
            sender.send(text)
        assert_received_once_in_order(receiver, texts)
    finally:
        sender.close()
        receiver.stop()


@pytest.mark.parametrize("sender_key", STRATEGY_PARAMS)
def test_one_sender_reaches_every_strategy_at_once(live_server_process, sender_key: str) -> None:
    """One room, one client of every strategy (two WebSockets): all see the same sequence."""
    room = unique_room("all")
    receivers = [start_receiver(key, live_server_process, room) for key in STRATEGIES]
    receivers.append(start_receiver("websocket", live_server_process, room))
    sender = Sender.like(sender_key, live_server_process.url, room)
    texts = [f"to everyone {n}" for n in range(1, MESSAGES_PER_TEST + 1)]
    try:
        for text in texts:
            sender.send(text)
        for receiver in receivers:
            assert_received_once_in_order(receiver, texts)
    finally:
        sender.close()
        for receiver in receivers:
            receiver.stop()


@pytest.mark.parametrize("key", STRATEGY_PARAMS)
def test_other_rooms_receive_nothing(live_server_process, key: str) -> None:
    room, other_room = unique_room("here"), unique_room("elsewhere")
    bystander = start_receiver(key, live_server_process, other_room)
    listener = start_receiver(key, live_server_process, room)
    sender = Sender.like(key, live_server_process.url, room)
    try:
        sender.send("only for this room")
        listener.wait_for(1)
        # The listener has it, so a bystander that would get it has had the same chance.
        assert bystander.stop() == []
    finally:
        sender.close()
        listener.stop()
        bystander.stop()
