"""The native API: every call on the wire, under threads and asyncio, every
error, stats, logging, and Etsy statsd reading what we send."""

from __future__ import annotations

import asyncio
import datetime
import logging
import threading
import time

import pytest

import statsd_connector
from statsd_connector import Connector
from statsd_connector.testing import CaptureServer

from conftest import wait_until


def connect(capture: CaptureServer, **options) -> Connector:
    return Connector(host="127.0.0.1", port=capture.port, **options)


def sent_lines(capture: CaptureServer, statsd: Connector, n: int):
    report = statsd.stop_blocking()
    assert (report.undelivered, report.possibly_lost) == (0, 0)
    capture.wait_for_lines(n, timeout=10.0)
    return capture.lines()


def test_every_metric_call_on_the_wire(capture):
    statsd = connect(capture, prefix="app")
    statsd.start_blocking()
    statsd.incr("hits")
    statsd.incr("hits", 5)
    statsd.decr("stock")
    statsd.decr("stock", 3)
    statsd.gauge("temp", 21.5)
    statsd.gauge("depth", -2)
    statsd.gauge("depth", 3, delta=True)
    statsd.gauge("depth", -1, delta=True)
    statsd.timing("db", 0.0425)
    statsd.timing("db", datetime.timedelta(seconds=1.5))
    statsd.histogram("size", 512)
    statsd.distribution("latency", 0.25)
    statsd.set("users", "alice")
    statsd.set("users", 42)
    statsd.inject_metric("raw", 7, "c")
    statsd.send_line("line:1|c|#k:v")
    assert sent_lines(capture, statsd, 17) == [
        "app.hits:1|c",
        "app.hits:5|c",
        "app.stock:-1|c",
        "app.stock:-3|c",
        "app.temp:21.5|g",
        "app.depth:0|g",
        "app.depth:-2|g",
        "app.depth:+3|g",
        "app.depth:-1|g",
        "app.db:42.5|ms",
        "app.db:1500|ms",
        "app.size:512|h",
        "app.latency:0.25|d",
        "app.users:alice|s",
        "app.users:42|s",
        "app.raw:7|c",
        "app.line:1|c|#k:v",
    ]


def test_tags_as_dict_or_list_and_sample_rate(capture):
    statsd = connect(capture, tags={"env": "prod"})
    statsd.start_blocking()
    statsd.incr("a", tags={"region": "eu", "canary": ""})
    statsd.incr("b", tags=["region:eu", "canary"])
    statsd.gauge("c", 1, tags=("x:1",))
    statsd.incr("d", sample_rate=1.0)
    statsd.timing("e", 0.001, tags={"n": 3}, sample_rate=1.0)
    assert sent_lines(capture, statsd, 5) == [
        "a:1|c|#env:prod,region:eu,canary",
        "b:1|c|#env:prod,region:eu,canary",
        "c:1|g|#env:prod,x:1",
        "d:1|c|#env:prod",
        "e:1|ms|#env:prod,n:3",
    ]


def test_type_prefixes_and_application_prefix(capture):
    statsd = connect(capture, application_prefix=("shop", "prod"), type_prefixes=True)
    statsd.start_blocking()
    statsd.incr("orders")
    statsd.gauge("cart", 2)
    statsd.timing("checkout", 0.01)
    assert sent_lines(capture, statsd, 3) == [
        "applications.shop.prod.counters.orders:1|c",
        "applications.shop.prod.gauges.cart:2|g",
        "applications.shop.prod.timers.checkout:10|ms",
    ]


def test_events_and_service_checks_with_every_field(capture):
    statsd = connect(capture, dogstatsd=True, origin_detection=False)
    statsd.start_blocking()
    statsd.event(
        "Deploy",
        "v2 is out",
        timestamp=1700000000,
        hostname="web1",
        aggregation_key="deploys",
        priority="low",
        source_type="ci",
        alert_type="success",
        tags={"team": "core"},
    )
    statsd.service_check("db.up", 2, timestamp=1700000000, hostname="db1", tags=["tier:1"], message="down")
    statsd.service_check("cache.up", "ok")
    assert sent_lines(capture, statsd, 3) == [
        "_e{6,9}:Deploy|v2 is out|d:1700000000|h:web1|k:deploys|p:low|s:ci|t:success|#team:core",
        "_sc|db.up|2|d:1700000000|h:db1|#tier:1|m:down",
        "_sc|cache.up|0",
    ]


