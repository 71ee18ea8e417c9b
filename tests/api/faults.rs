//! Reliability under faults: a statsd server that goes away, comes back,
//! closes, resets, stops reading, reads slowly, refuses, or moves; a stop at
//! the worst moments; handles dropped without a stop; a runtime shut down
//! under the connector.
//!
//! Every test ends with the same accounting (see [`account`]): each line the
//! test emitted is received by the server, counted dropped, rejected or
//! undelivered by the connector, still in its queue, or lost in a disconnect,
//! and what was lost is at most what the connector counted as possibly lost
//! (plus, where the server resets connections after reading only what was
//! readable, what its kernel acknowledged and it never read, which the server
//! measures right before the reset and which no client can see). The server
//! counts whole well-formed lines, parses each one, and must see no corrupt
//! line and no line twice (each emitter sends a sequence number as the
//! counter's value).
//!
//! Rules: loopback only, no fixed ports (the fault server binds port 0 and
//! keeps its port reserved while it refuses), every await bounded, conditions
//! awaited by polling with a deadline; sleeps only pace emission or keep a
//! server down for a while, and the test then asserts on what happened.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use statsd_connector::{Builder, Connector, Metrics, Protocol, State, Stats};
use statsd_connector_testkit::fault_server::{Counts, FaultServer, Mode, Proto, Unanswered};
use statsd_connector_testkit::wait::{bounded, poll_until, wait_state, WAIT};

/// The connector's pause between failed connection attempts.
const RECONNECT_SLEEP: Duration = Duration::from_millis(20);

/// One call in this many uses an invalid name (it is rejected and counted).
const INVALID_EVERY: u64 = 1000;

/// The slowest a single metric call may be: a liveness bound, not a benchmark.
const SLOWEST_CALL: Duration = Duration::from_millis(50);

/// How long a stop with a deadline may overrun it.
const STOP_SLACK: Duration = Duration::from_millis(2500);

/// Taken by the tests that emit as fast as they can (or time calls), so that
/// two of them never share the machine's CPUs: a test's timing and its
/// server's pace then depend on that test alone.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A connector aimed at `port` on loopback, retrying quickly.
fn builder(port: u16) -> Builder {
    Connector::builder()
        .host("127.0.0.1")
        .port(port)
        .reconnect_sleep(RECONNECT_SLEEP)
        .connect_timeout(Duration::from_secs(2))
        .stop_timeout(Duration::from_secs(2))
}

/// A name long enough that a few hundred thousand lines overflow any socket
/// buffer.
fn long_name(what: &str) -> String {
    format!("faults.{what}.{}", "padding".repeat(8))
}

/// Starts `statsd` and waits until it is connected.
async fn start_connected(statsd: &Connector) {
    bounded("start", statsd.start()).await.expect("start");
    wait_state(statsd, "the first connection", State::is_connected).await;
}

/// Lets the server read everything its clients sent, then returns its counts.
async fn settled(server: &FaultServer) -> Counts {
    assert!(
        server.settle(WAIT).await,
        "the fault server did not settle: {:?}",
        server.counts()
    );
    server.counts()
}

/// What the test's own emitters did.
#[derive(Debug, Clone, Copy, Default)]
struct Emitted {
    /// Calls made; each is one line (counters only).
    calls: u64,
    /// Calls that returned `Ok`.
    ok: u64,
    /// Calls that returned `Err`.
    err: u64,
    /// Calls made with an invalid name on purpose.
    invalid: u64,
    /// The slowest single call.
    max_call: Duration,
    /// The slowest single call during which the thread was not preempted
    /// (measured only by a `timed` emitter).
    max_unpreempted: Duration,
    /// The most lines seen in the connector (queue and processor), sampled.
    max_in_queue: u64,
}

impl Emitted {
    fn plus(self, other: Emitted) -> Emitted {
        Emitted {
            calls: self.calls + other.calls,
            ok: self.ok + other.ok,
            err: self.err + other.err,
            invalid: self.invalid + other.invalid,
            max_call: self.max_call.max(other.max_call),
            max_unpreempted: self.max_unpreempted.max(other.max_unpreempted),
            max_in_queue: self.max_in_queue.max(other.max_in_queue),
        }
    }
}

/// Emits `name:<sequence number>|c`, and now and then a call with an invalid
/// name; counts every call and times each one.
struct Emitter {
    name: String,
    seq: u64,
    /// Sample `stats().in_queue` every this many calls (0: never).
    sample_every: u64,
    /// Tell calls that were preempted from the others (see `timed`).
    timed: bool,
    done: Emitted,
}

impl Emitter {
    fn new(name: &str) -> Emitter {
        Emitter {
            name: name.to_owned(),
            seq: 0,
            sample_every: 0,
            timed: false,
            done: Emitted::default(),
        }
    }

    /// Counts this thread's involuntary context switches around each call, so
    /// that the slowest call the scheduler did not interrupt is known: on a
    /// loaded machine a preempted thread can wait tens of milliseconds for a
    /// CPU, which says nothing about the library. A call that waits for a
    /// lock or for I/O switches voluntarily and is never excused.
    fn timed(mut self) -> Emitter {
        self.timed = true;
        self
    }

