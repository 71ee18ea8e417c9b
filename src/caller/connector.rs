//! The handle applications hold: cheap to clone, callable from any thread or
//! task without `.await`, and in charge of starting and stopping the processor.
//!
//! A metric call validates its input, writes the line into its thread's
//! buffer of the queue and
//! returns (see `emit`): it never touches the network and never waits for
//! it. Starting spawns the background side (`background::processor`) with
//! the shared state; the handle and the processor never import each other.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::background::processor;
use crate::config::{Builder, Config};
use crate::error::{Error, ErrorKind, Reason};
use crate::shared::ledger::Stats;
use crate::shared::state::State;
use crate::shared::{Handle, Shared};
use crate::wire::line::Line;
use crate::wire::metric::{MetricType, Value};
use crate::wire::validate;

use super::blocking;
use super::counter::Counter;
use super::dogstatsd;
use super::emit::{self, Sampling};
use super::scoped::Scoped;
use super::timer::{Timer, TimerGuard};
use super::verbs::sealed::Emit;

/// How long `stop_blocking` waits past the stop deadline for the processor
/// to confirm its exit.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// Sends metrics to a statsd server.
///
/// Build one with [`Connector::builder`] (or [`Connector::from_env`]), call
/// [`start`](Connector::start) when the application starts, emit metrics with
/// the [`Metrics`](crate::Metrics) methods from anywhere, and call [`stop`](Connector::stop)
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
/// Clones share one queue and one processor. Dropping the last clone (and
/// every [`Counter`] and timer made from it) without `stop` asks the
/// processor to deliver what is queued and exit on its own.
///
/// Metric calls made before the first start are queued (and sent once it
/// runs; a stop before the first start discards them, counted as
/// undelivered). Once a [`stop`](Connector::stop) of a started connector has
/// completed, metric calls are
/// refused with [`ErrorKind::Stopped`] and counted in
/// [`Stats::dropped`], so that nothing waits in the queue for a processor
/// that may never run again (and `emitted = rejected + dropped + accepted`
/// still holds), until the connector is started again:
///
// Runs against the capture server (`testing`); shown, not run, without it.
#[cfg_attr(feature = "testing", doc = "```")]
#[cfg_attr(not(feature = "testing"), doc = "```ignore")]
/// use statsd_connector::{testing::CaptureServer, Connector, ErrorKind, Metrics};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = CaptureServer::start().await?;
/// let statsd = Connector::builder().host("127.0.0.1").port(server.port()).build()?;
/// statsd.start().await?;
/// statsd.stop().await;
/// let refused = statsd.incr("too.late").unwrap_err();
/// assert!(matches!(refused.kind(), ErrorKind::Stopped));
/// assert_eq!(statsd.stats().dropped, 1);
/// statsd.start().await?; // accepted again
/// statsd.incr("on.time")?;
/// statsd.stop().await;
/// # Ok(()) }
/// ```
///
/// Its `Debug` shows the configuration and state, never the queue's
/// contents, and takes no lock:
///
/// ```
/// let statsd = statsd_connector::Connector::builder().host("localhost").build()?;
/// let shown = format!("{statsd:?}");
/// assert!(shown.starts_with("Connector { host: \"localhost\", port: 8125"), "{shown}");
/// # Ok::<(), statsd_connector::Error>(())
/// ```
#[derive(Clone)]
pub struct Connector {
    handle: Arc<Handle>,
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.shared(), f)
    }
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
    #[must_use]
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
    ///
    /// # Errors
    ///
    /// As [`Config::from_env`]: What [`Builder::from_env_with`] refuses ([`ErrorKind::UnknownProtocol`](crate::ErrorKind::UnknownProtocol) when `STATSD_PROTOCOL` is none of `tcp`, `udp`,
    /// `unix`, `unixgram`; [`ErrorKind::InvalidEnvironment`](crate::ErrorKind::InvalidEnvironment), naming the variable, when
    /// `STATSD_RECONNECT_SLEEP`, `STATSD_WAIT_TIMEOUT`, `STATSD_TELEMETRY_INTERVAL`
    /// or `STATSD_QUEUE_CAPACITY` is not a number of the right kind, or a `DD_*`
    /// variable holds a value that cannot be used),
    /// then what [`Builder::build_config`] refuses, e.g. [`ErrorKind::InvalidPort`](crate::ErrorKind::InvalidPort) for `STATSD_PORT`, [`ErrorKind::InvalidAddress`](crate::ErrorKind::InvalidAddress) for `STATSD_HOST`, [`ErrorKind::InvalidPrefix`](crate::ErrorKind::InvalidPrefix) for `STATSD_PREFIX` or [`ErrorKind::InvalidSetting`](crate::ErrorKind::InvalidSetting) for `STATSD_QUEUE_CAPACITY=0`. Without `STATSD_HOST` (and no `DD_*` address) it is not an error: the configuration is disabled.
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
    #[must_use]
    pub fn new(config: Config) -> Connector {
        let shared = Arc::new(Shared::new(config));
        Connector {
            handle: Arc::new(Handle { shared }),
        }
    }

    #[inline]
    pub(super) fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    /// The configuration this connector was built with.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.shared().config
    }

    /// Starts the processor task on the current tokio runtime and returns once
    /// it runs. Starting a running connector does nothing; a disabled one
    /// never starts.
    ///
    /// # Errors
    /// An error of kind [`ErrorKind::NoRuntime`](crate::ErrorKind::NoRuntime) when called outside a tokio runtime.
    ///
    // Runs against the capture server (`testing`); shown, not run, without it.
    #[cfg_attr(feature = "testing", doc = "```")]
    #[cfg_attr(not(feature = "testing"), doc = "```ignore")]
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
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| Error::from(ErrorKind::NoRuntime))?;
        let Some(stop) = shared.claim_start() else {
            return Ok(());
        };
        let (started_sender, started) = oneshot::channel();
        runtime.spawn(processor::run(shared.clone(), stop, started_sender));
        // An error means the task was dropped before it ran (the runtime is
        // shutting down); the exit guard has already reported it stopped.
        let _ = started.await;
        Ok(())
    }

    /// For programs without a tokio runtime: starts the processor on a small
    /// runtime of its own, on a background thread named `statsd-connector`,
    /// and returns once it runs. Stop it with [`stop_blocking`](Self::stop_blocking)
    /// (or [`stop`](Self::stop) from async code). Starting a running
    /// connector does nothing, wherever it is called from.
    ///
    /// # Errors
    /// [`ErrorKind::InsideRuntime`] when called from within a tokio runtime
    /// (use [`start`](Self::start)`.await` there); [`ErrorKind::Io`] when the
    /// thread or its runtime cannot be made. It never panics.
    ///
    /// ```no_run
    /// use statsd_connector::{Connector, Metrics};
    ///
    /// fn main() -> Result<(), statsd_connector::Error> {
    ///     let statsd = Connector::builder().host("127.0.0.1").build()?;
    ///     statsd.start_blocking()?;
    ///     statsd.incr("jobs.done")?;
    ///     let report = statsd.stop_blocking()?;
    ///     assert_eq!(report.undelivered, 0);
    ///     Ok(())
    /// }
    /// ```
    pub fn start_blocking(&self) -> Result<(), Error> {
        let shared = &self.handle.shared;
        if !shared.config.enabled || shared.is_started() {
            return Ok(());
        }
        // Waiting for the thread to start would block a runtime's thread,
        // and dropping a runtime there panics: refuse before making one.
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::from(ErrorKind::InsideRuntime {
                call: "start_blocking",
                instead: "start().await",
            }));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let Some(stop) = shared.claim_start() else {
            return Ok(());
        };
        let (started_sender, started) = oneshot::channel();
        let task_shared = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("statsd-connector".into())
            .spawn(move || runtime.block_on(processor::run(task_shared, stop, started_sender)));
        match spawned {
            Ok(thread) => {
                *shared.background() = Some(thread);
                let _ = blocking::block_on(started);
                Ok(())
            }
            Err(error) => {
                shared.processor_exited();
                Err(Error::from(ErrorKind::Io(error)))
            }
        }
    }

    /// [`stop`](Self::stop) for programs without a runtime: blocks until the
    /// processor has delivered what is queued (within the stop timeout) and
    /// exited.
    ///
    /// # Errors
    /// [`ErrorKind::InsideRuntime`] when called from within a tokio runtime,
    /// where waiting could block the very thread the processor needs (use
    /// [`stop`](Self::stop)`.await` there); nothing is stopped then.
    /// [`ErrorKind::StopTimedOut`] when the processor has not confirmed its
    /// exit shortly after the stop deadline (its runtime does not run it): the
    /// wait is always bounded by the deadline. It never panics.
    ///
    // Runs against the capture server (`testing`); shown, not run, without it.
    #[cfg_attr(feature = "testing", doc = "```")]
    #[cfg_attr(not(feature = "testing"), doc = "```ignore")]
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
    /// let report = statsd.stop_blocking()?; // returns once the queue is delivered
    /// assert_eq!(report.undelivered, 0);
    /// # runtime.block_on(server.wait_for_lines(1, Duration::from_secs(5)))?;
    /// assert_eq!(server.lines(), ["jobs.done:1|c"]);
    /// # Ok(()) }
    /// ```
    pub fn stop_blocking(&self) -> Result<StopReport, Error> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::from(ErrorKind::InsideRuntime {
                call: "stop_blocking",
                instead: "stop().await",
            }));
        }
        let timeout = self.shared().config.stop_timeout;
        // The processor gives up at the deadline; a little grace lets it
        // count what it gave up before this thread stops waiting.
        let limit = std::time::Instant::now() + timeout + STOP_GRACE;
        let Some(report) = blocking::block_on_until(self.stop_with_timeout(timeout), limit) else {
            return Err(Error::from(ErrorKind::StopTimedOut));
        };
        let thread = self.shared().background().take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
        Ok(report)
    }

    /// Stops the processor: delivers what is queued (trying for at most the
    /// configured [`stop_timeout`](Builder::stop_timeout)), closes the
    /// connection and returns once the task has exited.
    ///
    /// Stopping twice, or a connector that never started, is harmless; in the
    /// latter case what was queued is discarded and counted as undelivered.
    /// Once it has returned (and the connector had been started), metric
    /// calls are refused with [`ErrorKind::Stopped`] until the next start.
    ///
    // Runs against the capture server (`testing`); shown, not run, without it.
    #[cfg_attr(feature = "testing", doc = "```")]
    #[cfg_attr(not(feature = "testing"), doc = "```ignore")]
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
        let before = shared.stats();
        let deadline = Instant::now() + timeout;
        let mut state = shared.watch_state();
        let asked = shared.request_stop(deadline);
        if asked {
            // `Err` only if the sender is gone, which `shared` prevents.
            let _ = state.wait_for(State::is_stopped).await;
        }
        // From here on calls are refused until a start; what is still queued
        // (never started, or raced in after the processor's last look) is
        // counted as undelivered by this stop.
        shared.stopped();
        let after = shared.stats();
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
    // Runs against the capture server (`testing`); shown, not run, without it.
    #[cfg_attr(feature = "testing", doc = "```")]
    #[cfg_attr(not(feature = "testing"), doc = "```ignore")]
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
    #[must_use]
    pub fn state(&self) -> State {
        self.shared().state()
    }

    /// Whether the processor runs (it still does while it drains on stop).
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.state().is_running()
    }

    /// Whether the processor is stopped (or was never started).
    #[must_use]
    pub fn is_stopped(&self) -> bool {
        self.state().is_stopped()
    }

    /// Whether the processor holds a connection.
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.state().is_connected()
    }

    /// A receiver that sees every change of state; await one with
    /// [`watch::Receiver::changed`] or [`watch::Receiver::wait_for`].
    #[must_use]
    pub fn watch_state(&self) -> watch::Receiver<State> {
        self.shared().watch_state()
    }

    /// The counters now; see [`Stats`].
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.shared().stats()
    }

    /// The last connection error the processor met (a failed attempt or a
    /// lost connection), as one line, whatever the log filter; `None` if there
    /// was none. Kept after a later success, so that a report of undelivered
    /// metrics can say why.
    ///
    /// ```
    /// use statsd_connector::{Connector, Metrics};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), statsd_connector::Error> {
    /// // Nothing listens on port 9 (discard) here.
    /// let statsd = Connector::builder().host("127.0.0.1").port(9).build()?;
    /// assert_eq!(statsd.last_error(), None);
    /// statsd.start().await?;
    /// statsd.incr("lost")?;
    /// let report = statsd.stop_with_timeout(std::time::Duration::from_millis(200)).await;
    /// if report.undelivered > 0 {
    ///     assert!(statsd.last_error().is_some());
    /// }
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn last_error(&self) -> Option<String> {
        self.shared().last_error()
    }

    /// A counter handle for `name`: the name is checked here, once, and each
    /// increment costs less than a [`Metrics::count`](crate::Metrics::count) call (with aggregation
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
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName) when `name` is empty, contains a reserved or control
    /// character, or is too long once the prefix (and type prefix) is added;
    /// counted in [`Stats::rejected`](crate::Stats::rejected). A disabled connector
    /// checks the name too.
    pub fn counter(&self, name: &str) -> Result<Counter, Error> {
        let shared = self.shared();
        if let Err(error) = validate::name(name, shared.format.name_overhead(MetricType::Counter)) {
            return Err(emit::rejected(shared, error));
        }
        Ok(Counter::new(self.handle.clone(), name))
    }

    /// Checks a metric's name and tags as every call of `kind` checks them
    /// here: the name with this connector's prefix (and type prefix) in front,
    /// the tags in its tag format. Nothing is sent and nothing is counted.
    ///
    /// For code that learns a name once and sends it many times (a registry,
    /// a bridge from another metrics library): it can report a bad name where
    /// it first sees it, instead of only in [`Stats::rejected`](crate::Stats::rejected)
    /// on every call. Values and sample rates are checked per call.
    ///
    /// ```
    /// use statsd_connector::{Connector, MetricType};
    ///
    /// let statsd = Connector::builder().host("localhost").prefix("shop").build()?;
    /// statsd.check_metric(MetricType::Counter, "orders", &[("region", "eu")])?;
    /// assert!(statsd.check_metric(MetricType::Gauge, "bad:name", &[]).is_err());
    /// assert!(statsd.check_metric(MetricType::Counter, "orders", &[("a|b", "v")]).is_err());
    /// assert_eq!(statsd.stats().rejected, 0); // checking counts nothing
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidName`] when `name` is empty, contains a reserved or control
    /// character, or is too long once the prefix (and type prefix) is added;
    /// [`ErrorKind::InvalidTag`] for the first tag that cannot be written in the
    /// tag format. A disabled connector checks them too.
    pub fn check_metric(
        &self,
        kind: MetricType,
        name: &str,
        tags: &[(&str, &str)],
    ) -> Result<(), Error> {
        let format = &self.shared().format;
        validate::name(name, format.name_overhead(kind))?;
        validate::tags(tags, format.tag_format())
    }

    /// A timer for `name`, to be started, stopped and sent explicitly; misuse
    /// (stop before start, sending twice) is an error, never a wrong number.
    pub fn timer(&self, name: &str) -> Timer {
        Timer::new(self.handle.clone(), name)
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
        TimerGuard::new(self.handle.clone(), name)
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
    ///
    /// # Errors
    ///
    /// Refused and counted in [`Stats::rejected`](crate::Stats::rejected):
    /// [`ErrorKind::InvalidType`](crate::ErrorKind::InvalidType) when `type_code` is none of `c g ms s h d`;
    /// [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName) for a bad path; [`ErrorKind::InvalidValue`](crate::ErrorKind::InvalidValue) for a value that does
    /// not fit the type; [`ErrorKind::LineTooLong`](crate::ErrorKind::LineTooLong) when the line would be longer than
    /// [`Config::max_line_length`](crate::Config::max_line_length). Then
    /// [`ErrorKind::QueueFull`](crate::ErrorKind::QueueFull) when the queue is full and [`ErrorKind::Stopped`](crate::ErrorKind::Stopped)
    /// after a stop has completed (until the next start): the line is dropped and
    /// counted in [`Stats::dropped`](crate::Stats::dropped). A disabled connector returns `Ok` and checks nothing.
    pub fn inject_metric(&self, path: &str, value: &str, type_code: &str) -> Result<(), Error> {
        if !self.shared().config.enabled {
            return Ok(());
        }
        match type_code.parse::<MetricType>() {
            Ok(kind) => emit::emit(
                self.shared(),
                path,
                Value::Text(value),
                kind,
                Sampling::Every,
                &[],
            ),
            Err(error) => Err(emit::rejected(self.shared(), error)),
        }
    }

    /// Parses a statsd line (`name:value|type[|@rate][|#tags]`, any tag
    /// dialect) and queues it, with this connector's prefix and global tags.
    /// The sample rate is passed on as written; no sampling is done here,
    /// since whoever wrote the line has sampled already.
    ///
    /// On a connector declared DogStatsD ([`Builder::dogstatsd`](crate::Builder::dogstatsd)),
    /// a line with packed values (`t:1:2|ms`) or the later DogStatsD fields
    /// (`|T<seconds>`, `|c:<container id>`, `|e:<external data>`,
    /// `|card:<cardinality>`) is relayed as written: the fields are checked,
    /// then copied unchanged and in their order, never rewritten (the prefix
    /// and global tags apply as to any line; the connector's own origin
    /// fields only where the line carries none; no aggregation):
    ///
    /// ```
    /// let agent = statsd_connector::Connector::builder()
    ///     .host("udp://127.0.0.1:8125")
    ///     .dogstatsd(true)
    ///     .origin_detection(false)
    ///     .build()?;
    /// agent.send_line("page.views:1|c|#env:prod|T1700000000|c:abc123|card:low")?; // sent as written
    /// assert!(agent.send_line("t:1|ms|T1700000000").is_err()); // a timestamp on a timing
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
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
    ///
    /// # Errors
    ///
    /// Refused and counted in [`Stats::rejected`](crate::Stats::rejected):
    /// [`ErrorKind::MalformedLine`](crate::ErrorKind::MalformedLine) for a line that does not follow the grammar (its
    /// [`Reason`](crate::Reason) says where), or that carries packed values or
    /// DogStatsD fields (`|T`, `|c:`, `|e:`, `|card:`) when the server is not
    /// declared DogStatsD, or an event or service check
    /// with fields this crate does not write; [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName),
    /// [`ErrorKind::InvalidValue`](crate::ErrorKind::InvalidValue), [`ErrorKind::InvalidTag`](crate::ErrorKind::InvalidTag) or [`ErrorKind::InvalidField`](crate::ErrorKind::InvalidField) for a part
    /// that cannot be sent as given (a timestamp on a type other than a
    /// gauge or a count, a container ID that could end its field); [`ErrorKind::NotDogStatsd`](crate::ErrorKind::NotDogStatsd) for an event or service
    /// check when the server is not declared DogStatsD; [`ErrorKind::LineTooLong`](crate::ErrorKind::LineTooLong) when the
    /// line, with the prefix and global tags, would be longer than
    /// [`Config::max_line_length`](crate::Config::max_line_length). Then
    /// [`ErrorKind::QueueFull`](crate::ErrorKind::QueueFull) when the queue is full and [`ErrorKind::Stopped`](crate::ErrorKind::Stopped)
    /// after a stop has completed (until the next start): the line is dropped and
    /// counted in [`Stats::dropped`](crate::Stats::dropped). A disabled connector returns `Ok` and checks nothing.
    pub fn send_line(&self, line: &str) -> Result<(), Error> {
        if let Some(sent) = dogstatsd::send_line(self.shared(), line) {
            return sent;
        }
        if !self.shared().config.enabled {
            return Ok(());
        }
        let text = line;
        let line = match Line::parse(line) {
            Ok(line) => line,
            Err(error) => return Err(emit::rejected(self.shared(), error)),
        };
        if line.has_dogstatsd_extensions() && self.shared().config.is_dogstatsd() {
            return super::relay::send(self.shared(), text, &line);
        }
        if line.has_dogstatsd_extensions() {
            // Relayed as a plain statsd line, these would be dropped or
            // change meaning: refused, never repaired.
            let reason = Reason::Expected(
                "a plain statsd line (send_line relays no packed values and no DogStatsD fields)",
            );
            return Err(emit::rejected(
                self.shared(),
                Error::from(ErrorKind::MalformedLine(reason)),
            ));
        }
        // On the stack up to 16 tags: relaying a line allocates nothing.
        let tags = super::relay::LineTags::of(&line);
        // A count spelt as the integer writer spells it, with no rate to
        // carry and no aggregation: the integer's in-place path, which
        // writes the same bytes as the text (the value is sent as written).
        if let (MetricType::Counter, None, None, Some(n)) = (
            line.kind,
            line.sample_rate,
            &self.shared().aggregator,
            line.exact_integer(),
        ) {
            return emit::emit(
                self.shared(),
                line.name,
                Value::Int(n),
                line.kind,
                Sampling::Every,
                tags.as_slice(),
            );
        }
        // The line was sampled by whoever wrote it: send it with its rate.
        let sampling = match line.sample_rate {
            Some(rate) => Sampling::Upstream(rate),
            None => Sampling::Every,
        };
        emit::emit(
            self.shared(),
            line.name,
            Value::Text(line.value),
            line.kind,
            sampling,
            tags.as_slice(),
        )
    }

    /// Emits through this connector with these tags (added after the global
    /// ones). A tag with an empty value is a bare tag.
    ///
    /// The tags are borrowed, so a scope costs nothing to make; keep one for
    /// several calls:
    ///
    /// ```
    /// use statsd_connector::{Connector, Metrics};
    ///
    /// let statsd = Connector::builder().host("localhost").build()?;
    /// let eu = statsd.with_tags(&[("region", "eu")]);
    /// eu.incr("logins")?;                 // logins:1|c|#region:eu
    /// eu.gauge("sessions", 12.0)?;        // sessions:12|g|#region:eu
    /// assert!(statsd.with_tags(&[("a|b", "v")]).incr("logins").is_err());
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    #[inline]
    pub fn with_tags<'a>(&'a self, tags: &'a [(&'a str, &'a str)]) -> Scoped<'a> {
        Scoped::new(self.shared(), tags, 1.0)
    }

    /// Emits through this connector at a sample rate in (0, 1]: each call is
    /// sent with that probability, marked `|@rate` so that the server scales
    /// counters back up.
    ///
    /// The rate is checked on every call, sampled out or not, so a bad rate
    /// shows up at once:
    ///
    /// ```
    /// use statsd_connector::{Connector, Metrics};
    ///
    /// let statsd = Connector::builder().host("localhost").build()?;
    /// statsd.sampled(0.01).incr("cache.lookups")?; // one call in a hundred: cache.lookups:1|c|@0.01
    /// assert!(statsd.sampled(1.5).incr("cache.lookups").is_err());
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn sampled(&self, rate: f64) -> Scoped<'_> {
        Scoped::new(self.shared(), &[], rate)
    }

    /// Emits gauges and counts measured at `when` (`|T`, DogStatsD v1.3);
    /// see [`Scoped::at`].
    pub fn at(&self, when: std::time::SystemTime) -> Scoped<'_> {
        Scoped::new(self.shared(), &[], 1.0).at(when)
    }

    /// Emits with this cardinality of origin tags (`|card:`, DogStatsD
    /// v1.6); see [`Scoped::with_cardinality`].
    pub fn with_cardinality(&self, cardinality: crate::Cardinality) -> Scoped<'_> {
        Scoped::new(self.shared(), &[], 1.0).with_cardinality(cardinality)
    }

    /// Sends a DogStatsD event: a title and a text, with the optional fields
    /// of [`Event`](crate::Event), written after this connector's global tags but without
    /// its prefix.
    ///
    // Runs against the capture server (`testing`); shown, not run, without it.
    #[cfg_attr(feature = "testing", doc = "```")]
    #[cfg_attr(not(feature = "testing"), doc = "```ignore")]
    /// use std::time::Duration;
    /// use statsd_connector::{testing::CaptureServer, AlertType, Connector, Event};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = CaptureServer::start().await?;
    /// let statsd = Connector::builder()
    ///     .host("127.0.0.1")
    ///     .port(server.port())
    ///     .dogstatsd(true)
    ///     .prefix("shop")                 // not applied to events
    ///     .global_tag("env", "prod")
    ///     .build()?;
    /// statsd.start().await?;
    /// let tags = [("version", "2.1")];
    /// statsd.event(
    ///     &Event::new("Deploy", "v2.1 is out\nall green")
    ///         .alert_type(AlertType::Success)
    ///         .tags(&tags),
    /// )?;
    /// statsd.stop().await;
    /// server.wait_for_lines(1, Duration::from_secs(5)).await?;
    /// assert_eq!(
    ///     server.lines(),
    ///     ["_e{6,22}:Deploy|v2.1 is out\\nall green|t:success|#env:prod,version:2.1"]
    /// );
    /// assert_eq!(statsd.stats().events, 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Refused and counted in [`Stats::rejected`](crate::Stats::rejected):
    /// [`ErrorKind::NotDogStatsd`] unless the server is declared DogStatsD;
    /// [`ErrorKind::InvalidField`] or [`ErrorKind::InvalidTag`] for a field
    /// that cannot be written (an empty title, a control character, `\n` written
    /// out as text ...); [`ErrorKind::LineTooLong`] for a line longer than
    /// [`Config::max_line_length`](crate::Config::max_line_length). A full queue
    /// drops it, counted in [`Stats::dropped`](crate::Stats::dropped)
    /// ([`ErrorKind::QueueFull`]). A disabled connector returns `Ok` and sends
    /// nothing.
    ///
    /// ```
    /// use statsd_connector::{Connector, ErrorKind, Event};
    ///
    /// let plain = Connector::builder().host("localhost").build()?;
    /// let error = plain.event(&Event::new("Deploy", "done")).unwrap_err();
    /// assert!(matches!(error.kind(), ErrorKind::NotDogStatsd(_)));
    /// assert_eq!(plain.stats().rejected, 1);
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn event(&self, event: &crate::Event<'_>) -> Result<(), Error> {
        dogstatsd::event(self.shared(), event)
    }

    /// Sends a DogStatsD service check: a name and a status, with the
    /// optional fields of [`ServiceCheck`](crate::ServiceCheck), written after this connector's
    /// global tags but without its prefix.
    ///
    // Runs against the capture server (`testing`); shown, not run, without it.
    #[cfg_attr(feature = "testing", doc = "```")]
    #[cfg_attr(not(feature = "testing"), doc = "```ignore")]
    /// use std::time::Duration;
    /// use statsd_connector::testing::CaptureServer;
    /// use statsd_connector::{Connector, Protocol, ServiceCheck, ServiceCheckStatus};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = CaptureServer::start().await?;
    /// let statsd = Connector::builder()
    ///     .host("127.0.0.1")
    ///     .port(server.port())
    ///     .protocol(Protocol::Udp)
    ///     .dogstatsd(true)
    ///     .global_tag("env", "prod")
    ///     .build()?;
    /// statsd.start().await?;
    /// statsd.service_check(
    ///     &ServiceCheck::new("db.up", ServiceCheckStatus::Critical)
    ///         .hostname("db-1")
    ///         .message("down since 10:02"),
    /// )?;
    /// statsd.stop().await;
    /// server.wait_for_lines(1, Duration::from_secs(5)).await?;
    /// assert_eq!(server.lines(), ["_sc|db.up|2|h:db-1|#env:prod|m:down since 10:02"]);
    /// assert_eq!(statsd.stats().service_checks, 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As for [`event`](Self::event): [`ErrorKind::NotDogStatsd`],
    /// [`ErrorKind::InvalidField`], [`ErrorKind::InvalidTag`] and
    /// [`ErrorKind::LineTooLong`] are counted as rejected, a full queue as
    /// dropped.
    ///
    /// ```
    /// use statsd_connector::{Connector, ErrorKind, ServiceCheck, ServiceCheckStatus};
    ///
    /// let statsd = Connector::builder().host("localhost").dogstatsd(true).build()?;
    /// // The Agent ends every field at `|`: a message may not hold one.
    /// let check = ServiceCheck::new("db.up", ServiceCheckStatus::Ok).message("a|#b");
    /// assert!(matches!(
    ///     statsd.service_check(&check).unwrap_err().kind(),
    ///     ErrorKind::InvalidField { field: "service check message", .. }
    /// ));
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn service_check(&self, check: &crate::ServiceCheck<'_>) -> Result<(), Error> {
        dogstatsd::service_check(self.shared(), check)
    }
}

impl Emit for Connector {
    #[inline]
    fn emit_value(&self, name: &str, value: Value<'_>, kind: MetricType) -> Result<(), Error> {
        emit::emit(self.shared(), name, value, kind, Sampling::Every, &[])
    }
}
