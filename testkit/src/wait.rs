//! Waiting with a deadline: every wait in the integration tests either sees
//! its event or fails the test after [`WAIT`], never sleeps and hopes.

use std::future::Future;
use std::time::{Duration, Instant};

use statsd_connector::{Connector, State};

/// The longest any single wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// Awaits `future`, failing the test if it takes longer than `WAIT`.
pub async fn bounded<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(WAIT, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// Waits until the connector's state satisfies `predicate`.
pub async fn wait_state(connector: &Connector, what: &str, predicate: impl FnMut(&State) -> bool) {
    let mut state = connector.watch_state();
    bounded(what, state.wait_for(predicate))
        .await
        .unwrap_or_else(|_| panic!("state channel closed while waiting for {what}"));
}

/// Polls `condition` every few milliseconds until it holds, failing the test
/// after `WAIT`.
pub async fn poll_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
