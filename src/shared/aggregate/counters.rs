//! The aggregated counters: one cell per thread and context, found through a
//! thread-local cache, so that a call adds without a lock.
//!
//! A context is a name and a tag set. Each thread that counts a context gets
//! its own [`ContextCell`] for it: an `i64` it adds to by compare-exchange
//! (nobody else adds to it, so the exchange is uncontended; only the flush
//! touches it besides), and an `i128` spill for what the `i64` cannot hold.
//! The cell is registered twice:
//!
//! - in the connector's registry (a `Vec` under a mutex), which the flush
//!   walks: it takes each cell's sum (swapping the `i64` to 0) and adds them
//!   up per context;
//! - in the calling thread's cache, a hash table shared by every aggregating
//!   connector the thread uses (the key holds the connector's id, never
//!   reused, besides the context).
//!
//! A call hashes its name and tags (foldhash, seeded per thread), probes the
//! cache, compares the bytes and adds: no lock and no allocation. In front of
//! the table sits a call-site memo: a slot chosen by the addresses of the
//! call's name and tags (one multiplication; the bytes are not read) keeps
//! the bucket where the last call through that slot found its cell. When
//! that bucket holds this connector's cell for the same bytes (compared in
//! full, as on any hit), the hash and the probe are skipped: the common case
//! of a call site whose name and tags are literals or otherwise stay put.
//! Anything else (another context, moved strings, a stale bucket after the
//! table grew) fails the comparison and goes on to the hash. Only a miss of
//! the table (the first call of a context on a thread) takes the registry's
//! lock and allocates the cell and its copy of the context. A hit also needs no
//! validation: the cache holds only contexts whose call was validated (and
//! admitted) on this connector, so the same bytes would pass again; a call
//! that fails validation never gets a cell, misses every time and is refused
//! every time.
//!
//! Idle cells are retired, so that contexts that come and go, and threads
//! that end, leave nothing behind: a cell that holds 0 at a flush (nothing
//! added since the previous flush took its sum) is turned from 0 into
//! [`RETIRED`] by compare-exchange and dropped from the registry. An adder
//! that finds its cell retired has added nothing to it: it takes the miss
//! path and registers a new cell, so no add is lost and none is counted
//! twice (the model check below plays one adder against the flush's swap
//! and retire). A thread's cache drops its retired entries whenever it would
//! otherwise grow, and a dropped connector retires every cell it registered,
//! so a long-lived thread's cache stays within about twice the contexts it
//! still uses.
//!
//! Overflow: `RETIRED` is `i64::MIN`, so the `i64` holds sums in
//! `i64::MIN + 1..=i64::MAX`. An addition that would leave that range moves
//! the cell's `i64` and the addend into the `i128` spill (under the cell's
//! mutex, which the flush also holds while it takes the sum: no flush sees
//! half of it) and restarts the `i64` from 0.
//!
//! When the cache cannot be used (the thread's locals are being torn down,
//! or the cache is borrowed by a call that re-entered this one) the call is
//! added to a locked fallback table instead.

use std::cell::RefCell;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64 as StdAtomicU64, Ordering::Relaxed};
use std::sync::PoisonError;

use hashbrown::{DefaultHashBuilder, HashTable};

use super::by_name::{merge_sum, owned, slot, ByName, OwnedTags};
use crate::shared::loom::{Arc, AtomicI64, Mutex};

/// What a retired cell holds: nobody adds to it any more.
pub(super) const RETIRED: i64 = i64::MIN;

/// The source of connector ids (never reused, so that a thread's cache
/// cannot mistake a new connector for a dropped one).
static NEXT_ID: StdAtomicU64 = StdAtomicU64::new(0);

/// Locks a mutex whatever happened to a previous holder (std's or loom's:
/// `shared::mutex` takes only std's).
fn lock<T>(mutex: &Mutex<T>) -> impl std::ops::DerefMut<Target = T> + '_ {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One thread's running sum for one context: the part the model check
/// covers.
#[derive(Debug)]
pub(super) struct Sum {
    /// The sum since the flush last took it, or [`RETIRED`].
    value: AtomicI64,
    /// What `value` could not hold, until the next flush; the flush holds
    /// this lock while it takes `value`.
    spilled: Mutex<i128>,
}

