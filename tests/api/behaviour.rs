//! Integration tests pinning the behaviours of the original Python connector
//! (`shared/reference/BEHAVIOUR.md`) against the in-process capture server.
//!
//! Rules followed throughout: no fixed ports (servers bind port 0; a port where
//! nothing listens is held by a bound, non-listening socket), no sleeping in the
//! hope that something happened (tests wait on the capture server's line count,
//! on `watch_state()`, or poll with a deadline), and every await is bounded.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use statsd_connector::testing::{CaptureServer, Listen};
use statsd_connector::{Builder, Connector, Error, ErrorKind, Line, Metrics, Protocol, State};
use statsd_connector_testkit::log_capture::LogCapture;
use statsd_connector_testkit::socket::set_receive_buffer;
use statsd_connector_testkit::wait::{bounded, poll_until, wait_state, WAIT};
use tokio::net::{TcpSocket, UdpSocket};

/// A builder aimed at `port` on loopback, with short sleeps so tests are quick.
fn builder(port: u16) -> Builder {
    Connector::builder()
        .host("127.0.0.1")
        .port(port)
        .reconnect_sleep(Duration::from_millis(50))
        .connect_timeout(Duration::from_secs(2))
}

/// Like [`builder`], with a single queue shard, so that lines keep the order
/// they were emitted in even while the processor takes the queue. Tests that
/// assert the exact order of lines emitted while the connector runs use it, so
/// that each pins its own behaviour; the order with several shards is pinned
/// separately (see the "Order" section at the end of this file).
fn ordered(port: u16) -> Builder {
    builder(port).shards(1)
}

/// Waits until `server` has received `n` lines.
async fn lines(server: &CaptureServer, n: u64) -> Vec<String> {
    server.wait_for_lines(n, WAIT).await.unwrap_or_else(|e| {
        panic!(
            "waiting for {n} lines: {e}; got {:?}",
            tail(&server.lines())
        )
    });
    server.lines()
}

fn tail(lines: &[String]) -> &[String] {
    &lines[lines.len().saturating_sub(20)..]
}

/// A loopback TCP port where nothing listens: a socket is bound to it but does
/// not listen, so connections are refused, no other test can take the port,
/// and no connection attempt can ever pick it as its own source port (which
/// would connect the client to itself).
struct DeadPort {
    socket: TcpSocket,
    address: SocketAddr,
}

impl DeadPort {
    fn new() -> DeadPort {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        let address = socket.local_addr().unwrap();
        DeadPort { socket, address }
    }

    fn port(&self) -> u16 {
        self.address.port()
    }

    /// Frees the port and starts a capture server (TCP) on it.
    async fn bring_up_server(self) -> CaptureServer {
        let address = self.address;
        drop(self.socket);
        CaptureServer::builder()
            .address(address)
            .listen(Listen::Tcp)
            .start()
            .await
            .expect("binding the capture server on the freed port")
    }
}

/// A resolver for 127.0.0.1 that counts the connection attempts it serves:
/// every attempt resolves the host anew, so this tells whether a connector
/// tried to connect at all (a server's connection count would also count
/// strangers reaching its port).
fn counting_resolver(
    attempts: &std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> impl Fn(&str, u16) -> std::io::Result<Vec<SocketAddr>> + Send + Sync + 'static {
    let attempts = attempts.clone();
    move |_host, port| {
        attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))])
    }
}

