//! The operational settings: where the server is now ([`Builder::dns_refresh`]),
//! where the self-telemetry goes ([`Builder::telemetry_address`]), and how
//! many tag sets a metric name may have ([`Builder::max_tag_sets`]).
//!
//! They live together, apart from the rest of the builder, because each is
//! read by the processor or the guard rather than by the line format: the
//! builder holds them as one [`Operations`] value, checked into one
//! [`OperationsConfig`] by [`Operations::check`].

use std::time::Duration;

use super::builder::Builder;
use super::{Config, Protocol, Resolver};
use crate::error::{Error, ErrorKind};

/// How often the processor looks the server up again by default: 30 s.
///
/// Short enough that a UDP client follows a moved server (a rescheduled
/// Agent pod, a DNS fail-over) within half a minute, since UDP never tells
/// it; long enough that one lookup per interval costs nothing next to the
/// metrics (the system resolver and the DNS cache see two lookups a minute
/// per connector). It matches the TTLs DNS-based service discovery commonly
/// uses (Consul's default, Kubernetes' CoreDNS cache of 30 s), so a moved
/// address is seen about as soon as the resolver itself sees it.
pub const DEFAULT_DNS_REFRESH: Duration = Duration::from_secs(30);

/// The window of [`Builder::max_tag_sets`] when aggregation is off: 10 s,
/// the Datadog Agent's flush interval (so the cap bounds the contexts the
/// Agent sees per flush). With aggregation on, the aggregation interval.
pub const DEFAULT_TAG_SET_WINDOW: Duration = Duration::from_secs(10);

/// `DD_TELEMETRY_HOST`: where datadogpy sends its telemetry.
pub(crate) const DD_TELEMETRY_HOST: &str = "DD_TELEMETRY_HOST";
/// `DD_TELEMETRY_PORT`: the port with `DD_TELEMETRY_HOST` (default: the
/// metrics' port, as datadogpy does).
pub(crate) const DD_TELEMETRY_PORT: &str = "DD_TELEMETRY_PORT";

/// The operational settings as given to the builder, unchecked.
#[derive(Debug, Clone)]
pub(crate) struct Operations {
    /// Zero: off.
    pub(super) dns_refresh: Duration,
    pub(super) telemetry_address: Option<TelemetryAddress>,
    pub(super) max_tag_sets: Option<usize>,
}

impl Default for Operations {
    fn default() -> Operations {
        Operations {
            dns_refresh: DEFAULT_DNS_REFRESH,
            telemetry_address: None,
            max_tag_sets: None,
        }
    }
}

/// Where the telemetry goes, as given.
#[derive(Debug, Clone)]
pub(super) enum TelemetryAddress {
    /// [`Builder::telemetry_address`]: any form [`Builder::host`] reads.
    Builder(String),
    /// `DD_TELEMETRY_HOST` with `DD_TELEMETRY_PORT`: UDP, as datadogpy.
    Environment { host: String, port: Option<String> },
}

/// The operational settings, checked.
#[derive(Debug, Clone, Default)]
pub(crate) struct OperationsConfig {
    /// How often the processor re-resolves the host (or checks the socket
    /// file's device and inode); `None`: never.
    pub(crate) dns_refresh: Option<Duration>,
    /// The transport settings of the telemetry's own server, when it has one
    /// (a configuration of its own, built by the same rules as the metrics').
    pub(crate) telemetry_target: Option<Box<Config>>,
    /// The cap on distinct tag sets per metric name and window.
    pub(crate) max_tag_sets: Option<usize>,
    /// The guard's window.
    pub(crate) tag_set_window: Duration,
}

/// What [`Operations::check`] needs of the rest of the configuration.
pub(super) struct Context<'a> {
    pub(super) port: u16,
    pub(super) protocol: Protocol,
    pub(super) resolver: Option<&'a Resolver>,
    pub(super) connect_timeout: Duration,
    pub(super) telemetry: Option<Duration>,
    pub(super) aggregate: Option<Duration>,
}

impl Operations {
    /// Checks the settings against the rest of the configuration.
    pub(super) fn check(self, context: Context<'_>) -> Result<OperationsConfig, Error> {
        if self.max_tag_sets == Some(0) {
            return Err(Error::from(ErrorKind::InvalidSetting {
                setting: "max_tag_sets",
                value: "0".into(),
                reason: "must allow at least one tag set (leave it unset for no cap)",
            }));
        }
        let telemetry_target = match self.telemetry_address {
            None => None,
            Some(address) => telemetry_target(address, &context)?.map(Box::new),
        };
        Ok(OperationsConfig {
            dns_refresh: Some(self.dns_refresh).filter(|d| !d.is_zero()),
            telemetry_target,
            max_tag_sets: self.max_tag_sets,
            tag_set_window: context.aggregate.unwrap_or(DEFAULT_TAG_SET_WINDOW),
        })
    }
}

