//! The emit pipeline every metric call ends in, on the caller's thread:
//! validate, sample, aggregate or format, queue.
//!
//! Validation comes first, so a bad call fails every time, sampled out or
//! not, and is counted as rejected. Nothing here waits: the queue either
//! takes the line or refuses it at once.
//!
//! The paths, fastest first. A plain line (no tags, rate or extras) and, in
//! the DogStatsD dialect, a line with the call's own tags are written in
//! place into the slot (`InPlace` writers, types rather than closures so
//! that they inline wherever the verbs are). A call's own tags are checked
//! as they are written: what that check does not accept, or a value that
//! needs an exponent, is left (`Leftover`) to the general path, which
//! checks exactly, in order, and formats through the scratch buffer. With
//! aggregation on, an unsampled integer counter whose context this thread
//! has counted before is one add on the thread's own cell; a first call
//! takes the general path, which validates it.
//!
//! With aggregation on, unsampled counters, gauges and sets are folded into
//! the tables, and so is every gauge that sampling kept, whatever its rate:
//! statsd servers do not scale gauges by the rate, and a gauge that passed
//! straight to the queue would overtake the same thread's earlier gauges
//! still waiting for the flush. One thread's gauge operations on one name
//! thus reach the server in the order made, whichever call made them (text
//! values are folded too, see `shared::aggregate`).

use std::time::SystemTime;

use crate::error::{Error, ErrorKind, Reason};
use crate::shared::aggregate::Folded;
use crate::shared::cardinality::{TagSetGuard, OVERFLOW_TAGS};
use crate::shared::ledger::Tally;
use crate::shared::{FillLine, InPlace, Measured, Shared};
use crate::wire::format::{in_place, Extras, LineFormat, MetricLine, PreparedInt};
use crate::wire::metric::{Cardinality, MetricType, Value};
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

    /// Draws (for [`Sampling::Random`]) whether this call is left out.
    #[inline]
    fn drops_this_call(self) -> bool {
        matches!(self, Sampling::Random(rate) if rate < 1.0 && !sampling::keep(rate))
    }
}

/// Validates a call's line (name, value, rate, tags); a refusal is counted.
#[inline]
fn check(shared: &Shared, metric: &MetricLine<'_>) -> Result<(), Error> {
    let MetricLine {
        name, value, kind, ..
    } = *metric;
    let checked = validate::name(name, shared.format.name_overhead(kind))
        .and_then(|()| validate::value(value, kind))
        .and_then(|()| match metric.sample_rate {
            1.0 => Ok(()),
            rate => validate::sample_rate(rate),
        })
        .and_then(|()| validate::tags(metric.tags, shared.format.tag_format()));
    checked.map_err(|error| rejected(shared, error))
}

/// Validates, samples and queues one metric (or folds it into the
/// aggregation tables). Inlined whole into each verb: what is left here is
/// the fast branch (the rest is `emit_general`).
#[inline(always)]
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
    if let (Sampling::Every, [], None) = (sampling, tags, &shared.aggregator) {
        if let Value::Int(n) = value {
            // The commonest call by far (`incr`, `count`): only the name to
            // check, and the line formatted in place (a `Counter` handle has
            // its own, `emit_prepared`).
            let checked = validate::name(name, shared.format.name_overhead(kind));
            if let Err(error) = checked {
                return Err(rejected(shared, error));
            }
            if let Some(room) = shared.format.int_bound(name, kind) {
                let write = IntLine {
                    shared,
                    name,
                    value: n,
                    kind,
                };
                let published = shared.publish(1, Tally::of(kind), InPlace::new(room, write));
                if let Some(answer) = published.settled() {
                    return answer;
                }
            }
        } else if in_place(value, kind) {
            return emit_plain(shared, name, value, kind);
        }
    } else if let (Sampling::Every, None, None) = (sampling, &shared.aggregator, &shared.guard) {
        // A call with tags of its own (no rate, no aggregation, no tag-set
        // cap): in place too, where the dialect allows.
        if in_place(value, kind) {
            return emit_tagged(shared, name, value, kind, tags);
        }
    } else if let (Sampling::Every, Some(_), None) = (sampling, &shared.aggregator, &shared.guard) {
        if let (MetricType::Counter, Value::Int(n)) = (kind, value) {
            return emit_folded_count(shared, name, n, tags);
        }
    }
    // The rest (a rate, aggregation, text values) takes the general path,
    // which measures what it wrote.
    emit_general(shared, name, value, kind, sampling, tags)
}

