"""Locust's distributed mode for pushlab's users: what a master tells its workers, and back.

A worker needs nothing but ``--master-host``: when a run starts, the master sends
it the scenario and the run's tag (before the first spawn message, on the same
ordered connection), and the worker sends each client's delivery record back to
the master, which appends it to its deliveries.jsonl. So a worker on another
machine, with none of the runner's environment or files, still counts. Imported
by the locustfile, so only inside Locust processes.
"""

from __future__ import annotations

from typing import Any

from locust import events
from locust.env import Environment
from locust.rpc import Message
from locust.runners import MasterRunner, WorkerRunner

from benchmarks.load import timeline, users
from benchmarks.run.scenarios import Scenario
from lab.open_files import raise_open_files_limit

RUN_MESSAGE = "pushlab_run"
RECORD_MESSAGE = "pushlab_record"
TIMELINE_MESSAGE = "pushlab_timeline"

raise_open_files_limit()  # each client holds a socket or two; Locust itself only asks for 10 000


@events.init.add_listener
def wire_runner(environment: Environment, **_: Any) -> None:
    """Called once per Locust process, when its runner exists: register the pushlab messages."""
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        runner.register_message(RECORD_MESSAGE, store_worker_record)
        runner.register_message(TIMELINE_MESSAGE, store_worker_timeline)
        environment.events.test_start.add_listener(announce_run)
    elif isinstance(runner, WorkerRunner):
        runner.register_message(RUN_MESSAGE, join_run)


def announce_run(environment: Environment, **_: Any) -> None:
    """On the master, as a run starts and before any spawn message: tell every worker the run."""
    assert environment.runner is not None
    environment.runner.send_message(
        RUN_MESSAGE, {"scenario": users.SCENARIO.to_env(), "run_tag": users.RUN_TAG}
    )


def join_run(environment: Environment, msg: Message, **_: Any) -> None:
    """On a worker: play the master's scenario in rooms tagged with this worker's index."""
    runner = environment.runner
    assert isinstance(runner, WorkerRunner)
    index = runner.worker_index

    def send_record(record: dict[str, Any]) -> None:
        runner.send_message(RECORD_MESSAGE, {**record, "worker": index})

    def send_timeline(record: dict[str, Any]) -> None:
        runner.send_message(TIMELINE_MESSAGE, {**record, "worker": index})

    scenario = Scenario.from_env(msg.data["scenario"])
    users.follow_master(scenario, f"{msg.data['run_tag']}-w{index}", send_record)
    timeline.record_sink = send_timeline


def store_worker_record(environment: Environment, msg: Message, **_: Any) -> None:
    """On the master: a worker's client finished; keep its record with the master's own."""
    users.append_record(msg.data)


def store_worker_timeline(environment: Environment, msg: Message, **_: Any) -> None:
    """On the master: a worker's sampled client finished; keep its timeline with the others."""
    timeline.append_timeline(msg.data)
