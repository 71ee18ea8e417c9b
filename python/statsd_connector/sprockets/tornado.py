"""sprockets-statsd 1.0's ``sprockets_statsd.tornado``, on the native engine.

:class:`Application` reads the ``statsd`` settings (``enabled``, ``host``,
``port``, ``prefix``, ``protocol``, ``reconnect_sleep``, ``wait_timeout``
and the other :class:`~statsd_connector.sprockets.statsd.Processor`
keywords), falling back to ``STATSD_ENABLED``, ``STATSD_HOST``,
``STATSD_PORT``, ``STATSD_PREFIX`` and ``STATSD_PROTOCOL``, with the default
prefix ``applications.<service>.<environment>``, and registers its start and
stop with sprockets.http's ``on_start_callbacks`` and
``on_shutdown_callbacks`` when they exist. :class:`RequestHandler` records
each request as ``timers.<HandlerName>.<METHOD>.<status>``.

Differences from 1.0, each a fix: without a host (no ``host`` setting and no
``STATSD_HOST``) metrics are disabled, as 1.0 documented, rather than a
fatal error; ``prefix=None`` means no prefix (1.0 sent ``None`` before every
path); and the differences of :mod:`statsd_connector.sprockets.statsd`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import typing

from tornado import ioloop, web

from . import statsd

__all__ = ["Application", "RequestHandler"]


def _parse_bool(value: typing.Union[str, bool, int]) -> bool:
    """``STATSD_ENABLED``'s rule: a non-zero integer, or on/t/true/yes in any
    case, is true; anything else is false."""
    if isinstance(value, bool):
        return value
    try:
        return int(value) != 0
    except (TypeError, ValueError):
        return str(value).lower() in {"on", "t", "true", "yes"}


class Application(web.Application):
    """Mix into the application class to own a statsd connector.

    .. attribute:: statsd_connector

       The connector between :meth:`start_statsd` and :meth:`stop_statsd`
       (an :class:`~statsd_connector.sprockets.statsd.AbstractConnector`,
       which sends nothing, when metrics are disabled), else None.
    """

    statsd_connector: typing.Optional[statsd.AbstractConnector]

    def __init__(self, *args: typing.Any, **settings: typing.Any) -> None:
        statsd_settings = settings.setdefault("statsd", {})
        statsd_settings.setdefault("enabled", os.environ.get("STATSD_ENABLED", "yes"))
        statsd_settings.setdefault("host", os.environ.get("STATSD_HOST"))
        statsd_settings.setdefault("port", os.environ.get("STATSD_PORT", "8125"))
        statsd_settings.setdefault("protocol", os.environ.get("STATSD_PROTOCOL", "tcp"))
        if "prefix" not in statsd_settings:
            prefix = os.environ.get("STATSD_PREFIX")
            if not prefix:
                try:
                    prefix = ".".join(["applications", settings["service"], settings["environment"]])
                except KeyError:
                    raise RuntimeError(
                        "statsd configuration error: prefix is not set. Set $STATSD_PREFIX,"
                        " settings.statsd.prefix, or settings.service and settings.environment"
                        " (or settings.statsd.prefix = None for no prefix)"
                    ) from None
            statsd_settings["prefix"] = prefix

        super().__init__(*args, **settings)

        self.settings["statsd"]["enabled"] = _parse_bool(self.settings["statsd"]["enabled"])
        self.settings["statsd"]["port"] = int(self.settings["statsd"]["port"])
        self.statsd_connector = None

        # sprockets.http runs these at start-up and shutdown.
        for hooks, hook in (("on_start_callbacks", self.start_statsd), ("on_shutdown_callbacks", self.stop_statsd)):
            registered = getattr(self, hooks, None)
            if registered is not None:
                registered.append(hook)

    async def start_statsd(self, *_: typing.Any) -> None:
        """Creates and starts the connector (once); returns when it runs."""
        if self.statsd_connector is not None:
            return
        logger = self._statsd_logger()
        options = dict(self.settings["statsd"])
        enabled = options.pop("enabled", True)
        if not enabled:
            logger.info("statsd connector is disabled by configuration")
            self.statsd_connector = statsd.AbstractConnector()
        elif not options.get("host"):
            logger.info("statsd connector is disabled: no host (settings.statsd.host, $STATSD_HOST)")
            self.statsd_connector = statsd.AbstractConnector()
        else:
            protocol = options.pop("protocol", None)
            if protocol == "tcp":
                options["ip_protocol"] = socket.IPPROTO_TCP
            elif protocol == "udp":
                options["ip_protocol"] = socket.IPPROTO_UDP
            else:
                return self._statsd_fatal(f"statsd configuration error: {protocol} is not a valid protocol")
            logger.info("creating %s statsd connector", protocol.upper())
            try:
                self.statsd_connector = statsd.Connector(**options)
            except RuntimeError as error:
                return self._statsd_fatal("statsd.Connector failed to start", error)
        await self.statsd_connector.start()

    async def stop_statsd(self, *_: typing.Any) -> None:
        """Stops the connector (delivering what is queued) and forgets it."""
        if self.statsd_connector is not None:
            await self.statsd_connector.stop()
            self.statsd_connector = None

    def _statsd_fatal(self, message: str, error: typing.Optional[BaseException] = None) -> None:
        logger = self._statsd_logger()
        if error is not None:
            logger.error("%s: %s", message, error)
        else:
            logger.error("%s", message)
        stop = getattr(self, "stop", None)
        if stop is not None:  # a sprockets.http application
            stop(ioloop.IOLoop.current())
        else:
            raise RuntimeError(message)

    def _statsd_logger(self) -> logging.Logger:
        logger = getattr(self, "logger", None)
        if isinstance(logger, logging.Logger):
            return logger
        return logging.getLogger("statsd_connector.sprockets.tornado.Application")


class RequestHandler(web.RequestHandler):
    """Mix into request handlers: a timing per request, and helpers."""

    statsd_connector: typing.Optional[statsd.AbstractConnector]

    def initialize(self, **kwargs: typing.Any) -> None:
        super().initialize(**kwargs)
        self.statsd_connector = getattr(self.application, "statsd_connector", None)

    @staticmethod
    def _statsd_path(*path: typing.Any) -> str:
        return ".".join(str(part) for part in path)

    def record_timing(self, secs: float, *path: typing.Any) -> None:
        """Records ``secs`` under ``timers.<path joined by dots>``."""
        if self.statsd_connector is not None:
            self.statsd_connector.timing(self._statsd_path(*path), secs)

    def increase_counter(self, *path: typing.Any, amount: int = 1) -> None:
        """Adds ``amount`` (default 1, may be negative) to
        ``counters.<path joined by dots>``."""
        if self.statsd_connector is not None:
            self.statsd_connector.incr(self._statsd_path(*path), amount)

    @contextlib.contextmanager
    def execution_timer(self, *path: typing.Any) -> typing.Iterator[None]:
        """Times the ``with`` block under ``timers.<path joined by dots>``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.record_timing(time.perf_counter() - started, *path)

    def on_finish(self) -> None:
        """Records the request's duration as
        ``timers.<HandlerName>.<METHOD>.<status>``."""
        super().on_finish()
        self.record_timing(self.request.request_time(), type(self).__name__, self.request.method, self.get_status())
