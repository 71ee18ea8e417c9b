//! Self-tests of the Etsy statsd interop harness (`interop/src/lib.rs`).
//!
//! They talk to the real Etsy statsd 0.9.0 with raw statsd lines over std
//! sockets, deliberately without the library under development, so a failure
//! here is a harness (or environment) problem, never a library bug.
//!
//! Needs Node.js and `npm ci --ignore-scripts` in the repository root.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use statsd_connector_interop::{
    parse_inspect_arrays, parse_inspect_numbers, EtsyCluster, EtsyOptions, EtsyStatsd,
    BAD_LINES_SEEN, METRICS_RECEIVED, PACKETS_RECEIVED,
};

const WAIT: Duration = Duration::from_secs(5);

fn udp_client() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").expect("bind UDP client")
}

fn send_udp(socket: &UdpSocket, to: SocketAddr, payload: &str) {
    let sent = socket
        .send_to(payload.as_bytes(), to)
        .expect("send UDP datagram");
    assert_eq!(sent, payload.len());
}

/// The user metrics of a counters map (without statsd's own `statsd.*`).
fn user_counters(counters: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    counters
        .iter()
        .filter(|(k, _)| !k.starts_with("statsd."))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

// ---------------------------------------------------------------------------
// Single server
// ---------------------------------------------------------------------------

#[test]
fn fresh_server_is_empty() {
    let statsd = EtsyStatsd::start();
    assert_ne!(statsd.port(), 0);
    assert_ne!(statsd.admin_port(), statsd.port());
    let counters = statsd.counters();
    assert_eq!(
        counters,
        BTreeMap::from([
            (BAD_LINES_SEEN.to_string(), 0.0),
            (PACKETS_RECEIVED.to_string(), 0.0),
            (METRICS_RECEIVED.to_string(), 0.0),
        ])
    );
    assert!(statsd.gauges().is_empty());
    assert!(statsd.timers().is_empty());
    assert_eq!(statsd.health(), "up");
    assert!(statsd.is_running());
    assert!(
        statsd.output().contains("server is up"),
        "{}",
        statsd.output()
    );
}

#[test]
fn udp_lines_are_aggregated() {
    let statsd = EtsyStatsd::start();
    let client = udp_client();
    // Several lines in one datagram, then single-line datagrams.
    send_udp(
        &client,
        statsd.addr(),
        "a.b:3|c\ng:-5|g\nt:1.5|ms\nnot a metric",
    );
    send_udp(&client, statsd.addr(), "t:2|ms");
    send_udp(&client, statsd.addr(), "a.b:1|c\n");

    assert_eq!(statsd.wait_for_metrics_received(6, WAIT), 6.0);
    let counters = statsd.counters();
    assert_eq!(counters[PACKETS_RECEIVED], 3.0);
    assert_eq!(counters[BAD_LINES_SEEN], 1.0);
    assert_eq!(statsd.bad_lines_seen(), 1.0);
    assert_eq!(
        user_counters(&counters),
        BTreeMap::from([("a.b".to_string(), 4.0)])
    );
    assert_eq!(statsd.gauges(), BTreeMap::from([("g".to_string(), -5.0)]));
    assert_eq!(
        statsd.timers(),
        BTreeMap::from([("t".to_string(), vec![1.5, 2.0])])
    );
}

#[test]
fn tcp_lines_are_aggregated() {
    let statsd = EtsyStatsd::start();
    let mut stream = TcpStream::connect(statsd.addr()).expect("connect to statsd over TCP");
    stream.set_nodelay(true).unwrap();
    stream.write_all(b"a.b:3|c\ng:-5|g\n").unwrap();
    stream.write_all(b"t:1.5|ms\nbad\n").unwrap();
    // A line split over two writes is reassembled (statsd buffers up to '\n').
    stream.write_all(b"split.line:").unwrap();
    stream.flush().unwrap();
    stream.write_all(b"2|c\n").unwrap();
    // A last line without '\n' is never processed: Etsy's TCP server only
    // hands over text up to the last newline and drops the rest on close.
    stream.write_all(b"unterminated:1|c").unwrap();
    drop(stream);

    assert_eq!(statsd.wait_for_metrics_received(5, WAIT), 5.0);
    let counters = statsd.counters();
    assert_eq!(counters[BAD_LINES_SEEN], 1.0);
    assert_eq!(
        user_counters(&counters),
        BTreeMap::from([("a.b".to_string(), 3.0), ("split.line".to_string(), 2.0)])
    );
    assert_eq!(statsd.gauges(), BTreeMap::from([("g".to_string(), -5.0)]));
    assert_eq!(
        statsd.timers(),
        BTreeMap::from([("t".to_string(), vec![1.5])])
    );

    // A second connection works too, and the unterminated line stays lost.
    let mut again = TcpStream::connect(statsd.addr()).unwrap();
    again.write_all(b"a.b:1|c\n").unwrap();
    drop(again);
    let counters = statsd.wait_for_counters(WAIT, |c| c.get("a.b") == Some(&4.0));
    assert_eq!(counters["a.b"], 4.0);
    assert_eq!(counters[METRICS_RECEIVED], 6.0);
    assert!(!counters.contains_key("unterminated"), "{counters:?}");
}

#[test]
fn tags_sample_rates_and_gauge_deltas() {
    let statsd = EtsyStatsd::start();
    let client = udp_client();
    let lines = [
        "tagged:1|c|#env:prod,role:web", // tags are folded into the key
        "sampled:1|c|@0.5",              // counted as 1 / 0.5
        "gt:7|g|#env:prod",
        "gd:10|g",
        "gd:+5|g", // a sign means "delta" for gauges
        "gd:-3|g",
        "tt:4|ms|#env:prod",
        "ts:2|ms|@0.1", // one value that stands for 10 timings
        "bad.sample:1|c|@x",
        "bad.timer:-1|ms",
    ];
    send_udp(&client, statsd.addr(), &lines.join("\n"));

    assert_eq!(
        statsd.wait_for_metrics_received(lines.len() as u64, WAIT),
        lines.len() as f64
    );
    let counters = statsd.counters();
    assert_eq!(counters[BAD_LINES_SEEN], 2.0);
    assert_eq!(
        user_counters(&counters),
        BTreeMap::from([
            ("sampled".to_string(), 2.0),
            ("tagged;env=prod;role=web".to_string(), 1.0)
        ])
    );
    assert_eq!(
        statsd.gauges(),
        BTreeMap::from([("gd".to_string(), 12.0), ("gt;env=prod".to_string(), 7.0)])
    );
    assert_eq!(
        statsd.timers(),
        BTreeMap::from([
            ("ts".to_string(), vec![2.0]),
            ("tt;env=prod".to_string(), vec![4.0])
        ])
    );
    assert_eq!(
        statsd.timer_counts(),
        BTreeMap::from([("ts".to_string(), 10.0), ("tt;env=prod".to_string(), 1.0)])
    );
    assert!(statsd.sets().is_empty());
}

/// The admin interface has no `sets` command; `sets()` reads them through
/// the harness backend.
#[test]
fn sets_are_visible_through_the_harness_backend() {
    let statsd = EtsyStatsd::start();
    assert!(statsd.sets().is_empty());
    let lines = [
        "users:alice|s",
        "users:bob|s",
        "users:alice|s",
        "tagged:dave|s|#env:prod",
        "numbers:42|s",
        "numbers:-1.5|s",
    ];
    let mut stream = TcpStream::connect(statsd.addr()).unwrap();
    stream.write_all(lines.join("\n").as_bytes()).unwrap();
    stream.write_all(b"\n").unwrap();
    // Members are not sanitized. Etsy's UDP server decodes datagrams as
    // UTF-8, but its TCP server reads with encoding 'ascii', which strips
    // the high bit of every byte: non-ASCII text arrives mangled over TCP.
    stream
        .write_all("unicode:h\u{e9}llo w\u{f6}rld,x|s\n".as_bytes())
        .unwrap();
    drop(stream);
    send_udp(
        &udp_client(),
        statsd.addr(),
        "unicode:h\u{e9}llo w\u{f6}rld,x|s",
    );
    let total = lines.len() as u64 + 2;
    assert_eq!(statsd.wait_for_metrics_received(total, WAIT), total as f64);
    assert_eq!(statsd.bad_lines_seen(), 0.0);
    let set = |members: &[&str]| members.iter().map(|m| m.to_string()).collect::<Vec<_>>();
    assert_eq!(
        statsd.sets(),
        BTreeMap::from([
            ("numbers".to_string(), set(&["-1.5", "42"])),
            ("tagged;env=prod".to_string(), set(&["dave"])),
            ("users".to_string(), set(&["alice", "bob"])),
            (
                "unicode".to_string(),
                set(&["hC)llo wC6rld,x", "h\u{e9}llo w\u{f6}rld,x"])
            ),
        ])
    );
    // Sets are not counters, gauges or timers.
    assert!(user_counters(&statsd.counters()).is_empty());
    assert!(statsd.gauges().is_empty() && statsd.timers().is_empty());
}

#[test]
fn wait_helpers_time_out_with_the_last_state() {
    let statsd = EtsyStatsd::start();
    let started = Instant::now();
    let counters =
        statsd.wait_for_counters(Duration::from_millis(200), |c| c.contains_key("never"));
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    assert_eq!(counters[METRICS_RECEIVED], 0.0);
    assert_eq!(
        statsd.wait_for_metrics_received(1, Duration::from_millis(100)),
        0.0
    );
}

#[test]
fn servers_run_side_by_side_and_clean_up() {
    let a = EtsyStatsd::start();
    let b = EtsyStatsd::start();
    assert_ne!(a.port(), b.port());
    let client = udp_client();
    send_udp(&client, a.addr(), "only.a:1|c");
    send_udp(&client, b.addr(), "only.b:1|c");
    assert_eq!(a.wait_for_metrics_received(1, WAIT), 1.0);
    assert_eq!(b.wait_for_metrics_received(1, WAIT), 1.0);
    assert!(a.counters().contains_key("only.a") && !a.counters().contains_key("only.b"));
    assert!(b.counters().contains_key("only.b") && !b.counters().contains_key("only.a"));

    let (port, admin_port, pid) = (a.port(), a.admin_port(), a.pid());
    drop(a);
    // Drop killed and reaped the child, so its ports are free again.
    assert!(
        TcpStream::connect(("127.0.0.1", admin_port)).is_err(),
        "pid {pid} still serving"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "pid {pid} still serving"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists() || cfg!(not(target_os = "linux"))
    );
}

/// Stock Etsy statsd leaves its UDP socket at the OS default receive buffer
/// (~208 KiB): a burst of small datagrams overflows it and the kernel drops
/// the excess. `udp_drops()` accounts for exactly those.
#[test]
fn udp_drops_account_for_every_datagram_of_a_burst() {
    const DATAGRAMS: usize = 2000;
    let statsd = EtsyStatsd::start();
    if statsd.udp_drops().is_none() {
        eprintln!("skipped: no /proc/net/udp drop counters on this platform");
        return;
    }
    assert_eq!(statsd.udp_drops(), Some(0));
    let client = udp_client();
    for i in 0..DATAGRAMS {
        send_udp(&client, statsd.addr(), &format!("burst.{i}:1|c"));
    }
    let accounted =
        |c: &BTreeMap<String, f64>| c[METRICS_RECEIVED] + statsd.udp_drops().unwrap() as f64;
    let counters = statsd.wait_for_counters(WAIT, |c| accounted(c) >= DATAGRAMS as f64);
    let (received, dropped) = (counters[METRICS_RECEIVED], statsd.udp_drops().unwrap());
    eprintln!("unpaced burst of {DATAGRAMS} datagrams: {received} received, {dropped} dropped by the kernel");
    assert_eq!(received + dropped as f64, DATAGRAMS as f64);
    assert_eq!(user_counters(&counters).len() as f64, received);
}

/// With a large `SO_RCVBUF` the same kind of burst arrives whole (where the
/// kernel allows one: `net.core.rmem_max`).
#[test]
fn large_udp_receive_buffer_absorbs_a_burst() {
    const DATAGRAMS: usize = 3000;
    const BUFFER: usize = 4 << 20;
    let rmem_max: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if rmem_max < BUFFER {
        eprintln!("skipped: net.core.rmem_max is {rmem_max}, below {BUFFER}");
        return;
    }
    let options = EtsyOptions {
        udp_recv_buffer: Some(BUFFER),
        ..EtsyOptions::default()
    };
    let statsd = EtsyStatsd::start_with_options(&options);
    let client = udp_client();
    for i in 0..DATAGRAMS {
        send_udp(&client, statsd.addr(), &format!("burst.{i}:1|c"));
    }
    assert_eq!(
        statsd.wait_for_metrics_received(DATAGRAMS as u64, WAIT),
        DATAGRAMS as f64,
        "kernel drops: {:?}",
        statsd.udp_drops()
    );
    assert_eq!(statsd.udp_drops(), Some(0));
}

#[test]
fn extra_config_is_applied() {
    let statsd = EtsyStatsd::start_with("prefixStats: 'harness'");
    let client = udp_client();
    send_udp(&client, statsd.addr(), "x:1|c");
    let counters =
        statsd.wait_for_counters(WAIT, |c| c.get("harness.metrics_received") == Some(&1.0));
    assert_eq!(
        counters.get("harness.metrics_received"),
        Some(&1.0),
        "{counters:?}"
    );
    assert!(!counters.contains_key(METRICS_RECEIVED));
}

// ---------------------------------------------------------------------------
// Cluster (proxy.js)
// ---------------------------------------------------------------------------

/// Asserts that each of `names` is a counter with value 1 on exactly one node.
fn assert_each_name_on_exactly_one_node(cluster: &EtsyCluster, names: &[String]) -> Vec<usize> {
    let per_node: Vec<BTreeMap<String, f64>> = cluster
        .nodes
        .iter()
        .map(|n| user_counters(&n.counters()))
        .collect();
    for name in names {
        let holders: Vec<(usize, f64)> = per_node
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.get(name).map(|v| (i, *v)))
            .collect();
        assert!(
            holders.len() == 1 && holders[0].1 == 1.0,
            "{name} should be on exactly one node with value 1, found {holders:?}"
        );
    }
    let total: f64 = per_node.iter().flat_map(|c| c.values()).sum();
    assert_eq!(
        total,
        names.len() as f64,
        "sum of user counters over all nodes"
    );
    for (i, node) in cluster.nodes.iter().enumerate() {
        assert_eq!(node.bad_lines_seen(), 0.0, "node {i}");
    }
    per_node.iter().map(BTreeMap::len).collect()
}

