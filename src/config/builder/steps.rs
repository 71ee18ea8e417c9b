//! The steps of [`Builder::build_config`], one function each, in the order it
//! takes them: the port, the address, the payload limit, the prefix, the
//! global tags, the limits, the DogStatsD origin, and the assembly of the
//! [`Config`]. The first setting refused stops the build, so the order of the
//! steps is the order in which errors are reported.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::settings::{Builder, PortSetting};
use crate::config::address::Address;
use crate::config::operations::{
    OperationsConfig, TelemetryAddress, DD_TELEMETRY_HOST, DD_TELEMETRY_PORT,
    DEFAULT_TAG_SET_WINDOW,
};
use crate::config::Resolver;
use crate::config::{
    origin, Config, Framing, Protocol, DEFAULT_MAX_PAYLOAD, DEFAULT_UNIX_MAX_PAYLOAD,
};
use crate::error::{Error, ErrorKind};
use crate::wire::metric::{Cardinality, TagFormat};
use crate::wire::validate;

/// Where lines go and how they are framed: the part of a [`Config`] the
/// address text can set, over the separate settings.
pub(super) struct Endpoint {
    host: String,
    port: u16,
    protocol: Protocol,
    framing: Framing,
    /// `unix://` with a stream protocol: the socket's kind is found when
    /// connecting.
    unix_probe: bool,
}

/// The DogStatsD origin fields (`|c:`, `|e:`, `|card:`): none unless the
/// server speaks DogStatsD.
pub(super) struct Origin {
    container_id: Option<String>,
    external_env: Option<String>,
    cardinality: Option<Cardinality>,
}

/// Every step, in order: what [`Builder::build_config`] does (and the
/// telemetry's own address, built by the same rules).
pub(super) fn build(mut builder: Builder) -> Result<Config, Error> {
    let port = port(&builder.port)?;
    let endpoint = endpoint(&builder, port)?;
    let max_payload = max_payload(builder.max_payload, &endpoint);
    check_prefix(builder.prefix.as_deref())?;
    let (explicit, datadog) = (
        std::mem::take(&mut builder.global_tags),
        std::mem::take(&mut builder.datadog_tags),
    );
    let global_tags = global_tags(explicit, datadog, builder.tag_format)?;
    check_limits(&builder, max_payload)?;
    let origin = origin(&mut builder)?;
    let ops = operations(&mut builder, &endpoint)?;
    Ok(assemble(
        builder,
        endpoint,
        max_payload,
        global_tags,
        origin,
        ops,
    ))
}

