//! Self-telemetry: the connector's own stats, sent as metrics.
//!
//! A statsd client that drops or loses lines should say so where the metrics
//! are watched, not only in a `Stats` snapshot that someone must remember to
//! log. With [`Builder::telemetry`](crate::Builder::telemetry) set, the
//! processor queues these lines every interval, like any other metric (so the
//! prefix and global tags apply, and they are counted in the stats):
//!
//! | name | type | value |
//! |---|---|---|
//! | `statsd_connector.sent` | counter | lines written since the last report |
//! | `statsd_connector.sent_bytes` | counter | bytes written since the last report |
//! | `statsd_connector.dropped` | counter | lines dropped, queue full |
//! | `statsd_connector.rejected` | counter | calls refused as invalid |
//! | `statsd_connector.possibly_lost` | counter | lines that may have been lost in a disconnect |
//! | `statsd_connector.reconnects` | counter | reconnections |
//! | `statsd_connector.tag_set_overflows` | counter | calls over the tag-set cap, sent with the overflow tag |
//! | `statsd_connector.address_changes` | counter | moves to a new server address ([`Builder::dns_refresh`](crate::Builder::dns_refresh)) |
//! | `statsd_connector.queue_depth` | gauge | lines queued or held, now |
//!
//! Counters carry the change since the previous report, so the server sums
//! them as it would any counter; a counter that did not change is not sent.
//! Reports come from the processor's loop, so they stop while it is stopped.
//!
//! For a server declared DogStatsD the same report goes out in the names of
//! Datadog's own clients, so that Datadog's stock dashboard for client
//! telemetry shows it: without the prefix, with the global tags and
//! `client:rust`, `client_version:<this crate's version>` and
//! `client_transport:<udp|tcp|uds|uds-stream>`:
//!
//! | name | value |
//! |---|---|
//! | `datadog.dogstatsd.client.metrics` | metric lines accepted (the application's and the aggregates', not these) |
//! | `datadog.dogstatsd.client.metrics_by_type` | the same by type, tagged `metrics_type:<count\|gauge\|timing\|set\|histogram\|distribution>` |
//! | `datadog.dogstatsd.client.events` | events accepted |
//! | `datadog.dogstatsd.client.service_checks` | service checks accepted |
//! | `datadog.dogstatsd.client.metric_dropped_on_receive` | lines dropped: queue full, or the connector stopped |
//! | `datadog.dogstatsd.client.bytes_sent` | bytes written |
//! | `datadog.dogstatsd.client.packets_sent` | datagrams sent (datagram transports) |
//! | `datadog.dogstatsd.client.packets_dropped_writer` | lines that may have been lost by a failed connection (lines, not packets: the connector counts lines) |
//! | `datadog.dogstatsd.client.tag_set_overflows` | calls over the tag-set cap (ours: Datadog's clients have no cap) |
//!
//! (All counters, the change since the last report. datadog-go counts its
//! metrics before aggregation and sampling; these are the lines queued, so
//! with aggregation on a flushed aggregate counts once. The aggregation
//! context counts of datadog-go are not kept.)

use std::sync::Arc;

use tokio::time::{Duration, Instant};

use crate::config::Protocol;
use crate::shared::ledger::{Stats, Tally};
use crate::shared::{Measured, Shared};
use crate::wire::format::{LineFormat, MetricLine};
use crate::wire::metric::{MetricType, Value};

use super::telemetry_sink::TelemetrySink;

/// The name every telemetry metric starts with.
pub(crate) const TELEMETRY_PREFIX: &str = "statsd_connector";

/// The name Datadog's clients give their telemetry.
const DATADOG_PREFIX: &str = "datadog.dogstatsd.client";

/// When the next report is due, and what the last one saw.
#[derive(Debug)]
pub(crate) struct Telemetry {
    interval: Duration,
    next: Instant,
    last: Stats,
    /// The lines accepted by tally at the last report.
    last_by_tally: [u64; Tally::COUNT],
    /// For a DogStatsD server: the format of Datadog-named reports (no
    /// prefix; the global tags and the client tags).
    datadog: Option<LineFormat>,
    /// The telemetry's own server, when it has one.
    sink: Option<TelemetrySink>,
}

impl Telemetry {
    pub(crate) fn new(interval: Duration, now: Instant, shared: &Arc<Shared>) -> Telemetry {
        let config = &shared.config;
        let sink = (config.ops.telemetry_target.as_deref())
            .map(|target| TelemetrySink::start(target.clone(), shared.clone()));
        let datadog = config.is_dogstatsd().then(|| {
            let transport = match config.protocol {
                Protocol::Udp => "udp",
                Protocol::Unixgram => "uds",
                Protocol::Unix => "uds-stream",
                _ => "tcp",
            };
            let mut tags = config.global_tags.clone();
            tags.push(("client".into(), "rust".into()));
            tags.push(("client_version".into(), env!("CARGO_PKG_VERSION").into()));
            tags.push(("client_transport".into(), transport.into()));
            LineFormat::new(
                None,
                false,
                config.tag_format,
                &tags,
                config.max_line_length(),
            )
            .with_origin(
                config.container_id(),
                config.external_env(),
                config.cardinality(),
            )
        });
        Telemetry {
            interval,
            next: now + interval,
            last: Stats::default(),
            last_by_tally: [0; Tally::COUNT],
            datadog,
            sink,
        }
    }

    /// Asks the telemetry's own server's task, if any, to deliver what it
    /// holds by `deadline`, and waits for it.
    pub(crate) async fn stop_sink(&mut self, deadline: Instant) {
        if let Some(sink) = &mut self.sink {
            sink.stop(deadline).await;
        }
    }