impl Sum {
    /// A sum that starts at `n` (the first addition, made before anyone can
    /// see the cell: a flush cannot retire it before its first add).
    pub(super) fn starting_at(n: i64) -> Sum {
        let (value, spilled) = if n == RETIRED {
            (0, i128::from(n))
        } else {
            (n, 0)
        };
        Sum {
            value: AtomicI64::new(value),
            spilled: Mutex::new(spilled),
        }
    }

    /// Adds `n`; `false` (and nothing added) when the cell is retired.
    #[inline]
    pub(super) fn add(&self, n: i64) -> bool {
        let mut current = self.value.load(Relaxed);
        loop {
            if current == RETIRED {
                return false;
            }
            match current.checked_add(n) {
                Some(sum) if sum != RETIRED => {
                    match self
                        .value
                        .compare_exchange_weak(current, sum, Relaxed, Relaxed)
                    {
                        Ok(_) => return true,
                        Err(actual) => current = actual,
                    }
                }
                _ => return self.spill(n),
            }
        }
    }

    /// `value + n` would leave the `i64`'s range: both move to the spill and
    /// `value` starts again from 0, under the lock the flush takes.
    #[cold]
    #[inline(never)]
    fn spill(&self, n: i64) -> bool {
        let mut spilled = lock(&self.spilled);
        let mut current = self.value.load(Relaxed);
        loop {
            if current == RETIRED {
                return false;
            }
            match self
                .value
                .compare_exchange_weak(current, 0, Relaxed, Relaxed)
            {
                Ok(_) => {
                    let moved = i128::from(current) + i128::from(n);
                    *spilled = spilled.saturating_add(moved);
                    return true;
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Takes the sum (the spill and the `i64`), leaving 0; a cell with
    /// nothing to take (idle since the last flush) is retired instead.
    /// Returns the sum and whether the cell is now retired. Only the flush
    /// calls this, one flush at a time (under the registry's lock), never on
    /// a retired cell.
    pub(super) fn take(&self) -> (i128, bool) {
        let mut spilled = lock(&self.spilled);
        let spill = std::mem::take(&mut *spilled);
        if spill == 0
            && (self.value)
                .compare_exchange(0, RETIRED, Relaxed, Relaxed)
                .is_ok()
        {
            return (0, true);
        }
        let value = self.value.swap(0, Relaxed);
        debug_assert_ne!(value, RETIRED, "the flush took a retired cell");
        (spill.saturating_add(i128::from(value)), false)
    }

    /// Retires the cell whatever it holds (its connector is gone).
    fn retire(&self) {
        self.value.store(RETIRED, Relaxed);
    }

    /// Whether the cell is retired (a cache entry to drop).
    fn is_retired(&self) -> bool {
        self.value.load(Relaxed) == RETIRED
    }
}

/// One thread's cell for one context of one connector.
#[derive(Debug)]
pub(super) struct ContextCell {
    /// The connector's [`Counters::id`].
    owner: u64,
    /// The context's name, as first validated.
    name: Box<str>,
    /// The context's tags, as first validated.
    tags: OwnedTags,
    /// This thread's running sum for the context.
    sum: Sum,
}

impl ContextCell {
    /// Whether this is the cell of `(name, tags)` on connector `owner`.
    #[inline(always)]
    fn is(&self, owner: u64, name: &str, tags: &[(&str, &str)]) -> bool {
        if self.owner != owner
            || !same_bytes(self.name.as_bytes(), name.as_bytes())
            || self.tags.len() != tags.len()
        {
            return false;
        }
        // A plain loop (not `Iterator::all`), which stays in line.
        for ((key, value), (other_key, other_value)) in self.tags.iter().zip(tags) {
            if !same_bytes(key.as_bytes(), other_key.as_bytes())
                || !same_bytes(value.as_bytes(), other_value.as_bytes())
            {
                return false;
            }
        }
        true
    }
}

/// `a == b`, in line for the short strings names and tags mostly are (a
/// call to `memcmp` per piece would cost more than the comparison): two
/// overlapping loads cover any length from 4 to 16, four up to 32.
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let len = a.len();
    if len != b.len() {
        return false;
    }
    let u64_at = |bytes: &[u8], at: usize| {
        u64::from_ne_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
    };
    let u32_at = |bytes: &[u8], at: usize| {
        u32::from_ne_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
    };
    // Longest first: each length class costs two or three comparisons.
    if len >= 8 {
        if len <= 16 {
            u64_at(a, 0) == u64_at(b, 0) && u64_at(a, len - 8) == u64_at(b, len - 8)
        } else if len <= 32 {
            u64_at(a, 0) == u64_at(b, 0)
                && u64_at(a, 8) == u64_at(b, 8)
                && u64_at(a, len - 16) == u64_at(b, len - 16)
                && u64_at(a, len - 8) == u64_at(b, len - 8)
        } else {
            a == b
        }
    } else if len >= 4 {
        u32_at(a, 0) == u32_at(b, 0) && u32_at(a, len - 4) == u32_at(b, len - 4)
    } else {
        len == 0 || a[0] == b[0] && a[len / 2] == b[len / 2] && a[len - 1] == b[len - 1]
    }
}

/// One entry of a thread's cache.
struct Entry {
    /// The hash of the cell's context (the table keeps no hashes itself).
    hash: u64,
    /// The cell (shared with the connector's registry).
    cell: Arc<ContextCell>,
}

/// How many call sites a thread's memo tells apart (see [`Cache::sites`]).
const SITES: usize = 64;

/// What a memo slot holds before its first use (no bucket has it).
const NO_BUCKET: usize = usize::MAX;

/// A thread's cells, for every aggregating connector it counts on.
struct Cache {
    /// The cells by context (name, tags) and connector.
    table: HashTable<Entry>,
    /// foldhash, with a seed of this thread's.
    hasher: DefaultHashBuilder,
    /// The call-site memo: per slot (chosen by where the call's name and
    /// tags are stored, and by its connector), the table bucket where the
    /// last call through that slot found its cell. A hint, never trusted:
    /// the bucket's context is compared byte for byte as on a table hit,
    /// and a stale or foreign bucket only sends the call on to the hash.
    /// A call site whose name and tags live at fixed addresses (literals,
    /// constants, long-lived strings) thus skips the hash and the probe.
    sites: [std::cell::Cell<usize>; SITES],
}

impl Default for Cache {
    fn default() -> Cache {
        Cache {
            table: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            sites: std::array::from_fn(|_| std::cell::Cell::new(NO_BUCKET)),
        }
    }
}

/// The memo slot of a call: a multiplicative hash of the addresses of its
/// name and tags (not their bytes) and of its connector.
#[inline(always)]
fn site_of(owner: u64, name: &str, tags: &[(&str, &str)]) -> usize {
    let addresses = (name.as_ptr().addr() as u64)
        ^ (tags.as_ptr().addr() as u64).rotate_left(29)
        ^ owner.rotate_left(47);
    // The top bits of a product by 2^64 / golden ratio (Fibonacci hashing).
    (addresses.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SITES.trailing_zeros())) as usize
}

impl Cache {
    /// The hash of a context. Only the bytes go in, not where the pieces
    /// end: two contexts that differ only there collide, which costs a
    /// comparison, never a wrong match.
    #[inline]
    fn hash(&self, name: &str, tags: &[(&str, &str)]) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        hasher.write(name.as_bytes());
        for (key, value) in tags {
            hasher.write(key.as_bytes());
            hasher.write(value.as_bytes());
        }
        hasher.finish()
    }

    /// The entry of `(name, tags)` on connector `owner` in the memo slot of
    /// the call, if that is where it is.
    #[inline(always)]
    fn find_in_memo(&self, owner: u64, name: &str, tags: &[(&str, &str)]) -> Option<&Entry> {
        let entry = self
            .table
            .get_bucket(self.sites[site_of(owner, name, tags)].get())?;
        entry.cell.is(owner, name, tags).then_some(entry)
    }

    /// The entry of `(name, tags)` on connector `owner`, by the hash and a
    /// probe of the table; noted in the memo for the next call.
    fn find_by_hash(&self, owner: u64, name: &str, tags: &[(&str, &str)]) -> Option<&Entry> {
        let hash = self.hash(name, tags);
        let bucket = (self.table).find_bucket_index(hash, |e| e.cell.is(owner, name, tags))?;
        self.sites[site_of(owner, name, tags)].set(bucket);
        self.table.get_bucket(bucket)
    }
}

thread_local! {
    /// This thread's cells.
    static CACHE: RefCell<Cache> = RefCell::default();
}

/// The counter tables of one connector.
#[derive(Debug)]
pub(super) struct Counters {
    /// This connector's id in the threads' caches.
    id: u64,
    /// Every live cell, for the flush.
    registry: Mutex<Vec<Arc<ContextCell>>>,
    /// Sums of the calls that could not use their thread's cache.
    fallback: Mutex<ByName<i128>>,
}

impl Default for Counters {
    fn default() -> Counters {
        Counters {
            id: NEXT_ID.fetch_add(1, Relaxed),
            registry: Mutex::default(),
            fallback: Mutex::default(),
        }
    }
}

impl Counters {
    /// Adds `n` to `(name, tags)` if this thread has a live cell for it;
    /// `false` (nothing added) otherwise, and the caller takes the general
    /// path, which validates the call and then [`Counters::add`]s it.
    #[inline]
    pub(super) fn add_cached(&self, name: &str, tags: &[(&str, &str)], n: i64) -> bool {
        let in_memo = CACHE.try_with(|cache| {
            let cache = cache.try_borrow().ok()?;
            let entry = cache.find_in_memo(self.id, name, tags)?;
            Some(entry.cell.sum.add(n))
        });
        match in_memo {
            Ok(Some(added)) => added,
            _ => self.add_by_hash(name, tags, n),
        }
    }

