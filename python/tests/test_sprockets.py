"""The sprockets-statsd 1.0 drop-in: every public name, and the behaviour of
BEHAVIOUR.md, on the wire of the capture server and Etsy statsd."""

from __future__ import annotations

import asyncio
import datetime
import logging
import socket

import pytest
import sprockets_statsd.statsd as original

import statsd_connector
from statsd_connector.sprockets import statsd

from conftest import wait_until


def run(coroutine):
    return asyncio.run(coroutine)


def test_every_public_name_of_the_original_is_here():
    public = {name for name in vars(original) if not name.startswith("_") and isinstance(getattr(original, name), type)}
    assert public <= set(vars(statsd)), public - set(vars(statsd))
    for name in ("AbstractConnector", "Connector", "Timer"):
        mine, theirs = getattr(statsd, name), getattr(original, name)
        for method in ("start", "stop", "inject_metric", "incr", "decr", "gauge", "timing", "timer", "send", "__init__"):
            if hasattr(theirs, method):
                import inspect

                assert list(inspect.signature(getattr(mine, method)).parameters) == list(
                    inspect.signature(getattr(theirs, method)).parameters
                ), f"{name}.{method}"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"host": ""},
        {"host": None},
        {"host": "h", "port": 0},
        {"host": "h", "port": -1},
        {"host": "h", "port": "eighty"},
        {"host": "h", "port": None},
        {"host": "h", "ip_protocol": socket.IPPROTO_SCTP},
    ],
)
def test_bad_construction_is_a_runtime_error_and_a_value_error(kwargs):
    with pytest.raises(RuntimeError) as raised:
        statsd.Connector(**kwargs)
    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value, statsd_connector.ConfigurationError)


def test_start_runs_stop_delivers_and_flags_follow(capture):
    async def main():
        connector = statsd.Connector("127.0.0.1", capture.port, prefix="svc")
        processor = connector.processor
        assert (processor.host, processor.port) == ("127.0.0.1", capture.port)
        assert processor.stopped.is_set() and not processor.running.is_set()
        connector.incr("early")  # queued before start, sent once it runs
        await connector.start()
        assert processor.running.is_set() and not processor.should_terminate
        connector.incr("hits")
        connector.incr("hits", 5)
        connector.decr("stock")
        connector.decr("stock", 2)
        connector.gauge("temp", 21)
        connector.gauge("depth", 3, delta=True)
        connector.gauge("depth", -2, delta=True)
        connector.gauge("negative", -5)
        connector.timing("db", 0.25)
        connector.timing("db", datetime.timedelta(seconds=1.5))
        connector.inject_metric("raw", "1", "c")
        with connector.timer("block"):
            pass
        await wait_until_async(lambda: processor.connected)
        await connector.stop()
        assert processor.stopped.is_set() and not processor.running.is_set() and processor.should_terminate
        await connector.stop()  # twice: harmless

    run(main())
    capture.wait_for_lines(14)
    lines = capture.lines()
    assert lines[:13] == [
        "svc.counters.early:1|c",
        "svc.counters.hits:1|c",
        "svc.counters.hits:5|c",
        "svc.counters.stock:-1|c",
        "svc.counters.stock:-2|c",
        "svc.gauges.temp:21|g",
        "svc.gauges.depth:+3|g",
        "svc.gauges.depth:-2|g",
        "svc.gauges.negative:0|g",
        "svc.gauges.negative:-5|g",
        "svc.timers.db:250|ms",
        "svc.timers.db:1500|ms",
        "svc.raw:1|c",
    ]
    assert len(lines) == 14
    assert lines[13].startswith("svc.timers.block:") and lines[13].endswith("|ms")


