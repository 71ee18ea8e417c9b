"""The Tornado mix-ins of the drop-in, under tornado.testing, and the
sprockets.http start and stop hooks."""

from __future__ import annotations

import os
import typing
from unittest import mock

import pytest
from tornado import testing, web

from statsd_connector.sprockets import statsd, tornado as statsd_tornado
from statsd_connector.testing import CaptureServer

ENV = ("STATSD_ENABLED", "STATSD_HOST", "STATSD_PORT", "STATSD_PREFIX", "STATSD_PROTOCOL")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


class Application(statsd_tornado.Application, web.Application):
    pass


class Handler(statsd_tornado.RequestHandler, web.RequestHandler):
    async def get(self):
        with self.execution_timer("work", "block"):
            pass
        self.increase_counter("visits", "home")
        self.increase_counter("visits", "away", amount=-2)
        self.write("ok")


class Missing(statsd_tornado.RequestHandler, web.RequestHandler):
    def get(self):
        self.set_status(404)


class MixinTests(testing.AsyncHTTPTestCase):
    def setUp(self) -> None:
        self.capture = CaptureServer()
        super().setUp()
        self.io_loop.run_sync(self.app.start_statsd)

    def tearDown(self) -> None:
        self.io_loop.run_sync(self.app.stop_statsd)
        super().tearDown()
        self.capture.stop()

    def get_app(self) -> web.Application:
        self.app = Application(
            [("/", Handler), ("/missing", Missing)],
            statsd={"host": "127.0.0.1", "port": str(self.capture.port), "prefix": "svc"},
        )
        return self.app

    def test_request_timing_counters_and_block_timer(self) -> None:
        response = self.fetch("/")
        self.assertEqual(response.code, 200)
        self.assertEqual(self.fetch("/missing").code, 404)
        self.io_loop.run_sync(self.app.stop_statsd)
        self.assertIsNone(self.app.statsd_connector)
        self.capture.wait_for_lines(5)
        lines = self.capture.lines()
        names = [line.split(":")[0] for line in lines]
        self.assertEqual(
            names,
            [
                "svc.timers.work.block",
                "svc.counters.visits.home",
                "svc.counters.visits.away",
                "svc.timers.Handler.GET.200",
                "svc.timers.Missing.GET.404",
            ],
        )
        self.assertEqual(lines[1], "svc.counters.visits.home:1|c")
        self.assertEqual(lines[2], "svc.counters.visits.away:-2|c")
        self.assertTrue(all(line.endswith("|ms") for line in (lines[0], lines[3], lines[4])))

    def test_the_connector_is_the_drop_in(self) -> None:
        self.assertIsInstance(self.app.statsd_connector, statsd.Connector)
        self.assertTrue(self.app.statsd_connector.processor.running.is_set())


def settings_of(**settings: typing.Any) -> typing.Dict[str, typing.Any]:
    return Application([], **settings).settings["statsd"]


def test_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("STATSD_HOST", "statsd.internal")
    monkeypatch.setenv("STATSD_PORT", "9125")
    monkeypatch.setenv("STATSD_PREFIX", "from.env")
    monkeypatch.setenv("STATSD_PROTOCOL", "udp")
    monkeypatch.setenv("STATSD_ENABLED", "no")
    assert settings_of() == {
        "enabled": False,
        "host": "statsd.internal",
        "port": 9125,
        "prefix": "from.env",
        "protocol": "udp",
    }


@pytest.mark.parametrize(
    "value, enabled",
    [("1", True), ("0", False), ("-3", True), ("on", True), ("T", True), ("TRUE", True), ("yes", True),
     ("off", False), ("nope", False), ("", False)],
)
def test_statsd_enabled_is_parsed_as_the_original_did(monkeypatch, value, enabled):
    monkeypatch.setenv("STATSD_ENABLED", value)
    assert settings_of(statsd={"prefix": None})["enabled"] is enabled


def test_default_prefix_and_the_missing_prefix_error():
    assert settings_of(service="shop", environment="prod")["prefix"] == "applications.shop.prod"
    assert settings_of(statsd={"prefix": None})["prefix"] is None
    with pytest.raises(RuntimeError, match="prefix"):
        Application([])


def test_disabled_or_hostless_is_a_quiet_connector():
    async def check(app):
        await app.start_statsd()
        assert type(app.statsd_connector) is statsd.AbstractConnector
        app.statsd_connector.incr("nothing")
        await app.stop_statsd()

    import asyncio

    asyncio.run(check(Application([], statsd={"prefix": None, "enabled": "false", "host": "h"})))
    asyncio.run(check(Application([], statsd={"prefix": None})))  # no host: disabled, not fatal


def test_bad_protocol_is_fatal():
    import asyncio

    app = Application([], statsd={"prefix": None, "host": "h", "protocol": "sctp"})
    with pytest.raises(RuntimeError, match="sctp"):
        asyncio.run(app.start_statsd())


def test_sprockets_http_hooks(monkeypatch):
    http_app = pytest.importorskip("sprockets.http.app")

    class ServiceApp(statsd_tornado.Application, http_app.Application):
        pass

    capture = CaptureServer()
    app = ServiceApp([], statsd={"host": "127.0.0.1", "port": capture.port, "prefix": "hooked"})
    assert app.start_statsd in app.on_start_callbacks
    assert app.stop_statsd in app.on_shutdown_callbacks
    import asyncio

    async def lifecycle():
        for callback in app.on_start_callbacks:
            await callback(app, None)
        app.statsd_connector.incr("up")
        for callback in app.on_shutdown_callbacks:
            await callback(app)

    asyncio.run(lifecycle())
    capture.wait_for_lines(1)
    assert capture.lines() == ["hooked.counters.up:1|c"]
    capture.stop()
