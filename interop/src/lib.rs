//! Test harness around the real Etsy statsd server (npm `statsd`, pinned to
//! exactly 0.9.0 in the repository's `package.json`).
//!
//! [`EtsyStatsd`] starts `node_modules/statsd/stats.js` on loopback with both
//! the UDP and the TCP server on one port, a management (admin) port beside
//! it, a one-hour flush interval and no real backend (no graphite), and reads
//! its state back through the admin interface (`counters`, `gauges`,
//! `timers`). Sets, which the admin interface does not show, come from a
//! small harness backend (`BACKEND_JS` in the source). [`EtsyCluster`] puts
//! `proxy.js` (consistent hashing) in front of several such servers.
//!
//! Plain synchronous std Rust: usable from sync and async tests alike.
//! Prerequisites: Node.js on `PATH` and `npm ci --ignore-scripts` run in the
//! repository root.
//!
//! Facts about statsd 0.9.0 this harness relies on (see `node_modules/statsd`):
//! * port 0 in its config means "the default port" (8125/8126), so the harness
//!   picks free ephemeral ports itself and retries when it loses a race;
//! * it logs "server is up" *before* its sockets are bound, and a failed bind
//!   (EADDRINUSE) crashes the process, so readiness is "server is up" plus
//!   working connections plus the UDP port being taken;
//! * the admin interface shows counters, gauges and timers, but **not sets**,
//!   and at most 100 values per timer;
//! * tags (`|#k:v,k2`) are folded into the key: `name;k=v;k2`;
//! * its TCP server decodes input as 'ascii' (high bit stripped: non-ASCII
//!   arrives mangled), its UDP server as UTF-8; a last TCP line without `\n`
//!   is never processed;
//! * it sets no `SO_RCVBUF`: with the OS default a burst of a few hundred
//!   datagrams overflows the socket and the kernel drops the excess (see
//!   [`EtsyOptions::udp_recv_buffer`], [`EtsyStatsd::udp_drops`]);
//! * it calls `util.log()`, which Node.js 23 removed: a preload script puts
//!   it back, so any Node.js from 18 on works.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long one server (or proxy) may take to come up.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
/// How many times a start is tried with fresh ports before giving up.
const START_ATTEMPTS: usize = 5;
/// Poll period of every wait loop.
const POLL: Duration = Duration::from_millis(20);
/// Timeout of one admin request.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Health-check period of the cluster proxy (also its health-check timeout).
const PROXY_CHECK_INTERVAL_MS: u64 = 500;

const NODE_MISSING: &str =
    "node (Node.js) is required for the Etsy statsd interop tests: install Node.js 18+";

/// Counter keys statsd maintains about itself (default `prefixStats`).
pub const BAD_LINES_SEEN: &str = "statsd.bad_lines_seen";
pub const PACKETS_RECEIVED: &str = "statsd.packets_received";
pub const METRICS_RECEIVED: &str = "statsd.metrics_received";

// ---------------------------------------------------------------------------
// A single statsd server
// ---------------------------------------------------------------------------

/// How to start [`EtsyStatsd`] (and the nodes and proxy of [`EtsyCluster`]).
#[derive(Clone, Debug, Default)]
pub struct EtsyOptions {
    /// Extra config entries written verbatim into the config object literal
    /// (JavaScript syntax), e.g. `"deleteIdleStats: true, keyNameSanitize: false"`.
    /// They override the harness's defaults (later keys win in a JS object
    /// literal), but overriding `servers`, `port`, `mgmt_port`,
    /// `mgmt_address` or `nodes` breaks the harness.
    pub extra_config: String,
    /// `SO_RCVBUF` to request for the server's UDP socket (statsd itself sets
    /// none, so by default it gets `net.core.rmem_default`, ~208 KiB, which a
    /// burst of a few hundred datagrams overflows: the kernel drops the rest,
    /// see [`EtsyStatsd::udp_drops`]). Linux caps the request at
    /// `net.core.rmem_max` (and doubles it). `None`: stock behaviour.
    pub udp_recv_buffer: Option<usize>,
}

/// A running Etsy statsd 0.9.0 (`stats.js`) on 127.0.0.1, killed on drop.
pub struct EtsyStatsd {
    process: NodeProcess,
    port: u16,
    admin_port: u16,
}

impl EtsyStatsd {
    /// Starts `stats.js` with UDP and TCP servers on one port of 127.0.0.1,
    /// the admin interface on another, `flushInterval` one hour, only the
    /// harness backend. Panics (with the server's output) if it cannot be
    /// brought up.
    pub fn start() -> EtsyStatsd {
        Self::start_with_options(&EtsyOptions::default())
    }

    /// Like [`EtsyStatsd::start`], with extra config entries (see
    /// [`EtsyOptions::extra_config`]), e.g. `"deleteIdleStats: true"`.
    pub fn start_with(extra_config: &str) -> EtsyStatsd {
        Self::start_with_options(&EtsyOptions {
            extra_config: extra_config.to_string(),
            ..EtsyOptions::default()
        })
    }

