//! The [`Builder`]: every setting with its default, checked at once in
//! [`Builder::build_config`], whose steps are in `steps`.
//!
//! `Builder::build`, which also makes the [`Connector`](crate::Connector), is
//! on the caller's side (`caller::build`): configuration knows nothing of
//! what runs it.

use super::operations::TelemetryAddress;

mod settings;
mod steps;

pub use settings::Builder;
pub(super) use settings::PortSetting;
use settings::ResolverSetting;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::{Config, Framing, Protocol};
use crate::error::Error;
use crate::wire::metric::Cardinality;
use crate::wire::metric::TagFormat;

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
    // Runs against the capture server (`testing`); shown, not run, without it.
    #[cfg_attr(feature = "testing", doc = "```")]
    #[cfg_attr(not(feature = "testing"), doc = "```ignore")]
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
    // Runs against the capture server (`testing`); shown, not run, without it.
    #[cfg_attr(feature = "testing", doc = "```")]
    #[cfg_attr(not(feature = "testing"), doc = "```ignore")]
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

    /// The queue bound in metrics (default [`DEFAULT_QUEUE_CAPACITY`](crate::DEFAULT_QUEUE_CAPACITY)).
    ///
    /// When the queue is full a call returns at once with
    /// an error of kind [`ErrorKind::QueueFull`](crate::ErrorKind::QueueFull) and the metric is counted as dropped; it never
    /// waits for room:
    ///
    /// ```
    /// use statsd_connector::{Connector, Error, Metrics};
    ///
    /// let statsd = Connector::builder().host("localhost").queue_capacity(1).emitting_threads(1).build()?;
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

    /// How many threads you expect to emit at once (default: twice the
    /// number of cores, at most 32; rounded up to a power of two).
    ///
    /// With more than one, each emitting thread writes a buffer of its own
    /// without a lock (however many threads there are), and this number
    /// sizes what a thread leases from the bound at a time
    /// (`queue_capacity / (8 × n)` lines, at most 1024) and the stripes of
    /// the aggregation tables. With one, every thread writes one buffer
    /// under a mutex: the simplest, and lines keep the order they were
    /// emitted in across threads.
    ///
    /// ```
    /// use statsd_connector::Connector;
    ///
    /// // One buffer: lines arrive in the order they were emitted, from any thread.
    /// let statsd = Connector::builder().host("localhost").emitting_threads(1).build()?;
    /// assert!(Connector::builder().host("localhost").emitting_threads(0).build().is_err());
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    #[must_use]
    pub fn emitting_threads(mut self, threads: usize) -> Builder {
        self.emitting_threads = Some(threads);
        self
    }

    /// The old name of [`Builder::emitting_threads`], from when the queue
    /// had a fixed number of shards.
    #[deprecated(
        since = "0.1.1",
        note = "renamed `emitting_threads`: the queue has a buffer per emitting thread, not shards"
    )]
    #[must_use]
    pub fn shards(self, shards: usize) -> Builder {
        self.emitting_threads(shards)
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

    /// The largest datagram payload (default [`DEFAULT_MAX_PAYLOAD`](crate::DEFAULT_MAX_PAYLOAD) for UDP,
    /// [`DEFAULT_UNIX_MAX_PAYLOAD`](crate::DEFAULT_UNIX_MAX_PAYLOAD) for Unix datagrams; 8192 suits loopback).
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
    /// [`ErrorKind::InvalidSetting`](crate::ErrorKind::InvalidSetting) for a zero `queue_capacity`, `emitting_threads`,
    /// `max_samples_per_context`, `aggregate` or `telemetry` interval, a
    /// `max_payload` outside 64..=65507, or newline framing asked of a
    /// `unixstream://` address.
    pub fn build_config(self) -> Result<Config, Error> {
        steps::build(self)
    }
}