    /// Reports if the interval has passed since the last report.
    pub(crate) fn report_if_due(&mut self, shared: &Shared, now: Instant) {
        if now >= self.next {
            self.report(shared);
            // After a long stall, report once and start a fresh interval.
            self.next = (self.next + self.interval).max(now);
        }
    }

    /// Queues one line per changed counter and the queue depth.
    pub(crate) fn report(&mut self, shared: &Shared) {
        self.queue_report(shared);
        if let Some(sink) = &self.sink {
            sink.wake();
        }
    }

    fn queue_report(&mut self, shared: &Shared) {
        let now = shared.stats();
        let last = std::mem::replace(&mut self.last, now);
        let out = Out {
            shared,
            sink: self.sink.as_ref(),
        };
        if let Some(format) = &self.datadog {
            let by_tally = shared.accepted_by_tally();
            let last_by_tally = std::mem::replace(&mut self.last_by_tally, by_tally);
            let changes = std::array::from_fn(|i| by_tally[i] - last_by_tally[i]);
            return report_datadog(out, format, &now, &last, &changes);
        }
        let changes = [
            ("sent", now.sent - last.sent),
            ("sent_bytes", now.sent_bytes - last.sent_bytes),
            ("dropped", now.dropped - last.dropped),
            ("rejected", now.rejected - last.rejected),
            ("possibly_lost", now.possibly_lost - last.possibly_lost),
            ("reconnects", now.reconnects - last.reconnects),
            (
                "tag_set_overflows",
                now.tag_set_overflows - last.tag_set_overflows,
            ),
            (
                "address_changes",
                now.address_changes - last.address_changes,
            ),
        ];
        let mut name = String::with_capacity(64);
        for (suffix, change) in changes {
            if change > 0 {
                let value = Value::Int(i64::try_from(change).unwrap_or(i64::MAX));
                push(out, &mut name, suffix, value, MetricType::Counter);
            }
        }
        let depth = Value::Int(i64::try_from(now.in_queue).unwrap_or(i64::MAX));
        push(out, &mut name, "queue_depth", depth, MetricType::Gauge);
    }
}

/// Where the report's lines go: the metrics' queue, or the telemetry's own
/// server.
#[derive(Clone, Copy)]
struct Out<'a> {
    shared: &'a Shared,
    sink: Option<&'a TelemetrySink>,
}

impl Out<'_> {
    /// Queues one line; a full queue drops it (and counts it) like any other
    /// line, or, for the telemetry's own server, counts it lost.
    fn line(self, write: impl FnOnce(&mut Vec<u8>) -> Result<(), crate::Error>) {
        match self.sink {
            // Counted with events and service checks, not as the
            // application's metrics.
            None => {
                let _ = self.shared.publish(1, Tally::OTHER, Measured(write));
            }
            Some(sink) => sink.push(write),
        }
    }
}

/// Queues `statsd_connector.<suffix>`.
fn push(out: Out<'_>, name: &mut String, suffix: &str, value: Value<'_>, kind: MetricType) {
    name.clear();
    name.push_str(TELEMETRY_PREFIX);
    name.push('.');
    name.push_str(suffix);
    let format = &out.shared.format;
    out.line(|buf| format.write(buf, &MetricLine::new(name, value, kind)));
}

/// The report in the names of Datadog's clients (see the module docs);
/// `by_tally`: the lines accepted since the last report, by tally.
fn report_datadog(
    out: Out<'_>,
    format: &LineFormat,
    now: &Stats,
    last: &Stats,
    by_tally: &[u64; Tally::COUNT],
) {
    let by_type = MetricType::ALL.map(|kind| (kind, by_tally[Tally::of(kind).index()]));
    let changes = [
        ("metrics", by_type.iter().map(|(_, n)| n).sum()),
        ("events", now.events - last.events),
        ("service_checks", now.service_checks - last.service_checks),
        ("metric_dropped_on_receive", now.dropped - last.dropped),
        ("bytes_sent", now.sent_bytes - last.sent_bytes),
        ("packets_sent", now.datagrams - last.datagrams),
        (
            "packets_dropped_writer",
            now.possibly_lost - last.possibly_lost,
        ),
        // Ours: Datadog's clients have no tag-set cap.
        (
            "tag_set_overflows",
            now.tag_set_overflows - last.tag_set_overflows,
        ),
    ];
    let mut name = String::with_capacity(64);
    for (suffix, change) in changes {
        if change > 0 {
            name.clear();
            name.push_str(DATADOG_PREFIX);
            name.push('.');
            name.push_str(suffix);
            push_datadog(out, format, &name, change, &[]);
        }
    }
    let by_type_name = format!("{DATADOG_PREFIX}.metrics_by_type");
    for (kind, change) in by_type {
        if change > 0 {
            let tags = [("metrics_type", datadog_type_name(kind))];
            push_datadog(out, format, &by_type_name, change, &tags);
        }
    }
}

/// Queues one of Datadog's client counters (a full queue drops it and
/// counts it like any other line).
fn push_datadog(out: Out<'_>, format: &LineFormat, name: &str, change: u64, tags: &[(&str, &str)]) {
    let value = Value::Int(i64::try_from(change).unwrap_or(i64::MAX));
    out.line(|buf| {
        let metric = MetricLine {
            tags,
            ..MetricLine::new(name, value, MetricType::Counter)
        };
        format.write(buf, &metric)
    });
}

/// The `metrics_type` tag value Datadog's clients give a type.
fn datadog_type_name(kind: MetricType) -> &'static str {
    match kind {
        MetricType::Counter => "count",
        MetricType::Gauge => "gauge",
        MetricType::Timing => "timing",
        MetricType::Set => "set",
        MetricType::Histogram => "histogram",
        MetricType::Distribution => "distribution",
    }
}
