"""Stopping pushlab cleanly on Ctrl-C or SIGTERM, whenever the signal comes.

Two rules, used by ``pushlab serve`` and ``pushlab bench``:

- SIGTERM behaves like Ctrl-C: it raises ``KeyboardInterrupt`` where the program is, so
  every ``finally`` and ``atexit`` cleanup runs (Python's default for SIGTERM kills the
  process on the spot and leaves the embedded Redis's directory and child processes behind).
- While an ASGI server starts, the stop signals are blocked (held pending by the kernel)
  until the server has installed its own handlers, then unblocked: a signal that arrives in
  between is handled by the server instead of raising ``KeyboardInterrupt`` inside its
  start-up code, where Twisted swallows it and Daphne then never stops (the Ctrl-C flake).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


def stop_on_sigterm_like_ctrl_c() -> None:
    """Make SIGTERM raise ``KeyboardInterrupt`` (main thread only, as any handler)."""
    signal.signal(signal.SIGTERM, _interrupt)


def block_stop_signals() -> set[int | signal.Signals]:
    """Hold SIGINT and SIGTERM pending in this thread; returns the mask to restore."""
    return signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def restore_signal_mask(previous: set[int | signal.Signals]) -> None:
    """Put back ``previous``: a stop signal that came meanwhile is delivered now."""
    signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def unblock_stop_signals() -> None:
    """Deliver any pending stop signal to the handlers installed by now."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


@contextlib.contextmanager
def stop_signals_blocked() -> Iterator[None]:
    """A short step that must not be cut in half (start a child and register its cleanup)."""
    previous = block_stop_signals()
    try:
        yield
    finally:
        restore_signal_mask(previous)
