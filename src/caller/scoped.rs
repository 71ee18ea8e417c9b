//! Scoped emitting: a connector plus tags, a sample rate and the DogStatsD
//! per-call fields (a timestamp, a cardinality), borrowed, so a scope costs
//! nothing to make. Made by
//! [`Connector::with_tags`](crate::Connector::with_tags),
//! [`Connector::sampled`](crate::Connector::sampled),
//! [`Connector::at`](crate::Connector::at) and
//! [`Connector::with_cardinality`](crate::Connector::with_cardinality).

use std::time::SystemTime;

use crate::error::Error;
use crate::shared::Shared;
use crate::wire::metric::{Cardinality, MetricType, Value};

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
    /// `|T` (DogStatsD v1.3): when the value was measured.
    timestamp: Option<SystemTime>,
    /// `|card:` (DogStatsD v1.6) for these calls.
    cardinality: Option<Cardinality>,
}

impl<'a> Scoped<'a> {
    /// A scope over `shared` with these tags and this rate.
    #[inline]
    pub(crate) fn new(
        shared: &'a Shared,
        tags: &'a [(&'a str, &'a str)],
        sample_rate: f64,
    ) -> Self {
        Scoped {
            shared,
            tags,
            sample_rate,
            timestamp: None,
            cardinality: None,
        }
    }

    /// Marks the gauges and counts sent through this scope as measured at
    /// `when` (`|T<unix seconds>`, DogStatsD protocol v1.3, Agent 7.40 and
    /// later): the Agent files them at that time instead of at arrival. Only
    /// for a server declared DogStatsD, only gauges and counts (other types
    /// are refused), and such calls bypass client-side aggregation.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use statsd_connector::{Connector, ErrorKind, Metrics};
    ///
    /// let statsd = Connector::builder().host("localhost").dogstatsd(true).build()?;
    /// let measured = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    /// statsd.at(measured).gauge("backlog", 12.0)?;   // backlog:12|g|T1700000000
    /// let error = statsd.at(measured).timing("t", Duration::ZERO).unwrap_err();
    /// assert!(matches!(error.kind(), ErrorKind::InvalidField { field: "timestamp", .. }));
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn at(self, when: SystemTime) -> Scoped<'a> {
        Scoped {
            timestamp: Some(when),
            ..self
        }
    }

    /// Asks the Agent for this cardinality of origin tags on these calls
    /// (`|card:`, DogStatsD protocol v1.6), instead of the connector's
    /// ([`Builder::cardinality`](crate::Builder::cardinality)). Only for a
    /// server declared DogStatsD.
    ///
    /// ```
    /// use statsd_connector::{Cardinality, Connector, Metrics};
    ///
    /// let statsd = Connector::builder().host("localhost").dogstatsd(true).build()?;
    /// statsd.with_cardinality(Cardinality::High).incr("requests")?; // requests:1|c|card:high
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn with_cardinality(self, cardinality: Cardinality) -> Scoped<'a> {
        Scoped {
            cardinality: Some(cardinality),
            ..self
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
    /// Inlined: a scope made at the call site (`statsd.with_tags(..)`) has
    /// a known rate and no fields, so only the call's own branch is left.
    #[inline(always)]
    fn emit_value(&self, name: &str, value: Value<'_>, kind: MetricType) -> Result<(), Error> {
        if self.sample_rate == 1.0 && self.timestamp.is_none() && self.cardinality.is_none() {
            return emit::emit(self.shared, name, value, kind, Sampling::Every, self.tags);
        }
        self.emit_scoped(name, value, kind)
    }
}

impl Scoped<'_> {
    /// [`Emit::emit_value`] with a rate or DogStatsD fields.
    #[inline(never)]
    fn emit_scoped(&self, name: &str, value: Value<'_>, kind: MetricType) -> Result<(), Error> {
        let sampling = if self.sample_rate == 1.0 {
            Sampling::Every
        } else {
            Sampling::Random(self.sample_rate)
        };
        if self.timestamp.is_none() && self.cardinality.is_none() {
            return emit::emit(self.shared, name, value, kind, sampling, self.tags);
        }
        let fields = emit::CallFields {
            timestamp: self.timestamp,
            cardinality: self.cardinality,
        };
        emit::emit_with(self.shared, name, value, kind, sampling, self.tags, fields)
    }
}