#[test]
fn cluster_proxy_routes_each_name_to_exactly_one_node() {
    const NAMES: usize = 3000;
    const LINES_PER_DATAGRAM: usize = 20;
    const DATAGRAMS_PER_ROUND: usize = 10;

    let started = Instant::now();
    let cluster = EtsyCluster::start(3);
    let ready = started.elapsed();
    assert_eq!(cluster.proxy_protocol(), "udp");
    assert_eq!(cluster.ring().len(), 3);

    let names: Vec<String> = (0..NAMES).map(|i| format!("cluster.name_{i}")).collect();
    let client = udp_client();
    let mut sent = 0usize;
    // Paced by feedback: a round of datagrams, then wait until the nodes have
    // received all of it (no blind sleeps; any loss times out and fails).
    for round in names.chunks(LINES_PER_DATAGRAM * DATAGRAMS_PER_ROUND) {
        for datagram in round.chunks(LINES_PER_DATAGRAM) {
            let payload: Vec<String> = datagram.iter().map(|n| format!("{n}:1|c")).collect();
            send_udp(&client, cluster.proxy_addr(), &payload.join("\n"));
        }
        sent += round.len();
        let received = cluster.wait_for_metrics_received(sent as u64, WAIT);
        assert_eq!(
            received,
            sent as f64,
            "lines lost or duplicated between proxy and nodes\n--- proxy output:\n{}",
            cluster.proxy_output()
        );
    }

    let sizes = assert_each_name_on_exactly_one_node(&cluster, &names);
    assert!(
        sizes.iter().all(|&n| n > 0),
        "consistent hashing put nothing on some node: {sizes:?}"
    );
    eprintln!(
        "cluster ready in {ready:?}, names per node {sizes:?}, total {:?}",
        started.elapsed()
    );
}

