"""Process life: the ``atexit`` stop and the ``fork`` renewal of every live
connector.

At interpreter exit each running connector delivers what is queued within
its ``exit_timeout`` (default 2 s), then the native gate shuts so that no
background thread enters Python while the interpreter finalizes.

In a child made by ``os.fork()`` (gunicorn and uwsgi pre-fork workers,
``multiprocessing`` with the fork start method) every connector gets a fresh
native connector with the parent's configuration and an empty queue: the
child never sends what the parent had queued, and never waits on a lock that
a parent thread held at the moment of the fork. It is started if the
parent's was; its ``stats()`` count from zero. The parent is not affected.
"""

from __future__ import annotations

import atexit
import os
import typing
import weakref

from . import _native

_live: "weakref.WeakSet[_native.Connector]" = weakref.WeakSet()


def register(connector: _native.Connector) -> None:
    """Puts ``connector`` under the exit and fork hooks (held weakly)."""
    _live.add(connector)


def _at_exit() -> None:
    for connector in list(_live):
        try:
            connector._stop_at_exit()
        except Exception:  # pragma: no cover - never stop the exit
            pass
    _native._close_python_gate()


def _after_fork_in_child() -> None:
    _native._after_fork_in_child()
    for connector in list(_live):
        try:
            connector._after_fork_in_child()
        except Exception:  # pragma: no cover - a child must not die of it
            pass


atexit.register(_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