    /// [`Counters::add_cached`] past the memo: the hash and the probe.
    #[inline(never)]
    fn add_by_hash(&self, name: &str, tags: &[(&str, &str)], n: i64) -> bool {
        let added = CACHE.try_with(|cache| {
            let Ok(cache) = cache.try_borrow() else {
                return false;
            };
            match cache.find_by_hash(self.id, name, tags) {
                Some(entry) => entry.cell.sum.add(n),
                None => false,
            }
        });
        added == Ok(true)
    }

    /// Adds `n` to `(name, tags)` (validated), registering a cell for this
    /// thread if it has none (or only a retired one).
    pub(super) fn add(&self, name: &str, tags: &[(&str, &str)], n: i64) {
        let added = CACHE.try_with(|cache| {
            let Ok(mut cache) = cache.try_borrow_mut() else {
                return false;
            };
            let cache = &mut *cache;
            let hash = cache.hash(name, tags);
            let is = |e: &Entry| e.cell.is(self.id, name, tags);
            let bucket = match cache.table.find_bucket_index(hash, is) {
                Some(bucket) => {
                    let entry = cache.table.get_bucket_mut(bucket).expect("just found");
                    if !entry.cell.sum.add(n) {
                        entry.cell = self.register(name, tags, n);
                    }
                    bucket
                }
                None => {
                    let cell = self.register(name, tags, n);
                    let table = &mut cache.table;
                    if table.len() == table.capacity() {
                        // About to grow: first drop what no connector
                        // flushes any more.
                        table.retain(|e| !e.cell.sum.is_retired());
                    }
                    let entry = table.insert_unique(hash, Entry { hash, cell }, |e| e.hash);
                    entry.bucket_index()
                }
            };
            cache.sites[site_of(self.id, name, tags)].set(bucket);
            true
        });
        if added != Ok(true) {
            let mut fallback = lock(&self.fallback);
            let sum = slot(&mut fallback, name, tags, || 0);
            *sum = sum.saturating_add(i128::from(n));
        }
    }

