//! Client-side aggregation (opt-in): fold many data points into one line per
//! name and tag set per flush interval.
//!
//! - Counters are summed. Each thread adds into its own cell per name and
//!   tag set, found through a thread-local cache without a lock (see
//!   `counters`): a call costs at most a hash, a probe and an atomic add
//!   (a call site whose strings stay put skips the hash), and takes a lock
//!   only the first time its thread counts that context (or again after the
//!   context was idle for a whole interval). The caller's fast branch
//!   (`caller::emit`) tries that cache before it validates anything, for
//!   unsampled integer counters without the tag-set cap, unless a stop has
//!   completed (then the general path validates and refuses, as before: one
//!   relaxed load on the fast branch). Everything else (gauges, sets, packed
//!   samples, text values, and every call under the tag-set cap, which must
//!   keep seeing each tag set) takes the general path: validated, then
//!   folded under these tables' mutexes (counters into the same cells). A
//!   [`Counter`](crate::Counter) handle goes further: its name is checked
//!   once and each increment is one atomic add on the caller's stripe (a
//!   [`CounterCell`], striped by the thread's home index).
//! - Gauges keep the last value; deltas after it are added to it, deltas with
//!   no value since the last flush are sent as one delta.
//! - Sets keep each distinct member once.
//! - Values given as text (`send_line`, `inject_metric`) are folded like the
//!   typed ones: a gauge's `+1` is a delta, `10` a value, a counter's `3` an
//!   integer. Without that, a text gauge would pass straight to the queue
//!   while the numeric ones before it wait for the flush, and the server
//!   would see one thread's gauge operations out of order. (A text gauge is
//!   read as an `f64`, as statsd servers read it.) Counters with a
//!   fractional text value pass through: sums do not care about order.
//!
//! Overflow: a counter sum never wraps and never saturates. The flush sums
//! in `i128` (2^64 additions of `i64::MAX` would be needed to reach its
//! limit, where it saturates), and a sum beyond `i64` is sent as several
//! lines, each within `i64` (the server adds them up), at most
//! [`MAX_SPLIT`] per name and tag set per flush. A thread's context cell
//! (`counters`) and a [`CounterCell`] keep an `i64`, added by
//! compare-exchange: an addition that would overflow moves the `i64`'s sum
//! into the cell's `i128` spill (under a mutex the flush also takes, so no
//! flush sees half of it) and starts the `i64` again. The spill is taken at
//! the next flush.
//!
//! Non-finite gauges: a gauge call whose delta would make the aggregate
//! infinite (`f64::MAX` twice) is refused, counted as rejected, and leaves
//! the aggregate as it was. The flush checks every gauge again before it is
//! written: what is not finite is not sent, but counted (the flush returns
//! the count, for the ledger's `rejected`) and logged, throttled.
//! Timings, histograms and distributions are not aggregated for a plain
//! statsd server: they pass straight to the queue, because the server
//! computes their percentiles. For a server declared DogStatsD (protocol
//! v1.1, Agent 6.25 / 7.25 and later), they are packed instead: the values of
//! one name, type and tag set in an interval go out as one line
//! `name:v1:v2:…|d`, split across lines only at value boundaries. At most
//! `max_samples` values are kept per context (a uniform reservoir sample
//! past that), and the line then carries the matching `|@rate`, so the Agent
//! scales the counts back up. Sampled calls (a rate below 1) pass through.
//!
//! The processor flushes every interval and once more when it stops, before
//! it drains, so nothing aggregated dies with the process.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use hashbrown::HashMap;

mod by_name;
mod counters;

use by_name::{merge_sum, slot, ByName, OwnedTags};
use counters::Counters;

use super::home::home_index;
use super::mutex::lock;
use super::random;
use super::throttle::Throttle;
use crate::error::{Error, ErrorKind};
use crate::wire::metric::{MetricType, Value};

