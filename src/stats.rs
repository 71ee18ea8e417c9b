//! Counters that account for every metric.
//!
//! Each metric a caller emits ends in exactly one of these places, and the
//! counters add up (see the README's Reliability section):
//!
//! ```text
//! emitted  = rejected + dropped + queued
//! queued   = sent + undelivered + in_queue
//! received = sent - (lost in a disconnect), and that loss <= possibly_lost
//! ```
//!
//! Counters written by the processor are plain `AtomicU64`s with `Relaxed`
//! ordering: each is exact on its own, and a snapshot is a consistent sum once
//! the processor has stopped. `queued` and `in_queue` live inside the queue's
//! shards, under the shard lock the emitter already holds, so the hot path
//! touches no shared counter at all.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

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
/// assert_eq!((stats.queued, stats.rejected, stats.in_queue), (1, 1, 1));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Lines accepted into the queue.
    pub queued: u64,
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
}

/// The processor's side of the counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) sent: AtomicU64,
    pub(crate) sent_bytes: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) connect_failures: AtomicU64,
    pub(crate) possibly_lost: AtomicU64,
    pub(crate) undelivered: AtomicU64,
    pub(crate) datagrams: AtomicU64,
    /// Lines taken from the queue by the processor and not yet written.
    pub(crate) held: AtomicU64,
}

impl Counters {
    /// Adds `n` to one counter.
    #[inline]
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// Subtracts `n` from one counter.
    #[inline]
    pub(crate) fn sub(counter: &AtomicU64, n: u64) {
        counter.fetch_sub(n, Relaxed);
    }

    /// The processor-side part of a snapshot; the queue fills in the rest.
    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            sent: self.sent.load(Relaxed),
            sent_bytes: self.sent_bytes.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            connect_failures: self.connect_failures.load(Relaxed),
            possibly_lost: self.possibly_lost.load(Relaxed),
            undelivered: self.undelivered.load(Relaxed),
            datagrams: self.datagrams.load(Relaxed),
            in_queue: self.held.load(Relaxed),
            queued: 0,
        }
    }
}