#[test]
fn cluster_proxy_over_tcp() {
    const NAMES: usize = 300;
    let cluster = EtsyCluster::start_tcp(2);
    assert_eq!(cluster.proxy_protocol(), "tcp");
    assert_eq!(cluster.ring().len(), 2);

    let names: Vec<String> = (0..NAMES)
        .map(|i| format!("tcp.cluster.name_{i}"))
        .collect();
    let mut stream = TcpStream::connect(cluster.proxy_addr()).expect("connect to proxy over TCP");
    let mut sent = 0usize;
    for chunk in names.chunks(50) {
        let payload: String = chunk.iter().map(|n| format!("{n}:1|c\n")).collect();
        stream.write_all(payload.as_bytes()).unwrap();
        sent += chunk.len();
        // The proxy forwards to the nodes over UDP: pace by feedback.
        assert_eq!(
            cluster.wait_for_metrics_received(sent as u64, WAIT),
            sent as f64
        );
    }
    drop(stream);
    assert_eq!(
        cluster.wait_for_metrics_received(NAMES as u64, WAIT),
        NAMES as f64
    );
    let sizes = assert_each_name_on_exactly_one_node(&cluster, &names);
    assert!(sizes.iter().all(|&n| n > 0), "{sizes:?}");
}

// ---------------------------------------------------------------------------
// Parser for util.inspect output
// ---------------------------------------------------------------------------