    /// Like [`EtsyStatsd::start`], with [`EtsyOptions`].
    pub fn start_with_options(options: &EtsyOptions) -> EtsyStatsd {
        let extra_config = &options.extra_config;
        let statsd_dir = statsd_dir();
        let script = statsd_dir.join("stats.js");
        let mut failures = String::new();
        for attempt in 1..=START_ATTEMPTS {
            let port = free_tcp_udp_port(&[]);
            let admin_port = free_tcp_port(&[port]);
            let (process, config) =
                NodeProcess::spawn("statsd", &statsd_dir, &script, options, |dir| {
                    let backend = js_string(&dir.join(BACKEND_FILE).to_string_lossy());
                    format!(
                        "{{\n  \
                     servers: [\n    \
                     {{ server: './servers/udp', address: '127.0.0.1', port: {port} }},\n    \
                     {{ server: './servers/tcp', address: '127.0.0.1', port: {port} }}\n  \
                     ],\n  \
                     mgmt_address: '127.0.0.1',\n  \
                     mgmt_port: {admin_port},\n  \
                     flushInterval: 3600000,\n  \
                     backends: [{backend}],\n  \
                     automaticConfigReload: false,\n  \
                     {extra_config}\n}}\n"
                    )
                });
            match wait_until_up(&process, port, true, true, admin_port, Some(BACKEND_READY)) {
                Ok(()) => {
                    return EtsyStatsd {
                        process,
                        port,
                        admin_port,
                    }
                }
                Err(StartError::Retry(why)) => {
                    let _ = write!(
                        failures,
                        "\n--- attempt {attempt} (port {port}, admin {admin_port}): {why}; output:\n{}",
                        process.output()
                    );
                }
                Err(StartError::Fatal(why)) => panic!(
                    "Etsy statsd (port {port}, admin {admin_port}) did not come up: {why}\n\
                     --- config:\n{config}--- output:\n{}{failures}",
                    process.output()
                ),
            }
        }
        panic!("Etsy statsd did not come up in {START_ATTEMPTS} attempts:{failures}");
    }

    /// The statsd port, served over both UDP and TCP.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The management (admin) TCP port.
    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// `127.0.0.1:port()`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The process id of the node child.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Everything the server printed so far (stdout and stderr interleaved).
    pub fn output(&self) -> String {
        self.process.output()
    }

    /// False once the server process has exited. Etsy statsd 0.9.0 dies on
    /// an unhandled socket error, e.g. a TCP client resetting its connection
    /// (ECONNRESET): [`EtsyStatsd::output`] then shows the stack trace.
    pub fn is_running(&self) -> bool {
        self.process.exited().is_none()
    }

    /// Sends one admin command whose answer ends with `END` (`counters`,
    /// `gauges`, `timers`, `stats`, `delcounters NAME`, ...) and returns the
    /// answer without the `END` line.
    pub fn admin(&self, command: &str) -> String {
        let reply = admin_request(self.admin_port, command, |buf| {
            buf == b"END\n\n" || buf.ends_with(b"\nEND\n\n")
        })
        .unwrap_or_else(|e| {
            panic!(
                "Etsy statsd admin command {command:?} on port {} failed: {e}\n--- server output:\n{}",
                self.admin_port,
                self.output()
            )
        });
        reply[..reply.len() - "END\n\n".len()].to_string()
    }

    /// The `health` admin command: `"up"` or `"down"`.
    pub fn health(&self) -> String {
        self.health_command("health")
    }

    /// Sets the health the admin interface reports (what `proxy.js` checks).
    pub fn set_health(&self, up: bool) {
        let want = if up { "up" } else { "down" };
        let got = self.health_command(&format!("health {want}"));
        assert_eq!(got, want, "Etsy statsd did not accept `health {want}`");
    }

    fn health_command(&self, command: &str) -> String {
        let reply = admin_request(self.admin_port, command, |buf| buf.ends_with(b"\n"))
            .unwrap_or_else(|e| {
                panic!(
                    "Etsy statsd admin command {command:?} failed: {e}\n--- server output:\n{}",
                    self.output()
                )
            });
        match reply.trim().strip_prefix("health: ") {
            Some(state) => state.to_string(),
            None => panic!("unexpected answer to {command:?}: {reply:?}"),
        }
    }

    /// All counters, including statsd's own `statsd.*` counters.
    pub fn counters(&self) -> BTreeMap<String, f64> {
        let payload = self.admin("counters");
        parse_inspect_numbers(&payload).unwrap_or_else(|e| {
            panic!("cannot parse Etsy statsd `counters`: {e}\n--- payload:\n{payload}")
        })
    }

    /// All gauges.
    pub fn gauges(&self) -> BTreeMap<String, f64> {
        let payload = self.admin("gauges");
        parse_inspect_numbers(&payload).unwrap_or_else(|e| {
            panic!("cannot parse Etsy statsd `gauges`: {e}\n--- payload:\n{payload}")
        })
    }

    /// All timers with their raw values in arrival order. Panics if a timer
    /// holds more than 100 values (the admin interface truncates those).
    pub fn timers(&self) -> BTreeMap<String, Vec<f64>> {
        let payload = self.admin("timers");
        parse_inspect_arrays(&payload).unwrap_or_else(|e| {
            panic!("cannot parse Etsy statsd `timers`: {e}\n--- payload:\n{payload}")
        })
    }

    /// All sets with their members, sorted (a set has no order). Not part of
    /// statsd's admin interface: read through the harness backend.
    pub fn sets(&self) -> BTreeMap<String, Vec<String>> {
        let stats = self.admin("stats");
        let mut sets = BTreeMap::new();
        for (key, value) in harness_stats(&stats, "harness_set.") {
            let mut members: Vec<String> = if value.is_empty() {
                Vec::new()
            } else {
                value
                    .split(',')
                    .map(|m| {
                        hex_decode(m).unwrap_or_else(|| panic!("bad set member {m:?} in {stats}"))
                    })
                    .collect()
            };
            members.sort();
            sets.insert(key, members);
        }
        sets
    }

    /// statsd's `timer_counters`: per timer, the number of timings it stands
    /// for (each value counts `1 / sample rate`). Read through the harness
    /// backend, like [`EtsyStatsd::sets`].
    pub fn timer_counts(&self) -> BTreeMap<String, f64> {
        let stats = self.admin("stats");
        harness_stats(&stats, "harness_timer_count.")
            .map(|(key, value)| {
                let n = value
                    .parse()
                    .unwrap_or_else(|_| panic!("bad timer count {value:?} in {stats}"));
                (key, n)
            })
            .collect()
    }

