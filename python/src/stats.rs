//! Snapshots handed to Python: the library's [`Stats`] and [`StopReport`].

use pyo3::prelude::*;
use statsd_connector::{Stats, StopReport};

/// The connector's counters at one moment (see the library's `Stats`):
/// every metric emitted is `rejected`, `dropped` or `accepted`, and every
/// accepted line ends `sent`, `undelivered`, `in_queue` or `possibly_lost`.
#[pyclass(frozen, get_all, module = "statsd_connector._native", name = "Stats")]
pub(crate) struct PyStats {
    /// Lines taken into the queue.
    accepted: u64,
    /// Lines written to the transport.
    sent: u64,
    /// Bytes written to the transport.
    sent_bytes: u64,
    /// Lines dropped: the queue was full, or the connector stopped.
    dropped: u64,
    /// Calls refused as invalid.
    rejected: u64,
    /// Connections made after the first.
    reconnects: u64,
    /// Connection attempts that failed.
    connect_failures: u64,
    /// Connections that ended right after they were made.
    short_connections: u64,
    /// Lines written to a connection that then failed: they may not have arrived.
    possibly_lost: u64,
    /// Lines discarded at stop because they could not be delivered in time.
    undelivered: u64,
    /// Datagrams sent (UDP, Unix datagrams).
    datagrams: u64,
    /// Lines queued or held by the processor now.
    in_queue: u64,
    /// DogStatsD events accepted.
    events: u64,
    /// DogStatsD service checks accepted.
    service_checks: u64,
    /// Moves to a new address of the server (`dns_refresh`).
    address_changes: u64,
    /// Calls over `max_tag_sets`, sent with their tags collapsed.
    tag_set_overflows: u64,
    /// Telemetry lines sent to the telemetry's own server.
    telemetry_sent: u64,
    /// Telemetry lines that did not reach the telemetry's own server.
    telemetry_lost: u64,
}

impl From<Stats> for PyStats {
    fn from(stats: Stats) -> PyStats {
        PyStats {
            accepted: stats.accepted,
            sent: stats.sent,
            sent_bytes: stats.sent_bytes,
            dropped: stats.dropped,
            rejected: stats.rejected,
            reconnects: stats.reconnects,
            connect_failures: stats.connect_failures,
            short_connections: stats.short_connections,
            possibly_lost: stats.possibly_lost,
            undelivered: stats.undelivered,
            datagrams: stats.datagrams,
            in_queue: stats.in_queue,
            events: stats.events,
            service_checks: stats.service_checks,
            address_changes: stats.address_changes,
            tag_set_overflows: stats.tag_set_overflows,
            telemetry_sent: stats.telemetry_sent,
            telemetry_lost: stats.telemetry_lost,
        }
    }
}

impl PyStats {
    fn fields(&self) -> [(&'static str, u64); 18] {
        [
            ("accepted", self.accepted),
            ("sent", self.sent),
            ("sent_bytes", self.sent_bytes),
            ("dropped", self.dropped),
            ("rejected", self.rejected),
            ("reconnects", self.reconnects),
            ("connect_failures", self.connect_failures),
            ("short_connections", self.short_connections),
            ("possibly_lost", self.possibly_lost),
            ("undelivered", self.undelivered),
            ("datagrams", self.datagrams),
            ("in_queue", self.in_queue),
            ("events", self.events),
            ("service_checks", self.service_checks),
            ("address_changes", self.address_changes),
            ("tag_set_overflows", self.tag_set_overflows),
            ("telemetry_sent", self.telemetry_sent),
            ("telemetry_lost", self.telemetry_lost),
        ]
    }
}

#[pymethods]
impl PyStats {
    /// The counters as a dict.
    fn as_dict(&self) -> std::collections::BTreeMap<&'static str, u64> {
        self.fields().into_iter().collect()
    }

    fn __repr__(&self) -> String {
        let fields: Vec<String> = self
            .fields()
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        format!("Stats({})", fields.join(", "))
    }
}

/// What a stop achieved.
#[pyclass(
    frozen,
    get_all,
    module = "statsd_connector._native",
    name = "StopReport"
)]
pub(crate) struct PyStopReport {
    /// Metrics queued that could not be delivered (discarded).
    undelivered: u64,
    /// Lines written to a connection that failed during the stop: they may
    /// not have arrived.
    possibly_lost: u64,
}

impl From<StopReport> for PyStopReport {
    fn from(report: StopReport) -> PyStopReport {
        PyStopReport {
            undelivered: report.undelivered,
            possibly_lost: report.possibly_lost,
        }
    }
}

#[pymethods]
impl PyStopReport {
    fn __repr__(&self) -> String {
        format!(
            "StopReport(undelivered={}, possibly_lost={})",
            self.undelivered, self.possibly_lost
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.extract::<PyRef<'_, PyStopReport>>().is_ok_and(|o| {
            o.undelivered == self.undelivered && o.possibly_lost == self.possibly_lost
        })
    }
}
