//! Configuration: a builder, and the `STATSD_*` environment.
//!
//! Everything is checked when the configuration is built, so a connector that
//! exists is a connector that can run: a bad host, port, protocol or prefix is an
//! [`Error`] naming the value, never a surprise in the background task.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::metric::TagFormat;
use crate::validate::{self, MAX_LINE_LENGTH};

/// The port statsd servers listen on by default.
pub const DEFAULT_PORT: u16 = 8125;

/// The default bound of the queue, in metrics (lines).
///
/// The original connector's 1.0 release held 1000. We hold more because we
/// batch: the processor takes the whole queue at once, so the bound is also the
/// largest burst that can arrive while one write is on its way, and because a
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
    pub fn is_datagram(self) -> bool {
        matches!(self, Protocol::Udp | Protocol::Unixgram)
    }

    /// Whether the host is a filesystem path (Unix sockets).
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
            _ => Err(Error::UnknownProtocol(s.to_owned())),
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
    pub(crate) shards: usize,
    pub(crate) reconnect_sleep: Duration,
    pub(crate) wait_timeout: Duration,
    pub(crate) batch_delay: Duration,
    pub(crate) aggregate: Option<Duration>,
    pub(crate) telemetry: Option<Duration>,
    pub(crate) connect_timeout: Duration,
    pub(crate) stop_timeout: Duration,
    pub(crate) max_payload: usize,
    pub(crate) enabled: bool,
    pub(crate) resolver: Option<Resolver>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("protocol", &self.protocol)
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
            .finish()
    }
}

impl Config {
    /// A builder with every default: port 8125, TCP, no prefix, enabled.
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
    pub fn from_env() -> Result<Config, Error> {
        Builder::from_env_with(|name| std::env::var(name).ok())?.build_config()
    }

    /// The server's host name or address.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The transport.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The prefix put before every name, without its trailing `.`.
    pub fn prefix(&self) -> Option<&str> {
        self.prefix.as_deref()
    }

    /// Whether metrics are sent at all.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The queue bound in lines.
    pub fn queue_capacity(&self) -> usize {
        self.queue_capacity
    }

    /// The longest line this configuration accepts, newline included: the
    /// datagram payload limit for UDP, [`MAX_LINE_LENGTH`] otherwise.
    ///
    /// ```
    /// use statsd_connector::{Config, Protocol, DEFAULT_MAX_PAYLOAD};
    ///
    /// let udp = Config::builder().host("localhost").protocol(Protocol::Udp).build_config()?;
    /// assert_eq!(udp.max_line_length(), DEFAULT_MAX_PAYLOAD); // one line must fit one datagram
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn max_line_length(&self) -> usize {
        if self.protocol.is_datagram() {
            self.max_payload.min(MAX_LINE_LENGTH)
        } else {
            MAX_LINE_LENGTH
        }
    }
}

/// Builds a [`Config`] (or directly a [`Connector`](crate::Connector)).
///
/// ```
/// use std::time::Duration;
/// use statsd_connector::{Connector, Protocol};
///
/// let connector = Connector::builder()
///     .host("statsd.internal")
///     .port(8125)
///     .protocol(Protocol::Udp)
///     .prefix("shop.checkout")
///     .queue_capacity(10_000)
///     .reconnect_sleep(Duration::from_millis(500))
///     .build()?;
/// # Ok::<(), statsd_connector::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    host: String,
    port: PortSetting,
    protocol: Protocol,
    prefix: Option<String>,
    type_prefixes: bool,
    tag_format: TagFormat,
    global_tags: Vec<(String, String)>,
    queue_capacity: usize,
    shards: Option<usize>,
    reconnect_sleep: Duration,
    wait_timeout: Duration,
    batch_delay: Duration,
    aggregate: Option<Duration>,
    telemetry: Option<Duration>,
    connect_timeout: Duration,
    stop_timeout: Duration,
    max_payload: Option<usize>,
    enabled: bool,
    resolver: Option<ResolverSetting>,
}

/// A port as given: a number, or text from the environment, checked in `build`.
#[derive(Debug, Clone)]
enum PortSetting {
    Number(u16),
    Text(String),
}

