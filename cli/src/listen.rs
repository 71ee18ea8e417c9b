//! `listen`: an embedded statsd server that prints what it receives.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use statsd_connector::testing::{CaptureServer, Listen, Received};
use statsd_connector::{Datagram, Line, ParsedEvent, ParsedServiceCheck, TagFormat};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on
    #[arg(long, default_value_t = statsd_connector::DEFAULT_PORT)]
    port: u16,
    /// tcp, udp or both
    #[arg(long, default_value = "both")]
    protocol: Listen,
    /// Print each line parsed (name, value, type, rate, tags in any dialect;
    /// DogStatsD events and service checks field by field) instead of as
    /// received
    #[arg(long)]
    parsed: bool,
}

pub async fn run(args: Args) -> ExitCode {
    let server = CaptureServer::builder()
        .address(SocketAddr::new(args.host, args.port))
        .listen(args.protocol)
        .keep_lines(false)
        .start()
        .await;
    let server = match server {
        Ok(server) => server,
        Err(error) => {
            eprintln!(
                "error: cannot listen on {}:{}: {error}",
                args.host, args.port
            );
            return ExitCode::from(1);
        }
    };
    let mut received = server.subscribe();
    eprintln!(
        "listening on {} ({}); Ctrl-C to stop",
        server.address(),
        args.protocol
    );
    let stdout = std::io::stdout();
    loop {
        tokio::select! {
            event = received.recv() => match event {
                Some(Received::Line(line)) => {
                    let text = if args.parsed { describe(&line) } else { line };
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
    server.stop().await;
    ExitCode::SUCCESS
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
