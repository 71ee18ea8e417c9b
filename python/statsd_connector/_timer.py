"""Timers: a block of code, a function, or explicit start/stop/send calls,
sent as one timing in milliseconds."""

from __future__ import annotations

import functools
import inspect
import time
import typing

if typing.TYPE_CHECKING:  # pragma: no cover
    from ._connector import Connector, Tags

_F = typing.TypeVar("_F", bound=typing.Callable[..., typing.Any])


class TimerError(RuntimeError):
    """A timer was used out of order (stopped before it started, sent twice,
    ...). Nothing was sent. A :class:`RuntimeError`, as in python-statsd and
    sprockets-statsd."""


class Timer:
    """Measures elapsed time with :func:`time.perf_counter` and sends it with
    :meth:`Connector.timing`.

    Three ways to use one::

        with statsd.timer("db.query"):          # a block
            run_query()

        @statsd.timer("jobs.run")               # every call of a function
        def run(): ...                           # (or an ``async def``)

        t = statsd.timer("upload").start()      # explicit calls
        ...
        t.stop()                                 # sends (``stop(send=False)``, then ``send()``)

    Misuse (``stop`` before ``start``, ``send`` before ``stop`` or twice)
    raises :class:`TimerError` and sends nothing.
    """

    __slots__ = ("_connector", "_name", "_tags", "_sample_rate", "_started", "_elapsed")

    def __init__(
        self,
        connector: "Connector",
        name: str,
        *,
        tags: "Tags" = None,
        sample_rate: typing.Optional[float] = None,
    ) -> None:
        self._connector = connector
        self._name = name
        self._tags = tags
        self._sample_rate = sample_rate
        self._started: typing.Optional[float] = None
        self._elapsed: typing.Optional[float] = None

    @property
    def elapsed(self) -> typing.Optional[float]:
        """Seconds measured by the last :meth:`stop`, or None."""
        return self._elapsed

    def start(self) -> "Timer":
        """Starts (or restarts) the clock; returns the timer."""
        self._started = time.perf_counter()
        self._elapsed = None
        return self

    def stop(self, send: bool = True) -> "Timer":
        """Stops the clock and, unless ``send`` is false, sends the timing."""
        if self._started is None:
            raise TimerError("Timer.stop() called before start()")
        self._elapsed = max(0.0, time.perf_counter() - self._started)
        self._started = None
        if send:
            self.send()
        return self

    def send(self) -> None:
        """Sends the measured timing; the measurement is then cleared."""
        if self._elapsed is None:
            raise TimerError("Timer.send() called before stop(), or twice")
        elapsed, self._elapsed = self._elapsed, None
        self._connector.timing(self._name, elapsed, tags=self._tags, sample_rate=self._sample_rate)

    def __enter__(self) -> "Timer":
        return self.start()

    def __exit__(self, *exc_info: typing.Any) -> None:
        self.stop()

    def __call__(self, function: _F) -> _F:
        """Decorates ``function``: each call is timed on its own."""
        connector, name, tags, rate = self._connector, self._name, self._tags, self._sample_rate

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def timed_async(*args: typing.Any, **kwargs: typing.Any) -> typing.Any:
                started = time.perf_counter()
                try:
                    return await function(*args, **kwargs)
                finally:
                    connector.timing(name, time.perf_counter() - started, tags=tags, sample_rate=rate)

            return typing.cast(_F, timed_async)

        @functools.wraps(function)
        def timed(*args: typing.Any, **kwargs: typing.Any) -> typing.Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                connector.timing(name, time.perf_counter() - started, tags=tags, sample_rate=rate)

        return typing.cast(_F, timed)

    def __repr__(self) -> str:
        return f"<Timer {self._name!r}>"