    /// `counters["statsd.bad_lines_seen"]`: lines statsd rejected.
    pub fn bad_lines_seen(&self) -> f64 {
        self_counter(&self.counters(), BAD_LINES_SEEN)
    }

    /// `counters["statsd.metrics_received"]`: non-empty lines received,
    /// valid or not. Cheaper than `counters()` when there are many keys (it
    /// picks the one entry out of the admin answer without parsing the rest).
    pub fn metrics_received(&self) -> f64 {
        let payload = self.admin("counters");
        find_inspect_number(&payload, METRICS_RECEIVED).unwrap_or_else(|| {
            let counters = parse_inspect_numbers(&payload).unwrap_or_else(|e| {
                panic!("cannot parse Etsy statsd `counters`: {e}\n--- payload:\n{payload}")
            });
            self_counter(&counters, METRICS_RECEIVED)
        })
    }

    /// `counters["statsd.packets_received"]`: datagrams (UDP) or reads (TCP).
    pub fn packets_received(&self) -> f64 {
        self_counter(&self.counters(), PACKETS_RECEIVED)
    }

    /// Polls `counters()` every ~20 ms until `pred` holds or `timeout`
    /// passes; returns the last map either way (the caller asserts).
    pub fn wait_for_counters(
        &self,
        timeout: Duration,
        pred: impl Fn(&BTreeMap<String, f64>) -> bool,
    ) -> BTreeMap<String, f64> {
        poll_until(timeout, || self.counters(), pred)
    }

    /// Polls `gauges()` until `pred` holds or `timeout` passes; returns the last map.
    pub fn wait_for_gauges(
        &self,
        timeout: Duration,
        pred: impl Fn(&BTreeMap<String, f64>) -> bool,
    ) -> BTreeMap<String, f64> {
        poll_until(timeout, || self.gauges(), pred)
    }

    /// Polls `timers()` until `pred` holds or `timeout` passes; returns the last map.
    pub fn wait_for_timers(
        &self,
        timeout: Duration,
        pred: impl Fn(&BTreeMap<String, Vec<f64>>) -> bool,
    ) -> BTreeMap<String, Vec<f64>> {
        poll_until(timeout, || self.timers(), pred)
    }

    /// Waits until `statsd.metrics_received >= n` or `timeout` passes and
    /// returns the last value seen (assert it equals `n`: more means extra
    /// lines arrived, less means lines were lost or are late).
    pub fn wait_for_metrics_received(&self, n: u64, timeout: Duration) -> f64 {
        poll_until(
            timeout,
            || self.metrics_received(),
            |received| *received >= n as f64,
        )
    }

    /// Datagrams the kernel dropped because the server's UDP receive buffer
    /// was full (the `drops` column of `/proc/net/udp` for 127.0.0.1:port).
    /// `None` where that is not available (not Linux).
    pub fn udp_drops(&self) -> Option<u64> {
        udp_socket_drops(self.port)
    }
}

/// The `drops` of the UDP socket bound to 127.0.0.1:`port`, from /proc/net/udp.
pub fn udp_socket_drops(port: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(1) == Some(&local.as_str()))
            .then(|| fields.last()?.parse().ok())
            .flatten()
    })
}

/// Finds `'key': NUMBER` in util.inspect output without parsing the rest.
/// Only for keys that need quoting and contain no quote or backslash (such as
/// `statsd.metrics_received`); `None` if not found.
fn find_inspect_number(payload: &str, key: &str) -> Option<f64> {
    let needle = format!("'{key}': ");
    let mut from = 0;
    while let Some(at) = payload[from..].find(&needle).map(|i| i + from) {
        from = at + needle.len();
        // Must start an entry: after "{ " or at the start of a line.
        let before = payload[..at].trim_end_matches(' ');
        if !(before.ends_with('{') || before.ends_with('\n') || before.ends_with(',')) {
            continue;
        }
        let rest = &payload[from..];
        let end = rest.find([',', '\n', ' ', '}']).unwrap_or(rest.len());
        return rest[..end].parse().ok();
    }
    None
}

/// The `PREFIX HEX(key): value` lines of a `stats` answer, keys decoded.
fn harness_stats<'a>(
    stats: &'a str,
    prefix: &'a str,
) -> impl Iterator<Item = (String, &'a str)> + 'a {
    stats.lines().filter_map(move |line| {
        let (key, value) = line.strip_prefix(prefix)?.split_once(": ")?;
        let key = hex_decode(key).unwrap_or_else(|| panic!("bad hex key in {line:?}"));
        Some((key, value))
    })
}

fn hex_decode(hex: &str) -> Option<String> {
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

fn self_counter(counters: &BTreeMap<String, f64>, key: &str) -> f64 {
    match counters.get(key) {
        Some(v) => *v,
        None => {
            panic!("Etsy statsd counters have no {key:?} (was prefixStats changed?): {counters:?}")
        }
    }
}

/// Calls `fetch` until `pred` holds or `timeout` passes. Sleeps ~20 ms
/// between calls, or as long as the last call took if longer, so that with
/// many keys the server spends at most half its time answering the polls.
fn poll_until<T>(timeout: Duration, mut fetch: impl FnMut() -> T, pred: impl Fn(&T) -> bool) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        let started = Instant::now();
        let value = fetch();
        if pred(&value) || Instant::now() >= deadline {
            return value;
        }
        thread::sleep(
            POLL.max(started.elapsed())
                .min(deadline.saturating_duration_since(Instant::now())),
        );
    }
}

// ---------------------------------------------------------------------------
// A cluster: proxy.js in front of several statsd nodes
// ---------------------------------------------------------------------------

