//! The shortest complete program: start a connector, emit one metric of each
//! kind, stop it (which delivers what is queued), and print what the statsd
//! server received.
//!
//! ```text
//! cargo run --example quickstart                 # an embedded capture server
//! cargo run --example quickstart -- --port 8125  # a statsd on 127.0.0.1:8125
//! ```

use std::error::Error;
use std::time::Duration;

use statsd_connector::testing::CaptureServer;
use statsd_connector::{Connector, Metrics};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // `--port N`: a real statsd on 127.0.0.1:N. Otherwise an in-process
    // server that keeps what it receives, so that we can print it.
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
        .prefix("quickstart")
        .build()?;
    statsd.start().await?; // returns once the background processor runs

    // Each call formats a line into the queue and returns: no .await, no I/O.
    statsd.incr("requests")?; //                              quickstart.requests:1|c
    statsd.count("bytes", 512)?; //                           quickstart.bytes:512|c
    statsd.gauge("queue.depth", 7.0)?; //                     quickstart.queue.depth:7|g
    statsd.gauge_delta("queue.depth", -2.0)?; //              quickstart.queue.depth:-2|g
    statsd.timing("db.query", Duration::from_micros(1500))?; // quickstart.db.query:1.5|ms
    statsd.set("visitors", "alice")?; //                      quickstart.visitors:alice|s
    statsd.with_tags(&[("region", "eu")]).incr("logins")?; //                                  quickstart.logins:1|c|#region:eu
    {
        let _timing = statsd.time("block"); // sent when dropped
        std::thread::sleep(Duration::from_millis(2));
    }

    let report = statsd.stop().await; // delivers what is queued, then closes
    let stats = statsd.stats();
    println!(
        "stopped: {} accepted, {} sent, {} undelivered",
        stats.accepted, stats.sent, report.undelivered
    );

    if let Some(capture) = capture {
        capture
            .wait_for_lines(stats.sent, Duration::from_secs(5))
            .await?;
        println!("the server received:");
        for line in capture.lines() {
            println!("  {line}");
        }
    }
    Ok(())
}
