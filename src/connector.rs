//! The handle applications hold: cheap to clone, callable from any thread or
//! task without `.await`, and in charge of starting and stopping the processor.
//!
//! A metric call validates its input, formats the line into a queue shard and
//! returns: it never touches the network and never waits for it. Everything
//! the handles and the processor share lives in one `Shared`.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::aggregate::{Aggregator, Counter};
use crate::blocking;
use crate::config::{Builder, Config};
use crate::error::Error;
use crate::format::{LineFormat, Value};
use crate::line::Line;
use crate::metric::MetricType;
use crate::metrics::Metrics;
use crate::processor::{self, StopSignal};
use crate::queue::Queue;
use crate::state::State;
use crate::stats::{Counters, Stats};
use crate::timer::{Timer, TimerGuard};
use crate::validate;

/// How a call is sampled, for [`Connector::emit`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Rate {
    /// Every call is sent; no `|@rate` on the line.
    Every,
    /// Keep the call with this probability, drawn here, after validation.
    Draw(f64),
    /// The caller already drew (a pre-formatted line): send with this rate.
    Drawn(f64),
}

/// Sends metrics to a statsd server.
///
/// Build one with [`Connector::builder`] (or [`Connector::from_env`]), call
/// [`start`](Connector::start) when the application starts, emit metrics with
/// the [`Metrics`] methods from anywhere, and call [`stop`](Connector::stop)
/// before the application exits so that what is queued is delivered.
///
/// ```no_run
/// use statsd_connector::{Connector, Metrics};
///
/// # #[tokio::main] async fn main() -> Result<(), statsd_connector::Error> {
/// let statsd = Connector::builder().host("127.0.0.1").prefix("shop").build()?;
/// statsd.start().await?;
///
/// statsd.incr("orders")?;                     // shop.orders:1|c
/// statsd.gauge("cart.items", 3.0)?;           // shop.cart.items:3|g
/// statsd.timing("checkout", std::time::Duration::from_millis(42))?;
///
/// let report = statsd.stop().await;           // flushes, closes, waits
/// assert_eq!(report.undelivered, 0);
/// # Ok(()) }
/// ```
///
/// Clones share one queue and one processor. Dropping the last clone without
/// `stop` asks the processor to deliver what is queued and exit on its own.
#[derive(Clone, Debug)]
pub struct Connector {
    handle: Arc<Handle>,
}

/// The part of a connector that only handles hold: when the last one goes,
/// the processor is asked to stop.
#[derive(Debug)]
struct Handle {
    shared: Arc<Shared>,
}

/// Everything the handles and the processor share.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The checked configuration.
    pub(crate) config: Config,
    /// How lines are written (prefix, type prefixes, tags).
    pub(crate) format: LineFormat,
    /// The bounded queue of formatted lines.
    pub(crate) queue: Queue,
    /// The counters behind [`Stats`].
    pub(crate) counters: Counters,
    /// The aggregation tables, when aggregation is on.
    pub(crate) aggregator: Option<Aggregator>,
    /// Running and connected, observable.
    state: watch::Sender<State>,
    /// The stop channel of the running processor, if one runs.
    control: Mutex<Option<watch::Sender<Option<Instant>>>>,
    /// The thread of [`Connector::start_blocking`], if it started one.
    background: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// What a stop achieved.
///
/// ```
/// use statsd_connector::{Connector, Metrics};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), statsd_connector::Error> {
/// let statsd = Connector::builder().host("localhost").build()?;
/// statsd.incr("requests")?;
/// // Never started: what was queued cannot be delivered, and the report says so.
/// let report = statsd.stop().await;
/// assert_eq!((report.undelivered, report.possibly_lost), (1, 0));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StopReport {
    /// Metrics (lines) that were queued and could not be delivered before the
    /// deadline, or because the server could not be reached: discarded.
    pub undelivered: u64,
    /// Lines written to a connection that failed (or was not fully
    /// acknowledged when the deadline passed) during this stop: they may not
    /// have arrived.
    pub possibly_lost: u64,
}

impl Connector {
    /// A builder with every default; see [`Builder`].
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A connector configured from the `STATSD_*` environment variables; see
    /// [`Builder::from_env_with`]. Without `STATSD_HOST` it is disabled.
    ///
    /// ```
    /// use statsd_connector::{Connector, Metrics};
    ///
    /// let statsd = Connector::from_env()?;
    /// statsd.incr("started")?; // does nothing when disabled, so no `if` is needed
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn from_env() -> Result<Connector, Error> {
        Ok(Connector::new(Config::from_env()?))
    }

