//! Reading any line a statsd or DogStatsD server may receive: a metric, an
//! event or a service check, told apart by their first bytes as the Datadog
//! Agent does (`_e{` an event, `_sc` a service check, anything else a metric).

use super::dogstatsd_parse::{
    datagram_kind, parse_event, parse_service_check, DatagramKind, ParsedEvent, ParsedServiceCheck,
};
use super::line::Line;
use crate::error::{Error, ErrorKind, Reason};

/// One line of a datagram or stream, read according to its kind.
///
/// ```
/// use statsd_connector::{AlertType, Datagram, ServiceCheckStatus};
///
/// match Datagram::parse("_e{6,9}:Deploy|v2 rolled|t:success|#env:prod")? {
///     Datagram::Event(event) => {
///         assert_eq!((event.title, event.text), ("Deploy", "v2 rolled"));
///         assert_eq!(event.alert_type, Some(AlertType::Success));
///     }
///     other => panic!("{other:?}"),
/// }
/// match Datagram::parse("_sc|db.up|2|m:down")? {
///     Datagram::ServiceCheck(check) => {
///         assert_eq!((check.name, check.status), ("db.up", ServiceCheckStatus::Critical));
///     }
///     other => panic!("{other:?}"),
/// }
/// assert!(matches!(Datagram::parse("hits:1|c")?, Datagram::Metric(line) if line.name == "hits"));
/// assert!(Datagram::parse("_sc|db.up|7").is_err()); // no such status
/// # Ok::<(), statsd_connector::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Datagram<'a> {
    /// A metric sample, `name:value|type...`.
    Metric(Line<'a>),
    /// A DogStatsD event, `_e{...}:title|text...`.
    Event(ParsedEvent<'a>),
    /// A DogStatsD service check, `_sc|name|status...`.
    ServiceCheck(ParsedServiceCheck<'a>),
}

impl<'a> Datagram<'a> {
    /// Reads one line (a single trailing `\n` or `\r\n` is ignored) as a
    /// metric ([`Line::parse`]), an event or a service check, by its prefix.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::MalformedLine`](crate::ErrorKind::MalformedLine) when the text does not follow the grammar of the kind
    /// its prefix announces (a metric line, `_e{` or `_sc|`); its
    /// [`Reason`](crate::Reason) says what is wrong.
    pub fn parse(text: &'a str) -> Result<Datagram<'a>, Error> {
        match datagram_kind(text) {
            DatagramKind::Event => parse_event(text).map(Datagram::Event),
            DatagramKind::ServiceCheck => parse_service_check(text).map(Datagram::ServiceCheck),
            DatagramKind::Metric => Line::parse(text).map(Datagram::Metric),
        }
    }

    /// Reads one line given as bytes, which must be UTF-8.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::MalformedLine`](crate::ErrorKind::MalformedLine): with [`Reason::NotUtf8`](crate::Reason::NotUtf8) when
    /// the bytes are not UTF-8, else as [`Datagram::parse`].
    pub fn parse_bytes(bytes: &'a [u8]) -> Result<Datagram<'a>, Error> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| Error::from(ErrorKind::MalformedLine(Reason::NotUtf8)))?;
        Datagram::parse(text)
    }

    /// Which kind of line this is.
    #[must_use]
    pub fn kind(&self) -> DatagramKind {
        match self {
            Datagram::Metric(_) => DatagramKind::Metric,
            Datagram::Event(_) => DatagramKind::Event,
            Datagram::ServiceCheck(_) => DatagramKind::ServiceCheck,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_read_by_its_parser() {
        assert_eq!(
            Datagram::parse("_e{1,1}:a|b\n").unwrap().kind(),
            DatagramKind::Event
        );
        assert_eq!(
            Datagram::parse_bytes(b"_sc|a|0").unwrap().kind(),
            DatagramKind::ServiceCheck
        );
        assert_eq!(
            Datagram::parse("a:1|c").unwrap().kind(),
            DatagramKind::Metric
        );
        // Judged by prefix: a broken event is a broken event, not a metric.
        assert!(Datagram::parse("_e{2,1}:a|b").is_err());
        assert!(Datagram::parse_bytes(b"_sc|\xff|0").is_err());
    }
}
