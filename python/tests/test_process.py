"""Process life: fork (the child works, never resends the parent's queue,
never deadlocks), interpreter exit without stop (delivers within a short
deadline, never hangs), multiprocessing."""

from __future__ import annotations

import multiprocessing
import os
import signal
import textwrap
import time

import pytest

from statsd_connector import Connector
from statsd_connector.testing import CaptureServer

from conftest import run_python, wait_until


def wait_for_child(pid: int, timeout: float = 20.0) -> int:
    """The child's exit status; kills it and fails when it does not exit
    in time (a deadlock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"forked child {pid} did not exit within {timeout}s (deadlock?)")


def test_child_gets_a_working_connector_and_never_resends_the_parent_queue():
    capture = CaptureServer(protocol="tcp")
    capture.stop()  # nothing listens yet: the parent's lines stay queued
    statsd = Connector(host="127.0.0.1", port=capture.port, reconnect_sleep=0.02, stop_timeout=10)
    statsd.start_blocking()
    for _ in range(3):
        statsd.incr("parent.queued")
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            statsd.incr("child.line")
            stats = statsd.stats()
            # Its own counters: only the child's line (the parent's three
            # are not in its queue).
            if statsd.is_running and stats.accepted == 1 and stats.in_queue <= 1:
                report = statsd.stop_blocking()
                code = 0 if report.undelivered == 0 else 2
        finally:
            os._exit(code)
    capture.restart()
    assert wait_for_child(pid) == 0
    report = statsd.stop_blocking()
    assert report.undelivered == 0
    capture.wait_for_lines(4)
    with pytest.raises(TimeoutError):  # and nothing more arrives
        capture.wait_for_lines(5, timeout=0.3)
    assert sorted(capture.lines()) == ["child.line:1|c"] + ["parent.queued:1|c"] * 3
    assert statsd.stats().accepted == 3  # the parent's counters are its own
    capture.stop()


def test_a_connector_not_started_in_the_parent_starts_in_the_child(capture):
    statsd = Connector(host="127.0.0.1", port=capture.port)
    statsd.incr("parent.unsent")  # queued, never started: discarded at stop
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            if not statsd.is_running and statsd.stats().accepted == 0:
                statsd.start_blocking()
                statsd.incr("child.started")
                code = 0 if statsd.stop_blocking().undelivered == 0 else 2
        finally:
            os._exit(code)
    assert wait_for_child(pid) == 0
    capture.wait_for_lines(1)
    assert statsd.stop_blocking().undelivered == 1
    assert capture.lines() == ["child.started:1|c"]


def test_fork_while_threads_emit_never_deadlocks(capture):
    import threading

    statsd = Connector(host="127.0.0.1", port=capture.port, queue_capacity=1_000_000)
    statsd.start_blocking()
    running = True

    def emit():
        while running:
            statsd.incr("busy", tags={"k": "v"})

    threads = [threading.Thread(target=emit) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        children = []
        for n in range(10):
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    for _ in range(100):
                        statsd.incr(f"child.{n}")
                    code = 0 if statsd.stop_blocking(timeout=5).undelivered == 0 else 2
                finally:
                    os._exit(code)
            children.append(pid)
        assert [wait_for_child(pid) for pid in children] == [0] * 10
    finally:
        running = False
        for thread in threads:
            thread.join()
    statsd.stop_blocking()
    lines = wait_until(lambda: (lambda l: l if all(l.count(f"child.{n}:1|c") == 100 for n in range(10)) else None)(capture.lines()))
    assert sum(1 for line in lines if line.startswith("child.")) == 1000


def _worker(port: int, n: int) -> int:
    statsd = Connector(host="127.0.0.1", port=port)
    statsd.start_blocking()
    statsd.incr(f"worker.{n}")
    return statsd.stop_blocking().undelivered


def test_multiprocessing_fork_pool(capture):
    shared = Connector(host="127.0.0.1", port=capture.port)
    shared.start_blocking()
    context = multiprocessing.get_context("fork")
    with context.Pool(4) as pool:
        assert pool.starmap(_worker, [(capture.port, n) for n in range(8)]) == [0] * 8
    shared.incr("parent.after")
    shared.stop_blocking()
    capture.wait_for_lines(9)
    assert sorted(capture.lines()) == ["parent.after:1|c"] + [f"worker.{n}:1|c" for n in range(8)]


EXIT_SCRIPT = textwrap.dedent(
    """
    import sys
    from statsd_connector import Connector
    port, mode = int(sys.argv[1]), sys.argv[2]
    statsd = Connector(host="127.0.0.1", port=port, exit_timeout=1.0, reconnect_sleep=0.05)
    if mode == "asyncio":
        import asyncio
        async def main():
            await statsd.start()
            for _ in range(1000):
                statsd.incr("exit.asyncio")
        asyncio.run(main())
    else:
        statsd.start_blocking()
        for _ in range(1000):
            statsd.incr("exit.thread")
    print("leaving without stop", flush=True)
    """
)


@pytest.mark.parametrize("mode", ["thread", "asyncio"])
def test_exit_without_stop_delivers_what_is_queued(capture, mode):
    result = run_python(EXIT_SCRIPT, str(capture.port), mode)
    assert result.returncode == 0, result.stderr
    assert "leaving without stop" in result.stdout
    assert capture.wait_for_lines(1000) == 1000
    assert set(capture.lines()) == {f"exit.{mode}:1|c"}


def test_exit_with_an_unreachable_server_is_bounded():
    capture = CaptureServer(protocol="tcp")
    port = capture.port
    capture.stop()
    started = time.monotonic()
    result = run_python(EXIT_SCRIPT, str(port), "thread", timeout=20)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    # exit_timeout=1.0 plus interpreter start-up; never the 5 s stop_timeout.
    assert elapsed < 4.5, elapsed


def test_exit_with_log_traffic_and_daemon_threads_is_clean(capture):
    script = textwrap.dedent(
        """
        import logging, sys, threading
        logging.basicConfig(level=logging.DEBUG)
        import statsd_connector
        statsd_connector.set_log_level(logging.DEBUG)
        from statsd_connector import Connector
        statsd = Connector(host="127.0.0.1", port=int(sys.argv[1]), queue_capacity=10, exit_timeout=0.5)
        statsd.start_blocking()
        def flood():
            while True:
                statsd.incr("flood")   # full queue: throttled warnings, forever
        for _ in range(4):
            threading.Thread(target=flood, daemon=True).start()
        """
    )
    for _ in range(3):
        result = run_python(script, str(capture.port), timeout=20)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "Fatal Python error" not in result.stderr


def test_a_child_dropping_inherited_native_objects_does_not_hang():
    import gc

    from statsd_connector import _native

    server = CaptureServer()
    raw = _native.Connector(host="127.0.0.1", port=server.port)  # not under the fork hook
    raw.start_blocking()
    raw.incr("x")
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            del raw
            del server
            gc.collect()
            code = 0
        finally:
            os._exit(code)
    assert wait_for_child(pid) == 0
    raw.stop_blocking()
    server.wait_for_lines(1)
    server.stop()
