//! `listen`: an embedded statsd server that prints what it receives.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use statsd_connector::testing::{CaptureServer, Listen, Received};
use statsd_connector::{Line, TagFormat};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on
    #[arg(long, default_value_t = statsd_connector::DEFAULT_PORT)]
    port: u16,
    /// tcp, udp or both
    #[arg(long, default_value = "both", value_parser = parse_listen)]
    protocol: Listen,
    /// Print each line parsed (name, value, type, rate, tags in any dialect)
    /// instead of as received
    #[arg(long)]
    parsed: bool,
}

fn parse_listen(text: &str) -> Result<Listen, String> {
    match text.to_ascii_lowercase().as_str() {
        "tcp" => Ok(Listen::Tcp),
        "udp" => Ok(Listen::Udp),
        "both" => Ok(Listen::Both),
        _ => Err(format!(
            "unknown protocol {text:?}: expected tcp, udp or both"
        )),
    }
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
        "listening on {} ({:?}); Ctrl-C to stop",
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

/// One received line, parsed: `name=… value=… type=… [rate=…] [tags=dialect{k=v,…}]`.
fn describe(line: &str) -> String {
    let Ok(parsed) = Line::parse(line) else {
        return line.to_owned();
    };
    let mut text = format!(
        "name={} value={} type={}",
        parsed.name, parsed.value, parsed.kind
    );
    if let Some(rate) = parsed.sample_rate {
        text.push_str(&format!(" rate={rate}"));
    }
    if parsed.raw_tags.is_some() {
        let tags: Vec<String> = parsed
            .tags()
            .map(|(k, v)| {
                if v.is_empty() {
                    k.to_owned()
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        let dialect = match parsed.tag_format {
            TagFormat::DogStatsd => "dogstatsd",
            TagFormat::Influx => "influx",
            TagFormat::Graphite => "graphite",
        };
        text.push_str(&format!(" tags={dialect}{{{}}}", tags.join(",")));
    }
    text
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
}