/// The most lines one counter sum is split into at a flush (what is beyond
/// is refused and counted; unreachable without 2^20 additions of `i64::MAX`
/// in one interval).
pub(crate) const MAX_SPLIT: usize = 1 << 20;

/// A gauge's state within one interval.
#[derive(Debug, Clone, Copy, Default)]
struct GaugeState {
    /// The last absolute value set, if any.
    value: Option<f64>,
    /// The sum of deltas since (or, with no value, in this interval).
    delta: f64,
}

/// One handle counter's stripes.
#[derive(Debug, Default)]
#[repr(align(128))]
struct AtomicStripe(AtomicI64);

/// The running sum of one [`Counter`](crate::Counter) handle in aggregating
/// mode, striped per thread.
#[derive(Debug)]
pub(crate) struct CounterCell {
    name: Box<str>,
    stripes: Box<[AtomicStripe]>,
    /// What the stripes could not hold without overflowing, until the next
    /// flush; the flush holds this lock while it takes the stripes.
    spilled: Mutex<i128>,
}

/// The values of one timing, histogram or distribution context in an
/// interval, for a packed line.
#[derive(Debug, Default)]
struct Samples {
    /// The values kept (all of them, up to the limit; then a uniform sample).
    values: Vec<f64>,
    /// How many values were added in the interval.
    seen: u64,
}

impl Samples {
    /// Keeps `value`: appended below the limit, then by reservoir sampling
    /// (each of the `seen` values is kept with probability `limit / seen`).
    fn add(&mut self, value: f64, limit: usize) {
        self.seen += 1;
        if self.values.len() < limit {
            self.values.push(value);
        } else {
            let slot = random::below(self.seen);
            if let Some(kept) = self.values.get_mut(slot as usize) {
                *kept = value;
            }
        }
    }

    /// The rate the kept values stand for.
    fn rate(&self) -> f64 {
        if self.seen as usize <= self.values.len() {
            1.0
        } else {
            self.values.len() as f64 / self.seen as f64
        }
    }
}

/// One aggregate as the flush hands it over.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Aggregate<'a> {
    /// One value, for one line (or the gauge reset pair).
    One(Value<'a>),
    /// Several values of a timing, histogram or distribution, packed into as
    /// few lines as the length limit allows, marked with `rate`.
    Packed {
        /// The values, in the order kept.
        values: &'a [f64],
        /// The sample rate they stand for (1: every value).
        rate: f64,
    },
}

/// The aggregation tables of one connector.
#[derive(Debug)]
pub(crate) struct Aggregator {
    /// The counters' cells, per thread and context.
    counters: Counters,
    /// How many stripes a [`CounterCell`] has.
    handle_stripes: usize,
    gauges: Mutex<ByName<GaugeState>>,
    sets: Mutex<ByName<HashSet<Box<str>>>>,
    /// Timing, histogram and distribution values per context, when packing
    /// is on (DogStatsD), with the most values kept per context.
    samples: Option<(Mutex<ByName<[Samples; 3]>>, usize)>,
    handles: Mutex<Vec<Arc<CounterCell>>>,
    /// The streak of values the flush could not write, for the warning.
    refusals: Throttle,
}

/// What [`Aggregator::add`] did with a data point.
#[derive(Debug)]
pub(crate) enum Folded {
    /// Folded into the tables.
    Yes,
    /// Not aggregated (the caller queues it as a line).
    No,
    /// Refused: folding it would make the aggregate unwritable.
    Refused(Error),
}

/// Where a packed type's samples live in a context's `[Samples; 3]`.
fn packed_index(kind: MetricType) -> Option<usize> {
    match kind {
        MetricType::Timing => Some(0),
        MetricType::Histogram => Some(1),
        MetricType::Distribution => Some(2),
        _ => None,
    }
}

/// The packed types, in `packed_index` order.
const PACKED: [MetricType; 3] = [
    MetricType::Timing,
    MetricType::Histogram,
    MetricType::Distribution,
];

