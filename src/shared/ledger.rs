//! The ledger: the counters that account for every metric.
//!
//! Each metric a caller emits ends in exactly one of these places, and the
//! counters add up (see the README's Reliability section):
//!
//! ```text
//! emitted  = rejected + dropped + accepted
//! accepted = sent + undelivered + in_queue
//! received = sent - (lost in a disconnect), and that loss <= possibly_lost
//! ```
//!
//! A line moves through the ledger only by its named transitions
//! ([`Ledger::rejected`], [`Ledger::dropped`], [`Ledger::taken`],
//! [`Ledger::sent`], [`Ledger::discarded`] ...), so the identity is kept in
//! this one file, and [`Ledger::check_identity`] asserts it (in debug builds)
//! when the processor exits. The counters are plain `AtomicU64`s with
//! `Relaxed` ordering: each is exact on its own, and a snapshot is a
//! consistent sum once the processor has stopped. `accepted` and `in_queue`
//! live inside the queue's slots: each slot counts what its owner published
//! (a relaxed store only the owner makes), so the successful hot path takes
//! no lock and writes no counter another thread writes.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::wire::metric::MetricType;

/// What a queued line counts as in the breakdown of accepted lines by type
/// (DogStatsD telemetry's `metrics_by_type`): its metric type, or other (an
/// event, a service check, a telemetry line). Each slot keeps one count per
/// tally, so the breakdown costs the hot path nothing: the owner adds to the
/// tally's count instead of to a total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tally(usize);

impl Tally {
    /// How many tallies there are.
    pub(crate) const COUNT: usize = MetricType::ALL.len() + 1;
    /// An event, a service check, or one of the telemetry's own lines.
    pub(crate) const OTHER: Tally = Tally(MetricType::ALL.len());

    /// The tally of a metric line of `kind`.
    #[inline(always)]
    pub(crate) const fn of(kind: MetricType) -> Tally {
        Tally(kind.index())
    }

    /// The position of this tally in a table of [`Tally::COUNT`].
    #[inline(always)]
    pub(crate) const fn index(self) -> usize {
        self.0
    }
}

/// A snapshot of the connector's counters, all in lines (metrics): a negative
/// absolute gauge is written as two lines (`0|g` then the value) and counts two.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), statsd_connector::Error> {
/// use statsd_connector::Metrics;
/// let connector = statsd_connector::Connector::builder().host("localhost").build()?;
/// connector.incr("requests")?;
/// let _ = connector.count("bad:name", 1);
/// let stats = connector.stats();
/// assert_eq!((stats.accepted, stats.rejected, stats.in_queue), (1, 1, 1));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Lines ever accepted into the queue (by a call that returned `Ok`);
    /// [`in_queue`](Stats::in_queue) is how many are in it now.
    pub accepted: u64,
    /// Lines written to a socket (for TCP: accepted by the kernel).
    pub sent: u64,
    /// Bytes written to a socket.
    pub sent_bytes: u64,
    /// Lines refused because the queue was full.
    pub dropped: u64,
    /// Calls refused as invalid (bad name, value, tag, rate or length).
    pub rejected: u64,
    /// Successful connections after the first one.
    pub reconnects: u64,
    /// Failed connection attempts.
    pub connect_failures: u64,
    /// Connections that ended (the server closed them, or they failed) within
    /// their first `reconnect_sleep`: each makes the processor wait
    /// `reconnect_sleep` before the next attempt, so that a server that
    /// accepts and at once closes cannot cost a connection per batch.
    pub short_connections: u64,
    /// Lines written to a TCP socket that then failed while they were still
    /// unacknowledged: they may or may not have reached the server. Over-counts,
    /// never under-counts; see the README for what TCP can promise.
    pub possibly_lost: u64,
    /// Lines still queued when a stop gave up (deadline passed or server
    /// unreachable): discarded and counted here.
    pub undelivered: u64,
    /// Datagrams sent (UDP only).
    pub datagrams: u64,
    /// Lines in the queue or held by the processor right now.
    pub in_queue: u64,
    /// DogStatsD events accepted into the queue (also counted in `accepted`).
    pub events: u64,
    /// DogStatsD service checks accepted into the queue (also counted in
    /// `accepted`).
    pub service_checks: u64,
    /// Times the processor moved to a new server address while connected
    /// ([`Builder::dns_refresh`](crate::Builder::dns_refresh)): the host
    /// resolved elsewhere, or the Unix socket file was replaced.
    pub address_changes: u64,
    /// Calls over [`Builder::max_tag_sets`](crate::Builder::max_tag_sets),
    /// sent with their tags collapsed into the overflow tag. These calls
    /// are among the accepted ones (or, aggregated, folded into a line that
    /// is): a count of calls, not a separate outcome.
    pub tag_set_overflows: u64,
    /// Telemetry lines written to the telemetry's own server
    /// ([`Builder::telemetry_address`](crate::Builder::telemetry_address));
    /// such lines are never counted in `accepted` or `sent`.
    pub telemetry_sent: u64,
    /// Telemetry lines for the telemetry's own server that could not be
    /// written (no connection, a failed write, or the stop deadline): every
    /// telemetry line made is in `telemetry_sent` or here, once the
    /// processor has stopped.
    pub telemetry_lost: u64,
}

