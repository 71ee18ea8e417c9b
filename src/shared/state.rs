//! The processor's observable state.
//!
//! The original connector exposed three events (`running`, `stopped`,
//! `connected`); here they are one value in a `tokio::sync::watch` channel, so a
//! caller can read it at any time or await a change:
//!
//! ```no_run
//! # async fn f(connector: statsd_connector::Connector) {
//! let mut state = connector.watch_state();
//! state.wait_for(|s| s.is_connected()).await.ok();
//! # }
//! ```

/// Whether the processor runs and whether it holds a connection.
///
/// Read with [`Connector::state`](crate::Connector::state), or await a change
/// with [`Connector::watch_state`](crate::Connector::watch_state):
///
/// ```
/// let statsd = statsd_connector::Connector::builder().host("localhost").build()?;
/// let state = statsd.state();
/// assert!(state.is_stopped() && !state.is_running()); // not started yet
/// assert!(!state.is_connected());
/// # Ok::<(), statsd_connector::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct State {
    running: bool,
    connected: bool,
}

impl State {
    /// The processor task has been started and has not exited yet (it is still
    /// running while it drains on stop).
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// The processor is not running: never started, or stopped and exited.
    #[must_use]
    pub fn is_stopped(&self) -> bool {
        !self.running
    }

    /// The processor holds a connection (TCP connected, or UDP socket created).
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    pub(crate) fn set_running(&mut self, running: bool) -> bool {
        let changed = self.running != running;
        self.running = running;
        if !running {
            self.connected = false;
        }
        changed
    }

    pub(crate) fn set_connected(&mut self, connected: bool) -> bool {
        let changed = self.connected != connected;
        self.connected = connected;
        changed
    }
}
