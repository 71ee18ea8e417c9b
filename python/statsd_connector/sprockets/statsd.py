"""sprockets-statsd 1.0's ``sprockets_statsd.statsd``, on the native engine.

Same names, signatures and wire format; :class:`Connector` sends through
:class:`statsd_connector.Connector`, so metric calls never wait, the queue
is drained by a native thread, and ``fork`` and interpreter exit are
handled. Differences from 1.0, each a fix:

* a negative absolute gauge is sent as ``0`` then the value (1.0 sent
  ``-5|g``, which statsd reads as a decrement);
* ``prefix=None`` means no prefix (1.0 put ``None`` before every path);
* a bad path, value or type code raises a :class:`ValueError` subclass and
  sends nothing (1.0 wrote whatever it was given);
* configuration errors are :class:`~statsd_connector.ConfigurationError`
  subclasses that are *also* :class:`RuntimeError`, so ``except
  RuntimeError`` still catches them;
* :meth:`Processor.stop` is bounded (5 s by default) instead of waiting
  forever for an unreachable server;
* timings are sent as exact milliseconds (``1500``, not ``1500.0``), and
  :meth:`AbstractConnector.gauge` with ``delta=True`` takes floats too.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import socket
import time
import typing

from .. import _native
from .._connector import Connector as _NativeConnector
from .._timer import TimerError
from .. import ConfigurationError

__all__ = [
    "AbstractConnector",
    "Connector",
    "Processor",
    "StatsdProtocol",
    "TCPProtocol",
    "ThrottleGuard",
    "Timer",
    "UDPProtocol",
]

_LOGGER_NAME = "statsd_connector.sprockets"


class SprocketsConfigurationError(ConfigurationError, RuntimeError):
    """A configuration value was refused. Both a :class:`ValueError` (as in
    :mod:`statsd_connector`) and a :class:`RuntimeError` (as sprockets-statsd
    raised)."""


class ThrottleGuard:
    """Lets an action (a log line) through the first ``threshold - 1`` times,
    then once in every ``threshold`` times, until :meth:`reset`.

    Used for the connection-failure log: continuous feedback without log
    spam during a long outage.
    """

    def __init__(self, threshold: int) -> None:
        self.counter = 0
        self.threshold = threshold

    def allow_execution(self) -> bool:
        """Counts one occurrence; True when it should be acted on."""
        self.counter += 1
        return self.counter < self.threshold or self.counter % self.threshold == 0

    def reset(self) -> None:
        """Forgets the occurrences (the condition has cleared)."""
        self.counter = 0


class Timer:
    """python-statsd's timer protocol, as :meth:`AbstractConnector.timer`
    returns it: ``start()``, ``stop(send=True)``, ``send()``, or a ``with``
    block. Out-of-order calls raise :class:`RuntimeError`
    (:class:`~statsd_connector.TimerError`) and send nothing."""

    _start_time: typing.Optional[float]
    _finish_time: typing.Optional[float]

    def __init__(self, connector: "AbstractConnector", path: str) -> None:
        self._connector = connector
        self._path = path
        self._start_time = None
        self._finish_time = None

    def start(self) -> "Timer":
        """Starts the clock; returns the timer."""
        self._start_time = time.perf_counter()
        return self

    def stop(self, send: bool = True) -> "Timer":
        """Stops the clock and sends the timing unless ``send`` is false."""
        if self._start_time is None:
            raise TimerError("Timer.stop called before start")
        self._finish_time = time.perf_counter()
        if send:
            self.send()
        return self

    def send(self) -> None:
        """Sends the measured timing; a second call raises."""
        if self._start_time is None:
            raise TimerError("Timer.send called before start")
        if self._finish_time is None:
            raise TimerError("Timer.send called before stop")
        elapsed = max(0.0, self._finish_time - self._start_time)
        self._start_time = self._finish_time = None
        self._connector.timing(self._path, elapsed)

    def __enter__(self) -> "Timer":
        return self.start()

    def __exit__(self, *exc_info: typing.Any) -> None:
        self.stop()


class AbstractConnector:
    """A connector that sends nothing: the interface, for disabled metrics.

    Its metric methods format the typed path and value and call
    :meth:`inject_metric`, which does nothing here; a subclass that
    overrides :meth:`inject_metric` sees every metric.
    """

    async def start(self) -> None:
        """Does nothing."""

    async def stop(self) -> None:
        """Does nothing."""

    def inject_metric(self, path: str, value: str, type_code: str) -> None:
        """Does nothing: override to send ``path:value|type_code``."""

    def incr(self, path: str, value: int = 1) -> None:
        """Adds ``value`` to the counter ``counters.<path>``."""
        self.inject_metric(f"counters.{path}", str(value), "c")

    def decr(self, path: str, value: int = 1) -> None:
        """Subtracts ``value`` from the counter ``counters.<path>``."""
        self.inject_metric(f"counters.{path}", str(-value), "c")

    def gauge(self, path: str, value: typing.Union[int, float], delta: bool = False) -> None:
        """Sets the gauge ``gauges.<path>`` to ``value``, or adjusts it by
        ``value`` when ``delta`` is true. A negative value to set is sent as
        ``0`` then the value, since statsd reads ``-5|g`` as a decrement."""
        if delta:
            self.inject_metric(f"gauges.{path}", f"{value:+}", "g")
        elif value < 0:
            self.inject_metric(f"gauges.{path}", "0", "g")
            self.inject_metric(f"gauges.{path}", str(value), "g")
        else:
            self.inject_metric(f"gauges.{path}", str(value), "g")

    def timing(self, path: str, seconds: typing.Union[float, datetime.timedelta]) -> None:
        """Records ``seconds`` (a number or a timedelta) under
        ``timers.<path>``, sent in milliseconds."""
        if isinstance(seconds, datetime.timedelta):
            seconds = seconds.total_seconds()
        self.inject_metric(f"timers.{path}", repr(seconds * 1000.0), "ms")

    def timer(self, path: str) -> Timer:
        """A :class:`Timer` that records under ``timers.<path>``."""
        return Timer(self, path)


class _StateFlag:
    """The part of :class:`asyncio.Event` that 1.0 documented for
    ``Processor.running`` and ``Processor.stopped``: ``is_set()`` and
    ``await wait()``, read from the native connector's state."""

    def __init__(self, read: typing.Callable[[], bool], poll: float) -> None:
        self._read = read
        self._poll = poll

    def is_set(self) -> bool:
        """Does the state hold now?"""
        return self._read()

    async def wait(self) -> bool:
        """Returns once the state holds."""
        while not self._read():
            await asyncio.sleep(self._poll)
        return True