/// An environment for `Builder::from_env_with`, without touching the process's.
fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// The value of a statsd line (between `:` and `|`), parsed.
fn value_of(line: &str) -> f64 {
    let parsed = Line::parse(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    parsed
        .value
        .parse()
        .unwrap_or_else(|e| panic!("{line:?}: {e}"))
}

/// Fails unless every line is well formed and none arrived cut.
fn assert_clean(server: &CaptureServer) {
    assert_eq!(
        server.malformed(),
        Vec::<String>::new(),
        "malformed lines arrived"
    );
    assert_eq!(
        server.partial_lines(),
        0,
        "a connection ended in the middle of a line"
    );
    for line in server.lines() {
        Line::parse(&line).unwrap_or_else(|e| panic!("{line:?} does not parse: {e}"));
    }
}

// ---------------------------------------------------------------------------
// The handle
// ---------------------------------------------------------------------------

#[test]
fn handle_is_clone_send_sync_and_static() {
    fn assert_handle<T: Clone + Send + Sync + 'static>() {}
    assert_handle::<Connector>();
    fn assert_send<T: Send + 'static>() {}
    assert_send::<statsd_connector::Timer>();
    assert_send::<statsd_connector::TimerGuard>();
    // Clones share one queue.
    let statsd = Connector::builder().host("127.0.0.1").build().unwrap();
    let clone = statsd.clone();
    clone.incr("shared").unwrap();
    assert_eq!(statsd.stats().in_queue, 1);
}

// ---------------------------------------------------------------------------
// Lifecycle
// ---------------------------------------------------------------------------

#[test]
fn invalid_configuration_is_refused_naming_the_bad_value() {
    assert!(matches!(
        Connector::builder().build().map_err(Error::into_kind),
        Err(ErrorKind::EmptyHost)
    ));
    assert!(matches!(
        Connector::builder()
            .host("   ")
            .build()
            .map_err(Error::into_kind),
        Err(ErrorKind::EmptyHost)
    ));
    match Connector::builder()
        .host("h")
        .port(0)
        .build()
        .map_err(Error::into_kind)
    {
        Err(ErrorKind::InvalidPort { value, .. }) => assert_eq!(value, "0"),
        other => panic!("port 0 gave {other:?}"),
    }
    for bad in ["-1", "0", "65536", "eighty", ""] {
        let env = env_of(&[("STATSD_HOST", "h"), ("STATSD_PORT", bad)]);
        match Builder::from_env_with(env).and_then(Builder::build) {
            Err(error) if matches!(error.kind(), ErrorKind::InvalidPort { .. }) => {
                assert!(error.to_string().contains(&format!("{bad:?}")), "{error}")
            }
            other => panic!("STATSD_PORT={bad:?} gave {other:?}"),
        }
    }
    match Builder::from_env_with(env_of(&[("STATSD_HOST", "h"), ("STATSD_PROTOCOL", "sctp")])) {
        Err(error) if matches!(error.kind(), ErrorKind::UnknownProtocol(_)) => {
            assert!(error.to_string().contains("\"sctp\""), "{error}")
        }
        other => panic!("sctp gave {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_returns_once_running_and_stop_once_stopped() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = builder(server.port()).build().unwrap();
    assert!(statsd.is_stopped() && !statsd.is_running() && !statsd.is_connected());

    bounded("start", statsd.start()).await.unwrap();
    assert!(
        statsd.is_running(),
        "start() returned before the processor runs"
    );
    assert!(!statsd.is_stopped());
    // Starting again is a no-op.
    bounded("second start", statsd.start()).await.unwrap();
    assert!(statsd.is_running());

    let report = bounded("stop", statsd.stop()).await;
    assert!(
        statsd.is_stopped(),
        "stop() returned before the processor exited"
    );
    assert!(!statsd.is_running() && !statsd.is_connected());
    assert_eq!((report.undelivered, report.possibly_lost), (0, 0));

    // A stopped connector can be started again and delivers.
    bounded("restart", statsd.start()).await.unwrap();
    assert!(statsd.is_running());
    statsd.incr("again").unwrap();
    bounded("stop", statsd.stop()).await;
    assert_eq!(lines(&server, 1).await, ["again:1|c"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_follows_connect_disconnect_and_reconnect() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = builder(server.port()).build().unwrap();
    bounded("start", statsd.start()).await.unwrap();
    wait_state(&statsd, "connected after start", |s| s.is_connected()).await;
    assert!(statsd.is_running());

    // The server closes the connection: the processor sees EOF while idle.
    bounded("server stop", server.stop()).await;
    wait_state(&statsd, "disconnected after the server stopped", |s| {
        !s.is_connected()
    })
    .await;
    assert!(
        statsd.is_running(),
        "a lost connection must not stop the processor"
    );
    poll_until("a failed reconnection attempt", || {
        statsd.stats().connect_failures > 0
    })
    .await;
    assert!(!statsd.is_connected());

    server.restart().await.unwrap();
    wait_state(&statsd, "connected after the server restarted", |s| {
        s.is_connected()
    })
    .await;
    // At least one: a reconnection attempt can also reach the old listener's
    // backlog while the capture server is shutting down (then be reset).
    assert!(statsd.stats().reconnects >= 1);

    statsd.incr("after.restart").unwrap();
    assert_eq!(lines(&server, 1).await, ["after.restart:1|c"]);

    bounded("stop", statsd.stop()).await;
    let state = statsd.state();
    assert!(state.is_stopped() && !state.is_connected(), "{state:?}");
}

#[test]
fn start_outside_a_runtime_is_an_error() {
    use std::task::{Context, Poll, Waker};
    let statsd = Connector::builder().host("127.0.0.1").build().unwrap();
    let mut start = std::pin::pin!(statsd.start());
    let mut cx = Context::from_waker(Waker::noop());
    match start.as_mut().poll(&mut cx) {
        Poll::Ready(Err(error)) if matches!(error.kind(), ErrorKind::NoRuntime) => {}
        other => panic!("start() outside a runtime gave {other:?}"),
    }
    assert!(statsd.is_stopped());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_sent_before_start_but_metrics_are_queued() {
    let server = CaptureServer::start().await.unwrap();
    let attempts = std::sync::Arc::default();
    let statsd = builder(server.port())
        .resolver(counting_resolver(&attempts))
        .build()
        .unwrap();
    for i in 0..100 {
        statsd.count("early", i).unwrap();
    }
    let stats = statsd.stats();
    assert_eq!((stats.accepted, stats.in_queue, stats.sent), (100, 100, 0));
    assert!(!statsd.is_connected());

    // A second connector to the same server acts as a barrier: once its line
    // has arrived, the server has seen everything that was sent before it.
    let other = builder(server.port()).build().unwrap();
    bounded("start", other.start()).await.unwrap();
    other.incr("barrier").unwrap();
    bounded("stop", other.stop()).await;
    assert_eq!(lines(&server, 1).await, ["barrier:1|c"]);
    assert_eq!(
        attempts.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the unstarted connector tried to connect"
    );
    assert_eq!(server.line_count(), 1);
    assert_eq!(statsd.stats().in_queue, 100);

    bounded("start", statsd.start()).await.unwrap();
    let report = bounded("stop", statsd.stop()).await;
    assert_eq!(report.undelivered, 0);
    let received = lines(&server, 101).await;
    let expected: Vec<String> = (0..100).map(|i| format!("early:{i}|c")).collect();
    assert_eq!(received[1..], expected[..]);
    assert_clean(&server);
    assert!(attempts.load(std::sync::atomic::Ordering::SeqCst) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_sent_while_server_is_down_arrive_after_it_comes_up() {
    const N: u64 = 5_000;
    let dead = DeadPort::new();
    let statsd = builder(dead.port())
        .reconnect_sleep(Duration::from_millis(20))
        .build()
        .unwrap();
    bounded("start", statsd.start()).await.unwrap();
    for i in 0..N {
        statsd.count("down", i as i64).unwrap();
    }
    poll_until("failed connection attempts", || {
        statsd.stats().connect_failures >= 2
    })
    .await;
    assert!(!statsd.is_connected());
    assert_eq!(statsd.stats().sent, 0);
    assert_eq!(statsd.stats().in_queue, N);

    let server = dead.bring_up_server().await;
    wait_state(&statsd, "connected once the server is up", |s| {
        s.is_connected()
    })
    .await;
    let received = lines(&server, N).await;
    let report = bounded("stop", statsd.stop()).await;
    assert_eq!(report.undelivered, 0);

    // Exactly once each, in order.
    let expected: Vec<String> = (0..N).map(|i| format!("down:{i}|c")).collect();
    assert_eq!(server.line_count(), N, "duplicates arrived");
    assert_eq!(received, expected);
    assert_clean(&server);
    let stats = statsd.stats();
    assert!(stats.connect_failures > 0, "{stats:?}");
    assert_eq!(stats.sent, N);
    assert_eq!(
        stats.reconnects, 0,
        "the first connection is not a reconnect"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_mid_stream_loses_nothing_the_client_still_held() {
    const BATCH: u64 = 2_000;
    let server = CaptureServer::start().await.unwrap();
    let statsd = builder(server.port()).build().unwrap();
    bounded("start", statsd.start()).await.unwrap();

    for i in 0..BATCH {
        statsd.count("first", i as i64).unwrap();
    }
    lines(&server, BATCH).await;

    bounded("server stop", server.stop()).await;
    wait_state(&statsd, "the client noticing the server left", |s| {
        !s.is_connected()
    })
    .await;
    for i in 0..BATCH {
        statsd.count("second", i as i64).unwrap();
    }
    poll_until("a failed reconnection attempt", || {
        statsd.stats().connect_failures > 0
    })
    .await;
    server.restart().await.unwrap();

    lines(&server, 2 * BATCH).await;
    let report = bounded("stop", statsd.stop()).await;
    assert_eq!(report.undelivered, 0);

    let received = server.lines();
    let second: Vec<&String> = received
        .iter()
        .filter(|l| l.starts_with("second:"))
        .collect();
    let expected: Vec<String> = (0..BATCH).map(|i| format!("second:{i}|c")).collect();
    assert_eq!(
        second,
        expected.iter().collect::<Vec<_>>(),
        "batch 2 did not arrive whole and in order"
    );

    let stats = statsd.stats();
    let emitted = 2 * BATCH;
    let unique: HashSet<&String> = received.iter().collect();
    assert_eq!(unique.len(), received.len(), "duplicates arrived");
    assert!(received.len() as u64 <= emitted);
    assert!(
        received.len() as u64 + stats.possibly_lost >= emitted,
        "{} received, {stats:?}",
        received.len()
    );
    assert_clean(&server);
    assert!(stats.reconnects >= 1, "{stats:?}");
    assert_eq!(stats.sent, emitted);
}

/// A server going away while lines are being written: whatever the timing,
/// nothing arrives twice, cut or out of order, everything emitted once the
/// client has reconnected arrives, and every line is sent exactly once.
///
/// What this cannot assert is `received + possibly_lost >= emitted`: lines
/// that the server's kernel acknowledged but the server process never read
/// (it closed, or its listener's backlog was reset) are lost without any TCP
/// client being able to tell. `server_restart_mid_stream_loses_nothing_the_client_still_held`
/// pins that invariant where nothing is in flight when the server leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_leaving_mid_stream_is_accounted_for() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    for kill in [false, true] {
        let server = CaptureServer::start().await.unwrap();
        let statsd = ordered(server.port()).build().unwrap();
        bounded("start", statsd.start()).await.unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(AtomicU64::new(0));
        let emitter = {
            let (statsd, done, progress) = (statsd.clone(), done.clone(), progress.clone());
            std::thread::spawn(move || {
                let mut emitted = 0u64;
                while !done.load(Ordering::Relaxed) {
                    // Published before the lines are emitted: every line from
                    // the value read on is emitted after the read.
                    progress.store(emitted + 10, Ordering::SeqCst);
                    for _ in 0..10 {
                        statsd.count("stream", emitted as i64).unwrap();
                        emitted += 1;
                    }
                    // A steady stream of some 50 000 lines a second, not a
                    // flood: the capture server's stop reads until its socket
                    // is empty, which a flood never lets happen.
                    std::thread::sleep(Duration::from_micros(200));
                }
                emitted
            })
        };
        lines(&server, 5_000).await;
        if kill {
            bounded("server kill", server.kill()).await;
        } else {
            bounded("server stop", server.stop()).await;
        }
        poll_until("the client noticing the server left", || {
            !statsd.is_connected()
        })
        .await;
        server.restart().await.unwrap();
        wait_state(&statsd, "reconnected", |s| s.is_connected()).await;
        // Emitted from here on: queued while connected to the restarted server.
        let reconnected_at = progress.load(Ordering::SeqCst);
        let arrived = server.line_count();
        lines(&server, arrived + 5_000).await;
        done.store(true, Ordering::Relaxed);
        let emitted = bounded(
            "the emitter",
            tokio::task::spawn_blocking(move || emitter.join().unwrap()),
        )
        .await
        .unwrap();
        let report = bounded("stop", statsd.stop()).await;
        assert_eq!(report.undelivered, 0);

        let stats = statsd.stats();
        assert_eq!(
            (stats.accepted, stats.sent, stats.dropped),
            (emitted, emitted, 0),
            "{stats:?}"
        );
        // The last line emitted went last on the last connection: once it
        // has been read, everything before it on that connection has been.
        poll_until("the last line emitted", || {
            server.lines().last().map(|l| value_of(l) as u64) == Some(emitted - 1)
        })
        .await;
        let received = server.lines();
        let values: Vec<u64> = received.iter().map(|l| value_of(l) as u64).collect();
        let unique: HashSet<u64> = values.iter().copied().collect();
        assert_eq!(
            unique.len(),
            values.len(),
            "kill={kill}: duplicates arrived"
        );
        assert!(values.iter().all(|&v| v < emitted));
        assert!(
            values.windows(2).all(|w| w[0] < w[1]),
            "kill={kill}: out of order; runs: {:?}",
            runs(&values)
        );
        let after = values.iter().filter(|&&v| v >= reconnected_at).count() as u64;
        assert_eq!(
            after,
            emitted - reconnected_at,
            "kill={kill}: lines emitted after the reconnection were lost"
        );
        assert_eq!(
            server.malformed(),
            Vec::<String>::new(),
            "kill={kill}: a line arrived cut"
        );
        assert!(stats.reconnects >= 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_drains_the_queue() {
    const N: u64 = 50_000;
    let server = CaptureServer::start().await.unwrap();
    let statsd = builder(server.port()).build().unwrap();
    bounded("start", statsd.start()).await.unwrap();
    for i in 0..N {
        statsd.count("drain", i as i64).unwrap();
    }
    let report = bounded("stop", statsd.stop()).await;
    assert_eq!(report.undelivered, 0);
    let received = lines(&server, N).await;
    assert_eq!(received.len() as u64, N);
    let sum: f64 = received.iter().map(|l| value_of(l)).sum();
    assert_eq!(sum as u64, N * (N - 1) / 2);
    let stats = statsd.stats();
    assert_eq!((stats.sent, stats.in_queue, stats.undelivered), (N, 0, 0));
    assert_clean(&server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_twice_is_harmless() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = builder(server.port()).build().unwrap();
    bounded("start", statsd.start()).await.unwrap();
    statsd.incr("once").unwrap();
    let first = bounded("first stop", statsd.stop()).await;
    assert_eq!(first.undelivered, 0);
    let started = Instant::now();
    let second = bounded("second stop", statsd.stop()).await;
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "second stop took {:?}",
        started.elapsed()
    );
    assert_eq!((second.undelivered, second.possibly_lost), (0, 0));
    assert!(statsd.is_stopped());
    assert_eq!(lines(&server, 1).await, ["once:1|c"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_stops_both_return_once_stopped() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = builder(server.port()).build().unwrap();
    bounded("start", statsd.start()).await.unwrap();
    for i in 0..1_000 {
        statsd.count("concurrent", i).unwrap();
    }
    let clone = statsd.clone();
    let (a, b) = bounded("two stops", async {
        tokio::join!(statsd.stop(), clone.stop())
    })
    .await;
    assert!(statsd.is_stopped());
    assert_eq!(a.undelivered + b.undelivered, 0);
    lines(&server, 1_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_before_start_discards_and_reports_queued_metrics() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = builder(server.port()).build().unwrap();
    let started = Instant::now();
    let empty = bounded("stop before start", statsd.stop()).await;
    assert_eq!((empty.undelivered, empty.possibly_lost), (0, 0));

    for i in 0..25 {
        statsd.count("never", i).unwrap();
    }
    let report = bounded("stop before start", statsd.stop()).await;
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(report.undelivered, 25);
    let stats = statsd.stats();
    assert_eq!(
        (stats.undelivered, stats.in_queue, stats.accepted),
        (25, 0, 25)
    );
    assert!(statsd.is_stopped());

    // The discarded metrics are gone for good: only the marker arrives.
    bounded("start", statsd.start()).await.unwrap();
    statsd.incr("marker").unwrap();
    bounded("stop", statsd.stop()).await;
    assert_eq!(lines(&server, 1).await, ["marker:1|c"]);
    assert_eq!(server.line_count(), 1);
}

/// Every call of a disabled connector, valid or not, returns `Ok` and does
/// nothing; `start` and `stop` are no-ops.
async fn assert_disabled(statsd: &Connector) {
    assert!(!statsd.config().enabled());
    statsd.incr("x").unwrap();
    statsd.decr("x").unwrap();
    statsd.count("x", 5).unwrap();
    statsd.decr_by("x", 5).unwrap();
    statsd.gauge("x", -3.0).unwrap();
    statsd.gauge_delta("x", 1.0).unwrap();
    statsd.timing("x", Duration::from_millis(3)).unwrap();
    statsd.timing_secs("x", 0.5).unwrap();
    statsd.set("x", "m").unwrap();
    statsd.histogram("x", 1.0).unwrap();
    statsd.distribution("x", 1.0).unwrap();
    statsd.with_tags(&[("k", "v")]).incr("x").unwrap();
    statsd.sampled(0.5).incr("x").unwrap();
    statsd.inject_metric("x", "1", "c").unwrap();
    statsd.send_line("x:1|c").unwrap();
    let handle = statsd.counter("x").unwrap();
    handle.incr().unwrap();
    handle.add(-5).unwrap();
    // Even what an enabled connector refuses.
    statsd.incr("bad:name").unwrap();
    statsd.gauge("x", f64::NAN).unwrap();
    statsd.inject_metric("x", "NaN", "zz").unwrap();
    statsd.send_line("not a line").unwrap();
    let mut timer = statsd.timer("t");
    timer.start().unwrap();
    timer.stop().unwrap();
    timer.send().unwrap();
    drop(statsd.time("guard"));

    bounded("start", statsd.start()).await.unwrap();
    assert!(!statsd.is_running() && statsd.is_stopped() && !statsd.is_connected());
    let report = bounded("stop", statsd.stop()).await;
    assert_eq!((report.undelivered, report.possibly_lost), (0, 0));
    assert_eq!(statsd.stats(), statsd_connector::Stats::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_connector_accepts_every_call_and_sends_nothing() {
    let server = CaptureServer::start().await.unwrap();
    let attempts = std::sync::Arc::default();
    let disabled = builder(server.port())
        .enabled(false)
        .resolver(counting_resolver(&attempts))
        .build()
        .unwrap();
    assert_disabled(&disabled).await;
    // Also with no host at all.
    let hostless = Connector::builder().enabled(false).build().unwrap();
    assert_disabled(&hostless).await;

    let marker = builder(server.port()).build().unwrap();
    bounded("start", marker.start()).await.unwrap();
    marker.incr("marker").unwrap();
    bounded("stop", marker.stop()).await;
    assert_eq!(lines(&server, 1).await, ["marker:1|c"]);
    assert_eq!(
        attempts.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the disabled connector tried to connect"
    );
    assert_eq!(server.line_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_without_host_gives_a_disabled_connector() {
    for env in [
        &[][..],
        &[("STATSD_HOST", "")][..],
        &[("STATSD_HOST", "  "), ("STATSD_PORT", "9125")][..],
        &[("STATSD_HOST", "127.0.0.1"), ("STATSD_ENABLED", "off")][..],
        &[("STATSD_HOST", "127.0.0.1"), ("STATSD_ENABLED", "0")][..],
    ] {
        let statsd = Builder::from_env_with(env_of(env))
            .unwrap()
            .build()
            .unwrap();
        assert!(!statsd.config().enabled(), "{env:?}");
        assert_disabled(&statsd).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_from_the_environment_reaches_the_wire() {
    let server = CaptureServer::start().await.unwrap();
    let port = server.port().to_string();
    for protocol in ["tcp", "UDP"] {
        let env = [
            ("STATSD_HOST", "127.0.0.1"),
            ("STATSD_PORT", port.as_str()),
            ("STATSD_PREFIX", "svc"),
            ("STATSD_PROTOCOL", protocol),
            ("STATSD_ENABLED", "Yes"),
            ("STATSD_TYPE_PREFIXES", "true"),
            ("STATSD_RECONNECT_SLEEP", "0.05"),
            ("STATSD_WAIT_TIMEOUT", "0.05"),
            ("STATSD_QUEUE_CAPACITY", "500"),
        ];
        // One shard, for the order of the two lines (see `ordered`).
        let statsd = Builder::from_env_with(env_of(&env))
            .unwrap()
            .shards(1)
            .build()
            .unwrap();
        let config = statsd.config();
        assert!(config.enabled());
        assert_eq!(
            (config.host(), config.port(), config.prefix()),
            ("127.0.0.1", server.port(), Some("svc"))
        );
        assert_eq!(config.protocol(), protocol.parse::<Protocol>().unwrap());
        assert_eq!(config.queue_capacity(), 500);

        server.clear();
        bounded("start", statsd.start()).await.unwrap();
        statsd.incr("hits").unwrap();
        statsd.gauge("level", 2.0).unwrap();
        bounded("stop", statsd.stop()).await;
        assert_eq!(
            lines(&server, 2).await,
            ["svc.counters.hits:1|c", "svc.gauges.level:2|g"],
            "{protocol}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_deadline_returns_with_the_undelivered_count_when_no_server_listens() {
    let dead = DeadPort::new();
    let statsd = builder(dead.port()).build().unwrap();
    for i in 0..100 {
        statsd.count("stranded", i).unwrap();
    }
    bounded("start", statsd.start()).await.unwrap();
    poll_until("a failed connection attempt", || {
        statsd.stats().connect_failures > 0
    })
    .await;

    let started = Instant::now();
    let report = bounded("stop", statsd.stop_with_timeout(Duration::from_millis(300))).await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250),
        "stop gave up early, after {took:?}"
    );
    assert!(took < Duration::from_secs(2), "stop took {took:?}");
    assert_eq!(report.undelivered, 100);
    assert!(statsd.is_stopped());
    let stats = statsd.stats();
    assert_eq!(
        (stats.undelivered, stats.sent, stats.in_queue),
        (100, 0, 0),
        "{stats:?}"
    );
    drop(dead);
}

// ---------------------------------------------------------------------------
// The bounded queue
// ---------------------------------------------------------------------------

/// The configured bound is the bound, however many shards the queue has.
#[test]
fn full_queue_holds_exactly_the_configured_capacity() {
    let mut results = Vec::new();
    for shards in [None, Some(1), Some(2), Some(3), Some(4), Some(7)] {
        let mut b = Connector::builder().host("127.0.0.1").queue_capacity(10);
        if let Some(shards) = shards {
            b = b.shards(shards);
        }
        let statsd = b.build().unwrap();
        let accepted = (0..1000).filter(|_| statsd.incr("full").is_ok()).count();
        let stats = statsd.stats();
        results.push((
            shards,
            accepted,
            stats.accepted,
            stats.in_queue,
            stats.dropped,
        ));
    }
    let wrong: Vec<_> = results
        .iter()
        .filter(|r| (r.1, r.2, r.3, r.4) != (10, 10, 10, 990))
        .collect();
    assert!(
        wrong.is_empty(),
        "queue_capacity(10) held more (shards, Ok calls, accepted, in_queue, dropped): {wrong:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn full_queue_drops_counts_and_throttles_the_warning() {
    let (capture, subscriber) = LogCapture::new();
    let _log = tracing::subscriber::set_default(subscriber);
    let server = CaptureServer::start().await.unwrap();
    // One shard: the bound is exact (see full_queue_holds_exactly_the_configured_capacity).
    let statsd = builder(server.port())
        .queue_capacity(10)
        .shards(1)
        .build()
        .unwrap();

    let mut dropped = 0;
    for i in 0..1000 {
        match statsd.count("full", i) {
            Ok(()) => assert!(i < 10, "metric {i} accepted into a full queue"),
            Err(error) if error.is_queue_full() => dropped += 1,
            Err(other) => panic!("metric {i}: {other:?}"),
        }
    }
    assert_eq!(dropped, 990);
    let stats = statsd.stats();
    assert_eq!(
        (stats.accepted, stats.in_queue, stats.dropped),
        (10, 10, 990)
    );

    let warnings = capture.with_message("statsd queue full: metric dropped");
    let numbers: Vec<u64> = warnings
        .iter()
        .map(|w| {
            assert_eq!(w.level, tracing::Level::WARN);
            w.u64_field("dropped_in_a_row")
                .expect("the warning carries dropped_in_a_row")
        })
        .collect();
    let expected: Vec<u64> = (1..=100).chain((200..=900).step_by(100)).collect();
    assert_eq!(numbers.len(), 100 + 8);
    assert_eq!(numbers, expected);

    // The queue accepts again once emptied: the streak starts over. (The
    // connector was never started, so this stop discards what was queued and
    // calls are still accepted; after the stop of a started connector they
    // would be refused as `Stopped` until the next start.)
    let report = bounded("stop", statsd.stop_with_timeout(Duration::ZERO)).await;
    assert_eq!(report.undelivered, 10);
    capture.clear();
    for i in 0..10 {
        statsd.count("refill", i).unwrap();
    }
    assert!(statsd.incr("overflow").unwrap_err().is_queue_full());
    let warnings = capture.with_message("statsd queue full: metric dropped");
    assert_eq!(warnings.len(), 1);
    assert_eq!(
        warnings[0].u64_field("dropped_in_a_row"),
        Some(1),
        "the streak did not reset"
    );
    assert_eq!(statsd.stats().dropped, 991);
}

#[tokio::test(flavor = "current_thread")]
async fn reconnect_failures_are_logged_with_attempt_counts_and_success_with_attempts() {
    let (capture, subscriber) = LogCapture::new();
    let _log = tracing::subscriber::set_default(subscriber);
    let dead = DeadPort::new();
    let port = dead.port();
    let statsd = builder(port)
        .reconnect_sleep(Duration::from_millis(10))
        .build()
        .unwrap();
    bounded("start", statsd.start()).await.unwrap();
    poll_until("three failed attempts", || {
        statsd.stats().connect_failures >= 3
    })
    .await;

    let server = dead.bring_up_server().await;
    wait_state(&statsd, "connected", |s| s.is_connected()).await;
    let failures = statsd.stats().connect_failures;

    let warnings = capture.with_message("connection to statsd failed");
    let attempts: Vec<u64> = warnings
        .iter()
        .map(|w| {
            assert_eq!(w.level, tracing::Level::WARN);
            assert_eq!(w.u64_field("port"), Some(u64::from(port)), "{w:?}");
            assert!(w.fields.contains_key("error"), "{w:?}");
            w.u64_field("attempt").expect("the warning carries attempt")
        })
        .collect();
    let logged = failures.min(100);
    assert_eq!(attempts, (1..=logged).collect::<Vec<_>>());

    let connected = capture.with_message("connected to statsd");
    assert_eq!(connected.len(), 1, "{connected:?}");
    assert_eq!(connected[0].level, tracing::Level::INFO);
    let n = connected[0]
        .u64_field("attempts")
        .expect("the info carries attempts");
    assert!(n > 1);
    assert_eq!(n, failures + 1);

    // After a success the count starts over: a later outage logs attempt 1.
    capture.clear();
    bounded("server stop", server.stop()).await;
    poll_until("a failed attempt after the outage", || {
        statsd.stats().connect_failures > failures
    })
    .await;
    let warnings = capture.with_message("connection to statsd failed");
    assert_eq!(warnings[0].u64_field("attempt"), Some(1));
    bounded("stop", statsd.stop()).await;
}

// ---------------------------------------------------------------------------
// What goes on the wire
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefix_and_type_prefixes_are_on_the_wire() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = ordered(server.port())
        .prefix("app")
        .type_prefixes(true)
        .build()
        .unwrap();
    bounded("start", statsd.start()).await.unwrap();
    statsd.incr("x").unwrap();
    statsd.gauge("g", 3.0).unwrap();
    statsd.timing("t", Duration::from_millis(5)).unwrap();
    statsd.set("s", "alice").unwrap();
    statsd.histogram("h", 2.5).unwrap();
    statsd.distribution("d", 7.0).unwrap();
    statsd.inject_metric("raw", "4", "c").unwrap();
    bounded("stop", statsd.stop()).await;
    assert_eq!(
        lines(&server, 7).await,
        [
            "app.counters.x:1|c",
            "app.gauges.g:3|g",
            "app.timers.t:5|ms",
            "app.sets.s:alice|s",
            "app.histograms.h:2.5|h",
            "app.distributions.d:7|d",
            "app.counters.raw:4|c",
        ]
    );

    // A prefix alone, and the application prefix of the original.
    for (builder, expected) in [
        (ordered(server.port()).prefix("app"), "app.x:1|c"),
        (
            ordered(server.port()).application_prefix("shop", "prod"),
            "applications.shop.prod.x:1|c",
        ),
        (ordered(server.port()).prefix("app").no_prefix(), "x:1|c"),
    ] {
        server.clear();
        let statsd = builder.build().unwrap();
        bounded("start", statsd.start()).await.unwrap();
        statsd.incr("x").unwrap();
        bounded("stop", statsd.stop()).await;
        assert_eq!(lines(&server, 1).await, [expected]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_gauge_is_sent_as_a_reset_then_the_value() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = ordered(server.port()).build().unwrap();
    bounded("start", statsd.start()).await.unwrap();
    statsd.gauge("g", -5.0).unwrap();
    statsd.gauge("h", -0.25).unwrap();
    statsd.gauge("z", -0.0).unwrap();
    statsd.gauge("p", 5.0).unwrap();
    bounded("stop", statsd.stop()).await;
    assert_eq!(
        lines(&server, 6).await,
        ["g:0|g", "g:-5|g", "h:0|g", "h:-0.25|g", "z:0|g", "p:5|g"]
    );
    // The pair counts as two lines everywhere.
    assert_eq!(statsd.stats().sent, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_deltas_and_timings_have_the_statsd_spelling() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = ordered(server.port()).build().unwrap();
    bounded("start", statsd.start()).await.unwrap();
    statsd.incr("c").unwrap();
    statsd.decr("c").unwrap();
    statsd.count("c", 7).unwrap();
    statsd.decr_by("c", 3).unwrap();
    statsd.decr_by("c", -3).unwrap();
    statsd.gauge_delta("g", 3.0).unwrap();
    statsd.gauge_delta("g", -2.0).unwrap();
    statsd.gauge_delta("g", 0.5).unwrap();
    statsd.inject_metric("g", "+3", "g").unwrap();
    statsd.inject_metric("g", "-2", "g").unwrap();
    statsd.timing("t", Duration::from_micros(1500)).unwrap();
    statsd.timing("t", Duration::from_secs(2)).unwrap();
    statsd.timing("t", Duration::from_nanos(1)).unwrap();
    statsd.timing_secs("t", 0.25).unwrap();
    statsd.timing_secs("t", 1.5).unwrap();
    statsd.set("s", "bob").unwrap();
    bounded("stop", statsd.stop()).await;
    assert_eq!(
        lines(&server, 16).await,
        [
            "c:1|c",
            "c:-1|c",
            "c:7|c",
            "c:-3|c",
            "c:3|c",
            "g:+3|g",
            "g:-2|g",
            "g:+0.5|g",
            "g:+3|g",
            "g:-2|g",
            "t:1.5|ms",
            "t:2000|ms",
            "t:0.000001|ms",
            "t:250|ms",
            "t:1500|ms",
            "s:bob|s",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timer_guard_and_explicit_timer_send_the_measured_time() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = ordered(server.port()).prefix("app").build().unwrap();
    bounded("start", statsd.start()).await.unwrap();

    let mut timer = statsd.timer("explicit");
    timer.start().unwrap();
    let elapsed = timer.stop().unwrap();
    timer.send().unwrap();

    let before_guard = Instant::now();
    let guard = statsd.time("guard");
    let at_least = guard.elapsed();
    drop(guard);
    let at_most = before_guard.elapsed();

    statsd.time("cancelled").cancel();
    {
        let _scoped = statsd.time("scoped");
    }
    bounded("stop", statsd.stop()).await;

    let received = lines(&server, 3).await;
    assert_eq!(received.len(), 3, "{received:?}");
    assert!(
        received[0].starts_with("app.explicit:") && received[0].ends_with("|ms"),
        "{received:?}"
    );
    let sent_ms = value_of(&received[0]);
    let expected_ms = elapsed.as_nanos() as f64 / 1e6;
    assert!(
        (sent_ms - expected_ms).abs() < 1e-6,
        "sent {sent_ms} ms, measured {elapsed:?}"
    );

    assert!(
        received[1].starts_with("app.guard:") && received[1].ends_with("|ms"),
        "{received:?}"
    );
    let guard_ms = value_of(&received[1]);
    assert!(
        guard_ms >= at_least.as_nanos() as f64 / 1e6,
        "{guard_ms} < {at_least:?}"
    );
    assert!(
        guard_ms <= at_most.as_nanos() as f64 / 1e6,
        "{guard_ms} > {at_most:?}"
    );
    assert!(
        received[2].starts_with("app.scoped:") && received[2].ends_with("|ms"),
        "{received:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timer_misuse_is_an_error_and_sends_nothing() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = ordered(server.port()).build().unwrap();
    bounded("start", statsd.start()).await.unwrap();

    let misuse = |result: Result<(), Error>, what: &str| match result.map_err(Error::into_kind) {
        Err(ErrorKind::TimerMisuse(_)) => {}
        other => panic!("{what}: {other:?}"),
    };
    let mut timer = statsd.timer("misused");
    misuse(timer.stop().map(drop), "stop before start");
    misuse(timer.send(), "send before start");
    timer.start().unwrap();
    misuse(timer.start(), "start twice");
    misuse(timer.send(), "send before stop");
    timer.stop().unwrap();
    misuse(timer.stop().map(drop), "stop twice");
    timer.send().unwrap();
    misuse(timer.send(), "send twice");

    let mut never_started = statsd.timer("never");
    misuse(never_started.send(), "send of a timer never started");
    drop(never_started);

    statsd.incr("marker").unwrap();
    bounded("stop", statsd.stop()).await;
    let received = lines(&server, 2).await;
    assert_eq!(received.len(), 2, "{received:?}");
    assert!(
        received[0].starts_with("misused:") && received[0].ends_with("|ms"),
        "{received:?}"
    );
    assert_eq!(received[1], "marker:1|c");
    // Misuse is not an invalid metric.
    assert_eq!(statsd.stats().rejected, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_input_never_reaches_the_wire_and_never_affects_neighbours() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = ordered(server.port()).build().unwrap();
    bounded("start", statsd.start()).await.unwrap();

    let mut expected = Vec::new();
    let mut invalid = 0u64;
    let mut valid = 0u64;
    let mut ok = |statsd: &Connector, expected: &mut Vec<String>| {
        statsd.count("ok", valid as i64).unwrap();
        expected.push(format!("ok:{valid}|c"));
        valid += 1;
    };
    macro_rules! refused {
        ($call:expr, $pattern:pat) => {{
            ok(&statsd, &mut expected);
            let result = $call.map_err(Error::into_kind);
            assert!(
                matches!(result, Err($pattern)),
                "{} gave {result:?}",
                stringify!($call)
            );
            invalid += 1;
            ok(&statsd, &mut expected);
        }};
    }

    let long = "n".repeat(2000);
    for name in [
        "a:b",
        "a|b",
        "a\nb",
        "a b",
        "a#b",
        "a@b",
        "\0",
        "",
        "a,b",
        "a\r",
        "a\tb",
        long.as_str(),
    ] {
        refused!(statsd.incr(name), ErrorKind::InvalidName { .. });
        refused!(statsd.gauge(name, 1.0), ErrorKind::InvalidName { .. });
        refused!(
            statsd.timing(name, Duration::from_millis(1)),
            ErrorKind::InvalidName { .. }
        );
        refused!(
            statsd.inject_metric(name, "1", "c"),
            ErrorKind::InvalidName { .. }
        );
    }
    for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        refused!(statsd.gauge("g", value), ErrorKind::InvalidValue { .. });
        refused!(
            statsd.gauge_delta("g", value),
            ErrorKind::InvalidValue { .. }
        );
        refused!(statsd.histogram("h", value), ErrorKind::InvalidValue { .. });
        refused!(
            statsd.timing_secs("t", value),
            ErrorKind::InvalidValue { .. }
        );
    }
    refused!(
        statsd.timing_secs("t", -1.0),
        ErrorKind::InvalidValue { .. }
    );
    refused!(statsd.set("s", "a|b"), ErrorKind::InvalidValue { .. });
    refused!(statsd.set("s", ""), ErrorKind::InvalidValue { .. });
    for (value, code) in [
        ("NaN", "g"),
        ("inf", "g"),
        ("1e5", "c"),
        ("+1", "c"),
        ("-1", "ms"),
        ("", "c"),
        ("1|c", "c"),
        ("1\n", "c"),
        ("1.2.3", "g"),
        ("x", "c"),
        ("1 ", "c"),
        ("a:b", "s"),
    ] {
        refused!(
            statsd.inject_metric("m", value, code),
            ErrorKind::InvalidValue { .. }
        );
    }
    for code in ["x", "", "C", "ms ", "gauge", "c\n"] {
        refused!(
            statsd.inject_metric("m", "1", code),
            ErrorKind::InvalidType(_)
        );
    }
    for line in [
        "",
        "nocolon",
        "a:1",
        "a:1|x",
        "a:1|c|bogus",
        "a:1|c|@2",
        "a:1|c|@0",
        "a:x|c",
        ":1|c",
        "a b:1|c",
        "a:1|c\nb:1|c",
        "a:1|c|#k|v",
        "a:-1|ms",
    ] {
        refused!(statsd.send_line(line), ErrorKind::MalformedLine(_));
    }
    refused!(
        statsd.with_tags(&[("a|b", "v")]).incr("x"),
        ErrorKind::InvalidTag { .. }
    );
    refused!(
        statsd.with_tags(&[("", "v")]).incr("x"),
        ErrorKind::InvalidTag { .. }
    );
    refused!(
        statsd.with_tags(&[("k", "v,w")]).incr("x"),
        ErrorKind::InvalidTag { .. }
    );
    refused!(
        statsd.with_tags(&[("k", "v\n")]).incr("x"),
        ErrorKind::InvalidTag { .. }
    );
    for rate in [0.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
        refused!(
            statsd.sampled(rate).incr("x"),
            ErrorKind::InvalidSampleRate(_)
        );
    }
    // Validation comes before the draw: a bad name fails every sampled call.
    for _ in 0..64 {
        refused!(
            statsd.sampled(0.01).incr("bad:name"),
            ErrorKind::InvalidName { .. }
        );
    }
    // Nine tags that are each valid make a line over MAX_LINE_LENGTH.
    let value = "v".repeat(1000);
    let keys: Vec<String> = (1..=9).map(|i| format!("k{i}")).collect();
    let tags: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), value.as_str())).collect();
    refused!(
        statsd.with_tags(&tags).incr("x"),
        ErrorKind::LineTooLong { .. }
    );

    let stats = statsd.stats();
    assert_eq!(stats.rejected, invalid, "{stats:?}");
    assert_eq!(stats.accepted, valid);
    bounded("stop", statsd.stop()).await;
    let received = lines(&server, valid).await;
    assert_eq!(received, expected);
    assert_eq!(server.line_count(), valid);
    assert_clean(&server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_line_passes_sample_rate_and_tags_through_with_the_prefix() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = ordered(server.port()).prefix("app").build().unwrap();
    bounded("start", statsd.start()).await.unwrap();
    statsd.send_line("a:1|c|@0.5|#k:v").unwrap();
    statsd.send_line("b:+2|g\n").unwrap();
    statsd.send_line("c:1.5|ms|#url:http://x,bare").unwrap();
    statsd.send_line("d:alice|s").unwrap();
    statsd.send_line("e,k=v:3|c|@0.25").unwrap();
    bounded("stop", statsd.stop()).await;
    assert_eq!(
        lines(&server, 5).await,
        [
            "app.a:1|c|@0.5|#k:v",
            "app.b:+2|g",
            "app.c:1.5|ms|#url:http://x,bare",
            "app.d:alice|s",
            "app.e:3|c|@0.25|#k:v",
        ]
    );
    assert_eq!(statsd.stats().rejected, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tags_adds_tags_after_the_global_ones() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = ordered(server.port())
        .global_tag("env", "test")
        .build()
        .unwrap();
    let plain = ordered(server.port()).build().unwrap();
    bounded("start", statsd.start()).await.unwrap();
    statsd
        .with_tags(&[("region", "eu"), ("canary", "")])
        .incr("hits")
        .unwrap();
    statsd.incr("untagged").unwrap();
    statsd
        .with_tags(&[("k", "v")])
        .sampled(1.0)
        .gauge("g", -1.0)
        .unwrap();
    bounded("stop", statsd.stop()).await;
    bounded("start", plain.start()).await.unwrap();
    plain
        .with_tags(&[("region", "eu")])
        .timing("t", Duration::from_millis(2))
        .unwrap();
    plain.with_tags(&[]).incr("no.tags").unwrap();
    bounded("stop", plain.stop()).await;
    assert_eq!(
        lines(&server, 6).await,
        [
            "hits:1|c|#env:test,region:eu,canary",
            "untagged:1|c|#env:test",
            "g:0|g|#env:test,k:v",
            "g:-1|g|#env:test,k:v",
            "t:2|ms|#region:eu",
            "no.tags:1|c",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampled_at_rate_one_sends_everything_unmarked() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = builder(server.port()).build().unwrap();
    bounded("start", statsd.start()).await.unwrap();
    for _ in 0..1_000 {
        statsd.sampled(1.0).incr("always").unwrap();
    }
    bounded("stop", statsd.stop()).await;
    let received = lines(&server, 1_000).await;
    assert!(
        received.iter().all(|l| l == "always:1|c"),
        "{:?}",
        tail(&received)
    );
    assert_eq!(statsd.stats().accepted, 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampled_at_half_sends_about_half_marked_with_the_rate() {
    const CALLS: u64 = 10_000;
    let server = CaptureServer::start().await.unwrap();
    let statsd = builder(server.port()).build().unwrap();
    bounded("start", statsd.start()).await.unwrap();
    for _ in 0..CALLS {
        statsd.sampled(0.5).incr("half").unwrap();
    }
    let kept = statsd.stats().accepted;
    // Binomial(10 000, 0.5): the standard deviation is 50; this is ten of them.
    assert!(
        (4_500..=5_500).contains(&kept),
        "{kept} of {CALLS} kept at rate 0.5"
    );
    bounded("stop", statsd.stop()).await;
    let received = lines(&server, kept).await;
    assert_eq!(received.len() as u64, kept);
    assert!(
        received.iter().all(|l| l == "half:1|c|@0.5"),
        "{:?}",
        tail(&received)
    );
}

// ---------------------------------------------------------------------------
// UDP
// ---------------------------------------------------------------------------

/// A varied set of lines (12 to 73 bytes), with negative gauges (sent as a
/// `0|g` reset then the value, together at most 110 bytes) interleaved.
/// Returns the lines the server should receive.
fn emit_varied(statsd: &Connector, n: usize) -> Vec<String> {
    let mut expected = Vec::new();
    for i in 0..n {
        let name = format!("v{}.{i}", "x".repeat((i * 37) % 60));
        statsd.count(&name, i as i64).unwrap();
        expected.push(format!("{name}:{i}|c"));
        if i % 7 == 3 {
            let gauge = format!("neg{}.{i}", "y".repeat((i * 13) % 40));
            statsd.gauge(&gauge, -5.0).unwrap();
            expected.push(format!("{gauge}:0|g"));
            expected.push(format!("{gauge}:-5|g"));
        }
    }
    expected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_batches_whole_lines_into_shared_datagrams() {
    let server = CaptureServer::builder()
        .listen(Listen::Udp)
        .start()
        .await
        .unwrap();
    let statsd = builder(server.port())
        .protocol(Protocol::Udp)
        .max_payload(200)
        .build()
        .unwrap();
    let expected = emit_varied(&statsd, 2_000);
    bounded("start", statsd.start()).await.unwrap();
    wait_state(&statsd, "udp socket ready", |s| s.is_connected()).await;
    let report = bounded("stop", statsd.stop()).await;
    assert_eq!(report.undelivered, 0);

    let received = lines(&server, expected.len() as u64).await;
    assert_eq!(server.malformed(), Vec::<String>::new());
    let mut sorted_received = received.clone();
    sorted_received.sort();
    let mut sorted_expected = expected.clone();
    sorted_expected.sort();
    assert_eq!(
        sorted_received, sorted_expected,
        "lines lost, cut or duplicated"
    );
    let stats = statsd.stats();
    assert_eq!(stats.sent, expected.len() as u64);
    assert_eq!(stats.datagrams, server.datagrams(), "{stats:?}");
    assert!(
        stats.datagrams * 2 < expected.len() as u64,
        "{} datagrams for {} lines: lines are not batched",
        stats.datagrams,
        expected.len()
    );
}

/// The receive buffer the tests that read datagrams themselves ask for, so
/// that a burst is not dropped by the kernel before the test reads it.
const RECEIVE_BUFFER: usize = 16 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_datagrams_never_exceed_the_payload_limit_nor_split_a_line_or_a_gauge_reset() {
    const MAX: usize = 200;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    set_receive_buffer(&socket, RECEIVE_BUFFER);
    let port = socket.local_addr().unwrap().port();
    let statsd = builder(port)
        .protocol(Protocol::Udp)
        .max_payload(MAX)
        .build()
        .unwrap();

    let mut expected = emit_varied(&statsd, 2_000);
    // The longest line that fits (newline included) is accepted, one more byte is not.
    let fits = "f".repeat(MAX - ":1|c\n".len());
    statsd.incr(&fits).unwrap();
    expected.push(format!("{fits}:1|c"));
    let too_long = "f".repeat(MAX - ":1|c\n".len() + 1);
    assert!(matches!(
        statsd.incr(&too_long).map_err(Error::into_kind),
        Err(ErrorKind::LineTooLong {
            length: 201,
            limit: 200
        })
    ));

    bounded("start", statsd.start()).await.unwrap();
    let report = bounded("stop", statsd.stop()).await;
    assert_eq!(report.undelivered, 0);

    let mut datagrams = Vec::new();
    let mut received = Vec::new();
    let mut buffer = vec![0u8; 65_536];
    while received.len() < expected.len() {
        let n = bounded("datagrams", socket.recv(&mut buffer))
            .await
            .unwrap();
        let datagram = String::from_utf8(buffer[..n].to_vec()).expect("UTF-8 datagram");
        assert!(n <= MAX, "datagram of {n} bytes: {datagram:?}");
        assert!(
            datagram.ends_with('\n'),
            "datagram does not end with a newline: {datagram:?}"
        );
        let in_datagram: Vec<String> = datagram.lines().map(str::to_owned).collect();
        for (i, line) in in_datagram.iter().enumerate() {
            Line::parse(line).unwrap_or_else(|e| panic!("{line:?} in {datagram:?}: {e}"));
            if line.starts_with("neg") && line.ends_with(":0|g") {
                let name = &line[..line.len() - ":0|g".len()];
                assert_eq!(
                    in_datagram.get(i + 1).map(String::as_str),
                    Some(format!("{name}:-5|g").as_str()),
                    "gauge reset separated from its value: {datagram:?}"
                );
            }
        }
        received.extend(in_datagram);
        datagrams.push(datagram);
    }
    assert_eq!(received.len(), expected.len());
    let mut sorted_received = received.clone();
    sorted_received.sort();
    expected.sort();
    assert_eq!(sorted_received, expected, "lines lost, cut or duplicated");
    let stats = statsd.stats();
    assert_eq!(stats.datagrams, datagrams.len() as u64);
    assert!(
        datagrams.len() * 2 < received.len(),
        "{} datagrams for {} lines",
        datagrams.len(),
        received.len()
    );
    // Packed: everything was queued from one thread before start, so it
    // travels as one buffer, and a datagram ends only where the next line
    // would not fit, or where it would separate a gauge reset from its value.
    for pair in datagrams.windows(2) {
        let (this, next) = (&pair[0], &pair[1]);
        let mut next_lines = next.split_inclusive('\n');
        let first = next_lines.next().unwrap();
        let held_back = first.starts_with("neg") && first.ends_with(":0|g\n");
        let needed = if held_back {
            first.len() + next_lines.next().unwrap().len()
        } else {
            first.len()
        };
        assert!(this.len() + needed > MAX, "{this:?} had room for {first:?}");
    }
}

/// A negative gauge is two lines that must share a datagram: when the pair
/// cannot fit in one, it must be refused, not split (a lone `-5|g` is a
/// decrement).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_negative_gauge_too_long_for_one_datagram_is_refused_not_split() {
    const MAX: usize = 200;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    set_receive_buffer(&socket, RECEIVE_BUFFER);
    let port = socket.local_addr().unwrap().port();
    let statsd = builder(port)
        .protocol(Protocol::Udp)
        .max_payload(MAX)
        .build()
        .unwrap();

    // "n…:0|g\n" + "n…:-5|g\n" is 2 × name + 11 bytes: a 94-byte name makes
    // a pair of 199 bytes, which fits; 95 makes 201, which does not.
    let fits = "n".repeat((MAX - 11) / 2);
    let fits = fits.as_str();
    statsd.gauge(fits, -5.0).unwrap();
    let too_long = "n".repeat((MAX - 11) / 2 + 1);
    assert_eq!(2 * too_long.len() + 11, MAX + 1);
    assert!(
        too_long.len() + ":-5|g\n".len() <= MAX,
        "each line alone fits"
    );
    let refused = statsd.gauge(&too_long, -5.0);
    statsd.incr("after").unwrap();

    bounded("start", statsd.start()).await.unwrap();
    bounded("stop", statsd.stop()).await;
    let mut buffer = vec![0u8; 65_536];
    let mut received = Vec::new();
    while !received.iter().any(|d: &String| d.contains("after:1|c")) {
        let n = bounded("datagrams", socket.recv(&mut buffer))
            .await
            .unwrap();
        received.push(String::from_utf8(buffer[..n].to_vec()).unwrap());
    }
    assert!(
        received[0].starts_with(&format!("{fits}:0|g\n{fits}:-5|g\n")),
        "the pair that fits was split: {received:?}"
    );
    for datagram in &received {
        if let Some(at) = datagram.find(&format!("{too_long}:0|g\n")) {
            assert!(
                datagram[at..].contains(&format!("{too_long}:-5|g\n")),
                "a gauge reset was sent apart from its value: {received:?}"
            );
        }
    }
    assert!(
        matches!(
            refused.as_ref().map_err(Error::kind),
            Err(ErrorKind::LineTooLong { .. })
        ),
        "a negative gauge whose two lines exceed max_payload was accepted ({refused:?}), \
         so it must travel split: {received:?}"
    );
}

// ---------------------------------------------------------------------------
// Threads and dropping
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_calls_work_from_plain_threads_while_the_processor_runs() {
    const PER_THREAD: u64 = 10_000;
    let server = CaptureServer::start().await.unwrap();
    let statsd = builder(server.port()).build().unwrap();
    bounded("start", statsd.start()).await.unwrap();

    let threads: Vec<_> = (1..=4u64)
        .map(|t| {
            let statsd = statsd.clone();
            std::thread::spawn(move || {
                assert!(
                    tokio::runtime::Handle::try_current().is_err(),
                    "a plain thread has no runtime"
                );
                for _ in 0..PER_THREAD {
                    statsd.count("threads", t as i64).unwrap();
                }
            })
        })
        .collect();
    bounded(
        "the emitting threads",
        tokio::task::spawn_blocking(move || threads.into_iter().for_each(|t| t.join().unwrap())),
    )
    .await
    .unwrap();

    let received = lines(&server, 4 * PER_THREAD).await;
    let report = bounded("stop", statsd.stop()).await;
    assert_eq!(report.undelivered, 0);
    assert_eq!(server.line_count(), 4 * PER_THREAD);
    let mut per_value = BTreeMap::new();
    for line in &received {
        *per_value.entry(value_of(line) as u64).or_insert(0u64) += 1;
    }
    assert_eq!(
        per_value,
        (1..=4).map(|t| (t, PER_THREAD)).collect::<BTreeMap<_, _>>()
    );
    let sum: u64 = per_value.iter().map(|(v, n)| v * n).sum();
    assert_eq!(sum, PER_THREAD * (1 + 2 + 3 + 4));
    assert_clean(&server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_every_handle_without_stop_delivers_what_was_queued() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = builder(server.port()).build().unwrap();
    bounded("start", statsd.start()).await.unwrap();
    let mut state = statsd.watch_state();
    let clone = statsd.clone();
    for i in 0..1_000 {
        clone.count("dropped.handle", i).unwrap();
    }
    drop(statsd);
    // One handle left: the processor keeps running.
    assert!(state.borrow().is_running());
    drop(clone);
    let received = lines(&server, 1_000).await;
    assert_eq!(received.len(), 1_000);
    bounded(
        "the processor exiting on its own",
        state.wait_for(State::is_stopped),
    )
    .await
    .expect("the processor reports stopped before it goes");
    assert_clean(&server);
}

#[test]
fn dropping_connectors_outside_a_runtime_does_not_panic() {
    let statsd = Connector::builder().host("127.0.0.1").build().unwrap();
    statsd.incr("never.started").unwrap();
    let clone = statsd.clone();
    std::thread::spawn(move || drop(clone)).join().unwrap();
    drop(statsd);

    // Started on a runtime that is then shut down, used and dropped after.
    let dead = DeadPort::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let statsd = builder(dead.port()).build().unwrap();
    runtime.block_on(statsd.start()).unwrap();
    assert!(statsd.is_running());
    statsd.incr("stranded").unwrap();
    drop(runtime);
    assert!(
        statsd.is_stopped(),
        "a processor dropped with its runtime must report stopped"
    );
    let stats = statsd.stats();
    assert_eq!(stats.undelivered + stats.in_queue, 1, "{stats:?}");
    statsd.incr("after.runtime").unwrap();
    drop(statsd);
}

// ---------------------------------------------------------------------------
// Order
// ---------------------------------------------------------------------------

/// Lines emitted by one thread arrive in the order they were emitted, even
/// with a sharded queue and the processor taking the queue concurrently: for
/// gauges, the last value wins, so a reordering changes what the server
/// records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_from_one_thread_arrive_in_the_order_they_were_emitted() {
    const N: u64 = 200_000;
    let server = CaptureServer::start().await.unwrap();
    let statsd = builder(server.port()).shards(4).build().unwrap();
    bounded("start", statsd.start()).await.unwrap();
    for i in 0..N {
        statsd.gauge("order", i as f64).unwrap();
    }
    bounded("stop", statsd.stop()).await;
    let received = lines(&server, N).await;
    let values: Vec<u64> = received.iter().map(|l| value_of(l) as u64).collect();
    let inversions: Vec<(usize, u64, u64)> = values
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0] > w[1])
        .map(|(at, w)| (at, w[0], w[1]))
        .take(10)
        .collect();
    assert!(
        inversions.is_empty(),
        "lines arrived out of order; runs of consecutive values as received: {:?}",
        runs(&values)
    );
    assert_eq!(
        values.last(),
        Some(&(N - 1)),
        "the gauge's last value is not the last one set"
    );
}

/// The runs of consecutive values in `values` (at most 20), to show a reordering.
fn runs(values: &[u64]) -> Vec<(u64, u64)> {
    let mut runs = Vec::new();
    let Some(&first) = values.first() else {
        return runs;
    };
    let mut start = first;
    for w in values.windows(2) {
        if w[1] != w[0] + 1 {
            runs.push((start, w[0]));
            start = w[1];
        }
    }
    runs.push((start, values[values.len() - 1]));
    runs.truncate(20);
    runs
}

/// When a thread's home shard is full, its next lines go to other shards;
/// they must still be sent after the earlier ones. Deterministic: nothing runs
/// while the lines are queued, and of four fresh threads (each given the next
/// home shard) at least three have a home shard other than the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_overflowing_their_home_shard_keep_their_order() {
    let server = CaptureServer::start().await.unwrap();
    let mut reordered = Vec::new();
    for thread in 0..4 {
        server.clear();
        // 8 lines in 4 shards: 2 each, so the home shard overflows at once.
        let statsd = builder(server.port())
            .queue_capacity(8)
            .shards(4)
            .build()
            .unwrap();
        let emitter = statsd.clone();
        std::thread::spawn(move || {
            for i in 0..8 {
                emitter.gauge("overflow", f64::from(i)).unwrap();
            }
        })
        .join()
        .unwrap();
        assert_eq!(statsd.stats().in_queue, 8);
        bounded("start", statsd.start()).await.unwrap();
        bounded("stop", statsd.stop()).await;
        let values: Vec<u64> = lines(&server, 8)
            .await
            .iter()
            .map(|l| value_of(l) as u64)
            .collect();
        if values != (0..8).collect::<Vec<_>>() {
            reordered.push((thread, values));
        }
    }
    assert!(
        reordered.is_empty(),
        "gauge values sent out of order (thread, values): {reordered:?}"
    );
}

/// Each thread's lines keep their order when several threads emit at once
/// (here eight threads into four shards, so some share a home shard).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_from_each_thread_keep_their_order_when_threads_contend() {
    const THREADS: usize = 8;
    const PER_THREAD: u64 = 20_000;
    let server = CaptureServer::start().await.unwrap();
    let statsd = builder(server.port())
        .shards(4)
        .queue_capacity(THREADS * PER_THREAD as usize)
        .build()
        .unwrap();
    bounded("start", statsd.start()).await.unwrap();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let statsd = statsd.clone();
            std::thread::spawn(move || {
                let name = format!("thread{t}");
                for i in 0..PER_THREAD {
                    statsd.gauge(&name, i as f64).unwrap();
                }
            })
        })
        .collect();
    bounded(
        "the emitting threads",
        tokio::task::spawn_blocking(move || threads.into_iter().for_each(|t| t.join().unwrap())),
    )
    .await
    .unwrap();
    bounded("stop", statsd.stop()).await;
    let received = lines(&server, THREADS as u64 * PER_THREAD).await;
    let mut per_thread: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for line in &received {
        let parsed = Line::parse(line).unwrap();
        per_thread
            .entry(parsed.name.to_owned())
            .or_default()
            .push(parsed.value.parse().unwrap());
    }
    let reordered: Vec<(&String, Vec<(u64, u64)>)> = per_thread
        .iter()
        .filter(|(_, values)| values.windows(2).any(|w| w[0] > w[1]))
        .map(|(name, values)| (name, runs(values).into_iter().take(6).collect()))
        .collect();
    assert!(
        reordered.is_empty(),
        "{} of {THREADS} threads' lines arrived out of order (runs): {reordered:?}",
        reordered.len()
    );
    assert!(per_thread.values().all(|v| v.len() as u64 == PER_THREAD));
}
