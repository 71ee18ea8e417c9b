"""Test helpers: the library's in-process capture server.

::

    from statsd_connector.testing import CaptureServer

    server = CaptureServer()                 # 127.0.0.1, an ephemeral port, TCP and UDP
    statsd = Connector(host="127.0.0.1", port=server.port)
    ...
    server.wait_for_lines(3, timeout=5.0)   # raises TimeoutError when they do not come
    assert server.lines() == ["a:1|c", ...]
"""

from ._native import CaptureServer

__all__ = ["CaptureServer"]