/// Wraps the resolver so that the builder can derive `Debug`.
#[derive(Clone)]
struct ResolverSetting(Resolver);

impl fmt::Debug for ResolverSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resolver")
    }
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            host: String::new(),
            port: PortSetting::Number(DEFAULT_PORT),
            protocol: Protocol::Tcp,
            prefix: None,
            type_prefixes: false,
            tag_format: TagFormat::DogStatsd,
            global_tags: Vec::new(),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            shards: None,
            reconnect_sleep: Duration::from_secs(1),
            wait_timeout: Duration::from_millis(100),
            batch_delay: Duration::from_millis(1),
            aggregate: None,
            telemetry: None,
            connect_timeout: Duration::from_secs(5),
            stop_timeout: Duration::from_secs(5),
            max_payload: None,
            enabled: true,
            resolver: None,
        }
    }
}

impl Builder {
    /// The server's host name or IP address (required, unless disabled); for
    /// Unix sockets, the socket's path. An address `unix:///path` or
    /// `unixgram:///path` also chooses the protocol.
    ///
    /// ```
    /// use statsd_connector::{Connector, Protocol};
    ///
    /// let statsd = Connector::builder().host("statsd.internal").build()?;
    /// let local = Connector::builder().host("unix:///run/statsd.sock").build()?;
    /// assert_eq!(local.config().host(), "/run/statsd.sock");
    /// assert_eq!(local.config().protocol(), Protocol::Unix);
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn host(mut self, host: impl Into<String>) -> Builder {
        self.host = host.into();
        self
    }

    /// The server's port (default 8125). Zero is refused by `build`.
    ///
    /// ```
    /// use statsd_connector::Connector;
    ///
    /// let statsd = Connector::builder().host("localhost").port(9125).build()?;
    /// assert_eq!(statsd.config().port(), 9125);
    /// assert!(Connector::builder().host("localhost").port(0).build().is_err());
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn port(mut self, port: u16) -> Builder {
        self.port = PortSetting::Number(port);
        self
    }

    /// The port as text, as read from a file or the environment: `build`
    /// refuses text that is not a number from 1 to 65535, naming it.
    ///
    /// ```
    /// use statsd_connector::Connector;
    ///
    /// let statsd = Connector::builder().host("localhost").port_text("9125").build()?;
    /// assert_eq!(statsd.config().port(), 9125);
    /// let error = Connector::builder().host("localhost").port_text("80a").build().unwrap_err();
    /// assert_eq!(error.to_string(), r#"invalid port "80a": not a number"#);
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn port_text(mut self, port: impl Into<String>) -> Builder {
        self.port = PortSetting::Text(port.into());
        self
    }

    /// TCP (default) or UDP.
    ///
    /// ```
    /// use statsd_connector::{Connector, Protocol};
    ///
    /// let statsd = Connector::builder().host("localhost").protocol(Protocol::Udp).build()?;
    /// assert!(statsd.config().protocol().is_datagram());
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn protocol(mut self, protocol: Protocol) -> Builder {
        self.protocol = protocol;
        self
    }

    /// A prefix put before every name, with a `.` between (`shop` makes
    /// `shop.requests`).
    ///
    /// The `.` is added for you, so a prefix ending in `.` is refused (it would
    /// make `shop..requests`):
    ///
    /// ```
    /// use statsd_connector::Connector;
    ///
    /// let statsd = Connector::builder().host("localhost").prefix("shop").build()?;
    /// assert_eq!(statsd.config().prefix(), Some("shop"));
    /// assert!(Connector::builder().host("localhost").prefix("shop.").build().is_err());
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Builder {
        self.prefix = Some(prefix.into());
        self
    }

    /// Clears the prefix.
    ///
    /// Useful after [`from_env_with`](Builder::from_env_with), for a tool that
    /// names its metrics in full whatever `STATSD_PREFIX` says:
    ///
    /// ```
    /// use statsd_connector::Builder;
    ///
    /// let env = |name: &str| match name {
    ///     "STATSD_HOST" => Some("localhost".to_owned()),
    ///     "STATSD_PREFIX" => Some("app".to_owned()),
    ///     _ => None,
    /// };
    /// let config = Builder::from_env_with(env)?.no_prefix().build_config()?;
    /// assert_eq!(config.prefix(), None);
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn no_prefix(mut self) -> Builder {
        self.prefix = None;
        self
    }

