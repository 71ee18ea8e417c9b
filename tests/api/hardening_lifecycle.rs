//! The connector's life cycle under hostile or careless use: a server that
//! half-closes every connection, the blocking API called from inside a
//! runtime, calls after a stop, why delivery failed, and `Debug` output.
//!
//! Public API only, plus the capture server; the half-closing server is a
//! small local helper.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use statsd_connector::testing::CaptureServer;
use statsd_connector::{Connector, ErrorKind, Metrics};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// A TCP server that calls `shutdown(SHUT_WR)` on every connection it accepts
/// and keeps reading from it: counts connections, keeps complete lines.
struct HalfClosingServer {
    port: u16,
    connections: Arc<AtomicU64>,
    lines: Arc<Mutex<Vec<String>>>,
    arrived: Arc<Notify>,
}

impl HalfClosingServer {
    async fn start() -> HalfClosingServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicU64::new(0));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let (count, keep, notify) = (connections.clone(), lines.clone(), arrived.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let (keep, notify) = (keep.clone(), notify.clone());
                tokio::spawn(async move {
                    // Our side is done writing (we never wrote): FIN now.
                    let _ = stream.shutdown().await;
                    let mut partial = Vec::new();
                    let mut buf = [0u8; 16 * 1024];
                    while let Ok(n @ 1..) = stream.read(&mut buf).await {
                        partial.extend_from_slice(&buf[..n]);
                        let Some(end) = partial.iter().rposition(|&b| b == b'\n') else {
                            continue;
                        };
                        let complete: Vec<u8> = partial.drain(..=end).collect();
                        let text = String::from_utf8(complete).unwrap();
                        keep.lock().unwrap().extend(text.lines().map(str::to_owned));
                        notify.notify_waiters();
                    }
                });
            }
        });
        HalfClosingServer {
            port,
            connections,
            lines,
            arrived,
        }
    }

    fn line_count(&self) -> usize {
        self.lines.lock().unwrap().len()
    }

    /// Waits until `n` lines have arrived, or panics at the deadline.
    async fn wait_for_lines(&self, n: usize, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let notified = self.arrived.notified();
            if self.line_count() >= n {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("only {} of {n} lines arrived", self.line_count());
            }
        }
    }
}

fn kind(error: statsd_connector::Error) -> ErrorKind {
    error.into_kind()
}

// 1. A peer's EOF must not cost a connection per batch.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_half_closes_every_connection_costs_at_most_one_connection_per_reconnect_sleep(
) {
    let server = HalfClosingServer::start().await;
    let reconnect_sleep = Duration::from_millis(100);
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.port)
        .reconnect_sleep(reconnect_sleep)
        .stop_timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let began = Instant::now();
    statsd.start().await.unwrap();
    // A steady stream: two lines a millisecond for about a second.
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let mut emitted = 0;
    for _ in 0..600 {
        tick.tick().await;
        for _ in 0..2 {
            statsd.count(&format!("steady.{emitted}"), 1).unwrap();
            emitted += 1;
        }
    }
    let report = statsd.stop().await;
    let elapsed = began.elapsed();
    assert_eq!(report.undelivered, 0, "{:?}", statsd.stats());
    server
        .wait_for_lines(emitted, Duration::from_secs(10))
        .await;

    let connections = server.connections.load(Ordering::SeqCst);
    // At most one connection per reconnect_sleep, plus the first and a few
    // for timer slack (the old behaviour was one per batch: hundreds).
    let bound = (elapsed.as_millis() / reconnect_sleep.as_millis()) as u64 + 3;
    assert!(
        connections <= bound,
        "{connections} connections in {elapsed:?} (bound {bound}): {:?}",
        statsd.stats()
    );
    let stats = statsd.stats();
    assert!(stats.short_connections > 0, "{stats:?}");
    let mut lines = server.lines.lock().unwrap().clone();
    lines.sort();
    lines.dedup();
    assert_eq!(lines.len(), emitted, "every line arrives");
}

// 2. The blocking API inside a runtime: a typed error, never a panic or a hang.

#[test]
fn start_blocking_inside_block_on_is_an_inside_runtime_error_not_a_panic() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let statsd = Connector::builder().host("127.0.0.1").build().unwrap();
    let result = runtime.block_on(async { statsd.start_blocking() });
    let error = result.unwrap_err();
    assert!(error.to_string().contains("start().await"), "{error}");
    assert!(matches!(
        kind(error),
        ErrorKind::InsideRuntime {
            call: "start_blocking",
            ..
        }
    ));
    assert!(statsd.is_stopped());
}