/// Several [`EtsyStatsd`] nodes behind statsd 0.9.0's `proxy.js`, which
/// routes each line by consistent hashing (md5 ring, no replicas) of its
/// metric name, so each name lands on exactly one node.
///
/// The proxy listens on UDP ([`EtsyCluster::start`]) or TCP
/// ([`EtsyCluster::start_tcp`]): it loads `servers/udp` or `servers/tcp` for
/// its listening side, one protocol at a time. Towards the nodes it always
/// sends UDP, one datagram per line (it splits multi-line packets).
pub struct EtsyCluster {
    pub nodes: Vec<EtsyStatsd>,
    proxy: NodeProcess,
    proxy_port: u16,
    proxy_admin_port: u16,
    protocol: &'static str,
}

impl EtsyCluster {
    /// `nodes` statsd servers plus `proxy.js` listening on UDP, all on
    /// loopback ephemeral ports. Returns once the proxy's health checks have
    /// put every node in its hash ring.
    pub fn start(nodes: usize) -> EtsyCluster {
        Self::start_with_options(nodes, "udp", &EtsyOptions::default())
    }

    /// Like [`EtsyCluster::start`], with the proxy listening on TCP
    /// (newline-terminated lines) instead of UDP.
    pub fn start_tcp(nodes: usize) -> EtsyCluster {
        Self::start_with_options(nodes, "tcp", &EtsyOptions::default())
    }

    /// `protocol` (`"udp"` or `"tcp"`) is what the proxy listens on.
    /// `options.udp_recv_buffer` applies to the nodes and the proxy,
    /// `options.extra_config` to the nodes only.
    pub fn start_with_options(
        node_count: usize,
        protocol: &str,
        options: &EtsyOptions,
    ) -> EtsyCluster {
        let protocol: &'static str = match protocol {
            "udp" => "udp",
            "tcp" => "tcp",
            other => panic!("proxy.js listens on \"udp\" or \"tcp\", not {other:?}"),
        };
        assert!(node_count > 0, "a cluster needs at least one node");
        let statsd_dir = statsd_dir();
        let script = statsd_dir.join("proxy.js");
        // Start the nodes concurrently (each start mostly waits on node.js).
        let nodes: Vec<EtsyStatsd> = thread::scope(|scope| {
            let starting: Vec<_> = (0..node_count)
                .map(|_| scope.spawn(|| EtsyStatsd::start_with_options(options)))
                .collect();
            starting
                .into_iter()
                .map(|handle| {
                    handle
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        let node_ids: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        let node_list: String = nodes
            .iter()
            .map(|n| {
                format!(
                    "    {{ host: '127.0.0.1', port: {}, adminport: {} }},\n",
                    n.port(),
                    n.admin_port()
                )
            })
            .collect();
        let mut taken: Vec<u16> = nodes
            .iter()
            .flat_map(|n| [n.port(), n.admin_port()])
            .collect();

        let mut failures = String::new();
        for attempt in 1..=START_ATTEMPTS {
            // Readiness needs a positive signal from the proxy's health
            // checks. A healthy check logs nothing, but a node coming back
            // logs "Adding node HOST:PORT to the ring.", so: nodes report
            // "down" while the proxy starts, its first checks remove them,
            // then they report "up" and the next checks add them back.
            for node in &nodes {
                node.set_health(false);
            }
            let port = if protocol == "udp" {
                free_tcp_udp_port(&taken)
            } else {
                free_tcp_port(&taken)
            };
            let admin_port = free_tcp_port(&[&taken[..], &[port]].concat());
            let proxy_options = EtsyOptions {
                extra_config: String::new(),
                ..options.clone()
            };
            let (proxy, config) =
                NodeProcess::spawn("statsd proxy", &statsd_dir, &script, &proxy_options, |_| {
                    format!(
                        "{{\n  \
                 nodes: [\n{node_list}  ],\n  \
                 server: './servers/{protocol}',\n  \
                 address: '127.0.0.1',\n  \
                 host: '127.0.0.1',\n  \
                 port: {port},\n  \
                 mgmt_address: '127.0.0.1',\n  \
                 mgmt_port: {admin_port},\n  \
                 forkCount: 0,\n  \
                 checkInterval: {PROXY_CHECK_INTERVAL_MS},\n  \
                 cacheSize: 10000,\n  \
                 automaticConfigReload: false\n}}\n"
                    )
                });
            let result = wait_until_up(
                &proxy,
                port,
                protocol == "tcp",
                protocol == "udp",
                admin_port,
                None,
            )
            .and_then(|()| proxy_wait_for_log(&proxy, &node_ids, "Removing node", "from the ring."))
            .and_then(|()| {
                for node in &nodes {
                    node.set_health(true);
                }
                proxy_wait_for_log(&proxy, &node_ids, "Adding node", "to the ring.")
            })
            .and_then(|()| proxy_ring_complete(admin_port, &node_ids));
            match result {
                Ok(()) => {
                    return EtsyCluster {
                        nodes,
                        proxy,
                        proxy_port: port,
                        proxy_admin_port: admin_port,
                        protocol,
                    }
                }
                Err(StartError::Retry(why)) => {
                    let _ = write!(
                        failures,
                        "\n--- attempt {attempt} (port {port}, admin {admin_port}): {why}; output:\n{}",
                        proxy.output()
                    );
                    taken.push(port);
                }
                Err(StartError::Fatal(why)) => panic!(
                    "statsd proxy.js (port {port}, admin {admin_port}) did not come up: {why}\n\
                     --- config:\n{config}--- output:\n{}{failures}",
                    proxy.output()
                ),
            }
        }
        panic!("statsd proxy.js did not come up in {START_ATTEMPTS} attempts:{failures}");
    }

    /// The proxy's listening port (see [`EtsyCluster::proxy_protocol`]).
    pub fn proxy_port(&self) -> u16 {
        self.proxy_port
    }

    /// `127.0.0.1:proxy_port()`.
    pub fn proxy_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.proxy_port))
    }

