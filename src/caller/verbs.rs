//! The metric verbs, written once for every way of emitting.
//!
//! [`Metrics`] is implemented by [`Connector`](crate::Connector) and by
//! [`Scoped`](crate::Scoped) (a connector plus tags and a sample rate), so `statsd.incr("hits")` and
//! `statsd.with_tags(&[("region", "eu")]).incr("hits")` are the same call.
//! Users coming from cadence will recognise the verbs.

use std::time::Duration;

use crate::error::Error;
use crate::wire::metric::{MetricType, Value};

/// The one required method, out of reach of other crates: only this crate's
/// handles implement [`Metrics`].
pub(crate) mod sealed {
    use crate::error::Error;
    use crate::wire::metric::{MetricType, Value};

    /// Queues one metric: the primitive behind every verb.
    pub trait Emit {
        /// Validates, samples and queues one metric.
        fn emit_value(&self, name: &str, value: Value<'_>, kind: MetricType) -> Result<(), Error>;
    }
}

/// The metric calls. None of them waits or panics: each validates, formats
/// into the queue and returns, or returns an [`Error`] that says what was
/// refused (and counts it in [`Stats`](crate::Stats)).
///
/// ```
/// use std::time::Duration;
/// use statsd_connector::{Connector, Metrics};
///
/// let statsd = Connector::builder().host("localhost").build()?;
/// statsd.incr("requests")?;                             // requests:1|c
/// statsd.count("bytes", 512)?;                          // bytes:512|c
/// statsd.decr_by("slots", 3)?;                          // slots:-3|c
/// statsd.gauge("temperature", -5.0)?;                   // temperature:0|g, temperature:-5|g
/// statsd.gauge_delta("queue", 2.0)?;                    // queue:+2|g
/// statsd.timing("render", Duration::from_micros(1500))?; // render:1.5|ms
/// statsd.timing_secs("render", 0.25)?;                  // render:250|ms
/// statsd.set("visitors", "alice")?;                     // visitors:alice|s
/// assert!(statsd.gauge("broken", f64::NAN).is_err());
/// # Ok::<(), statsd_connector::Error>(())
/// ```
pub trait Metrics: sealed::Emit {
    /// Adds 1 to a counter.
    #[inline]
    fn incr(&self, name: &str) -> Result<(), Error> {
        self.count(name, 1)
    }

    /// Subtracts 1 from a counter (sends `-1`).
    ///
    /// ```
    /// # use statsd_connector::Metrics;
    /// # let statsd = statsd_connector::Connector::builder().host("localhost").build()?;
    /// statsd.decr("workers.idle")?; // workers.idle:-1|c
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    #[inline]
    fn decr(&self, name: &str) -> Result<(), Error> {
        self.count(name, -1)
    }

    /// Adds `n` to a counter.
    #[inline]
    fn count(&self, name: &str, n: i64) -> Result<(), Error> {
        self.emit_value(name, Value::Int(n), MetricType::Counter)
    }

    /// Subtracts `n` from a counter (sends `-n`).
    #[inline]
    fn decr_by(&self, name: &str, n: i64) -> Result<(), Error> {
        self.count(name, n.saturating_neg())
    }

    /// Sets a gauge. A negative value is sent as `0|g` then the value, in one
    /// write, because statsd reads a leading `-` as a decrement.
    #[inline]
    fn gauge(&self, name: &str, value: f64) -> Result<(), Error> {
        self.emit_value(name, Value::Float(value), MetricType::Gauge)
    }

    /// Adjusts a gauge by a signed delta (sent as `+n` or `-n`).
    #[inline]
    fn gauge_delta(&self, name: &str, delta: f64) -> Result<(), Error> {
        self.emit_value(name, Value::Delta(delta), MetricType::Gauge)
    }

    /// Records a timing (sent in milliseconds, exactly).
    #[inline]
    fn timing(&self, name: &str, elapsed: Duration) -> Result<(), Error> {
        self.emit_value(name, Value::Duration(elapsed), MetricType::Timing)
    }

    /// Records a timing given in seconds (negative, NaN and infinite are
    /// refused).
    fn timing_secs(&self, name: &str, seconds: f64) -> Result<(), Error> {
        let value = match Duration::try_from_secs_f64(seconds) {
            Ok(elapsed) => Value::Duration(elapsed),
            // Refused by the value check, with the number in the error.
            Err(_) => Value::Float(seconds),
        };
        self.emit_value(name, value, MetricType::Timing)
    }

    /// Adds a member to a set (the server counts distinct members).
    fn set(&self, name: &str, member: &str) -> Result<(), Error> {
        self.emit_value(name, Value::Text(member), MetricType::Set)
    }

    /// Records a histogram value (`h`).
    ///
    /// ```
    /// # use statsd_connector::Metrics;
    /// # let statsd = statsd_connector::Connector::builder().host("localhost").build()?;
    /// statsd.histogram("payload.bytes", 512.0)?; // payload.bytes:512|h
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    #[inline]
    fn histogram(&self, name: &str, value: f64) -> Result<(), Error> {
        self.emit_value(name, Value::Float(value), MetricType::Histogram)
    }

    /// Records a distribution value (`d`, DogStatsD).
    ///
    /// ```
    /// # use statsd_connector::Metrics;
    /// # let statsd = statsd_connector::Connector::builder().host("localhost").build()?;
    /// statsd.distribution("latency", 3.2)?; // latency:3.2|d
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    #[inline]
    fn distribution(&self, name: &str, value: f64) -> Result<(), Error> {
        self.emit_value(name, Value::Float(value), MetricType::Distribution)
    }
}

impl<T: sealed::Emit> Metrics for T {}
