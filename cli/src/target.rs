//! Where to send: flags first, then the `STATSD_*` environment, then
//! 127.0.0.1:8125 over TCP with no prefix.

use std::process::ExitCode;

use statsd_connector::{Builder, Connector, Error, Protocol};

/// The connection flags shared by `send` and `bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Server host [env: STATSD_HOST] [default: 127.0.0.1]
    #[arg(long)]
    pub host: Option<String>,
    /// Server port [env: STATSD_PORT] [default: 8125]
    #[arg(long)]
    pub port: Option<u16>,
    /// tcp or udp [env: STATSD_PROTOCOL] [default: tcp]
    #[arg(long)]
    pub protocol: Option<Protocol>,
}

impl Target {
    /// A builder aimed at the target, with `prefix` when given (or from
    /// `STATSD_PREFIX`).
    pub fn builder(&self, prefix: Option<&str>) -> Result<Builder, Error> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mut builder = Connector::builder().host(
            self.host
                .clone()
                .or_else(|| env("STATSD_HOST"))
                .unwrap_or_else(|| "127.0.0.1".into()),
        );
        builder = match (self.port, env("STATSD_PORT")) {
            (Some(port), _) => builder.port(port),
            (None, Some(text)) => builder.port_text(text),
            (None, None) => builder,
        };
        let protocol = match (self.protocol, env("STATSD_PROTOCOL")) {
            (Some(protocol), _) => protocol,
            (None, Some(text)) => text.parse()?,
            (None, None) => Protocol::Tcp,
        };
        builder = builder.protocol(protocol);
        if let Some(prefix) = prefix.map(str::to_owned).or_else(|| env("STATSD_PREFIX")) {
            builder = builder.prefix(prefix);
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