/// The counters behind [`Stats`], changed only through named transitions.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    sent: AtomicU64,
    sent_bytes: AtomicU64,
    dropped: AtomicU64,
    rejected: AtomicU64,
    reconnects: AtomicU64,
    connect_failures: AtomicU64,
    short_connections: AtomicU64,
    possibly_lost: AtomicU64,
    undelivered: AtomicU64,
    datagrams: AtomicU64,
    events: AtomicU64,
    service_checks: AtomicU64,
    /// Lines taken from the queue by the processor and not yet written.
    held: AtomicU64,
    address_changes: AtomicU64,
    tag_set_overflows: AtomicU64,
    telemetry_sent: AtomicU64,
    telemetry_lost: AtomicU64,
}

impl Ledger {
    /// A call was refused as invalid (it never became a line).
    #[inline]
    pub(crate) fn rejected(&self) {
        self.rejected.fetch_add(1, Relaxed);
    }

    /// A DogStatsD event was queued (its line is in `accepted` already).
    #[inline]
    pub(crate) fn event_queued(&self) {
        self.events.fetch_add(1, Relaxed);
    }

    /// A DogStatsD service check was queued (its line is in `accepted`
    /// already).
    #[inline]
    pub(crate) fn service_check_queued(&self) {
        self.service_checks.fetch_add(1, Relaxed);
    }

    /// `lines` lines were refused because the queue was full.
    #[inline]
    pub(crate) fn dropped(&self, lines: u64) {
        self.dropped.fetch_add(lines, Relaxed);
    }

    /// The processor took `lines` lines from the queue: now held by it.
    #[inline]
    pub(crate) fn taken(&self, lines: u64) {
        self.held.fetch_add(lines, Relaxed);
    }

    /// Held lines were written: `lines` whole lines in `bytes` bytes.
    #[inline]
    pub(crate) fn sent(&self, lines: u64, bytes: u64) {
        self.sent.fetch_add(lines, Relaxed);
        self.sent_bytes.fetch_add(bytes, Relaxed);
        self.held.fetch_sub(lines, Relaxed);
    }

    /// `datagrams` datagrams carried the lines of the last [`Ledger::sent`].
    #[inline]
    pub(crate) fn datagrams(&self, datagrams: u64) {
        self.datagrams.fetch_add(datagrams, Relaxed);
    }

    /// Lines given up: `held` of them held by the processor, `queued` still in
    /// the queue (already removed from it by the caller).
    pub(crate) fn discarded(&self, held: u64, queued: u64) {
        if held > 0 {
            self.held.fetch_sub(held, Relaxed);
        }
        self.undelivered.fetch_add(held + queued, Relaxed);
    }

