"""Side-by-side cost of statsd-connector and the Python statsd clients, in
one run on one machine.

    python python/bench/compare.py [--calls 200000] [--rounds 5] [--tcp-metrics 2000000]

Needs the wheel and the peers in the same environment
(``python python/bench/compare.py --install-hint`` prints the pip line):
sprockets-statsd 1.0.0, datadog (``DogStatsd``, buffered), aiodogstatsd,
statsd (python-statsd).

Three measurements:

1. ``incr("requests")``: the caller's cost per call, best of ``--rounds``
   rounds of ``--calls`` calls, UDP to a local socket that nobody reads
   (caller side only: what the application thread pays). Wall clock per
   call and the calling thread's CPU time per call.
2. The same with two tags (``region:eu``, ``tier:web``), for the clients
   that take tags.
3. TCP delivered metrics per second: from the first call until the last
   line has arrived at a counting server (the library's capture server,
   native, in count-only mode), after a stop that delivers the queue. Every
   client is given a queue that holds the whole run, so that nothing is
   dropped: the rate is lines received over time.

Wall-clock figures vary with the machine and its load; the ratios, all from
the same run, are what to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import socket
import sys
import time
import typing

import statsd_connector
from statsd_connector.testing import CaptureServer

NAME = "requests"
TAGS_LIST = ["region:eu", "tier:web"]
TAGS_DICT = {"region": "eu", "tier": "web"}


class Result(typing.NamedTuple):
    client: str
    call: str
    ns_per_call: float
    cpu_ns_per_call: float


def best_of(rounds: int, calls: int, loop: typing.Callable[[int], None]) -> typing.Tuple[float, float]:
    """(wall ns, thread CPU ns) per call, each the best of ``rounds``."""
    walls, cpus = [], []
    for _ in range(rounds):
        gc.collect()
        cpu0, wall0 = time.thread_time_ns(), time.perf_counter_ns()
        loop(calls)
        wall1, cpu1 = time.perf_counter_ns(), time.thread_time_ns()
        walls.append((wall1 - wall0) / calls)
        cpus.append((cpu1 - cpu0) / calls)
    return min(walls), min(cpus)


def udp_sink() -> socket.socket:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    return sink


# ---------------------------------------------------------------- caller cost


def ours(port: int, rounds: int, calls: int) -> typing.List[Result]:
    statsd = statsd_connector.Connector(
        host="127.0.0.1", port=port, protocol="udp", queue_capacity=rounds * calls * 4
    )
    statsd.start_blocking()
    incr = statsd.incr

    def plain(n: int) -> None:
        for _ in range(n):
            incr(NAME)

    def tagged_list(n: int) -> None:
        for _ in range(n):
            incr(NAME, tags=TAGS_LIST)

    def tagged_dict(n: int) -> None:
        for _ in range(n):
            incr(NAME, tags=TAGS_DICT)

    results = [
        Result("statsd-connector", "incr", *best_of(rounds, calls, plain)),
        Result("statsd-connector", "incr, 2 tags (list)", *best_of(rounds, calls, tagged_list)),
        Result("statsd-connector", "incr, 2 tags (dict)", *best_of(rounds, calls, tagged_dict)),
    ]
    statsd.stop_blocking(timeout=5)
    dropped = statsd.stats().dropped
    if dropped:
        print(f"note: statsd-connector dropped {dropped} metrics (queue full)", file=sys.stderr)
    return results


def sprockets(port: int, rounds: int, calls: int) -> typing.List[Result]:
    from sprockets_statsd.statsd import Connector

    async def main() -> typing.List[Result]:
        statsd = Connector("127.0.0.1", port, ip_protocol=socket.IPPROTO_UDP, max_queue_size=rounds * calls + 1)
        await statsd.start()
        incr = statsd.incr

        def plain(n: int) -> None:
            for _ in range(n):
                incr(NAME)

        result = Result("sprockets-statsd 1.0.0", "incr", *best_of(rounds, calls, plain))
        statsd.processor.queue = asyncio.Queue()  # do not send the backlog
        await statsd.stop()
        return [result]

    return asyncio.run(main())


def datadog(port: int, rounds: int, calls: int) -> typing.List[Result]:
    from datadog.dogstatsd import DogStatsd

    statsd = DogStatsd(host="127.0.0.1", port=port, disable_buffering=False, disable_telemetry=True)
    increment = statsd.increment

    def plain(n: int) -> None:
        for _ in range(n):
            increment(NAME)

    def tagged(n: int) -> None:
        for _ in range(n):
            increment(NAME, tags=TAGS_LIST)

    results = [
        Result("datadog DogStatsd (buffered)", "incr", *best_of(rounds, calls, plain)),
        Result("datadog DogStatsd (buffered)", "incr, 2 tags (list)", *best_of(rounds, calls, tagged)),
    ]
    statsd.close_socket()
    return results


def aiodogstatsd(port: int, rounds: int, calls: int) -> typing.List[Result]:
    import aiodogstatsd as client_module

    async def main() -> typing.List[Result]:
        statsd = client_module.Client(host="127.0.0.1", port=port, pending_queue_size=rounds * calls * 2 + 1)
        await statsd.connect()
        increment = statsd.increment

        def plain(n: int) -> None:
            for _ in range(n):
                increment(NAME)

        def tagged(n: int) -> None:
            for _ in range(n):
                increment(NAME, tags=TAGS_DICT)

        results = [
            Result("aiodogstatsd", "incr", *best_of(rounds, calls, plain)),
            Result("aiodogstatsd", "incr, 2 tags (dict)", *best_of(rounds, calls, tagged)),
        ]
        await statsd.close()
        return results

    return asyncio.run(main())


def python_statsd(port: int, rounds: int, calls: int) -> typing.List[Result]:
    import statsd as client_module

    statsd = client_module.StatsClient("127.0.0.1", port)
    incr = statsd.incr

    def plain(n: int) -> None:
        for _ in range(n):
            incr(NAME)

    return [Result(f"statsd {client_module.__version__}", "incr", *best_of(rounds, calls, plain))]


# ----------------------------------------------------------- TCP throughput


def tcp_ours(n: int) -> typing.Tuple[int, float]:
    server = CaptureServer(protocol="tcp", count_only=True)
    statsd = statsd_connector.Connector(host="127.0.0.1", port=server.port, queue_capacity=n)
    statsd.start_blocking()
    incr = statsd.incr
    started = time.perf_counter()
    for _ in range(n):
        incr(NAME)
    statsd.stop_blocking(timeout=60)
    try:
        received = server.wait_for_lines(n, timeout=60)
    except TimeoutError:
        received = server.line_count
    elapsed = time.perf_counter() - started
    server.stop()
    return received, elapsed


def tcp_sprockets(n: int) -> typing.Tuple[int, float]:
    from sprockets_statsd.statsd import Connector

    server = CaptureServer(protocol="tcp", count_only=True)

    async def main() -> float:
        statsd = Connector("127.0.0.1", server.port, max_queue_size=n + 1)
        await statsd.start()
        started = time.perf_counter()
        for _ in range(n):
            statsd.incr(NAME)
        await statsd.stop()
        try:
            await asyncio.get_running_loop().run_in_executor(None, server.wait_for_lines, n, 60.0)
        except TimeoutError:
            pass
        return time.perf_counter() - started

    elapsed = asyncio.run(main())
    received = server.line_count
    server.stop()
    return received, elapsed


def tcp_python_statsd(n: int) -> typing.Tuple[int, float]:
    import statsd as client_module

    server = CaptureServer(protocol="tcp", count_only=True)
    statsd = client_module.TCPStatsClient("127.0.0.1", server.port)
    started = time.perf_counter()
    for _ in range(n):
        statsd.incr(NAME)
    statsd.close()
    try:
        received = server.wait_for_lines(n, timeout=60)
    except TimeoutError:
        received = server.line_count
    elapsed = time.perf_counter() - started
    server.stop()
    return received, elapsed


# --------------------------------------------------------------------- main


def versions() -> str:
    from importlib import metadata

    names = ["statsd-connector", "sprockets-statsd", "datadog", "aiodogstatsd", "statsd"]
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200_000, help="calls per round (default 200000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the best is kept (default 5)")
    parser.add_argument("--tcp-metrics", type=int, default=2_000_000, help="metrics for statsd-connector's TCP run")
    parser.add_argument("--tcp-peer-metrics", type=int, default=200_000, help="metrics for the peers' TCP runs")
    parser.add_argument("--install-hint", action="store_true", help="print the pip line for the peers and exit")
    args = parser.parse_args()
    if args.install_hint:
        print("pip install sprockets-statsd==1.0.0 datadog aiodogstatsd statsd")
        return
    logging.disable(logging.WARNING)  # the peers' queue and connection warnings
    print(f"Python {sys.version.split()[0]}; {versions()}")
    print(f"{args.rounds} rounds of {args.calls} calls, best round; UDP to a local socket nobody reads\n")

    sink = udp_sink()
    port = sink.getsockname()[1]
    results: typing.List[Result] = []
    for bench in (ours, sprockets, datadog, aiodogstatsd, python_statsd):
        try:
            results.extend(bench(port, args.rounds, args.calls))
        except ImportError as error:
            print(f"skipped {bench.__name__}: {error}", file=sys.stderr)
    sink.close()

    mine = {r.call: r for r in results if r.client == "statsd-connector"}
    print("| client | call | ns / call (wall) | ns / call (thread CPU) | × statsd-connector's cost |")
    print("|---|---|---:|---:|---:|")
    for r in results:
        base = mine.get(r.call, mine["incr, 2 tags (list)"])
        ratio = r.ns_per_call / base.ns_per_call
        print(f"| {r.client} | `{r.call}` | {r.ns_per_call:,.0f} | {r.cpu_ns_per_call:,.0f} | {ratio:.1f}× |")

    peers_incr = [r for r in results if r.call == "incr" and r.client != "statsd-connector"]
    if peers_incr:
        cheapest = min(peers_incr, key=lambda r: r.ns_per_call)
        print(
            f"\nincr: the cheapest peer ({cheapest.client}) costs {cheapest.ns_per_call / mine['incr'].ns_per_call:.1f}×"
            " statsd-connector's call (target ≥ 5×)"
        )
    dd = [r for r in results if r.client.startswith("datadog") and "tags" in r.call]
    if dd:
        print(
            f"two tags: datadog's increment costs {dd[0].ns_per_call / mine['incr, 2 tags (list)'].ns_per_call:.1f}×"
            " statsd-connector's (list tags), "
            f"{dd[0].ns_per_call / mine['incr, 2 tags (dict)'].ns_per_call:.1f}× (dict tags) (target ≥ 5×)"
        )

    print("\nTCP, delivered: from the first call until the last line arrived (after a stop that delivers)\n")
    print("| client | metrics sent | received | seconds | delivered / s | statsd-connector's rate ÷ this |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = []
    for label, bench, n in (
        ("statsd-connector", tcp_ours, args.tcp_metrics),
        ("sprockets-statsd 1.0.0", tcp_sprockets, args.tcp_peer_metrics),
        ("statsd `TCPStatsClient`", tcp_python_statsd, args.tcp_peer_metrics),
    ):
        try:
            received, elapsed = bench(n)
        except ImportError as error:
            print(f"skipped {label}: {error}", file=sys.stderr)
            continue
        rows.append((label, n, received, elapsed, received / elapsed))
    base = rows[0][4]
    for label, n, received, elapsed, rate in rows:
        print(f"| {label} | {n:,} | {received:,} | {elapsed:.2f} | {rate:,.0f} | {base / rate:,.0f}× |")
    spr = [row for row in rows if row[0].startswith("sprockets")]
    if spr:
        print(f"\nTCP delivered/s: statsd-connector {base / spr[0][4]:.0f}× sprockets-statsd 1.0.0 (target ≥ 50×)")


if __name__ == "__main__":
    main()
