//! `bench`: T threads emit N counters each as fast as they can; then stop
//! (flushing) and print one JSON object.

use std::process::ExitCode;
use std::time::Instant;

use statsd_connector::testing::CaptureServer;
use statsd_connector::{Metrics, Protocol};

use crate::target::Target;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: Target,
    /// Counters emitted by each thread
    #[arg(long, default_value_t = 1_000_000)]
    count: u64,
    /// Emitting threads
    #[arg(long, default_value_t = 1)]
    threads: u64,
    /// Counter name
    #[arg(long, default_value = "bench.requests")]
    name: String,
}

pub async fn run(args: Args) -> ExitCode {
    let mut target = args.target.clone();
    // Without --port, send to an embedded server that only counts.
    let embedded = if target.port.is_none() {
        match CaptureServer::builder().count_only(true).start().await {
            Ok(server) => {
                target.host = Some(server.address().ip().to_string());
                target.port = Some(server.port());
                Some(server)
            }
            Err(error) => {
                eprintln!("error: cannot start the embedded server: {error}");
                return ExitCode::from(1);
            }
        }
    } else {
        None
    };
    let built = target.builder(None).and_then(|b| b.no_prefix().build());
    let connector = match crate::target::start(built).await {
        Ok(connector) => connector,
        Err(status) => return status,
    };

    let started = Instant::now();
    let threads: Vec<_> = (0..args.threads.max(1))
        .map(|_| {
            let connector = connector.clone();
            let name = args.name.clone();
            std::thread::spawn(move || {
                for _ in 0..args.count {
                    // Drops are counted in the stats; the bench reports them.
                    let _ = connector.incr(&name);
                }
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
    let emit_s = started.elapsed().as_secs_f64();
    connector.stop().await;
    let total_s = started.elapsed().as_secs_f64();
    let stats = connector.stats();
    let metrics = args.count * args.threads.max(1);

    if let (Some(server), Protocol::Tcp) = (&embedded, connector.config().protocol()) {
        // Over TCP the embedded server must see every line that was sent.
        let _ = server
            .wait_for_lines(stats.sent, std::time::Duration::from_secs(10))
            .await;
    }
    println!(
        "{{\"metrics\": {metrics}, \"sent\": {}, \"dropped\": {}, \"emit_s\": {emit_s:.6}, \"total_s\": {total_s:.6}}}",
        stats.sent, stats.dropped
    );
    ExitCode::SUCCESS
}