def test_timer_as_block_decorator_and_explicit_calls(capture):
    statsd = connect(capture)
    statsd.start_blocking()
    with statsd.timer("block"):
        pass

    @statsd.timer("function")
    def work(x):
        return x * 2

    @statsd.timer("coroutine", tags={"k": "v"})
    async def async_work():
        return 1

    assert work(2) == 4
    assert asyncio.run(async_work()) == 1
    timer = statsd.timer("explicit").start()
    timer.stop(send=False)
    assert timer.elapsed is not None and timer.elapsed >= 0
    timer.send()
    with pytest.raises(statsd_connector.TimerError):
        timer.send()
    with pytest.raises(RuntimeError):
        statsd.timer("never").stop()
    lines = sent_lines(capture, statsd, 4)
    assert [line.split(":")[0] for line in lines] == ["block", "function", "coroutine", "explicit"]
    assert all(line.endswith("|ms") or line.endswith("|ms|#k:v") for line in lines)


def test_asyncio_start_and_stop():
    async def main():
        capture = CaptureServer()
        statsd = Connector(host="127.0.0.1", port=capture.port)
        assert statsd.is_stopped
        await statsd.start()
        assert statsd.is_running
        for i in range(1000):
            statsd.incr("async.hits")
        report = await statsd.stop()
        assert (report.undelivered, report.possibly_lost) == (0, 0)
        assert statsd.is_stopped and not statsd.is_running
        await statsd.stop()  # twice: harmless
        assert capture.wait_for_lines(1000, timeout=10.0) == 1000
        async with Connector(host="127.0.0.1", port=capture.port) as again:
            again.incr("again")
        capture.wait_for_lines(1001, timeout=10.0)
        capture.stop()

    asyncio.run(main())


def test_asyncio_stop_does_not_block_the_loop():
    async def main():
        # Nothing listens: stop waits its whole timeout, on a native thread.
        capture = CaptureServer(protocol="tcp")
        port = capture.port
        capture.stop()
        statsd = Connector(host="127.0.0.1", port=port, reconnect_sleep=0.05)
        await statsd.start()
        statsd.incr("lost")
        ticks = 0

        async def tick():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.ensure_future(tick())
        report = await statsd.stop(timeout=0.5)
        ticker.cancel()
        assert report.undelivered == 1
        assert ticks >= 10

    asyncio.run(main())


def test_stop_before_start_discards_and_reports():
    statsd = Connector(host="127.0.0.1", port=9)
    statsd.incr("queued")
    report = statsd.stop_blocking()
    assert (report.undelivered, report.possibly_lost) == (1, 0)
    assert statsd.stop_blocking().undelivered == 0


