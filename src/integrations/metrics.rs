//! The `metrics` facade recorder (feature `metrics`): `metrics::counter!`,
//! `gauge!` and `histogram!` reach statsd through a [`Connector`].
//!
//! | `metrics` call | statsd line |
//! |---|---|
//! | `counter!("jobs").increment(3)` | `jobs:3\|c` |
//! | `counter!("jobs").absolute(10)` | `jobs:<10 minus the last absolute value>\|c` |
//! | `gauge!("queue").set(7.0)` | `queue:7\|g` |
//! | `gauge!("queue").increment(2.0)` / `.decrement(2.0)` | `queue:+2\|g` / `queue:-2\|g` |
//! | `histogram!("size").record(0.5)` | `size:0.5\|h` (see [`HistogramAs`]) |
//! | labels: `counter!("jobs", "queue" => "high")` | tags: `jobs:1\|c\|#queue:high` |
//!
//! The connector's prefix, global tags, tag dialect and aggregation apply as
//! for any other call. Descriptions and units (`describe_*!`) are ignored:
//! statsd has nowhere to put them.
//!
//! # Shutdown: keep a connector clone and stop it
//!
//! A recorder installed with [`metrics::set_global_recorder`] (which
//! [`StatsdRecorder::install`] calls) lives as long as the program and is never
//! dropped, so the connector inside it never stops by itself. Keep a clone of
//! the [`Connector`] (`install` hands one back) and call
//! [`Connector::stop`] at shutdown: that delivers what is queued.
//!
//! ```
//! use std::time::Duration;
//! use statsd_connector::{integrations::metrics::StatsdRecorder, testing::CaptureServer, Connector};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = CaptureServer::start().await?;
//! let statsd = Connector::builder().host("127.0.0.1").port(server.port()).prefix("app").build()?;
//! statsd.start().await?;
//! let statsd = StatsdRecorder::new(statsd).install()?; // a clone, kept for shutdown
//!
//! metrics::counter!("requests", "route" => "home").increment(1);
//! metrics::histogram!("latency").record(0.012);
//!
//! statsd.stop().await; // at shutdown: delivers what is queued
//! # server.wait_for_lines(2, Duration::from_secs(5)).await?;
//! assert_eq!(server.lines(), ["app.requests:1|c|#route:home", "app.latency:0.012|h"]);
//! # Ok(()) }
//! ```
//!
//! # Cost
//!
//! `metrics` calls `register_*` on every macro invocation that does not reuse a
//! handle. The recorder keeps one handle per key (name and labels) in a
//! registry, so the name and labels are turned into tags and checked once, on
//! first use; later registrations of the same key are a map look-up, and a
//! handle kept by the caller (`let jobs = counter!("jobs");`) skips even that.
//! An unlabelled counter uses a [`Counter`](crate::Counter) handle: with
//! aggregation on, an increment is one atomic add. The registry keeps every key
//! it has seen, so labels with unbounded values (user ids, raw paths) grow it
//! as they would grow the server's metric count.
//!
//! # Invalid names and labels
//!
//! The library refuses, never repairs: a name or label that cannot be written
//! as a statsd line is logged once (a `tracing` warning, at registration), and
//! each of its data points is refused and counted in
//! [`Stats::rejected`](crate::Stats::rejected), like any refused call.

use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};

use metrics::{
    CounterFn, GaugeFn, HistogramFn, Key, KeyName, Metadata, Recorder, SetRecorderError,
    SharedString, Unit,
};

use crate::{Connector, Error, MetricType, Metrics};

/// What a `metrics` histogram becomes on the wire.
///
/// ```
/// use statsd_connector::integrations::metrics::{HistogramAs, StatsdRecorder};
///
/// let statsd = statsd_connector::Connector::builder().host("localhost").build()?;
/// // histogram!("db.query").record(0.0125) sends db.query:12.5|ms
/// let recorder = StatsdRecorder::new(statsd).histogram_as(HistogramAs::Timing);
/// # let _ = recorder;
/// # Ok::<(), statsd_connector::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HistogramAs {
    /// A statsd histogram, `name:value|h`, the value as recorded (the default).
    #[default]
    Histogram,
    /// A timing, `name:millis|ms`: the value is taken as **seconds** (the
    /// `metrics` convention, and what a [`std::time::Duration`] given to
    /// `record` becomes) and sent in milliseconds. Negative and non-finite
    /// values are refused.
    Timing,
    /// A DogStatsD distribution, `name:value|d`, the value as recorded.
    Distribution,
}

