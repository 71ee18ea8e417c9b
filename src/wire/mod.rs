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

pub(crate) mod format;
pub(crate) mod line;
pub(crate) mod metric;
pub(crate) mod validate;