    /// The proxy's admin port (commands: `health`, `status`, `config`).
    pub fn proxy_admin_port(&self) -> u16 {
        self.proxy_admin_port
    }

    /// `"udp"` or `"tcp"`: what the proxy listens on.
    pub fn proxy_protocol(&self) -> &'static str {
        self.protocol
    }

    /// Everything the proxy printed so far. After a successful start it has
    /// one "Removing node" and one "Adding node" line per node; more mean
    /// a health check failed later (the node left the ring for a while).
    pub fn proxy_output(&self) -> String {
        self.proxy.output()
    }

    /// The nodes currently in the proxy's hash ring (`HOST:PORT`), from its
    /// `status` admin command.
    pub fn ring(&self) -> Vec<String> {
        proxy_status_nodes(self.proxy_admin_port).unwrap_or_else(|e| {
            panic!(
                "statsd proxy `status` failed: {e}\n--- proxy output:\n{}",
                self.proxy_output()
            )
        })
    }

    /// The sum of `statsd.metrics_received` over all nodes.
    pub fn metrics_received(&self) -> f64 {
        self.nodes.iter().map(|n| n.metrics_received()).sum()
    }

    /// Waits until the nodes together received at least `n` lines or
    /// `timeout` passes; returns the last total seen.
    pub fn wait_for_metrics_received(&self, n: u64, timeout: Duration) -> f64 {
        poll_until(
            timeout,
            || self.metrics_received(),
            |total| *total >= n as f64,
        )
    }
}

/// Waits until the proxy logged `"{prefix} {id} {suffix}"` for every node id.
fn proxy_wait_for_log(
    proxy: &NodeProcess,
    ids: &[String],
    prefix: &str,
    suffix: &str,
) -> Result<(), StartError> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        let output = proxy.output();
        let missing: Vec<&String> = ids
            .iter()
            .filter(|id| !output.contains(&format!("{prefix} {id} {suffix}")))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        if let Some(status) = proxy.exited() {
            return Err(StartError::Retry(format!(
                "proxy exited ({status}) while waiting for \"{prefix}\""
            )));
        }
        if Instant::now() >= deadline {
            return Err(StartError::Fatal(format!(
                "no \"{prefix} HOST:PORT {suffix}\" from the proxy's health checks within {STARTUP_TIMEOUT:?} for {missing:?}"
            )));
        }
        thread::sleep(POLL);
    }
}

fn proxy_ring_complete(admin_port: u16, ids: &[String]) -> Result<(), StartError> {
    let ring = proxy_status_nodes(admin_port)
        .map_err(|e| StartError::Fatal(format!("proxy `status`: {e}")))?;
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut got: Vec<&str> = ring.iter().map(String::as_str).collect();
    want.sort_unstable();
    got.sort_unstable();
    if want == got {
        Ok(())
    } else {
        Err(StartError::Fatal(format!(
            "proxy ring is {got:?}, expected {want:?}"
        )))
    }
}

/// `status` on the proxy's admin port answers "uptime: N\nnodes: A B C \n".
fn proxy_status_nodes(admin_port: u16) -> io::Result<Vec<String>> {
    let reply = admin_request(admin_port, "status", |buf| {
        buf.windows(6)
            .position(|w| w == b"nodes:")
            .is_some_and(|at| buf[at..].ends_with(b"\n"))
    })?;
    let line = reply
        .lines()
        .find_map(|l| l.strip_prefix("nodes:"))
        .unwrap_or("");
    Ok(line.split_whitespace().map(str::to_string).collect())
}

// ---------------------------------------------------------------------------
// The node child process
// ---------------------------------------------------------------------------

/// A node child with a temporary directory (config + preload script) and its
/// stdout/stderr captured into a buffer. Killed, reaped and cleaned up on drop.
struct NodeProcess {
    child: Mutex<Child>,
    /// Kept open: the preload script exits node when this pipe closes, so a
    /// test process that dies without running destructors leaves no server.
    _stdin: Option<ChildStdin>,
    output: Arc<Mutex<String>>,
    dir: PathBuf,
}

/// Preloaded (`node -r`) before stats.js / proxy.js.
const PRELOAD_JS: &str = r#"// Written by interop/src/lib.rs (statsd-connector interop harness).
'use strict';
const util = require('util');
// statsd 0.9.0 logs through util.log(), which Node.js 23 removed.
if (typeof util.log !== 'function') {
  util.log = function () {
    console.log('%s - %s', new Date().toISOString(), util.format.apply(util, arguments));
  };
}
// Optionally a bigger SO_RCVBUF for every UDP socket (statsd does not set one).
const rcvbuf = Number(process.env.STATSD_HARNESS_UDP_RCVBUF || 0);
if (rcvbuf > 0) {
  const dgram = require('dgram');
  const createSocket = dgram.createSocket;
  dgram.createSocket = function (type, listener) {
    const options = typeof type === 'object' ? Object.assign({}, type) : { type: type };
    options.recvBufferSize = rcvbuf;
    return createSocket.call(dgram, options, listener);
  };
}
// Flush once right at startup (before any socket can deliver a packet), so
// the harness backend gets hold of statsd's live metric objects at once
// instead of after flushInterval. Only stats.js has a flushMetrics timer.
(function () {
  const realSetTimeout = global.setTimeout;
  global.setTimeout = function (fn) {
    if (typeof fn === 'function' && fn.name === 'flushMetrics') {
      global.setTimeout = realSetTimeout;
      setImmediate(fn);
    }
    return realSetTimeout.apply(this, arguments);
  };
})();
// Exit when the test process goes away (its end of our stdin pipe closes),
// removing this temporary directory, which the test process cannot anymore.
function orphaned() {
  try {
    require('fs').rmSync(__dirname, { recursive: true, force: true });
  } catch (e) {}
  process.exit(0);
}
process.stdin.on('end', orphaned);
process.stdin.on('error', orphaned);
process.stdin.resume();
"#;