/// A [`metrics::Recorder`] that sends through a [`Connector`]; see the
/// [module documentation](self).
///
/// ```
/// use statsd_connector::integrations::metrics::StatsdRecorder;
///
/// let statsd = statsd_connector::Connector::builder().host("localhost").build()?;
/// let recorder = StatsdRecorder::new(statsd);
/// metrics::with_local_recorder(&recorder, || {
///     metrics::counter!("jobs.done", "queue" => "high").increment(1); // jobs.done:1|c|#queue:high
/// });
/// # Ok::<(), statsd_connector::Error>(())
/// ```
pub struct StatsdRecorder {
    /// Where the lines go.
    connector: Connector,
    /// What histograms become.
    histogram_as: HistogramAs,
    /// The handles made so far (boxed: a recorder is moved around whole,
    /// by value, when it is installed).
    handles: Box<Handles>,
}

/// The handles of a recorder, one per key and kind.
#[derive(Default)]
struct Handles {
    /// One handle per counter key.
    counters: Registry<CounterHandle>,
    /// One handle per gauge key.
    gauges: Registry<GaugeHandle>,
    /// One handle per histogram key.
    histograms: Registry<HistogramHandle>,
}

impl fmt::Debug for StatsdRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatsdRecorder")
            .field("connector", &self.connector)
            .field("histogram_as", &self.histogram_as)
            .field("counters", &self.handles.counters.len())
            .field("gauges", &self.handles.gauges.len())
            .field("histograms", &self.handles.histograms.len())
            .finish()
    }
}

impl StatsdRecorder {
    /// A recorder sending through `connector` (which the caller starts and
    /// stops), with histograms sent as histograms.
    #[must_use]
    pub fn new(connector: Connector) -> StatsdRecorder {
        StatsdRecorder {
            connector,
            histogram_as: HistogramAs::default(),
            handles: Box::default(),
        }
    }

    /// What `histogram!` values become: histograms (default), timings or
    /// distributions. Set it before the recorder is used: handles already
    /// registered keep what they were made with.
    #[must_use]
    pub fn histogram_as(mut self, histogram_as: HistogramAs) -> StatsdRecorder {
        self.histogram_as = histogram_as;
        self
    }

    /// The connector this recorder sends through.
    ///
    /// ```
    /// use statsd_connector::{integrations::metrics::StatsdRecorder, Connector};
    ///
    /// let recorder = StatsdRecorder::new(Connector::builder().host("localhost").build()?);
    /// assert_eq!(recorder.connector().config().host(), "localhost");
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    #[must_use]
    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    /// Installs this recorder as the global `metrics` recorder and returns a
    /// clone of its connector, which is how the program stops it at shutdown
    /// (the global recorder is never dropped):
    ///
    /// ```no_run
    /// # use statsd_connector::{integrations::metrics::StatsdRecorder, Connector};
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let statsd = Connector::from_env()?;
    /// statsd.start().await?;
    /// let statsd = StatsdRecorder::new(statsd).install()?;
    /// // ... the application runs, metrics::counter!(...) and friends ...
    /// statsd.stop().await;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When a global recorder is already installed; the error gives this
    /// recorder back ([`SetRecorderError::into_inner`]).
    pub fn install(self) -> Result<Connector, SetRecorderError<StatsdRecorder>> {
        let connector = self.connector.clone();
        metrics::set_global_recorder(self)?;
        Ok(connector)
    }

