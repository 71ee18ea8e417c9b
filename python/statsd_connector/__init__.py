"""statsd-connector for Python: a statsd and DogStatsD client whose engine is
the Rust library ``statsd-connector``.

A metric call formats one line into a bounded queue and returns; a native
background thread connects, batches, reconnects and delivers, and on stop
delivers what is queued and reports what it could not. Nothing waits on the
network in a Python thread, a full queue never raises, a ``fork``\\ ed child
gets a working connector of its own, and interpreter exit delivers what is
still queued within a short deadline.

::

    from statsd_connector import Connector

    statsd = Connector(host="127.0.0.1", port=8125, prefix="shop")
    await statsd.start()                      # or statsd.start_blocking()
    statsd.incr("orders")                      # shop.orders:1|c
    statsd.incr("hits", tags={"region": "eu"}) # shop.hits:1|c|#region:eu
    with statsd.timer("db.query"):
        ...
    report = await statsd.stop()               # or statsd.stop_blocking()

The library's log events reach :mod:`logging` under ``statsd_connector.*``
(INFO and above; see :func:`set_log_level`). The sprockets-statsd drop-in is
:mod:`statsd_connector.sprockets`.
"""

from . import _native
from ._connector import Connector, Seconds, Tags
from ._native import (
    DEFAULT_PORT,
    DEFAULT_QUEUE_CAPACITY,
    ConfigurationError,
    InvalidFieldError,
    InvalidMetricError,
    InvalidNameError,
    InvalidSampleRateError,
    InvalidTagError,
    InvalidTypeError,
    InvalidValueError,
    LineTooLongError,
    MalformedLineError,
    NotDogStatsdError,
    Stats,
    StopReport,
    StopTimeoutError,
    set_log_level,
)
from ._timer import Timer, TimerError

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_QUEUE_CAPACITY",
    "ConfigurationError",
    "Connector",
    "InvalidFieldError",
    "InvalidMetricError",
    "InvalidNameError",
    "InvalidSampleRateError",
    "InvalidTagError",
    "InvalidTypeError",
    "InvalidValueError",
    "LineTooLongError",
    "MalformedLineError",
    "NotDogStatsdError",
    "Seconds",
    "Stats",
    "StopReport",
    "StopTimeoutError",
    "Tags",
    "Timer",
    "TimerError",
    "set_log_level",
]
