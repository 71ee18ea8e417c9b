//! `listen`: an embedded statsd server that prints what it receives, on the
//! addresses `--host` names for the other subcommands: an IP address (with
//! `--port` and `--protocol`), `udp://`, `tcp://`, or a Unix socket
//! (`listen_unix`).

use std::io::Write;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

use statsd_connector::testing::{CaptureServer, Listen, Received};
use statsd_connector::{Datagram, Line, ParsedEvent, ParsedServiceCheck, TagFormat};
use tokio::sync::mpsc;

use crate::listen_unix::UnixListen;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on: an IP address (with --port and --protocol), or
    /// an address URL as --host reads it elsewhere: udp://host:port,
    /// tcp://host:port, unixgram:///path, unixstream:///path (the Datadog
    /// Agent's 4-byte little-endian length prefix) or unix:///path (a
    /// datagram socket, as the Agent's dogstatsd_socket)
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (an IP address, or a URL without a port)
    #[arg(long, default_value_t = statsd_connector::DEFAULT_PORT)]
    port: u16,
    /// tcp, udp or both (an IP address only: a URL's scheme chooses)
    #[arg(long, default_value = "both")]
    protocol: Listen,
    /// Print each line parsed (name, value, type, rate, tags in any dialect;
    /// DogStatsD events and service checks field by field) instead of as
    /// received
    #[arg(long)]
    parsed: bool,
}

/// Where `listen` listens.
#[derive(Debug, PartialEq, Eq)]
enum Place {
    Inet(SocketAddr, Listen),
    Unix(UnixListen),
}

/// Reads `--host` (with `--port` and `--protocol`).
fn place(host: &str, port: u16, protocol: Listen) -> Result<Place, String> {
    let host = host.trim();
    let Some((scheme, rest)) = host.split_once("://") else {
        let ip: IpAddr = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| {
                format!(
                    "invalid --host {host:?}: expected an IP address or an address URL (udp://, tcp://, unixgram://, unixstream://, unix://)"
                )
            })?;
        return Ok(Place::Inet(SocketAddr::new(ip, port), protocol));
    };
    let network = |listen| {
        let unbracketed = rest.trim_start_matches('[').trim_end_matches(']');
        let resolved = if let Ok(address) = rest.parse::<SocketAddr>() {
            Some(address)
        } else if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            Some(SocketAddr::new(ip, port))
        } else if rest.contains(':') {
            rest.to_socket_addrs()
                .map_err(|error| format!("invalid --host {host:?}: {error}"))?
                .next()
        } else {
            (rest, port)
                .to_socket_addrs()
                .map_err(|error| format!("invalid --host {host:?}: {error}"))?
                .next()
        };
        let resolved = resolved.ok_or_else(|| format!("invalid --host {host:?}: no address"))?;
        Ok(Place::Inet(resolved, listen))
    };
    let path = |kind: fn(std::path::PathBuf) -> UnixListen| {
        if rest.is_empty() {
            Err(format!("invalid --host {host:?}: empty socket path"))
        } else {
            Ok(Place::Unix(kind(rest.into())))
        }
    };
    match scheme.to_ascii_lowercase().as_str() {
        "udp" => network(Listen::Udp),
        "tcp" => network(Listen::Tcp),
        "unixgram" | "unix" => path(UnixListen::Datagram),
        "unixstream" => path(UnixListen::LengthPrefixed),
        _ => Err(format!(
            "invalid --host {host:?}: unknown scheme {scheme:?} (expected udp, tcp, unix, unixgram or unixstream)"
        )),
    }
}