    /// The prefix the original connector's web integration built by default:
    /// `applications.<service>.<environment>`.
    ///
    /// ```
    /// let statsd = statsd_connector::Connector::builder()
    ///     .host("localhost")
    ///     .application_prefix("checkout", "production")
    ///     .build()?;
    /// assert_eq!(statsd.config().prefix(), Some("applications.checkout.production"));
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn application_prefix(self, service: &str, environment: &str) -> Builder {
        self.prefix(format!("applications.{service}.{environment}"))
    }

    /// Puts `counters.`, `gauges.`, `timers.` (and `sets.`, `histograms.`,
    /// `distributions.`) after the prefix, as release 1.0 of the original
    /// connector did. Off by default.
    ///
    /// ```
    /// use std::time::Duration;
    /// use statsd_connector::{testing::CaptureServer, Connector, Metrics};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = CaptureServer::start().await?;
    /// let statsd = Connector::builder()
    ///     .host("127.0.0.1")
    ///     .port(server.port())
    ///     .prefix("shop")
    ///     .type_prefixes(true)
    ///     .build()?;
    /// statsd.start().await?;
    /// statsd.incr("orders")?;
    /// statsd.gauge("cart.items", 3.0)?;
    /// statsd.stop().await;
    /// server.wait_for_lines(2, Duration::from_secs(5)).await?;
    /// assert_eq!(server.lines(), ["shop.counters.orders:1|c", "shop.gauges.cart.items:3|g"]);
    /// # Ok(()) }
    /// ```
    pub fn type_prefixes(mut self, on: bool) -> Builder {
        self.type_prefixes = on;
        self
    }

    /// How tags are written (default DogStatsD).
    ///
    /// Telegraf, for instance, reads Influx tags after the name:
    ///
    /// ```
    /// use std::time::Duration;
    /// use statsd_connector::{testing::CaptureServer, Connector, Metrics, TagFormat};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = CaptureServer::start().await?;
    /// let statsd = Connector::builder()
    ///     .host("127.0.0.1")
    ///     .port(server.port())
    ///     .tag_format(TagFormat::Influx)
    ///     .global_tag("region", "eu")
    ///     .build()?;
    /// statsd.start().await?;
    /// statsd.with_tags(&[("canary", "")]).incr("requests")?;
    /// statsd.stop().await;
    /// server.wait_for_lines(1, Duration::from_secs(5)).await?;
    /// assert_eq!(server.lines(), ["requests,region=eu,canary=true:1|c"]);
    /// # Ok(()) }
    /// ```
    pub fn tag_format(mut self, format: TagFormat) -> Builder {
        self.tag_format = format;
        self
    }

    /// A tag added to every metric; an empty value makes a bare tag.
    ///
    /// Tags are checked by `build`, so a bad one fails at startup instead of
    /// on every call:
    ///
    /// ```
    /// use statsd_connector::{Connector, Metrics};
    ///
    /// let statsd = Connector::builder()
    ///     .host("localhost")
    ///     .global_tag("service", "checkout")
    ///     .global_tag("canary", "")
    ///     .build()?;
    /// statsd.incr("orders")?; // orders:1|c|#service:checkout,canary
    /// assert!(Connector::builder().host("localhost").global_tag("a|b", "v").build().is_err());
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn global_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Builder {
        self.global_tags.push((key.into(), value.into()));
        self
    }

    /// The queue bound in metrics (default [`DEFAULT_QUEUE_CAPACITY`]).
    ///
    /// When the queue is full a call returns at once with
    /// [`Error::QueueFull`] and the metric is counted as dropped; it never
    /// waits for room:
    ///
    /// ```
    /// use statsd_connector::{Connector, Error, Metrics};
    ///
    /// let statsd = Connector::builder().host("localhost").queue_capacity(1).shards(1).build()?;
    /// statsd.incr("first")?;
    /// assert!(matches!(statsd.incr("second"), Err(Error::QueueFull)));
    /// assert_eq!(statsd.stats().dropped, 1);
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn queue_capacity(mut self, capacity: usize) -> Builder {
        self.queue_capacity = capacity;
        self
    }

