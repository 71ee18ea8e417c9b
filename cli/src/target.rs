//! Where to send: flags first, then the environment as the library reads it
//! (`STATSD_*`, then Datadog's `DD_DOGSTATSD_URL`, `DD_AGENT_HOST` with
//! `DD_DOGSTATSD_PORT`, and the `DD_ENV`/`DD_SERVICE`/`DD_VERSION`/
//! `DD_ENTITY_ID` tags), then 127.0.0.1:8125 over TCP with no prefix.

use std::process::ExitCode;

use std::time::Duration;

use statsd_connector::{Builder, Connector, Error, ErrorKind, Protocol};

/// The connection flags shared by `send` and `bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Server host, or an address URL: udp://host:port, tcp://host:port,
    /// unixgram:///path, unixstream:///path, unix:///path
    /// [env: STATSD_HOST, DD_DOGSTATSD_URL, DD_AGENT_HOST] [default: 127.0.0.1]
    #[arg(long)]
    pub host: Option<String>,
    /// Server port [env: STATSD_PORT, DD_DOGSTATSD_PORT] [default: 8125]
    #[arg(long)]
    pub port: Option<u16>,
    /// tcp, udp, unix or unixgram [env: STATSD_PROTOCOL] [default: tcp]
    #[arg(long)]
    pub protocol: Option<Protocol>,
    /// Seconds between lookups of the server (a Unix socket: checks that its
    /// file was not replaced); 0 turns them off [env: STATSD_DNS_REFRESH]
    /// [default: 30]
    #[arg(long, value_name = "SECS")]
    pub dns_refresh: Option<f64>,
}

impl Target {
    /// A builder aimed at the target, with `prefix` when given (or from
    /// `STATSD_PREFIX`).
    pub fn builder(&self, prefix: Option<&str>) -> Result<Builder, Error> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        // The library's own reading of the environment, so that the CLI
        // follows every rule a program using `Config::from_env` follows.
        let mut builder = Builder::from_env_with(env)?;
        let from_env = ["STATSD_HOST", "DD_DOGSTATSD_URL", "DD_AGENT_HOST"]
            .iter()
            .any(|name| env(name).is_some());
        if !from_env && self.host.is_none() {
            builder = builder.host("127.0.0.1");
        }
        // Running the CLI is the intent to send: `STATSD_ENABLED` does not
        // turn it into a no-op.
        builder = builder.enabled(true);
        if let Some(host) = &self.host {
            builder = builder.host(host.clone());
        }
        if let Some(port) = self.port {
            builder = builder.port(port);
        }
        if let Some(protocol) = self.protocol {
            builder = builder.protocol(protocol);
        }
        if let Some(prefix) = prefix {
            builder = builder.prefix(prefix);
        }
        if let Some(seconds) = self.dns_refresh {
            let interval = Duration::try_from_secs_f64(seconds).map_err(|_| {
                Error::from(ErrorKind::InvalidSetting {
                    setting: "dns_refresh",
                    value: seconds.to_string(),
                    reason: "expected a non-negative number of seconds",
                })
            })?;
            builder = builder.dns_refresh(interval);
        }
        Ok(builder)
    }
}

/// Builds and starts a connector. On failure, prints the error and returns
/// the exit status: 2 for a bad configuration (a usage error), 1 when the
/// connector cannot start.
pub async fn start(built: Result<Connector, Error>) -> Result<Connector, ExitCode> {
    let connector = built.map_err(|error| {
        eprintln!("error: {error}");
        ExitCode::from(2)
    })?;
    if let Err(error) = connector.start().await {
        eprintln!("error: {error}");
        return Err(ExitCode::from(1));
    }
    Ok(connector)
}
