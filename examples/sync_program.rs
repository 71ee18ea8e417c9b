//! A program without async code and without a tokio runtime of its own: the
//! connector runs its processor on a background thread
//! ([`Connector::start_blocking`]) and [`Connector::stop_blocking`] delivers
//! what is queued before the program exits.
//!
//! ```text
//! cargo run --example sync_program                  # embedded capture server
//! cargo run --example sync_program -- --port 8125   # a statsd on 127.0.0.1:8125
//! ```
//!
//! The embedded capture server is demo scaffolding, not part of the pattern:
//! it is async, so it gets a runtime of its own, in [`DemoServer`], kept apart
//! from the program proper (`run`), which never touches tokio.

use std::error::Error;
use std::time::{Duration, Instant};

use statsd_connector::testing::CaptureServer;
use statsd_connector::{Connector, Metrics};

/// The program proper: plain threads, plain functions, no `.await`.
fn run(port: u16) -> Result<u64, Box<dyn Error>> {
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(port)
        .prefix("batch")
        .build()?;
    statsd.start_blocking()?; // the processor's thread runs from here

    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let statsd = statsd.clone(); // clones share one queue and processor
            std::thread::spawn(move || {
                let worker = worker.to_string();
                let tags = [("worker", worker.as_str())];
                for _ in 0..5 {
                    let started = Instant::now();
                    std::thread::sleep(Duration::from_millis(1));
                    let statsd = statsd.with_tags(&tags);
                    let _ = statsd.incr("items.processed");
                    let _ = statsd.timing("items.duration", started.elapsed());
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().map_err(|_| "a worker panicked")?;
    }
    statsd.gauge("workers", 4.0)?;

    let report = statsd.stop_blocking()?; // delivers what is queued, joins the thread
    let stats = statsd.stats();
    println!(
        "stopped: {} accepted, {} sent, {} undelivered",
        stats.accepted, stats.sent, report.undelivered
    );
    Ok(stats.sent)
}

/// The embedded statsd server and the runtime it needs, on worker threads of
/// their own so that it serves while `run` blocks.
struct DemoServer {
    runtime: tokio::runtime::Runtime,
    server: CaptureServer,
}

impl DemoServer {
    fn start() -> Result<DemoServer, Box<dyn Error>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let server = runtime.block_on(CaptureServer::start())?;
        Ok(DemoServer { runtime, server })
    }

    /// Waits for `lines` lines, then prints everything received.
    fn print(&self, lines: u64) -> Result<(), Box<dyn Error>> {
        self.runtime
            .block_on(self.server.wait_for_lines(lines, Duration::from_secs(5)))?;
        println!("the server received:");
        for line in self.server.lines() {
            println!("  {line}");
        }
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [flag, port] if flag == "--port" => {
            run(port.parse()?)?;
        }
        [] => {
            let demo = DemoServer::start()?;
            let sent = run(demo.server.port())?;
            demo.print(sent)?;
        }
        other => return Err(format!("unknown arguments {other:?}; try --port 8125").into()),
    }
    Ok(())
}
