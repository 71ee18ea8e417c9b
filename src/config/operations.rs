//! The operational settings: where the server is now ([`Builder::dns_refresh`](crate::Builder::dns_refresh)),
//! where the self-telemetry goes ([`Builder::telemetry_address`](crate::Builder::telemetry_address)), and how
//! many tag sets a metric name may have ([`Builder::max_tag_sets`](crate::Builder::max_tag_sets)).
//!
//! They live together, apart from the rest of the builder, because each is
//! read by the processor or the guard rather than by the line format: the
//! builder holds them as one [`Operations`] value, checked into one
//! [`OperationsConfig`] by one of the builder's steps (`builder::steps`).
//! This module is data only: the setters are the builder's, the checks its
//! steps', the environment `env`'s.

use std::time::Duration;

use super::{Config, Protocol};

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

/// The window of [`Builder::max_tag_sets`](crate::Builder::max_tag_sets) when aggregation is off: 10 s,
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
    /// [`Builder::telemetry_address`](crate::Builder::telemetry_address): any form [`Builder::host`](crate::Builder::host) reads.
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

impl Config {
    /// How often the processor re-resolves the server ([`Builder::dns_refresh`](crate::Builder::dns_refresh));
    /// `None` when off.
    #[must_use]
    pub fn dns_refresh(&self) -> Option<Duration> {
        self.ops.dns_refresh
    }

    /// The telemetry's own server ([`Builder::telemetry_address`](crate::Builder::telemetry_address)), as an
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

    /// The cap on distinct tag sets per metric name ([`Builder::max_tag_sets`](crate::Builder::max_tag_sets)).
    #[must_use]
    pub fn max_tag_sets(&self) -> Option<usize> {
        self.ops.max_tag_sets
    }
}