/// The operational settings (`operations`): where the server is now,
/// where the telemetry goes, how many tag sets a name may have.
impl Builder {
    /// How often the processor looks the server up again (default
    /// [`DEFAULT_DNS_REFRESH`](crate::DEFAULT_DNS_REFRESH), 30 s; [`Duration::ZERO`] turns it off;
    /// `STATSD_DNS_REFRESH` in seconds).
    ///
    /// A UDP client that resolved its server once keeps sending to that
    /// address for ever if nothing answers "port unreachable" (a moved pod,
    /// a DNS fail-over): every interval the processor resolves the host again
    /// through the configured [`Resolver`](crate::Resolver) (on its own task,
    /// never on a caller's thread) and, when the address it is connected to
    /// is no longer among the answers, connects to the new one and moves
    /// there. UDP simply re-targets; a TCP connection is replaced the way a
    /// reconnect replaces it, between two batches: the old one is shut down
    /// after its last whole write and given up to a second to be
    /// acknowledged (what is not is counted in
    /// [`Stats::possibly_lost`](crate::Stats::possibly_lost)), and nothing
    /// taken from the queue is left behind. For a Unix socket the check is
    /// the socket file's device and inode: a file replaced (the Agent
    /// restarted and bound a new socket) is connected to anew. Each move is
    /// counted in [`Stats::address_changes`](crate::Stats::address_changes).
    ///
    /// ```
    /// use std::time::Duration;
    /// use statsd_connector::{Connector, DEFAULT_DNS_REFRESH};
    ///
    /// let statsd = Connector::builder().host("statsd.internal").build()?;
    /// assert_eq!(statsd.config().dns_refresh(), Some(DEFAULT_DNS_REFRESH));
    /// let fixed = Connector::builder()
    ///     .host("statsd.internal")
    ///     .dns_refresh(Duration::ZERO) // resolve on (re)connect only
    ///     .build()?;
    /// assert_eq!(fixed.config().dns_refresh(), None);
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    #[must_use]
    pub fn dns_refresh(mut self, interval: Duration) -> Builder {
        self.ops.dns_refresh = interval;
        self
    }

    /// Sends the self-telemetry ([`Builder::telemetry`]) to a server of its
    /// own instead of the metrics' (datadog-go's `WithTelemetryAddr`;
    /// datadogpy's `DD_TELEMETRY_HOST` and `DD_TELEMETRY_PORT`, which
    /// [`Builder::from_env_with`] reads too).
    ///
    /// The address takes every form [`Builder::host`] reads: a URL chooses
    /// the transport (`udp://monitor:8125`, `unixgram:///run/dsd.sock` ...),
    /// a host alone or with a port takes the metrics' protocol (UDP for a
    /// connector on a Unix socket) and port, and a path a Unix socket. The
    /// processor owns the second socket: the telemetry lines never enter the
    /// metrics' queue, so [`Stats::accepted`](crate::Stats::accepted) and the
    /// accounting identity count the application's lines only, and the
    /// telemetry's are counted apart in
    /// [`Stats::telemetry_sent`](crate::Stats::telemetry_sent) and
    /// [`Stats::telemetry_lost`](crate::Stats::telemetry_lost).
    ///
    /// ```
    /// use std::time::Duration;
    /// use statsd_connector::Connector;
    ///
    /// let statsd = Connector::builder()
    ///     .host("udp://127.0.0.1:8125")
    ///     .telemetry(Duration::from_secs(10))
    ///     .telemetry_address("monitor.internal:9125")
    ///     .build()?;
    /// assert_eq!(statsd.config().telemetry_address().as_deref(), Some("udp://monitor.internal:9125"));
    /// // Without .telemetry(interval) there is nothing to send there: refused.
    /// assert!(Connector::builder().host("h").telemetry_address("m").build().is_err());
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    #[must_use]
    pub fn telemetry_address(mut self, address: impl Into<String>) -> Builder {
        self.ops.telemetry_address = Some(TelemetryAddress::Builder(address.into()));
        self
    }

    /// Caps the distinct tag sets each metric name may have in a window
    /// (the aggregation interval with [`Builder::aggregate`], else
    /// [`DEFAULT_TAG_SET_WINDOW`](crate::DEFAULT_TAG_SET_WINDOW), 10 s; `STATSD_MAX_TAG_SETS`). Off by
    /// default.
    ///
    /// A tag set is a call's own tags, in any order (the global tags are on
    /// every line and do not count; a call without tags of its own is never
    /// over the cap). The first `limit` distinct sets of a name in a window
    /// go out as given; a call with another set is sent with its tags
    /// collapsed into the one tag `statsd_connector.overflow:true`, counted
    /// in [`Stats::tag_set_overflows`](crate::Stats::tag_set_overflows) and
    /// in the telemetry, and logged, throttled (the first 100 in a row, then
    /// one in 100). Collapsing rather than dropping keeps every counter's
    /// total and every timing's count right per name, while the server sees
    /// at most `limit + 1` contexts per name and window.
    ///
    /// ```
    /// use statsd_connector::{Connector, Metrics};
    ///
    /// let statsd = Connector::builder().host("localhost").max_tag_sets(2).build()?;
    /// statsd.with_tags(&[("user", "1")]).incr("logins")?;
    /// statsd.with_tags(&[("user", "2")]).incr("logins")?;
    /// statsd.with_tags(&[("user", "3")]).incr("logins")?; // logins:1|c|#statsd_connector.overflow:true
    /// assert_eq!(statsd.stats().tag_set_overflows, 1);
    /// assert!(Connector::builder().host("localhost").max_tag_sets(0).build().is_err());
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    #[must_use]
    pub fn max_tag_sets(mut self, limit: usize) -> Builder {
        self.ops.max_tag_sets = Some(limit);
        self
    }
}
