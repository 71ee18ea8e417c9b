//! What one metric call costs the caller, in the steady state a user sees: the
//! processor running and writing to a server over TCP loopback, the queue
//! draining as it goes.
//!
//! Honesty rules:
//! - the server is a real one (a thread that reads and counts newlines), so the
//!   processor does real writes and takes the queue as it would in production,
//!   competing for the same two cores;
//! - the queue is large enough that no measured call is ever refused, and each
//!   sample starts with an empty queue (waiting for it to drain is not timed);
//!   a sample in which any call was refused panics, since the drop path would
//!   flatter the figure;
//! - cadence runs in the same groups, through the same kind of server.
//!
//! Run: `cargo bench -p statsd-connector-tools --bench emit -- --warm-up-time 1 --measurement-time 3`.

mod common;

use std::hint::black_box;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Barrier, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use cadence::prelude::*;
use cadence::{BufferedUdpMetricSink, NopMetricSink, QueuingMetricSink, StatsdClient};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use statsd_connector::{Connector, Error, Metrics};

const NAME: &str = "bench.requests";
const TAGS: [(&str, &str); 2] = [("region", "eu-west-1"), ("host", "web-1")];

use common::Stopwatch;

/// A statsd server that only counts lines: TCP and UDP on one port.
struct CountingServer {
    address: SocketAddr,
    /// Lines received over TCP (ours); UDP lines (cadence) are counted apart.
    tcp_lines: Arc<AtomicU64>,
    udp_lines: Arc<AtomicU64>,
}

impl CountingServer {
    fn start() -> CountingServer {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind tcp");
        let address = listener.local_addr().unwrap();
        let udp = UdpSocket::bind(address).expect("bind udp");
        let (tcp_lines, udp_lines) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let lines = tcp_lines.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let lines = lines.clone();
                thread::spawn(move || {
                    let mut stream = stream;
                    let mut buffer = vec![0u8; 1 << 20];
                    while let Ok(n @ 1..) = stream.read(&mut buffer) {
                        let count = memchr::memchr_iter(b'\n', &buffer[..n]).count();
                        lines.fetch_add(count as u64, Relaxed);
                    }
                });
            }
        });
        let lines = udp_lines.clone();
        thread::spawn(move || {
            let mut buffer = vec![0u8; 65_536];
            while let Ok(n) = udp.recv(&mut buffer) {
                let datagram = &buffer[..n];
                let mut count = memchr::memchr_iter(b'\n', datagram).count();
                if datagram.last().is_some_and(|&b| b != b'\n') {
                    count += 1;
                }
                lines.fetch_add(count as u64, Relaxed);
            }
        });
        CountingServer {
            address,
            tcp_lines,
            udp_lines,
        }
    }
}

/// Everything the benchmarks share: one runtime, one server, the clients.
struct Env {
    _runtime: tokio::runtime::Runtime,
    server: CountingServer,
    statsd: Connector,
    cadence_nop: StatsdClient,
    cadence_udp: StatsdClient,
    cadence_queuing: StatsdClient,
    queuing_sink: QueuingMetricSink,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let server = CountingServer::start();
        // One worker: the processor. The benchmark thread emits from outside.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let statsd = Connector::builder()
            .host("127.0.0.1")
            .port(server.address.port())
            // Room for a whole sample, so no measured call is ever dropped.
            .queue_capacity(1 << 24)
            .build()
            .unwrap();
        runtime.block_on(statsd.start()).unwrap();
        let udp_sink = || {
            let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
            socket.set_nonblocking(true).unwrap();
            BufferedUdpMetricSink::with_capacity(server.address, socket, 1432).unwrap()
        };
        let queuing_sink = QueuingMetricSink::from(udp_sink());
        Env {
            _runtime: runtime,
            statsd,
            cadence_nop: StatsdClient::from_sink("", NopMetricSink),
            cadence_udp: StatsdClient::from_sink("", udp_sink()),
            cadence_queuing: StatsdClient::from_sink("", queuing_sink.clone()),
            queuing_sink,
            server,
        }
    })
}