def test_threads_share_one_connector(capture):
    statsd = connect(capture, queue_capacity=1_000_000)
    statsd.start_blocking()
    per_thread, threads = 5_000, 16
    barrier = threading.Barrier(threads)

    def emit(n):
        barrier.wait()
        for _ in range(per_thread):
            statsd.incr("threads.hits", tags={"t": str(n)})

    workers = [threading.Thread(target=emit, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    report = statsd.stop_blocking()
    total = per_thread * threads
    assert report.undelivered == 0
    assert capture.wait_for_lines(total, timeout=20.0) == total
    stats = statsd.stats()
    assert (stats.accepted, stats.sent, stats.dropped, stats.rejected) == (total, total, 0, 0)
    lines = capture.lines()
    for n in range(threads):
        assert lines.count(f"threads.hits:1|c|#t:{n}") == per_thread


def test_stats_has_every_counter(capture):
    statsd = connect(capture)
    statsd.incr("x")
    with pytest.raises(ValueError):
        statsd.incr("bad name")
    stats = statsd.stats()
    for name in (
        "accepted", "sent", "sent_bytes", "dropped", "rejected", "reconnects", "connect_failures",
        "short_connections", "possibly_lost", "undelivered", "datagrams", "in_queue", "events", "service_checks",
    ):
        assert isinstance(getattr(stats, name), int), name
    assert (stats.accepted, stats.rejected, stats.in_queue) == (1, 1, 1)
    assert stats.as_dict()["accepted"] == 1
    assert "accepted=1" in repr(stats)
    statsd.start_blocking()
    statsd.stop_blocking()
    assert statsd.stats().sent == 1


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda c: c.incr("a|b"), statsd_connector.InvalidNameError, "'|'"),
        (lambda c: c.incr(""), statsd_connector.InvalidNameError, "empty"),
        (lambda c: c.incr("a\nb"), statsd_connector.InvalidNameError, "0x0a"),
        (lambda c: c.gauge("g", float("nan")), statsd_connector.InvalidValueError, "NaN"),
        (lambda c: c.gauge("g", float("inf")), statsd_connector.InvalidValueError, "inf"),
        (lambda c: c.incr("r", sample_rate=1.5), statsd_connector.InvalidSampleRateError, "1.5"),
        (lambda c: c.incr("r", sample_rate=0.0), statsd_connector.InvalidSampleRateError, "0"),
        (lambda c: c.incr("t", tags={"a|b": "c"}), statsd_connector.InvalidTagError, "a|b"),
        (lambda c: c.incr("t", tags=["k:"]), statsd_connector.InvalidTagError, "k:"),
        (lambda c: c.inject_metric("p", "1", "x"), statsd_connector.InvalidTypeError, '"x"'),
        (lambda c: c.send_line("no value"), statsd_connector.MalformedLineError, "malformed"),
        (lambda c: c.incr("x" * 9000), statsd_connector.InvalidMetricError, "1024"),
        (lambda c: c.event("t", "x"), statsd_connector.NotDogStatsdError, "DogStatsD"),
        (lambda c: c.service_check("n", 0), statsd_connector.NotDogStatsdError, "DogStatsD"),
        (lambda c: c.timing("t", float("nan")), statsd_connector.InvalidValueError, "NaN"),
        (lambda c: c.timing("t", -1.0), statsd_connector.InvalidValueError, "-1"),
    ],
)
def test_invalid_input_raises_a_value_error_that_names_it(call, error, words):
    statsd = Connector(host="127.0.0.1")
    with pytest.raises(error) as raised:
        call(statsd)
    assert isinstance(raised.value, ValueError)
    assert words in str(raised.value)
    assert statsd.stats().rejected == 1
    assert statsd.stats().accepted == 0


def test_dogstatsd_field_errors():
    statsd = Connector(host="127.0.0.1", dogstatsd=True)
    with pytest.raises(statsd_connector.InvalidFieldError, match="title"):
        statsd.event("", "text")
    with pytest.raises(statsd_connector.InvalidFieldError, match="status|bogus"):
        statsd.service_check("n", "bogus")
    with pytest.raises(ValueError, match="priority|urgent"):
        statsd.event("t", "x", priority="urgent")


def test_wrong_types_raise_type_error():
    statsd = Connector(host="127.0.0.1")
    with pytest.raises(TypeError):
        statsd.incr(b"bytes")
    with pytest.raises(TypeError):
        statsd.incr("x", tags="k:v")
    with pytest.raises(TypeError):
        statsd.timing("t", "soon")


@pytest.mark.parametrize(
    "options, setting, value",
    [
        ({"host": ""}, "host", ""),
        ({"host": "h", "port": 0}, "port", "0"),
        ({"host": "h", "port": -1}, "port", "-1"),
        ({"host": "h", "port": 70000}, "port", "70000"),
        ({"host": "h", "port": "80a"}, "port", "80a"),
        ({"host": "h", "protocol": "sctp"}, "protocol", "sctp"),
        ({"host": "h", "prefix": "a..b"}, "prefix", "a..b"),
        ({"host": "udp://:8125"}, "host", "udp://:8125"),
        ({"host": "h", "queue_capacity": 0}, "queue_capacity", "0"),
        ({"host": "h", "tag_format": "xml"}, "tag_format", "xml"),
        ({"host": "h", "reconnect_sleep": -1.0}, "reconnect_sleep", "-1"),
        ({"host": "h", "cardinality": "huge"}, "cardinality", "huge"),
        ({"host": "h", "framing": "xml"}, "framing", "xml"),
        ({"host": "h", "emitting_threads": 0}, "emitting_threads", "0"),
        ({"host": "h", "max_tag_sets": 0}, "max_tag_sets", "0"),
        ({"host": "h", "telemetry_address": "udp://t:8125"}, "telemetry_address", "udp://t:8125"),
    ],
)
def test_bad_configuration_names_the_setting_and_value(options, setting, value):
    with pytest.raises(statsd_connector.ConfigurationError) as raised:
        Connector(**options)
    assert isinstance(raised.value, ValueError)
    assert raised.value.setting == setting
    assert raised.value.value == value
    if value:
        assert value in str(raised.value)