async def wait_until_async(predicate, timeout=10.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_prefix_none_or_empty_means_no_prefix(capture):
    async def main():
        for prefix in (None, ""):
            connector = statsd.Connector("127.0.0.1", capture.port, prefix=prefix)
            await connector.start()
            connector.incr("bare")
            await connector.stop()

    run(main())
    capture.wait_for_lines(2)
    assert capture.lines() == ["counters.bare:1|c", "counters.bare:1|c"]


def test_stop_before_start_is_harmless():
    async def main():
        connector = statsd.Connector("127.0.0.1", 9)
        await connector.stop()
        assert connector.processor.stopped.is_set()

    run(main())


def test_abstract_connector_does_nothing_and_routes_through_inject_metric():
    sent = []

    class Recording(statsd.AbstractConnector):
        def inject_metric(self, path, value, type_code):
            sent.append(f"{path}:{value}|{type_code}")

    async def main():
        quiet = statsd.AbstractConnector()
        await quiet.start()
        quiet.incr("x")
        quiet.gauge("g", -1)
        with quiet.timer("t"):
            pass
        await quiet.stop()
        recording = Recording()
        recording.incr("a")
        recording.decr("a", 2)
        recording.gauge("g", 5)
        recording.gauge("g", -3)
        recording.gauge("g", 2, delta=True)
        recording.timing("t", 0.5)

    run(main())
    assert sent == [
        "counters.a:1|c",
        "counters.a:-2|c",
        "gauges.g:5|g",
        "gauges.g:0|g",
        "gauges.g:-3|g",
        "gauges.g:+2|g",
        "timers.t:500.0|ms",
    ]


def test_timer_misuse_is_a_runtime_error_and_sends_nothing():
    connector = statsd.AbstractConnector()
    with pytest.raises(RuntimeError):
        connector.timer("t").stop()
    with pytest.raises(RuntimeError):
        connector.timer("t").send()
    started = connector.timer("t").start()
    with pytest.raises(RuntimeError):
        started.send()
    started.stop()
    with pytest.raises(RuntimeError):
        started.send()  # stop() sent it already
    deferred = connector.timer("t").start().stop(send=False)
    deferred.send()


def test_invalid_metrics_raise_instead_of_breaking_the_line():
    connector = statsd.Connector("127.0.0.1", 9)
    with pytest.raises(ValueError):
        connector.incr("a:b")
    with pytest.raises(ValueError):
        connector.inject_metric("p", "1", "zz")
    assert connector.processor._connector.stats().rejected == 2


def test_full_queue_discards_and_warns_throttled(caplog):
    caplog.set_level(logging.WARNING, logger="statsd_connector")
    connector = statsd.Connector("127.0.0.1", 9, max_queue_size=10)
    for _ in range(300):
        connector.incr("flood")
    assert connector.processor.queue.qsize() == 10
    assert connector.processor.queue.full()
    stats = connector.processor._connector.stats()
    assert (stats.accepted, stats.dropped) == (10, 290)
    wait_until(lambda: len([r for r in caplog.records if "queue full" in r.getMessage()]) >= 101)
    assert len([r for r in caplog.records if "queue full" in r.getMessage()]) == 101


def test_reconnects_and_keeps_what_was_queued(capture):
    async def main():
        connector = statsd.Connector("127.0.0.1", capture.port, reconnect_sleep=0.05, wait_timeout=0.05)
        await connector.start()
        connector.incr("one")
        await asyncio.get_running_loop().run_in_executor(None, capture.wait_for_lines, 1)
        capture.kill()
        connector.incr("two")
        connector.incr("three")
        capture.restart()
        await wait_until_async(lambda: "counters.three:1|c" in capture.lines())
        await connector.stop()

    run(main())
    assert capture.lines()[-2:] == ["counters.two:1|c", "counters.three:1|c"]


def test_udp(capture):
    async def main():
        connector = statsd.Connector("127.0.0.1", capture.port, ip_protocol=socket.IPPROTO_UDP)
        await connector.start()
        connector.incr("udp")
        await connector.stop()

    run(main())
    capture.wait_for_lines(1)
    assert capture.lines() == ["counters.udp:1|c"]


def test_processor_run_and_should_terminate(capture):
    async def main():
        processor = statsd.Processor(host="127.0.0.1", port=capture.port)
        task = asyncio.ensure_future(processor.run())
        await processor.running.wait()
        processor.enqueue(b"direct:1|c")
        processor.queue.put_nowait(b"queued:2|c")
        processor.should_terminate = True
        await asyncio.wait_for(task, 10)
        assert processor.stopped.is_set()

    run(main())
    capture.wait_for_lines(2)
    assert capture.lines() == ["direct:1|c", "queued:2|c"]


def test_etsy_statsd_reads_the_drop_in(etsy):
    async def main():
        connector = statsd.Connector("127.0.0.1", etsy.port, prefix="sprockets")
        await connector.start()
        connector.incr("requests", 3)
        connector.decr("requests")
        connector.gauge("workers", 4)
        connector.gauge("workers", -1, delta=True)
        connector.gauge("balance", -10)
        connector.timing("render", 0.0125)
        await connector.stop()

    run(main())
    wait_until(lambda: etsy.counters().get("sprockets.counters.requests") == 2, what="the counter")
    gauges = etsy.gauges()
    assert gauges["sprockets.gauges.workers"] == 3
    assert gauges["sprockets.gauges.balance"] == -10
    assert etsy.timers()["sprockets.timers.render"] == [12.5]


def test_throttle_guard():
    guard = statsd.ThrottleGuard(100)
    allowed = [guard.allow_execution() for _ in range(1000)]
    assert allowed.count(True) == 99 + 10  # 1..99, then 100, 200, ... 1000
    guard.reset()
    assert guard.counter == 0 and guard.allow_execution()
