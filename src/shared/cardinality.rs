//! The cap on distinct tag sets per metric name ([`Builder::max_tag_sets`](crate::Builder::max_tag_sets)).
//!
//! A tag whose value is unbounded (a user ID, a request path) turns one
//! metric into as many contexts as it has values, and the server's memory
//! and the bill grow with them. The guard keeps, per metric name, the
//! distinct tag sets seen in the current window, at most `limit` of them; a
//! call with a set it has not seen once the name is full is *over the cap*.
//! That call is not dropped: its tags are replaced by the one tag
//! [`OVERFLOW_TAGS`], so its value still counts (a counter's total per name
//! stays right, a timing is still one sample) while the server sees at most
//! `limit + 1` contexts per name and window. It is counted
//! ([`Stats::tag_set_overflows`](crate::Stats::tag_set_overflows), the
//! telemetry) and logged, throttled.
//!
//! Cost: off, one predictable branch on the path of calls with tags of their
//! own (calls without tags never come here): 4 instructions more for a call
//! with two tags (948 against 944, by callgrind). On, one hash per tag (order
//! does not matter: the per-tag hashes are added) and one of the name, which
//! picks the stripe and finds the name in its table under the stripe's mutex;
//! a set already seen allocates nothing: about 300 instructions more for the
//! same call. Memory is bounded per name by `limit` hashes of
//! 8 bytes, and the processor clears everything at the end of each window
//! (with aggregation, right after each flush, so that the cap bounds what
//! one flush sends).
//!
//! Why not the aggregator's tables: they are kept per type (counters, gauges,
//! sets, packed values) and counters per thread stripe, so a name's tag sets
//! are spread over several maps, and a timing without packing never enters
//! them. Counting across them would take several locks per call; one small
//! set per name is cheaper and applies whether or not aggregation is on.

use std::hash::BuildHasher;
use std::sync::Mutex;

use hashbrown::{DefaultHashBuilder, HashTable};

use super::mutex::lock;
use super::throttle::Throttle;

/// What a call over the cap is sent with instead of its own tags.
pub(crate) const OVERFLOW_TAGS: &[(&str, &str)] = &[("statsd_connector.overflow", "true")];

/// One stripe of the per-name sets, on its own cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Stripe(Mutex<HashTable<Name>>);

/// One name's tag sets in this window, as hashes (the tables are keyed by
/// hashes computed once per call: nothing is hashed twice).
#[derive(Debug)]
struct Name {
    hash: u64,
    name: Box<str>,
    sets: HashTable<u64>,
}

/// The per-name tag sets of the current window.
#[derive(Debug)]
pub(crate) struct TagSetGuard {
    limit: usize,
    stripes: Box<[Stripe]>,
    hasher: DefaultHashBuilder,
    /// Overflows since the window began, for the throttled warning.
    overflows: Throttle,
}

impl TagSetGuard {
    /// A guard of `limit` tag sets per name, its names spread over
    /// `stripes` maps (`emitting_threads`, rounded to a power of two).
    pub(crate) fn new(limit: usize, stripes: usize) -> TagSetGuard {
        let stripes = stripes.max(1).next_power_of_two();
        TagSetGuard {
            limit,
            stripes: (0..stripes).map(|_| Stripe::default()).collect(),
            hasher: DefaultHashBuilder::default(),
            overflows: Throttle::default(),
        }
    }

    /// Whether a call on `name` with `tags` (its own, not empty) may keep
    /// them: a set already seen in this window, or room for one more.
    #[inline]
    pub(crate) fn admit(&self, name: &str, tags: &[(&str, &str)]) -> bool {
        if tags.is_empty() {
            return true;
        }
        let set = tags
            .iter()
            .fold(0u64, |sum, tag| sum.wrapping_add(self.hasher.hash_one(tag)));
        let hash = self.hasher.hash_one(name);
        let mut names = lock(&self.stripes[hash as usize & (self.stripes.len() - 1)].0);
        let entry = match names.find_mut(hash, |n| n.hash == hash && &*n.name == name) {
            Some(entry) => entry,
            None => names
                .insert_unique(
                    hash,
                    Name {
                        hash,
                        name: name.into(),
                        sets: HashTable::new(),
                    },
                    |n| n.hash,
                )
                .into_mut(),
        };
        if entry.sets.find(set, |&seen| seen == set).is_some() {
            return true;
        }
        if entry.sets.len() < self.limit {
            entry.sets.insert_unique(set, set, |&seen| seen);
            return true;
        }
        false
    }

    /// A call on `name` was over the cap: logs it, throttled (the first 100
    /// of a window, then one in 100).
    #[cold]
    pub(crate) fn overflowed(&self, name: &str) {
        if let Some(n) = self.overflows.record() {
            tracing::warn!(
                metric = name,
                limit = self.limit,
                over_the_cap_in_this_window = n,
                "statsd tag-set cap reached: metric sent with statsd_connector.overflow:true instead of its tags"
            );
        }
    }

    /// Starts a new window: forgets every name's tag sets.
    pub(crate) fn reset(&self) {
        for stripe in self.stripes.iter() {
            lock(&stripe.0).clear();
        }
        self.overflows.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_name_keeps_up_to_the_limit_of_sets_in_any_order() {
        let guard = TagSetGuard::new(2, 4);
        assert!(guard.admit("a", &[("k", "1"), ("x", "y")]));
        assert!(
            guard.admit("a", &[("x", "y"), ("k", "1")]),
            "order does not matter"
        );
        assert!(guard.admit("a", &[("k", "2")]));
        assert!(!guard.admit("a", &[("k", "3")]));
        assert!(guard.admit("a", &[("k", "2")]), "a set seen stays admitted");
        assert!(guard.admit("a", &[]), "no tags of its own: never over");
        assert!(guard.admit("b", &[("k", "3")]), "per name");
        guard.reset();
        assert!(guard.admit("a", &[("k", "3")]), "a new window");
    }
}
