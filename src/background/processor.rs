//! The background task that owns the socket: connect, write, reconnect, drain.
//!
//! Its life, top to bottom in [`run`]:
//!
//! 1. **Serve** until a stop is requested: keep a connection (on failure, log
//!    throttled, sleep `reconnect_sleep`, try again), take what is queued (a
//!    bounded piece of each thread's buffer at a time, see `Queue::take`),
//!    write it, and wait for the queue (or the peer closing) when there is
//!    nothing to do.
//! 2. **Drain** until the stop deadline: deliver what is still held or queued,
//!    reconnecting if need be.
//! 3. **Close**: shut the connection down and wait until the server has
//!    acknowledged what was written, or the deadline passes.
//! 4. **Account** for what could not be delivered, and report stopped.
//!
//! Nothing here can take the host application down: a panic inside the task is
//! caught, logged, and ends it through the same accounting as a stop.

use std::any::Any;
use std::future::Future;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::oneshot;
use tokio::time::{sleep, sleep_until, timeout_at, Instant};

use crate::shared::stop::StopSignal;
use crate::shared::throttle::should_log;
use crate::shared::Shared;

use super::batch::Batch;
use super::resolve::{self, AddressWatch};
use super::telemetry::Telemetry;
use super::transport::{self, Connection};

/// Below this many bytes a write counts as small: the processor then waits
/// `batch_delay` before it takes the queue again.
const SMALL_WRITE: u64 = 64 * 1024;

/// The task's body: see the module documentation.
pub(crate) async fn run(shared: Arc<Shared>, stop: StopSignal, started: oneshot::Sender<()>) {
    // Whatever ends this task, even the runtime dropping it, the guard marks
    // it stopped and counts what it held as undelivered.
    let exit = ExitGuard {
        shared: shared.clone(),
    };
    let _ = started.send(());
    tracing::debug!("statsd processor started");

    let mut processor = Processor {
        shared,
        batch: Batch::default(),
        connection: None,
        failed_attempts: 0,
        ever_connected: false,
        connected_at: None,
        short_streak: 0,
        back_off: false,
        telemetry: None,
        watch: None,
    };
    let outcome = CatchUnwind(Box::pin(processor.run(stop))).await;
    if let Err(panic) = outcome {
        tracing::error!(
            panic = panic_message(&panic),
            "statsd processor failed unexpectedly; stopping"
        );
        processor.abandon();
    }
    tracing::info!("statsd processor is exiting");
    drop(exit);
}

/// The processor's state between iterations.
struct Processor {
    shared: Arc<Shared>,
    /// Lines taken from the queue and not yet written.
    batch: Batch,
    /// The open connection, if any.
    connection: Option<Connection>,
    /// Failed connection attempts since the last success.
    failed_attempts: u64,
    /// Whether a connection ever succeeded (the next one is a reconnect).
    ever_connected: bool,
    /// When the open connection was made.
    connected_at: Option<Instant>,
    /// Connections in a row that ended within their first `reconnect_sleep`.
    short_streak: u64,
    /// The last connection ended within its first `reconnect_sleep`: wait
    /// that long before the next attempt.
    back_off: bool,
    /// The self-telemetry schedule, when it is on.
    telemetry: Option<Telemetry>,
    /// The address refresh schedule, when it is on.
    watch: Option<AddressWatch>,
}

/// What woke the serving loop while it had nothing to write.
enum Idle {
    Stop(Instant),
    Work,
    PeerClosed(io::Error),
}

/// How a step of the serve loop ended.
enum Turn {
    /// A stop was requested, with this deadline.
    Stop(Instant),
    /// Start the loop's turn over.
    Again,
    /// Go on to the next step.
    Go,
}

/// The serve loop's duties on a clock: flushing the aggregates, and
/// starting a new window of the tag-set cap (each flush starts one when
/// aggregation is on).
struct Clocks {
    /// When the aggregates are due next, and the interval.
    flush: Option<(Instant, std::time::Duration)>,
    /// When the tag-set cap's window ends (without aggregation), and its length.
    window: Option<(Instant, std::time::Duration)>,
}

impl Clocks {
    fn new(shared: &Shared) -> Clocks {
        let now = Instant::now();
        let flush_interval = shared.config.aggregate;
        let window = (shared.guard.is_some() && flush_interval.is_none())
            .then_some(shared.config.ops.tag_set_window);
        Clocks {
            flush: flush_interval.map(|interval| (now + interval, interval)),
            window: window.map(|window| (now + window, window)),
        }
    }

