//! Configuration: a builder, and the `STATSD_*` environment.
//!
//! Everything is checked when the configuration is built, so a connector that
//! exists is a connector that can run: a bad host, port, protocol or prefix is an
//! [`Error`] naming the value, never a surprise in the background task.
//!
//! - this file: the checked [`Config`], the [`Protocol`] and the defaults.
//! - `builder`: the [`Builder`] and its settings; `builder/steps`: the
//!   steps of [`Builder::build_config`], its checks among them.
//! - `env`: reading the `STATSD_*` and `DD_*` environment into a builder.
//! - `address`: the one parser of server addresses (`udp://`, `tcp://`,
//!   `unixgram://`, `unixstream://`, `unix://`, bare hosts and paths).
//! - `datadog_env`: the Datadog clients' `DD_*` variables.
//! - `origin`: container ID detection for DogStatsD origin detection.
//! - `operations`: address refresh, the telemetry's own address, the cap on
//!   tag sets per name.

pub(crate) mod address;
mod builder;
pub(crate) mod datadog_env;
mod env;
pub(crate) mod operations;
pub(crate) mod origin;
#[cfg(test)]
pub(crate) mod test_dir;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::wire::metric::{Cardinality, TagFormat};
use crate::wire::validate::MAX_LINE_LENGTH;

pub use builder::Builder;
pub use operations::{DEFAULT_DNS_REFRESH, DEFAULT_TAG_SET_WINDOW};

/// The port statsd servers listen on by default.
pub const DEFAULT_PORT: u16 = 8125;

/// The default bound of the queue, in metrics (lines).
///
/// The original connector's 1.0 release held 1000. We hold more because we
/// batch: lines wait in the queue while a write is on its way, so the bound
/// is also the largest burst that can arrive meanwhile, and because a
/// reconnect sleep of one second at 100 000 metrics a second should lose
/// nothing. At 40 bytes a line this is about 4 MiB at most (see the README's
/// Memory section).
pub const DEFAULT_QUEUE_CAPACITY: usize = 100_000;

/// The default datagram payload limit: fits an Ethernet MTU of 1500 bytes with
/// IPv4/IPv6 and UDP headers to spare, so no datagram is fragmented.
pub const DEFAULT_MAX_PAYLOAD: usize = 1432;

/// The default datagram payload limit for Unix datagrams: no network MTU
/// applies, and 8 KiB is what the common servers read by default.
pub const DEFAULT_UNIX_MAX_PAYLOAD: usize = 8192;

/// The transport used to reach the server.
///
/// Parsed from text as `STATSD_PROTOCOL` is, in any case, so a configuration
/// file can name it too:
///
/// ```
/// use statsd_connector::Protocol;
///
/// let protocol: Protocol = "UDP".parse()?;
/// assert_eq!(protocol, Protocol::Udp);
/// assert_eq!(protocol.to_string(), "udp");
/// assert!(protocol.is_datagram() && !protocol.is_unix());
/// assert!("sctp".parse::<Protocol>().is_err()); // named in the error
/// # Ok::<(), statsd_connector::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Protocol {
    /// A TCP stream (the default, as in the original connector): the client sees
    /// disconnects and resends what it could not write.
    #[default]
    Tcp,
    /// UDP datagrams of several lines each, up to the payload limit.
    Udp,
    /// A Unix domain stream socket; the host is the socket's path. Behaves as
    /// TCP (reconnects, resends, drains).
    Unix,
    /// Unix domain datagrams; the host is the socket's path. The default
    /// payload limit is [`DEFAULT_UNIX_MAX_PAYLOAD`].
    Unixgram,
}

impl Protocol {
    /// Whether the protocol sends datagrams (UDP, Unix datagrams).
    #[must_use]
    pub fn is_datagram(self) -> bool {
        matches!(self, Protocol::Udp | Protocol::Unixgram)
    }

    /// Whether the host is a filesystem path (Unix sockets).
    #[must_use]
    pub fn is_unix(self) -> bool {
        matches!(self, Protocol::Unix | Protocol::Unixgram)
    }
}

impl FromStr for Protocol {
    type Err = Error;

    /// Parses `tcp`, `udp`, `unix` or `unixgram`, in any case.
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            "unix" => Ok(Protocol::Unix),
            "unixgram" => Ok(Protocol::Unixgram),
            _ => Err(Error::from(ErrorKind::UnknownProtocol(s.to_owned()))),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Unix => "unix",
            Protocol::Unixgram => "unixgram",
        })
    }
}