def test_from_env(monkeypatch, capture):
    for name in ("STATSD_HOST", "STATSD_PORT", "STATSD_PREFIX", "STATSD_PROTOCOL", "DD_AGENT_HOST", "DD_DOGSTATSD_URL"):
        monkeypatch.delenv(name, raising=False)
    disabled = Connector.from_env()
    assert not disabled.enabled
    disabled.incr("ignored")
    monkeypatch.setenv("STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("STATSD_PORT", str(capture.port))
    monkeypatch.setenv("STATSD_PREFIX", "env")
    statsd = Connector.from_env(tags={"from": "kw"})
    assert (statsd.host, statsd.port, statsd.prefix, statsd.protocol) == ("127.0.0.1", capture.port, "env", "tcp")
    statsd.start_blocking()
    statsd.incr("x")
    assert sent_lines(capture, statsd, 1) == ["env.x:1|c|#from:kw"]
    monkeypatch.setenv("STATSD_PORT", "eighty")
    with pytest.raises(statsd_connector.ConfigurationError) as raised:
        Connector.from_env()
    assert "eighty" in str(raised.value)


def test_the_tag_set_cap_collapses_and_counts(capture):
    statsd = connect(capture, max_tag_sets=2, dns_refresh=0)
    statsd.start_blocking()
    for user in ("a", "b", "c"):
        statsd.incr("logins", tags={"user": user})
    lines = sent_lines(capture, statsd, 3)
    assert lines[:2] == ["logins:1|c|#user:a", "logins:1|c|#user:b"]
    assert lines[2] == "logins:1|c|#statsd_connector.overflow:true"
    stats = statsd.stats()
    assert stats.tag_set_overflows == 1
    assert stats.as_dict()["tag_set_overflows"] == 1
    assert (stats.address_changes, stats.telemetry_sent, stats.telemetry_lost) == (0, 0, 0)


def test_disabled_accepts_everything_and_does_nothing():
    statsd = Connector(host="127.0.0.1", enabled=False)
    statsd.start_blocking()
    statsd.incr("a|b")  # not even validated
    statsd.gauge("g", 1)
    assert not statsd.is_running
    assert statsd.stats().accepted == 0
    assert statsd.stop_blocking().undelivered == 0


def test_full_queue_never_raises_counts_and_warns_throttled(caplog):
    caplog.set_level(logging.WARNING, logger="statsd_connector")
    statsd = Connector(host="127.0.0.1", queue_capacity=10, emitting_threads=1)
    for _ in range(1000):
        statsd.incr("flood")  # never started: the queue fills up
    stats = statsd.stats()
    assert (stats.accepted, stats.dropped) == (10, 990)

    def warnings():
        return [r for r in caplog.records if "queue full" in r.getMessage()]

    # The first 100 drops are logged, then one in every 100: 99 + 9.
    wait_until(lambda: len(warnings()) >= 108, what="the throttled warnings")
    assert all(r.name.startswith("statsd_connector.") and r.levelno == logging.WARNING for r in warnings())
    assert len(warnings()) <= 110


def test_log_events_reach_python_logging(capture, caplog):
    caplog.set_level(logging.INFO, logger="statsd_connector")
    statsd = connect(capture)
    statsd.start_blocking()
    statsd.incr("x")
    statsd.stop_blocking()
    wait_until(
        lambda: any("connected to statsd" in r.getMessage() for r in caplog.records),
        what="the connection log line",
    )
    record = next(r for r in caplog.records if "connected to statsd" in r.getMessage())
    assert record.name == "statsd_connector.background.processor"
    assert f"port={capture.port}" in record.getMessage()


def test_reconnects_after_the_server_comes_back(capture):
    statsd = connect(capture, reconnect_sleep=0.05)
    statsd.start_blocking()
    statsd.incr("before")
    capture.wait_for_lines(1)
    capture.kill()
    statsd.incr("during")
    capture.restart()
    wait_until(lambda: "during:1|c" in capture.lines(), what="the metric sent across the restart")
    statsd.stop_blocking()
    assert statsd.stats().reconnects >= 1


def test_udp(capture):
    statsd = connect(capture, protocol="udp")
    statsd.start_blocking()
    statsd.incr("udp.hits")
    statsd.stop_blocking()
    capture.wait_for_lines(1)
    assert capture.lines() == ["udp.hits:1|c"]
    assert statsd.stats().datagrams >= 1


def test_context_manager_starts_and_stops(capture):
    with connect(capture) as statsd:
        assert statsd.is_running
        statsd.incr("in.block")
    assert statsd.is_stopped
    capture.wait_for_lines(1)


@pytest.mark.parametrize("protocol", ["tcp", "udp"])
def test_etsy_statsd_reads_every_type(etsy, protocol):
    statsd = Connector(host="127.0.0.1", port=etsy.port, protocol=protocol, prefix=f"py.{protocol}")
    statsd.start_blocking()
    for _ in range(3):
        statsd.incr("hits")
    statsd.decr("hits", 2)
    statsd.gauge("level", 10)
    statsd.gauge("level", -4, delta=True)
    statsd.gauge("negative", -7)
    statsd.timing("db", 0.25)
    statsd.timing("db", datetime.timedelta(milliseconds=125))
    statsd.incr("tagged", tags={"region": "eu"})
    report = statsd.stop_blocking()
    assert report.undelivered == 0
    p = f"py.{protocol}"
    counters = wait_until(
        lambda: (lambda c: c if c.get(f"{p}.hits") == 1 and f"{p}.tagged;region=eu" in c else None)(etsy.counters()),
        what="Etsy statsd's counters",
    )
    assert counters[f"{p}.tagged;region=eu"] == 1
    gauges = etsy.gauges()
    assert gauges[f"{p}.level"] == 6
    assert gauges[f"{p}.negative"] == -7
    assert etsy.timers()[f"{p}.db"] == [250, 125]
    assert etsy.counters()["statsd.bad_lines_seen"] == 0


def test_argument_errors_of_the_metric_calls():
    statsd = Connector(host="127.0.0.1")
    with pytest.raises(TypeError, match="missing required argument 'name'"):
        statsd.incr()
    with pytest.raises(TypeError, match="missing required argument 'value'"):
        statsd.gauge("g")
    with pytest.raises(TypeError, match="unexpected keyword argument 'tag'"):
        statsd.incr("x", tag={"a": "b"})
    with pytest.raises(TypeError, match="multiple values for argument 'name'"):
        statsd.incr("x", name="y")
    with pytest.raises(TypeError, match="at most 2 positional"):
        statsd.incr("x", 1, {"a": "b"})
    with pytest.raises(TypeError):
        statsd.incr("x", "one")
    statsd.incr(name="kw", value=2, tags=None, sample_rate=None)
    statsd.gauge(name="g", value=1, delta=True)
    statsd.timing(name="t", seconds=0.5)
    statsd.set(name="s", member="m")
    assert statsd.stats().accepted == 4
    assert "counter" in Connector.incr.__doc__
    import inspect

    assert str(inspect.signature(Connector.incr)) == "(self, /, name, value=1, *, tags=None, sample_rate=None)"


def test_address_urls_and_tag_formats(capture):
    statsd = Connector(host=f"udp://127.0.0.1:{capture.port}", tag_format="influx")
    assert (statsd.protocol, statsd.port) == ("udp", capture.port)
    statsd.start_blocking()
    statsd.incr("influx", tags={"region": "eu"})
    statsd.stop_blocking()
    capture.wait_for_lines(1)
    assert capture.lines() == ["influx,region=eu:1|c"]


def test_aggregation_sums_counters(capture):
    statsd = connect(capture, aggregate=datetime.timedelta(seconds=60))
    statsd.start_blocking()
    for _ in range(10):
        statsd.incr("summed")
    statsd.stop_blocking()  # the last flush goes out on stop
    capture.wait_for_lines(1)
    assert capture.lines() == ["summed:10|c"]