    /// Does what is due now; a late turn does not make the next one early.
    fn run_due(&mut self, shared: &Shared) {
        let now = Instant::now();
        if let Some((due, interval)) = &mut self.flush {
            if now >= *due {
                shared.flush_aggregates();
                if let Some(guard) = &shared.guard {
                    guard.reset();
                }
                *due = (*due).max(now - *interval) + *interval;
            }
        }
        if let (Some((due, window)), Some(guard)) = (&mut self.window, &shared.guard) {
            if now >= *due {
                guard.reset();
                *due = (*due).max(now - *window) + *window;
            }
        }
    }
}

impl Processor {
    async fn run(&mut self, mut stop: StopSignal) {
        self.telemetry = (self.shared.config.telemetry)
            .map(|interval| Telemetry::new(interval, Instant::now(), &self.shared));
        self.watch = AddressWatch::new(&self.shared.config);
        let deadline = self.serve(&mut stop).await;
        // What was aggregated or counted since the last report goes out with
        // the rest.
        if let Some(telemetry) = &mut self.telemetry {
            telemetry.report(&self.shared);
        }
        self.shared.flush_aggregates();
        let queued = self.shared.queue.counts().1 + self.batch.lines() as u64;
        tracing::info!(queued, "statsd processor stopping; draining");
        // The telemetry's own server, if any, drains in its own task
        // meanwhile.
        let mut telemetry = self.telemetry.take();
        let sink = async {
            if let Some(telemetry) = &mut telemetry {
                telemetry.stop_sink(deadline).await;
            }
        };
        let metrics = async {
            self.drain(deadline).await;
            self.close(deadline).await;
        };
        tokio::join!(metrics, sink);
    }

    /// Step 1: serve until a stop is requested; returns the stop deadline.
    /// Each turn: the duties on a clock, a connection, a batch, a write.
    async fn serve(&mut self, stop: &mut StopSignal) -> Instant {
        let mut clocks = Clocks::new(&self.shared);
        loop {
            if let Some(deadline) = stop.requested() {
                return deadline;
            }
            // Every turn of the loop passes by at least every
            // `wait_timeout`: close enough to the intervals.
            clocks.run_due(&self.shared);
            if let Some(telemetry) = &mut self.telemetry {
                telemetry.report_if_due(&self.shared, Instant::now());
            }
            match self.connected(stop).await {
                Turn::Stop(deadline) => return deadline,
                Turn::Again => continue,
                Turn::Go => {}
            }
            if self.batch.is_empty() && !refill(&mut self.batch, &self.shared) {
                match self.idle(stop).await {
                    Turn::Stop(deadline) => return deadline,
                    Turn::Again | Turn::Go => continue,
                }
            }
            if let Turn::Stop(deadline) = self.write(stop).await {
                return deadline;
            }
        }
    }

    /// Makes sure there is a connection: backs off after a connection that
    /// ended at once, connects, and, between two batches, moves to the
    /// server's new address if it moved. `Again` after a failed attempt
    /// (and its `reconnect_sleep`).
    async fn connected(&mut self, stop: &mut StopSignal) -> Turn {
        if self.connection.is_none() && std::mem::take(&mut self.back_off) {
            // A server that accepts and then closes at once (or half
            // closes) must not cost a connection per batch.
            tokio::select! {
                deadline = stop.wait() => return Turn::Stop(deadline),
                () = sleep(self.shared.config.reconnect_sleep) => {}
            }
        }
        if self.connection.is_none() {
            let connected = {
                let attempt = self.connect(None);
                tokio::pin!(attempt);
                tokio::select! {
                    connected = &mut attempt => connected,
                    deadline = stop.wait() => {
                        // The attempt goes on, but only until the stop's
                        // deadline (an address that never answers must not
                        // hold the stop for the whole connect timeout). The
                        // server may have accepted it already: the drain
                        // then writes on it, instead of leaving it empty and
                        // opening a second connection.
                        let _ = timeout_at(deadline, attempt).await;
                        return Turn::Stop(deadline);
                    }
                }
            };
            if !connected {
                tokio::select! {
                    deadline = stop.wait() => return Turn::Stop(deadline),
                    () = sleep(self.shared.config.reconnect_sleep) => return Turn::Again,
                }
            }
        }
        if self.batch.is_empty() && self.connection.is_some() {
            // Between two batches, the server may have moved (the look runs
            // on a task of its own and never makes us wait).
            let moved = match &mut self.watch {
                Some(watch) => watch.poll(&self.shared).await,
                None => None,
            };
            if let Some(connection) = moved {
                self.move_to(connection).await;
            }
        }
        if self.connection.is_some() {
            Turn::Go
        } else {
            Turn::Again
        }
    }

