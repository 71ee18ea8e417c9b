//! Once warm, emitting a metric allocates nothing on the emitting thread.
//!
//! A counting global allocator keeps one counter per thread, so what the
//! processor (a tokio worker) and the test server allocate does not count: only
//! the thread that calls `incr` is measured.
//!
//! "Warm" is made deterministic rather than hoped for. Callers write into
//! 128 KiB chunks; the processor returns each chunk it has written to a pool
//! (up to 16), and a caller whose chunk is full takes the next from there.
//! Two rounds fill that pool:
//!
//! 1. before `start`, fill the queue to its bound (dozens of chunks);
//!    start: the processor writes them and keeps 16 in the pool;
//! 2. close the server so that the processor is disconnected, fill the queue
//!    to its bound again, reopen: the chunks written go back to the pool.
//!
//! From then on a burst of up to 16 chunks of lines (each measured burst is
//! delivered before the next) finds every chunk it needs in the pool.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use statsd_connector::{Connector, Metrics};

// ---------------------------------------------------------------- allocator

struct PerThreadCounting;

thread_local! {
    /// Allocations (alloc, alloc_zeroed, realloc) made by this thread.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: the allocator is also called while thread locals are torn down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

fn allocations_here() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

unsafe impl GlobalAlloc for PerThreadCounting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: PerThreadCounting = PerThreadCounting;

// ------------------------------------------------- a server that can go away

/// A counting statsd server on a fixed port that can stop listening (closing
/// its connections after reading what they sent) and listen again.
struct GateServer {
    port: u16,
    lines: Arc<AtomicU64>,
    running: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl GateServer {
    fn open() -> GateServer {
        let mut server = GateServer {
            port: 0,
            lines: Arc::new(AtomicU64::new(0)),
            running: None,
        };
        server.listen();
        server
    }

    fn address(&self) -> SocketAddr {
        (Ipv4Addr::LOCALHOST, self.port).into()
    }

    fn lines(&self) -> u64 {
        self.lines.load(Relaxed)
    }

    fn listen(&mut self) {
        assert!(self.running.is_none());
        // std sets SO_REUSEADDR: rebinding does not wait for TIME_WAIT.
        let listener = TcpListener::bind(self.address()).expect("bind");
        self.port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (lines, flag) = (self.lines.clone(), stop.clone());
        let accept = thread::spawn(move || {
            let mut readers = Vec::new();
            while !flag.load(Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (lines, flag) = (lines.clone(), flag.clone());
                        readers.push(thread::spawn(move || read_lines(stream, &lines, &flag)));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(1)),
                }
            }
            drop(listener);
            for reader in readers {
                let _ = reader.join();
            }
        });
        self.running = Some((stop, accept));
    }

    /// Stops listening and closes every connection, once what it sent is read.
    fn close(&mut self) {
        if let Some((stop, accept)) = self.running.take() {
            stop.store(true, Relaxed);
            accept.join().unwrap();
        }
    }
}

impl Drop for GateServer {
    fn drop(&mut self) {
        self.close();
    }
}

fn read_lines(mut stream: TcpStream, lines: &AtomicU64, stop: &AtomicBool) {
    stream
        .set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return,
            Ok(n) => {
                let newlines = buffer[..n].iter().filter(|&&b| b == b'\n').count();
                lines.fetch_add(newlines as u64, Relaxed);
            }
            // Nothing to read for 10 ms: close if asked to.
            Err(_) if stop.load(Relaxed) => return,
            Err(_) => {}
        }
    }
}

// ------------------------------------------------------------------ helpers

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// The longest line this test ever emits, so that a thread's buffer filled to the
/// bound with it has room for a full bound of any measured line.
const WARM_NAME: &str = "bench.warm.up.with.a.name.longer.than.every.measured.line.xxxxxxxx";

