//! `listen`: an embedded statsd server that prints what it receives.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use statsd_connector::testing::{CaptureServer, Listen, Received};

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
                    let mut out = stdout.lock();
                    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
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