    /// How many shards the queue has (default: twice the number of cores, at
    /// most 32; rounded up to a power of two). One shard is the simplest and
    /// keeps the order of lines across threads; more let threads emit without
    /// meeting.
    ///
    /// ```
    /// use statsd_connector::Connector;
    ///
    /// // One shard: lines arrive in the order they were emitted, from any thread.
    /// let statsd = Connector::builder().host("localhost").shards(1).build()?;
    /// assert!(Connector::builder().host("localhost").shards(0).build().is_err());
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn shards(mut self, shards: usize) -> Builder {
        self.shards = Some(shards);
        self
    }

    /// How long to wait between failed connection attempts (default 1 s).
    ///
    /// ```
    /// let statsd = statsd_connector::Connector::builder()
    ///     .host("localhost")
    ///     .reconnect_sleep(std::time::Duration::from_millis(250))
    ///     .build()?;
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn reconnect_sleep(mut self, sleep: Duration) -> Builder {
        self.reconnect_sleep = sleep;
        self
    }

    /// How long the processor waits for the queue before it checks on the
    /// connection again (default 100 ms).
    ///
    /// ```
    /// let statsd = statsd_connector::Connector::builder()
    ///     .host("localhost")
    ///     .wait_timeout(std::time::Duration::from_millis(50))
    ///     .build()?;
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn wait_timeout(mut self, timeout: Duration) -> Builder {
        self.wait_timeout = timeout;
        self
    }

    /// How long the processor lets the queue fill after a small write before
    /// it writes again (default 1 ms). Larger batches mean fewer system calls
    /// and callers that rarely meet the processor; the first metric after a
    /// quiet spell still goes out at once. Zero writes as soon as possible.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// // Fewer, larger writes for a busy service that can wait 5 ms for its metrics.
    /// let statsd = statsd_connector::Connector::builder()
    ///     .host("localhost")
    ///     .batch_delay(Duration::from_millis(5))
    ///     .build()?;
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn batch_delay(mut self, delay: Duration) -> Builder {
        self.batch_delay = delay;
        self
    }

    /// Aggregates on the client (off by default): counters are summed, gauges
    /// keep their last value, sets their distinct members, per name and tag
    /// set, and one line each is sent every `flush_interval` (and at stop).
    /// Timings, histograms, distributions and sampled calls pass through.
    /// This changes what the server sees per flush, hence opt-in.
    ///
    /// ```
    /// let statsd = statsd_connector::Connector::builder()
    ///     .host("localhost")
    ///     .aggregate(std::time::Duration::from_secs(1))
    ///     .build()?;
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn aggregate(mut self, flush_interval: Duration) -> Builder {
        self.aggregate = Some(flush_interval);
        self
    }

    /// Sends the connector's own stats as metrics every `interval` (off by
    /// default): how many lines it sent, dropped, refused and may have lost,
    /// its reconnects, and its queue depth, under `statsd_connector.` (after
    /// the prefix, with the global tags). See the README for the names.
    ///
    /// ```
    /// let statsd = statsd_connector::Connector::builder()
    ///     .host("localhost")
    ///     .telemetry(std::time::Duration::from_secs(10))
    ///     .build()?;
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn telemetry(mut self, interval: Duration) -> Builder {
        self.telemetry = Some(interval);
        self
    }

    /// How long one connection attempt may take (default 5 s).
    ///
    /// ```
    /// // Give up on an address that swallows packets sooner, and try again.
    /// let statsd = statsd_connector::Connector::builder()
    ///     .host("localhost")
    ///     .connect_timeout(std::time::Duration::from_millis(500))
    ///     .build()?;
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Builder {
        self.connect_timeout = timeout;
        self
    }

    /// How long [`Connector::stop`](crate::Connector::stop) may spend
    /// delivering what is queued (default 5 s).
    ///
    /// ```
    /// // Shutdown waits at most one second for the statsd server.
    /// let statsd = statsd_connector::Connector::builder()
    ///     .host("localhost")
    ///     .stop_timeout(std::time::Duration::from_secs(1))
    ///     .build()?;
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn stop_timeout(mut self, timeout: Duration) -> Builder {
        self.stop_timeout = timeout;
        self
    }