    /// Nothing to write: announces sleep, looks once more, then sleeps until
    /// a caller queues a line, the server goes away, a stop arrives, or
    /// `wait_timeout` passes.
    async fn idle(&mut self, stop: &mut StopSignal) -> Turn {
        let Some(connection) = self.connection.as_mut() else {
            return Turn::Again;
        };
        let queue = &self.shared.queue;
        connection.refresh();
        queue.going_to_sleep();
        let idle = if refill(&mut self.batch, &self.shared) {
            Idle::Work
        } else {
            tokio::select! {
                deadline = stop.wait() => Idle::Stop(deadline),
                () = queue.woken() => Idle::Work,
                () = sleep(self.shared.config.wait_timeout) => Idle::Work,
                error = connection.closed() => Idle::PeerClosed(error),
            }
        };
        queue.awake();
        match idle {
            Idle::Stop(deadline) => Turn::Stop(deadline),
            Idle::Work => Turn::Again,
            Idle::PeerClosed(error) => {
                self.disconnected(error);
                Turn::Again
            }
        }
    }

    /// Writes what the batch holds; after a small write, lets the next
    /// batch grow for `batch_delay`.
    async fn write(&mut self, stop: &mut StopSignal) -> Turn {
        let Some(connection) = self.connection.as_mut() else {
            return Turn::Again;
        };
        // A stop interrupts a write that the server is not reading: the
        // drain then resumes it under the stop deadline.
        let bytes_before = self.shared.ledger.sent_bytes();
        let sent = tokio::select! {
            deadline = stop.wait() => return Turn::Stop(deadline),
            sent = connection.send(&mut self.batch, &self.shared.ledger) => sent,
        };
        if let Err(error) = sent {
            self.disconnected(error);
            return Turn::Again;
        }
        // A small write means callers emit slowly or in bursts: let the
        // next batch grow a little instead of chasing every line with a
        // system call (and pulling the queue's cache lines away from the
        // callers each time). Large writes mean we are behind: go on.
        let written = self.shared.ledger.sent_bytes() - bytes_before;
        let delay = self.shared.config.batch_delay;
        if written < SMALL_WRITE && !delay.is_zero() {
            tokio::select! {
                deadline = stop.wait() => return Turn::Stop(deadline),
                () = sleep(delay) => {}
                () = self.shared.queue.woken() => {}
            }
        }
        Turn::Go
    }

    /// Step 2: deliver what is held and queued, until `deadline`.
    async fn drain(&mut self, deadline: Instant) {
        loop {
            if self.batch.is_empty() && !refill(&mut self.batch, &self.shared) {
                return;
            }
            if Instant::now() >= deadline {
                return;
            }
            if self.connection.is_none() && std::mem::take(&mut self.back_off) {
                let retry = Instant::now() + self.shared.config.reconnect_sleep;
                sleep_until(retry.min(deadline)).await;
                continue;
            }
            if self.connection.is_none() && !self.connect(Some(deadline)).await {
                let retry = Instant::now() + self.shared.config.reconnect_sleep;
                sleep_until(retry.min(deadline)).await;
                continue;
            }
            let Some(connection) = self.connection.as_mut() else {
                continue;
            };
            match timeout_at(
                deadline,
                connection.send(&mut self.batch, &self.shared.ledger),
            )
            .await
            {
                Ok(Ok(())) => {}
                Ok(Err(error)) => self.disconnected(error),
                Err(_elapsed) => return,
            }
        }
    }

    /// Steps 3 and 4: close in order, then count what was not delivered.
    async fn close(&mut self, deadline: Instant) {
        if let Some(connection) = self.connection.take() {
            let unacknowledged = connection.close(deadline).await;
            self.shared.ledger.possibly_lost(unacknowledged);
            self.shared.set_connected(false);
        }
        self.abandon();
    }

    /// Discards whatever is still held or queued, counting it as undelivered.
    fn abandon(&mut self) {
        let ledger = &self.shared.ledger;
        let held = self.batch.discard() as u64;
        let queued = self.shared.queue.clear() as u64;
        ledger.discarded(held, queued);
        let undelivered = held + queued;
        if undelivered > 0 {
            tracing::warn!(
                undelivered,
                "statsd processor stopped with undelivered metrics"
            );
        }
        if let Some(connection) = self.connection.take() {
            ledger.possibly_lost(connection.possibly_lost());
        }
        self.shared.set_connected(false);
    }

