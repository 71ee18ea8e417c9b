//! The [`Builder`]: every setting with its default, checked at once in
//! [`Builder::build_config`].

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::address::Address;
use super::operations::{Context, Operations};
use super::{
    origin, Config, Framing, Protocol, Resolver, DEFAULT_MAX_PAYLOAD, DEFAULT_PORT,
    DEFAULT_QUEUE_CAPACITY, DEFAULT_UNIX_MAX_PAYLOAD,
};
use crate::error::{Error, ErrorKind};
use crate::wire::metric::Cardinality;
use crate::wire::metric::TagFormat;
use crate::wire::validate;

/// Values kept per context and interval for packed lines, by default.
const DEFAULT_MAX_SAMPLES_PER_CONTEXT: usize = 1024;

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
    pub(super) host: String,
    pub(super) port: PortSetting,
    pub(super) protocol: Protocol,
    pub(super) prefix: Option<String>,
    pub(super) type_prefixes: bool,
    pub(super) tag_format: TagFormat,
    pub(super) global_tags: Vec<(String, String)>,
    pub(super) queue_capacity: usize,
    pub(super) shards: Option<usize>,
    pub(super) reconnect_sleep: Duration,
    pub(super) wait_timeout: Duration,
    pub(super) batch_delay: Duration,
    pub(super) aggregate: Option<Duration>,
    pub(super) telemetry: Option<Duration>,
    pub(super) dogstatsd: bool,
    pub(super) max_samples_per_context: usize,
    pub(super) connect_timeout: Duration,
    pub(super) stop_timeout: Duration,
    pub(super) max_payload: Option<usize>,
    pub(super) enabled: bool,
    resolver: Option<ResolverSetting>,
    pub(super) framing: Option<Framing>,
    /// The address came from `DD_*`: Datadog semantics (a `unix://` stream
    /// socket gets the length prefix).
    pub(super) datadog_address: bool,
    pub(super) origin_detection: Option<bool>,
    pub(super) container_id: Option<String>,
    /// Where origin detection looks (`/` unless a test says otherwise).
    pub(super) origin_root: Option<PathBuf>,
    pub(super) external_env: Option<String>,
    pub(super) cardinality: Option<Cardinality>,
    /// Global tags from `DD_ENV`, `DD_SERVICE`, `DD_VERSION`, `DD_ENTITY_ID`:
    /// after the explicit ones, and only for keys those do not set.
    pub(super) datadog_tags: Vec<(String, String)>,
    /// Address refresh, telemetry address, tag-set cap (`operations`).
    pub(super) ops: Operations,
}

/// A port as given: a number, or text from the environment, checked in `build`.
#[derive(Debug, Clone)]
pub(super) enum PortSetting {
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
            dogstatsd: false,
            max_samples_per_context: DEFAULT_MAX_SAMPLES_PER_CONTEXT,
            connect_timeout: Duration::from_secs(5),
            stop_timeout: Duration::from_secs(5),
            max_payload: None,
            enabled: true,
            resolver: None,
            framing: None,
            datadog_address: false,
            origin_detection: None,
            container_id: None,
            origin_root: None,
            external_env: None,
            cardinality: None,
            datadog_tags: Vec::new(),
            ops: Operations::default(),
        }
    }
}

