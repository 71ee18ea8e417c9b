//! What the caller's side and the background side share, depending on
//! neither of them.
//!
//! The handles ([`Connector`](crate::Connector), [`Counter`](crate::Counter),
//! timers) and the processor task each hold an `Arc<Shared>`: the checked
//! configuration, the line format, the queue, the [`Ledger`], the
//! aggregation tables, the observable state and the stop channel. Neither
//! side imports the other; both import this.
//!
//! - `queue`: the bounded per-thread buffers the formatted lines wait in
//!   (`slot`: one thread's buffer and its hand-off protocol; `loom`: the
//!   one switch to the model checker).
//! - `ledger`: the counters behind [`Stats`](crate::Stats), by transition.
//! - `state`: running and connected, as a `watch` value.
//! - `stop`: the stop request and its deadline.
//! - `aggregate`: the opt-in aggregation tables (callers fold in, the
//!   processor flushes).
//! - `throttle`: the streak counting behind every throttled warning.
//! - `home`: a small number per thread, for the aggregation stripes.
//! - `mutex`: the one way a std mutex is locked.
//! - `cardinality`: the cap on distinct tag sets per metric name.

pub(crate) mod aggregate;
pub(crate) mod cardinality;
mod home;
pub(crate) mod ledger;
mod loom;
mod mutex;
pub(crate) mod queue;
pub(crate) mod random;
pub(crate) mod slot;
pub(crate) mod state;
pub(crate) mod stop;
pub(crate) mod throttle;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::Config;
use crate::error::{Error, ErrorKind};
use crate::wire::format::{LineFormat, MetricLine};
use aggregate::{Aggregate, Aggregator};
use ledger::{Ledger, Stats, Tally};
use mutex::lock;
use queue::Queue;
pub(crate) use slot::{FillLine, InPlace, LineWriter, Measured, Outcome};
use state::State;
use stop::{StopRequest, StopSignal};
use throttle::Throttle;

/// Everything the handles and the processor share.
pub(crate) struct Shared {
    /// The checked configuration.
    pub(crate) config: Config,
    /// How lines are written (prefix, type prefixes, tags).
    pub(crate) format: LineFormat,
    /// The bounded queue of formatted lines.
    pub(crate) queue: Queue,
    /// The counters behind [`Stats`].
    pub(crate) ledger: Ledger,
    /// The aggregation tables, when aggregation is on.
    pub(crate) aggregator: Option<Aggregator>,
    /// The cap on tag sets per name, when it is on (`cardinality`).
    pub(crate) guard: Option<cardinality::TagSetGuard>,
    /// The streak of drops, for the throttled warning.
    drops: Throttle,
    /// Running and connected, observable.
    state: watch::Sender<State>,
    /// The stop channel of the running processor, if one runs.
    control: Mutex<Option<StopRequest>>,
    /// The thread of `Connector::start_blocking`, if it started one.
    background: Mutex<Option<JoinHandle<()>>>,
    /// Whether a processor was ever started: before that, calls queue
    /// whatever the stops (they wait for the first start).
    ever_started: AtomicBool,
    /// The last connection error the processor met, for
    /// [`Connector::last_error`](crate::Connector::last_error).
    last_error: Mutex<Option<String>>,
}