    /// The largest datagram payload (default [`DEFAULT_MAX_PAYLOAD`] for UDP,
    /// [`DEFAULT_UNIX_MAX_PAYLOAD`] for Unix datagrams; 8192 suits loopback).
    ///
    /// It is also the longest line UDP accepts, since a line is never split
    /// across datagrams:
    ///
    /// ```
    /// use statsd_connector::{Connector, Protocol};
    ///
    /// let statsd = Connector::builder()
    ///     .host("127.0.0.1")
    ///     .protocol(Protocol::Udp)
    ///     .max_payload(8192)
    ///     .build()?;
    /// assert_eq!(statsd.config().max_line_length(), 8192);
    /// assert!(Connector::builder().host("localhost").max_payload(10).build().is_err());
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn max_payload(mut self, bytes: usize) -> Builder {
        self.max_payload = Some(bytes);
        self
    }

    /// Turns the connector off: every call is accepted and does nothing.
    ///
    /// A disabled connector needs no host, so tests and local runs can keep
    /// every metric call in place:
    ///
    /// ```
    /// use statsd_connector::{Connector, Metrics};
    ///
    /// let statsd = Connector::builder().enabled(false).build()?;
    /// statsd.incr("requests")?;
    /// assert_eq!(statsd.stats().queued, 0);
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn enabled(mut self, enabled: bool) -> Builder {
        self.enabled = enabled;
        self
    }

    /// Replaces the system resolver (for tests, or service discovery).
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// let builder = statsd_connector::Connector::builder()
    ///     .host("statsd")
    ///     .resolver(|_host, port| Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]));
    /// ```
    pub fn resolver<F>(mut self, resolve: F) -> Builder
    where
        F: Fn(&str, u16) -> std::io::Result<Vec<SocketAddr>> + Send + Sync + 'static,
    {
        self.resolver = Some(ResolverSetting(Arc::new(resolve)));
        self
    }

    /// Starts from the environment, read through `var` (so tests need not
    /// change the process environment):
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `STATSD_HOST` | server host; unset or empty: metrics disabled |
    /// | `STATSD_PORT` | server port, default 8125 |
    /// | `STATSD_PREFIX` | prefix; unset or empty: none |
    /// | `STATSD_PROTOCOL` | `tcp` (default) or `udp` |
    /// | `STATSD_ENABLED` | truthy (a non-zero number, `on`, `t`, `true`, `yes`, any case) or not; default true |
    /// | `STATSD_TYPE_PREFIXES` | truthy: `counters.` ... after the prefix |
    /// | `STATSD_RECONNECT_SLEEP`, `STATSD_WAIT_TIMEOUT` | seconds, may be fractional |
    /// | `STATSD_QUEUE_CAPACITY` | the queue bound in metrics |
    ///
    /// ```
    /// use statsd_connector::Builder;
    /// let env = |name: &str| match name {
    ///     "STATSD_HOST" => Some("statsd.internal".to_owned()),
    ///     "STATSD_PROTOCOL" => Some("udp".to_owned()),
    ///     _ => None,
    /// };
    /// let config = Builder::from_env_with(env)?.build_config()?;
    /// assert_eq!(config.host(), "statsd.internal");
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn from_env_with(var: impl Fn(&str) -> Option<String>) -> Result<Builder, Error> {
        let mut builder = Builder::default();
        match var("STATSD_HOST").filter(|h| !h.trim().is_empty()) {
            Some(host) => builder.host = host.trim().to_owned(),
            None => builder.enabled = false,
        }
        if let Some(port) = var("STATSD_PORT") {
            builder.port = PortSetting::Text(port);
        }
        if let Some(prefix) = var("STATSD_PREFIX").filter(|p| !p.is_empty()) {
            builder.prefix = Some(prefix);
        }
        if let Some(protocol) = var("STATSD_PROTOCOL") {
            builder.protocol = protocol.parse()?;
        }
        if let Some(enabled) = var("STATSD_ENABLED") {
            builder.enabled &= truthy(&enabled);
        }
        if let Some(on) = var("STATSD_TYPE_PREFIXES") {
            builder.type_prefixes = truthy(&on);
        }
        if let Some(text) = var("STATSD_RECONNECT_SLEEP") {
            builder.reconnect_sleep = seconds("STATSD_RECONNECT_SLEEP", &text)?;
        }
        if let Some(text) = var("STATSD_WAIT_TIMEOUT") {
            builder.wait_timeout = seconds("STATSD_WAIT_TIMEOUT", &text)?;
        }
        if let Some(text) = var("STATSD_TELEMETRY_INTERVAL") {
            builder.telemetry = Some(seconds("STATSD_TELEMETRY_INTERVAL", &text)?);
        }
        if let Some(text) = var("STATSD_QUEUE_CAPACITY") {
            builder.queue_capacity =
                text.trim().parse().map_err(|e: std::num::ParseIntError| {
                    Error::InvalidEnvironment {
                        variable: "STATSD_QUEUE_CAPACITY",
                        value: text.clone(),
                        reason: e.to_string(),
                    }
                })?;
        }
        Ok(builder)
    }

