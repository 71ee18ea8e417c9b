//! The one error type of the crate.
//!
//! Every fallible call returns [`Error`]. Its variants say what was wrong and carry
//! the offending value, so a message reads like `invalid metric name "a:b": contains
//! ':'`. Errors on the metric path are rare by design: building one may allocate,
//! but nothing on the successful path does.

use std::fmt;

/// Everything that can go wrong in statsd-connector.
///
/// Configuration errors come from [`Builder::build`](crate::Builder::build) and
/// [`Config::from_env`](crate::Config::from_env); metric errors come from the
/// metric calls of [`Connector`](crate::Connector), which never panic and never
/// wait: a metric that cannot be queued is reported here and counted in
/// [`Stats`](crate::Stats).
///
/// ```
/// use statsd_connector::{Connector, Error, Metrics};
///
/// let connector = Connector::builder().host("localhost").build()?;
/// match connector.count("bad|name", 1) {
///     Err(Error::InvalidName { name, .. }) => assert_eq!(name, "bad|name"),
///     other => panic!("unexpected {other:?}"),
/// }
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The host name is empty.
    #[error("host must not be empty")]
    EmptyHost,

    /// The port is zero, out of range or not a number.
    #[error("invalid port {value:?}: {reason}")]
    InvalidPort {
        /// The port as given.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },

    /// The protocol is not one this crate speaks.
    #[error("unknown protocol {0:?}: expected tcp, udp, unix or unixgram")]
    UnknownProtocol(String),

    /// The prefix contains characters that cannot appear in a metric name.
    #[error("invalid prefix {prefix:?}: {reason}")]
    InvalidPrefix {
        /// The prefix as given.
        prefix: String,
        /// Why it was refused.
        reason: Reason,
    },

    /// Another configuration value is out of range.
    #[error("invalid configuration: {setting} = {value:?}: {reason}")]
    InvalidSetting {
        /// The setting's name, as in the builder (`max_payload`, `queue_capacity`, ...).
        setting: &'static str,
        /// The value as given.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },

    /// An environment variable holds a value that cannot be used.
    #[error("invalid environment variable {variable}={value:?}: {reason}")]
    InvalidEnvironment {
        /// The variable's name, e.g. `STATSD_PORT`.
        variable: &'static str,
        /// Its value.
        value: String,
        /// Why it was refused.
        reason: String,
    },

    /// A metric name is empty, too long, or contains a character that would break
    /// the line (`:`, `|`, `@`, `#`, a comma, a control character, ...).
    #[error("invalid metric name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: Reason,
    },

    /// A metric value is not a finite number (or not a valid set member).
    #[error("invalid metric value {value:?}: {reason}")]
    InvalidValue {
        /// The value as given (formatted).
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },

    /// A metric type code is not one of `c`, `g`, `ms`, `s`, `h`, `d`.
    #[error("invalid metric type {0:?}: expected c, g, ms, s, h or d")]
    InvalidType(String),

    /// A sample rate is not in `(0, 1]`.
    #[error("invalid sample rate {0}: expected a number in (0, 1]")]
    InvalidSampleRate(f64),

    /// A tag key or value cannot be written in the configured tag dialect.
    #[error("invalid tag {tag:?}: {reason}")]
    InvalidTag {
        /// The tag as given (`key:value` or `key`).
        tag: String,
        /// Why it was refused.
        reason: Reason,
    },

    /// The formatted line would be longer than the limit of the transport.
    #[error("metric line of {length} bytes exceeds the limit of {limit} bytes")]
    LineTooLong {
        /// The length the line would have had, newline included.
        length: usize,
        /// The limit it exceeds.
        limit: usize,
    },

    /// A statsd line given as text (to [`Connector::send_line`](crate::Connector::send_line))
    /// does not follow `name:value|type[|@rate][|#tags]`.
    #[error("malformed statsd line: {0}")]
    MalformedLine(Reason),

    /// The queue is full: the metric was dropped and counted in
    /// [`Stats::dropped`](crate::Stats::dropped). The caller never waits.
    #[error("queue full: metric dropped")]
    QueueFull,

    /// A [`Timer`](crate::Timer) was used out of order.
    #[error("timer misuse: {0}")]
    TimerMisuse(&'static str),

    /// `start()` was called outside a tokio runtime.
    #[error("start() must be called from within a tokio runtime")]
    NoRuntime,

    /// An I/O error outside the metric path (binding a capture server, starting
    /// a background runtime).
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Why a name, prefix, tag or line was refused: a small, allocation-free value
/// shared by the validation code and the errors above.
///
/// ```
/// use statsd_connector::{Connector, Error, Metrics, Reason};
///
/// let statsd = Connector::builder().host("localhost").build()?;
/// match statsd.incr("api:hits") {
///     Err(Error::InvalidName { reason, .. }) => assert_eq!(reason, Reason::ForbiddenByte(b':')),
///     other => panic!("unexpected {other:?}"),
/// }
/// # Ok::<(), statsd_connector::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// Nothing was given.
    Empty,
    /// Longer than the documented maximum.
    TooLong {
        /// The length given.
        length: usize,
        /// The maximum allowed.
        limit: usize,
    },
    /// Contains a byte that the statsd grammar reserves or that is a control
    /// character.
    ForbiddenByte(u8),
    /// Starts or ends with a `.`, or has `..` inside (an empty path segment).
    EmptySegment,
    /// The line has no `:` between name and value.
    MissingValue,
    /// The line has no `|type` after the value.
    MissingType,
    /// A field after the type is neither `@rate` nor `#tags`.
    UnknownField,
    /// The sample rate after `|@` is not a number in (0, 1].
    BadSampleRate,
    /// The value does not fit the metric type.
    BadValue,
    /// The type code is unknown.
    BadType,
    /// Not valid UTF-8.
    NotUtf8,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Reason::Empty => f.write_str("empty"),
            Reason::TooLong { length, limit } => {
                write!(f, "{length} bytes is longer than the limit of {limit}")
            }
            Reason::ForbiddenByte(b) if b.is_ascii_graphic() => {
                write!(f, "contains the reserved character '{}'", b as char)
            }
            Reason::ForbiddenByte(b) => write!(f, "contains the control byte 0x{b:02x}"),
            Reason::EmptySegment => {
                f.write_str("has an empty segment (leading, trailing or double '.')")
            }
            Reason::MissingValue => f.write_str("missing ':value' after the name"),
            Reason::MissingType => f.write_str("missing '|type' after the value"),
            Reason::UnknownField => {
                f.write_str("a field after the type is neither '@rate' nor '#tags'")
            }
            Reason::BadSampleRate => f.write_str("sample rate is not a number in (0, 1]"),
            Reason::BadValue => f.write_str("value does not fit the metric type"),
            Reason::BadType => f.write_str("unknown metric type (expected c, g, ms, s, h or d)"),
            Reason::NotUtf8 => f.write_str("not valid UTF-8"),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
