"""The drain window at every stop of a Locust run: the senders stop, the receivers go on
receiving for ``Scenario.drain_s`` (``DRAIN_S``, 3 s), and only then are the clients stopped
and their deliveries counted (``benchmarks.load.deliveries`` says what is in flight and what
is lost).

A timed scenario's senders stop ``drain_s`` before its end already, so its stop waits for
nothing; a climb that ended, or the Stop button of Locust's web UI (``make locust``), stops
the senders at that moment and waits the whole window. A master tells its workers to stop
sending and waits for them. Imported by the locustfile, so only inside Locust processes.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.rpc import Message
from locust.runners import MasterRunner, WorkerRunner

from benchmarks.load import users

STOP_SENDING_MESSAGE = "pushlab_stop_sending"


@events.init.add_listener
def wire_drain(environment: Environment, **_: Any) -> None:
    """Called once per Locust process, when its runner exists."""
    if isinstance(environment.runner, WorkerRunner):
        environment.runner.register_message(STOP_SENDING_MESSAGE, stop_sending_now)
    environment.events.test_start.add_listener(plan_workers_sending)
    environment.events.test_stopping.add_listener(drain)
    environment.events.test_stop.add_listener(lambda **_: users.log_process_account())


def plan_workers_sending(environment: Environment, **_: Any) -> None:
    """On a master, as a run starts: when its workers' senders will stop by the plan (a master
    starts no client of its own to learn it from)."""
    if isinstance(environment.runner, MasterRunner):
        scenario = users.SCENARIO
        users.plan_sending(time.time() + scenario.duration_s - scenario.drain_s)


def stop_sending_now(environment: Environment, msg: Message, **_: Any) -> None:
    """On a worker: its master began the drain."""
    users.plan_sending(time.time())


def drain(environment: Environment, **_: Any) -> None:
    """Called as a run stops, before its clients do: stop the senders (a master: its
    workers' too), then let the receivers receive until ``drain_s`` after sending ended."""
    sending_ended = users.plan_sending(time.time())
    if isinstance(environment.runner, MasterRunner):
        environment.runner.send_message(STOP_SENDING_MESSAGE)
    wait_s = sending_ended + users.SCENARIO.drain_s - time.time()
    if wait_s > 0:
        logging.getLogger(__name__).info(
            "drain: senders stopped, receiving %.1f s more before counting deliveries", wait_s
        )
        gevent.sleep(wait_s)