#[tokio::test(flavor = "current_thread")]
async fn start_blocking_on_a_running_connector_inside_a_runtime_is_a_no_op() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .build()
        .unwrap();
    statsd.start().await.unwrap();
    statsd.start_blocking().unwrap();
    assert!(statsd.is_running());
    statsd.incr("still.works").unwrap();
    assert_eq!(statsd.stop().await.undelivered, 0);
    server
        .wait_for_lines(1, Duration::from_secs(5))
        .await
        .unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn stop_blocking_inside_a_current_thread_runtime_returns_an_error_instead_of_hanging() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .build()
        .unwrap();
    statsd.start().await.unwrap();
    statsd.incr("kept").unwrap();
    let error = statsd.stop_blocking().unwrap_err();
    assert!(error.to_string().contains("stop().await"), "{error}");
    assert!(matches!(
        kind(error),
        ErrorKind::InsideRuntime {
            call: "stop_blocking",
            ..
        }
    ));
    // Nothing was stopped: the async stop still delivers.
    assert!(statsd.is_running());
    assert_eq!(statsd.stop().await.undelivered, 0);
    server
        .wait_for_lines(1, Duration::from_secs(5))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_blocking_inside_a_task_on_a_two_worker_runtime_returns() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .build()
        .unwrap();
    statsd.start().await.unwrap();
    let task = tokio::spawn({
        let statsd = statsd.clone();
        async move { statsd.stop_blocking() }
    });
    let result = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("stop_blocking returned")
        .unwrap();
    assert!(matches!(
        result.map_err(kind),
        Err(ErrorKind::InsideRuntime { .. })
    ));
    statsd.stop().await;
}

#[test]
fn stop_blocking_is_bounded_by_its_deadline_when_the_processor_cannot_run() {
    // The processor runs on a runtime that nobody drives after start.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .stop_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    runtime.block_on(statsd.start()).unwrap();
    let began = Instant::now();
    let result = statsd.stop_blocking();
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );
    assert!(matches!(result.map_err(kind), Err(ErrorKind::StopTimedOut)));
    drop(runtime);
}

// 3. Calls after a stop are refused, counted, until the next start.

#[tokio::test(flavor = "current_thread")]
async fn metric_calls_after_a_stop_are_refused_as_stopped_and_counted_as_dropped() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .build()
        .unwrap();
    let hits = statsd.counter("hits").unwrap();
    statsd.start().await.unwrap();
    statsd.incr("before").unwrap();
    statsd.stop().await;

    assert!(matches!(
        statsd.incr("after").map_err(kind),
        Err(ErrorKind::Stopped)
    ));
    assert!(matches!(hits.incr().map_err(kind), Err(ErrorKind::Stopped)));
    // A negative gauge is two lines: both counted.
    assert!(statsd.gauge("g", -1.0).is_err());
    assert!(statsd.send_line("relayed:1|c").is_err());
    let stats = statsd.stats();
    assert_eq!((stats.accepted, stats.in_queue), (1, 0), "{stats:?}");
    assert_eq!(stats.dropped, 1 + 1 + 2 + 1, "{stats:?}");
    // emitted = rejected + dropped + accepted
    assert_eq!(stats.rejected + stats.dropped + stats.accepted, 6);

    // Stopping again has nothing to count.
    assert_eq!(statsd.stop().await.undelivered, 0);
    server
        .wait_for_lines(1, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(server.lines(), ["before:1|c"]);
}

#[tokio::test(flavor = "current_thread")]
async fn start_after_stop_accepts_metric_calls_again() {
    let server = CaptureServer::start().await.unwrap();
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .build()
        .unwrap();
    statsd.incr("queued.before.the.first.start").unwrap();
    statsd.start().await.unwrap();
    statsd.stop().await;
    assert!(statsd.incr("refused").is_err());
    statsd.start().await.unwrap();
    statsd.incr("accepted.again").unwrap();
    assert_eq!(statsd.stop().await.undelivered, 0);
    server
        .wait_for_lines(2, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        server.lines(),
        ["queued.before.the.first.start:1|c", "accepted.again:1|c"]
    );
}

// 4. Why delivery failed, whatever the log filter.

#[tokio::test(flavor = "current_thread")]
async fn last_error_says_why_nothing_could_be_delivered() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(port)
        .build()
        .unwrap();
    assert_eq!(statsd.last_error(), None);
    statsd.start().await.unwrap();
    statsd.incr("lost").unwrap();
    let report = statsd.stop_with_timeout(Duration::from_millis(300)).await;
    assert_eq!(report.undelivered, 1);
    let error = statsd.last_error().expect("a connection error");
    assert!(
        error.to_lowercase().contains("connection refused"),
        "{error}"
    );
    assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
    assert!(!error.contains('\n'), "{error}");
}

// 7. Debug shows configuration and state, never contents.

#[tokio::test(flavor = "current_thread")]
async fn handles_debug_print_in_under_a_kilobyte_on_one_line() {
    let statsd = Connector::builder()
        .host("localhost")
        .queue_capacity(10_000)
        .build()
        .unwrap();
    for _ in 0..1000 {
        statsd
            .incr("some.fairly.long.metric.name.to.fill.the.queue")
            .unwrap();
    }
    let counter = statsd.counter("a.counter").unwrap();
    let timer = statsd.timer("a.timer");
    let tags = [("region", "eu"), ("host", "a")];
    let scoped = statsd.with_tags(&tags);
    for (what, shown) in [
        ("connector", format!("{statsd:?}")),
        ("counter", format!("{counter:?}")),
        ("timer", format!("{timer:?}")),
        ("scoped", format!("{scoped:?}")),
    ] {
        assert!(shown.len() < 1024, "{what}: {} bytes: {shown}", shown.len());
        assert!(!shown.contains('\n'), "{what}: {shown}");
        assert!(!shown.contains("fill.the.queue"), "{what}: {shown}");
    }
}