/// A [`Counter`](crate::Counter) handle's writer (see [`IntLine`]).
struct PreparedLine<'a> {
    line: &'a PreparedInt,
    value: i64,
}

impl FillLine for PreparedLine<'_> {
    #[inline(always)]
    fn fill(self, out: &mut [u8]) -> usize {
        self.line.write(out, self.value)
    }
}

/// The plain integer line's writer: a type of its own, not a closure, so
/// that it is inlined into every call site (see `FillLine`).
struct IntLine<'a> {
    shared: &'a Shared,
    name: &'a str,
    value: i64,
    kind: MetricType,
}

impl FillLine for IntLine<'_> {
    #[inline(always)]
    fn fill(self, out: &mut [u8]) -> usize {
        (self.shared.format).write_int(out, self.name, self.value, self.kind)
    }
}

/// [`emit`] for an unsampled integer counter with aggregation on (and no
/// tag-set cap): a context this thread has counted before (so validated
/// then) is one lock-free add. A first call, an invalid one, or any call
/// once a stop has completed goes on to the general path, which validates
/// and then refuses (`accepting`) as it always did. Out of line, so that the
/// other branches of `emit` keep their registers.
#[inline(never)]
fn emit_folded_count(
    shared: &Shared,
    name: &str,
    n: i64,
    tags: &[(&str, &str)],
) -> Result<(), Error> {
    if let Some(aggregator) = &shared.aggregator {
        if !shared.queue.is_closed() && aggregator.add_count_fast(name, tags, n) {
            return Ok(());
        }
    }
    let (value, kind) = (Value::Int(n), MetricType::Counter);
    emit_general(shared, name, value, kind, Sampling::Every, tags)
}

/// [`emit`] for a plain line of a float or a duration (a gauge, a timing, a
/// histogram without tags or rate), written in place like an integer's,
/// and inlined like it: where the verb is known, so is the value's kind,
/// and the other kinds' branches fall away. What it does not take (a value
/// that needs an exponent, a line near the length limit) goes on to the
/// general path.
#[inline(always)]
fn emit_plain(
    shared: &Shared,
    name: &str,
    value: Value<'_>,
    kind: MetricType,
) -> Result<(), Error> {
    let checked = validate::name(name, shared.format.name_overhead(kind));
    if let Err(error) = checked {
        return Err(rejected(shared, error));
    }
    if let Some(room) = shared.format.plain_bound(name, kind) {
        let write = PlainLine {
            shared,
            name,
            value,
            kind,
        };
        let published = shared.publish(1, Tally::of(kind), InPlace::new(room, write));
        if let Some(answer) = published.settled() {
            return answer;
        }
    }
    emit_general(shared, name, value, kind, Sampling::Every, &[])
}

/// The plain line's writer of a float or a duration (see [`IntLine`]).
struct PlainLine<'a> {
    shared: &'a Shared,
    name: &'a str,
    value: Value<'a>,
    kind: MetricType,
}

impl FillLine for PlainLine<'_> {
    #[inline(always)]
    fn fill(self, out: &mut [u8]) -> usize {
        (self.shared.format).write_plain(out, self.name, self.value, self.kind)
    }
}

