//! For Datadog users: a connector declared DogStatsD, configured from the
//! `DD_*` variables or by hand, sending a metric, an event, a service check, a
//! timestamped gauge, a per-call cardinality and packed distributions, and
//! printing what the server received.
//!
//! ```text
//! cargo run --example datadog                 # an embedded capture server (UDP)
//! cargo run --example datadog -- --port 8125  # a Datadog Agent on 127.0.0.1:8125
//! ```
//!
//! With the embedded server the example checks the lines it receives and
//! fails if one is missing or different.

use std::collections::HashMap;
use std::error::Error;
use std::time::{Duration, SystemTime};

use statsd_connector::testing::CaptureServer;
use statsd_connector::{
    AlertType, Builder, Cardinality, Connector, Event, Metrics, ServiceCheck, ServiceCheckStatus,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // `--port N`: a real Agent on 127.0.0.1:N. Otherwise an in-process server
    // that keeps what it receives.
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

    // 1. From the environment, as a Datadog client is configured. A fixed map
    // stands in for the process environment (`Builder::from_env()` reads the
    // real one). A `DD_*` address declares the server DogStatsD; DD_ENV,
    // DD_SERVICE and DD_VERSION become the tags env, service and version.
    let env: HashMap<&str, String> = HashMap::from([
        ("DD_DOGSTATSD_URL", format!("udp://127.0.0.1:{port}")),
        ("DD_ENV", "prod".to_owned()),
        ("DD_SERVICE", "checkout".to_owned()),
        ("DD_VERSION", "2.1".to_owned()),
        // Off here so the output is the same in and out of a container.
        ("DD_ORIGIN_DETECTION_ENABLED", "false".to_owned()),
    ]);
    let statsd = Builder::from_env_with(|name| env.get(name).cloned())?.build()?;
    assert!(statsd.config().is_dogstatsd());

    statsd.start().await?;
    statsd.incr("orders")?; // orders:1|c|#env:prod,service:checkout,version:2.1
    statsd.event(
        &Event::new("Deploy", "v2.1 is out\nall green") // the newline travels as \n
            .alert_type(AlertType::Success)
            .tags(&[("team", "payments")]),
    )?;
    statsd.service_check(
        &ServiceCheck::new("checkout.db", ServiceCheckStatus::Warning).message("slow replies"),
    )?;
    // A gauge measured earlier than it is sent: `|T<unix seconds>`.
    let measured = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    statsd.at(measured).gauge("queue.depth", 12.0)?;
    // The Agent adds origin tags of this cardinality to this one metric.
    statsd.with_cardinality(Cardinality::High).incr("logins")?;
    statsd.stop().await;

    // 2. The same by hand, with client-side aggregation: on a DogStatsD
    // server, the values of one distribution in one interval travel packed in
    // one line (`name:v1:v2:v3|d`). Counters are summed.
    let aggregated = Connector::builder()
        .host(format!("udp://127.0.0.1:{port}"))
        .dogstatsd(true)
        .origin_detection(false)
        .global_tag("env", "prod")
        .aggregate(Duration::from_secs(10))
        .build()?;
    aggregated.start().await?;
    for millis in [12.0, 15.0, 40.0] {
        aggregated.distribution("checkout.latency", millis)?;
    }
    aggregated.incr("checkout.requests")?;
    aggregated.incr("checkout.requests")?;
    aggregated.stop().await; // flushes what is aggregated, then closes

    for (name, connector) in [("from DD_*", &statsd), ("aggregated", &aggregated)] {
        let stats = connector.stats();
        println!(
            "{name}: {} sent, {} events, {} service checks, {} rejected",
            stats.sent, stats.events, stats.service_checks, stats.rejected
        );
    }

    let Some(capture) = capture else {
        return Ok(());
    };
    let expected = [
        "orders:1|c|#env:prod,service:checkout,version:2.1",
        "_e{6,22}:Deploy|v2.1 is out\\nall green|t:success|#env:prod,service:checkout,version:2.1,team:payments",
        "_sc|checkout.db|1|#env:prod,service:checkout,version:2.1|m:slow replies",
        "queue.depth:12|g|#env:prod,service:checkout,version:2.1|T1700000000",
        "logins:1|c|#env:prod,service:checkout,version:2.1|card:high",
        "checkout.latency:12:15:40|d|#env:prod",
        "checkout.requests:2|c|#env:prod",
    ];
    capture
        .wait_for_lines(expected.len() as u64, Duration::from_secs(5))
        .await?;
    let lines = capture.lines();
    println!("the server received:");
    for line in &lines {
        println!("  {line}");
    }
    // The order within an aggregated flush is not part of the contract.
    let mut got = lines.clone();
    let mut want: Vec<String> = expected.iter().map(|l| (*l).to_owned()).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "the lines the server received");
    assert!(capture.malformed().is_empty(), "{:?}", capture.malformed());
    println!("ok: {} lines as expected", lines.len());
    Ok(())
}
