//! The telemetry's own server ([`Builder::telemetry_address`](crate::Builder::telemetry_address)).
//!
//! With a telemetry address, the report's lines do not go through the
//! metrics' queue: the processor writes them into a small queue of the sink's
//! own (one shard, [`CAPACITY`] lines) and wakes the sink's task, which the
//! processor starts, stops and owns. The task keeps its own connection (made,
//! lost and made again as the processor's is: the same transports, the
//! target's connect timeout, the metrics' `reconnect_sleep` between failed
//! attempts), so a telemetry server that is slow, absent or black-holed never
//! delays a metric.
//!
//! Accounting: a telemetry line for the sink is never in
//! [`Stats::accepted`](crate::Stats::accepted) or [`Stats::sent`](crate::Stats::sent),
//! so the metrics' identity is the application's alone. Each such line ends
//! in [`Stats::telemetry_sent`](crate::Stats::telemetry_sent) once written,
//! or in [`Stats::telemetry_lost`](crate::Stats::telemetry_lost) when the
//! sink's queue is full, or when the stop deadline passes before it could be
//! written (the task counts what it still holds as it ends, however it ends).
//! A line cut by a failed write is sent again whole on the next connection,
//! as the processor does.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::{sleep, sleep_until, timeout_at, Instant};

use crate::config::Config;
use crate::error::Error;
use crate::shared::ledger::{Ledger, Tally};
use crate::shared::queue::Queue;
use crate::shared::throttle::should_log;
use crate::shared::{Measured, Outcome, Shared};

use super::batch::Batch;
use super::transport::{self, Connection};

/// The most telemetry lines waiting for the telemetry server: about a
/// thousand reports' worth, a few hundred KiB at most.
pub(crate) const CAPACITY: usize = 16 * 1024;

/// What the processor and the sink's task share.
struct SinkState {
    queue: Queue,
    /// The task's own sent/held counts (the metrics' ledger is not touched
    /// but for `telemetry_sent` and `telemetry_lost`).
    ledger: Ledger,
    wake: Notify,
    shared: Arc<Shared>,
}

/// The processor's handle on the sink and its task.
pub(crate) struct TelemetrySink {
    state: Arc<SinkState>,
    stop: watch::Sender<Option<Instant>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for TelemetrySink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetrySink").finish_non_exhaustive()
    }
}

impl TelemetrySink {
    /// Starts the sink's task, for the server `target`.
    pub(crate) fn start(target: Config, shared: Arc<Shared>) -> TelemetrySink {
        let state = Arc::new(SinkState {
            queue: Queue::new(CAPACITY, 1),
            ledger: Ledger::default(),
            wake: Notify::new(),
            shared,
        });
        let (stop, stopping) = watch::channel(None);
        let task = tokio::spawn(run(state.clone(), target, stopping));
        TelemetrySink {
            state,
            stop,
            task: Some(task),
        }
    }

    /// Queues one telemetry line written by `write`; a full queue loses it
    /// (counted).
    pub(crate) fn push(&self, write: impl FnOnce(&mut Vec<u8>) -> Result<(), Error>) {
        let outcome = (self.state.queue).publish(1, Tally::OTHER, false, Measured(write));
        if !matches!(outcome, Outcome::Accepted) {
            self.state.shared.ledger.telemetry_lost(1);
        }
    }

    /// A report was queued: the task writes it.
    pub(crate) fn wake(&self) {
        self.state.wake.notify_one();
    }

    /// Asks the task to write what it holds by `deadline` and waits for it
    /// (a little longer, then it is aborted: what it held is counted lost
    /// either way).
    pub(crate) async fn stop(&mut self, deadline: Instant) {
        let _ = self.stop.send(Some(deadline));
        self.state.wake.notify_one();
        if let Some(mut task) = self.task.take() {
            let grace = deadline + Duration::from_millis(100);
            if timeout_at(grace, &mut task).await.is_err() {
                task.abort();
                let _ = task.await;
            }
        }
    }
}

impl Drop for TelemetrySink {
    fn drop(&mut self) {
        // The processor ended without a stop (a panic): the task ends now;
        // its guard counts what it held.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// What the task holds; dropped however the task ends, it counts the lines
/// that were not written as lost.
struct Held {
    batch: Batch,
    state: Arc<SinkState>,
}

impl Drop for Held {
    fn drop(&mut self) {
        let lost = self.batch.discard() + self.state.queue.clear();
        self.state.shared.ledger.telemetry_lost(lost as u64);
    }
}

async fn run(
    state: Arc<SinkState>,
    target: Config,
    mut stopping: watch::Receiver<Option<Instant>>,
) {
    let mut held = Held {
        batch: Batch::default(),
        state: state.clone(),
    };
    let mut connection: Option<Connection> = None;
    let mut failures = 0u64;
    let reconnect_sleep = state.shared.config.reconnect_sleep;
    loop {
        let deadline = *stopping.borrow();
        if held.batch.is_empty() {
            let lines = held.batch.refill(&state.queue);
            state.ledger.taken(lines as u64);
        }
        if held.batch.is_empty() {
            if deadline.is_some() {
                break;
            }
            tokio::select! {
                () = state.wake.notified() => {}
                _ = stopping.changed() => {}
            }
            continue;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        if connection.is_none() {
            let mut limit = target.connect_timeout;
            if let Some(deadline) = deadline {
                limit = limit.min(deadline.saturating_duration_since(Instant::now()));
            }
            match transport::open_with_timeout(&target, limit).await {
                Ok(opened) => {
                    failures = 0;
                    connection = Some(opened);
                }
                Err(error) => {
                    failures += 1;
                    if should_log(failures) {
                        tracing::warn!(
                            host = %target.host,
                            port = target.port,
                            %error,
                            attempt = failures,
                            "connection to the statsd telemetry server failed"
                        );
                    }
                    pause(reconnect_sleep, deadline, &mut stopping).await;
                    continue;
                }
            }
        }
        let Some(open) = connection.as_mut() else {
            continue;
        };
        let before = state.ledger.snapshot((0, 0)).sent;
        let sent = match deadline {
            Some(deadline) => timeout_at(deadline, open.send(&mut held.batch, &state.ledger))
                .await
                .ok(),
            None => tokio::select! {
                sent = open.send(&mut held.batch, &state.ledger) => Some(sent),
                // A stop interrupts a write the server does not read; the
                // loop resumes it under the deadline.
                _ = stopping.changed() => None,
            },
        };
        let written = state.ledger.snapshot((0, 0)).sent - before;
        state.shared.ledger.telemetry_sent(written);
        if let Some(Err(error)) = sent {
            tracing::debug!(%error, "statsd telemetry connection lost");
            connection = None;
            held.batch.rewind_partial_line();
            pause(reconnect_sleep, deadline, &mut stopping).await;
        }
    }
    if let Some(connection) = connection {
        let deadline = (*stopping.borrow()).unwrap_or_else(Instant::now);
        connection.close(deadline).await;
    }
    drop(held);
}

/// Sleeps `duration`, or until the deadline, or until a stop is asked.
async fn pause(
    duration: Duration,
    deadline: Option<Instant>,
    stopping: &mut watch::Receiver<Option<Instant>>,
) {
    let until = Instant::now() + duration;
    match deadline {
        Some(deadline) => sleep_until(until.min(deadline)).await,
        None => {
            tokio::select! {
                () = sleep(duration) => {}
                _ = stopping.changed() => {}
            }
        }
    }
}