impl Aggregator {
    /// Tables for `stripes` threads' worth of counter handles; `max_samples` turns
    /// packing on (DogStatsD servers only) with that many values kept per
    /// context and interval.
    pub(crate) fn new(stripes: usize, max_samples: Option<usize>) -> Aggregator {
        Aggregator {
            counters: Counters::default(),
            handle_stripes: stripes.max(1),
            gauges: Mutex::default(),
            sets: Mutex::default(),
            samples: max_samples.map(|limit| (Mutex::default(), limit.max(1))),
            handles: Mutex::default(),
            refusals: Throttle::default(),
        }
    }

    /// Folds one (validated) data point in; [`Folded::No`] for what is not
    /// aggregated (the caller queues those as lines).
    #[inline]
    pub(crate) fn add(
        &self,
        name: &str,
        value: Value<'_>,
        kind: MetricType,
        tags: &[(&str, &str)],
    ) -> Folded {
        match (kind, value) {
            (MetricType::Counter, Value::Int(n)) => self.counters.add(name, tags, n),
            (MetricType::Counter | MetricType::Gauge, Value::Text(text)) => {
                return match typed(kind, text) {
                    Some(value) => self.add(name, value, kind, tags),
                    None => Folded::No,
                };
            }
            (MetricType::Gauge, Value::Float(v)) => {
                *slot(&mut lock(&self.gauges), name, tags, GaugeState::default) = GaugeState {
                    value: Some(v),
                    delta: 0.0,
                };
            }
            (MetricType::Gauge, Value::Delta(d)) => {
                let mut gauges = lock(&self.gauges);
                let gauge = slot(&mut gauges, name, tags, GaugeState::default);
                let delta = gauge.delta + d;
                if !delta.is_finite() || !gauge.value.is_none_or(|v| (v + delta).is_finite()) {
                    return Folded::Refused(Error::from(ErrorKind::InvalidValue {
                        value: d.to_string(),
                        reason: "the aggregated gauge would not be a finite number",
                    }));
                }
                gauge.delta = delta;
            }
            (MetricType::Set, Value::Text(member)) => {
                let mut sets = lock(&self.sets);
                let members = slot(&mut sets, name, tags, HashSet::new);
                if !members.contains(member) {
                    members.insert(member.into());
                }
            }
            (MetricType::Timing | MetricType::Histogram | MetricType::Distribution, value) => {
                let (Some((samples, limit)), Some(index)) = (&self.samples, packed_index(kind))
                else {
                    return Folded::No;
                };
                let number = match value {
                    Value::Float(f) => f,
                    Value::Int(n) => n as f64,
                    Value::Duration(d) => d.as_secs_f64() * 1000.0,
                    Value::Text(text) => match text.parse::<f64>() {
                        Ok(f) if f.is_finite() => f,
                        _ => return Folded::No,
                    },
                    Value::Delta(_) => return Folded::No,
                };
                let mut samples = lock(samples);
                slot(&mut samples, name, tags, Default::default)[index].add(number, *limit);
            }
            _ => return Folded::No,
        }
        Folded::Yes
    }

    /// The caller's fast branch for an unsampled integer counter: adds `n`
    /// to `(name, tags)` without a lock when this thread has counted that
    /// context on this connector before (so it was validated then). `false`:
    /// not seen (or idle since), nothing added; the call takes the general
    /// path, which validates it and folds it with [`Aggregator::add`]
    /// (registering the context for the next call).
    #[inline]
    pub(crate) fn add_count_fast(&self, name: &str, tags: &[(&str, &str)], n: i64) -> bool {
        self.counters.add_cached(name, tags, n)
    }

