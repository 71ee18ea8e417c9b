//! Lifecycle: configuration refused at build time, start and stop, the
//! connection's states, reconnects and what they keep, draining on stop,
//! disabled connectors and configuration from the environment.

use std::collections::HashSet;
use std::future::Future;
use std::time::{Duration, Instant};

use statsd_connector::testing::CaptureServer;
use statsd_connector::{Builder, Connector, Error, ErrorKind, Metrics, Protocol};
use statsd_connector_testkit::wait::{bounded, poll_until, wait_state};

use super::helpers::{
    assert_clean, builder, counting_resolver, env_of, lines, ordered, runs, value_of, DeadPort,
};

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
        // One buffer, for the order of the two lines (see `ordered`).
        let statsd = Builder::from_env_with(env_of(&env))
            .unwrap()
            .emitting_threads(1)
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

/// A stop that arrives while the first connection attempt is in flight
/// (right after `start`) lets that attempt finish and drains on it: the
/// server sees one connection, carrying every line, not an empty one
/// followed by a second. Many rounds, since the window is short.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_during_the_first_connect_drains_on_that_connection() {
    let mut two_connections = Vec::new();
    for round in 0..40 {
        let server = CaptureServer::start().await.unwrap();
        let statsd = builder(server.port()).build().unwrap();
        for i in 0..10 {
            statsd.incr(&format!("early.{i}")).unwrap();
        }
        bounded("start", statsd.start()).await.unwrap();
        let report = bounded("stop", statsd.stop()).await;
        assert_eq!(report.undelivered, 0, "round {round}");
        server
            .wait_for_lines(10, Duration::from_secs(5))
            .await
            .unwrap();
        if server.connections() != 1 {
            two_connections.push((round, server.connections()));
        }
    }
    assert!(
        two_connections.is_empty(),
        "(round, connections) where the drain opened another: {two_connections:?}"
    );
}