pub async fn run(args: Args) -> ExitCode {
    let (address, listen) = match place(&args.host, args.port, args.protocol) {
        Ok(Place::Inet(address, listen)) => (address, listen),
        Ok(Place::Unix(unix)) => {
            return match unix.start() {
                Ok(received) => {
                    eprintln!("listening on {unix}; Ctrl-C to stop");
                    print(received, args.parsed).await;
                    unix.remove();
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("error: cannot listen on {unix}: {error}");
                    ExitCode::from(1)
                }
            };
        }
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let server = CaptureServer::builder()
        .address(address)
        .listen(listen)
        .keep_lines(false)
        .start()
        .await;
    let server = match server {
        Ok(server) => server,
        Err(error) => {
            eprintln!("error: cannot listen on {address}: {error}");
            return ExitCode::from(1);
        }
    };
    let received = server.subscribe();
    eprintln!(
        "listening on {} ({listen}); Ctrl-C to stop",
        server.address()
    );
    print(received, args.parsed).await;
    server.stop().await;
    ExitCode::SUCCESS
}

/// Prints every line received (parsed with `parsed`), malformed ones on
/// stderr, until interrupted or stdout closes.
async fn print(mut received: mpsc::UnboundedReceiver<Received>, parsed: bool) {
    let stdout = std::io::stdout();
    loop {
        tokio::select! {
            event = received.recv() => match event {
                Some(Received::Line(line)) => {
                    let text = if parsed { describe(&line) } else { line };
                    let mut out = stdout.lock();
                    if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
                        // stdout closed (e.g. piped into `head`): we are done.
                        break;
                    }
                }
                Some(Received::Malformed { line, reason }) => eprintln!("malformed line {line:?}: {reason}"),
                None => break,
            },
            () = crate::send::interrupted() => break,
        }
    }
}

/// One received line, parsed: a metric as `name=… value=… type=… [rate=…]
/// [tags=dialect{k=v,…}]`, an event as `event title="…" text="…" [field=…]…`,
/// a service check as `service_check name="…" status=… [field=…]…`. Texts
/// are quoted (escapes undone, then written as Rust string literals), so each
/// prints on one line.
fn describe(line: &str) -> String {
    match Datagram::parse(line) {
        Ok(Datagram::Metric(metric)) => describe_metric(&metric),
        Ok(Datagram::Event(event)) => describe_event(&event),
        Ok(Datagram::ServiceCheck(check)) => describe_service_check(&check),
        _ => line.to_owned(),
    }
}

fn describe_metric(parsed: &Line<'_>) -> String {
    let mut text = format!(
        "name={} value={} type={}",
        parsed.name, parsed.value, parsed.kind
    );
    if let Some(rate) = parsed.sample_rate {
        text.push_str(&format!(" rate={rate}"));
    }
    if parsed.raw_tags.is_some() {
        push_tags(&mut text, parsed.tag_format, parsed.tags());
    }
    text
}

fn describe_event(event: &ParsedEvent<'_>) -> String {
    let mut text = format!(
        "event title={:?} text={:?}",
        event.unescaped_title(),
        event.unescaped_text()
    );
    if let Some(timestamp) = event.timestamp {
        text.push_str(&format!(" timestamp={timestamp}"));
    }
    push_quoted(&mut text, "hostname", event.hostname);
    push_quoted(&mut text, "aggregation_key", event.aggregation_key);
    if let Some(priority) = event.priority {
        text.push_str(&format!(" priority={priority}"));
    }
    push_quoted(&mut text, "source_type", event.source_type);
    if let Some(alert_type) = event.alert_type {
        text.push_str(&format!(" alert_type={alert_type}"));
    }
    if event.tags.is_some() {
        push_tags(&mut text, TagFormat::DogStatsd, event.tag_pairs());
    }
    text
}

fn describe_service_check(check: &ParsedServiceCheck<'_>) -> String {
    let mut text = format!(
        "service_check name={:?} status={}",
        check.name, check.status
    );
    if let Some(timestamp) = check.timestamp {
        text.push_str(&format!(" timestamp={timestamp}"));
    }
    push_quoted(&mut text, "hostname", check.hostname);
    if check.tags.is_some() {
        push_tags(&mut text, TagFormat::DogStatsd, check.tag_pairs());
    }
    if let Some(message) = check.unescaped_message() {
        text.push_str(&format!(" message={message:?}"));
    }
    text
}

