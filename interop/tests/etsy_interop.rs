//! Interop with the reference server: Etsy statsd 0.9.0 (npm `statsd`,
//! installed by `npm ci`), started by the harness on loopback ports and read
//! back through its admin interface. Over TCP and UDP: exact counter totals,
//! gauges (negative absolute values and deltas), timer values, sets, sample
//! rates, tags, and zero bad lines. Plus the cluster proxy (`proxy.js`).

use std::collections::BTreeMap;
use std::time::Duration;

use statsd_connector::{Connector, Metrics, Protocol};
use statsd_connector_interop::{EtsyCluster, EtsyOptions, EtsyStatsd};

const WAIT: Duration = Duration::from_secs(15);

/// A server whose UDP socket can take a burst without the kernel dropping it.
fn server() -> EtsyStatsd {
    EtsyStatsd::start_with_options(&EtsyOptions {
        udp_recv_buffer: Some(4 << 20),
        ..EtsyOptions::default()
    })
}

fn connector(server: &EtsyStatsd, protocol: Protocol) -> Connector {
    Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .protocol(protocol)
        .prefix(format!("interop.{protocol}"))
        .build()
        .unwrap()
}

/// Emits everything, stops (flushing), waits until the server has read
/// `lines` lines, and checks it saw no bad line.
async fn deliver(server: &EtsyStatsd, statsd: &Connector, lines: u64) {
    let report = statsd.stop().await;
    assert_eq!(report.undelivered, 0);
    assert_eq!(statsd.stats().sent, lines, "{:?}", statsd.stats());
    let received = server.wait_for_metrics_received(lines, WAIT);
    assert_eq!(
        received,
        lines as f64,
        "server output:\n{}",
        server.output()
    );
    assert_eq!(
        server.bad_lines_seen(),
        0.0,
        "server output:\n{}",
        server.output()
    );
}