    /// Turns a key into a name and owned tags, checking both once.
    fn target(&self, key: &Key, kind: MetricType) -> Target {
        let mut target = Target {
            connector: self.connector.clone(),
            name: key.name().into(),
            tags: key
                .labels()
                .map(|label| (label.key().into(), label.value().into()))
                .collect(),
            valid: true,
        };
        if let Err(error) = target.check(kind) {
            target.valid = false;
            tracing::warn!(
                %key,
                %error,
                "statsd: metric cannot be written; its data points will be refused"
            );
        }
        target
    }
}

impl Recorder for StatsdRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> metrics::Counter {
        metrics::Counter::from_arc(self.handles.counters.get_or_insert(key, || {
            let target = self.target(key, MetricType::Counter);
            // Untagged and valid: the library's pre-checked counter handle.
            let fast = match target.valid && target.tags.is_empty() {
                true => self.connector.counter(&target.name).ok(),
                false => None,
            };
            CounterHandle {
                target,
                fast,
                absolute: AtomicU64::new(0),
            }
        }))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::from_arc(self.handles.gauges.get_or_insert(key, || GaugeHandle {
            target: self.target(key, MetricType::Gauge),
        }))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> metrics::Histogram {
        let kind = match self.histogram_as {
            HistogramAs::Histogram => MetricType::Histogram,
            HistogramAs::Timing => MetricType::Timing,
            HistogramAs::Distribution => MetricType::Distribution,
        };
        metrics::Histogram::from_arc(self.handles.histograms.get_or_insert(key, || {
            HistogramHandle {
                target: self.target(key, kind),
                histogram_as: self.histogram_as,
            }
        }))
    }
}

/// A metric's name and tags, converted from its `metrics` key once.
struct Target {
    /// The connector to send through.
    connector: Connector,
    /// The key's name.
    name: Box<str>,
    /// The key's labels, as tags.
    tags: Box<[(Box<str>, Box<str>)]>,
    /// Whether the name and tags passed [`Target::check`].
    valid: bool,
}

impl Target {
    /// Checks the name and tags (the connector checks them again on every
    /// call, and counts what it refuses; this check is for the log).
    fn check(&self, kind: MetricType) -> Result<(), Error> {
        let tags: Vec<(&str, &str)> = self.tags.iter().map(|(k, v)| (&**k, &**v)).collect();
        self.connector.check_metric(kind, &self.name, &tags)
    }

    /// Calls `f` with the connector scoped to the tags. Up to eight tags are
    /// lent from the stack; more are collected into a vector.
    #[inline]
    fn send(&self, f: impl FnOnce(crate::Scoped<'_>, &str) -> Result<(), Error>) {
        const INLINE: usize = 8;
        // Errors are counted in the connector's stats; a recorder cannot
        // report them to the code that records.
        let _ = if self.tags.len() <= INLINE {
            let mut tags = [("", ""); INLINE];
            for (slot, (key, value)) in tags.iter_mut().zip(self.tags.iter()) {
                *slot = (key, value);
            }
            f(
                self.connector.with_tags(&tags[..self.tags.len()]),
                &self.name,
            )
        } else {
            let tags: Vec<(&str, &str)> = self.tags.iter().map(|(k, v)| (&**k, &**v)).collect();
            f(self.connector.with_tags(&tags), &self.name)
        };
    }
}

/// A counter: increments are counts; absolute values are sent as the
/// increase over the largest absolute value seen.
struct CounterHandle {
    /// Name and tags.
    target: Target,
    /// The library's handle, for a valid counter without tags.
    fast: Option<crate::Counter>,
    /// The largest value given to `absolute` so far.
    absolute: AtomicU64,
}

impl CounterFn for CounterHandle {
    #[inline]
    fn increment(&self, value: u64) {
        let n = i64::try_from(value).unwrap_or(i64::MAX);
        match &self.fast {
            Some(counter) => {
                let _ = counter.add(n);
            }
            None => self.target.send(|statsd, name| statsd.count(name, n)),
        }
    }