/// statsd's backend API has no way to read the current state, but every
/// flush hands the backends the very objects statsd aggregates into (they
/// are never replaced, only their entries). This backend keeps them from
/// the first flush and lists sets and timer counters in the admin `stats`
/// answer, hex-encoded so any key or member survives the line format:
/// `harness_set.HEX(key): HEX(member),HEX(member)` and
/// `harness_timer_count.HEX(key): NUMBER`.
const BACKEND_JS: &str = r#"// Written by interop/src/lib.rs (statsd-connector interop harness).
'use strict';
let live = null;
function hex(s) { return Buffer.from(String(s), 'utf8').toString('hex'); }
exports.init = function (startupTime, config, events) {
  events.on('flush', function (timestamp, metrics) {
    if (live === null) {
      live = metrics;
      console.log('harness backend: attached');
    }
  });
  events.on('status', function (write) {
    if (live === null) { return; }
    for (const key in live.sets) {
      write(null, 'harness_set', hex(key), live.sets[key].values().map(hex).join(','));
    }
    for (const key in live.timer_counters) {
      write(null, 'harness_timer_count', hex(key), String(live.timer_counters[key]));
    }
  });
  return true;
};
"#;
const BACKEND_FILE: &str = "harness_backend.js";
/// Logged by [`BACKEND_JS`] once attached (part of readiness).
const BACKEND_READY: &str = "harness backend: attached";

impl NodeProcess {
    /// Starts `node <script> <dir>/config.js` where `make_config(dir)` gives
    /// the config text; returns the process and that text.
    fn spawn(
        what: &str,
        cwd: &Path,
        script: &Path,
        options: &EtsyOptions,
        make_config: impl FnOnce(&Path) -> String,
    ) -> (NodeProcess, String) {
        let dir = temp_dir(what);
        let config = make_config(&dir);
        let config_path = dir.join("config.js");
        let preload_path = dir.join("preload.js");
        std::fs::write(&config_path, &config).expect("write statsd config");
        std::fs::write(&preload_path, PRELOAD_JS).expect("write node preload script");
        std::fs::write(dir.join(BACKEND_FILE), BACKEND_JS).expect("write harness backend");
        let mut child = Command::new(node_binary())
            .arg("--no-deprecation")
            .arg("-r")
            .arg(&preload_path)
            .arg(script)
            .arg(&config_path)
            .current_dir(cwd)
            .env(
                "STATSD_HARNESS_UDP_RCVBUF",
                options
                    .udp_recv_buffer
                    .map_or(String::new(), |b| b.to_string()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                let _ = std::fs::remove_dir_all(&dir);
                if e.kind() == io::ErrorKind::NotFound {
                    panic!("{NODE_MISSING}");
                }
                panic!("cannot start node for {what}: {e}")
            });
        let output = Arc::new(Mutex::new(String::new()));
        capture(child.stdout.take().expect("piped stdout"), &output);
        capture(child.stderr.take().expect("piped stderr"), &output);
        let stdin = child.stdin.take();
        let process = NodeProcess {
            child: Mutex::new(child),
            _stdin: stdin,
            output,
            dir,
        };
        (process, config)
    }

    fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// `Some(status)` once the child has exited.
    fn exited(&self) -> Option<String> {
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        child.try_wait().ok().flatten().map(|s| s.to_string())
    }

    fn pid(&self) -> u32 {
        self.child.lock().unwrap_or_else(|p| p.into_inner()).id()
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|p| p.into_inner());
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn capture(mut pipe: impl Read + Send + 'static, output: &Arc<Mutex<String>>) {
    let output = Arc::clone(output);
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => output
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    });
}

enum StartError {
    /// Lost a port race or the process died: try again with new ports.
    Retry(String),
    /// Not going to get better by retrying.
    Fatal(String),
}

/// Readiness of stats.js / proxy.js: it printed "server is up" (which it
/// logs before its sockets are bound), its admin port accepts connections,
/// its TCP listener (if `tcp`) accepts connections, its UDP port (if `udp`)
/// is taken, and the process is still alive. All its listeners are set up in
/// the same tick, so once the admin one accepts the others are bound too, or
/// their bind failed and the process is about to die of EADDRINUSE.
fn wait_until_up(
    process: &NodeProcess,
    port: u16,
    tcp: bool,
    udp: bool,
    admin_port: u16,
    ready_line: Option<&str>,
) -> Result<(), StartError> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if let Some(status) = process.exited() {
            return Err(StartError::Retry(format!("exited with {status}")));
        }
        let output = process.output();
        if output.contains("EADDRINUSE") {
            return Err(StartError::Retry("EADDRINUSE".into()));
        }
        if output.contains("server is up")
            && !matches!(ready_line, Some(line) if !output.contains(line))
            && tcp_accepts(admin_port)
            && (!tcp || tcp_accepts(port))
            && (!udp || udp_port_taken(port))
        {
            if let Some(status) = process.exited() {
                return Err(StartError::Retry(format!("exited with {status}")));
            }
            return Ok(());
        }
        if Instant::now() >= deadline {
            let hint = match ready_line {
                Some(line) if !output.contains(line) => {
                    format!(" (no {line:?}: was `backends` overridden in the extra config?)")
                }
                _ => String::new(),
            };
            return Err(StartError::Fatal(format!(
                "not ready within {STARTUP_TIMEOUT:?}{hint}"
            )));
        }
        thread::sleep(POLL);
    }
}

/// A JavaScript single-quoted string literal.
fn js_string(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn tcp_accepts(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        Duration::from_millis(500),
    )
    .is_ok()
}