impl Builder {
    /// The server's address (required, unless disabled): a host name or IP
    /// address, or a URL that also chooses the transport. `STATSD_HOST` and
    /// `DD_DOGSTATSD_URL` read the same forms, and each form has one meaning:
    ///
    /// | address | transport |
    /// |---|---|
    /// | `udp://host:port` (port 8125 when left out) | UDP datagrams |
    /// | `tcp://host:port` (port 8125 when left out) | a TCP stream, [`Builder::framing`] (newline by default) |
    /// | `unixgram://path` | Unix datagrams |
    /// | `unixstream://path` | a Unix stream, length-prefixed ([`Framing::LengthPrefixed`]), as datadog-go and datadogpy mean it |
    /// | `unix://path` | with [`Protocol::Udp`] or [`Protocol::Unixgram`]: Unix datagrams (as before). Otherwise the socket is looked at when connecting: a datagram socket gets datagrams; a stream socket gets newline framing, or the length prefix where Datadog semantics apply (the address came from `DD_*`, or `.framing(Framing::LengthPrefixed)`) |
    /// | `host`, `10.0.0.7`, `::1` | the host alone: [`Builder::port`] and [`Builder::protocol`] |
    /// | `host:port`, `[::1]:9125` | host and port: [`Builder::protocol`] |
    /// | `/path` | a socket path: [`Protocol::Unix`] or [`Protocol::Unixgram`] |
    ///
    /// A URL's port wins over [`Builder::port`]; its scheme wins over
    /// [`Builder::protocol`] (except as said for `unix://`). A bad address
    /// is [`ErrorKind::InvalidAddress`](crate::ErrorKind::InvalidAddress),
    /// naming the bad part. An IPv6 address with a port goes in brackets.
    ///
    /// ```
    /// use statsd_connector::{Connector, Framing, Protocol};
    ///
    /// let statsd = Connector::builder().host("statsd.internal").build()?;
    /// let udp = Connector::builder().host("udp://10.0.0.7:9125").build()?;
    /// assert_eq!((udp.config().protocol(), udp.config().port()), (Protocol::Udp, 9125));
    /// let local = Connector::builder().host("unix:///run/statsd.sock").build()?;
    /// assert_eq!(local.config().host(), "/run/statsd.sock");
    /// assert_eq!(local.config().protocol(), Protocol::Unix);
    /// assert!(local.config().probes_unix_kind());
    /// let agent = Connector::builder().host("unixstream:///var/run/datadog/dsd.socket").build()?;
    /// assert_eq!(agent.config().framing(), Framing::LengthPrefixed);
    /// assert!(Connector::builder().host("udp://:8125").build().is_err());
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    #[must_use]
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
    #[must_use]
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
    #[must_use]
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
    #[must_use]
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
    #[must_use]
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
    #[must_use]
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
    #[must_use]
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
    #[must_use]
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
    #[must_use]
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
    #[must_use]
    pub fn global_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Builder {
        self.global_tags.push((key.into(), value.into()));
        self
    }

    /// The queue bound in metrics (default [`DEFAULT_QUEUE_CAPACITY`]).
    ///
    /// When the queue is full a call returns at once with
    /// an error of kind [`ErrorKind::QueueFull`](crate::ErrorKind::QueueFull) and the metric is counted as dropped; it never
    /// waits for room:
    ///
    /// ```
    /// use statsd_connector::{Connector, Error, Metrics};
    ///
    /// let statsd = Connector::builder().host("localhost").queue_capacity(1).shards(1).build()?;
    /// statsd.incr("first")?;
    /// assert!(statsd.incr("second").unwrap_err().is_queue_full());
    /// assert_eq!(statsd.stats().dropped, 1);
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    #[must_use]
    pub fn queue_capacity(mut self, capacity: usize) -> Builder {
        self.queue_capacity = capacity;
        self
    }

    /// How many shards the queue has (default: twice the number of cores, at
    /// most 32; rounded up to a power of two). One shard is the simplest and
    /// keeps the order of lines across threads (every thread writes one
    /// buffer, under a mutex); with more, each emitting thread writes a
    /// buffer of its own without a lock, and the number sets the size of the
    /// leases threads take from the bound (`queue_capacity / (8 × shards)`
    /// lines, at most 1024).
    ///
    /// ```
    /// use statsd_connector::Connector;
    ///
    /// // One shard: lines arrive in the order they were emitted, from any thread.
    /// let statsd = Connector::builder().host("localhost").shards(1).build()?;
    /// assert!(Connector::builder().host("localhost").shards(0).build().is_err());
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    #[must_use]
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
    #[must_use]
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
    #[must_use]
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
    #[must_use]
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
    #[must_use]
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
    #[must_use]
    pub fn telemetry(mut self, interval: Duration) -> Builder {
        self.telemetry = Some(interval);
        self
    }

