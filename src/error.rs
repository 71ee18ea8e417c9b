//! The one error type of the crate.
//!
//! Every fallible call returns [`Error`]: small to return (16 bytes, so a
//! metric call's `Result<(), Error>` stays in two registers), cheap to match
//! ([`Error::kind`], and `is_*` helpers for the common questions), and
//! detailed when printed: the [`ErrorKind`] says what was wrong and carries
//! the offending value, so a message reads like `invalid metric name "a:b":
//! contains the reserved character ':'`.
//!
//! The errors a busy program meets on the hot path (a full queue, a stopped
//! connector) carry no details and allocate nothing; the others box their
//! details, which costs an allocation only when a call is refused.

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
/// use statsd_connector::{Connector, ErrorKind, Metrics, Reason};
///
/// let connector = Connector::builder().host("localhost").build()?;
/// let error = connector.count("bad|name", 1).unwrap_err();
/// assert!(error.is_invalid_input() && !error.is_queue_full());
/// match error.kind() {
///     ErrorKind::InvalidName { name, reason } => {
///         assert_eq!((name.as_str(), *reason), ("bad|name", Reason::ForbiddenByte(b'|')));
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// assert_eq!(error.to_string(), "invalid metric name \"bad|name\": contains the reserved character '|'");
/// # Ok::<(), statsd_connector::Error>(())
/// ```
pub struct Error(Repr);

/// The kinds without details live inline; the rest are boxed, so that the
/// error stays two words.
enum Repr {
    QueueFull,
    NoRuntime,
    Stopped,
    Boxed(Box<ErrorKind>),
}

