//! The `metrics` facade: install [`StatsdRecorder`] as the global recorder,
//! record with `counter!`, `gauge!` and `histogram!` (labels become tags), and
//! stop the connector at shutdown: the global recorder is never dropped, so
//! the program keeps a clone of the connector to stop it.
//!
//! ```text
//! cargo run --example metrics_facade --all-features                  # embedded server
//! cargo run --example metrics_facade --all-features -- --port 8125   # local statsd
//! ```

use std::error::Error;
use std::time::{Duration, Instant};

use metrics::{counter, gauge, histogram};
use statsd_connector::integrations::metrics::{HistogramAs, StatsdRecorder};
use statsd_connector::testing::CaptureServer;
use statsd_connector::Connector;

/// Some work that reports through the facade, as a library would: it knows
/// nothing of statsd.
fn process_jobs(queue: &str, jobs: u32) {
    let done = counter!("jobs.done", "queue" => queue.to_owned());
    for job in 0..jobs {
        let started = Instant::now();
        std::thread::sleep(Duration::from_millis(1));
        done.increment(1);
        gauge!("jobs.pending", "queue" => queue.to_owned()).set(f64::from(jobs - job - 1));
        // A Duration is recorded in seconds; HistogramAs::Timing sends it as ms.
        histogram!("jobs.duration").record(started.elapsed());
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let port = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [flag, port] if flag == "--port" => Some(port.parse::<u16>()?),
        [] => None,
        other => return Err(format!("unknown arguments {other:?}; try --port 8125").into()),
    };
    let capture = match port {
        Some(_) => None,
        None => Some(CaptureServer::start().await?),
    };
    let port = port
        .or(capture.as_ref().map(CaptureServer::port))
        .ok_or("no port")?;

    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(port)
        .prefix("facade")
        .build()?;
    statsd.start().await?;
    // `install` hands back a clone of the connector: the way to stop it.
    let statsd = StatsdRecorder::new(statsd)
        .histogram_as(HistogramAs::Timing)
        .install()
        .map_err(|_| "a metrics recorder is already installed")?;

    tokio::task::spawn_blocking(|| process_jobs("high", 3)).await?;
    counter!("runs").increment(1);

    // Shutdown: deliver what is queued.
    let report = statsd.stop().await;
    let sent = statsd.stats().sent;
    println!("stopped: {sent} sent, {} undelivered", report.undelivered);

    if let Some(capture) = capture {
        capture.wait_for_lines(sent, Duration::from_secs(5)).await?;
        println!("the server received:");
        for line in capture.lines() {
            println!("  {line}");
        }
    }
    Ok(())
}
