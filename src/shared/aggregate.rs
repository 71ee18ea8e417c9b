//! Client-side aggregation (opt-in): fold many data points into one line per
//! name and tag set per flush interval.
//!
//! - Counters are summed. Each thread adds into its own stripe (the same home
//!   index as the queue's shards), a small map under an uncontended mutex, so
//!   two threads counting the same name never share a cache line. A
//!   [`Counter`](crate::Counter) handle goes further: its name is checked
//!   once and each increment is one atomic add on the caller's stripe (a
//!   [`CounterCell`]).
//! - Gauges keep the last value; deltas after it are added to it, deltas with
//!   no value since the last flush are sent as one delta.
//! - Sets keep each distinct member once.
//! - Timings, histograms and distributions are not aggregated: they pass
//!   straight to the queue, because the server computes their percentiles.
//!
//! The processor flushes every interval and once more when it stops, before
//! it drains, so nothing aggregated dies with the process.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use hashbrown::HashMap;

use super::lock;
use super::queue::home_hint;
use crate::wire::metric::{MetricType, Value};

/// Owned tags, as the aggregation key needs them.
type OwnedTags = Box<[(Box<str>, Box<str>)]>;

fn owned(tags: &[(&str, &str)]) -> OwnedTags {
    tags.iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect()
}

fn same_tags(owned: &OwnedTags, tags: &[(&str, &str)]) -> bool {
    owned.len() == tags.len()
        && owned
            .iter()
            .zip(tags)
            .all(|((k, v), (k2, v2))| &**k == *k2 && &**v == *v2)
}

/// Per name, the tag sets seen and a value for each (usually one tag set).
type ByName<T> = HashMap<String, Vec<(OwnedTags, T)>>;

/// Finds or inserts the value for `(name, tags)` without allocating when it
/// exists.
fn slot<'m, T>(
    map: &'m mut ByName<T>,
    name: &str,
    tags: &[(&str, &str)],
    new: impl FnOnce() -> T,
) -> &'m mut T {
    let entries = map.entry_ref(name).or_default();
    match entries.iter().position(|(owned, _)| same_tags(owned, tags)) {
        Some(at) => &mut entries[at].1,
        None => {
            entries.push((owned(tags), new()));
            &mut entries.last_mut().expect("just pushed").1
        }
    }
}

/// A gauge's state within one interval.
#[derive(Debug, Clone, Copy, Default)]
struct GaugeState {
    /// The last absolute value set, if any.
    value: Option<f64>,
    /// The sum of deltas since (or, with no value, in this interval).
    delta: f64,
}

/// One counter stripe, on its own cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Stripe {
    counters: Mutex<ByName<i64>>,
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
}

/// The aggregation tables of one connector.
#[derive(Debug)]
pub(crate) struct Aggregator {
    stripes: Box<[Stripe]>,
    gauges: Mutex<ByName<GaugeState>>,
    sets: Mutex<ByName<HashSet<Box<str>>>>,
    handles: Mutex<Vec<Arc<CounterCell>>>,
}

impl Aggregator {
    pub(crate) fn new(stripes: usize) -> Aggregator {
        Aggregator {
            stripes: (0..stripes.max(1)).map(|_| Stripe::default()).collect(),
            gauges: Mutex::default(),
            sets: Mutex::default(),
            handles: Mutex::default(),
        }
    }

    /// Folds one data point in; returns `false` for types that are not
    /// aggregated (the caller queues those as lines).
    #[inline]
    pub(crate) fn add(
        &self,
        name: &str,
        value: Value<'_>,
        kind: MetricType,
        tags: &[(&str, &str)],
    ) -> bool {
        match (kind, value) {
            (MetricType::Counter, Value::Int(n)) => {
                let stripe = &self.stripes[home_hint() % self.stripes.len()];
                let mut counters = lock(&stripe.counters);
                let sum = slot(&mut counters, name, tags, || 0);
                *sum = sum.wrapping_add(n);
            }
            (MetricType::Gauge, Value::Float(v)) => {
                *slot(&mut lock(&self.gauges), name, tags, GaugeState::default) = GaugeState {
                    value: Some(v),
                    delta: 0.0,
                };
            }
            (MetricType::Gauge, Value::Delta(d)) => {
                slot(&mut lock(&self.gauges), name, tags, GaugeState::default).delta += d;
            }
            (MetricType::Set, Value::Text(member)) => {
                let mut sets = lock(&self.sets);
                let members = slot(&mut sets, name, tags, HashSet::new);
                if !members.contains(member) {
                    members.insert(member.into());
                }
            }
            _ => return false,
        }
        true
    }