/// What went wrong, with the offending value: see [`Error::kind`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
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

    /// A server address (`udp://host:port`, `unix:///path`, a bare host ...)
    /// cannot be parsed; the reason names the bad part.
    #[error("invalid address {address:?}: {reason}")]
    InvalidAddress {
        /// The address as given.
        address: String,
        /// What is wrong with it, e.g. `empty host`.
        reason: String,
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
    /// does not follow `name:value|type[|@rate][|#tags]`, or a DogStatsD event
    /// (`_e{..}:title|text|...`) or service check (`_sc|name|status|...`) read
    /// back does not follow its grammar.
    #[error("malformed statsd line: {0}")]
    MalformedLine(Reason),

    /// A field of a DogStatsD event or service check (its title, text, name,
    /// hostname, message, timestamp, ...) cannot be written: it is empty where
    /// a value is required, or holds a character that would break the datagram
    /// or change its meaning.
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidField {
        /// Which field, e.g. `event title`, `service check message`.
        field: &'static str,
        /// The value as given.
        value: String,
        /// Why it was refused.
        reason: Reason,
    },

    /// A DogStatsD event or service check was given to a connector whose
    /// server is not declared DogStatsD ([`Builder::dogstatsd`](crate::Builder::dogstatsd)):
    /// a plain statsd server would read it as a malformed metric. Counted in
    /// [`Stats::rejected`](crate::Stats::rejected).
    #[error("{0} refused: the server is not declared DogStatsD (Builder::dogstatsd(true))")]
    NotDogStatsd(&'static str),

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

    /// The connector has been stopped: the metric was refused and counted in
    /// [`Stats::dropped`](crate::Stats::dropped). Calls are accepted again
    /// once it is started again.
    #[error("connector stopped: metric dropped (start it again to send)")]
    Stopped,

    /// A blocking call ([`Connector::start_blocking`](crate::Connector::start_blocking),
    /// [`Connector::stop_blocking`](crate::Connector::stop_blocking)) was made
    /// from within a tokio runtime, where blocking the thread could stall or
    /// panic the runtime. Nothing was done.
    #[error("{call}() cannot be called from within a tokio runtime: use {instead} instead")]
    InsideRuntime {
        /// The blocking call that was refused.
        call: &'static str,
        /// The async call to use instead.
        instead: &'static str,
    },

    /// [`Connector::stop_blocking`](crate::Connector::stop_blocking) waited
    /// past the stop deadline without the processor confirming that it had
    /// exited (its runtime is not running it): what it holds is not counted yet.
    #[error("the processor did not exit within the stop deadline")]
    StopTimedOut,

    /// An I/O error outside the metric path (binding a capture server, starting
    /// a background runtime).
    #[error("i/o error: {0}")]
    Io(#[source] std::io::Error),
}

/// The detail-free kinds, for [`Error::kind`] to lend out.
static QUEUE_FULL: ErrorKind = ErrorKind::QueueFull;
static NO_RUNTIME: ErrorKind = ErrorKind::NoRuntime;
static STOPPED: ErrorKind = ErrorKind::Stopped;

impl Error {
    /// What went wrong, with the offending value.
    ///
    /// ```
    /// use statsd_connector::{Config, ErrorKind};
    ///
    /// let error = Config::builder().host("localhost").port_text("80a").build_config().unwrap_err();
    /// assert!(matches!(error.kind(), ErrorKind::InvalidPort { value, .. } if value == "80a"));
    /// ```
    #[must_use]
    pub fn kind(&self) -> &ErrorKind {
        match &self.0 {
            Repr::QueueFull => &QUEUE_FULL,
            Repr::NoRuntime => &NO_RUNTIME,
            Repr::Stopped => &STOPPED,
            Repr::Boxed(kind) => kind,
        }
    }

    /// The kind, owned.
    #[must_use]
    pub fn into_kind(self) -> ErrorKind {
        match self.0 {
            Repr::QueueFull => ErrorKind::QueueFull,
            Repr::NoRuntime => ErrorKind::NoRuntime,
            Repr::Stopped => ErrorKind::Stopped,
            Repr::Boxed(kind) => *kind,
        }
    }

    /// The queue was full and the metric was dropped (and counted in
    /// [`Stats::dropped`](crate::Stats::dropped)): load, not a bug.
    ///
    /// ```
    /// use statsd_connector::{Connector, Metrics};
    ///
    /// let statsd = Connector::builder().host("localhost").queue_capacity(1).build()?;
    /// statsd.incr("a")?;
    /// assert!(statsd.incr("b").unwrap_err().is_queue_full());
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    #[must_use]
    pub fn is_queue_full(&self) -> bool {
        matches!(self.0, Repr::QueueFull)
    }

    /// The call's input was refused (a name, value, type, sample rate, tag
    /// or line that cannot be sent) and counted in
    /// [`Stats::rejected`](crate::Stats::rejected): a bug in the caller.
    #[must_use]
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::InvalidName { .. }
                | ErrorKind::InvalidValue { .. }
                | ErrorKind::InvalidType(_)
                | ErrorKind::InvalidSampleRate(_)
                | ErrorKind::InvalidTag { .. }
                | ErrorKind::LineTooLong { .. }
                | ErrorKind::MalformedLine(_)
                | ErrorKind::InvalidField { .. }
                | ErrorKind::NotDogStatsd(_)
        )
    }

    /// The configuration was refused (builder or environment).
    #[must_use]
    pub fn is_config(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::EmptyHost
                | ErrorKind::InvalidPort { .. }
                | ErrorKind::UnknownProtocol(_)
                | ErrorKind::InvalidAddress { .. }
                | ErrorKind::InvalidPrefix { .. }
                | ErrorKind::InvalidSetting { .. }
                | ErrorKind::InvalidEnvironment { .. }
        )
    }

    /// Why a name, prefix, tag or line was refused, when that is the error.
    #[must_use]
    pub fn reason(&self) -> Option<Reason> {
        match self.kind() {
            ErrorKind::InvalidPrefix { reason, .. }
            | ErrorKind::InvalidName { reason, .. }
            | ErrorKind::InvalidTag { reason, .. }
            | ErrorKind::InvalidField { reason, .. }
            | ErrorKind::MalformedLine(reason) => Some(*reason),
            _ => None,
        }
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Error {
        Error(match kind {
            ErrorKind::QueueFull => Repr::QueueFull,
            ErrorKind::NoRuntime => Repr::NoRuntime,
            ErrorKind::Stopped => Repr::Stopped,
            kind => Repr::Boxed(Box::new(kind)),
        })
    }
}

impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Error {
        ErrorKind::Io(error).into()
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.kind(), f)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.kind(), f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(self.kind())
    }
}

/// Why a name, prefix, tag or line was refused: a small, allocation-free value
/// shared by the validation code and the errors above.
///
/// ```
/// use statsd_connector::{Connector, Metrics, Reason};
///
/// let statsd = Connector::builder().host("localhost").build()?;
/// let error = statsd.incr("api:hits").unwrap_err();
/// assert_eq!(error.reason(), Some(Reason::ForbiddenByte(b':')));
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
    /// Contains a non-ASCII character that is refused: a C1 control, a line
    /// or paragraph separator, a bidirectional control or a byte order mark
    /// (see the validation rules in the crate's documentation).
    ForbiddenChar(char),
    /// A tag has its `:` or `=` with nothing after it (a bare tag has no
    /// separator at all).
    EmptyTagValue,
    /// Starts or ends with a `.`, or has `..` inside (an empty path segment).
    EmptySegment,
    /// The line has no `:` between name and value.
    MissingValue,
    /// The line has no `|type` after the value.
    MissingType,
    /// A field after the type is none of `@rate`, `#tags` and the DogStatsD
    /// fields (`T`, `c:`, `e:`, `card:`), or one of them is repeated.
    UnknownField,
    /// The sample rate after `|@` is not a number in (0, 1].
    BadSampleRate,
    /// The value does not fit the metric type.
    BadValue,
    /// The type code is unknown.
    BadType,
    /// Not valid UTF-8.
    NotUtf8,
    /// Contains, written out, a sequence that the reader takes for an escape
    /// (`\n`, or `m\:` in a service check message), so it would not read
    /// back as given.
    AmbiguousEscape(&'static str),
    /// A number outside the range the reader accepts.
    OutOfRange,
    /// Not in the expected form; the text says what was expected.
    Expected(&'static str),
    /// A required field (named by the text) is empty or missing.
    EmptyField(&'static str),
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
            Reason::ForbiddenChar(c) => {
                write!(f, "contains the forbidden character U+{:04X}", u32::from(c))
            }
            Reason::EmptyTagValue => f.write_str("a tag has a ':' or '=' with no value after it"),
            Reason::EmptySegment => {
                f.write_str("has an empty segment (leading, trailing or double '.')")
            }
            Reason::MissingValue => f.write_str("missing ':value' after the name"),
            Reason::MissingType => f.write_str("missing '|type' after the value"),
            Reason::UnknownField => {
                f.write_str("a field after the type is none of '@rate', '#tags', 'T', 'c:', 'e:', 'card:' (or is repeated)")
            }
            Reason::BadSampleRate => f.write_str("sample rate is not a number in (0, 1]"),
            Reason::BadValue => f.write_str("value does not fit the metric type"),
            Reason::BadType => f.write_str("unknown metric type (expected c, g, ms, s, h or d)"),
            Reason::NotUtf8 => f.write_str("not valid UTF-8"),
            Reason::AmbiguousEscape(sequence) => write!(
                f,
                "contains `{sequence}` as text, which would read back as an escape"
            ),
            Reason::OutOfRange => f.write_str("out of range"),
            Reason::Expected(what) => write!(f, "expected {what}"),
            Reason::EmptyField(what) => write!(f, "the {what} is empty or missing"),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metric_call_result_is_two_words() {
        // Was 64 bytes when the details lived inline.
        assert_eq!(std::mem::size_of::<Error>(), 16);
        assert_eq!(std::mem::size_of::<Result<(), Error>>(), 16);
    }

    #[test]
    fn detail_free_kinds_round_trip_without_a_box() {
        let error = Error::from(ErrorKind::QueueFull);
        assert!(error.is_queue_full() && !error.is_invalid_input());
        assert!(matches!(error.into_kind(), ErrorKind::QueueFull));
        let error = Error::from(ErrorKind::InvalidSampleRate(2.0));
        assert!(error.is_invalid_input());
        assert_eq!(
            error.to_string(),
            "invalid sample rate 2: expected a number in (0, 1]"
        );
    }
}
