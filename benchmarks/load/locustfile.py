"""The Locust entry point: one user class per registered strategy.

``make locust`` opens Locust's web UI with ``--class-picker`` listing them;
``pushlab bench`` runs them headless with ``benchmarks/load/shapes.py``. Each class is a
strategy's transport (``Strategy.locust_user``, in its package) over the benchmark's
``ChatUser``, under the transport's own name, so a new strategy's user appears here by its
registry row alone.
"""

from __future__ import annotations

import importlib

import benchmarks.load.distributed  # registers the master/worker messages
import benchmarks.load.drain  # noqa: F401  (waits the drain window at every stop)
from benchmarks.load.users import ChatUser
from strategies import STRATEGIES


def load_user_class(spec: str) -> type:
    """``"module:Class"`` → the class."""
    module_name, _, class_name = spec.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def measured_user(transport: type) -> type[ChatUser]:
    """A strategy's transport over ``ChatUser``: its hooks first, the measuring under them.

    Named as the transport is (``pushlab bench`` picks a class by that name); not abstract,
    so Locust runs it."""
    return type(transport.__name__, (transport, ChatUser), {"__module__": __name__})


for _strategy in STRATEGIES.values():
    _user_class = measured_user(load_user_class(_strategy.locust_user))
    globals()[_user_class.__name__] = _user_class
del _strategy, _user_class  # Locust collects every User class in this module's namespace
