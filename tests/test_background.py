"""The thread base of the runner's samplers and restarters (``benchmarks.run.background``)."""

from __future__ import annotations

import threading
from pathlib import Path

from benchmarks.run.background import BackgroundThread
from benchmarks.run.capacity import Footprint
from benchmarks.run.chaos import ServerRestarter


class Ticker(BackgroundThread):
    thread_name = "ticker"

    def __init__(self, every_s: float, planned: bool = True) -> None:
        super().__init__()
        self.every_s, self.planned, self.ticks = every_s, planned, 0
        self.ticked = threading.Event()

    def wanted(self) -> bool:
        return self.planned

    def run(self) -> None:
        while True:
            self.ticks += 1
            self.ticked.set()
            if self.finished.wait(self.every_s):
                return


def test_stop_ends_a_long_wait_at_once_and_joins_the_thread() -> None:
    ticker = Ticker(every_s=3600).start()
    assert ticker.ticked.wait(30)
    assert ticker.thread is not None and ticker.thread.name == "ticker"
    assert ticker.thread.daemon
    stopper = threading.Thread(target=ticker.stop)
    stopper.start()
    stopper.join(60)  # a deadline, not a speed target: the wait itself is an hour
    assert not stopper.is_alive(), "stop() did not cut the hour's wait short"
    assert not ticker.thread.is_alive() and ticker.ticks == 1


def test_nothing_planned_starts_no_thread_and_stop_is_still_safe() -> None:
    ticker = Ticker(every_s=0.01, planned=False).start()
    ticker.stop()
    assert ticker.thread is None and ticker.ticks == 0 and ticker.finished.is_set()


def test_the_runner_threads_share_the_base(tmp_path: Path) -> None:
    footprint = Footprint(roots=())
    assert isinstance(footprint, BackgroundThread) and not footprint.finished.is_set()
    restarter = ServerRestarter(None, (), tmp_path / "clients.json")  # type: ignore[arg-type]
    assert not restarter.wanted() and restarter.start().thread is None
    restarter.stop()
