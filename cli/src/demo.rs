//! `demo`: the connector against an embedded server that goes away and comes
//! back, with the accounting at the end. Needs no statsd server.

use std::process::ExitCode;
use std::time::Duration;

use statsd_connector::testing::CaptureServer;
use statsd_connector::{Connector, Metrics};

/// Emitted per phase: a mix of every kind of call.
const ROUNDS_PER_PHASE: u64 = 1000;

pub async fn run() -> ExitCode {
    match demo().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("demo failed: {error}");
            ExitCode::from(1)
        }
    }
}

async fn demo() -> Result<bool, Box<dyn std::error::Error>> {
    let server = CaptureServer::start().await?;
    println!("embedded statsd listening on {}", server.address());
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .prefix("demo")
        .reconnect_sleep(Duration::from_millis(100))
        .build()?;
    statsd.start().await?;
    let mut connected = statsd.watch_state();
    connected.wait_for(|s| s.is_connected()).await?;
    println!("connector started and connected");

    let mut emitted = 0;
    // Phase 1: server up.
    emitted += emit_mix(&statsd, 0)?;
    server
        .wait_for_lines(emitted, Duration::from_secs(10))
        .await?;
    println!(
        "phase 1: emitted {emitted} lines, server has {}",
        server.line_count()
    );

    // Phase 2: the server goes away; metrics keep being accepted and queued.
    server.stop().await;
    connected.wait_for(|s| !s.is_connected()).await?;
    println!("server stopped; connector noticed and is reconnecting");
    let during_outage = emit_mix(&statsd, 1)?;
    emitted += during_outage;
    println!(
        "phase 2: emitted {during_outage} lines while the server was down ({} waiting in the queue)",
        statsd.stats().in_queue
    );

    // Phase 3: the server comes back on the same port.
    server.restart().await?;
    connected.wait_for(|s| s.is_connected()).await?;
    println!("server restarted; connector reconnected");
    emitted += emit_mix(&statsd, 2)?;

    let report = statsd.stop().await;
    let stats = statsd.stats();
    // Stop returned once the server's kernel acknowledged everything; give
    // the server itself a moment to read it.
    let received = server
        .wait_for_lines(emitted, Duration::from_secs(10))
        .await
        .unwrap_or_else(|_| server.line_count());
    let lines = server.lines();

    println!();
    println!("emitted   {emitted} lines (counters, gauges with negative values and deltas, timings, sets)");
    println!(
        "received  {received} lines, {} malformed, {} partial",
        server.malformed().len(),
        server.partial_lines()
    );
    println!("first lines received:");
    for line in lines.iter().take(6) {
        println!("  {line}");
    }
    println!();
    println!("connector stats:");
    println!("  accepted      {}", stats.accepted);
    println!(
        "  sent          {} lines, {} bytes",
        stats.sent, stats.sent_bytes
    );
    println!("  dropped       {}", stats.dropped);
    println!("  rejected      {}", stats.rejected);
    println!("  reconnects    {}", stats.reconnects);
    println!("  possibly lost {}", stats.possibly_lost);
    println!("  undelivered   {}", report.undelivered);

    let nothing_lost = received == emitted
        && stats.sent == emitted
        && stats.dropped == 0
        && report.undelivered == 0
        && server.malformed().is_empty();
    if nothing_lost {
        println!("\nnothing lost: every emitted line reached the server, across a server restart");
    } else {
        println!("\nSOMETHING WAS LOST: emitted {emitted}, received {received}");
    }
    Ok(nothing_lost)
}

/// Emits one phase of mixed metrics; returns the number of lines queued.
fn emit_mix(statsd: &Connector, phase: u64) -> Result<u64, statsd_connector::Error> {
    let before = statsd.stats().accepted;
    for i in 0..ROUNDS_PER_PHASE {
        statsd.incr("requests")?;
        statsd.count("bytes", (i * 37 % 1500) as i64)?;
        statsd.gauge("temperature", (i % 40) as f64 - 20.0)?;
        statsd.gauge_delta("queue.depth", if i % 2 == 0 { 1.0 } else { -1.0 })?;
        statsd.timing("handler", Duration::from_micros(250 + i * 13))?;
        statsd.set("visitors", &format!("user{}", (i + phase * 7) % 50))?;
        let _timed = statsd.time("block");
    }
    Ok(statsd.stats().accepted - before)
}