    /// One connection attempt, bounded by the connect timeout (and `deadline`).
    /// Logs the outcome, throttled; returns whether it succeeded.
    async fn connect(&mut self, deadline: Option<Instant>) -> bool {
        let config = &self.shared.config;
        let mut timeout = config.connect_timeout;
        if let Some(deadline) = deadline {
            timeout = timeout.min(deadline.saturating_duration_since(Instant::now()));
        }
        match transport::open_with_timeout(config, timeout).await {
            Ok(connection) => {
                let peer = connection.peer();
                if self.ever_connected {
                    self.shared.ledger.reconnected();
                }
                let attempts = self.failed_attempts + 1;
                if config.protocol.is_unix() {
                    tracing::info!(path = %config.host, %peer, attempts, "connected to statsd");
                } else {
                    tracing::info!(
                        host = %config.host,
                        port = config.port,
                        %peer,
                        attempts,
                        "connected to statsd"
                    );
                }
                self.ever_connected = true;
                self.connected_at = Some(Instant::now());
                self.failed_attempts = 0;
                if let Some(watch) = &mut self.watch {
                    watch.connected(config, &connection);
                }
                self.connection = Some(connection);
                self.shared.set_connected(true);
                true
            }
            Err(error) => {
                self.failed_attempts += 1;
                self.shared.ledger.connect_failed();
                let unix = config.protocol.is_unix();
                let target = if unix {
                    config.host.to_string()
                } else {
                    format!("{}:{}", config.host, config.port)
                };
                self.shared
                    .set_last_error(format!("connection to statsd at {target} failed: {error}"));
                if should_log(self.failed_attempts) {
                    let attempt = self.failed_attempts;
                    if unix {
                        tracing::warn!(path = %config.host, attempt, %error, "connection to statsd failed");
                    } else {
                        tracing::warn!(
                            host = %config.host,
                            port = config.port,
                            attempt,
                            %error,
                            "connection to statsd failed"
                        );
                    }
                }
                false
            }
        }
    }

    /// Hands over to `connection` (the server moved): the old connection is
    /// shut down after its last whole write, as a stop shuts it down, and
    /// what it cannot have acknowledged within the grace counts as possibly
    /// lost. The batch is empty here: nothing taken is left behind.
    async fn move_to(&mut self, connection: Connection) {
        let config = &self.shared.config;
        let peer = connection.peer();
        if let Some(watch) = &mut self.watch {
            watch.connected(config, &connection);
        }
        self.failed_attempts = 0;
        self.connected_at = Some(Instant::now());
        let old = self.connection.replace(connection);
        self.shared.ledger.address_changed();
        self.shared.set_connected(true);
        tracing::info!(%peer, "statsd connection moved to the server's new address");
        if let Some(old) = old {
            let deadline = Instant::now() + resolve::close_grace(config);
            let unacknowledged = old.close(deadline).await;
            self.shared.ledger.possibly_lost(unacknowledged);
        }
    }

    /// The connection failed: count what it may have lost, and make sure the
    /// next connection starts at a line boundary.
    /// A connection that ended within its first `reconnect_sleep` makes the
    /// next attempt wait that long, is counted, and is logged throttled.
    fn disconnected(&mut self, error: io::Error) {
        self.shared
            .set_last_error(format!("statsd connection lost: {error}"));
        if let Some(connection) = self.connection.take() {
            let possibly_lost = connection.possibly_lost();
            self.shared.ledger.possibly_lost(possibly_lost);
            let reconnect_sleep = self.shared.config.reconnect_sleep;
            let lived = self.connected_at.take().map(|at| at.elapsed());
            if lived.is_some_and(|lived| lived < reconnect_sleep) {
                self.short_streak += 1;
                self.back_off = true;
                self.shared.ledger.short_connection();
                if should_log(self.short_streak) {
                    tracing::warn!(
                        %error,
                        possibly_lost,
                        in_a_row = self.short_streak,
                        ?reconnect_sleep,
                        "statsd connection ended right after it was made; waiting before the next"
                    );
                }
            } else {
                self.short_streak = 0;
                tracing::warn!(%error, possibly_lost, "statsd connection lost");
            }
        }
        self.batch.rewind_partial_line();
        self.shared.set_connected(false);
    }
}

/// Takes everything queued into the batch; returns whether there was anything.
fn refill(batch: &mut Batch, shared: &Shared) -> bool {
    let lines = batch.refill(&shared.queue);
    shared.ledger.taken(lines as u64);
    lines > 0
}

/// Marks the processor stopped when the task ends, however it ends.
struct ExitGuard {
    shared: Arc<Shared>,
}

impl Drop for ExitGuard {
    fn drop(&mut self) {
        // Normally `close` already emptied `held`; if the runtime dropped the
        // task mid-flight, what the processor held is gone: count it.
        self.shared.ledger.abandon_held();
        // Nothing is held and only this task takes from the queue: the
        // ledger must add up exactly here.
        let queue = &self.shared.queue;
        let in_flight = if queue.is_closed() {
            0
        } else {
            2 * queue.slot_count()
        };
        self.shared.ledger.check_identity(queue.counts(), in_flight);
        self.shared.processor_exited();
    }
}

/// Runs a future, turning a panic inside it into an `Err`.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

fn panic_message(panic: &Box<dyn Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
