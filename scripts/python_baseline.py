#!/usr/bin/env python3
"""The original connector as a baseline: sprockets-statsd 1.0.0 over TCP.

Sends COUNT counters with ``Connector.incr`` (which writes
``counters.bench.requests:1|c``), then ``await stop()``, which drains the
queue and closes the connection. Prints one JSON object: when the emitting
started (epoch seconds, for the caller's clock), how long emitting and the whole
run took. The queue is made large enough to hold every metric, since the
default (1000) would discard all but the first thousand of a tight loop.

    python3 -m pip install sprockets-statsd==1.0.0
    python3 scripts/python_baseline.py --port 8125 --count 200000
"""
import argparse
import asyncio
import json
import platform
import time
from importlib import metadata

from sprockets_statsd.statsd import Connector


async def run(host: str, port: int, count: int) -> dict:
    connector = Connector(host, port, max_queue_size=count + 1)
    await connector.start()
    while not connector.processor.connected:
        await asyncio.sleep(0.001)
    start_epoch = time.time()
    start = time.perf_counter()
    for _ in range(count):
        connector.incr('bench.requests')
    emitted = time.perf_counter()
    await connector.stop()
    stopped = time.perf_counter()
    return {
        'version': metadata.version('sprockets-statsd'),
        'python': platform.python_version(),
        'count': count,
        'start_epoch': start_epoch,
        'emit_seconds': emitted - start,
        'total_seconds': stopped - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--count', type=int, default=200_000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.host, args.port, args.count))))


if __name__ == '__main__':
    main()