    /// Declares the server a DogStatsD server (the Datadog Agent): only then
    /// does the connector send what plain statsd servers count as bad lines
    /// (events, service checks, the protocol's later fields). Off by default;
    /// the `DD_*` environment switches it on.
    ///
    /// ```
    /// let statsd = statsd_connector::Connector::builder().host("localhost").dogstatsd(true).build()?;
    /// assert!(statsd.config().is_dogstatsd());
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    #[must_use]
    pub fn dogstatsd(mut self, on: bool) -> Builder {
        self.dogstatsd = on;
        self
    }

    /// With [`aggregate`](Builder::aggregate) on and a DogStatsD server
    /// declared, timings, histograms and distributions are packed per flush
    /// into lines of several values (`name:v1:v2:…|d`, protocol v1.1, Agent
    /// 6.25 / 7.25 and later). This bounds how many values one name, type and
    /// tag set keeps per interval (default 1024); past it a uniform sample is
    /// kept and the line carries the matching `|@rate`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let statsd = statsd_connector::Connector::builder()
    ///     .host("localhost")
    ///     .dogstatsd(true)
    ///     .aggregate(Duration::from_secs(10))
    ///     .max_samples_per_context(256)
    ///     .build()?;
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    #[must_use]
    pub fn max_samples_per_context(mut self, samples: usize) -> Builder {
        self.max_samples_per_context = samples;
        self
    }

    /// How lines are framed on a stream socket (default [`Framing::Newline`];
    /// [`Framing::LengthPrefixed`] for a `unixstream://` address). With
    /// `LengthPrefixed`, a `unix://` stream socket gets the prefix too, and
    /// lines are limited to the payload limit (a frame holds whole lines).
    ///
    /// ```
    /// use statsd_connector::{Connector, Framing};
    ///
    /// let statsd = Connector::builder()
    ///     .host("tcp://127.0.0.1:8125")
    ///     .framing(Framing::LengthPrefixed)
    ///     .build()?;
    /// assert_eq!(statsd.config().max_line_length(), 8192);
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    #[must_use]
    pub fn framing(mut self, framing: Framing) -> Builder {
        self.framing = Some(framing);
        self
    }

    /// Whether to detect the container ID for DogStatsD origin detection
    /// (default on, as `DD_ORIGIN_DETECTION_ENABLED` says; only in DogStatsD
    /// mode). See [`Config::container_id`].
    ///
    /// ```
    /// let config = statsd_connector::Config::builder()
    ///     .host("localhost")
    ///     .dogstatsd(true)
    ///     .origin_detection(false)
    ///     .build_config()?;
    /// assert_eq!(config.container_id(), None);
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    #[must_use]
    pub fn origin_detection(mut self, on: bool) -> Builder {
        self.origin_detection = Some(on);
        self
    }

    /// The container ID to send as the DogStatsD origin (`|c:<id>`), instead
    /// of the detected one (DogStatsD mode only).
    ///
    /// ```
    /// let config = statsd_connector::Config::builder()
    ///     .host("localhost")
    ///     .dogstatsd(true)
    ///     .container_id("8f2b1c")
    ///     .build_config()?;
    /// assert_eq!(config.container_id(), Some("8f2b1c"));
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    #[must_use]
    pub fn container_id(mut self, id: impl Into<String>) -> Builder {
        self.container_id = Some(id.into());
        self
    }

