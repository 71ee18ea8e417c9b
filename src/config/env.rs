//! The `STATSD_*` and `DD_*` environment, read into a [`Builder`] through a
//! function (so tests need not change the process environment).

use std::time::Duration;

use super::builder::{Builder, PortSetting};
use super::datadog_env::{DatadogEnv, DD_AGENT_HOST, DD_DOGSTATSD_PORT, DD_DOGSTATSD_URL};
use super::operations::{TelemetryAddress, DD_TELEMETRY_HOST, DD_TELEMETRY_PORT};
use crate::error::{Error, ErrorKind};

impl Builder {
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
    /// | `STATSD_DNS_REFRESH` | seconds between lookups of the server ([`Builder::dns_refresh`]); 0 turns them off |
    /// | `STATSD_MAX_TAG_SETS` | [`Builder::max_tag_sets`] |
    ///
    /// `STATSD_HOST` takes the same forms as [`Builder::host`] (`udp://host:port`,
    /// `unixstream:///path` ...). The Datadog clients' variables are read too:
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `DD_DOGSTATSD_URL` | the server, with a scheme (`udp://`, `tcp://`, `unix://`, `unixgram://`, `unixstream://`); wins over `DD_AGENT_HOST` |
    /// | `DD_AGENT_HOST`, `DD_DOGSTATSD_PORT` | `udp://<host>:<port, default 8125>` (a host with a port or a scheme is taken as it is) |
    /// | `DD_ENV`, `DD_SERVICE`, `DD_VERSION` | global tags `env:`, `service:`, `version:` |
    /// | `DD_ENTITY_ID` | global tag `dd.internal.entity_id:` |
    /// | `DD_TAGS`, else `DATADOG_TAGS` | global tags, separated by commas or spaces (`team:web tier:1`); a key that `DD_ENV`, `DD_SERVICE` or `DD_VERSION` sets is taken from those |
    /// | `DD_ORIGIN_DETECTION_ENABLED` | container ID detection ([`Builder::origin_detection`]); default on |
    /// | `DD_EXTERNAL_ENV` | [`Config::external_env`](crate::Config::external_env) (`\|e:`) |
    /// | `DD_CARDINALITY`, else `DATADOG_CARDINALITY` | [`Config::cardinality`](crate::Config::cardinality) (`\|card:`) |
    /// | `DD_TELEMETRY_HOST`, `DD_TELEMETRY_PORT` | [`Builder::telemetry_address`]: `udp://<host>:<port, default the metrics' port>`, used when telemetry is on |
    ///
    /// A `DD_*` address that is used declares a DogStatsD server
    /// ([`Builder::dogstatsd`]) with Datadog semantics (a `unix://` stream
    /// socket gets the length prefix). Precedence, highest first:
    ///
    /// | setting | wins over |
    /// |---|---|
    /// | a builder setter called after `from_env_with` | everything below |
    /// | `STATSD_*` (`STATSD_HOST` names the server whole: the `DD_*` address variables are then not read and do not declare DogStatsD) | `DD_*` |
    /// | `DD_*` (tags: only for keys that no explicit [`Builder::global_tag`] sets; among them `DD_ENV`, `DD_SERVICE`, `DD_VERSION` win over the same key in `DD_TAGS`, and `DD_TAGS` over `DATADOG_TAGS`, which is then not read) | the defaults |
    /// | the built-in defaults | |
    ///
    /// A bad `DD_*` value is an error naming the variable (where the Datadog
    /// clients ignore it silently).
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
    ///
    /// # Errors
    ///
    /// [`ErrorKind::UnknownProtocol`](crate::ErrorKind::UnknownProtocol) when `STATSD_PROTOCOL` is none of `tcp`, `udp`,
    /// `unix`, `unixgram`; [`ErrorKind::InvalidEnvironment`](crate::ErrorKind::InvalidEnvironment), naming the variable, when
    /// `STATSD_RECONNECT_SLEEP`, `STATSD_WAIT_TIMEOUT`, `STATSD_TELEMETRY_INTERVAL`
    /// or `STATSD_QUEUE_CAPACITY` is not a number of the right kind, or a `DD_*`
    /// variable holds a value that cannot be used.
    /// `STATSD_PORT` and the values the builder checks are checked by
    /// [`Builder::build_config`], which names their errors.
    pub fn from_env_with(var: impl Fn(&str) -> Option<String>) -> Result<Builder, Error> {
        let mut builder = Builder::default();
        let statsd_host = var("STATSD_HOST").filter(|h| !h.trim().is_empty());
        // A STATSD_HOST names the server whole: the DD_* address is then not
        // read at all (so a stale one cannot fail the configuration).
        let datadog = DatadogEnv::from_vars(|name: &str| match name {
            DD_DOGSTATSD_URL | DD_AGENT_HOST | DD_DOGSTATSD_PORT if statsd_host.is_some() => None,
            _ => var(name),
        })?;
        apply_datadog(&mut builder, statsd_host, datadog);
        apply_statsd(&mut builder, &var)?;
        builder.operations_from_env(&var, seconds)
    }
}

/// The server (`STATSD_HOST`, else the `DD_*` address, which declares
/// DogStatsD; with neither, the connector is off) and the other `DD_*`
/// settings, which the `STATSD_*` ones read next may override.
fn apply_datadog(builder: &mut Builder, statsd_host: Option<String>, datadog: DatadogEnv) {
    match (statsd_host, &datadog.address) {
        (Some(host), _) => builder.host = host.trim().to_owned(),
        (None, Some(address)) => {
            builder.host = address.to_string();
            builder.datadog_address = true;
            builder.dogstatsd = true;
        }
        (None, None) => builder.enabled = false,
    }
    builder.datadog_tags = datadog
        .global_tags()
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
    builder.origin_detection = datadog.origin_detection;
    builder.external_env = datadog.external_env;
    builder.cardinality = datadog.cardinality;
}

/// The `STATSD_*` settings besides the host, over the `DD_*` ones and the
/// defaults: parsed here where the builder takes typed values, kept as text
/// (the port) where `build_config` checks and names them.
fn apply_statsd(builder: &mut Builder, var: impl Fn(&str) -> Option<String>) -> Result<(), Error> {
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
        builder.queue_capacity = count("STATSD_QUEUE_CAPACITY", &text)?;
    }
    Ok(())
}

/// The original connector's truthiness: a non-zero number, or `on`, `t`,
/// `true`, `yes` in any case. Anything else is false.
pub(crate) fn truthy(text: &str) -> bool {
    let text = text.trim();
    if let Ok(n) = text.parse::<f64>() {
        return n != 0.0 && !n.is_nan();
    }
    matches!(
        text.to_ascii_lowercase().as_str(),
        "on" | "t" | "true" | "yes"
    )
}

/// A duration read from `variable` as seconds, which may be fractional.
fn seconds(variable: &'static str, text: &str) -> Result<Duration, Error> {
    text.trim()
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| {
            Error::from(ErrorKind::InvalidEnvironment {
                variable,
                value: text.to_owned(),
                reason: "expected a non-negative number of seconds".into(),
            })
        })
}

/// A whole number read from `variable`, refused with its parser's reason.
fn count(variable: &'static str, text: &str) -> Result<usize, Error> {
    text.trim().parse().map_err(|e: std::num::ParseIntError| {
        Error::from(ErrorKind::InvalidEnvironment {
            variable,
            value: text.to_owned(),
            reason: e.to_string(),
        })
    })
}

impl Builder {
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