/// True if some socket holds UDP `port` on 127.0.0.1 (we chose the number,
/// so that is the server). Binding it ourselves is safe only because the
/// server's bind has already been attempted (see [`wait_until_up`]).
fn udp_port_taken(port: u16) -> bool {
    match UdpSocket::bind((Ipv4Addr::LOCALHOST, port)) {
        Ok(_probe) => false,
        Err(e) => e.kind() == io::ErrorKind::AddrInUse,
    }
}

/// Sends `command` to an admin port and reads until `complete(reply)`.
fn admin_request(port: u16, command: &str, complete: impl Fn(&[u8]) -> bool) -> io::Result<String> {
    let mut stream = TcpStream::connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        ADMIN_TIMEOUT,
    )?;
    stream.set_read_timeout(Some(ADMIN_TIMEOUT))?;
    stream.set_nodelay(true)?;
    // The admin server treats every chunk it reads as one command line, so
    // the command goes out in a single write.
    stream.write_all(format!("{command}\n").as_bytes())?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    while !complete(&reply) {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "connection closed after {:?}",
                    String::from_utf8_lossy(&reply)
                ),
            ));
        }
        reply.extend_from_slice(&buf[..n]);
    }
    // Best effort: say goodbye so the server closes its side cleanly.
    let _ = stream.write_all(b"quit\n");
    String::from_utf8(reply).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

// ---------------------------------------------------------------------------
// Prerequisites, ports, temporary directories
// ---------------------------------------------------------------------------

/// The repository root (where `package.json` and `node_modules/` live): the
/// workspace root, the parent of this crate's directory.
pub fn repo_root() -> PathBuf {
    let interop = Path::new(env!("CARGO_MANIFEST_DIR"));
    interop
        .parent()
        .expect("the interop crate lies in the workspace root")
        .to_path_buf()
}

fn node_binary() -> &'static str {
    "node"
}

/// `node_modules/statsd`, after checking that node runs and statsd is installed.
fn statsd_dir() -> PathBuf {
    static CHECKED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    CHECKED
        .get_or_init(|| {
            match Command::new(node_binary())
                .arg("--version")
                .stdin(Stdio::null())
                .output()
            {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(NODE_MISSING.to_string())
                }
                Err(e) => {
                    return Err(format!(
                        "{NODE_MISSING} (running `node --version` failed: {e})"
                    ))
                }
                Ok(out) if !out.status.success() => {
                    return Err(format!(
                        "{NODE_MISSING} (`node --version` failed: {}{})",
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    ))
                }
                Ok(_) => {}
            }
            let root = repo_root();
            let dir = root.join("node_modules").join("statsd");
            if !dir.join("stats.js").is_file() || !dir.join("proxy.js").is_file() {
                return Err(format!(
                    "run `npm ci --ignore-scripts` in {} first to install the Etsy statsd server \
                     (statsd 0.9.0, pinned in package.json)",
                    root.display()
                ));
            }
            Ok(dir)
        })
        .clone()
        .unwrap_or_else(|message| panic!("{message}"))
}

