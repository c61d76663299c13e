"""One thread beside a run: the samplers and restarters the runner starts around Locust.

``start()`` runs ``run()`` in a daemon thread (unless ``wanted()`` says there is nothing to
do), ``stop()`` sets ``finished`` and waits for the thread. ``run()`` waits on ``finished``
(``finished.wait(seconds)``), never on a bare sleep, so ``stop()`` cuts any wait short.
"""

from __future__ import annotations

import threading
from typing import Self


class BackgroundThread:
    """Base for a sampler or restarter that works in its own thread until ``stop()``."""

    thread_name = "background"

    def __init__(self) -> None:
        self.finished = threading.Event()
        self.thread: threading.Thread | None = None

    def wanted(self) -> bool:
        """False: ``start()`` starts no thread (a restarter with nothing planned)."""
        return True

    def start(self) -> Self:
        if self.wanted():
            self.thread = threading.Thread(target=self.run, name=self.thread_name, daemon=True)
            self.thread.start()
        return self

    def stop(self) -> None:
        """Set ``finished`` and wait for the thread (a step in progress ends first)."""
        self.finished.set()
        if self.thread is not None:
            self.thread.join()

    def run(self) -> None:
        raise NotImplementedError