/// How lines are framed on a stream socket (TCP, Unix stream).
///
/// ```
/// use statsd_connector::{Connector, Framing};
///
/// let statsd = Connector::builder()
///     .host("unix:///var/run/datadog/dsd.socket")
///     .framing(Framing::LengthPrefixed)
///     .build()?;
/// assert_eq!(statsd.config().framing(), Framing::LengthPrefixed);
/// # Ok::<(), statsd_connector::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Framing {
    /// Newline-terminated lines, one after the other (plain statsd; the
    /// default).
    #[default]
    Newline,
    /// The Datadog Agent's stream framing (`dogstatsd_stream_socket`,
    /// `unixstream://`): each frame is a 4-byte little-endian length, then
    /// that many bytes of whole newline-terminated lines, never more than
    /// the payload limit ([`Builder::max_payload`], default
    /// [`DEFAULT_UNIX_MAX_PAYLOAD`]). A frame cut by a failed write is sent
    /// again whole on the next connection, never in part.
    LengthPrefixed,
}

impl fmt::Display for Framing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Framing::Newline => "newline",
            Framing::LengthPrefixed => "length-prefixed",
        })
    }
}

/// A function that turns `(host, port)` into addresses. The default asks the
/// system resolver anew on every connection attempt; tests install their own.
pub type Resolver =
    Arc<dyn Fn(&str, u16) -> std::io::Result<Vec<SocketAddr>> + Send + Sync + 'static>;

/// A checked configuration. Build one with [`Config::builder`] or
/// [`Config::from_env`]; hand it to [`Connector::new`](crate::Connector::new).
///
/// The accessors show what was decided, defaults included, which is handy in a
/// startup log line:
///
/// ```
/// use statsd_connector::{Config, Connector, Protocol, DEFAULT_QUEUE_CAPACITY, MAX_LINE_LENGTH};
///
/// let config = Config::builder().host("statsd.internal").prefix("shop").build_config()?;
/// assert_eq!(config.host(), "statsd.internal");
/// assert_eq!((config.port(), config.protocol()), (8125, Protocol::Tcp));
/// assert_eq!(config.prefix(), Some("shop"));
/// assert!(config.enabled());
/// assert_eq!(config.queue_capacity(), DEFAULT_QUEUE_CAPACITY);
/// assert_eq!(config.max_line_length(), MAX_LINE_LENGTH);
///
/// let statsd = Connector::new(config);
/// # Ok::<(), statsd_connector::Error>(())
/// ```
#[derive(Clone)]
pub struct Config {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) protocol: Protocol,
    pub(crate) prefix: Option<String>,
    pub(crate) type_prefixes: bool,
    pub(crate) tag_format: TagFormat,
    pub(crate) global_tags: Vec<(String, String)>,
    pub(crate) queue_capacity: usize,
    pub(crate) emitting_threads: usize,
    pub(crate) reconnect_sleep: Duration,
    pub(crate) wait_timeout: Duration,
    pub(crate) batch_delay: Duration,
    pub(crate) aggregate: Option<Duration>,
    pub(crate) telemetry: Option<Duration>,
    pub(crate) dogstatsd: bool,
    pub(crate) max_samples_per_context: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) stop_timeout: Duration,
    pub(crate) max_payload: usize,
    pub(crate) enabled: bool,
    pub(crate) resolver: Option<Resolver>,
    /// How lines are framed on a stream socket.
    pub(crate) framing: Framing,
    /// `unix://`: find the socket's kind at connect time (a datagram socket
    /// gets datagrams, a stream socket `framing`).
    pub(crate) unix_probe: bool,
    /// DogStatsD origin: the container ID (`|c:`), DogStatsD mode only.
    pub(crate) container_id: Option<String>,
    /// `DD_EXTERNAL_ENV` (`|e:`), DogStatsD mode only.
    pub(crate) external_env: Option<String>,
    /// `DD_CARDINALITY` (`|card:`), DogStatsD mode only.
    pub(crate) cardinality: Option<Cardinality>,
    /// Address refresh, telemetry address, tag-set cap (`operations`).
    pub(crate) ops: operations::OperationsConfig,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("protocol", &self.protocol)
            .field("dogstatsd", &self.dogstatsd)
            .field("prefix", &self.prefix)
            .field("type_prefixes", &self.type_prefixes)
            .field("tag_format", &self.tag_format)
            .field("global_tags", &self.global_tags)
            .field("queue_capacity", &self.queue_capacity)
            .field("reconnect_sleep", &self.reconnect_sleep)
            .field("wait_timeout", &self.wait_timeout)
            .field("batch_delay", &self.batch_delay)
            .field("aggregate", &self.aggregate)
            .field("telemetry", &self.telemetry)
            .field("connect_timeout", &self.connect_timeout)
            .field("stop_timeout", &self.stop_timeout)
            .field("max_payload", &self.max_payload)
            .field("enabled", &self.enabled)
            .field("resolver", &self.resolver.as_ref().map(|_| "custom"))
            .field("framing", &self.framing)
            .field("unix_probe", &self.unix_probe)
            .field("container_id", &self.container_id)
            .field("external_env", &self.external_env)
            .field("cardinality", &self.cardinality)
            .field("ops", &self.ops)
            .finish()
    }
}

