"""A drop-in for sprockets-statsd 1.0: change ``sprockets_statsd`` to
``statsd_connector.sprockets`` in the imports and keep the rest.

:mod:`.statsd` has every public name of ``sprockets_statsd.statsd``
(``AbstractConnector``, ``Connector``, ``Processor``, ``Timer``,
``ThrottleGuard`` and the protocol classes), and :mod:`.tornado` the
``Application`` and ``RequestHandler`` mix-ins, with the same signatures,
settings, ``STATSD_*`` environment and wire format (``counters.``,
``gauges.``, ``timers.``). The engine underneath is the Rust connector; the
README lists every difference, each one a fix.
"""

version_info = (1, 0, 0)
version = ".".join(str(part) for part in version_info)