/// [`emit`] for a line with the call's own tags, written in place
/// (DogStatsD: the tags go between the frame's global tags and its origin
/// fields) and its tags checked as written. What it does not take (another
/// dialect, a tag that is not plain bytes, a value that needs an exponent)
/// goes on to the general path, which checks exactly, in order. Inlined,
/// like [`emit_plain`]: out of line, the call, its seven arguments and
/// their spills cost a tagged `incr` about 40 instructions, and inside the
/// caller the value's kind is known and a literal name is checked by the
/// compiler.
#[inline(always)]
fn emit_tagged(
    shared: &Shared,
    name: &str,
    value: Value<'_>,
    kind: MetricType,
    tags: &[(&str, &str)],
) -> Result<(), Error> {
    if let Some(room) = shared.format.tagged_bound(name, kind, tags) {
        let checked = validate::name(name, shared.format.name_overhead(kind));
        if let Err(error) = checked {
            return Err(rejected(shared, error));
        }
        let format = &shared.format;
        let write = InPlace {
            room,
            write: TaggedLine {
                shared,
                name,
                value,
                kind,
                tags,
                room,
            },
            // A full queue: the tags must still be good for it to count a
            // drop (else the general path refuses them).
            valid: move || validate::tags(tags, format.tag_format()).is_ok(),
        };
        if let Some(answer) = shared.publish(1, Tally::of(kind), write).settled() {
            return answer;
        }
    }
    emit_general(shared, name, value, kind, Sampling::Every, tags)
}

/// The writer of a line with the call's own tags (see [`IntLine`]). Made
/// only by [`emit_tagged`], with the room `tagged_bound` measured for its
/// very name, type and tags, and given to `InPlace` with that room.
struct TaggedLine<'a> {
    shared: &'a Shared,
    name: &'a str,
    value: Value<'a>,
    kind: MetricType,
    tags: &'a [(&'a str, &'a str)],
    room: usize,
}

impl FillLine for TaggedLine<'_> {
    #[inline(always)]
    fn fill(self, out: &mut [u8]) -> usize {
        let TaggedLine {
            name,
            value,
            kind,
            tags,
            room,
            ..
        } = self;
        // SAFETY: `room` is `tagged_bound`'s for these fields (see the
        // type), and `InPlace` hands `fill` at least `room` bytes.
        unsafe { (self.shared.format).write_tagged(out, name, value, kind, tags, room) }
    }
}

/// [`emit`] for every call but the plain integer line: out of line, so that
/// the fast branch above stays small enough to inline into each call site.
#[inline(never)]
fn emit_general(
    shared: &Shared,
    name: &str,
    value: Value<'_>,
    kind: MetricType,
    sampling: Sampling,
    tags: &[(&str, &str)],
) -> Result<(), Error> {
    let rate = sampling.rate();
    let mut metric = MetricLine {
        sample_rate: rate,
        tags,
        ..MetricLine::new(name, value, kind)
    };
    check(shared, &metric)?;
    if sampling.drops_this_call() {
        return Ok(());
    }
    let tags = capped(shared, name, tags);
    metric.tags = tags;
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
    push_line(shared, &metric)
}

/// The DogStatsD fields a scope adds to its calls.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallFields {
    /// `|T` (v1.3): when the value was measured.
    pub(crate) timestamp: Option<SystemTime>,
    /// `|card:` (v1.6) for this call.
    pub(crate) cardinality: Option<Cardinality>,
}

/// [`emit`] for a call with DogStatsD fields: refused unless the server is
/// declared DogStatsD; a timestamp only on gauges and counts, and such a call
/// bypasses aggregation (its time is its own, not the flush's).
#[allow(clippy::too_many_arguments)]
pub(crate) fn emit_with(
    shared: &Shared,
    name: &str,
    value: Value<'_>,
    kind: MetricType,
    sampling: Sampling,
    tags: &[(&str, &str)],
    fields: CallFields,
) -> Result<(), Error> {
    if !shared.config.enabled {
        return Ok(());
    }
    let extras = match call_extras(shared, kind, fields) {
        Ok(extras) => extras,
        Err(error) => return Err(rejected(shared, error)),
    };
    let metric = MetricLine {
        sample_rate: sampling.rate(),
        tags,
        extras,
        ..MetricLine::new(name, value, kind)
    };
    check(shared, &metric)?;
    if sampling.drops_this_call() {
        return Ok(());
    }
    let metric = MetricLine {
        tags: capped(shared, name, tags),
        ..metric
    };
    // A timestamp is the call's own time, not the flush's, and aggregation
    // keeps only the connector's cardinality: either way, straight to the
    // queue, never through the aggregation tables.
    push_line(shared, &metric)
}