    /// A new cell for this thread, holding `n`, registered for the flush.
    #[cold]
    #[inline(never)]
    fn register(&self, name: &str, tags: &[(&str, &str)], n: i64) -> Arc<ContextCell> {
        let cell = Arc::new(ContextCell {
            owner: self.id,
            name: name.into(),
            tags: owned(tags),
            sum: Sum::starting_at(n),
        });
        lock(&self.registry).push(cell.clone());
        cell
    }

    /// Adds every cell's sum (and the fallback's) into `sums`, leaving them
    /// at 0, and retires the cells that had nothing.
    pub(super) fn flush_into(&self, sums: &mut ByName<i128>) {
        let mut registry = lock(&self.registry);
        registry.retain(|cell| {
            let (n, retired) = cell.sum.take();
            if n != 0 {
                merge_sum(sums, &cell.name, &cell.tags, n);
            }
            !retired
        });
        drop(registry);
        let fallback = std::mem::take(&mut *lock(&self.fallback));
        for (name, entries) in &fallback {
            for (tags, n) in entries {
                merge_sum(sums, name, tags, *n);
            }
        }
    }

    /// How many cells are registered (for the tests).
    #[cfg(test)]
    fn live_cells(&self) -> usize {
        lock(&self.registry).len()
    }
}

impl Drop for Counters {
    /// Retires every cell, so that the threads' caches drop them.
    fn drop(&mut self) {
        for cell in lock(&self.registry).drain(..) {
            cell.sum.retire();
        }
    }
}

/// How many entries this thread's cache holds (for the tests).
#[cfg(test)]
fn cached_here() -> usize {
    CACHE.with(|cache| cache.borrow().table.len())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::AtomicBool;

    use super::*;

    /// What `caller::emit` does: the cache, then (a miss) the general add.
    fn count(counters: &Counters, name: &str, tags: &[(&str, &str)], n: i64) {
        if !counters.add_cached(name, tags, n) {
            counters.add(name, tags, n);
        }
    }

    /// One flush, as `name|k:v,..` -> sum.
    fn flush(counters: &Counters) -> BTreeMap<String, i128> {
        let mut sums = ByName::default();
        counters.flush_into(&mut sums);
        let mut flat = BTreeMap::new();
        for (name, entries) in sums {
            for (tags, n) in entries {
                let tags: Vec<String> = tags.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                flat.insert(format!("{name}|{}", tags.join(",")), n);
            }
        }
        flat
    }

    fn add_into(total: &mut BTreeMap<String, i128>, flushed: BTreeMap<String, i128>) {
        for (context, n) in flushed {
            *total.entry(context).or_default() += n;
        }
    }

    #[test]
    fn a_hit_adds_without_the_general_path_and_a_miss_says_so() {
        let counters = Counters::default();
        let tags = [("region", "eu"), ("host", "web-01")];
        assert!(!counters.add_cached("c", &tags, 1));
        counters.add("c", &tags, 1);
        for _ in 0..10 {
            assert!(counters.add_cached("c", &tags, 2));
        }
        // The same bytes from other storage hit too (through the hash).
        let (name, region) = (String::from("c"), String::from("eu"));
        let moved = [("region", region.as_str()), ("host", "web-01")];
        assert!(counters.add_cached(&name, &moved, 4));
        // Another tag set, name or connector misses.
        assert!(!counters.add_cached("c", &tags[..1], 1));
        assert!(!counters.add_cached("d", &tags, 1));
        let other = Counters::default();
        assert!(!other.add_cached("c", &tags, 1));
        assert_eq!(
            flush(&counters),
            [("c|region:eu,host:web-01".into(), 25)].into()
        );
    }

    #[test]
    fn the_memo_never_matches_other_bytes_at_the_same_address() {
        let counters = Counters::default();
        // One buffer, rewritten in place between calls: same address and
        // length, other bytes.
        let mut name = String::with_capacity(16);
        name.push_str("aaaa");
        let mut value = String::with_capacity(16);
        value.push_str("x1");
        let address = (name.as_ptr(), value.as_ptr());
        count(&counters, &name, &[("k", &value)], 1);
        count(&counters, &name, &[("k", &value)], 1);
        name.clear();
        name.push_str("bbbb");
        assert!(!counters.add_cached(&name, &[("k", &value)], 1));
        count(&counters, &name, &[("k", &value)], 10);
        value.clear();
        value.push_str("x2");
        assert_eq!(address, (name.as_ptr(), value.as_ptr()));
        assert!(!counters.add_cached(&name, &[("k", &value)], 1));
        count(&counters, &name, &[("k", &value)], 100);
        count(&counters, &name, &[("k", &value)], 100);
        let expected = [
            ("aaaa|k:x1".into(), 2),
            ("bbbb|k:x1".into(), 10),
            ("bbbb|k:x2".into(), 200),
        ];
        assert_eq!(flush(&counters), expected.into());
    }

    #[test]
    fn pieces_of_every_length_compare_exactly() {
        // Each length class of `same_bytes`, and a difference at each end
        // and in the middle.
        for len in 0..=40usize {
            let a: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(same_bytes(&a, &a.clone()), "{len}");
            for at in [0, len / 2, len.saturating_sub(1)] {
                if len > 0 {
                    let mut b = a.clone();
                    b[at] ^= 1;
                    assert!(!same_bytes(&a, &b), "{len} at {at}");
                }
            }
            assert!(!same_bytes(&a, &a[..len.saturating_sub(1)]) || len == 0);
        }
    }

    #[test]
    fn sums_are_exact_across_threads_racing_the_flush() {
        let counters = Arc::new(Counters::default());
        let done = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..4i64)
            .map(|t| {
                let counters = counters.clone();
                std::thread::spawn(move || {
                    let own = format!("own.{t}");
                    for i in 0..20_000i64 {
                        count(&counters, "shared", &[], 1);
                        count(&counters, "shared", &[("t", "x"), ("u", "y")], i % 7 - 3);
                        count(&counters, &own, &[], t + 1);
                        if i % 5_000 == 0 {
                            // A thread that comes and goes, once in a while.
                            let counters = counters.clone();
                            std::thread::spawn(move || count(&counters, "brief", &[], 1))
                                .join()
                                .unwrap();
                        }
                    }
                })
            })
            .collect();
        let mut total = BTreeMap::new();
        let flusher = {
            let (counters, done) = (counters.clone(), done.clone());
            std::thread::spawn(move || {
                let mut total = BTreeMap::new();
                while !done.load(Relaxed) {
                    add_into(&mut total, flush(&counters));
                }
                total
            })
        };
        for thread in threads {
            thread.join().unwrap();
        }
        done.store(true, Relaxed);
        add_into(&mut total, flusher.join().unwrap());
        add_into(&mut total, flush(&counters));
        let tagged: i128 = (0..20_000).map(|i| i128::from(i % 7 - 3)).sum::<i128>() * 4;
        let mut expected: BTreeMap<String, i128> = [
            ("shared|".into(), 80_000),
            ("shared|t:x,u:y".into(), tagged),
            ("brief|".into(), 16),
        ]
        .into();
        for t in 0..4 {
            expected.insert(format!("own.{t}|"), 20_000 * i128::from(t + 1));
        }
        total.retain(|_, n| *n != 0);
        expected.retain(|_, n| *n != 0);
        assert_eq!(total, expected);
        // Nothing is added any more: two flushes retire every cell.
        flush(&counters);
        flush(&counters);
        assert_eq!(counters.live_cells(), 0);
    }