    fn sampling(mut self, every: u64) -> Emitter {
        self.sample_every = every;
        self
    }

    fn emit(&mut self, statsd: &Connector) {
        let invalid = self.done.calls % INVALID_EVERY == INVALID_EVERY - 1;
        let preemptions = if self.timed {
            involuntary_switches()
        } else {
            0
        };
        let start = Instant::now();
        let result = if invalid {
            statsd.count("not a valid name", 1)
        } else {
            let seq = self.seq;
            self.seq += 1;
            statsd.count(&self.name, seq as i64)
        };
        let took = start.elapsed();
        let preempted = self.timed && involuntary_switches() != preemptions;
        let done = &mut self.done;
        done.calls += 1;
        done.invalid += invalid as u64;
        match result {
            Ok(()) => done.ok += 1,
            Err(_) => done.err += 1,
        }
        done.max_call = done.max_call.max(took);
        if self.timed && !preempted {
            done.max_unpreempted = done.max_unpreempted.max(took);
        }
        if self.sample_every > 0 && done.calls % self.sample_every == 0 {
            done.max_in_queue = done.max_in_queue.max(statsd.stats().in_queue);
        }
    }

    fn emit_n(&mut self, statsd: &Connector, n: u64) {
        for _ in 0..n {
            self.emit(statsd);
        }
    }

    /// Emits bursts of `burst`, paced, until the connector's stats satisfy
    /// `done`; fails the test after `WAIT` waiting for `what`.
    async fn emit_until(
        &mut self,
        statsd: &Connector,
        burst: u64,
        what: &str,
        done: impl Fn(&Stats) -> bool,
    ) {
        let deadline = Instant::now() + WAIT;
        while !done(&statsd.stats()) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {:?}",
                statsd.stats()
            );
            self.emit_n(statsd, burst);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// This thread's involuntary context switches so far.
fn involuntary_switches() -> i64 {
    // SAFETY: getrusage writes one rusage through a valid pointer.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_THREAD is the calling thread.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    usage.ru_nivcsw
}

/// Asserts the liveness of the calls of a `timed` emitter: no call the
/// scheduler left alone took `SLOWEST_CALL`, and none at all took a second.
fn assert_never_blocked(emitted: &Emitted) {
    assert!(
        emitted.max_unpreempted < SLOWEST_CALL,
        "a call took {:?} without being preempted",
        emitted.max_unpreempted
    );
    assert!(
        emitted.max_call < Duration::from_secs(1),
        "a call took {:?}",
        emitted.max_call
    );
}

/// How a [`Load`] thread paces its calls.
#[derive(Debug, Clone, Copy)]
enum Pace {
    /// This many lines every millisecond, on an absolute schedule.
    PerMs(u64),
    /// This many lines, then a pause this long.
    Bursts(u64, Duration),
    /// As fast as it can.
    Flat,
}

/// Emitter threads running until [`Load::finish`].
struct Load {
    stop: Arc<AtomicBool>,
    calls: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<Emitted>>,
}

impl Load {
    /// `threads` threads emitting `name.t<i>`, paced by `pace`.
    fn start(statsd: &Connector, name: &str, threads: usize, pace: Pace) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(AtomicU64::new(0));
        let threads = (0..threads)
            .map(|i| {
                let (statsd, stop, calls) = (statsd.clone(), stop.clone(), calls.clone());
                let mut emitter = Emitter::new(&format!("{name}.t{i}")).sampling(1024);
                std::thread::spawn(move || {
                    let mut next = Instant::now();
                    while !stop.load(Relaxed) {
                        let burst = match pace {
                            Pace::PerMs(n) | Pace::Bursts(n, _) => n,
                            Pace::Flat => 256,
                        };
                        emitter.emit_n(&statsd, burst);
                        calls.fetch_add(burst, Relaxed);
                        match pace {
                            Pace::PerMs(_) => {
                                next += Duration::from_millis(1);
                                let now = Instant::now();
                                if next > now {
                                    std::thread::sleep(next - now);
                                } else if now - next > Duration::from_millis(20) {
                                    next = now; // far behind: do not burst to catch up
                                }
                            }
                            Pace::Bursts(_, pause) => std::thread::sleep(pause),
                            Pace::Flat => {}
                        }
                    }
                    emitter.done
                })
            })
            .collect();
        Load {
            stop,
            calls,
            threads,
        }
    }

    /// Calls made so far, all threads together.
    fn calls(&self) -> u64 {
        self.calls.load(Relaxed)
    }

    fn finish(self) -> Emitted {
        self.stop.store(true, Relaxed);
        self.threads
            .into_iter()
            .map(|thread| thread.join().expect("an emitter thread panicked"))
            .fold(Emitted::default(), Emitted::plus)
    }
}