    /// Checks every setting and returns the configuration.
    ///
    /// A [`Config`] can be inspected, cloned and handed to
    /// [`Connector::new`](crate::Connector::new) later:
    ///
    /// ```
    /// use statsd_connector::{Config, Connector, Error};
    ///
    /// let config = Config::builder().host("localhost").build_config()?;
    /// let statsd = Connector::new(config.clone());
    /// assert!(matches!(Config::builder().build_config(), Err(Error::EmptyHost)));
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn build_config(self) -> Result<Config, Error> {
        let port = match self.port {
            PortSetting::Number(0) => {
                return Err(Error::InvalidPort {
                    value: "0".into(),
                    reason: "must be from 1 to 65535",
                })
            }
            PortSetting::Number(port) => port,
            PortSetting::Text(text) => parse_port(&text)?,
        };
        let mut host = self.host.trim().to_owned();
        let mut protocol = self.protocol;
        if let Some(path) = host.strip_prefix("unixgram://") {
            (host, protocol) = (path.to_owned(), Protocol::Unixgram);
        } else if let Some(path) = host.strip_prefix("unix://") {
            let datagram = protocol.is_datagram();
            host = path.to_owned();
            protocol = if datagram {
                Protocol::Unixgram
            } else {
                Protocol::Unix
            };
        }
        if self.enabled && host.is_empty() {
            return Err(Error::EmptyHost);
        }
        let max_payload = self.max_payload.unwrap_or(match protocol {
            Protocol::Unixgram => DEFAULT_UNIX_MAX_PAYLOAD,
            _ => DEFAULT_MAX_PAYLOAD,
        });
        if let Some(prefix) = &self.prefix {
            validate::prefix(prefix)?;
        }
        for (key, value) in &self.global_tags {
            validate::tag(key, value, self.tag_format)?;
        }
        if self.queue_capacity == 0 {
            return Err(setting_error("queue_capacity", 0, "must be at least 1"));
        }
        if self.shards == Some(0) {
            return Err(setting_error("shards", 0, "must be at least 1"));
        }
        if self.aggregate == Some(Duration::ZERO) {
            return Err(Error::InvalidSetting {
                setting: "aggregate",
                value: "0s".into(),
                reason: "the flush interval must be longer than zero",
            });
        }
        if self.telemetry == Some(Duration::ZERO) {
            return Err(Error::InvalidSetting {
                setting: "telemetry",
                value: "0s".into(),
                reason: "the reporting interval must be longer than zero",
            });
        }
        if !(64..=65_507).contains(&max_payload) {
            return Err(setting_error(
                "max_payload",
                max_payload,
                "must be from 64 to 65507 bytes",
            ));
        }
        Ok(Config {
            host,
            port,
            protocol,
            prefix: self.prefix,
            type_prefixes: self.type_prefixes,
            tag_format: self.tag_format,
            global_tags: self.global_tags,
            queue_capacity: self.queue_capacity,
            shards: self
                .shards
                .unwrap_or_else(crate::queue::Queue::default_shards),
            reconnect_sleep: self.reconnect_sleep,
            wait_timeout: self.wait_timeout,
            batch_delay: self.batch_delay,
            aggregate: self.aggregate,
            telemetry: self.telemetry,
            connect_timeout: self.connect_timeout,
            stop_timeout: self.stop_timeout,
            max_payload,
            enabled: self.enabled,
            resolver: self.resolver.map(|r| r.0),
        })
    }