    #[test]
    fn an_idle_context_is_retired_and_comes_back() {
        let counters = Counters::default();
        count(&counters, "c", &[("k", "v")], 3);
        assert_eq!(counters.live_cells(), 1);
        assert_eq!(flush(&counters), [("c|k:v".into(), 3)].into());
        assert_eq!(
            counters.live_cells(),
            1,
            "not idle for a whole interval yet"
        );
        assert!(flush(&counters).is_empty());
        assert_eq!(counters.live_cells(), 0, "idle for an interval: retired");
        // The cache still has the entry, retired: the fast path declines.
        assert!(!counters.add_cached("c", &[("k", "v")], 1));
        count(&counters, "c", &[("k", "v")], 4);
        count(&counters, "c", &[("k", "v")], 5);
        assert_eq!(counters.live_cells(), 1);
        assert_eq!(flush(&counters), [("c|k:v".into(), 9)].into());
    }

    #[test]
    fn sums_beyond_i64_spill_exactly_and_never_wrap() {
        let counters = Counters::default();
        let adds = [
            i64::MAX,
            i64::MAX,
            1,
            i64::MIN,
            -1,
            i64::MIN,
            i64::MIN,
            i64::MAX,
        ];
        let mut expected = 0i128;
        for (i, &n) in adds.iter().enumerate() {
            count(&counters, "big", &[], n);
            expected += i128::from(n);
            if i == 4 {
                // A flush in between takes the spill and the i64 at once.
                let taken = flush(&counters);
                assert_eq!(taken["big|"], expected);
                expected = 0;
            }
        }
        assert_eq!(flush(&counters)["big|"], expected);
        // A first add of i64::MIN (the retired mark) starts in the spill.
        count(&counters, "min", &[], i64::MIN);
        count(&counters, "min", &[], 1);
        assert_eq!(flush(&counters)["min|"], i128::from(i64::MIN) + 1);
        // A sum that reaches i64::MIN exactly spills as well.
        count(&counters, "edge", &[], -1);
        count(&counters, "edge", &[], i64::MIN + 1);
        count(&counters, "edge", &[], 0);
        assert_eq!(flush(&counters)["edge|"], i128::from(i64::MIN));
    }