impl Config {
    /// A builder with every default: port 8125, TCP, no prefix, enabled.
    #[must_use]
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Reads the configuration from the process environment; see
    /// [`Builder::from_env_with`] for the variables and their rules.
    ///
    /// Without `STATSD_HOST` the configuration is disabled rather than an
    /// error, so a program runs the same where no statsd server is set up:
    ///
    /// ```
    /// let config = statsd_connector::Config::from_env()?;
    /// if !config.enabled() {
    ///     println!("STATSD_HOST is not set: metrics are off");
    /// }
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// What [`Builder::from_env_with`] refuses ([`ErrorKind::UnknownProtocol`](crate::ErrorKind::UnknownProtocol) when `STATSD_PROTOCOL` is none of `tcp`, `udp`,
    /// `unix`, `unixgram`; [`ErrorKind::InvalidEnvironment`](crate::ErrorKind::InvalidEnvironment), naming the variable, when
    /// `STATSD_RECONNECT_SLEEP`, `STATSD_WAIT_TIMEOUT`, `STATSD_TELEMETRY_INTERVAL`
    /// or `STATSD_QUEUE_CAPACITY` is not a number of the right kind, or a `DD_*`
    /// variable holds a value that cannot be used),
    /// then what [`Builder::build_config`] refuses, e.g. [`ErrorKind::InvalidPort`](crate::ErrorKind::InvalidPort) for `STATSD_PORT`, [`ErrorKind::InvalidAddress`](crate::ErrorKind::InvalidAddress) for `STATSD_HOST`, [`ErrorKind::InvalidPrefix`](crate::ErrorKind::InvalidPrefix) for `STATSD_PREFIX` or [`ErrorKind::InvalidSetting`](crate::ErrorKind::InvalidSetting) for `STATSD_QUEUE_CAPACITY=0`. Without `STATSD_HOST` (and no `DD_*` address) it is not an error: the configuration is disabled.
    pub fn from_env() -> Result<Config, Error> {
        Builder::from_env_with(|name| std::env::var(name).ok())?.build_config()
    }

    /// The server's host name or address.
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The server's port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The transport.
    #[must_use]
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The prefix put before every name, without its trailing `.`.
    #[must_use]
    pub fn prefix(&self) -> Option<&str> {
        self.prefix.as_deref()
    }

    /// Whether metrics are sent at all.
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether the server is declared a DogStatsD server
    /// ([`Builder::dogstatsd`]).
    #[must_use]
    pub fn is_dogstatsd(&self) -> bool {
        self.dogstatsd
    }

    /// How lines are framed on a stream socket ([`Builder::framing`]; for a
    /// `unixstream://` address, [`Framing::LengthPrefixed`]).
    #[must_use]
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Whether the socket's kind is found at connect time (a `unix://`
    /// address): a datagram socket then gets datagrams, a stream socket
    /// [`Config::framing`].
    #[must_use]
    pub fn probes_unix_kind(&self) -> bool {
        self.unix_probe
    }

    /// The container ID sent as the DogStatsD origin (`|c:<id>`, protocol
    /// v1.2; `in-<cgroup inode>` from protocol v1.4 when the ID is not
    /// visible): the one given to [`Builder::container_id`], else the one
    /// detected when the configuration was built (unless
    /// [`Builder::origin_detection`] or `DD_ORIGIN_DETECTION_ENABLED` turned
    /// detection off). Always `None` outside DogStatsD mode.
    #[must_use]
    pub fn container_id(&self) -> Option<&str> {
        self.container_id.as_deref()
    }

    /// `DD_EXTERNAL_ENV` (the `|e:` field, protocol v1.5): DogStatsD mode
    /// with origin detection on only, as datadog-go sends it.
    #[must_use]
    pub fn external_env(&self) -> Option<&str> {
        self.external_env.as_deref()
    }

    /// `DD_CARDINALITY` / `DATADOG_CARDINALITY` or [`Builder::cardinality`]
    /// (the `|card:` field, protocol v1.6), DogStatsD mode only.
    #[must_use]
    pub fn cardinality(&self) -> Option<Cardinality> {
        self.cardinality
    }

    /// The queue bound in lines.
    #[must_use]
    pub fn queue_capacity(&self) -> usize {
        self.queue_capacity
    }

    /// The longest line this configuration accepts, newline included: the
    /// payload limit for datagrams, length-prefixed frames and `unix://`
    /// sockets (which may turn out to be datagram sockets), [`MAX_LINE_LENGTH`]
    /// otherwise.
    ///
    /// ```
    /// use statsd_connector::{Config, Protocol, DEFAULT_MAX_PAYLOAD};
    ///
    /// let udp = Config::builder().host("localhost").protocol(Protocol::Udp).build_config()?;
    /// assert_eq!(udp.max_line_length(), DEFAULT_MAX_PAYLOAD); // one line must fit one datagram
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    #[must_use]
    pub fn max_line_length(&self) -> usize {
        if self.protocol.is_datagram() || self.framing == Framing::LengthPrefixed || self.unix_probe
        {
            self.max_payload.min(MAX_LINE_LENGTH)
        } else {
            MAX_LINE_LENGTH
        }
    }
}