    /// Checks every setting and returns a connector (not yet started).
    ///
    /// ```
    /// let statsd = statsd_connector::Connector::builder().host("localhost").build()?;
    /// assert!(statsd.is_stopped()); // nothing runs, nor connects, until start()
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn build(self) -> Result<crate::Connector, Error> {
        Ok(crate::Connector::new(self.build_config()?))
    }
}

fn setting_error(setting: &'static str, value: usize, reason: &'static str) -> Error {
    Error::InvalidSetting {
        setting,
        value: value.to_string(),
        reason,
    }
}

/// Parses a port given as text: a number from 1 to 65535.
fn parse_port(text: &str) -> Result<u16, Error> {
    let invalid = |reason| Error::InvalidPort {
        value: text.to_owned(),
        reason,
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(invalid("missing"));
    }
    match trimmed.parse::<i64>() {
        Ok(n) if (1..=65_535).contains(&n) => Ok(n as u16),
        Ok(n) if n <= 0 => Err(invalid("must be a positive number")),
        Ok(_) => Err(invalid("must be from 1 to 65535")),
        Err(_) => Err(invalid("not a number")),
    }
}

/// The original connector's truthiness: a non-zero number, or `on`, `t`,
/// `true`, `yes` in any case. Anything else is false.
pub fn truthy(text: &str) -> bool {
    let text = text.trim();
    if let Ok(n) = text.parse::<f64>() {
        return n != 0.0 && !n.is_nan();
    }
    matches!(
        text.to_ascii_lowercase().as_str(),
        "on" | "t" | "true" | "yes"
    )
}