/// Waits (untimed) until the processor has written everything, so that each
/// sample starts from an empty queue; refuses to go on if anything was dropped.
fn settle(statsd: &Connector) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stats = statsd.stats();
        assert_eq!(stats.dropped, 0, "the queue overflowed: {stats:?}");
        if stats.in_queue == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the queue does not drain: {stats:?}"
        );
        thread::sleep(Duration::from_micros(50));
    }
}

/// `iters` calls, timed; panics if any was refused.
///
/// The loop runs on a thread of its own, as an application's worker would:
/// measured from criterion's main thread, the same calls cost about twice as
/// much while the processor runs (see BENCHMARKS.md), which is worth knowing
/// but is not the cost a worker thread sees.
fn timed<F>(statsd: &Connector, iters: u64, mut call: F) -> Duration
where
    F: FnMut(&Connector) -> Result<(), Error> + Send,
{
    settle(statsd);
    let (elapsed, refused) = on_own_thread(|| {
        let mut refused = 0u64;
        let start = Stopwatch::start();
        for _ in 0..iters {
            if call(black_box(statsd)).is_err() {
                refused += 1;
            }
        }
        (start.elapsed(), refused)
    });
    assert_eq!(refused, 0, "calls were refused during a sample");
    elapsed
}

/// Runs `f` on a new thread and returns what it returns.
fn on_own_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    thread::scope(|scope| scope.spawn(f).join().unwrap())
}

/// `iters` cadence calls on a thread of their own, timed (errors are counted, as cadence
/// callers ignore them; a full kernel buffer is an error for the UDP sinks).
fn timed_cadence<F>(client: &StatsdClient, iters: u64, mut call: F) -> Duration
where
    F: FnMut(&StatsdClient) -> bool + Send,
{
    on_own_thread(|| {
        let start = Stopwatch::start();
        let mut failed = 0u64;
        for _ in 0..iters {
            if !call(black_box(client)) {
                failed += 1;
            }
        }
        black_box(failed);
        start.elapsed()
    })
}

fn emit_single_thread(c: &mut Criterion) {
    let env = env();
    let mut group = c.benchmark_group("emit");
    group.throughput(Throughput::Elements(1));
    group.sampling_mode(SamplingMode::Flat);

    let statsd = &env.statsd;
    group.bench_function("ours/incr", |b| {
        b.iter_custom(|iters| timed(statsd, iters, |s| s.incr(NAME)))
    });
    group.bench_function("ours/gauge", |b| {
        b.iter_custom(|iters| timed(statsd, iters, |s| s.gauge("bench.gauge", black_box(21.5))))
    });
    group.bench_function("ours/timing", |b| {
        let elapsed = Duration::from_micros(1500);
        b.iter_custom(|iters| {
            timed(statsd, iters, |s| {
                s.timing("bench.timing", black_box(elapsed))
            })
        })
    });
    // A handle checks its name once; each call skips validation.
    let handle = statsd.counter(NAME).unwrap();
    group.bench_function("ours/counter_handle_incr", |b| {
        b.iter_custom(|iters| timed(statsd, iters, |_| handle.incr()))
    });
    group.bench_function("ours/incr_2_tags", |b| {
        b.iter_custom(|iters| timed(statsd, iters, |s| s.with_tags(&TAGS).incr(NAME)))
    });
    group.bench_function("ours/gauge_2_tags", |b| {
        b.iter_custom(|iters| {
            timed(statsd, iters, |s| {
                s.with_tags(&TAGS).gauge("bench.gauge", black_box(21.5))
            })
        })
    });
    group.bench_function("ours/timing_2_tags", |b| {
        let elapsed = Duration::from_micros(1500);
        b.iter_custom(|iters| {
            timed(statsd, iters, |s| {
                s.with_tags(&TAGS)
                    .timing("bench.timing", black_box(elapsed))
            })
        })
    });

    let nop = &env.cadence_nop;
    group.bench_function("cadence_nop/count", |b| {
        b.iter_custom(|iters| timed_cadence(nop, iters, |c| c.count(NAME, 1).is_ok()))
    });
    group.bench_function("cadence_nop/gauge", |b| {
        b.iter_custom(|iters| {
            timed_cadence(nop, iters, |c| {
                c.gauge("bench.gauge", black_box(21.5)).is_ok()
            })
        })
    });
    group.bench_function("cadence_nop/timing", |b| {
        let elapsed = Duration::from_micros(1500);
        b.iter_custom(|iters| {
            timed_cadence(nop, iters, |c| {
                c.time("bench.timing", black_box(elapsed)).is_ok()
            })
        })
    });
    group.bench_function("cadence_nop/count_2_tags", |b| {
        b.iter_custom(|iters| {
            timed_cadence(nop, iters, |c| {
                c.count_with_tags(NAME, 1)
                    .with_tag(TAGS[0].0, TAGS[0].1)
                    .with_tag(TAGS[1].0, TAGS[1].1)
                    .try_send()
                    .is_ok()
            })
        })
    });
    let udp = &env.cadence_udp;
    group.bench_function("cadence_buffered_udp/count", |b| {
        b.iter_custom(|iters| timed_cadence(udp, iters, |c| c.count(NAME, 1).is_ok()))
    });
    let queuing = &env.cadence_queuing;
    group.bench_function("cadence_queuing_buffered_udp/count", |b| {
        b.iter_custom(|iters| {
            // Untimed: let the worker catch up, as `settle` does for ours.
            while env.queuing_sink.queued() > 0 {
                thread::sleep(Duration::from_micros(50));
            }
            timed_cadence(queuing, iters, |c| c.count(NAME, 1).is_ok())
        })
    });
    group.finish();
}