    /// The cardinality sent with every metric (`|card:`, protocol v1.6;
    /// DogStatsD mode only), instead of `DD_CARDINALITY`.
    ///
    /// ```
    /// use statsd_connector::{Cardinality, Config};
    ///
    /// let config = Config::builder()
    ///     .host("localhost")
    ///     .dogstatsd(true)
    ///     .cardinality(Cardinality::Low)
    ///     .build_config()?;
    /// assert_eq!(config.cardinality(), Some(Cardinality::Low));
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    #[must_use]
    pub fn cardinality(mut self, cardinality: Cardinality) -> Builder {
        self.cardinality = Some(cardinality);
        self
    }

    /// Points origin detection at a fixture tree instead of `/` (tests).
    #[allow(dead_code)]
    #[must_use]
    pub(crate) fn origin_root(mut self, root: impl Into<PathBuf>) -> Builder {
        self.origin_root = Some(root.into());
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
    #[must_use]
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
    #[must_use]
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
    #[must_use]
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
    /// assert_eq!(statsd.stats().accepted, 0);
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    #[must_use]
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
    #[must_use]
    pub fn resolver<F>(mut self, resolve: F) -> Builder
    where
        F: Fn(&str, u16) -> std::io::Result<Vec<SocketAddr>> + Send + Sync + 'static,
    {
        self.resolver = Some(ResolverSetting(Arc::new(resolve)));
        self
    }

    /// Checks every setting and returns the configuration.
    ///
    /// A [`Config`] can be inspected, cloned and handed to
    /// [`Connector::new`](crate::Connector::new) later:
    ///
    /// ```
    /// use statsd_connector::{Config, Connector, ErrorKind};
    ///
    /// let config = Config::builder().host("localhost").build_config()?;
    /// let statsd = Connector::new(config.clone());
    /// let error = Config::builder().build_config().unwrap_err();
    /// assert!(matches!(error.kind(), ErrorKind::EmptyHost));
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::EmptyHost`](crate::ErrorKind::EmptyHost) when the host is empty (unless disabled);
    /// [`ErrorKind::InvalidPort`](crate::ErrorKind::InvalidPort) for port 0 or a port text that is not a number from 1
    /// to 65535; [`ErrorKind::InvalidAddress`](crate::ErrorKind::InvalidAddress) for a host that cannot be read as an address
    /// (a bad scheme, an empty host, a bad port after the `:` ...);
    /// [`ErrorKind::InvalidPrefix`](crate::ErrorKind::InvalidPrefix) for a prefix that cannot start a metric name;
    /// [`ErrorKind::InvalidTag`](crate::ErrorKind::InvalidTag) for a global tag that cannot be written in the tag format;
    /// [`ErrorKind::InvalidSetting`](crate::ErrorKind::InvalidSetting) for a zero `queue_capacity`, `shards`,
    /// `max_samples_per_context`, `aggregate` or `telemetry` interval, a
    /// `max_payload` outside 64..=65507, or newline framing asked of a
    /// `unixstream://` address.
    pub fn build_config(self) -> Result<Config, Error> {
        let mut port = match self.port {
            PortSetting::Number(0) => {
                return Err(Error::from(ErrorKind::InvalidPort {
                    value: "0".into(),
                    reason: "must be from 1 to 65535",
                }))
            }
            PortSetting::Number(port) => port,
            PortSetting::Text(text) => parse_port(&text)?,
        };
        let mut host = self.host.trim().to_owned();
        let mut protocol = self.protocol;
        let mut framing = self.framing.unwrap_or_default();
        let mut unix_probe = false;
        if host.is_empty() {
            if self.enabled {
                return Err(Error::from(ErrorKind::EmptyHost));
            }
        } else {
            match host.parse::<Address>()? {
                Address::Host(name) => host = name,
                Address::HostPort {
                    host: name,
                    port: p,
                } => (host, port) = (name, p),
                Address::Path(path) => host = path_text(path),
                Address::Udp {
                    host: name,
                    port: p,
                } => {
                    (host, port, protocol) = (name, p, Protocol::Udp);
                }
                Address::Tcp {
                    host: name,
                    port: p,
                } => {
                    (host, port, protocol) = (name, p, Protocol::Tcp);
                }
                Address::Unixgram(path) => (host, protocol) = (path_text(path), Protocol::Unixgram),
                Address::UnixStream(path) => {
                    if self.framing == Some(Framing::Newline) {
                        return Err(Error::from(ErrorKind::InvalidSetting {
                            setting: "framing",
                            value: "newline".into(),
                            reason: "unixstream:// is length-prefixed; use unix:// for a newline-framed Unix stream",
                        }));
                    }
                    (host, protocol) = (path_text(path), Protocol::Unix);
                    framing = Framing::LengthPrefixed;
                }
                Address::Unix(path) => {
                    host = path_text(path);
                    if protocol.is_datagram() {
                        protocol = Protocol::Unixgram;
                    } else {
                        protocol = Protocol::Unix;
                        unix_probe = true;
                        if self.datadog_address && self.framing.is_none() {
                            framing = Framing::LengthPrefixed;
                        }
                    }
                }
            }
        }
        let unix_default = protocol == Protocol::Unixgram
            || unix_probe
            || (!protocol.is_datagram() && framing == Framing::LengthPrefixed);
        let max_payload = self.max_payload.unwrap_or(if unix_default {
            DEFAULT_UNIX_MAX_PAYLOAD
        } else {
            DEFAULT_MAX_PAYLOAD
        });
        if let Some(prefix) = &self.prefix {
            validate::prefix(prefix)?;
        }
        let mut global_tags = self.global_tags;
        let explicit = global_tags.len();
        for (key, value) in self.datadog_tags {
            if !global_tags[..explicit].iter().any(|(k, _)| *k == key) {
                global_tags.push((key, value));
            }
        }
        for (key, value) in &global_tags {
            validate::tag(key, value, self.tag_format)?;
        }
        if self.queue_capacity == 0 {
            return Err(setting_error("queue_capacity", 0, "must be at least 1"));
        }
        if self.shards == Some(0) {
            return Err(setting_error("shards", 0, "must be at least 1"));
        }
        if self.aggregate == Some(Duration::ZERO) {
            return Err(Error::from(ErrorKind::InvalidSetting {
                setting: "aggregate",
                value: "0s".into(),
                reason: "the flush interval must be longer than zero",
            }));
        }
        if self.max_samples_per_context == 0 {
            return Err(setting_error(
                "max_samples_per_context",
                0,
                "must keep at least one value",
            ));
        }
        if self.telemetry == Some(Duration::ZERO) {
            return Err(Error::from(ErrorKind::InvalidSetting {
                setting: "telemetry",
                value: "0s".into(),
                reason: "the reporting interval must be longer than zero",
            }));
        }
        if !(64..=65_507).contains(&max_payload) {
            return Err(setting_error(
                "max_payload",
                max_payload,
                "must be from 64 to 65507 bytes",
            ));
        }
        let dogstatsd = self.dogstatsd;
        let container_id = if !dogstatsd {
            None
        } else if let Some(id) = self.container_id.filter(|id| !id.trim().is_empty()) {
            let id = id.trim().to_owned();
            // Written as a field of every line: it must not be able to end
            // the field, add one, or break the line.
            if let Err(reason) = check_origin_field(&id) {
                return Err(Error::from(ErrorKind::InvalidSetting {
                    setting: "container_id",
                    value: id,
                    reason,
                }));
            }
            Some(id)
        } else if self.origin_detection.unwrap_or(true) {
            let root = self.origin_root.unwrap_or_else(|| PathBuf::from("/"));
            // What detection finds is hex, a UUID or `in-<digits>`; anything
            // else is not sent.
            origin::detect_container_id(&root).filter(|id| check_origin_field(id).is_ok())
        } else {
            None
        };
        // As datadog-go: `|e:` only with origin detection on.
        let external_env = self
            .external_env
            .filter(|_| dogstatsd && self.origin_detection.unwrap_or(true));
        let cardinality = self.cardinality.filter(|_| dogstatsd);
        let ops = self.ops.check(Context {
            port,
            protocol,
            resolver: self.resolver.as_ref().map(|r| &r.0),
            connect_timeout: self.connect_timeout,
            telemetry: self.telemetry,
            aggregate: self.aggregate,
        })?;
        Ok(Config {
            ops,
            framing,
            unix_probe,
            container_id,
            external_env,
            cardinality,
            host,
            port,
            protocol,
            prefix: self.prefix,
            type_prefixes: self.type_prefixes,
            tag_format: self.tag_format,
            global_tags,
            queue_capacity: self.queue_capacity,
            shards: self.shards.unwrap_or_else(default_shards),
            reconnect_sleep: self.reconnect_sleep,
            wait_timeout: self.wait_timeout,
            batch_delay: self.batch_delay,
            aggregate: self.aggregate,
            telemetry: self.telemetry,
            dogstatsd: self.dogstatsd,
            max_samples_per_context: self.max_samples_per_context,
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
    ///
    /// # Errors
    ///
    /// As [`Builder::build_config`]: [`ErrorKind::EmptyHost`](crate::ErrorKind::EmptyHost) when the host is empty (unless disabled);
    /// [`ErrorKind::InvalidPort`](crate::ErrorKind::InvalidPort) for port 0 or a port text that is not a number from 1
    /// to 65535; [`ErrorKind::InvalidAddress`](crate::ErrorKind::InvalidAddress) for a host that cannot be read as an address
    /// (a bad scheme, an empty host, a bad port after the `:` ...);
    /// [`ErrorKind::InvalidPrefix`](crate::ErrorKind::InvalidPrefix) for a prefix that cannot start a metric name;
    /// [`ErrorKind::InvalidTag`](crate::ErrorKind::InvalidTag) for a global tag that cannot be written in the tag format;
    /// [`ErrorKind::InvalidSetting`](crate::ErrorKind::InvalidSetting) for a zero `queue_capacity`, `shards`,
    /// `max_samples_per_context`, `aggregate` or `telemetry` interval, a
    /// `max_payload` outside 64..=65507, or newline framing asked of a
    /// `unixstream://` address.
    pub fn build(self) -> Result<crate::Connector, Error> {
        Ok(crate::Connector::new(self.build_config()?))
    }
}

/// Checks a value written as a DogStatsD field of every line (`|c:<id>`):
/// no field separator, whitespace, control or line-breaking character.
fn check_origin_field(value: &str) -> Result<(), &'static str> {
    if value.contains(['|', ',', '#']) || value.chars().any(char::is_whitespace) {
        return Err("must not contain '|', ',', '#' or whitespace");
    }
    if validate::first_control(value).is_some() {
        return Err("must not contain control or line-breaking characters");
    }
    Ok(())
}

/// A sensible number of queue shards for this machine: one per core, times
/// two so that threads sharing a core rarely share a shard, at most 32.
fn default_shards() -> usize {
    std::thread::available_parallelism()
        .map_or(4, |n| n.get() * 2)
        .min(32)
}

/// A socket path as the host text (paths are checked as UTF-8 text already).
fn path_text(path: PathBuf) -> String {
    path.to_string_lossy().into_owned()
}

fn setting_error(setting: &'static str, value: usize, reason: &'static str) -> Error {
    Error::from(ErrorKind::InvalidSetting {
        setting,
        value: value.to_string(),
        reason,
    })
}

/// Parses a port given as text: a number from 1 to 65535.
fn parse_port(text: &str) -> Result<u16, Error> {
    let invalid = |reason| {
        Error::from(ErrorKind::InvalidPort {
            value: text.to_owned(),
            reason,
        })
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