/// Checks a call's DogStatsD fields and turns them into what the formatter
/// writes.
fn call_extras(shared: &Shared, kind: MetricType, fields: CallFields) -> Result<Extras, Error> {
    if !shared.config.is_dogstatsd() {
        return Err(Error::from(ErrorKind::NotDogStatsd(
            "a timestamp or cardinality",
        )));
    }
    let timestamp = match fields.timestamp {
        None => None,
        Some(_) if !matches!(kind, MetricType::Counter | MetricType::Gauge) => {
            return Err(Error::from(ErrorKind::InvalidField {
                field: "timestamp",
                value: kind.to_string(),
                reason: Reason::Expected("a gauge or a count (only they carry a timestamp)"),
            }));
        }
        Some(when) => match when.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(since) => Some(since.as_secs()),
            Err(_) => {
                return Err(Error::from(ErrorKind::InvalidField {
                    field: "timestamp",
                    value: format!("{when:?}"),
                    reason: Reason::OutOfRange,
                }))
            }
        },
    };
    Ok(Extras {
        timestamp,
        cardinality: fields.cardinality,
    })
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
    push_line(shared, &MetricLine::new(name, value, kind))
}

/// Queues a prepared integer line (a [`Counter`](crate::Counter) handle's
/// name, checked and written once) with `value`. A disabled connector's
/// handle has no prepared line, so there is no check for it here.
#[inline(always)]
pub(crate) fn emit_prepared(shared: &Shared, line: &PreparedInt, value: i64) -> Result<(), Error> {
    let write = PreparedLine { line, value };
    let published = shared.publish(
        1,
        Tally::of(MetricType::Counter),
        InPlace::new(line.room(), write),
    );
    // The prepared line is always written.
    published.settled().unwrap_or(Ok(()))
}

/// The tags a call is sent with under [`Builder::max_tag_sets`](crate::Builder::max_tag_sets):
/// its own, or the overflow tag when its name has as many other tag sets in
/// this window as the cap allows (counted and logged, throttled). Off, one
/// branch: the rest is out of line.
#[inline(always)]
pub(crate) fn capped<'a>(
    shared: &Shared,
    name: &str,
    tags: &'a [(&'a str, &'a str)],
) -> &'a [(&'a str, &'a str)] {
    match &shared.guard {
        None => tags,
        Some(guard) => guarded(shared, guard, name, tags),
    }
}

/// [`capped`] with the cap on.
#[inline(never)]
fn guarded<'a>(
    shared: &Shared,
    guard: &TagSetGuard,
    name: &str,
    tags: &'a [(&'a str, &'a str)],
) -> &'a [(&'a str, &'a str)] {
    if guard.admit(name, tags) {
        return tags;
    }
    shared.ledger.tag_set_overflow();
    guard.overflowed(name);
    OVERFLOW_TAGS
}

/// Counts a refused call and passes its error on.
#[cold]
pub(crate) fn rejected(shared: &Shared, error: Error) -> Error {
    shared.ledger.rejected();
    error
}

/// Formats one metric (with its extras) into the queue.
#[inline]
fn push_line(shared: &Shared, metric: &MetricLine<'_>) -> Result<(), Error> {
    // A negative absolute gauge is two lines, pushed at once so that both
    // travel in the same write or datagram.
    let lines = LineFormat::lines_for(metric.kind, metric.value);
    let write = Measured(|buf: &mut Vec<u8>| shared.format.write_metric(buf, metric));
    // A line too long is counted as rejected where it is refused.
    shared
        .publish(lines, Tally::of(metric.kind), write)
        .into_result()
}