fn push_quoted(text: &mut String, field: &str, value: Option<&str>) {
    if let Some(value) = value {
        text.push_str(&format!(" {field}={value:?}"));
    }
}

fn push_tags<'a>(
    text: &mut String,
    dialect: TagFormat,
    tags: impl Iterator<Item = (&'a str, &'a str)>,
) {
    let tags: Vec<String> = tags
        .map(|(k, v)| {
            if v.is_empty() {
                k.to_owned()
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    text.push_str(&format!(" tags={dialect}{{{}}}", tags.join(",")));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_takes_the_address_urls_of_the_other_subcommands() {
        let inet = |text: &str, listen| Place::Inet(text.parse().unwrap(), listen);
        assert_eq!(
            place("127.0.0.1", 9, Listen::Both),
            Ok(inet("127.0.0.1:9", Listen::Both))
        );
        assert_eq!(
            place("::1", 9, Listen::Tcp),
            Ok(inet("[::1]:9", Listen::Tcp))
        );
        assert_eq!(
            place("udp://127.0.0.1:7", 9, Listen::Both),
            Ok(inet("127.0.0.1:7", Listen::Udp))
        );
        assert_eq!(
            place("tcp://127.0.0.1", 9, Listen::Both),
            Ok(inet("127.0.0.1:9", Listen::Tcp))
        );
        assert_eq!(
            place("udp://[::1]:7", 9, Listen::Both),
            Ok(inet("[::1]:7", Listen::Udp))
        );
        assert_eq!(
            place("unixgram:///run/d.sock", 9, Listen::Both),
            Ok(Place::Unix(UnixListen::Datagram("/run/d.sock".into())))
        );
        assert_eq!(
            place("unix:///run/d.sock", 9, Listen::Both),
            Ok(Place::Unix(UnixListen::Datagram("/run/d.sock".into())))
        );
        assert_eq!(
            place("unixstream:///run/d.sock", 9, Listen::Both),
            Ok(Place::Unix(UnixListen::LengthPrefixed(
                "/run/d.sock".into()
            )))
        );
        assert!(place("http://x", 9, Listen::Both)
            .unwrap_err()
            .contains("unknown scheme \"http\""));
        assert!(place("statsd.internal", 9, Listen::Both).is_err());
        assert!(place("unix://", 9, Listen::Both)
            .unwrap_err()
            .contains("empty socket path"));
    }

    #[test]
    fn describes_each_tag_dialect() {
        assert_eq!(
            super::describe("a:1|c|@0.5|#k:v,bare"),
            "name=a value=1 type=c rate=0.5 tags=dogstatsd{k=v,bare}"
        );
        assert_eq!(
            super::describe("a,k=v:2|g"),
            "name=a value=2 type=g tags=influx{k=v}"
        );
        assert_eq!(
            super::describe("a;k=v:3|ms"),
            "name=a value=3 type=ms tags=graphite{k=v}"
        );
    }

    #[test]
    fn describes_events_and_service_checks_field_by_field() {
        assert_eq!(
            super::describe("_e{6,8}:Deploy|a\\nb | c|d:5|h:web 1|k:g|p:low|s:ci|t:error|#env:prod,canary"),
            "event title=\"Deploy\" text=\"a\\nb | c\" timestamp=5 hostname=\"web 1\" aggregation_key=\"g\" priority=low source_type=\"ci\" alert_type=error tags=dogstatsd{env=prod,canary}"
        );
        assert_eq!(
            super::describe("_sc|db.up|2|h:db-1|#env:prod|m:down\\nm\\: x"),
            "service_check name=\"db.up\" status=critical hostname=\"db-1\" tags=dogstatsd{env=prod} message=\"down\\nm: x\""
        );
        assert_eq!(super::describe("_sc|x|9"), "_sc|x|9");
    }
}