    #[test]
    fn dropped_connectors_and_idle_contexts_leave_nothing_growing() {
        // A long-lived thread, and connectors made and dropped around it.
        let before = cached_here();
        for round in 0..500 {
            let counters = Counters::default();
            let value = round.to_string();
            count(&counters, "c", &[("round", &value)], 1);
            count(&counters, "c", &[], 1);
            drop(counters);
            assert!(cached_here() <= before + 8, "{} entries", cached_here());
        }
        // One connector, contexts that come and go: the registry keeps the
        // live ones, the cache at most about twice as many.
        let counters = Counters::default();
        for round in 0..50 {
            for i in 0..20 {
                count(&counters, &format!("c.{round}.{i}"), &[], 1);
            }
            flush(&counters);
            flush(&counters);
            assert_eq!(counters.live_cells(), 0);
            assert!(cached_here() <= before + 64, "{} entries", cached_here());
        }
    }

    #[test]
    fn a_thread_that_ends_leaves_its_cells_to_be_retired() {
        let counters = Arc::new(Counters::default());
        for _ in 0..10 {
            let counters = counters.clone();
            std::thread::spawn(move || count(&counters, "c", &[], 1))
                .join()
                .unwrap();
        }
        assert_eq!(counters.live_cells(), 10);
        assert_eq!(flush(&counters)["c|"], 10);
        flush(&counters);
        assert_eq!(counters.live_cells(), 0);
        // Its cells went with the thread's cache and the registry.
        let cell = {
            let counters = counters.clone();
            std::thread::spawn(move || {
                count(&counters, "d", &[], 1);
                lock(&counters.registry)[0].clone()
            })
            .join()
            .unwrap()
        };
        assert_eq!(Arc::strong_count(&cell), 2, "the registry and this test");
    }