/// The accounting every test ends with; panics with the table when it fails.
///
/// ```text
/// emitted == received + dropped + rejected + undelivered + in_queue + lost
/// 0 <= lost <= possibly_lost + unread_at_kill
/// ```
///
/// where `unread_at_kill` is what the fault server measured, right before a
/// reset, as acknowledged by its kernel and never read (zero unless a test
/// uses `kill_all`; see `resets_after_reading_what_is_readable...`).
///
/// plus no corrupt and no duplicate line at the server, and the connector's
/// own counters agreeing with what the callers saw: `accepted == ok`,
/// `dropped + rejected == err`, `rejected == invalid`. Call it once the
/// connector has stopped (or is otherwise quiet) and the server has settled.
/// Returns `lost`.
fn account(what: &str, emitted: &Emitted, stats: &Stats, server: &Counts) -> u64 {
    let accounted =
        server.received + stats.dropped + stats.rejected + stats.undelivered + stats.in_queue;
    let lost = emitted.calls as i128 - accounted as i128;
    let table = table(what, emitted, stats, server, lost);
    println!("{table}");
    let mut failures = Vec::new();
    if server.corrupt > 0 {
        failures.push(format!("{} corrupt lines at the server", server.corrupt));
    }
    if server.duplicates > 0 {
        failures.push(format!("{} lines received twice", server.duplicates));
    }
    if lost < 0 {
        failures.push(format!("{} more lines accounted for than emitted", -lost));
    }
    // Lines the server's kernel acknowledged and the server never read, as it
    // measured right before resetting (only `kill_all` leaves any): no client
    // can see those.
    let invisible = server.unread_at_kill_lines as i128;
    if lost > stats.possibly_lost as i128 + invisible {
        failures.push(format!(
            "{lost} lines lost but only {} counted as possibly lost (+ {invisible} \
             acknowledged and unread at a reset)",
            stats.possibly_lost
        ));
    }
    if stats.accepted != emitted.ok {
        failures.push(format!(
            "accepted {} != calls that returned Ok {}",
            stats.accepted, emitted.ok
        ));
    }
    if stats.dropped + stats.rejected != emitted.err {
        failures.push(format!(
            "dropped + rejected {} != calls that returned Err {}",
            stats.dropped + stats.rejected,
            emitted.err
        ));
    }
    if stats.rejected != emitted.invalid {
        failures.push(format!(
            "rejected {} != invalid calls {}",
            stats.rejected, emitted.invalid
        ));
    }
    assert!(
        failures.is_empty(),
        "{what}: {}\n{table}",
        failures.join("; ")
    );
    lost as u64
}

fn table(what: &str, emitted: &Emitted, stats: &Stats, server: &Counts, lost: i128) -> String {
    let rows: [(&str, String); 25] = [
        ("emitted (calls)", emitted.calls.to_string()),
        ("  returned Ok", emitted.ok.to_string()),
        ("  returned Err", emitted.err.to_string()),
        ("  invalid on purpose", emitted.invalid.to_string()),
        ("accepted", stats.accepted.to_string()),
        ("sent", stats.sent.to_string()),
        ("received", server.received.to_string()),
        ("dropped", stats.dropped.to_string()),
        ("rejected", stats.rejected.to_string()),
        ("undelivered", stats.undelivered.to_string()),
        ("in_queue", stats.in_queue.to_string()),
        ("possibly_lost", stats.possibly_lost.to_string()),
        ("lost (computed)", lost.to_string()),
        ("corrupt", server.corrupt.to_string()),
        ("duplicates", server.duplicates.to_string()),
        ("partial fragments", server.partial.to_string()),
        (
            "unread at reset (bytes)",
            server.unread_at_kill_bytes.to_string(),
        ),
        (
            "unread at reset (lines)",
            server.unread_at_kill_lines.to_string(),
        ),
        ("reconnects", stats.reconnects.to_string()),
        ("connect_failures", stats.connect_failures.to_string()),
        ("server connections", server.connections.to_string()),
        (
            "server kills / closes",
            format!("{} / {}", server.kills, server.closes),
        ),
        ("slowest call", format!("{:?}", emitted.max_call)),
        ("  not preempted", format!("{:?}", emitted.max_unpreempted)),
        ("max in_queue (sampled)", emitted.max_in_queue.to_string()),
    ];
    let mut out = format!("accounting: {what}\n");
    for (name, value) in rows {
        out.push_str(&format!("  {name:<24} {value:>12}\n"));
    }
    out
}

// 1. The server is absent at start and appears later.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_absent_at_start_receives_everything_once_it_appears() {
    let server = FaultServer::builder().refusing().start().await.unwrap();
    let statsd = builder(server.port())
        .queue_capacity(50_000)
        .build()
        .unwrap();
    bounded("start", statsd.start()).await.unwrap();

    // Emit, paced, while the connector fails to connect several times.
    let mut emitter = Emitter::new("faults.absent");
    emitter
        .emit_until(&statsd, 50, "connection failures", |s| {
            s.connect_failures >= 5
        })
        .await;
    assert!(statsd.is_running() && !statsd.is_connected());
    assert_eq!(server.counts().connections, 0);
    let queued = emitter.done.ok;
    assert!(
        queued > 100,
        "too little was emitted while the server was absent: {queued}"
    );

    server.restart().await.unwrap();
    // Everything emitted meanwhile arrives, and the stream goes on.
    server
        .wait_for(queued, WAIT)
        .await
        .unwrap_or_else(|n| panic!("{n} of the {queued} lines queued while absent arrived"));
    emitter.emit_n(&statsd, 2000);
    bounded("stop", statsd.stop()).await;

    let counts = settled(&server).await;
    let stats = statsd.stats();
    let lost = account("server absent at start", &emitter.done, &stats, &counts);
    assert_eq!(lost, 0);
    assert_eq!(stats.dropped, 0);
    assert_eq!(counts.received, emitter.done.ok);
    assert_eq!(server.name("faults.absent").distinct, emitter.seq);
}