/// The port as a number: zero and text that is not 1 to 65535 are refused
/// first, before the address is read.
pub(super) fn port(setting: &PortSetting) -> Result<u16, Error> {
    match setting {
        PortSetting::Number(0) => Err(Error::from(ErrorKind::InvalidPort {
            value: "0".into(),
            reason: "must be from 1 to 65535",
        })),
        PortSetting::Number(port) => Ok(*port),
        PortSetting::Text(text) => parse_port(text),
    }
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

/// Reads the host text, which may be a whole address: a connector that is
/// enabled needs one, and what the text says wins over the separate settings.
pub(super) fn endpoint(builder: &Builder, port: u16) -> Result<Endpoint, Error> {
    let host = builder.host.trim();
    let settings = Endpoint {
        host: host.to_owned(),
        port,
        protocol: builder.protocol,
        framing: builder.framing.unwrap_or_default(),
        unix_probe: false,
    };
    if host.is_empty() {
        return match builder.enabled {
            true => Err(Error::from(ErrorKind::EmptyHost)),
            false => Ok(settings),
        };
    }
    let address = host.parse::<Address>()?;
    apply_address(address, settings, builder)
}

/// Puts the parts an address carries over the settings: a URL's port and
/// scheme win; its path is the host of a Unix socket.
fn apply_address(
    address: Address,
    mut endpoint: Endpoint,
    builder: &Builder,
) -> Result<Endpoint, Error> {
    let e = &mut endpoint;
    match address {
        Address::Host(host) => e.host = host,
        Address::HostPort { host, port } => (e.host, e.port) = (host, port),
        Address::Path(path) => e.host = path_text(path),
        Address::Udp { host, port } => (e.host, e.port, e.protocol) = (host, port, Protocol::Udp),
        Address::Tcp { host, port } => (e.host, e.port, e.protocol) = (host, port, Protocol::Tcp),
        Address::Unixgram(path) => (e.host, e.protocol) = (path_text(path), Protocol::Unixgram),
        Address::UnixStream(path) => {
            check_unixstream_framing(builder.framing)?;
            (e.host, e.protocol) = (path_text(path), Protocol::Unix);
            e.framing = Framing::LengthPrefixed;
        }
        Address::Unix(path) => {
            e.host = path_text(path);
            apply_unix(e, builder);
        }
    }
    Ok(endpoint)
}

/// `unixstream://` means the length prefix: newline framing asked of it is a
/// contradiction, refused rather than silently overridden.
fn check_unixstream_framing(framing: Option<Framing>) -> Result<(), Error> {
    match framing {
        Some(Framing::Newline) => Err(Error::from(ErrorKind::InvalidSetting {
            setting: "framing",
            value: "newline".into(),
            reason:
                "unixstream:// is length-prefixed; use unix:// for a newline-framed Unix stream",
        })),
        _ => Ok(()),
    }
}

/// `unix://`: datagrams when the protocol asks for datagrams; otherwise the
/// socket's kind is probed when connecting, and a stream gets the length
/// prefix where Datadog semantics apply (a `DD_*` address, framing not set).
fn apply_unix(endpoint: &mut Endpoint, builder: &Builder) {
    if endpoint.protocol.is_datagram() {
        endpoint.protocol = Protocol::Unixgram;
        return;
    }
    endpoint.protocol = Protocol::Unix;
    endpoint.unix_probe = true;
    if builder.datadog_address && builder.framing.is_none() {
        endpoint.framing = Framing::LengthPrefixed;
    }
}

/// A socket path as the host text (paths are checked as UTF-8 text already).
fn path_text(path: PathBuf) -> String {
    path.to_string_lossy().into_owned()
}

/// The payload limit set, or else the default for the endpoint: a Unix
/// socket (or a socket that may be one, or a length-prefixed stream, the
/// Agent's) has no network MTU to fit, so it gets the larger default.
pub(super) fn max_payload(setting: Option<usize>, endpoint: &Endpoint) -> usize {
    let unix = endpoint.protocol == Protocol::Unixgram
        || endpoint.unix_probe
        || (!endpoint.protocol.is_datagram() && endpoint.framing == Framing::LengthPrefixed);
    setting.unwrap_or(match unix {
        true => DEFAULT_UNIX_MAX_PAYLOAD,
        false => DEFAULT_MAX_PAYLOAD,
    })
}

/// The prefix starts every name, so it must be able to: checked once here
/// instead of failing every call.
pub(super) fn check_prefix(prefix: Option<&str>) -> Result<(), Error> {
    prefix.map_or(Ok(()), validate::prefix)
}

/// The global tags, explicit ones first, then the `DD_*` ones for keys the
/// explicit ones do not set; each checked in the tag format, since every
/// line carries them.
pub(super) fn global_tags(
    explicit: Vec<(String, String)>,
    datadog: Vec<(String, String)>,
    format: TagFormat,
) -> Result<Vec<(String, String)>, Error> {
    let mut tags = explicit;
    // Only the explicit tags hide a Datadog one: a key repeated within
    // `DD_TAGS` keeps every value.
    let explicit = tags.len();
    for (key, value) in datadog {
        if !tags[..explicit].iter().any(|(k, _)| *k == key) {
            tags.push((key, value));
        }
    }
    for (key, value) in &tags {
        validate::tag(key, value, format)?;
    }
    Ok(tags)
}

/// The sizes and intervals the processor divides by, counts down or fits a
/// datagram into: zero (or a payload no datagram can hold) is refused here.
pub(super) fn check_limits(builder: &Builder, max_payload: usize) -> Result<(), Error> {
    if builder.queue_capacity == 0 {
        return Err(setting_error("queue_capacity", 0, "must be at least 1"));
    }
    if builder.emitting_threads == Some(0) {
        return Err(setting_error("emitting_threads", 0, "must be at least 1"));
    }
    if builder.aggregate == Some(Duration::ZERO) {
        return Err(Error::from(ErrorKind::InvalidSetting {
            setting: "aggregate",
            value: "0s".into(),
            reason: "the flush interval must be longer than zero",
        }));
    }
    if builder.max_samples_per_context == 0 {
        let reason = "must keep at least one value";
        return Err(setting_error("max_samples_per_context", 0, reason));
    }
    if builder.telemetry == Some(Duration::ZERO) {
        return Err(Error::from(ErrorKind::InvalidSetting {
            setting: "telemetry",
            value: "0s".into(),
            reason: "the reporting interval must be longer than zero",
        }));
    }
    if !(64..=65_507).contains(&max_payload) {
        let reason = "must be from 64 to 65507 bytes";
        return Err(setting_error("max_payload", max_payload, reason));
    }
    Ok(())
}

/// An [`ErrorKind::InvalidSetting`] for a numeric setting.
fn setting_error(setting: &'static str, value: usize, reason: &'static str) -> Error {
    Error::from(ErrorKind::InvalidSetting {
        setting,
        value: value.to_string(),
        reason,
    })
}

/// The DogStatsD origin fields, kept only for a DogStatsD server (a plain
/// statsd server would refuse the fields): `|e:` only with origin detection
/// on, as datadog-go does.
pub(super) fn origin(builder: &mut Builder) -> Result<Origin, Error> {
    let dogstatsd = builder.dogstatsd;
    let detection = builder.origin_detection.unwrap_or(true);
    Ok(Origin {
        container_id: container_id(builder)?,
        external_env: builder
            .external_env
            .take()
            .filter(|_| dogstatsd && detection),
        cardinality: builder.cardinality.filter(|_| dogstatsd),
    })
}

/// The container ID to send: the one given (checked, since it is written into
/// every line), else, with detection on, the one found under the origin root.
fn container_id(builder: &mut Builder) -> Result<Option<String>, Error> {
    if !builder.dogstatsd {
        return Ok(None);
    }
    if let Some(id) = builder
        .container_id
        .take()
        .filter(|id| !id.trim().is_empty())
    {
        let id = id.trim().to_owned();
        // Written as a field of every line: it must not be able to end the
        // field, add one, or break the line.
        return match check_origin_field(&id) {
            Ok(()) => Ok(Some(id)),
            Err(reason) => Err(Error::from(ErrorKind::InvalidSetting {
                setting: "container_id",
                value: id,
                reason,
            })),
        };
    }
    if !builder.origin_detection.unwrap_or(true) {
        return Ok(None);
    }
    let root = builder.origin_root.as_deref().unwrap_or(Path::new("/"));
    // What detection finds is hex, a UUID or `in-<digits>`; anything else is
    // not sent.
    Ok(origin::detect_container_id(root).filter(|id| check_origin_field(id).is_ok()))
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

/// The checked parts and the settings taken as they are, into the
/// [`Config`] the rest of the crate reads.
pub(super) fn assemble(
    builder: Builder,
    endpoint: Endpoint,
    max_payload: usize,
    global_tags: Vec<(String, String)>,
    origin: Origin,
    ops: OperationsConfig,
) -> Config {
    Config {
        ops,
        host: endpoint.host,
        port: endpoint.port,
        protocol: endpoint.protocol,
        framing: endpoint.framing,
        unix_probe: endpoint.unix_probe,
        container_id: origin.container_id,
        external_env: origin.external_env,
        cardinality: origin.cardinality,
        prefix: builder.prefix,
        type_prefixes: builder.type_prefixes,
        tag_format: builder.tag_format,
        global_tags,
        queue_capacity: builder.queue_capacity,
        emitting_threads: builder
            .emitting_threads
            .unwrap_or_else(default_emitting_threads),
        reconnect_sleep: builder.reconnect_sleep,
        wait_timeout: builder.wait_timeout,
        batch_delay: builder.batch_delay,
        aggregate: builder.aggregate,
        telemetry: builder.telemetry,
        dogstatsd: builder.dogstatsd,
        max_samples_per_context: builder.max_samples_per_context,
        connect_timeout: builder.connect_timeout,
        stop_timeout: builder.stop_timeout,
        max_payload,
        enabled: builder.enabled,
        resolver: builder.resolver.map(|r| r.0),
    }
}

/// A sensible guess of the threads that emit at once on this machine: two
/// per core (threads that share a core are common), at most 32.
fn default_emitting_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(4, |n| n.get() * 2)
        .min(32)
}

/// What [`Operations::check`] needs of the rest of the configuration.
struct Context<'a> {
    port: u16,
    protocol: Protocol,
    resolver: Option<&'a Resolver>,
    connect_timeout: Duration,
    telemetry: Option<Duration>,
    aggregate: Option<Duration>,
}

