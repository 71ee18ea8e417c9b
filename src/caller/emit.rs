//! The emit pipeline every metric call ends in, on the caller's thread:
//! validate, sample, aggregate or format, queue.
//!
//! Validation comes first, so a bad call fails every time, sampled out or
//! not, and is counted as rejected. Nothing here waits: the queue either
//! takes the line or refuses it at once.
//!
//! With aggregation on, unsampled counters, gauges and sets are folded into
//! the tables, and so is every gauge that sampling kept, whatever its rate:
//! statsd servers do not scale gauges by the rate, and a gauge that passed
//! straight to the queue would overtake the same thread's earlier gauges
//! still waiting for the flush. One thread's gauge operations on one name
//! thus reach the server in the order made, whichever call made them (text
//! values are folded too, see `shared::aggregate`).

use crate::error::{Error, ErrorKind};
use crate::shared::aggregate::Folded;
use crate::shared::Shared;
use crate::wire::format::LineFormat;
use crate::wire::metric::{MetricType, Value};
use crate::wire::validate;

use super::sampling;

/// How a call is sampled.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Sampling {
    /// Every call is sent; no `|@rate` on the line.
    Every,
    /// Keep the call with this probability, drawn here after validation,
    /// and mark the line with the rate.
    Random(f64),
    /// Whoever wrote the line sampled it already (a relayed line): send it,
    /// marked with this rate.
    Upstream(f64),
}

impl Sampling {
    /// The rate written on the line (1 means none is written).
    #[inline]
    fn rate(self) -> f64 {
        match self {
            Sampling::Every => 1.0,
            Sampling::Random(rate) | Sampling::Upstream(rate) => rate,
        }
    }
}

/// Validates, samples and queues one metric (or folds it into the
/// aggregation tables).
#[inline]
pub(crate) fn emit(
    shared: &Shared,
    name: &str,
    value: Value<'_>,
    kind: MetricType,
    sampling: Sampling,
    tags: &[(&str, &str)],
) -> Result<(), Error> {
    if !shared.config.enabled {
        return Ok(());
    }
    let rate = sampling.rate();
    let checked = validate::name(name, shared.format.name_overhead(kind))
        .and_then(|()| validate::value(value, kind))
        .and_then(|()| match rate {
            1.0 => Ok(()),
            rate => validate::sample_rate(rate),
        })
        .and_then(|()| validate::tags(tags, shared.format.tag_format()));
    if let Err(error) = checked {
        return Err(rejected(shared, error));
    }
    if let Sampling::Random(rate) = sampling {
        if rate < 1.0 && !sampling::keep(rate) {
            return Ok(());
        }
    }
    if rate == 1.0 || kind == MetricType::Gauge {
        if let Some(aggregator) = &shared.aggregator {
            // Folding bypasses the queue: refuse here what a stop refuses.
            shared.accepting()?;
            match aggregator.add(name, value, kind, tags) {
                Folded::Yes => return Ok(()),
                Folded::No => {}
                Folded::Refused(error) => return Err(rejected(shared, error)),
            }
        }
    }
    push_line(shared, name, value, kind, rate, tags)
}

/// Queues a line for a metric whose name is already checked (a
/// [`Counter`](crate::Counter) handle's).
#[inline]
pub(crate) fn emit_checked(
    shared: &Shared,
    name: &str,
    value: Value<'_>,
    kind: MetricType,
) -> Result<(), Error> {
    if !shared.config.enabled {
        return Ok(());
    }
    push_line(shared, name, value, kind, 1.0, &[])
}

/// Counts a refused call and passes its error on.
#[cold]
pub(crate) fn rejected(shared: &Shared, error: Error) -> Error {
    shared.ledger.rejected();
    error
}

/// Formats one metric into the queue.
#[inline]
fn push_line(
    shared: &Shared,
    name: &str,
    value: Value<'_>,
    kind: MetricType,
    sample_rate: f64,
    tags: &[(&str, &str)],
) -> Result<(), Error> {
    // A negative absolute gauge is two lines, pushed at once so that both
    // travel in the same write or datagram.
    let lines = LineFormat::lines_for(kind, value);
    let pushed = shared.push(lines, |buf| {
        shared
            .format
            .write_metric(buf, name, value, kind, sample_rate, tags)
    });
    match pushed {
        Err(error) if matches!(error.kind(), ErrorKind::LineTooLong { .. }) => {
            Err(rejected(shared, error))
        }
        other => other,
    }
}