    /// A connector for a checked configuration. Nothing is sent until
    /// [`start`](Connector::start); metrics may be queued before.
    ///
    /// ```
    /// use statsd_connector::{Config, Connector};
    ///
    /// let config = Config::builder().host("localhost").build_config()?;
    /// let statsd = Connector::new(config);
    /// assert_eq!(statsd.config().host(), "localhost");
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn new(config: Config) -> Connector {
        let format = LineFormat::new(
            config.prefix.as_deref(),
            config.type_prefixes,
            config.tag_format,
            &config.global_tags,
            config.max_line_length(),
        );
        let queue = Queue::new(config.queue_capacity, config.shards);
        let aggregator = config.aggregate.map(|_| Aggregator::new(config.shards));
        let shared = Arc::new(Shared {
            format,
            queue,
            aggregator,
            counters: Counters::default(),
            state: watch::Sender::new(State::default()),
            control: Mutex::new(None),
            background: Mutex::new(None),
            config,
        });
        Connector {
            handle: Arc::new(Handle { shared }),
        }
    }

    #[inline]
    fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    /// The configuration this connector was built with.
    pub fn config(&self) -> &Config {
        &self.shared().config
    }

    /// Starts the processor task on the current tokio runtime and returns once
    /// it runs. Starting a running connector does nothing; a disabled one
    /// never starts.
    ///
    /// # Errors
    /// [`Error::NoRuntime`] when called outside a tokio runtime.
    ///
    /// ```
    /// use std::time::Duration;
    /// use statsd_connector::{testing::CaptureServer, Connector, Metrics};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = CaptureServer::start().await?;
    /// let statsd = Connector::builder().host("127.0.0.1").port(server.port()).build()?;
    /// statsd.incr("early")?;   // queued before start, sent once the processor runs
    /// statsd.start().await?;
    /// statsd.start().await?;   // already running: does nothing
    /// assert!(statsd.is_running());
    /// statsd.stop().await;
    /// server.wait_for_lines(1, Duration::from_secs(5)).await?;
    /// assert_eq!(server.lines(), ["early:1|c"]);
    /// # Ok(()) }
    /// ```
    pub async fn start(&self) -> Result<(), Error> {
        let shared = &self.handle.shared;
        if !shared.config.enabled {
            return Ok(());
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let Some((stop, started_sender, started)) = shared.claim_start() else {
            return Ok(());
        };
        runtime.spawn(processor::run(shared.clone(), stop, started_sender));
        // An error means the task was dropped before it ran (the runtime is
        // shutting down); the exit guard has already reported it stopped.
        let _ = started.await;
        Ok(())
    }

    /// For programs without a tokio runtime: starts the processor on a small
    /// runtime of its own, on a background thread named `statsd-connector`,
    /// and returns once it runs. Stop it with [`stop_blocking`](Self::stop_blocking)
    /// (or [`stop`](Self::stop) from async code). Must not be called from
    /// within an async task (it blocks).
    ///
    /// ```no_run
    /// use statsd_connector::{Connector, Metrics};
    ///
    /// fn main() -> Result<(), statsd_connector::Error> {
    ///     let statsd = Connector::builder().host("127.0.0.1").build()?;
    ///     statsd.start_blocking()?;
    ///     statsd.incr("jobs.done")?;
    ///     let report = statsd.stop_blocking();
    ///     assert_eq!(report.undelivered, 0);
    ///     Ok(())
    /// }
    /// ```
    pub fn start_blocking(&self) -> Result<(), Error> {
        let shared = &self.handle.shared;
        if !shared.config.enabled {
            return Ok(());
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let Some((stop, started_sender, started)) = shared.claim_start() else {
            return Ok(());
        };
        let task_shared = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("statsd-connector".into())
            .spawn(move || runtime.block_on(processor::run(task_shared, stop, started_sender)));
        match spawned {
            Ok(thread) => {
                *shared.background() = Some(thread);
                let _ = started.blocking_recv();
                Ok(())
            }
            Err(error) => {
                shared.processor_exited();
                Err(Error::Io(error))
            }
        }
    }

    /// [`stop`](Self::stop) for programs without a runtime: blocks until the
    /// processor has delivered what is queued (within the stop timeout) and
    /// exited. Must not be called from within an async task.
    ///
    /// ```
    /// use std::time::Duration;
    /// use statsd_connector::{testing::CaptureServer, Connector, Metrics};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # // The capture server needs a runtime; the connector does not.
    /// # let runtime = tokio::runtime::Runtime::new()?;
    /// # let server = runtime.block_on(CaptureServer::start())?;
    /// let statsd = Connector::builder().host("127.0.0.1").port(server.port()).build()?;
    /// statsd.start_blocking()?;
    /// statsd.incr("jobs.done")?;
    /// let report = statsd.stop_blocking(); // returns once the queue is delivered
    /// assert_eq!(report.undelivered, 0);
    /// # runtime.block_on(server.wait_for_lines(1, Duration::from_secs(5)))?;
    /// assert_eq!(server.lines(), ["jobs.done:1|c"]);
    /// # Ok(()) }
    /// ```
    pub fn stop_blocking(&self) -> StopReport {
        let report = blocking::block_on(self.stop());
        let thread = self.shared().background().take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
        report
    }

    /// Stops the processor: delivers what is queued (trying for at most the
    /// configured [`stop_timeout`](Builder::stop_timeout)), closes the
    /// connection and returns once the task has exited.
    ///
    /// Stopping twice, or a connector that never started, is harmless; in the
    /// latter case what was queued is discarded and counted as undelivered.
    ///
    /// ```
    /// use std::time::Duration;
    /// use statsd_connector::{testing::CaptureServer, Connector, Metrics};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = CaptureServer::start().await?;
    /// let statsd = Connector::builder().host("127.0.0.1").port(server.port()).build()?;
    /// statsd.start().await?;
    /// statsd.incr("last.words")?;
    /// let report = statsd.stop().await;
    /// assert_eq!(report.undelivered, 0);
    /// assert!(statsd.is_stopped());
    /// server.wait_for_lines(1, Duration::from_secs(5)).await?;
    /// assert_eq!(server.lines(), ["last.words:1|c"]);
    /// # Ok(()) }
    /// ```
    pub async fn stop(&self) -> StopReport {
        self.stop_with_timeout(self.shared().config.stop_timeout)
            .await
    }

    /// Like [`stop`](Connector::stop), with its own deadline: when the server
    /// cannot be reached in time, returns at the deadline with the number of
    /// metrics that were not delivered.
    ///
    /// ```no_run
    /// # async fn f(statsd: statsd_connector::Connector) {
    /// let report = statsd.stop_with_timeout(std::time::Duration::from_secs(2)).await;
    /// if report.undelivered > 0 {
    ///     eprintln!("{} metrics could not be delivered", report.undelivered);
    /// }
    /// # }
    /// ```
    pub async fn stop_with_timeout(&self, timeout: Duration) -> StopReport {
        let shared = self.shared();
        let before = shared.counters.snapshot();
        let deadline = Instant::now() + timeout;
        let mut state = shared.state.subscribe();
        let asked = shared.request_stop(deadline);
        if asked {
            // `Err` only if the sender is gone, which `shared` prevents.
            let _ = state.wait_for(State::is_stopped).await;
        } else {
            shared.flush_aggregates();
            let discarded = shared.queue.clear() as u64;
            Counters::add(&shared.counters.undelivered, discarded);
        }
        let after = shared.counters.snapshot();
        StopReport {
            undelivered: after.undelivered - before.undelivered,
            possibly_lost: after.possibly_lost - before.possibly_lost,
        }
    }

    /// The processor's state now.
    ///
    /// `is_running`, `is_stopped` and `is_connected` below read the same state;
    /// [`watch_state`](Connector::watch_state) waits for a change:
    ///
    /// ```
    /// use statsd_connector::{testing::CaptureServer, Connector};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = CaptureServer::start().await?;
    /// let statsd = Connector::builder().host("127.0.0.1").port(server.port()).build()?;
    /// assert!(statsd.is_stopped());
    /// statsd.start().await?;
    /// assert!(statsd.is_running());
    /// // Connecting happens in the background: wait for it.
    /// statsd.watch_state().wait_for(|state| state.is_connected()).await?;
    /// assert!(statsd.state().is_connected());
    /// statsd.stop().await;
    /// assert!(statsd.is_stopped() && !statsd.is_connected());
    /// # Ok(()) }
    /// ```
    pub fn state(&self) -> State {
        *self.shared().state.borrow()
    }

    /// Whether the processor runs (it still does while it drains on stop).
    pub fn is_running(&self) -> bool {
        self.state().is_running()
    }

    /// Whether the processor is stopped (or was never started).
    pub fn is_stopped(&self) -> bool {
        self.state().is_stopped()
    }

    /// Whether the processor holds a connection.
    pub fn is_connected(&self) -> bool {
        self.state().is_connected()
    }

    /// A receiver that sees every change of state; await one with
    /// [`watch::Receiver::changed`] or [`watch::Receiver::wait_for`].
    pub fn watch_state(&self) -> watch::Receiver<State> {
        self.shared().state.subscribe()
    }

    /// The counters now; see [`Stats`].
    pub fn stats(&self) -> Stats {
        self.shared().stats()
    }

    /// A counter handle for `name`: the name is checked here, once, and each
    /// increment costs less than a [`Metrics::count`] call (with aggregation
    /// on, one atomic add). See [`Counter`].
    ///
    /// ```
    /// use statsd_connector::Connector;
    ///
    /// let statsd = Connector::builder().host("localhost").build()?;
    /// let hits = statsd.counter("hits")?;
    /// hits.incr()?;
    /// assert!(statsd.counter("bad:name").is_err()); // refused once, here
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn counter(&self, name: &str) -> Result<Counter, Error> {
        let shared = self.shared();
        if let Err(error) = validate::name(name, shared.format.name_overhead(MetricType::Counter)) {
            return Err(self.rejected(error));
        }
        Ok(Counter::new(self.clone(), name, shared.aggregator.as_ref()))
    }

    /// A timer for `name`, to be started, stopped and sent explicitly; misuse
    /// (stop before start, sending twice) is an error, never a wrong number.
    pub fn timer(&self, name: &str) -> Timer {
        Timer::new(self.clone(), name)
    }

    /// Starts timing `name` now; the timing is sent when the guard is dropped.
    ///
    /// ```
    /// # let statsd = statsd_connector::Connector::builder().host("localhost").build()?;
    /// {
    ///     let _timing = statsd.time("db.query");
    ///     // ... the work being timed ...
    /// } // db.query:<elapsed ms>|ms is queued here
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn time(&self, name: &str) -> TimerGuard {
        TimerGuard::new(self.clone(), name)
    }

    /// Formats `path:value|type_code` and queues it, as the original
    /// connector's `inject_metric` did, but validated: the path must be a
    /// valid name, the type one of `c g ms s h d`, and the value must fit the
    /// type (a number; a leading sign only for gauges; any token for sets).
    ///
    /// ```
    /// # let statsd = statsd_connector::Connector::builder().host("localhost").build()?;
    /// statsd.inject_metric("queue.depth", "+3", "g")?;
    /// assert!(statsd.inject_metric("queue.depth", "NaN", "g").is_err());
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn inject_metric(&self, path: &str, value: &str, type_code: &str) -> Result<(), Error> {
        if !self.shared().config.enabled {
            return Ok(());
        }
        match type_code.parse::<MetricType>() {
            Ok(kind) => self.emit(path, Value::Text(value), kind, Rate::Every, &[]),
            Err(error) => Err(self.rejected(error)),
        }
    }

    /// Parses a statsd line (`name:value|type[|@rate][|#tags]`, any tag
    /// dialect) and queues it, with this connector's prefix and global tags.
    /// The sample rate is passed on as written; no sampling is done here,
    /// since whoever wrote the line has sampled already.
    ///
    /// This is how a relay forwards lines it received:
    ///
    /// ```
    /// let statsd = statsd_connector::Connector::builder()
    ///     .host("localhost")
    ///     .prefix("relay")
    ///     .build()?;
    /// statsd.send_line("jobs:1|c|@0.5|#queue:high")?; // relay.jobs:1|c|@0.5|#queue:high
    /// assert!(statsd.send_line("jobs:1").is_err());    // no type: refused
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn send_line(&self, line: &str) -> Result<(), Error> {
        if !self.shared().config.enabled {
            return Ok(());
        }
        let line = match Line::parse(line) {
            Ok(line) => line,
            Err(error) => return Err(self.rejected(error)),
        };
        let tags: Vec<(&str, &str)> = line.tags().collect();
        let rate = line.sample_rate.unwrap_or(1.0);
        // The line was sampled by whoever wrote it: send it with its rate.
        self.emit(
            line.name,
            Value::Text(line.value),
            line.kind,
            Rate::Drawn(rate),
            &tags,
        )
    }

    /// Counts a refused call and passes its error on.
    #[cold]
    fn rejected(&self, error: Error) -> Error {
        Counters::add(&self.shared().counters.rejected, 1);
        error
    }

    /// The primitive every metric call ends in: validate, sample, format,
    /// queue. Validation comes first, so a bad call fails every time, sampled
    /// or not.
    #[inline]
    pub(crate) fn emit(
        &self,
        name: &str,
        value: Value<'_>,
        kind: MetricType,
        rate: Rate,
        tags: &[(&str, &str)],
    ) -> Result<(), Error> {
        let shared = self.shared();
        if !shared.config.enabled {
            return Ok(());
        }
        let sample_rate = match rate {
            Rate::Every => 1.0,
            Rate::Draw(rate) | Rate::Drawn(rate) => rate,
        };
        let checked = validate::name(name, shared.format.name_overhead(kind))
            .and_then(|()| validate::value(value, kind))
            .and_then(|()| match sample_rate {
                1.0 => Ok(()),
                rate => validate::sample_rate(rate),
            })
            .and_then(|()| crate::format::validate_tags(tags, shared.format.tag_format()));
        if let Err(error) = checked {
            return Err(self.rejected(error));
        }
        if let Rate::Draw(rate) = rate {
            if rate < 1.0 && !crate::metrics::sample(rate) {
                return Ok(());
            }
        }
        if sample_rate == 1.0 {
            if let Some(aggregator) = &shared.aggregator {
                if aggregator.add(name, value, kind, tags) {
                    return Ok(());
                }
            }
        }
        self.push_line(name, value, kind, sample_rate, tags)
    }

    /// Queues a line for a metric whose name is already checked (a
    /// [`Counter`] handle's).
    #[inline]
    pub(crate) fn emit_checked(
        &self,
        name: &str,
        value: Value<'_>,
        kind: MetricType,
    ) -> Result<(), Error> {
        if !self.shared().config.enabled {
            return Ok(());
        }
        self.push_line(name, value, kind, 1.0, &[])
    }

    /// Formats one metric into the queue.
    #[inline]
    fn push_line(
        &self,
        name: &str,
        value: Value<'_>,
        kind: MetricType,
        sample_rate: f64,
        tags: &[(&str, &str)],
    ) -> Result<(), Error> {
        let shared = self.shared();
        // A negative absolute gauge is two lines, pushed at once so that both
        // travel in the same write or datagram.
        let lines = LineFormat::lines_for(kind, value);
        let pushed = shared.queue.push(lines, &shared.counters, |buf| {
            shared
                .format
                .write_metric(buf, name, value, kind, sample_rate, tags)
        });
        match pushed {
            Err(error @ Error::LineTooLong { .. }) => Err(self.rejected(error)),
            other => other,
        }
    }
}

impl Metrics for Connector {
    #[inline]
    fn emit_value(&self, name: &str, value: Value<'_>, kind: MetricType) -> Result<(), Error> {
        self.emit(name, value, kind, Rate::Every, &[])
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // The last handle is gone and nobody can call stop(): let the
        // processor deliver what is queued and exit by itself.
        let deadline = Instant::now() + self.shared.config.stop_timeout;
        self.shared.request_stop(deadline);
    }
}

impl Shared {
    /// A snapshot of every counter, the queue's included.
    pub(crate) fn stats(&self) -> Stats {
        let mut stats = self.counters.snapshot();
        let (queued, in_queue) = self.queue.counts();
        stats.queued = queued;
        stats.in_queue += in_queue;
        stats
    }

    /// Claims the right to start a processor: `None` if one runs already.
    /// Marks the connector running from this instant, so that a stop that
    /// races with the start waits for the task instead of finding nothing.
    #[allow(clippy::type_complexity)]
    fn claim_start(&self) -> Option<(StopSignal, oneshot::Sender<()>, oneshot::Receiver<()>)> {
        let mut control = self.control();
        if control.is_some() {
            return None;
        }
        let (stop_sender, stop_receiver) = watch::channel(None);
        *control = Some(stop_sender);
        self.state.send_if_modified(|state| state.set_running(true));
        let (started_sender, started) = oneshot::channel();
        Some((StopSignal(stop_receiver), started_sender, started))
    }

    fn background(&self) -> MutexGuard<'_, Option<std::thread::JoinHandle<()>>> {
        self.background
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn control(&self) -> MutexGuard<'_, Option<watch::Sender<Option<Instant>>>> {
        self.control
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Asks a running processor to stop by `deadline` (a later request keeps
    /// the first deadline). Returns whether a processor runs.
    fn request_stop(&self, deadline: Instant) -> bool {
        match self.control().as_ref() {
            Some(stop) => {
                stop.send_if_modified(|current| {
                    let first = current.is_none();
                    if first {
                        *current = Some(deadline);
                    }
                    first
                });
                true
            }
            None => false,
        }
    }

    /// Moves everything aggregated into the queue as lines.
    pub(crate) fn flush_aggregates(&self) {
        if let Some(aggregator) = &self.aggregator {
            aggregator.flush(&self.format, &self.queue, &self.counters);
        }
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