/// The operational settings (address refresh, telemetry address, tag-set
/// cap), checked against the address and intervals they depend on.
pub(super) fn operations(
    builder: &mut Builder,
    endpoint: &Endpoint,
) -> Result<OperationsConfig, Error> {
    let context = Context {
        port: endpoint.port,
        protocol: endpoint.protocol,
        resolver: builder.resolver.as_ref().map(|r| &r.0),
        connect_timeout: builder.connect_timeout,
        telemetry: builder.telemetry,
        aggregate: builder.aggregate,
    };
    let ops = std::mem::take(&mut builder.ops);
    {
        if ops.max_tag_sets == Some(0) {
            return Err(Error::from(ErrorKind::InvalidSetting {
                setting: "max_tag_sets",
                value: "0".into(),
                reason: "must allow at least one tag set (leave it unset for no cap)",
            }));
        }
        let telemetry_target = match ops.telemetry_address {
            None => None,
            Some(address) => telemetry_target(address, &context)?.map(Box::new),
        };
        Ok(OperationsConfig {
            dns_refresh: Some(ops.dns_refresh).filter(|d| !d.is_zero()),
            telemetry_target,
            max_tag_sets: ops.max_tag_sets,
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
            let mut builder = Builder {
                host: text.clone(),
                port: PortSetting::Number(context.port),
                protocol: network,
                ..Builder::default()
            };
            if text.trim_start().starts_with('/') {
                builder.protocol = if context.protocol.is_unix() {
                    context.protocol
                } else {
                    Protocol::Unixgram
                };
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
            let builder = Builder {
                host: host.clone(),
                protocol,
                port: match port {
                    Some(port) => PortSetting::Text(port.clone()),
                    None => PortSetting::Number(context.port),
                },
                ..Builder::default()
            };
            (builder, Some((host.clone(), port.clone())))
        }
    };
    let built = build(Builder {
        connect_timeout: context.connect_timeout,
        ..builder
    });
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
