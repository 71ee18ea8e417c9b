//! The wire: what one statsd line is, and nothing else.
//!
//! Pure code, no I/O and no shared state, used by both sides: the caller's
//! side validates and formats with it, the processor's telemetry and
//! aggregation flushes format with it, and the receiving side (the CLI, the
//! capture server, the property tests) parses with it.
//!
//! - `metric`: the vocabulary ([`MetricType`](crate::MetricType),
//!   [`TagFormat`](crate::TagFormat), the values a call produces).
//! - `validate`: refuse what would break a line (reject, never repair).
//! - `format`: write a checked metric as one line into a byte buffer.
//! - `line`: read a line back ([`Line`](crate::Line)).
//! - `event`, `service_check`: the DogStatsD events and service checks
//!   ([`Event`](crate::Event), [`ServiceCheck`](crate::ServiceCheck)), checked
//!   and written as one line each.
//! - `dogstatsd_parse`: read them back as the Datadog Agent does
//!   ([`ParsedEvent`](crate::ParsedEvent),
//!   [`ParsedServiceCheck`](crate::ParsedServiceCheck)).
//! - `datagram`: read any line, metric, event or service check
//!   ([`Datagram`](crate::Datagram)).

pub(crate) mod datagram;
pub(crate) mod dogstatsd_parse;
pub(crate) mod event;
pub(crate) mod format;
pub(crate) mod line;
pub(crate) mod metric;
pub(crate) mod service_check;
pub(crate) mod validate;

// Table tests ported from datadog-go and the Datadog Agent.
#[cfg(test)]
mod conformance;