    #[test]
    fn the_fallback_table_is_flushed_too() {
        let counters = Counters::default();
        // The cache borrowed (a call that re-entered): the fallback takes it.
        CACHE.with(|cache| {
            let _busy = cache.borrow_mut();
            assert!(!counters.add_cached("c", &[], 1));
            counters.add("c", &[], 2);
            counters.add("c", &[], 3);
        });
        assert_eq!(counters.live_cells(), 0);
        assert_eq!(flush(&counters), [("c|".into(), 5)].into());
        assert!(flush(&counters).is_empty());
    }
}

#[cfg(all(test, statsd_loom))]
mod loom_tests {
    //! The cell protocol under loom: an adder racing the flush's swap and
    //! retire loses nothing and counts nothing twice.

    use super::*;

    /// One flush over a registry of sums: their total, retiring idle cells.
    fn flush(registry: &Mutex<Vec<Arc<Sum>>>) -> i128 {
        let mut total = 0;
        lock(registry).retain(|sum| {
            let (n, retired) = sum.take();
            total += n;
            !retired
        });
        total
    }

    /// Adds `n` as `Counters::add` does: to `mine`, or to a new cell when
    /// `mine` is retired.
    fn add(registry: &Mutex<Vec<Arc<Sum>>>, mine: &mut Arc<Sum>, n: i64) {
        if !mine.add(n) {
            *mine = Arc::new(Sum::starting_at(n));
            lock(registry).push(mine.clone());
        }
    }

    fn race(first: i64, adds: [i64; 2]) -> i128 {
        let mine = Arc::new(Sum::starting_at(first));
        let registry = Arc::new(Mutex::new(vec![mine.clone()]));
        let adder = {
            let registry = registry.clone();
            loom::thread::spawn(move || {
                let mut mine = mine;
                for n in adds {
                    add(&registry, &mut mine, n);
                }
            })
        };
        // Two flushes race the adds: the second retires the cell if the
        // first left it idle.
        let mut total = flush(&registry) + flush(&registry);
        adder.join().unwrap();
        total += flush(&registry);
        total
    }

    #[test]
    fn loom_an_add_racing_the_flush_is_counted_exactly_once() {
        loom::model(|| assert_eq!(race(1, [1, 1]), 3));
    }

    #[test]
    fn loom_a_spill_racing_the_flush_is_counted_exactly_once() {
        loom::model(|| {
            let expected = 3 * i128::from(i64::MAX);
            assert_eq!(race(i64::MAX, [i64::MAX, i64::MAX]), expected);
        });
    }
}
