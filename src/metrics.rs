//! The metric verbs, written once for every way of emitting.
//!
//! [`Metrics`] is implemented by [`Connector`] and by [`Scoped`] (a connector
//! plus tags and a sample rate), so `statsd.incr("hits")` and
//! `statsd.with_tags(&[("region", "eu")]).incr("hits")` are the same call.
//! Users coming from cadence will recognise the verbs.

use std::cell::Cell;
use std::time::Duration;

use crate::connector::{Connector, Rate};
use crate::error::Error;
use crate::format::Value;
use crate::metric::MetricType;

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::Connector {}
    impl Sealed for super::Scoped<'_> {}
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
pub trait Metrics: sealed::Sealed {
    /// Queues one metric (the primitive behind every other method).
    #[doc(hidden)]
    fn emit_value(&self, name: &str, value: Value<'_>, kind: MetricType) -> Result<(), Error>;

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

/// A connector with tags and a sample rate for the calls made through it.
///
/// ```
/// use statsd_connector::{Connector, Metrics};
///
/// let statsd = Connector::builder().host("localhost").build()?;
/// statsd.with_tags(&[("region", "eu"), ("canary", "")]).incr("hits")?; // hits:1|c|#region:eu,canary
/// statsd.sampled(0.1).incr("hot.path")?;   // one call in ten is sent, as hot.path:1|c|@0.1
/// # Ok::<(), statsd_connector::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Scoped<'a> {
    connector: &'a Connector,
    tags: &'a [(&'a str, &'a str)],
    sample_rate: f64,
}

impl Connector {
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
    pub fn with_tags<'a>(&'a self, tags: &'a [(&'a str, &'a str)]) -> Scoped<'a> {
        Scoped {
            connector: self,
            tags,
            sample_rate: 1.0,
        }
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
        Scoped {
            connector: self,
            tags: &[],
            sample_rate: rate,
        }
    }
}

impl<'a> Scoped<'a> {
    /// Replaces the tags.
    ///
    /// ```
    /// # use statsd_connector::Metrics;
    /// # let statsd = statsd_connector::Connector::builder().host("localhost").build()?;
    /// let sampled = statsd.sampled(0.5);
    /// sampled.with_tags(&[("route", "home")]).incr("hits")?; // hits:1|c|@0.5|#route:home, half the time
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn with_tags(self, tags: &'a [(&'a str, &'a str)]) -> Scoped<'a> {
        Scoped { tags, ..self }
    }

    /// Replaces the sample rate.
    ///
    /// ```
    /// # use statsd_connector::Metrics;
    /// # let statsd = statsd_connector::Connector::builder().host("localhost").build()?;
    /// let home = statsd.with_tags(&[("route", "home")]);
    /// home.incr("hits")?;                  // hits:1|c|#route:home, every call
    /// home.sampled(0.1).incr("renders")?;  // renders:1|c|@0.1|#route:home, one call in ten
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn sampled(self, rate: f64) -> Scoped<'a> {
        Scoped {
            sample_rate: rate,
            ..self
        }
    }
}

impl Metrics for Scoped<'_> {
    fn emit_value(&self, name: &str, value: Value<'_>, kind: MetricType) -> Result<(), Error> {
        let rate = if self.sample_rate == 1.0 {
            Rate::Every
        } else {
            Rate::Draw(self.sample_rate)
        };
        self.connector.emit(name, value, kind, rate, self.tags)
    }
}

thread_local! {
    /// A per-thread xorshift64* state: sampling must not share a generator
    /// (and its cache line) between threads.
    static RANDOM: Cell<u64> = Cell::new({
        let local = 0u8;
        let seed = (&local as *const u8 as u64)
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64);
        seed | 1
    });
}

/// True with probability `rate`.
pub(crate) fn sample(rate: f64) -> bool {
    RANDOM.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        let uniform = (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64;
        uniform < rate
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn sampling_keeps_about_the_rate() {
        let kept = (0..100_000).filter(|_| super::sample(0.25)).count();
        assert!((23_000..27_000).contains(&kept), "{kept}");
    }
}