    /// A counter cell for `name` (no tags), registered for flushing.
    pub(crate) fn counter_cell(&self, name: &str) -> Arc<CounterCell> {
        let cell = Arc::new(CounterCell {
            name: name.into(),
            stripes: (0..self.handle_stripes)
                .map(|_| AtomicStripe::default())
                .collect(),
            spilled: Mutex::new(0),
        });
        lock(&self.handles).push(cell.clone());
        cell
    }

    /// Hands every aggregate to `write` (name, tags, value, type) and starts
    /// a new interval. Returns how many aggregates could not be written (not
    /// finite, or a sum beyond [`MAX_SPLIT`] lines): the caller counts them
    /// as rejected.
    pub(crate) fn flush(
        &self,
        mut write: impl FnMut(&str, &[(&str, &str)], MetricType, Aggregate<'_>),
    ) -> u64 {
        let mut refused = 0;
        let mut sums: ByName<i128> = HashMap::default();
        self.counters.flush_into(&mut sums);
        for cell in lock(&self.handles).iter() {
            let mut spilled = lock(&cell.spilled);
            let n = cell
                .stripes
                .iter()
                .fold(std::mem::take(&mut *spilled), |sum, stripe| {
                    sum.saturating_add(i128::from(stripe.0.swap(0, Relaxed)))
                });
            drop(spilled);
            if n != 0 {
                merge_sum(&mut sums, &cell.name, &OwnedTags::default(), n);
            }
        }
        let gauges = std::mem::take(&mut *lock(&self.gauges));
        let sets = std::mem::take(&mut *lock(&self.sets));
        let samples =
            (self.samples.as_ref()).map(|(samples, _)| std::mem::take(&mut *lock(samples)));

        let mut emit_any =
            |name: &str, tags: &OwnedTags, kind: MetricType, aggregate: Aggregate<'_>| {
                let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (&**k, &**v)).collect();
                write(name, &tags, kind, aggregate);
            };
        let mut emit = |name: &str, tags: &OwnedTags, value: Value<'_>, kind: MetricType| {
            emit_any(name, tags, kind, Aggregate::One(value));
        };
        for (name, entries) in &sums {
            for (tags, n) in entries {
                let mut rest = *n;
                let mut lines = 0;
                while rest != 0 && lines < MAX_SPLIT {
                    let part = rest.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
                    emit(name, tags, Value::Int(part), MetricType::Counter);
                    rest -= i128::from(part);
                    lines += 1;
                }
                if rest != 0 {
                    refused += 1;
                    self.refuse(name, "counter sum too large to send", rest as f64);
                }
            }
        }
        for (name, entries) in &gauges {
            for (tags, gauge) in entries {
                let (value, number) = match gauge.value {
                    Some(v) => (Value::Float(v + gauge.delta), v + gauge.delta),
                    None => (Value::Delta(gauge.delta), gauge.delta),
                };
                if number.is_finite() {
                    emit(name, tags, value, MetricType::Gauge);
                } else {
                    refused += 1;
                    self.refuse(name, "aggregated gauge not finite", number);
                }
            }
        }
        for (name, entries) in &sets {
            for (tags, members) in entries {
                for member in members {
                    emit(name, tags, Value::Text(member), MetricType::Set);
                }
            }
        }
        for (name, entries) in samples.iter().flatten() {
            for (tags, by_kind) in entries {
                for (kind, samples) in PACKED.into_iter().zip(by_kind) {
                    if !samples.values.is_empty() {
                        let aggregate = Aggregate::Packed {
                            values: &samples.values,
                            rate: samples.rate(),
                        };
                        emit_any(name, tags, kind, aggregate);
                    }
                }
            }
        }
        refused
    }

    /// Logs (throttled) an aggregate the flush could not write.
    #[cold]
    fn refuse(&self, name: &str, what: &'static str, value: f64) {
        if let Some(n) = self.refusals.record() {
            tracing::warn!(
                metric = name,
                value,
                refused_so_far = n,
                "statsd aggregation: {what}, not sent (counted as rejected)"
            );
        }
    }
}

