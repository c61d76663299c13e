"""The drain window at every stop of a Locust run: the senders stop, the receivers go on
receiving for ``Scenario.drain_s`` (``DRAIN_S``, 3 s), and only then are the clients stopped
and their deliveries counted (``benchmarks.load.deliveries`` says what is in flight and what
is lost).

A timed scenario's senders stop ``drain_s`` before its end already, so its stop waits for
nothing; a climb that ended, or the Stop button of Locust's web UI (``make locust``), stops
the senders at that moment and waits the whole window. A master tells its workers when
sending stopped and waits the window for them; then it has them stop their clients and waits
until each worker has sent every record (``RECORDS_DEADLINE_S`` at most), since Locust's own
quit gives workers half a second, too little for thousands of clients' accounting. Imported
by the locustfile, so only inside Locust processes.
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
STOP_CLIENTS_MESSAGE = "pushlab_stop_clients"
CLIENTS_STOPPED_MESSAGE = "pushlab_clients_stopped"
RECORDS_DEADLINE_S = 30.0
"""The longest a master waits for its workers' clients to account after the drain window."""
_workers_stopped = 0
"""Workers that said their clients stopped and sent their records (on a master)."""


@events.init.add_listener
def wire_drain(environment: Environment, **_: Any) -> None:
    """Called once per Locust process, when its runner exists."""
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        runner.register_message(STOP_SENDING_MESSAGE, stop_sending_now)
        runner.register_message(STOP_CLIENTS_MESSAGE, stop_clients, concurrent=True)
    elif isinstance(runner, MasterRunner):
        runner.register_message(CLIENTS_STOPPED_MESSAGE, count_stopped_worker)
    environment.events.test_start.add_listener(plan_workers_sending)
    environment.events.test_stopping.add_listener(drain)
    environment.events.test_stop.add_listener(lambda **_: users.log_process_account())


def plan_workers_sending(environment: Environment, **_: Any) -> None:
    """As a run starts: forget the last run's stop (``make locust`` runs again in the same
    process), and on a master, plan when its workers' senders will stop (a master starts no
    client of its own to learn it from)."""
    users.reopen_sending()
    if isinstance(environment.runner, MasterRunner):
        scenario = users.SCENARIO
        users.plan_sending(time.time() + scenario.duration_s - scenario.drain_s)


def stop_sending_now(environment: Environment, msg: Message, **_: Any) -> None:
    """On a worker: its master's senders stopped ``ended_s_ago`` seconds ago (an age, not a time:
    the two may read different clocks), so this worker's stopped then too, if not before."""
    users.plan_sending(time.time() - float(msg.data["ended_s_ago"]))


def stop_clients(environment: Environment, msg: Message, **_: Any) -> None:
    """On a worker, once its master's window is over: stop the clients now (each accounts
    and sends its record), then say so on the same ordered connection, after the records."""
    assert isinstance(environment.runner, WorkerRunner)
    environment.runner.stop()
    environment.runner.send_message(CLIENTS_STOPPED_MESSAGE)


def count_stopped_worker(environment: Environment, msg: Message, **_: Any) -> None:
    global _workers_stopped
    _workers_stopped += 1


def collect_records(runner: MasterRunner) -> None:
    """On a master after the window: have every worker stop its clients, and wait for them."""
    global _workers_stopped
    workers, _workers_stopped = runner.worker_count, 0
    runner.send_message(STOP_CLIENTS_MESSAGE)
    deadline = time.monotonic() + RECORDS_DEADLINE_S
    while _workers_stopped < workers and time.monotonic() < deadline:
        gevent.sleep(0.1)


def drain(environment: Environment, **_: Any) -> None:
    """Called as a run stops, before its clients do: stop the senders (a master: its
    workers' too), then let the receivers receive until ``drain_s`` after sending ended."""
    sending_ended = users.plan_sending(time.time())
    if isinstance(environment.runner, MasterRunner):
        ago = {"ended_s_ago": time.time() - sending_ended}
        environment.runner.send_message(STOP_SENDING_MESSAGE, ago)
    wait_s = sending_ended + users.SCENARIO.drain_s - time.time()
    if wait_s > 0:
        logging.getLogger(__name__).info(
            "drain: senders stopped, receiving %.1f s more before counting deliveries", wait_s
        )
        gevent.sleep(wait_s)
    if isinstance(environment.runner, MasterRunner):
        collect_records(environment.runner)