class _QueueView:
    """The part of :class:`asyncio.Queue` that 1.0 exposed as
    ``Processor.queue``: sizes, read from the native queue."""

    def __init__(self, processor: "Processor", maxsize: int) -> None:
        self._processor = processor
        self.maxsize = maxsize

    def qsize(self) -> int:
        """Metrics queued or held by the processor."""
        return self._processor._connector.stats().in_queue

    def empty(self) -> bool:
        """Is nothing queued?"""
        return self.qsize() == 0

    def full(self) -> bool:
        """Is the queue at its bound?"""
        return self.qsize() >= self.maxsize

    def put_nowait(self, metric: bytes) -> None:
        """Queues one formatted line (see :meth:`Processor.enqueue`)."""
        self._processor.enqueue(metric)


class StatsdProtocol:
    """1.0's transport adapter. The native engine owns the sockets, so
    :class:`Processor` never makes one; the class stays so that imports and
    ``isinstance`` checks keep working."""

    buffered_data: bytes = b""
    ip_protocol: int = socket.IPPROTO_NONE
    transport: typing.Any = None

    def __init__(self) -> None:
        self.buffered_data = b""
        self.connected = asyncio.Event()
        self.logger = logging.getLogger(_LOGGER_NAME).getChild(type(self).__name__)
        self.transport = None

    def send(self, metric: bytes) -> None:
        """Not used by the native engine."""
        raise NotImplementedError()

    async def shutdown(self) -> None:
        """Not used by the native engine."""
        raise NotImplementedError()