async fn counters_gauges_and_timers_are_exact(protocol: Protocol) {
    let server = server();
    let statsd = connector(&server, protocol);
    statsd.start().await.unwrap();
    let mut lines = 0;
    for i in 0..2000 {
        statsd.incr("hits").unwrap();
        statsd.count("bytes", i).unwrap();
        lines += 2;
    }
    statsd.decr("hits").unwrap();
    statsd.decr_by("hits", 9).unwrap();
    statsd.gauge("temperature", 21.5).unwrap();
    statsd.gauge("temperature", -7.0).unwrap(); // negative absolute: 0 then -7
    statsd.gauge("balance", 100.0).unwrap();
    statsd.gauge_delta("balance", 5.0).unwrap();
    statsd.gauge_delta("balance", -12.5).unwrap();
    statsd.gauge("below.zero", -3.0).unwrap();
    statsd.gauge_delta("below.zero", -1.0).unwrap();
    statsd
        .timing("render", Duration::from_micros(1500))
        .unwrap();
    statsd.timing("render", Duration::from_millis(250)).unwrap();
    statsd.timing_secs("render", 0.002).unwrap();
    {
        let mut timer = statsd.timer("explicit");
        timer.start().unwrap();
        timer.stop().unwrap();
        timer.send().unwrap();
    }
    lines += 2 + 1 + 2 + 1 + 2 + 2 + 1 + 3 + 1;
    deliver(&server, &statsd, lines).await;

    let prefix = format!("interop.{protocol}");
    let counters = server.counters();
    assert_eq!(counters[&format!("{prefix}.hits")], 2000.0 - 1.0 - 9.0);
    assert_eq!(
        counters[&format!("{prefix}.bytes")],
        (0..2000).sum::<i64>() as f64
    );
    let gauges = server.gauges();
    assert_eq!(gauges[&format!("{prefix}.temperature")], -7.0);
    assert_eq!(gauges[&format!("{prefix}.balance")], 92.5);
    assert_eq!(gauges[&format!("{prefix}.below.zero")], -4.0);
    let timers = server.timers();
    let mut render = timers[&format!("{prefix}.render")].clone();
    render.sort_by(f64::total_cmp);
    assert_eq!(render, [1.5, 2.0, 250.0]);
    assert_eq!(timers[&format!("{prefix}.explicit")].len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_counters_gauges_and_timers_are_exact() {
    counters_gauges_and_timers_are_exact(Protocol::Tcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_counters_gauges_and_timers_are_exact() {
    counters_gauges_and_timers_are_exact(Protocol::Udp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sets_sample_rates_and_tags_as_etsy_reads_them() {
    let server = server();
    let statsd = connector(&server, Protocol::Tcp);
    statsd.start().await.unwrap();
    for user in ["ann", "bob", "ann", "cy"] {
        statsd.set("users", user).unwrap();
    }
    // A line already sampled at 1/4 counts four times.
    statsd.send_line("sampled:1|c|@0.25").unwrap();
    // Etsy 0.9 folds DogStatsD tags into the key as `name;k=v`.
    statsd
        .with_tags(&[("region", "eu")])
        .count("tagged", 3)
        .unwrap();
    statsd
        .with_tags(&[("region", "eu")])
        .count("tagged", 4)
        .unwrap();
    deliver(&server, &statsd, 4 + 1 + 2).await;

    let sets = server.sets();
    let mut users = sets["interop.tcp.users"].clone();
    users.sort();
    assert_eq!(users, ["ann", "bob", "cy"]);
    let counters = server.counters();
    assert_eq!(counters["interop.tcp.sampled"], 4.0);
    assert_eq!(counters["interop.tcp.tagged;region=eu"], 7.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregated_counters_reach_etsy_with_exact_totals() {
    let server = server();
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .aggregate(Duration::from_secs(3600))
        .build()
        .unwrap();
    statsd.start().await.unwrap();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let statsd = statsd.clone();
            std::thread::spawn(move || {
                let handle = statsd.counter("agg.handle").unwrap();
                for _ in 0..250_000 {
                    handle.incr().unwrap();
                    statsd.incr("agg.named").unwrap();
                }
                statsd.gauge("agg.gauge", 5.0).unwrap();
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    // One line per aggregate, flushed on stop.
    deliver(&server, &statsd, 3).await;
    let counters = server.counters();
    assert_eq!(counters["agg.handle"], 500_000.0);
    assert_eq!(counters["agg.named"], 500_000.0);
    assert_eq!(server.gauges()["agg.gauge"], 5.0);
}

/// Scaling out: thousands of distinct names through Etsy's cluster proxy land
/// on exactly one node each, with exact totals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_cluster_proxy_every_metric_lands_on_exactly_one_node() {
    let cluster = EtsyCluster::start_with_options(
        3,
        "tcp",
        &EtsyOptions {
            udp_recv_buffer: Some(4 << 20),
            ..EtsyOptions::default()
        },
    );
    let protocol: Protocol = cluster.proxy_protocol().parse().unwrap();
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(cluster.proxy_port())
        .protocol(protocol)
        .build()
        .unwrap();
    statsd.start().await.unwrap();
    const NAMES: u64 = 3000;
    for i in 0..NAMES {
        statsd
            .count(&format!("cluster.metric{i}"), (i % 7 + 1) as i64)
            .unwrap();
    }
    let report = statsd.stop().await;
    assert_eq!(report.undelivered, 0);
    let received = cluster.wait_for_metrics_received(NAMES, WAIT);
    assert_eq!(
        received,
        NAMES as f64,
        "proxy output:\n{}",
        cluster.proxy_output()
    );

    let mut seen: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    let mut per_node = Vec::new();
    for (node_index, node) in cluster.nodes.iter().enumerate() {
        assert_eq!(node.bad_lines_seen(), 0.0);
        let counters = node.counters();
        let mine = counters
            .keys()
            .filter(|k| k.starts_with("cluster."))
            .count();
        per_node.push(mine);
        for (name, value) in counters
            .into_iter()
            .filter(|(k, _)| k.starts_with("cluster."))
        {
            let previous = seen.insert(name.clone(), (node_index, value));
            assert!(previous.is_none(), "{name} landed on two nodes");
        }
    }
    assert_eq!(seen.len() as u64, NAMES);
    for i in 0..NAMES {
        let (_, value) = seen[&format!("cluster.metric{i}")];
        assert_eq!(value, (i % 7 + 1) as f64);
    }
    assert!(
        per_node.iter().all(|&n| n > 0),
        "every node got a share: {per_node:?}"
    );
}