fn seconds(variable: &'static str, text: &str) -> Result<Duration, Error> {
    text.trim()
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| Error::InvalidEnvironment {
            variable,
            value: text.to_owned(),
            reason: "expected a non-negative number of seconds".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    fn from_env(pairs: &[(&str, &str)]) -> Result<Config, Error> {
        Builder::from_env_with(env(pairs))?.build_config()
    }

    #[test]
    fn defaults_match_the_original() {
        let config = Config::builder().host("h").build_config().unwrap();
        assert_eq!(config.port, 8125);
        assert_eq!(config.protocol, Protocol::Tcp);
        assert_eq!(config.reconnect_sleep, Duration::from_secs(1));
        assert_eq!(config.wait_timeout, Duration::from_millis(100));
        assert_eq!(config.max_payload, 1432);
        assert!(config.enabled);
    }

    #[test]
    fn empty_host_is_an_error() {
        assert!(matches!(
            Config::builder().build_config(),
            Err(Error::EmptyHost)
        ));
        assert!(matches!(
            Config::builder().host("  ").build_config(),
            Err(Error::EmptyHost)
        ));
    }

    #[test]
    fn bad_ports_are_named() {
        let port_error = |b: Builder| match b.host("h").build_config() {
            Err(Error::InvalidPort { value, .. }) => value,
            other => panic!("{other:?}"),
        };
        assert_eq!(port_error(Config::builder().port(0)), "0");
        for text in ["0", "-1", "65536", "80a", "", "eighty"] {
            assert_eq!(port_error(Config::builder().port_text(text)), text);
        }
        let message = Config::builder()
            .host("h")
            .port_text("80a")
            .build_config()
            .unwrap_err()
            .to_string();
        assert_eq!(message, "invalid port \"80a\": not a number");
    }

    #[test]
    fn protocols_parse_in_any_case_and_unknown_ones_are_named() {
        assert_eq!("UDP".parse::<Protocol>().unwrap(), Protocol::Udp);
        assert_eq!("tcp".parse::<Protocol>().unwrap(), Protocol::Tcp);
        let err = "sctp".parse::<Protocol>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown protocol \"sctp\": expected tcp, udp, unix or unixgram"
        );
    }

    #[test]
    fn unix_addresses_choose_the_protocol_and_payload() {
        let config = Config::builder()
            .host("unix:///run/statsd.sock")
            .build_config()
            .unwrap();
        assert_eq!(
            (config.host(), config.protocol()),
            ("/run/statsd.sock", Protocol::Unix)
        );
        let config = Config::builder()
            .host("unixgram:///run/s.sock")
            .build_config()
            .unwrap();
        assert_eq!(config.protocol(), Protocol::Unixgram);
        assert_eq!(config.max_payload, DEFAULT_UNIX_MAX_PAYLOAD);
        let config = Config::builder()
            .host("unix:///run/s.sock")
            .protocol(Protocol::Udp)
            .build_config()
            .unwrap();
        assert_eq!(config.protocol(), Protocol::Unixgram);
        assert!(Config::builder().host("unix://").build_config().is_err());
    }

    #[test]
    fn invalid_prefix_is_an_error() {
        let err = Config::builder()
            .host("h")
            .prefix("a:b")
            .build_config()
            .unwrap_err();
        assert!(matches!(err, Error::InvalidPrefix { ref prefix, .. } if prefix == "a:b"));
        assert!(Config::builder()
            .host("h")
            .prefix("app.")
            .build_config()
            .is_err());
    }

    #[test]
    fn out_of_range_settings_are_errors() {
        let b = || Config::builder().host("h");
        assert!(b().queue_capacity(0).build_config().is_err());
        assert!(b().max_payload(10).build_config().is_err());
        assert!(b().max_payload(70_000).build_config().is_err());
        assert!(b().shards(0).build_config().is_err());
    }

    #[test]
    fn environment_is_read() {
        let config = from_env(&[
            ("STATSD_HOST", "statsd.local"),
            ("STATSD_PORT", "9125"),
            ("STATSD_PREFIX", "svc"),
            ("STATSD_PROTOCOL", "udp"),
            ("STATSD_RECONNECT_SLEEP", "0.25"),
        ])
        .unwrap();
        assert_eq!(config.host(), "statsd.local");
        assert_eq!(config.port(), 9125);
        assert_eq!(config.prefix(), Some("svc"));
        assert_eq!(config.protocol(), Protocol::Udp);
        assert_eq!(config.reconnect_sleep, Duration::from_millis(250));
        assert!(config.enabled());
    }

    #[test]
    fn no_host_in_the_environment_disables_metrics() {
        let config = from_env(&[]).unwrap();
        assert!(!config.enabled());
        assert!(!from_env(&[("STATSD_HOST", "")]).unwrap().enabled());
    }

    #[test]
    fn enabled_follows_the_truthiness_rules() {
        for yes in ["1", "2", "-1", "0.5", "on", "T", "true", "TRUE", "Yes"] {
            assert!(truthy(yes), "{yes}");
            assert!(from_env(&[("STATSD_HOST", "h"), ("STATSD_ENABLED", yes)])
                .unwrap()
                .enabled());
        }
        for no in ["0", "0.0", "off", "false", "no", "", "nope", "f"] {
            assert!(!truthy(no), "{no}");
            assert!(!from_env(&[("STATSD_HOST", "h"), ("STATSD_ENABLED", no)])
                .unwrap()
                .enabled());
        }
    }

    #[test]
    fn bad_environment_values_are_named() {
        let err = from_env(&[("STATSD_HOST", "h"), ("STATSD_PORT", "x")]).unwrap_err();
        assert!(matches!(err, Error::InvalidPort { ref value, .. } if value == "x"));
        let err = from_env(&[("STATSD_HOST", "h"), ("STATSD_PROTOCOL", "quic")]).unwrap_err();
        assert!(matches!(err, Error::UnknownProtocol(ref p) if p == "quic"));
        let err = from_env(&[("STATSD_HOST", "h"), ("STATSD_WAIT_TIMEOUT", "-1")]).unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidEnvironment {
                variable: "STATSD_WAIT_TIMEOUT",
                ..
            }
        ));
    }
}
