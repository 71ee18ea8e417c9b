//! Scoped emitting: a connector plus tags and a sample rate, borrowed, so a
//! scope costs nothing to make. Made by
//! [`Connector::with_tags`](crate::Connector::with_tags) and
//! [`Connector::sampled`](crate::Connector::sampled).

use crate::error::Error;
use crate::shared::Shared;
use crate::wire::metric::{MetricType, Value};

use super::emit::{self, Sampling};
use super::verbs::sealed::Emit;

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
#[must_use = "a scope emits nothing by itself: call a metric method on it"]
pub struct Scoped<'a> {
    shared: &'a Shared,
    tags: &'a [(&'a str, &'a str)],
    sample_rate: f64,
}

impl<'a> Scoped<'a> {
    /// A scope over `shared` with these tags and this rate.
    pub(crate) fn new(
        shared: &'a Shared,
        tags: &'a [(&'a str, &'a str)],
        sample_rate: f64,
    ) -> Self {
        Scoped {
            shared,
            tags,
            sample_rate,
        }
    }

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

impl Emit for Scoped<'_> {
    fn emit_value(&self, name: &str, value: Value<'_>, kind: MetricType) -> Result<(), Error> {
        let sampling = if self.sample_rate == 1.0 {
            Sampling::Every
        } else {
            Sampling::Random(self.sample_rate)
        };
        emit::emit(self.shared, name, value, kind, sampling, self.tags)
    }
}