/// Emits until the queue refuses; returns how many were accepted.
fn fill_to_bound(statsd: &Connector) -> u64 {
    let mut accepted = 0;
    loop {
        match statsd.incr(WARM_NAME) {
            Ok(()) => accepted += 1,
            Err(error) if error.is_queue_full() => return accepted,
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
}

fn wait_delivered(statsd: &Connector, server: &GateServer, emitted: u64) {
    wait_until(
        "the server to count every line",
        Duration::from_secs(30),
        || server.lines() == emitted,
    );
    wait_until(
        "the processor to hold nothing",
        Duration::from_secs(5),
        || statsd.stats().in_queue == 0,
    );
}

// --------------------------------------------------------------------- test

#[test]
fn emitting_allocates_nothing_once_warm() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut server = GateServer::open();
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.port)
        // DogStatsD: a call's own tags are written in place too.
        .dogstatsd(true)
        .queue_capacity(100_000)
        .reconnect_sleep(Duration::from_millis(10))
        .build()
        .unwrap();

    // Round 1: fill before start, then let the processor take it all.
    let mut emitted = fill_to_bound(&statsd);
    assert!(emitted >= 100_000, "{emitted}");
    runtime.block_on(statsd.start()).unwrap();
    wait_delivered(&statsd, &server, emitted);

    // Round 2: with the processor disconnected, fill the fresh buffers.
    server.close();
    wait_until(
        "the processor to notice the server left",
        Duration::from_secs(5),
        || !statsd.is_connected(),
    );
    emitted += fill_to_bound(&statsd);
    server.listen();
    wait_delivered(&statsd, &server, emitted);

    // Steady state: a burst like the measured one, delivered.
    for _ in 0..100_000 {
        statsd.incr("bench.requests").unwrap();
    }
    emitted += 100_000;
    wait_delivered(&statsd, &server, emitted);

    // Measured: 100 000 counters, then the other verbs, with tags too.
    let before = allocations_here();
    for _ in 0..100_000 {
        statsd.incr("bench.requests").unwrap();
    }
    let incr_allocations = allocations_here() - before;
    emitted += 100_000;
    wait_delivered(&statsd, &server, emitted);

    let before = allocations_here();
    let tags = [("region", "eu-west-1"), ("host", "web-1")];
    for i in 0..10_000u64 {
        statsd.gauge("bench.gauge", 21.5).unwrap();
        statsd.gauge("bench.gauge", -3.0).unwrap(); // two lines: 0|g then -3|g
        statsd
            .timing("bench.timing", Duration::from_micros(1500 + i))
            .unwrap();
        statsd.count("bench.count", i as i64).unwrap();
        statsd.with_tags(&tags).incr("bench.tagged").unwrap();
    }
    let mut other_allocations = allocations_here() - before;
    emitted += 10_000 * 6;
    wait_delivered(&statsd, &server, emitted);

    // Every other call shape: each verb, plain and with the call's own
    // tags (in place), floats of each writer (integral, a few decimals,
    // shortest digits by `zmij`), and tags the general writer takes (a `:`
    // in a value, non-ASCII).
    let counter = statsd.counter("bench.handle").unwrap();
    let general_tags = [("url", "http://x"), ("région", "eu")];
    let before = allocations_here();
    for i in 0..2_000u64 {
        for scope in [
            statsd.with_tags(&[]),
            statsd.with_tags(&tags),
            statsd.with_tags(&general_tags),
        ] {
            scope.incr("shape.incr").unwrap();
            scope.decr("shape.decr").unwrap();
            scope.count("shape.count", -(i as i64)).unwrap();
            scope.gauge("shape.gauge", 3.0).unwrap();
            scope.gauge("shape.gauge", 0.1 + 0.2).unwrap();
            scope.gauge_delta("shape.gauge", -1.25).unwrap();
            scope
                .timing("shape.timing", Duration::from_nanos(1_530_001 + i))
                .unwrap();
            scope.timing_secs("shape.timing", 0.25).unwrap();
            scope
                .histogram("shape.histogram", 42.0 + i as f64 / 8.0)
                .unwrap();
            scope.distribution("shape.distribution", 1e-3).unwrap();
            scope.set("shape.set", "member").unwrap();
        }
        counter.incr().unwrap();
    }
    other_allocations += allocations_here() - before;
    emitted += 2_000 * (3 * 11 + 1);

    wait_delivered(&statsd, &server, emitted);

    // Relayed lines (`send_line`): plain, with a rate, with DogStatsD tags
    // (up to 16, collected on the stack), with Graphite tags, a value kept
    // as written. One round first, so that every shape has been seen once.
    let sixteen_tags = (0..16)
        .map(|i| format!("key{i}:value{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let sixteen_tags = format!("relay.tagged:2|c|#{sixteen_tags}");
    let relayed = [
        "relay.plain:1|c",
        "relay.rated:1|c|@0.5",
        "relay.tagged:3|ms|#region:eu,host:web-1",
        "relay.graphite;region=eu:1.50|g",
        sixteen_tags.as_str(),
    ];
    for line in relayed {
        statsd.send_line(line).unwrap();
    }
    emitted += relayed.len() as u64;
    wait_delivered(&statsd, &server, emitted);
    let before = allocations_here();
    for _ in 0..2_000 {
        for line in relayed {
            statsd.send_line(line).unwrap();
        }
    }
    let relay_allocations = allocations_here() - before;
    emitted += 2_000 * relayed.len() as u64;

    wait_delivered(&statsd, &server, emitted);
    let report = runtime.block_on(statsd.stop());
    let stats = statsd.stats();
    assert_eq!(report.undelivered, 0);
    // The two probes that found the queue full are the only drops.
    assert_eq!(stats.dropped, 2, "{stats:?}");
    assert_eq!(stats.sent, emitted, "{stats:?}");
    assert_eq!(
        incr_allocations, 0,
        "100 000 incr calls allocated {incr_allocations} times on the emitting thread"
    );
    assert_eq!(
        other_allocations, 0,
        "gauge/timing/count/tagged calls allocated {other_allocations} times on the emitting thread"
    );
    assert_eq!(
        relay_allocations, 0,
        "10 000 send_line calls allocated {relay_allocations} times on the emitting thread"
    );
}

/// With aggregation on, a counter call whose context this thread has counted
/// before (plain or tagged, from literals or from other storage with the
/// same bytes) allocates nothing: a cache hit and an atomic add.
#[test]
fn aggregated_counters_allocate_nothing_once_warm() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(9) // never reached: the interval outlasts the test
        .aggregate(Duration::from_secs(3600))
        .build()
        .unwrap();
    runtime.block_on(statsd.start()).unwrap();
    let tags = [("region", "eu"), ("host", "web-01")];
    let host = String::from("web-01");
    let moved = [("region", "eu"), ("host", host.as_str())];
    // Warm: the first call of each context registers its cell.
    statsd.incr("bench.requests").unwrap();
    statsd.with_tags(&tags).incr("bench.requests").unwrap();
    statsd.count("bench.count", 5).unwrap();

    let before = allocations_here();
    for i in 0..100_000 {
        statsd.incr("bench.requests").unwrap();
        statsd.with_tags(&tags).incr("bench.requests").unwrap();
        statsd.with_tags(&moved).incr("bench.requests").unwrap();
        statsd.count("bench.count", i).unwrap();
    }
    let allocations = allocations_here() - before;
    assert_eq!(
        allocations, 0,
        "400 000 aggregated counter calls allocated {allocations} times on the emitting thread"
    );
    // Nothing was sent yet: the folded calls wait for the flush.
    assert_eq!(statsd.stats().accepted, 0);
    runtime.block_on(statsd.stop());
}

/// The allocator does count this thread's allocations (the test above would
/// pass vacuously otherwise).
#[test]
fn the_counting_allocator_counts() {
    let before = allocations_here();
    let v: Vec<u8> = std::hint::black_box(Vec::with_capacity(64));
    drop(v);
    assert_eq!(allocations_here() - before, 1);
}