class TCPProtocol(StatsdProtocol):
    """1.0's TCP adapter (kept for imports; see :class:`StatsdProtocol`)."""

    ip_protocol = socket.IPPROTO_TCP


class UDPProtocol(StatsdProtocol):
    """1.0's UDP adapter (kept for imports; see :class:`StatsdProtocol`)."""

    ip_protocol = socket.IPPROTO_UDP


def _config_error(setting: str, value: typing.Any, message: str) -> SprocketsConfigurationError:
    error = SprocketsConfigurationError(message)
    error.setting = setting  # type: ignore[attr-defined]
    error.value = value  # type: ignore[attr-defined]
    return error


class Processor:
    """Owns the native connector that keeps the connection and sends.

    :param host: statsd server to send metrics to (must not be empty)
    :param port: its port, 1-65535 (an int or a numeric str)
    :param ip_protocol: ``socket.IPPROTO_TCP`` (default) or ``socket.IPPROTO_UDP``
    :param max_queue_size: bound of the queue, in metrics (default 1000)
    :param reconnect_sleep: seconds between failed connection attempts
    :param wait_timeout: seconds the processor waits for a metric before
        checking the connection again

    Attributes as in 1.0: ``host``, ``port``, ``queue`` (sizes),
    ``running`` and ``stopped`` (``is_set()``, ``await wait()``),
    ``connected``, ``should_terminate`` (set it to stop), ``protocol``
    (always None: the native engine owns the socket) and ``logger``.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int = 8125,
        ip_protocol: int = socket.IPPROTO_TCP,
        max_queue_size: int = 1000,
        reconnect_sleep: float = 1.0,
        wait_timeout: float = 0.1,
    ) -> None:
        if not host:
            raise _config_error("host", host, "host must be set")
        try:
            port = int(port)
        except (TypeError, ValueError):
            raise _config_error("port", port, f"port must be a positive integer: {port!r}") from None
        if port < 1 or port > 65535:
            raise _config_error("port", port, f"port must be a positive integer: {port!r}")
        protocols = {socket.IPPROTO_TCP: "tcp", socket.IPPROTO_UDP: "udp"}
        if ip_protocol not in protocols:
            raise _config_error("ip_protocol", ip_protocol, f"ip_protocol {ip_protocol} is not supported")
        self.host = host
        self.port = port
        self.logger = logging.getLogger(_LOGGER_NAME).getChild("Processor")
        self.protocol: typing.Optional[StatsdProtocol] = None
        self._settings = {
            "host": host,
            "port": port,
            "protocol": protocols[ip_protocol],
            "queue_capacity": max_queue_size,
            "reconnect_sleep": reconnect_sleep,
            "wait_timeout": wait_timeout,
        }
        self._wait_timeout = wait_timeout
        self._connector = self._build(None)
        self.queue = _QueueView(self, max_queue_size)
        self.running = _StateFlag(lambda: self._connector.is_running, min(wait_timeout, 0.05))
        self.stopped = _StateFlag(lambda: not self._connector.is_running, min(wait_timeout, 0.05))
        self._stopping: typing.Optional["asyncio.Task[typing.Any]"] = None

    def _build(self, prefix: typing.Optional[str]) -> _NativeConnector:
        try:
            return _NativeConnector(prefix=prefix or None, **self._settings)
        except ConfigurationError as error:
            raise _config_error(getattr(error, "setting", ""), getattr(error, "value", ""), str(error)) from None

    def _use_prefix(self, prefix: typing.Optional[str]) -> None:
        """Rebuilds the (not yet started) native connector with ``prefix``."""
        self._connector = self._build(prefix)

    @property
    def connected(self) -> bool:
        """Is the processor connected to the server?"""
        return self._connector.is_connected

    @property
    def should_terminate(self) -> bool:
        """True unless the processor runs; setting it to True stops the
        processor in the background (await :meth:`stop` to wait for it)."""
        return not self._connector.is_running

    @should_terminate.setter
    def should_terminate(self, value: bool) -> None:
        if value and self._connector.is_running:
            self._connector._stop_in_background(lambda report, error: None)

    def enqueue(self, metric: bytes) -> None:
        """Queues one formatted line (``path:value|type``, bytes or str)."""
        line = metric.decode("utf-8") if isinstance(metric, (bytes, bytearray)) else metric
        self._connector.send_line(line.rstrip("\n"))

    async def run(self) -> None:
        """Starts the processor and returns when it has stopped (see
        :meth:`stop` and :attr:`should_terminate`)."""
        self._connector.start_blocking()
        await self.stopped.wait()

    async def stop(self) -> None:
        """Delivers what is queued, closes the connection, and returns once
        the processor has stopped (bounded by the connector's stop timeout).
        The report is kept in :attr:`last_report`."""
        self.last_report = await self._connector.stop()

    last_report: typing.Optional[_native.StopReport] = None


class Connector(AbstractConnector):
    """Sends metrics to a statsd server through the native engine.

    :param host: statsd server to send metrics to
    :param port: its port (default 8125)
    :keyword prefix: put before every path, before the type prefix
        (``counters.``, ``gauges.``, ``timers.``); empty or None: no prefix
    :param kwargs: passed to :class:`Processor` (``ip_protocol``,
        ``max_queue_size``, ``reconnect_sleep``, ``wait_timeout``)

    ``await start()`` when the application starts and ``await stop()``
    before it exits (a connector still running at interpreter exit is
    stopped by an ``atexit`` hook within two seconds). A full queue
    discards the metric and logs a throttled warning.
    """

    logger: logging.Logger
    prefix: str
    processor: Processor

    def __init__(self, host: str, port: int = 8125, *, prefix: typing.Optional[str] = "", **kwargs: typing.Any) -> None:
        super().__init__()
        self.logger = logging.getLogger(_LOGGER_NAME).getChild("Connector")
        self.prefix = f"{prefix}." if prefix else ""
        self.processor = Processor(host=host, port=port, **kwargs)
        if prefix:
            self.processor._use_prefix(prefix)
        self._native = self.processor._connector

    async def start(self) -> None:
        """Starts the processor; returns once it runs."""
        self._native.start_blocking()

    async def stop(self) -> None:
        """Stops the processor: delivers what is queued, closes the
        connection, returns once it has stopped."""
        await self.processor.stop()

    def inject_metric(self, path: str, value: typing.Any, type_code: str) -> None:
        """Queues ``<prefix.>path:value|type_code`` (validated)."""
        self._native.inject_metric(path, value, type_code)

    # The metric methods go straight to the native calls (same lines as the
    # AbstractConnector's, without formatting them in Python).

    def incr(self, path: str, value: int = 1) -> None:
        """Adds ``value`` to the counter ``counters.<path>``."""
        self._native.incr("counters." + path, value)

    def decr(self, path: str, value: int = 1) -> None:
        """Subtracts ``value`` from the counter ``counters.<path>``."""
        self._native.decr("counters." + path, value)

    def gauge(self, path: str, value: typing.Union[int, float], delta: bool = False) -> None:
        """Sets (or with ``delta`` adjusts) the gauge ``gauges.<path>``; a
        negative value to set is sent as ``0`` then the value."""
        self._native.gauge("gauges." + path, value, delta=delta)

    def timing(self, path: str, seconds: typing.Union[float, datetime.timedelta]) -> None:
        """Records ``seconds`` under ``timers.<path>``, in milliseconds."""
        self._native.timing("timers." + path, seconds)
