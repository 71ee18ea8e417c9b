//! The [`Builder`]'s fields and their defaults: plain data, which the
//! setters (`builder`) write and the steps of `build_config` (`steps`) read.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::operations::Operations;
use crate::config::{Framing, Protocol, Resolver, DEFAULT_PORT, DEFAULT_QUEUE_CAPACITY};
use crate::wire::metric::{Cardinality, TagFormat};

/// Values kept per context and interval for packed lines, by default.
const DEFAULT_MAX_SAMPLES_PER_CONTEXT: usize = 1024;

/// Builds a [`Config`](crate::Config) (or directly a [`Connector`](crate::Connector)).
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
    pub(in crate::config) host: String,
    pub(in crate::config) port: PortSetting,
    pub(in crate::config) protocol: Protocol,
    pub(in crate::config) prefix: Option<String>,
    pub(in crate::config) type_prefixes: bool,
    pub(in crate::config) tag_format: TagFormat,
    pub(in crate::config) global_tags: Vec<(String, String)>,
    pub(in crate::config) queue_capacity: usize,
    pub(in crate::config) emitting_threads: Option<usize>,
    pub(in crate::config) reconnect_sleep: Duration,
    pub(in crate::config) wait_timeout: Duration,
    pub(in crate::config) batch_delay: Duration,
    pub(in crate::config) aggregate: Option<Duration>,
    pub(in crate::config) telemetry: Option<Duration>,
    pub(in crate::config) dogstatsd: bool,
    pub(in crate::config) max_samples_per_context: usize,
    pub(in crate::config) connect_timeout: Duration,
    pub(in crate::config) stop_timeout: Duration,
    pub(in crate::config) max_payload: Option<usize>,
    pub(in crate::config) enabled: bool,
    pub(in crate::config) resolver: Option<ResolverSetting>,
    pub(in crate::config) framing: Option<Framing>,
    /// The address came from `DD_*`: Datadog semantics (a `unix://` stream
    /// socket gets the length prefix).
    pub(in crate::config) datadog_address: bool,
    pub(in crate::config) origin_detection: Option<bool>,
    pub(in crate::config) container_id: Option<String>,
    /// Where origin detection looks (`/` unless a test says otherwise).
    pub(in crate::config) origin_root: Option<PathBuf>,
    pub(in crate::config) external_env: Option<String>,
    pub(in crate::config) cardinality: Option<Cardinality>,
    /// Global tags from `DD_ENV`, `DD_SERVICE`, `DD_VERSION`, `DD_ENTITY_ID`:
    /// after the explicit ones, and only for keys those do not set.
    pub(in crate::config) datadog_tags: Vec<(String, String)>,
    /// Address refresh, telemetry address, tag-set cap (`operations`).
    pub(in crate::config) ops: Operations,
}

/// A port as given: a number, or text from the environment, checked in `build`.
#[derive(Debug, Clone)]
pub(in crate::config) enum PortSetting {
    Number(u16),
    Text(String),
}

/// Wraps the resolver so that the builder can derive `Debug`.
#[derive(Clone)]
pub(in crate::config) struct ResolverSetting(pub(in crate::config) Resolver);

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
            emitting_threads: None,
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