/// A port free on 127.0.0.1 for both TCP and UDP at the moment of the call,
/// not in `avoid`. (Etsy statsd treats port 0 as "the default port".)
fn free_tcp_udp_port(avoid: &[u16]) -> u16 {
    for _ in 0..1000 {
        let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0 (TCP)");
        let port = tcp.local_addr().expect("local_addr").port();
        if avoid.contains(&port) {
            continue;
        }
        if UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    panic!("found no port free for both TCP and UDP on 127.0.0.1");
}

/// A TCP port free on 127.0.0.1 at the moment of the call, not in `avoid`.
fn free_tcp_port(avoid: &[u16]) -> u16 {
    for _ in 0..1000 {
        let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0 (TCP)");
        let port = tcp.local_addr().expect("local_addr").port();
        if !avoid.contains(&port) {
            return port;
        }
    }
    panic!("found no free TCP port on 127.0.0.1");
}

fn temp_dir(what: &str) -> PathBuf {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(
        "statsd-connector-{}-{}-{}-{}",
        what.replace(' ', "-"),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed),
        nanos
    );
    let dir = std::env::temp_dir().join(name);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

// ---------------------------------------------------------------------------
// Parser for the admin interface's `util.inspect` output
// ---------------------------------------------------------------------------

/// Parses Node's `util.inspect` of an object whose values are numbers, e.g.
/// `{ g: -5 }` or a multi-line `{\n  'a.b': 3,\n  x: 1.5e-7\n}`.
pub fn parse_inspect_numbers(text: &str) -> Result<BTreeMap<String, f64>, String> {
    parse_inspect_object(text)?
        .into_iter()
        .map(|(key, value)| match value {
            InspectValue::Number(n) => Ok((key, n)),
            InspectValue::Array(_) => {
                Err(format!("value of {key:?} is an array, expected a number"))
            }
        })
        .collect()
}

/// Parses Node's `util.inspect` of an object whose values are arrays of
/// numbers, e.g. `{ t: [ 1.5, 2 ] }`, including arrays wrapped over several
/// lines. An array abbreviated by `util.inspect` (`... N more items`, i.e.
/// over 100 values) is an error, never silently short data.
pub fn parse_inspect_arrays(text: &str) -> Result<BTreeMap<String, Vec<f64>>, String> {
    parse_inspect_object(text)?
        .into_iter()
        .map(|(key, value)| match value {
            InspectValue::Array(values) => Ok((key, values)),
            InspectValue::Number(_) => {
                Err(format!("value of {key:?} is a number, expected an array"))
            }
        })
        .collect()
}

enum InspectValue {
    Number(f64),
    Array(Vec<f64>),
}

fn parse_inspect_object(text: &str) -> Result<Vec<(String, InspectValue)>, String> {
    let mut p = InspectParser {
        chars: text.chars().collect(),
        pos: 0,
    };
    let mut entries = Vec::new();
    p.skip_ws();
    p.expect('{')?;
    loop {
        p.skip_ws();
        if p.eat('}') {
            break;
        }
        let key = p.key()?;
        p.skip_ws();
        p.expect(':')?;
        p.skip_ws();
        let value = if p.eat('[') {
            InspectValue::Array(p.array(&key)?)
        } else {
            InspectValue::Number(p.number()?)
        };
        if entries.iter().any(|(k, _)| *k == key) {
            return Err(format!("duplicate key {key:?}"));
        }
        entries.push((key, value));
        p.skip_ws();
        if !p.eat(',') && p.peek() != Some('}') {
            return Err(p.error("expected ',' or '}'"));
        }
    }
    p.skip_ws();
    if p.pos != p.chars.len() {
        return Err(p.error("unexpected text after the object"));
    }
    Ok(entries)
}

struct InspectParser {
    chars: Vec<char>,
    pos: usize,
}

impl InspectParser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.error(&format!("expected {c:?}")))
        }
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn starts_with(&self, s: &str) -> bool {
        s.chars()
            .enumerate()
            .all(|(i, c)| self.chars.get(self.pos + i) == Some(&c))
    }

    fn error(&self, what: &str) -> String {
        let context: String = self.chars[self.pos.min(self.chars.len())..]
            .iter()
            .take(40)
            .collect();
        format!("{what} at character {} (before {context:?})", self.pos)
    }

    /// A bare identifier key or a quoted one ('...', "..." or `...`).
    fn key(&mut self) -> Result<String, String> {
        match self.peek() {
            Some(q @ ('\'' | '"' | '`')) => {
                self.pos += 1;
                self.quoted(q)
            }
            _ => {
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$')
                {
                    self.pos += 1;
                }
                if self.pos == start {
                    return Err(self.error("expected a key"));
                }
                Ok(self.chars[start..self.pos].iter().collect())
            }
        }
    }

    /// The rest of a JS string literal opened by `quote`, with its escapes.
    fn quoted(&mut self, quote: char) -> Result<String, String> {
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error("unterminated string"));
            };
            self.pos += 1;
            if c == quote {
                return Ok(out);
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            let Some(e) = self.peek() else {
                return Err(self.error("unterminated escape"));
            };
            self.pos += 1;
            match e {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'v' => out.push('\u{b}'),
                '0' => out.push('\0'),
                'x' => out.push(self.hex_char(2)?),
                'u' if self.eat('{') => {
                    let start = self.pos;
                    while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                        self.pos += 1;
                    }
                    let digits: String = self.chars[start..self.pos].iter().collect();
                    self.expect('}')?;
                    out.push(
                        hex_to_char(&digits).ok_or_else(|| self.error("bad \\u{...} escape"))?,
                    );
                }
                'u' => {
                    let unit = self.hex_u32(4)?;
                    if (0xD800..0xDC00).contains(&unit) && self.starts_with("\\u") {
                        // A UTF-16 surrogate pair.
                        self.pos += 2;
                        let low = self.hex_u32(4)?;
                        let c =
                            0x10000 + ((unit - 0xD800) << 10) + (low.wrapping_sub(0xDC00) & 0x3FF);
                        out.push(char::from_u32(c).unwrap_or('\u{FFFD}'));
                    } else {
                        out.push(char::from_u32(unit).unwrap_or('\u{FFFD}'));
                    }
                }
                other => out.push(other), // \\ \' \" \` and anything else: itself
            }
        }
    }

    fn hex_u32(&mut self, digits: usize) -> Result<u32, String> {
        let end = self.pos + digits;
        if end > self.chars.len() {
            return Err(self.error("short hex escape"));
        }
        let s: String = self.chars[self.pos..end].iter().collect();
        let v = u32::from_str_radix(&s, 16).map_err(|_| self.error("bad hex escape"))?;
        self.pos = end;
        Ok(v)
    }

    fn hex_char(&mut self, digits: usize) -> Result<char, String> {
        let v = self.hex_u32(digits)?;
        char::from_u32(v).ok_or_else(|| self.error("bad escape"))
    }

    /// The elements of an array whose '[' was just consumed.
    fn array(&mut self, key: &str) -> Result<Vec<f64>, String> {
        let mut values = Vec::new();
        loop {
            self.skip_ws();
            if self.eat(']') {
                return Ok(values);
            }
            if self.starts_with("...") {
                let rest: String = self.chars[self.pos..]
                    .iter()
                    .take_while(|c| **c != '\n')
                    .collect();
                return Err(format!(
                    "the array of {key:?} was abbreviated by util.inspect ({:?} after {} values): \
                     Etsy statsd's admin interface shows at most 100 values per timer, send fewer",
                    rest.trim(),
                    values.len()
                ));
            }
            values.push(self.number()?);
            self.skip_ws();
            if !self.eat(',') && self.peek() != Some(']') {
                return Err(self.error("expected ',' or ']' in array"));
            }
        }
    }

    /// A JS number as util.inspect prints it: `3`, `-5`, `1.5`, `1e+21`,
    /// `-0`, `NaN`, `Infinity`, `-Infinity`.
    fn number(&mut self) -> Result<f64, String> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_'))
        {
            self.pos += 1;
        }
        let token: String = self.chars[start..self.pos]
            .iter()
            .filter(|c| **c != '_')
            .collect();
        let value = match token.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            t if t.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.') => {
                t.parse::<f64>().ok()
            }
            _ => None,
        };
        value.ok_or_else(|| {
            self.pos = start;
            self.error("expected a number")
        })
    }
}

fn hex_to_char(digits: &str) -> Option<char> {
    u32::from_str_radix(digits, 16)
        .ok()
        .and_then(char::from_u32)
}