#[test]
fn parse_numbers_multi_line_and_one_line() {
    let multi = "{\n  'statsd.bad_lines_seen': 1,\n  'statsd.packets_received': 1,\n  'a.b': 3\n}";
    assert_eq!(
        parse_inspect_numbers(multi).unwrap(),
        BTreeMap::from([
            ("statsd.bad_lines_seen".to_string(), 1.0),
            ("statsd.packets_received".to_string(), 1.0),
            ("a.b".to_string(), 3.0),
        ])
    );
    assert_eq!(
        parse_inspect_numbers("{ g: -5 }\n").unwrap(),
        BTreeMap::from([("g".to_string(), -5.0)])
    );
    assert_eq!(parse_inspect_numbers("{}").unwrap(), BTreeMap::new());
    assert_eq!(parse_inspect_numbers("  {\n}\n").unwrap(), BTreeMap::new());
}

#[test]
fn parse_numbers_all_number_forms() {
    let text = "{ a: 1.5, b: -0.25, c: 1e+21, d: 1.5e-7, e: -0, f: NaN, g: Infinity, h: -Infinity, i: 10.000000000000002 }";
    let m = parse_inspect_numbers(text).unwrap();
    assert_eq!(m["a"], 1.5);
    assert_eq!(m["b"], -0.25);
    assert_eq!(m["c"], 1e21);
    assert_eq!(m["d"], 1.5e-7);
    assert!(m["e"] == 0.0 && m["e"].is_sign_negative());
    assert!(m["f"].is_nan());
    assert_eq!(m["g"], f64::INFINITY);
    assert_eq!(m["h"], f64::NEG_INFINITY);
    assert_eq!(m["i"], 10.000000000000002);
}