/// A counter's or gauge's text value (already validated for its type) as
/// the typed value the aggregator folds: `None` for a fractional counter.
fn typed(kind: MetricType, text: &str) -> Option<Value<'static>> {
    match kind {
        MetricType::Counter => text.parse().ok().map(Value::Int),
        MetricType::Gauge => {
            let number: f64 = text.parse().ok().filter(|f: &f64| f.is_finite())?;
            Some(if text.starts_with(['+', '-']) {
                Value::Delta(number)
            } else {
                Value::Float(number)
            })
        }
        _ => None,
    }
}

impl CounterCell {
    /// Adds `n` on the calling thread's stripe; never wraps (see the module
    /// documentation).
    #[inline]
    pub(crate) fn add(&self, n: i64) {
        let stripe = &self.stripes[home_index() % self.stripes.len()].0;
        let mut current = stripe.load(Relaxed);
        loop {
            let Some(sum) = current.checked_add(n) else {
                return self.spill(stripe, n);
            };
            match stripe.compare_exchange_weak(current, sum, Relaxed, Relaxed) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// The stripe would overflow: its sum moves to the spill and the stripe
    /// starts again from `n`, both under the lock the flush takes.
    #[cold]
    fn spill(&self, stripe: &AtomicI64, n: i64) {
        let mut spilled = lock(&self.spilled);
        let held = stripe.swap(n, Relaxed);
        *spilled = spilled.saturating_add(i128::from(held));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::format::{LineFormat, MetricLine};
    use crate::wire::metric::TagFormat;

    fn flushed(aggregator: &Aggregator) -> Vec<String> {
        flushed_with(aggregator, 8192)
    }

    fn flushed_with(aggregator: &Aggregator, max_line: usize) -> Vec<String> {
        let format = LineFormat::new(None, false, TagFormat::DogStatsd, &[], max_line);
        let mut buf = Vec::new();
        aggregator.flush(|name, tags, kind, aggregate| match aggregate {
            Aggregate::One(value) => {
                let metric = MetricLine {
                    tags,
                    ..MetricLine::new(name, value, kind)
                };
                format.write_metric(&mut buf, &metric).unwrap();
            }
            Aggregate::Packed { values, rate } => {
                let mut rest = values;
                while !rest.is_empty() {
                    let written = format
                        .write_packed(&mut buf, name, kind, rest, rate, tags)
                        .unwrap();
                    rest = &rest[written..];
                }
            }
        });
        let text = String::from_utf8(buf).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        lines.sort();
        lines
    }

    #[test]
    fn counters_sum_per_name_and_tag_set() {
        let a = Aggregator::new(4, None);
        for _ in 0..10 {
            a.add("hits", Value::Int(2), MetricType::Counter, &[]);
        }
        a.add("hits", Value::Int(1), MetricType::Counter, &[("k", "v")]);
        a.add("zero", Value::Int(1), MetricType::Counter, &[]);
        a.add("zero", Value::Int(-1), MetricType::Counter, &[]);
        assert_eq!(flushed(&a), ["hits:1|c|#k:v", "hits:20|c"]);
        assert!(flushed(&a).is_empty(), "a flush starts a new interval");
    }

    #[test]
    fn gauges_keep_the_last_value_plus_later_deltas() {
        let a = Aggregator::new(1, None);
        a.add("g", Value::Float(5.0), MetricType::Gauge, &[]);
        a.add("g", Value::Float(7.0), MetricType::Gauge, &[]);
        a.add("g", Value::Delta(2.0), MetricType::Gauge, &[]);
        a.add("d", Value::Delta(-3.0), MetricType::Gauge, &[]);
        a.add("d", Value::Delta(1.0), MetricType::Gauge, &[]);
        a.add("n", Value::Float(-4.0), MetricType::Gauge, &[]);
        assert_eq!(flushed(&a), ["d:-2|g", "g:9|g", "n:-4|g", "n:0|g"]);
    }

    #[test]
    fn sets_keep_each_member_once_and_timings_pass_through() {
        let a = Aggregator::new(1, None);
        for member in ["a", "b", "a", "a"] {
            a.add("s", Value::Text(member), MetricType::Set, &[]);
        }
        assert!(matches!(
            a.add("t", Value::Int(5), MetricType::Timing, &[]),
            Folded::No
        ));
        assert_eq!(flushed(&a), ["s:a|s", "s:b|s"]);
    }

    fn counter_total(lines: &[String], name: &str) -> i128 {
        lines
            .iter()
            .filter_map(|l| l.strip_prefix(&format!("{name}:")))
            .map(|v| v.strip_suffix("|c").unwrap().parse::<i64>().unwrap() as i128)
            .sum()
    }

    #[test]
    fn counter_sums_never_wrap_they_split_into_lines() {
        let a = Aggregator::new(2, None);
        a.add("n", Value::Int(i64::MAX), MetricType::Counter, &[]);
        a.add("n", Value::Int(i64::MAX), MetricType::Counter, &[]);
        a.add("m", Value::Int(i64::MIN), MetricType::Counter, &[]);
        a.add("m", Value::Int(-1), MetricType::Counter, &[]);
        let lines = flushed(&a);
        assert_eq!(counter_total(&lines, "n"), 2 * i128::from(i64::MAX));
        assert_eq!(counter_total(&lines, "m"), i128::from(i64::MIN) - 1);
        assert!(lines
            .iter()
            .all(|l| !l.contains("n:-") && !l.contains("m:+")));
    }

    #[test]
    fn counter_cells_never_wrap_they_spill() {
        let a = Aggregator::new(1, None);
        let cell = a.counter_cell("h");
        cell.add(i64::MAX);
        cell.add(i64::MAX);
        cell.add(3);
        let lines = flushed(&a);
        assert_eq!(counter_total(&lines, "h"), 2 * i128::from(i64::MAX) + 3);
        cell.add(i64::MIN);
        cell.add(-1);
        assert_eq!(counter_total(&flushed(&a), "h"), i128::from(i64::MIN) - 1);
        assert!(flushed(&a).is_empty());
    }

    #[test]
    fn gauges_that_would_become_infinite_are_refused_and_never_flushed() {
        let a = Aggregator::new(1, None);
        a.add("d", Value::Delta(f64::MAX), MetricType::Gauge, &[]);
        assert!(matches!(
            a.add("d", Value::Delta(f64::MAX), MetricType::Gauge, &[]),
            Folded::Refused(_)
        ));
        a.add("g", Value::Float(f64::MAX), MetricType::Gauge, &[]);
        assert!(matches!(
            a.add("g", Value::Delta(f64::MAX), MetricType::Gauge, &[]),
            Folded::Refused(_)
        ));
        let lines = flushed(&a);
        assert!(lines
            .iter()
            .all(|l| !l.contains("inf") && !l.contains("NaN")));
        assert_eq!(lines.len(), 2, "{lines:?}");
    }

    #[test]
    fn the_flush_counts_non_finite_gauges_instead_of_writing_them() {
        let a = Aggregator::new(1, None);
        // Past the add-time check (as a future path might be).
        slot(&mut lock(&a.gauges), "x", &[], GaugeState::default).delta = f64::INFINITY;
        a.add("ok", Value::Float(1.0), MetricType::Gauge, &[]);
        let mut written = Vec::new();
        let refused = a.flush(|name, _, _, _| written.push(name.to_owned()));
        assert_eq!((refused, written), (1, vec!["ok".to_owned()]));
    }

    #[test]
    fn text_gauges_and_counters_fold_in_order_with_numeric_ones() {
        let a = Aggregator::new(1, None);
        a.add("g", Value::Float(10.0), MetricType::Gauge, &[]);
        assert!(matches!(
            a.add("g", Value::Text("+1"), MetricType::Gauge, &[]),
            Folded::Yes
        ));
        a.add("g", Value::Text("+2"), MetricType::Gauge, &[]);
        a.add("h", Value::Text("-2.5"), MetricType::Gauge, &[]);
        a.add("v", Value::Text("7"), MetricType::Gauge, &[]);
        a.add("c", Value::Text("4"), MetricType::Counter, &[]);
        a.add("c", Value::Int(1), MetricType::Counter, &[]);
        assert!(matches!(
            a.add("f", Value::Text("2.5"), MetricType::Counter, &[]),
            Folded::No
        ));
        assert_eq!(flushed(&a), ["c:5|c", "g:13|g", "h:-2.5|g", "v:7|g"]);
    }

    proptest::proptest! {
        #[test]
        fn any_counter_additions_flush_to_their_exact_sum(
            adds in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::num::i64::ANY,
                    proptest::strategy::Just(i64::MAX),
                    proptest::strategy::Just(i64::MIN),
                ],
                0..40,
            ),
        ) {
            let a = Aggregator::new(3, None);
            let cell = a.counter_cell("cell");
            for &n in &adds {
                a.add("sum", Value::Int(n), MetricType::Counter, &[]);
                cell.add(n);
            }
            let lines = flushed(&a);
            let expected: i128 = adds.iter().map(|&n| i128::from(n)).sum();
            proptest::prop_assert_eq!(counter_total(&lines, "sum"), expected);
            proptest::prop_assert_eq!(counter_total(&lines, "cell"), expected);
        }

        #[test]
        fn any_mix_of_typed_and_text_gauge_calls_folds_in_call_order(
            ops in proptest::collection::vec((0u8..4, -1000i32..1000), 1..30),
        ) {
            // The order class: a value set then adjusted must end as a
            // server applying the calls in order would, whichever call form
            // (typed, or text as send_line and inject_metric give it) made
            // each one. Integers keep the sums exact.
            let a = Aggregator::new(1, None);
            let (mut value, mut delta): (Option<f64>, f64) = (None, 0.0);
            for &(form, n) in &ops {
                let v = f64::from(n);
                let text;
                let folded = match form {
                    0 => a.add("g", Value::Float(v), MetricType::Gauge, &[]),
                    1 => a.add("g", Value::Delta(v), MetricType::Gauge, &[]),
                    2 => {
                        // An absolute text gauge has no sign (a sign means a delta).
                        text = n.unsigned_abs().to_string();
                        a.add("g", Value::Text(&text), MetricType::Gauge, &[])
                    }
                    _ => {
                        text = if n >= 0 { format!("+{n}") } else { n.to_string() };
                        a.add("g", Value::Text(&text), MetricType::Gauge, &[])
                    }
                };
                proptest::prop_assert!(matches!(folded, Folded::Yes));
                match form {
                    0 => (value, delta) = (Some(v), 0.0),
                    2 => (value, delta) = (Some(f64::from(n.unsigned_abs())), 0.0),
                    _ => delta += v,
                }
            }
            let mut written = Vec::new();
            a.flush(|_, _, _, aggregate| written.push(match aggregate {
                Aggregate::One(Value::Float(f)) => (true, f),
                Aggregate::One(Value::Delta(d)) => (false, d),
                other => panic!("{other:?}"),
            }));
            let expected = match value {
                Some(v) => (true, v + delta),
                None => (false, delta),
            };
            proptest::prop_assert_eq!(written, vec![expected]);
        }

        #[test]
        fn no_gauge_sequence_flushes_a_non_finite_value(
            ops in proptest::collection::vec(
                (proptest::bool::ANY, proptest::prop_oneof![
                    proptest::num::f64::NORMAL,
                    proptest::strategy::Just(f64::MAX),
                    proptest::strategy::Just(-f64::MAX),
                ]),
                1..20,
            ),
        ) {
            let a = Aggregator::new(1, None);
            // The model: what a server would hold after the accepted calls.
            let mut model: Option<f64> = None;
            let mut delta = 0.0;
            for &(absolute, v) in &ops {
                if absolute {
                    a.add("g", Value::Float(v), MetricType::Gauge, &[]);
                    model = Some(v);
                    delta = 0.0;
                } else if matches!(a.add("g", Value::Delta(v), MetricType::Gauge, &[]), Folded::Yes) {
                    delta += v;
                }
            }
            let mut written = Vec::new();
            let refused = a.flush(|_, _, _, value| {
                written.push(match value {
                    Aggregate::One(Value::Float(f)) => (true, f),
                    Aggregate::One(Value::Delta(d)) => (false, d),
                    other => panic!("{other:?}"),
                })
            });
            proptest::prop_assert_eq!(refused, 0);
            proptest::prop_assert_eq!(written.len(), 1);
            let (absolute, got) = written[0];
            proptest::prop_assert_eq!(absolute, model.is_some());
            proptest::prop_assert!(got.is_finite());
            proptest::prop_assert_eq!(got, model.unwrap_or(0.0) + delta);
        }
    }

    #[test]
    fn packing_puts_one_contexts_values_on_one_line_per_type() {
        let a = Aggregator::new(1, Some(100));
        for ms in [1, 2, 3] {
            let d = std::time::Duration::from_millis(ms);
            a.add("t", Value::Duration(d), MetricType::Timing, &[]);
        }
        a.add(
            "d",
            Value::Float(0.5),
            MetricType::Distribution,
            &[("k", "v")],
        );
        a.add(
            "d",
            Value::Float(1.5),
            MetricType::Distribution,
            &[("k", "v")],
        );
        a.add(
            "d",
            Value::Text("2"),
            MetricType::Distribution,
            &[("k", "v")],
        );
        a.add("t", Value::Float(4.0), MetricType::Histogram, &[]);
        assert_eq!(flushed(&a), ["d:0.5:1.5:2|d|#k:v", "t:1:2:3|ms", "t:4|h"]);
        assert!(flushed(&a).is_empty(), "a flush starts a new interval");
    }

    #[test]
    fn packed_lines_split_at_value_boundaries_within_the_limit() {
        let a = Aggregator::new(1, Some(1000));
        for n in 0..100 {
            a.add("h", Value::Int(n), MetricType::Histogram, &[]);
        }
        let lines = flushed_with(&a, 40);
        assert!(lines.len() > 1, "{lines:?}");
        let mut values = Vec::new();
        for line in &lines {
            assert!(line.len() < 40, "{line:?}");
            let body = line.strip_prefix("h:").unwrap().strip_suffix("|h").unwrap();
            values.extend(body.split(':').map(|v| v.parse::<i64>().unwrap()));
        }
        values.sort_unstable();
        assert_eq!(values, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn past_the_limit_a_uniform_sample_is_kept_with_its_rate() {
        let a = Aggregator::new(1, Some(10));
        for n in 0..40 {
            a.add("d", Value::Int(n), MetricType::Distribution, &[]);
        }
        let lines = flushed(&a);
        assert_eq!(lines.len(), 1);
        let (values, rate) = lines[0].split_once("|d|@").unwrap();
        assert_eq!(rate, "0.25");
        let kept: Vec<i64> = values[2..].split(':').map(|v| v.parse().unwrap()).collect();
        assert_eq!(kept.len(), 10);
        assert!(kept.iter().all(|v| (0..40).contains(v)));
    }

    #[test]
    fn without_packing_timings_pass_through() {
        let a = Aggregator::new(1, None);
        assert!(matches!(
            a.add("t", Value::Int(5), MetricType::Timing, &[]),
            Folded::No
        ));
    }
}
