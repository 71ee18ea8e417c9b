//! A small number per thread, handed out round robin: the aggregation tables
//! pick a thread's stripe by it, so that threads counting at once rarely
//! share a stripe (and so a lock or a cache line).

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// A round-robin source of home indexes for threads.
static NEXT_HOME: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's home index, `usize::MAX` until its first use.
    static HOME: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's home index, assigned round robin on first use.
#[inline]
pub(crate) fn home_index() -> usize {
    HOME.with(|home| {
        let mut value = home.get();
        if value == usize::MAX {
            value = NEXT_HOME.fetch_add(1, Relaxed);
            home.set(value);
        }
        value
    })
}