    /// A counter cell for `name` (no tags), registered for flushing.
    pub(crate) fn counter_cell(&self, name: &str) -> Arc<CounterCell> {
        let cell = Arc::new(CounterCell {
            name: name.into(),
            stripes: (0..self.stripes.len())
                .map(|_| AtomicStripe::default())
                .collect(),
        });
        lock(&self.handles).push(cell.clone());
        cell
    }

    /// Hands every aggregate to `write` (name, tags, value, type) and starts
    /// a new interval.
    pub(crate) fn flush(
        &self,
        mut write: impl FnMut(&str, &[(&str, &str)], Value<'_>, MetricType),
    ) {
        let mut sums: ByName<i64> = HashMap::default();
        for stripe in self.stripes.iter() {
            let taken = std::mem::take(&mut *lock(&stripe.counters));
            for (name, entries) in taken {
                for (tags, n) in entries {
                    merge_sum(&mut sums, name.clone(), tags, n);
                }
            }
        }
        for cell in lock(&self.handles).iter() {
            let n = cell.stripes.iter().fold(0i64, |sum, stripe| {
                sum.wrapping_add(stripe.0.swap(0, Relaxed))
            });
            if n != 0 {
                merge_sum(&mut sums, cell.name.to_string(), OwnedTags::default(), n);
            }
        }
        let gauges = std::mem::take(&mut *lock(&self.gauges));
        let sets = std::mem::take(&mut *lock(&self.sets));

        let mut emit = |name: &str, tags: &OwnedTags, value: Value<'_>, kind: MetricType| {
            let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (&**k, &**v)).collect();
            write(name, &tags, value, kind);
        };
        for (name, entries) in &sums {
            for (tags, n) in entries {
                if *n != 0 {
                    emit(name, tags, Value::Int(*n), MetricType::Counter);
                }
            }
        }
        for (name, entries) in &gauges {
            for (tags, gauge) in entries {
                let value = match gauge.value {
                    Some(v) => Value::Float(v + gauge.delta),
                    None => Value::Delta(gauge.delta),
                };
                emit(name, tags, value, MetricType::Gauge);
            }
        }
        for (name, entries) in &sets {
            for (tags, members) in entries {
                for member in members {
                    emit(name, tags, Value::Text(member), MetricType::Set);
                }
            }
        }
    }
}

fn merge_sum(sums: &mut ByName<i64>, name: String, tags: OwnedTags, n: i64) {
    let entries = sums.entry(name).or_default();
    match entries.iter_mut().find(|(owned, _)| *owned == tags) {
        Some((_, sum)) => *sum = sum.wrapping_add(n),
        None => entries.push((tags, n)),
    }
}

impl CounterCell {
    /// Adds `n` on the calling thread's stripe.
    #[inline]
    pub(crate) fn add(&self, n: i64) {
        self.stripes[home_hint() % self.stripes.len()]
            .0
            .fetch_add(n, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::format::LineFormat;
    use crate::wire::metric::TagFormat;

    fn flushed(aggregator: &Aggregator) -> Vec<String> {
        let format = LineFormat::new(None, false, TagFormat::DogStatsd, &[], 8192);
        let mut buf = Vec::new();
        aggregator.flush(|name, tags, value, kind| {
            format
                .write_metric(&mut buf, name, value, kind, 1.0, tags)
                .unwrap();
        });
        let text = String::from_utf8(buf).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        lines.sort();
        lines
    }

    #[test]
    fn counters_sum_per_name_and_tag_set() {
        let a = Aggregator::new(4);
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
        let a = Aggregator::new(1);
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
        let a = Aggregator::new(1);
        for member in ["a", "b", "a", "a"] {
            a.add("s", Value::Text(member), MetricType::Set, &[]);
        }
        assert!(!a.add("t", Value::Int(5), MetricType::Timing, &[]));
        assert_eq!(flushed(&a), ["s:a|s", "s:b|s"]);
    }
}
