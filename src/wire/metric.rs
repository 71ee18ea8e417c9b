//! The vocabulary of statsd: metric types and tag dialects.
//!
//! One line on the wire is
//!
//! ```text
//! <prefix.><type prefix.>name:value|type[|@sample_rate][|#tags]\n
//! ```
//!
//! with these types:
//!
//! ```text
//! requests:1|c          counter (a sum over the flush interval)
//! queue.depth:42|g      gauge, absolute value
//! queue.depth:+3|g      gauge, delta (a leading sign makes it relative)
//! db.query:12.5|ms      timing in milliseconds
//! users:alice|s         set (distinct values per interval)
//! payload:512|h         histogram (DogStatsD, Telegraf)
//! latency:3.2|d         distribution (DogStatsD)
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, ErrorKind};

/// The type of a metric: the code after the `|` on the wire.
///
/// ```
/// use statsd_connector::MetricType;
///
/// let kind: MetricType = "ms".parse()?;
/// assert_eq!(kind, MetricType::Timing);
/// assert_eq!(kind.to_string(), "ms");
/// assert_eq!(MetricType::from_code(b"g"), Some(MetricType::Gauge));
/// assert_eq!(MetricType::Counter.type_prefix(), "counters.");
/// assert!("x".parse::<MetricType>().is_err());
/// # Ok::<(), statsd_connector::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetricType {
    /// `c`: a counter, summed by the server.
    Counter,
    /// `g`: a gauge, last value wins; `+n`/`-n` adjust it.
    Gauge,
    /// `ms`: a timing in milliseconds.
    Timing,
    /// `s`: a set, the server counts distinct values.
    Set,
    /// `h`: a histogram (DogStatsD, Telegraf; Etsy treats it as a timer).
    Histogram,
    /// `d`: a distribution (DogStatsD).
    Distribution,
}

impl MetricType {
    /// Every type, in the order of [`MetricType::index`].
    pub(crate) const ALL: [MetricType; 6] = [
        MetricType::Counter,
        MetricType::Gauge,
        MetricType::Timing,
        MetricType::Set,
        MetricType::Histogram,
        MetricType::Distribution,
    ];

    /// The position of this type in [`MetricType::ALL`], for tables by type.
    #[inline]
    pub(crate) const fn index(self) -> usize {
        match self {
            MetricType::Counter => 0,
            MetricType::Gauge => 1,
            MetricType::Timing => 2,
            MetricType::Set => 3,
            MetricType::Histogram => 4,
            MetricType::Distribution => 5,
        }
    }

    /// The type code as written on the wire.
    ///
    /// ```
    /// assert_eq!(statsd_connector::MetricType::Timing.code(), "ms");
    /// ```
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            MetricType::Counter => "c",
            MetricType::Gauge => "g",
            MetricType::Timing => "ms",
            MetricType::Set => "s",
            MetricType::Histogram => "h",
            MetricType::Distribution => "d",
        }
    }

    /// The path prefix of the original connector's 1.0 release, used when
    /// [`Builder::type_prefixes`](crate::Builder::type_prefixes) is on.
    #[must_use]
    pub const fn type_prefix(self) -> &'static str {
        match self {
            MetricType::Counter => "counters.",
            MetricType::Gauge => "gauges.",
            MetricType::Timing => "timers.",
            MetricType::Set => "sets.",
            MetricType::Histogram => "histograms.",
            MetricType::Distribution => "distributions.",
        }
    }

    /// Parses a type code (`c`, `g`, `ms`, `s`, `h`, `d`).
    #[must_use]
    pub fn from_code(code: &[u8]) -> Option<MetricType> {
        Some(match code {
            b"c" => MetricType::Counter,
            b"g" => MetricType::Gauge,
            b"ms" => MetricType::Timing,
            b"s" => MetricType::Set,
            b"h" => MetricType::Histogram,
            b"d" => MetricType::Distribution,
            _ => return None,
        })
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for MetricType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        MetricType::from_code(s.as_bytes())
            .ok_or_else(|| Error::from(ErrorKind::InvalidType(s.to_owned())))
    }
}

