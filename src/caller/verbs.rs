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
/// # Errors
///
/// Every call returns `Ok` on a disabled connector. Otherwise a call is
/// refused, and counted in [`Stats::rejected`](crate::Stats::rejected), with
///
/// - [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName) when the name is empty, contains a reserved or
///   control character, or is too long once the prefix is added;
/// - [`ErrorKind::InvalidValue`](crate::ErrorKind::InvalidValue) when the value cannot be written for the type
///   (NaN or infinite, a negative timing, a bad set member);
/// - [`ErrorKind::InvalidTag`](crate::ErrorKind::InvalidTag) or [`ErrorKind::InvalidSampleRate`](crate::ErrorKind::InvalidSampleRate) for the tags or the rate of
///   a [`Scoped`](crate::Scoped) call;
/// - [`ErrorKind::NotDogStatsd`](crate::ErrorKind::NotDogStatsd) or [`ErrorKind::InvalidField`](crate::ErrorKind::InvalidField) for a timestamp or
///   cardinality ([`Scoped::at`](crate::Scoped::at),
///   [`Scoped::with_cardinality`](crate::Scoped::with_cardinality)) that the
///   server or the type cannot take;
/// - [`ErrorKind::LineTooLong`](crate::ErrorKind::LineTooLong) when the line would be longer than
///   [`Config::max_line_length`](crate::Config::max_line_length);
///
/// or dropped, and counted in [`Stats::dropped`](crate::Stats::dropped), with
/// [`ErrorKind::QueueFull`](crate::ErrorKind::QueueFull) when the queue is full, or [`ErrorKind::Stopped`](crate::ErrorKind::Stopped) after a stop
/// has completed (until the next start).
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
    ///
    /// # Errors
    ///
    /// As every metric call: see [the trait's errors](Metrics#errors).
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
    ///
    /// # Errors
    ///
    /// As every metric call: see [the trait's errors](Metrics#errors).
    #[inline]
    fn decr(&self, name: &str) -> Result<(), Error> {
        self.count(name, -1)
    }

    /// Adds `n` to a counter.
    ///
    /// # Errors
    ///
    /// As every metric call: see [the trait's errors](Metrics#errors).
    #[inline]
    fn count(&self, name: &str, n: i64) -> Result<(), Error> {
        self.emit_value(name, Value::Int(n), MetricType::Counter)
    }

    /// Subtracts `n` from a counter (sends `-n`).
    ///
    /// # Errors
    ///
    /// As every metric call: see [the trait's errors](Metrics#errors).
    #[inline]
    fn decr_by(&self, name: &str, n: i64) -> Result<(), Error> {
        self.count(name, n.saturating_neg())
    }

    /// Sets a gauge. A negative value is sent as `0|g` then the value, in one
    /// write, because statsd reads a leading `-` as a decrement.
    ///
    /// # Errors
    ///
    /// As every metric call: see [the trait's errors](Metrics#errors); [`ErrorKind::InvalidValue`](crate::ErrorKind::InvalidValue) when `value` is NaN or infinite.
    #[inline]
    fn gauge(&self, name: &str, value: f64) -> Result<(), Error> {
        self.emit_value(name, Value::Float(value), MetricType::Gauge)
    }

    /// Adjusts a gauge by a signed delta (sent as `+n` or `-n`).
    ///
    /// # Errors
    ///
    /// As every metric call: see [the trait's errors](Metrics#errors); [`ErrorKind::InvalidValue`](crate::ErrorKind::InvalidValue) when `delta` is NaN or infinite.
    #[inline]
    fn gauge_delta(&self, name: &str, delta: f64) -> Result<(), Error> {
        self.emit_value(name, Value::Delta(delta), MetricType::Gauge)
    }

    /// Records a timing (sent in milliseconds, exactly).
    ///
    /// # Errors
    ///
    /// As every metric call: see [the trait's errors](Metrics#errors).
    #[inline]
    fn timing(&self, name: &str, elapsed: Duration) -> Result<(), Error> {
        self.emit_value(name, Value::Duration(elapsed), MetricType::Timing)
    }

    /// Records a timing given in seconds (negative, NaN and infinite are
    /// refused).
    ///
    /// # Errors
    ///
    /// As every metric call: see [the trait's errors](Metrics#errors); [`ErrorKind::InvalidValue`](crate::ErrorKind::InvalidValue) when `seconds` is negative,
    /// NaN, infinite or too large for a [`Duration`].
    fn timing_secs(&self, name: &str, seconds: f64) -> Result<(), Error> {
        let value = match Duration::try_from_secs_f64(seconds) {
            Ok(elapsed) => Value::Duration(elapsed),
            // Refused by the value check, with the number in the error.
            Err(_) => Value::Float(seconds),
        };
        self.emit_value(name, value, MetricType::Timing)
    }

    /// Adds a member to a set (the server counts distinct members).
    ///
    /// # Errors
    ///
    /// As every metric call: see [the trait's errors](Metrics#errors); [`ErrorKind::InvalidValue`](crate::ErrorKind::InvalidValue) when `member` cannot be written
    /// as a set member.
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
    ///
    /// # Errors
    ///
    /// As every metric call: see [the trait's errors](Metrics#errors); [`ErrorKind::InvalidValue`](crate::ErrorKind::InvalidValue) when `value` is NaN or infinite.
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
    ///
    /// # Errors
    ///
    /// As every metric call: see [the trait's errors](Metrics#errors); [`ErrorKind::InvalidValue`](crate::ErrorKind::InvalidValue) when `value` is NaN or infinite.
    #[inline]
    fn distribution(&self, name: &str, value: f64) -> Result<(), Error> {
        self.emit_value(name, Value::Float(value), MetricType::Distribution)
    }
}

impl<T: sealed::Emit> Metrics for T {}