    /// Statsd counters are deltas, and `metrics` defines `absolute(v)` as "the
    /// counter is at least `v`": the increase over the largest absolute value
    /// seen so far is sent as a count, and a smaller value sends nothing. The
    /// first call sends `v` itself (the counter started at zero). Increments
    /// on the same handle are not part of that comparison.
    fn absolute(&self, value: u64) {
        let previous = self.absolute.fetch_max(value, Relaxed);
        if value > previous {
            self.increment(value - previous);
        }
    }
}

/// A gauge: set, increment, decrement.
struct GaugeHandle {
    /// Name and tags.
    target: Target,
}

impl GaugeFn for GaugeHandle {
    fn increment(&self, value: f64) {
        self.target
            .send(|statsd, name| statsd.gauge_delta(name, value));
    }

    fn decrement(&self, value: f64) {
        self.target
            .send(|statsd, name| statsd.gauge_delta(name, -value));
    }

    fn set(&self, value: f64) {
        self.target.send(|statsd, name| statsd.gauge(name, value));
    }
}

/// A histogram, sent as a histogram, timing or distribution.
struct HistogramHandle {
    /// Name and tags.
    target: Target,
    /// The metric type it is sent as.
    histogram_as: HistogramAs,
}

impl HistogramFn for HistogramHandle {
    fn record(&self, value: f64) {
        self.target.send(|statsd, name| match self.histogram_as {
            HistogramAs::Histogram => statsd.histogram(name, value),
            HistogramAs::Timing => statsd.timing_secs(name, value),
            HistogramAs::Distribution => statsd.distribution(name, value),
        });
    }
}

/// The handles of one kind, by key. A key's hash is computed when the key is
/// made, and `Key`'s `Hash` writes only that `u64`: the map's hasher passes it
/// through instead of hashing it again.
struct Registry<T> {
    /// The handles.
    map: RwLock<hashbrown::HashMap<Key, Arc<T>, BuildHasherDefault<KeyHasher>>>,
}

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Registry {
            map: RwLock::default(),
        }
    }
}

impl<T> Registry<T> {
    /// The handle for `key`, made by `make` the first time. `make` runs
    /// outside the lock: it may log, and a logger that records metrics must
    /// not find the registry locked. Two threads registering a new key at
    /// once may both make a handle; the first one inserted is kept.
    fn get_or_insert(&self, key: &Key, make: impl FnOnce() -> T) -> Arc<T> {
        let found = self
            .map
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(key)
            .cloned();
        if let Some(handle) = found {
            return handle;
        }
        let made = Arc::new(make());
        let mut map = self
            .map
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.entry(key.clone()).or_insert(made).clone()
    }

    /// How many keys it holds.
    fn len(&self) -> usize {
        self.map
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }
}

/// Passes a `Key`'s precomputed hash through (see [`Registry`]).
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached for `Key`; hash anything else properly all the same.
        for &byte in bytes {
            self.0 =
                (self.0.rotate_left(5) ^ u64::from(byte)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder() -> StatsdRecorder {
        StatsdRecorder::new(
            Connector::builder()
                .host("localhost")
                .queue_capacity(100)
                .build()
                .unwrap(),
        )
    }

    #[test]
    fn one_handle_per_key() {
        let recorder = recorder();
        metrics::with_local_recorder(&recorder, || {
            for _ in 0..3 {
                metrics::counter!("a", "k" => "v").increment(1);
                metrics::counter!("a", "k" => "w").increment(1);
                metrics::counter!("b").increment(1);
            }
        });
        assert_eq!(recorder.handles.counters.len(), 3);
        assert_eq!(recorder.connector.stats().accepted, 9);
    }

    #[test]
    fn absolute_sends_the_increase_over_the_largest_value() {
        let recorder = recorder();
        let counter = metrics::with_local_recorder(&recorder, || metrics::counter!("ext"));
        counter.absolute(10); // +10
        counter.absolute(7); // nothing
        counter.absolute(15); // +5
        counter.absolute(15); // nothing
        assert_eq!(recorder.connector.stats().accepted, 2);
    }

    #[test]
    fn invalid_keys_are_refused_and_counted() {
        let recorder = recorder();
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("bad name").increment(1);
            metrics::gauge!("ok", "k" => "a|b").set(1.0);
        });
        let stats = recorder.connector.stats();
        assert_eq!((stats.accepted, stats.rejected), (0, 2));
    }
}
