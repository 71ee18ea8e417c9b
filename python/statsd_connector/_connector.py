"""The Python face of the native connector: asyncio start and stop, context
managers, timers, and registration with the exit and fork hooks."""

from __future__ import annotations

import asyncio
import datetime
import typing

from . import _native, _process
from ._timer import Timer

#: Tags as a dict (``{"region": "eu"}``; a value of ``""`` or None makes a
#: bare tag) or as datadogpy takes them (``["region:eu", "canary"]``).
Tags = typing.Union[typing.Mapping[str, typing.Any], typing.Iterable[str], None]
#: Seconds as a number, or a :class:`datetime.timedelta`.
Seconds = typing.Union[float, int, datetime.timedelta]


def _settle(
    future: "asyncio.Future[_native.StopReport]",
    report: typing.Optional[_native.StopReport],
    error: typing.Optional[BaseException],
) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(typing.cast(_native.StopReport, report))


class Connector(_native.Connector):
    """Sends metrics to a statsd (or DogStatsD) server without ever blocking
    the caller.

    A metric call checks its input, formats one line into a bounded
    in-memory queue and returns; a background thread owned by the Rust
    engine connects, batches lines into large writes, reconnects, and on
    :meth:`stop` delivers what is queued. A full queue drops the metric,
    counts it in ``stats().dropped`` and logs a throttled warning: it never
    raises and never waits.

    :param host: server host name or address, or an address URL
        (``udp://host:port``, ``tcp://...``, ``unixgram:///path``, ...)
    :param port: 1-65535 (default 8125), as an int or a str
    :param protocol: ``"tcp"`` (default), ``"udp"``, ``"unix"`` or ``"unixgram"``
    :param prefix: put before every name, with a ``.``
    :param tags: global tags, on every metric (see :data:`Tags`)

    Keyword-only options (all optional; see the README for each): ``enabled``,
    ``type_prefixes`` (``counters.``, ``gauges.``, ``timers.`` after the
    prefix), ``application_prefix=(service, environment)``, ``dogstatsd``,
    ``tag_format`` (``"dogstatsd"``, ``"influx"``, ``"graphite"``),
    ``queue_capacity``, ``emitting_threads``, ``reconnect_sleep``, ``wait_timeout``,
    ``batch_delay``, ``connect_timeout``, ``stop_timeout``, ``max_payload``,
    ``aggregate`` (a flush interval), ``telemetry`` (a report interval),
    ``max_samples_per_context``, ``framing`` (``"newline"``,
    ``"length-prefixed"``), ``origin_detection``, ``container_id``,
    ``cardinality``, ``dns_refresh`` (seconds between lookups of the server,
    0 turns them off), ``telemetry_address`` (the telemetry's own server),
    ``max_tag_sets`` (the cap on distinct tag sets per name) and
    ``exit_timeout`` (the deadline of the stop made at interpreter exit,
    default 2 s). Durations are seconds or
    :class:`~datetime.timedelta`. A refused setting raises
    :class:`ConfigurationError` (a :class:`ValueError`) naming it.

    Start it with ``await start()`` (asyncio) or :meth:`start_blocking`
    (threads, WSGI), or use it as a context manager (``with`` /
    ``async with``). Any number of threads may share one connector.
    """

    def __init__(self, *args: typing.Any, **kwargs: typing.Any) -> None:
        # The native __new__ has built it from the same arguments.
        _process.register(self)

    @classmethod
    def from_env(cls, **overrides: typing.Any) -> "Connector":
        """A connector configured from the ``STATSD_*`` and ``DD_*``
        environment variables, as the Rust library reads them; keywords
        given here win over the environment. Without ``STATSD_HOST`` (and no
        ``DD_*`` address) it is disabled: every call is accepted and ignored.
        """
        return cls(from_env=True, **overrides)

    async def start(self) -> None:
        """Starts the processor and returns once it runs (it does not wait
        for a connection). Starting a running connector does nothing."""
        self.start_blocking()

    async def stop(self, timeout: typing.Optional[Seconds] = None) -> _native.StopReport:
        """Delivers what is queued (within ``timeout``, else the connector's
        ``stop_timeout``), closes the connection and returns a
        :class:`StopReport` (``undelivered``, ``possibly_lost``). The event
        loop keeps running meanwhile: the waiting happens on a native thread.
        Stopping twice, or a connector that never started, is harmless."""
        loop = asyncio.get_running_loop()
        future: "asyncio.Future[_native.StopReport]" = loop.create_future()

        def done(report: typing.Optional[_native.StopReport], error: typing.Optional[BaseException]) -> None:
            try:
                loop.call_soon_threadsafe(_settle, future, report, error)
            except RuntimeError:  # the loop was closed meanwhile
                pass

        self._stop_in_background(done, timeout)
        return await future

    def timer(
        self,
        name: str,
        *,
        tags: Tags = None,
        sample_rate: typing.Optional[float] = None,
    ) -> Timer:
        """A :class:`Timer` for ``name``: a context manager, a decorator, or
        explicit ``start()`` / ``stop()`` / ``send()`` calls."""
        return Timer(self, name, tags=tags, sample_rate=sample_rate)

    def __enter__(self) -> "Connector":
        self.start_blocking()
        return self

    def __exit__(self, *exc_info: typing.Any) -> None:
        self.stop_blocking()

    async def __aenter__(self) -> "Connector":
        await self.start()
        return self

    async def __aexit__(self, *exc_info: typing.Any) -> None:
        await self.stop()