/// Runs `iters` calls split over `threads` threads started together; returns
/// the wall time (the slowest thread's), so time per element is the inverse
/// of the total throughput.
fn parallel<F>(threads: u64, iters: u64, call: F) -> Duration
where
    F: Fn() -> bool + Sync,
{
    let barrier = Barrier::new(threads as usize);
    let per_thread = iters.div_ceil(threads);
    thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut failed = 0u64;
                    barrier.wait();
                    let start = Stopwatch::start();
                    for _ in 0..per_thread {
                        if !call() {
                            failed += 1;
                        }
                    }
                    (start.elapsed(), failed)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        results.iter().map(|r| r.0).max().unwrap_or_default()
    })
}

fn emit_threads(c: &mut Criterion) {
    let env = env();
    let mut group = c.benchmark_group("emit_threads");
    group.throughput(Throughput::Elements(1));
    group.sampling_mode(SamplingMode::Flat);
    let statsd = &env.statsd;
    for threads in [1u64, 2] {
        group.bench_function(format!("ours/incr/{threads}_threads"), |b| {
            b.iter_custom(|iters| {
                settle(statsd);
                let wall = parallel(threads, iters, || statsd.incr(NAME).is_ok());
                settle(statsd);
                wall
            })
        });
    }
    let udp = &env.cadence_udp;
    for threads in [1u64, 2] {
        group.bench_function(
            format!("cadence_buffered_udp/count/{threads}_threads"),
            |b| b.iter_custom(|iters| parallel(threads, iters, || udp.count(NAME, 1).is_ok())),
        );
    }
    group.finish();
    // Nothing the benchmarks emitted over TCP may have been lost.
    settle(statsd);
    let stats = statsd.stats();
    assert_eq!(stats.dropped, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.server.tcp_lines.load(Relaxed) < stats.sent && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    let (tcp, udp) = (
        env.server.tcp_lines.load(Relaxed),
        env.server.udp_lines.load(Relaxed),
    );
    eprintln!(
        "server counted {tcp} TCP lines of {} sent (ours), {udp} UDP lines (cadence)",
        stats.sent
    );
    assert_eq!(tcp, stats.sent, "TCP lines were lost");
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = emit_single_thread, emit_threads
}
criterion_main!(benches);
