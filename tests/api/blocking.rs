//! The connector in a program with no tokio runtime of its own: the capture
//! server gets a runtime (it is the test's server, not the program's), the
//! connector runs its processor on a background thread of its own. (The async
//! `start` outside a runtime: `behaviour::start_outside_a_runtime_is_an_error`.)

use std::time::Duration;

use statsd_connector::testing::CaptureServer;
use statsd_connector::{Connector, Metrics};

#[test]
fn start_blocking_and_stop_blocking_deliver_everything_without_a_runtime() {
    let server_runtime = tokio::runtime::Runtime::new().unwrap();
    let server = server_runtime.block_on(CaptureServer::start()).unwrap();

    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .build()
        .unwrap();
    statsd.start_blocking().unwrap();
    assert!(statsd.is_running());
    statsd.start_blocking().unwrap(); // starting twice is harmless
    for i in 0..10_000 {
        statsd.count("sync.work", i % 3).unwrap();
    }
    let report = statsd.stop_blocking().unwrap();
    assert_eq!(report.undelivered, 0);
    assert!(statsd.is_stopped());
    assert_eq!(statsd.stats().sent, 10_000);
    server_runtime
        .block_on(server.wait_for_lines(10_000, Duration::from_secs(5)))
        .unwrap();

    // Stopping again, and starting again, work as with the async API.
    assert_eq!(statsd.stop_blocking().unwrap().undelivered, 0);
    statsd.start_blocking().unwrap();
    statsd.incr("sync.again").unwrap();
    statsd.stop_blocking().unwrap();
    server_runtime
        .block_on(server.wait_for_lines(10_001, Duration::from_secs(5)))
        .unwrap();
    assert_eq!(server.lines().last().unwrap(), "sync.again:1|c");
}