// 2. The server closes the connection gracefully, repeatedly, under load.

/// Closes the server's connections gracefully ten times under load from one
/// thread, each time waiting at most `notice` for the connector to reconnect.
/// The fault server reads a closed connection until the client closes its
/// side, so nothing may be lost.
async fn graceful_closes(what: &str, pace: Pace, notice: Duration) {
    let _heavy = HEAVY.lock().await;
    let server = FaultServer::start().await.unwrap();
    let statsd = builder(server.port()).build().unwrap();
    start_connected(&statsd).await;
    let load = Load::start(&statsd, &format!("faults.{what}"), 1, pace);
    let mut noticed = Vec::new();

    for round in 1..=10 {
        let before = server.received();
        // The connection of this round is accepted and carries lines.
        poll_until("lines on the new connection", || {
            server.counts().connections >= round && server.received() >= before + 200
        })
        .await;
        let closed = server.close_all().await;
        assert!(closed >= 1, "round {round}: no connection to close");
        let started = Instant::now();
        while statsd.stats().reconnects < round {
            if started.elapsed() > notice {
                let emitted = load.finish();
                panic!(
                    "{what}: round {round}: the server closed the connection {:?} ago and the \
                     connector has not noticed (reconnects {}; noticed earlier rounds after \
                     {noticed:?}); {} calls emitted, {} lines received",
                    started.elapsed(),
                    statsd.stats().reconnects,
                    emitted.calls,
                    server.received()
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        noticed.push(started.elapsed());
    }
    eprintln!("{what}: closes noticed after {noticed:?}");
    let emitted = load.finish();
    bounded("stop", statsd.stop()).await;

    let counts = settled(&server).await;
    let stats = statsd.stats();
    let lost = account(what, &emitted, &stats, &counts);
    assert!(stats.reconnects >= 10, "{stats:?}");
    assert!(counts.closes >= 10, "{counts:?}");
    // The server read until the client closed: nothing can have been lost.
    assert_eq!(lost, 0);
    assert_eq!(stats.undelivered, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_closes_between_bursts_reconnect_every_time_and_lose_nothing() {
    // Bursts of 500 lines every 10 ms: the processor is idle between them.
    let pace = Pace::Bursts(500, Duration::from_millis(10));
    graceful_closes("close.bursts", pace, Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_closes_under_steady_load_reconnect_every_time_and_lose_nothing() {
    // 50 lines every millisecond: the queue is never empty for long, so the
    // processor is never idle waiting for the server to go away.
    graceful_closes("close.steady", Pace::PerMs(50), Duration::from_secs(2)).await;
}

// 3. The server is killed (connections reset), repeatedly, under load.

/// Kills the server's connections ten times under load from two threads: in
/// odd rounds while lines flow, in even rounds after the server stopped
/// reading and the client backed up. `exact` uses
/// [`FaultServer::kill_all_exact`] (nothing acknowledged goes unread), else
/// [`FaultServer::kill_all`] (read what is readable, then reset).
async fn resets_under_load(what: &str, exact: bool) -> (Stats, Counts, u64) {
    let _heavy = HEAVY.lock().await;
    let server = FaultServer::builder()
        .recv_buffer(64 * 1024)
        .start()
        .await
        .unwrap();
    let statsd = builder(server.port()).build().unwrap();
    start_connected(&statsd).await;
    let load = Load::start(&statsd, &format!("faults.{what}"), 2, Pace::PerMs(40));

    for round in 1..=10 {
        let before = server.received();
        poll_until("lines on the new connection", || {
            server.counts().connections >= round && server.received() >= before + 500
        })
        .await;
        if round % 2 == 0 {
            // Stop reading first, so that the kill finds data backed up in
            // both kernels.
            server.set_mode(Mode::BlackHole);
            let written = statsd.stats().sent_bytes;
            poll_until("the client to back up", || {
                statsd.stats().sent_bytes >= written + 512 * 1024
            })
            .await;
        }
        let killed = if exact {
            server.kill_all_exact().await
        } else {
            server.kill_all().await
        };
        server.set_mode(Mode::Normal);
        assert!(killed >= 1, "round {round}: no connection to kill");
        poll_until(&format!("reconnect {round}"), || {
            statsd.stats().reconnects >= round
        })
        .await;
    }
    let emitted = load.finish();
    bounded("stop", statsd.stop()).await;

    let counts = settled(&server).await;
    let stats = statsd.stats();
    let lost = account(what, &emitted, &stats, &counts);
    assert!(
        stats.reconnects >= 10 && counts.kills >= 10,
        "{stats:?} {counts:?}"
    );
    eprintln!(
        "{what}: lost {lost}, possibly_lost {}, acknowledged but unread at the resets {} lines ({} bytes), {} kills",
        stats.possibly_lost, counts.unread_at_kill_lines, counts.unread_at_kill_bytes, counts.kills
    );
    (stats, counts, lost)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_under_load_lose_no_more_than_possibly_lost() {
    // Without the server-side window (see `kill_all_exact`), what the client
    // counts as possibly lost bounds the loss, strictly.
    let (stats, counts, lost) = resets_under_load("kill.exact", true).await;
    assert_eq!(counts.unread_at_kill_lines, 0);
    assert!(lost <= stats.possibly_lost);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_after_reading_what_is_readable_lose_no_more_than_counted_or_measured() {
    // A plain reset: what arrives between the server's last read and the
    // reset was acknowledged by its kernel and is lost without the client
    // being able to know. The server measures it; `account` allows exactly
    // that much beyond `possibly_lost`, and shows it in the table.
    resets_under_load("kill", false).await;
}

// 4. Black hole: the server accepts and never reads.

/// Emits `n` timed calls from a thread of their own, as an application's
/// worker would, so that a call that blocks shows in the timings.
async fn emit_timed_from_a_thread(statsd: &Connector, what: &str, n: u64) -> Emitted {
    let caller = statsd.clone();
    let name = long_name(what);
    bounded(
        "the emitting thread",
        tokio::task::spawn_blocking(move || {
            let mut emitter = Emitter::new(&name).sampling(256).timed();
            emitter.emit_n(&caller, n);
            emitter.done
        }),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn black_hole_never_blocks_the_caller_bounds_memory_and_stop_keeps_its_deadline() {
    let _heavy = HEAVY.lock().await;
    let server = FaultServer::builder()
        .recv_buffer(64 * 1024)
        .mode(Mode::BlackHole)
        .start()
        .await
        .unwrap();
    let capacity = 10_000;
    let statsd = builder(server.port())
        .queue_capacity(capacity)
        .emitting_threads(2)
        .build()
        .unwrap();
    start_connected(&statsd).await;

    let emitted = emit_timed_from_a_thread(&statsd, "blackhole", 200_000).await;
    let stats = statsd.stats();
    assert_never_blocked(&emitted);
    assert!(stats.dropped > 0, "the queue never filled: {stats:?}");
    // The queue's bound, plus the one batch the processor holds.
    let bound = 2 * capacity as u64;
    assert!(
        emitted.max_in_queue <= bound,
        "{} lines held",
        emitted.max_in_queue
    );
    assert!(stats.in_queue <= bound, "{} lines held", stats.in_queue);

    let started = Instant::now();
    let report = bounded("stop", statsd.stop_with_timeout(Duration::from_millis(500))).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(500) + STOP_SLACK,
        "stop took {took:?}"
    );
    assert!(report.undelivered > 0, "{report:?}");

    let counts = settled(&server).await;
    account("black hole", &emitted, &statsd.stats(), &counts);
}

// 5. A slow server: backpressure reaches the queue bound, not the caller.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_reader_pushes_back_on_the_queue_not_the_caller() {
    let _heavy = HEAVY.lock().await;
    let server = FaultServer::builder()
        .recv_buffer(64 * 1024)
        .mode(Mode::Slow {
            bytes: 4096,
            every: Duration::from_millis(1),
        })
        .start()
        .await
        .unwrap();
    let capacity = 20_000;
    let statsd = builder(server.port())
        .queue_capacity(capacity)
        .build()
        .unwrap();
    start_connected(&statsd).await;

    let emitted = emit_timed_from_a_thread(&statsd, "slow", 300_000).await;
    let during = server.counts();
    let stats = statsd.stats();
    assert!(during.received > 0, "the slow server read nothing");
    assert!(
        stats.dropped > 0,
        "no backpressure reached the queue: {stats:?}"
    );
    assert_never_blocked(&emitted);
    assert!(emitted.max_in_queue <= 2 * capacity as u64 + 64);

    // The server catches up: everything still held is delivered.
    server.set_mode(Mode::Normal);
    let report = bounded("stop", statsd.stop()).await;
    assert_eq!(report.undelivered, 0);
    let counts = settled(&server).await;
    let lost = account("slow reader", &emitted, &statsd.stats(), &counts);
    assert_eq!(lost, 0);
}

// 6. Refused, unresolvable, moved, unreachable.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_are_retried_until_the_server_listens_again() {
    let server = FaultServer::start().await.unwrap();
    let statsd = builder(server.port()).build().unwrap();
    start_connected(&statsd).await;
    let load = Load::start(&statsd, "faults.refused", 1, Pace::PerMs(10));
    poll_until("first lines", || server.received() >= 200).await;

    // The server goes away: stops listening, its connections reset.
    server.refuse().await.unwrap();
    server.kill_all().await;
    let failures = statsd.stats().connect_failures;
    poll_until("refused attempts", || {
        statsd.stats().connect_failures >= failures + 5
    })
    .await;
    assert!(statsd.is_running());
    assert!(!statsd.is_connected());

    server.restart().await.unwrap();
    let before = server.received();
    poll_until("lines after the restart", || {
        server.received() >= before + 500
    })
    .await;
    let emitted = load.finish();
    bounded("stop", statsd.stop()).await;

    let counts = settled(&server).await;
    let stats = statsd.stats();
    account("connection refused", &emitted, &stats, &counts);
    assert!(stats.reconnects >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_does_not_resolve_is_retried_and_used_once_it_does() {
    let server = FaultServer::start().await.unwrap();
    let address = server.address();
    let resolvable = Arc::new(AtomicBool::new(false));
    let lookups = Arc::new(AtomicU64::new(0));
    let (flag, count) = (resolvable.clone(), lookups.clone());
    let statsd = builder(server.port())
        .host("statsd.invalid")
        .resolver(move |host, _port| {
            count.fetch_add(1, Relaxed);
            if flag.load(Relaxed) {
                Ok(vec![address])
            } else {
                Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{host}: name does not resolve"),
                ))
            }
        })
        .build()
        .unwrap();
    bounded("start", statsd.start()).await.unwrap();

    let mut emitter = Emitter::new("faults.unresolved");
    emitter
        .emit_until(&statsd, 50, "failed lookups", |s| s.connect_failures >= 5)
        .await;
    assert!(statsd.is_running() && !statsd.is_connected());
    assert!(lookups.load(Relaxed) >= 5);
    assert_eq!(server.counts().connections, 0);

    resolvable.store(true, Relaxed);
    let queued = emitter.done.ok;
    server
        .wait_for(queued, WAIT)
        .await
        .unwrap_or_else(|n| panic!("{n} of {queued} lines arrived after the name resolved"));
    bounded("stop", statsd.stop()).await;

    let counts = settled(&server).await;
    let lost = account(
        "name does not resolve",
        &emitter.done,
        &statsd.stats(),
        &counts,
    );
    assert_eq!(lost, 0);
    assert_eq!(counts.received, emitter.done.ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_moves_is_followed_after_a_reconnect() {
    let a = FaultServer::start().await.unwrap();
    let b = FaultServer::start().await.unwrap();
    let target = Arc::new(Mutex::new(a.address()));
    let resolve = target.clone();
    let statsd = builder(a.port())
        .host("statsd.moving")
        .resolver(move |_host, _port| Ok(vec![*resolve.lock().unwrap()]))
        .build()
        .unwrap();
    start_connected(&statsd).await;
    let load = Load::start(&statsd, "faults.moved", 1, Pace::PerMs(10));
    poll_until("lines at A", || a.received() >= 500).await;

    // The name now points at B; A dies.
    *target.lock().unwrap() = b.address();
    a.refuse().await.unwrap();
    a.kill_all().await;
    let a_connections = a.counts().connections;
    poll_until("lines at B", || b.received() >= 500).await;
    let emitted = load.finish();
    bounded("stop", statsd.stop()).await;

    let at_a = settled(&a).await;
    let at_b = settled(&b).await;
    account("name moves", &emitted, &statsd.stats(), &at_a.plus(&at_b));
    assert_eq!(
        at_a.connections, a_connections,
        "A was connected to after the move"
    );
    assert_eq!(
        at_b.connections,
        1 + 1,
        "one connection to B (and the settle's sync)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_port_unreachable_keeps_the_processor_running_until_a_server_binds() {
    let server = FaultServer::builder()
        .proto(Proto::Udp)
        .refusing()
        .start()
        .await
        .unwrap();
    let statsd = builder(server.port())
        .protocol(Protocol::Udp)
        .build()
        .unwrap();
    bounded("start", statsd.start()).await.unwrap();

    // Each "port unreachable" reported on a send makes the processor open a
    // new socket: that is a reconnect.
    let mut emitter = Emitter::new("faults.udp");
    emitter
        .emit_until(&statsd, 20, "port unreachable noticed", |s| {
            s.reconnects >= 3
        })
        .await;
    assert!(statsd.is_running());

    server.restart().await.unwrap();
    // Everything sent so far went to a port where nothing listened.
    let sent_while_unreachable = statsd.stats().sent;
    let before = emitter.done.ok;
    for _ in 0..50 {
        emitter.emit_n(&statsd, 20);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let after = emitter.done.ok - before;
    poll_until("lines after the server bound", || {
        server.received() >= after
    })
    .await;
    bounded("stop", statsd.stop()).await;

    let counts = settled(&server).await;
    let stats = statsd.stats();
    let accounted =
        counts.received + stats.dropped + stats.rejected + stats.undelivered + stats.in_queue;
    let lost = emitter.done.calls.saturating_sub(accounted);
    println!(
        "udp unreachable: {sent_while_unreachable} lines sent while nothing listened, {lost} lost, \
         {} possibly lost, {} reconnects",
        stats.possibly_lost, stats.reconnects
    );
    // What was lost went to the port while nothing listened ...
    assert!(lost <= sent_while_unreachable, "{lost} lines lost");
    // ... and the connector was told: "port unreachable" on a later send.
    // Those lines must be resent or counted, not reported as delivered.
    assert!(
        lost <= stats.possibly_lost,
        "{lost} lines sent while the port was unreachable are lost and counted nowhere \
         (possibly_lost {}, {} reconnects on ECONNREFUSED): the datagrams the kernel \
         reported refused had been counted as sent; only the send that reported the \
         error was retried",
        stats.possibly_lost,
        stats.reconnects
    );
    account("udp port unreachable", &emitter.done, &stats, &counts);
}

// 7. Stop at awkward moments. (While disconnected, with nothing listening:
// `behaviour::stop_deadline_returns_with_the_undelivered_count_when_no_server_listens`.)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_while_sleeping_before_a_reconnect_returns_by_its_deadline() {
    let server = FaultServer::builder().refusing().start().await.unwrap();
    // A long sleep between attempts: the stop lands in it.
    let statsd = builder(server.port())
        .reconnect_sleep(Duration::from_secs(30))
        .build()
        .unwrap();
    bounded("start", statsd.start()).await.unwrap();
    poll_until("a failed attempt", || statsd.stats().connect_failures >= 1).await;
    let mut emitter = Emitter::new("faults.stop.sleeping");
    emitter.emit_n(&statsd, 5000);

    let started = Instant::now();
    let report = bounded("stop", statsd.stop_with_timeout(Duration::from_millis(300))).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(300) + STOP_SLACK,
        "stop took {took:?}"
    );
    assert_eq!(report.undelivered, emitter.done.ok);

    let counts = settled(&server).await;
    account(
        "stop while sleeping to reconnect",
        &emitter.done,
        &statsd.stats(),
        &counts,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_while_a_connection_attempt_hangs_returns_by_its_deadline() {
    // The server's accept queue is full: SYNs go unanswered, and a connection
    // attempt lasts until the connect timeout (5 s, the default).
    let unanswered = Unanswered::new().expect("a port whose SYNs go unanswered");
    let statsd = builder(unanswered.port())
        .connect_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    bounded("start", statsd.start()).await.unwrap();
    let mut emitter = Emitter::new("faults.stop.connecting");
    emitter.emit_n(&statsd, 5000);
    // Well past the reconnect sleep, still no failure: the attempt hangs.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stats = statsd.stats();
    assert_eq!(
        stats.connect_failures, 0,
        "the connection attempt did not hang"
    );
    assert!(!statsd.is_connected());

    let started = Instant::now();
    let deadline = Duration::from_millis(300);
    let stopped =
        tokio::time::timeout(deadline + STOP_SLACK, statsd.stop_with_timeout(deadline)).await;
    let took = started.elapsed();
    let Ok(report) = stopped else {
        panic!(
            "stop_with_timeout({deadline:?}) had not returned after {took:?}: \
             it waits for the hanging connection attempt (connect_timeout 5 s)"
        );
    };
    assert_eq!(report.undelivered, emitter.done.ok);
    let none = Counts::default();
    account(
        "stop while connecting",
        &emitter.done,
        &statsd.stats(),
        &none,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_while_a_large_batch_is_half_written_returns_by_its_deadline() {
    let _heavy = HEAVY.lock().await;
    let server = FaultServer::builder()
        .recv_buffer(64 * 1024)
        .mode(Mode::BlackHole)
        .start()
        .await
        .unwrap();
    let statsd = builder(server.port())
        .queue_capacity(1_000_000)
        .emitting_threads(2)
        .build()
        .unwrap();
    start_connected(&statsd).await;
    let caller = statsd.clone();
    let emitted = bounded(
        "400 000 calls",
        tokio::task::spawn_blocking(move || {
            let mut emitter = Emitter::new(&long_name("halfwritten"));
            emitter.emit_n(&caller, 400_000);
            emitter.done
        }),
    )
    .await
    .unwrap();
    // The write blocks: nothing more is accepted by the socket, lines are held.
    let mut last = statsd.stats().sent_bytes;
    let mut steady = 0;
    poll_until("the write to block", || {
        let stats = statsd.stats();
        steady = if stats.sent_bytes == last {
            steady + 1
        } else {
            0
        };
        last = stats.sent_bytes;
        steady >= 25 && stats.sent_bytes > 0 && stats.in_queue > 0
    })
    .await;

    let started = Instant::now();
    let deadline = Duration::from_millis(500);
    let report = bounded("stop", statsd.stop_with_timeout(deadline)).await;
    let took = started.elapsed();
    assert!(took < deadline + STOP_SLACK, "stop took {took:?}");
    assert!(report.undelivered > 0, "{report:?}");
    assert!(statsd.is_stopped());

    let counts = settled(&server).await;
    account("stop mid-write", &emitted, &statsd.stats(), &counts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_racing_with_four_emitting_threads_neither_hangs_nor_loses_count() {
    let _heavy = HEAVY.lock().await;
    let server = FaultServer::start().await.unwrap();
    let statsd = builder(server.port())
        .queue_capacity(100_000)
        .build()
        .unwrap();
    start_connected(&statsd).await;
    let load = Load::start(&statsd, "faults.race", 4, Pace::Flat);
    poll_until("lines flowing", || server.received() >= 20_000).await;

    let started = Instant::now();
    let deadline = Duration::from_millis(500);
    bounded("stop", statsd.stop_with_timeout(deadline)).await;
    let took = started.elapsed();
    assert!(took < deadline + STOP_SLACK, "stop took {took:?}");
    assert!(statsd.is_stopped());
    // The emitters go on after the stop; what they emit is refused as
    // stopped and counted as dropped, and nothing stays queued.
    let dropped_at_stop = statsd.stats().dropped;
    let calls = load.calls();
    poll_until("calls after the stop", || load.calls() >= calls + 20_000).await;
    let emitted = load.finish();

    let counts = settled(&server).await;
    let stats = statsd.stats();
    account("stop racing with emitters", &emitted, &stats, &counts);
    assert_eq!(stats.in_queue, 0, "lines queued after the stop: {stats:?}");
    assert!(
        stats.dropped >= dropped_at_stop + 20_000,
        "calls after the stop were not counted as dropped: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_every_handle_delivers_what_was_queued() {
    let server = FaultServer::start().await.unwrap();
    let statsd = builder(server.port()).build().unwrap();
    start_connected(&statsd).await;
    let mut emitter = Emitter::new("faults.dropped.handles");
    emitter.emit_n(&statsd, 20_000);
    // Calls are over: what the callers caused (dropped, rejected) is final.
    let mut stats = statsd.stats();
    let mut state = statsd.watch_state();
    drop(statsd);
    // The processor delivers and exits on its own.
    let _ = bounded("the processor to exit", state.wait_for(State::is_stopped)).await;

    let counts = settled(&server).await;
    // Nothing can be observed of the connector any more: everything must have
    // arrived (nothing held, nothing undelivered, nothing lost).
    stats.in_queue = 0;
    let lost = account("dropped handles", &emitter.done, &stats, &counts);
    assert_eq!(lost, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_every_handle_with_a_black_hole_server_still_ends_the_processor() {
    let _heavy = HEAVY.lock().await;
    let server = FaultServer::builder()
        .recv_buffer(64 * 1024)
        .mode(Mode::BlackHole)
        .start()
        .await
        .unwrap();
    let statsd = builder(server.port())
        .stop_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    start_connected(&statsd).await;
    let mut emitter = Emitter::new(&long_name("dropped.blackhole"));
    emitter.emit_n(&statsd, 200_000);
    let stats = statsd.stats();
    let mut state = statsd.watch_state();
    let started = Instant::now();
    drop(statsd);
    let _ = bounded("the processor to exit", state.wait_for(State::is_stopped)).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(300) + STOP_SLACK,
        "the processor took {took:?} to exit"
    );

    // Undelivered and possibly lost are not observable without a handle: only
    // what arrived can be checked.
    let counts = settled(&server).await;
    assert_eq!((counts.corrupt, counts.duplicates), (0, 0), "{counts:?}");
    assert!(counts.received + stats.dropped + stats.rejected <= emitter.done.calls);
}

#[test]
fn a_runtime_shut_down_under_the_connector_leaves_everything_accounted_for() {
    let _heavy = HEAVY.blocking_lock();
    // The fault server has its own runtime; this one only drives its API.
    let control = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = control
        .block_on(
            FaultServer::builder()
                .recv_buffer(64 * 1024)
                .mode(Mode::BlackHole)
                .start(),
        )
        .unwrap();
    let statsd = builder(server.port())
        .queue_capacity(50_000)
        .build()
        .unwrap();

    let doomed = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    doomed.block_on(start_connected(&statsd));
    let mut emitter = Emitter::new(&long_name("runtime"));
    emitter.emit_n(&statsd, 200_000);
    // Wait (polling) until the processor holds lines it cannot write.
    let deadline = Instant::now() + WAIT;
    let mut last = statsd.stats().sent_bytes;
    let mut steady = 0;
    loop {
        std::thread::sleep(Duration::from_millis(2));
        let stats = statsd.stats();
        steady = if stats.sent_bytes == last {
            steady + 1
        } else {
            0
        };
        last = stats.sent_bytes;
        if steady >= 25 && stats.in_queue > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the write never blocked: {stats:?}"
        );
    }
    let before = statsd.stats();

    doomed.shutdown_timeout(Duration::from_secs(1));
    assert!(statsd.is_stopped(), "the processor still counts as running");

    let fresh = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let report = fresh
        .block_on(async { tokio::time::timeout(Duration::from_secs(3), statsd.stop()).await })
        .expect("stop after the runtime went away hung");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "stop took {took:?}");

    let stats = statsd.stats();
    assert_eq!(stats.in_queue, 0, "{stats:?}");
    assert!(report.undelivered > 0, "{report:?}");
    // What was held or queued when the runtime went is now undelivered.
    assert_eq!(
        stats.undelivered, before.in_queue,
        "before {before:?}\nafter {stats:?}"
    );

    let counts = control.block_on(settled(&server));
    account("runtime shut down", &emitter.done, &stats, &counts);
}