    /// Whatever is still counted as held is lost with the task (the runtime
    /// dropped it mid-flight): count it undelivered.
    pub(crate) fn abandon_held(&self) {
        let held = self.held.swap(0, Relaxed);
        self.undelivered.fetch_add(held, Relaxed);
    }

    /// Lines that were sent on a connection that then failed (or was not
    /// acknowledged in time): they may not have arrived. They stay `sent`.
    #[inline]
    pub(crate) fn possibly_lost(&self, lines: u64) {
        if lines > 0 {
            self.possibly_lost.fetch_add(lines, Relaxed);
        }
    }

    /// A connection succeeded after an earlier one.
    pub(crate) fn reconnected(&self) {
        self.reconnects.fetch_add(1, Relaxed);
    }

    /// The processor moved to a new address of the server.
    pub(crate) fn address_changed(&self) {
        self.address_changes.fetch_add(1, Relaxed);
    }

    /// A call was over the tag-set cap (and sent with the overflow tag).
    #[cold]
    pub(crate) fn tag_set_overflow(&self) {
        self.tag_set_overflows.fetch_add(1, Relaxed);
    }

    /// Telemetry lines written to the telemetry's own server.
    pub(crate) fn telemetry_sent(&self, lines: u64) {
        self.telemetry_sent.fetch_add(lines, Relaxed);
    }

    /// Telemetry lines for the telemetry's own server given up.
    pub(crate) fn telemetry_lost(&self, lines: u64) {
        if lines > 0 {
            self.telemetry_lost.fetch_add(lines, Relaxed);
        }
    }

    /// A connection attempt failed.
    pub(crate) fn connect_failed(&self) {
        self.connect_failures.fetch_add(1, Relaxed);
    }

    /// A connection ended within its first `reconnect_sleep`.
    pub(crate) fn short_connection(&self) {
        self.short_connections.fetch_add(1, Relaxed);
    }

    /// Bytes written so far (the processor sizes its pauses by them).
    #[inline]
    pub(crate) fn sent_bytes(&self) -> u64 {
        self.sent_bytes.load(Relaxed)
    }

    /// The ledger's part of a snapshot; `queue` gives `(lines ever accepted,
    /// lines in the queue now)`.
    pub(crate) fn snapshot(&self, (accepted, in_queue): (u64, u64)) -> Stats {
        Stats {
            sent: self.sent.load(Relaxed),
            sent_bytes: self.sent_bytes.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            connect_failures: self.connect_failures.load(Relaxed),
            short_connections: self.short_connections.load(Relaxed),
            possibly_lost: self.possibly_lost.load(Relaxed),
            undelivered: self.undelivered.load(Relaxed),
            datagrams: self.datagrams.load(Relaxed),
            in_queue: self.held.load(Relaxed) + in_queue,
            accepted,
            events: self.events.load(Relaxed),
            service_checks: self.service_checks.load(Relaxed),
            address_changes: self.address_changes.load(Relaxed),
            tag_set_overflows: self.tag_set_overflows.load(Relaxed),
            telemetry_sent: self.telemetry_sent.load(Relaxed),
            telemetry_lost: self.telemetry_lost.load(Relaxed),
        }
    }

    /// Asserts (in debug builds) `accepted = sent + undelivered + in_queue`.
    /// The processor calls it as it exits, when nothing is held and only it
    /// takes from the queue; but callers may still be publishing (the queue
    /// closes after the processor exits), and a slot counts a line in
    /// `accepted` just after it publishes it. So the right side may be
    /// ahead by the calls in flight, `in_flight` lines at most (two a slot:
    /// a negative gauge's pair), and never behind.
    pub(crate) fn check_identity(&self, queue: (u64, u64), in_flight: u64) {
        let stats = self.snapshot(queue);
        let accounted = stats.sent + stats.undelivered + stats.in_queue;
        debug_assert!(
            stats.accepted <= accounted && accounted - stats.accepted <= in_flight,
            "the ledger does not add up ({in_flight} lines may be in flight): {stats:?}"
        );
    }
}
