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
//! | `statsd_connector.queue_depth` | gauge | lines queued or held, now |
//!
//! Counters carry the change since the previous report, so the server sums
//! them as it would any counter; a counter that did not change is not sent.
//! Reports come from the processor's loop, so they stop while it is stopped.

use tokio::time::{Duration, Instant};

use crate::shared::ledger::Stats;
use crate::shared::Shared;
use crate::wire::metric::{MetricType, Value};

/// The name every telemetry metric starts with.
pub(crate) const TELEMETRY_PREFIX: &str = "statsd_connector";

/// When the next report is due, and what the last one saw.
#[derive(Debug)]
pub(crate) struct Telemetry {
    interval: Duration,
    next: Instant,
    last: Stats,
}

impl Telemetry {
    pub(crate) fn new(interval: Duration, now: Instant) -> Telemetry {
        Telemetry {
            interval,
            next: now + interval,
            last: Stats::default(),
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
        let now = shared.stats();
        let last = std::mem::replace(&mut self.last, now);
        let changes = [
            ("sent", now.sent - last.sent),
            ("sent_bytes", now.sent_bytes - last.sent_bytes),
            ("dropped", now.dropped - last.dropped),
            ("rejected", now.rejected - last.rejected),
            ("possibly_lost", now.possibly_lost - last.possibly_lost),
            ("reconnects", now.reconnects - last.reconnects),
        ];
        let mut name = String::with_capacity(64);
        for (suffix, change) in changes {
            if change > 0 {
                let value = Value::Int(i64::try_from(change).unwrap_or(i64::MAX));
                push(shared, &mut name, suffix, value, MetricType::Counter);
            }
        }
        let depth = Value::Int(i64::try_from(now.in_queue).unwrap_or(i64::MAX));
        push(shared, &mut name, "queue_depth", depth, MetricType::Gauge);
    }
}

/// Queues `statsd_connector.<suffix>`; a full queue drops it (and counts it)
/// like any other line.
fn push(shared: &Shared, name: &mut String, suffix: &str, value: Value<'_>, kind: MetricType) {
    name.clear();
    name.push_str(TELEMETRY_PREFIX);
    name.push('.');
    name.push_str(suffix);
    let _ = shared.push(1, |buf| {
        shared.format.write(buf, name, value, kind, 1.0, &[])
    });
}