/// The telemetry's own transport, as a configuration built by the rules of
/// [`Builder::host`]: a URL chooses the transport, a host (with or without a
/// port) takes the metrics' protocol and port, a path a Unix socket.
fn telemetry_target(
    address: TelemetryAddress,
    context: &Context<'_>,
) -> Result<Option<Config>, Error> {
    let network = match context.protocol {
        Protocol::Tcp | Protocol::Udp => context.protocol,
        Protocol::Unix | Protocol::Unixgram => Protocol::Udp,
    };
    let (builder, source) = match &address {
        TelemetryAddress::Builder(text) => {
            if context.telemetry.is_none() {
                return Err(Error::from(ErrorKind::InvalidSetting {
                    setting: "telemetry_address",
                    value: text.clone(),
                    reason: "telemetry is off: set .telemetry(interval) as well",
                }));
            }
            let mut builder = Builder::default()
                .host(text.clone())
                .port(context.port)
                .protocol(network);
            if text.trim_start().starts_with('/') {
                let unix = if context.protocol.is_unix() {
                    context.protocol
                } else {
                    Protocol::Unixgram
                };
                builder = builder.protocol(unix);
            }
            (builder, None)
        }
        TelemetryAddress::Environment { host, port } => {
            if context.telemetry.is_none() {
                tracing::debug!(
                    host = %host,
                    "DD_TELEMETRY_HOST is set but telemetry is off: not used"
                );
                return Ok(None);
            }
            let protocol = if host.starts_with('/') {
                Protocol::Unixgram
            } else {
                Protocol::Udp
            };
            let mut builder = Builder::default().host(host.clone()).protocol(protocol);
            builder = match port {
                Some(port) => builder.port_text(port.clone()),
                None => builder.port(context.port),
            };
            (builder, Some((host.clone(), port.clone())))
        }
    };
    let built = builder
        .connect_timeout(context.connect_timeout)
        .build_config();
    let mut target = match (built, source) {
        (Ok(target), _) => target,
        (Err(error), None) => return Err(error),
        (Err(error), Some((host, port))) => {
            let (variable, value, reason) = match error.kind() {
                ErrorKind::InvalidPort { reason, .. } => (
                    DD_TELEMETRY_PORT,
                    port.unwrap_or_default(),
                    (*reason).to_owned(),
                ),
                ErrorKind::InvalidAddress { reason, .. } => {
                    (DD_TELEMETRY_HOST, host, reason.clone())
                }
                _ => (DD_TELEMETRY_HOST, host, error.to_string()),
            };
            return Err(Error::from(ErrorKind::InvalidEnvironment {
                variable,
                value,
                reason,
            }));
        }
    };
    target.resolver = context.resolver.cloned();
    Ok(Some(target))
}

impl Builder {
    /// How often the processor looks the server up again (default
    /// [`DEFAULT_DNS_REFRESH`], 30 s; [`Duration::ZERO`] turns it off;
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
    /// [`DEFAULT_TAG_SET_WINDOW`], 10 s; `STATSD_MAX_TAG_SETS`). Off by
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

    /// Reads `STATSD_DNS_REFRESH`, `STATSD_MAX_TAG_SETS`, `DD_TELEMETRY_HOST`
    /// and `DD_TELEMETRY_PORT` (for [`Builder::from_env_with`]).
    pub(super) fn operations_from_env(
        mut self,
        var: &impl Fn(&str) -> Option<String>,
        seconds: impl Fn(&'static str, &str) -> Result<Duration, Error>,
    ) -> Result<Builder, Error> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if let Some(text) = get("STATSD_DNS_REFRESH") {
            self.ops.dns_refresh = seconds("STATSD_DNS_REFRESH", &text)?;
        }
        if let Some(text) = get("STATSD_MAX_TAG_SETS") {
            let limit = text.trim().parse::<usize>().map_err(|e| {
                Error::from(ErrorKind::InvalidEnvironment {
                    variable: "STATSD_MAX_TAG_SETS",
                    value: text.clone(),
                    reason: e.to_string(),
                })
            })?;
            self.ops.max_tag_sets = Some(limit);
        }
        if let Some(host) = get(DD_TELEMETRY_HOST) {
            self.ops.telemetry_address = Some(TelemetryAddress::Environment {
                host: host.trim().to_owned(),
                port: get(DD_TELEMETRY_PORT).map(|p| p.trim().to_owned()),
            });
        }
        Ok(self)
    }
}

impl Config {
    /// How often the processor re-resolves the server ([`Builder::dns_refresh`]);
    /// `None` when off.
    #[must_use]
    pub fn dns_refresh(&self) -> Option<Duration> {
        self.ops.dns_refresh
    }

    /// The telemetry's own server ([`Builder::telemetry_address`]), as an
    /// address URL; `None` when the telemetry goes with the metrics.
    #[must_use]
    pub fn telemetry_address(&self) -> Option<String> {
        self.ops.telemetry_target.as_ref().map(|target| {
            let scheme = match target.protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
                Protocol::Unixgram => "unixgram",
                Protocol::Unix if target.unix_probe => "unix",
                Protocol::Unix if target.framing == super::Framing::LengthPrefixed => "unixstream",
                Protocol::Unix => "unix",
            };
            if target.protocol.is_unix() {
                format!("{scheme}://{}", target.host)
            } else if target.host.contains(':') {
                format!("{scheme}://[{}]:{}", target.host, target.port)
            } else {
                format!("{scheme}://{}:{}", target.host, target.port)
            }
        })
    }

    /// The cap on distinct tag sets per metric name ([`Builder::max_tag_sets`]).
    #[must_use]
    pub fn max_tag_sets(&self) -> Option<usize> {
        self.ops.max_tag_sets
    }
}