#[test]
fn parse_quoted_keys_and_escapes() {
    let text = r#"{ 'x;env=prod;role=web': 1, "it's": 2, `a'b"c`: 3, 'tab\there': 4, 'back\\slash': 5, 'q\'s': 6, '\x41\u00e9': 7, $ok_1: 8 }"#;
    let m = parse_inspect_numbers(text).unwrap();
    assert_eq!(m["x;env=prod;role=web"], 1.0);
    assert_eq!(m["it's"], 2.0);
    assert_eq!(m["a'b\"c"], 3.0);
    assert_eq!(m["tab\there"], 4.0);
    assert_eq!(m["back\\slash"], 5.0);
    assert_eq!(m["q's"], 6.0);
    assert_eq!(m["Aé"], 7.0);
    assert_eq!(m["$ok_1"], 8.0);
}

#[test]
fn parse_arrays_including_wrapped_ones() {
    // Verbatim from statsd 0.9.0 on Node 20 (`timers` admin command).
    let text = "{\n  t: [ 1.5 ],\n  empty: [],\n  t2: [\n      0,  37,  74, 111, 148, 185, 222,\n    259, 296, 333, 370, 407, 444, 481,\n    518, 555, 592, 629, 666, 703, 740,\n    777, 814, 851, 888, 925, 962, 999,\n     36,  73\n  ],\n  'a.b': [ -0, 1e-7, 2.5 ]\n}";
    let m = parse_inspect_arrays(text).unwrap();
    assert_eq!(m["t"], vec![1.5]);
    assert_eq!(m["empty"], Vec::<f64>::new());
    let t2: Vec<f64> = (0..30).map(|i| ((i * 37) % 1000) as f64).collect();
    assert_eq!(m["t2"], t2);
    assert_eq!(m["a.b"], vec![-0.0, 1e-7, 2.5]);
}