/// How tags are written: servers disagree, so the dialect is part of the
/// configuration.
///
/// ```text
/// DogStatsD (Datadog agent, Etsy 0.9, Vector):  requests:1|c|#region:eu,canary
/// Influx    (Telegraf):                         requests,region=eu,canary=true:1|c
/// Graphite  (graphite tagged series):           requests;region=eu;canary=true:1|c
/// ```
///
/// A tag without a value is written as a bare key in DogStatsD and as
/// `key=true` in the other two, which have no bare keys.
///
/// ```
/// use statsd_connector::{Connector, TagFormat};
///
/// let format: TagFormat = "telegraf".parse()?; // as a configuration file may say
/// assert_eq!(format, TagFormat::Influx);
/// let statsd = Connector::builder().host("localhost").tag_format(format).build()?;
/// # Ok::<(), statsd_connector::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TagFormat {
    /// `|#key:value,key2` after the type (the default).
    #[default]
    DogStatsd,
    /// `,key=value` after the name.
    Influx,
    /// `;key=value` after the name.
    Graphite,
}

impl TagFormat {
    /// The dialect's name, as [`Display`](fmt::Display) writes it and
    /// [`FromStr`] reads it: `dogstatsd`, `influx` or `graphite`.
    ///
    /// ```
    /// use statsd_connector::TagFormat;
    ///
    /// assert_eq!(TagFormat::Influx.as_str(), "influx");
    /// assert_eq!(TagFormat::Graphite.to_string(), "graphite");
    /// for format in [TagFormat::DogStatsd, TagFormat::Influx, TagFormat::Graphite] {
    ///     assert_eq!(format.to_string().parse::<TagFormat>()?, format);
    /// }
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            TagFormat::DogStatsd => "dogstatsd",
            TagFormat::Influx => "influx",
            TagFormat::Graphite => "graphite",
        }
    }
}

impl fmt::Display for TagFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TagFormat {
    type Err = Error;

    /// Parses `dogstatsd` (or `datadog`), `influx` (or `influxdb`,
    /// `telegraf`) or `graphite`, in any case.
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "dogstatsd" | "datadog" => Ok(TagFormat::DogStatsd),
            "influx" | "influxdb" | "telegraf" => Ok(TagFormat::Influx),
            "graphite" => Ok(TagFormat::Graphite),
            _ => Err(Error::from(ErrorKind::InvalidSetting {
                setting: "tag_format",
                value: s.to_owned(),
                reason: "expected dogstatsd, influx or graphite",
            })),
        }
    }
}

/// A metric value in one of the forms the calls produce. `pub` only because
/// the sealed [`Metrics`](crate::Metrics) trait names it; it is not reachable
/// from outside the crate.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    /// An integer (counters).
    Int(i64),
    /// A finite float, written without sign decoration.
    Float(f64),
    /// A gauge delta: always written with a leading `+` or `-`.
    Delta(f64),
    /// A duration, written in milliseconds with up to six decimals.
    Duration(Duration),
    /// Text already validated for its type (raw values, set members).
    Text(&'a str),
}

/// How many tags the Agent adds to a metric from what origin detection found
/// (the `|card:` field, DogStatsD protocol v1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cardinality {
    /// No origin tags.
    None,
    /// Low-cardinality tags (the image, the deployment ...).
    Low,
    /// Orchestrator tags too (the pod, the task).
    Orchestrator,
    /// High-cardinality tags too (the container).
    High,
}

impl Cardinality {
    pub(crate) const EXPECTED: &'static str = "expected none, low, orchestrator or high";

    /// The value as the wire and the variables write it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Cardinality::None => "none",
            Cardinality::Low => "low",
            Cardinality::Orchestrator => "orchestrator",
            Cardinality::High => "high",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Cardinality> {
        match text.trim().to_ascii_lowercase().as_str() {
            "none" => Some(Cardinality::None),
            "low" => Some(Cardinality::Low),
            "orchestrator" => Some(Cardinality::Orchestrator),
            "high" => Some(Cardinality::High),
            _ => None,
        }
    }
}

impl FromStr for Cardinality {
    type Err = Error;

    /// Parses `none`, `low`, `orchestrator` or `high`, in any case.
    fn from_str(text: &str) -> Result<Cardinality, Error> {
        Cardinality::parse(text).ok_or_else(|| {
            Error::from(ErrorKind::InvalidSetting {
                setting: "cardinality",
                value: text.to_owned(),
                reason: Cardinality::EXPECTED,
            })
        })
    }
}

impl fmt::Display for Cardinality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
