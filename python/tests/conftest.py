"""Fixtures: the library's capture server, the real Etsy statsd server (the
npm package the Rust interop tests use, started on free loopback ports and
read back through its admin interface), and polling helpers with deadlines."""

from __future__ import annotations

import ast
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import typing

import pytest

from statsd_connector.testing import CaptureServer

REPO = pathlib.Path(__file__).resolve().parents[2]
STATSD_JS = REPO / "node_modules" / "statsd" / "stats.js"


def wait_until(predicate: typing.Callable[[], typing.Any], timeout: float = 10.0, what: str = "condition") -> typing.Any:
    """Polls ``predicate`` every 10 ms until it returns a true value; fails
    the test with ``what`` when ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def capture() -> typing.Iterator[CaptureServer]:
    """A capture server on 127.0.0.1 (TCP and UDP on one ephemeral port)."""
    server = CaptureServer()
    yield server
    server.stop()


def _free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 right now."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


_PRELOAD = """
const util = require('util');
if (typeof util.log !== 'function') { util.log = function () { console.log(util.format.apply(util, arguments)); }; }
"""


class EtsyStatsd:
    """A running ``node_modules/statsd/stats.js`` (Etsy statsd 0.9.0) on
    127.0.0.1: UDP and TCP on :attr:`port`, the admin interface on
    :attr:`admin_port`, a one-hour flush interval and no backend."""

    def __init__(self) -> None:
        node = shutil.which("node")
        if node is None or not STATSD_JS.exists():
            pytest.fail("Etsy statsd needs Node.js and `npm ci --ignore-scripts` in the repository root")
        self._dir = tempfile.TemporaryDirectory(prefix="etsy-statsd-")
        failures = []
        for _ in range(5):
            self.port = _free_port()
            self.admin_port = _free_port()
            if self.admin_port == self.port:
                continue
            config = pathlib.Path(self._dir.name) / "config.js"
            config.write_text(
                "{\n"
                f"  servers: [{{ server: './servers/udp', address: '127.0.0.1', port: {self.port} }},\n"
                f"            {{ server: './servers/tcp', address: '127.0.0.1', port: {self.port} }}],\n"
                f"  mgmt_address: '127.0.0.1', mgmt_port: {self.admin_port},\n"
                "  flushInterval: 3600000, backends: [], automaticConfigReload: false\n}\n"
            )
            preload = pathlib.Path(self._dir.name) / "preload.js"
            preload.write_text(_PRELOAD)
            self._log = open(pathlib.Path(self._dir.name) / "output.txt", "w+")
            self.process = subprocess.Popen(
                [node, "-r", str(preload), str(STATSD_JS), str(config)],
                cwd=str(STATSD_JS.parent),
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )
            if self._wait_up(15.0):
                return
            failures.append(self.output())
            self.close()
        pytest.fail("Etsy statsd did not come up:\n" + "\n---\n".join(failures))

    def _wait_up(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                if "up" in self._request("health", lambda b: b.endswith(b"\n")):
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        return True
            except OSError:
                pass
            time.sleep(0.02)
        return False

    def output(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read()

    def _request(self, command: str, done: typing.Callable[[bytes], bool]) -> str:
        with socket.create_connection(("127.0.0.1", self.admin_port), timeout=5) as admin:
            admin.sendall(command.encode() + b"\n")
            reply = b""
            while not done(reply):
                chunk = admin.recv(65536)
                if not chunk:
                    break
                reply += chunk
            return reply.decode()

    def admin(self, command: str) -> str:
        """One admin command's answer, without its ``END`` line."""
        reply = self._request(command, lambda b: b == b"END\n\n" or b.endswith(b"\nEND\n\n"))
        return reply[: -len("END\n\n")]

    @staticmethod
    def _parse(text: str) -> typing.Dict[str, typing.Any]:
        # Node's util.inspect of a flat object: keys quoted or bare, values
        # numbers or arrays of numbers.
        body = re.sub(r"\s+", " ", text.strip())
        body = re.sub(r"([{,]\s*)([A-Za-z_$][\w$.]*)\s*:", r"\1'\2':", body)
        return ast.literal_eval(body) if body else {}

    def counters(self) -> typing.Dict[str, float]:
        return self._parse(self.admin("counters"))

    def gauges(self) -> typing.Dict[str, float]:
        return self._parse(self.admin("gauges"))

    def timers(self) -> typing.Dict[str, typing.List[float]]:
        return self._parse(self.admin("timers"))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture(scope="session")
def etsy() -> typing.Iterator[EtsyStatsd]:
    """One Etsy statsd server for the session; tests use names of their own."""
    server = EtsyStatsd()
    yield server
    server.close()


def run_python(code: str, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
    """Runs ``code`` in a fresh interpreter (this one's), with ``args``."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