#[test]
fn parse_arrays_rejects_abbreviated_arrays() {
    let mut text = String::from("{\n  t3: [\n");
    for row in 0..9 {
        let cells: Vec<String> = (0..12).map(|i| format!("{:>2}", row * 12 + i)).collect();
        text.push_str(&format!("    {},\n", cells.join(", ")));
    }
    text.push_str("    96, 97, 98, 99,\n    ... 1 more item\n  ]\n}");
    let err = parse_inspect_arrays(&text).unwrap_err();
    assert!(
        err.contains("1 more item") && err.contains("t3") && err.contains("100"),
        "{err}"
    );
    let err = parse_inspect_arrays("{ t: [ 1, 2, ... 998 more items ] }").unwrap_err();
    assert!(err.contains("998 more items"), "{err}");
}

#[test]
fn parse_rejects_malformed_or_mistyped_input() {
    for bad in [
        "",
        "counters",
        "{ a: 1",
        "{ a 1 }",
        "{ a: }",
        "{ a: x }",
        "{ a: 1 b: 2 }",
        "{ a: 1 } trailing",
        "{ 'a: 1 }",
        "{ a: 1, a: 2 }",
        "{ a: [Object] }",
    ] {
        assert!(parse_inspect_numbers(bad).is_err(), "accepted {bad:?}");
    }
    assert!(parse_inspect_numbers("{ t: [ 1 ] }")
        .unwrap_err()
        .contains("array"));
    assert!(parse_inspect_arrays("{ t: 1 }")
        .unwrap_err()
        .contains("number"));
    assert!(parse_inspect_arrays("{ t: [ 1 2 ] }").is_err());
    assert!(parse_inspect_arrays("{ t: [ 1, ").is_err());
}