/// Configuration and state, never contents: a handle that users keep in
/// their own structs must print in one line, without waiting for a lock.
impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = *self.state.borrow();
        f.debug_struct("Connector")
            .field("host", &self.config.host)
            .field("port", &self.config.port)
            .field("protocol", &self.config.protocol)
            .field("enabled", &self.config.enabled)
            .field("running", &state.is_running())
            .field("connected", &state.is_connected())
            .field("in_queue", &self.queue.depth_without_waiting())
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// The shared state for a checked configuration.
    pub(crate) fn new(config: Config) -> Shared {
        let format = LineFormat::new(
            config.prefix.as_deref(),
            config.type_prefixes,
            config.tag_format,
            &config.global_tags,
            config.max_line_length(),
        )
        .with_origin(
            config.container_id(),
            config.external_env(),
            config.cardinality(),
        );
        Shared {
            format,
            queue: Queue::new(config.queue_capacity, config.emitting_threads),
            aggregator: config.aggregate.map(|_| {
                // Packed values (protocol v1.1) only for a DogStatsD server.
                let packing = config.dogstatsd.then_some(config.max_samples_per_context);
                Aggregator::new(config.emitting_threads, packing)
            }),
            guard: (config.ops.max_tag_sets)
                .map(|limit| cardinality::TagSetGuard::new(limit, config.emitting_threads)),
            ledger: Ledger::default(),
            drops: Throttle::default(),
            state: watch::Sender::new(State::default()),
            control: Mutex::new(None),
            background: Mutex::new(None),
            ever_started: AtomicBool::new(false),
            last_error: Mutex::new(None),
            config,
        }
    }

    /// Writes `lines` lines with `write` into the queue and counts what
    /// became of them: the one place a caller's lines are counted. A full
    /// queue drops them (counted, with a throttled warning); once a stop has
    /// completed (and until the next start) they are refused, counted as
    /// dropped too (the slot refuses the publish, see
    /// `Queue::close_and_clear`); a line the writer refuses as bad input
    /// (too long) is counted as rejected. Callers validate first, so that an
    /// invalid call is rejected as invalid whatever the queue's state.
    #[inline(always)]
    pub(crate) fn publish<W: LineWriter>(
        &self,
        lines: usize,
        tally: Tally,
        write: W,
    ) -> Outcome<W::Declined> {
        let outcome = self.queue.publish(lines, tally, true, write);
        self.count(lines, &outcome, W::DECLINES_AS_REJECTED);
        outcome
    }

    /// The stopped check of [`Shared::publish`], for what bypasses the queue
    /// (a data point folded into the aggregation tables): `Err` when a stop
    /// has completed, counted as dropped.
    #[inline]
    pub(crate) fn accepting(&self) -> Result<(), Error> {
        if self.queue.is_closed() {
            self.refused(1);
            return Err(Error::from(ErrorKind::Stopped));
        }
        Ok(())
    }

    /// [`Shared::publish`] without the stopped check: the processor's own
    /// lines (aggregates, telemetry) and the last flush of a stop.
    #[inline]
    fn enqueue<F>(&self, lines: usize, tally: Tally, write: F) -> Outcome<Error>
    where
        F: FnOnce(&mut Vec<u8>) -> Result<(), Error>,
    {
        let outcome = self.queue.publish(lines, tally, false, Measured(write));
        self.count(lines, &outcome, true);
        outcome
    }

    /// Counts what a publish did: lines accepted end a streak of drops;
    /// a full queue or a stopped connector is a drop (with its throttled
    /// warning); a line declined as bad input is a rejection.
    #[inline(always)]
    fn count<D>(&self, lines: usize, outcome: &Outcome<D>, declined_is_rejected: bool) {
        match outcome {
            Outcome::Accepted => self.drops.reset(),
            other => self.count_unpublished(lines, other, declined_is_rejected),
        }
    }

    /// The failing half of [`Shared::count`].
    #[cold]
    #[inline(never)]
    fn count_unpublished<D>(&self, lines: usize, outcome: &Outcome<D>, declined_is_rejected: bool) {
        match outcome {
            Outcome::Accepted => {}
            Outcome::Full => self.dropped(lines),
            Outcome::Closed => self.refused(lines),
            Outcome::Declined(_) if declined_is_rejected => self.ledger.rejected(),
            Outcome::Declined(_) => {}
        }
    }

    #[cold]
    fn refused(&self, lines: usize) {
        self.ledger.dropped(lines as u64);
        if let Some(n) = self.drops.record() {
            tracing::warn!(
                dropped_in_a_row = n,
                "statsd connector stopped: metric dropped"
            );
        }
    }

    /// A stop has completed: once a processor has run, refuse metric calls
    /// from now on (until a start); count whatever is still queued (never
    /// started, or raced in after the processor's last look) as undelivered.
    /// Returns how many lines that was.
    pub(crate) fn stopped(&self) -> u64 {
        self.flush_aggregates();
        let discarded = if self.ever_started.load(Relaxed) {
            self.queue.close_and_clear()
        } else {
            self.queue.clear()
        } as u64;
        self.ledger.discarded(0, discarded);
        discarded
    }

    /// Whether a processor runs (or is being started).
    pub(crate) fn is_started(&self) -> bool {
        self.control().is_some()
    }

    /// Remembers the last connection error (cold: only on failures).
    #[cold]
    pub(crate) fn set_last_error(&self, error: String) {
        *lock(&self.last_error) = Some(error);
    }

    /// The last connection error, if any.
    pub(crate) fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }

    #[cold]
    fn dropped(&self, lines: usize) {
        self.ledger.dropped(lines as u64);
        if let Some(n) = self.drops.record() {
            tracing::warn!(
                dropped_in_a_row = n,
                capacity = self.config.queue_capacity,
                "statsd queue full: metric dropped"
            );
        }
    }

    /// A snapshot of every counter, the queue's included.
    pub(crate) fn stats(&self) -> Stats {
        self.ledger.snapshot(self.queue.counts())
    }

    /// Lines ever accepted, by tally (see [`Tally`]).
    pub(crate) fn accepted_by_tally(&self) -> [u64; Tally::COUNT] {
        self.queue.accepted_by_tally()
    }

    /// Moves everything aggregated into the queue as lines.
    pub(crate) fn flush_aggregates(&self) {
        if let Some(aggregator) = &self.aggregator {
            let refused = aggregator.flush(|name, tags, kind, aggregate| match aggregate {
                Aggregate::One(value) => {
                    let lines = LineFormat::lines_for(kind, value);
                    // Names and tags were validated when they were first
                    // emitted; a full queue counts the drop.
                    let metric = MetricLine {
                        tags,
                        ..MetricLine::new(name, value, kind)
                    };
                    let tally = Tally::of(kind);
                    let _ =
                        self.enqueue(lines, tally, |buf| self.format.write_metric(buf, &metric));
                }
                Aggregate::Packed { values, rate } => {
                    // As many values per line as fit; each line is pushed on
                    // its own, so a full queue drops (and counts) whole lines.
                    let mut rest = values;
                    while !rest.is_empty() {
                        let mut written = 0;
                        let pushed = self.enqueue(1, Tally::of(kind), |buf| {
                            written = self
                                .format
                                .write_packed(buf, name, kind, rest, rate, tags)?;
                            Ok(())
                        });
                        if !matches!(pushed, Outcome::Accepted) {
                            break;
                        }
                        rest = &rest[written..];
                    }
                }
            });
            // Aggregates that could not be written (not finite): not sent.
            for _ in 0..refused {
                self.ledger.rejected();
            }
        }
    }

    /// The processor's state now.
    pub(crate) fn state(&self) -> State {
        *self.state.borrow()
    }

    /// A receiver that sees every change of state.
    pub(crate) fn watch_state(&self) -> watch::Receiver<State> {
        self.state.subscribe()
    }

    /// Claims the right to start a processor: `None` if one runs already.
    /// Marks the connector running from this instant, so that a stop that
    /// races with the start waits for the task instead of finding nothing.
    pub(crate) fn claim_start(&self) -> Option<StopSignal> {
        let mut control = self.control();
        if control.is_some() {
            return None;
        }
        let (request, signal) = stop::channel();
        *control = Some(request);
        self.queue.open();
        self.ever_started.store(true, Relaxed);
        self.state.send_if_modified(|state| state.set_running(true));
        Some(signal)
    }

    /// Asks a running processor to stop by `deadline` (a later request keeps
    /// the first deadline). Returns whether a processor runs.
    pub(crate) fn request_stop(&self, deadline: Instant) -> bool {
        match self.control().as_ref() {
            Some(stop) => {
                stop.request(deadline);
                true
            }
            None => false,
        }
    }

    /// The thread of `start_blocking`, if one runs.
    pub(crate) fn background(&self) -> MutexGuard<'_, Option<JoinHandle<()>>> {
        lock(&self.background)
    }

    fn control(&self) -> MutexGuard<'_, Option<StopRequest>> {
        lock(&self.control)
    }

    pub(crate) fn set_connected(&self, connected: bool) {
        self.state
            .send_if_modified(|state| state.set_connected(connected));
    }

    /// Called by the processor as its very last act.
    pub(crate) fn processor_exited(&self) {
        *self.control() = None;
        self.state
            .send_if_modified(|state| state.set_running(false));
    }
}

/// The handles' share of the connector: every [`Connector`](crate::Connector)
/// clone, [`Counter`](crate::Counter) and timer holds one `Arc<Handle>`, and
/// when the last one goes nobody can call `stop()` any more, so the processor
/// is asked to deliver what is queued and exit by itself.
#[derive(Debug)]
pub(crate) struct Handle {
    pub(crate) shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let deadline = Instant::now() + self.shared.config.stop_timeout;
        self.shared.request_stop(deadline);
    }
}
