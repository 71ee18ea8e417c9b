//! Throttled warnings, as the original connector logged them: the first 100
//! occurrences of a streak, then one in every 100, and the streak restarts once
//! things go right again (the queue accepts, a connection succeeds).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counts a streak of failures shared by many threads.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    streak: AtomicU64,
}

impl Throttle {
    /// Records one more failure; returns its number in the streak when it
    /// should be logged.
    pub(crate) fn record(&self) -> Option<u64> {
        let n = self.streak.fetch_add(1, Relaxed) + 1;
        should_log(n).then_some(n)
    }

    /// Ends the streak. Reads before it writes, so that the common case (no
    /// streak) leaves the cache line shared between threads.
    #[inline]
    pub(crate) fn reset(&self) {
        if self.streak.load(Relaxed) != 0 {
            self.streak.store(0, Relaxed);
        }
    }
}

/// Whether occurrence `n` (from 1) of a streak is logged.
pub(crate) fn should_log(n: u64) -> bool {
    n <= 100 || n % 100 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_hundred_then_one_in_a_hundred() {
        let logged: Vec<u64> = (1..=1000).filter(|&n| should_log(n)).collect();
        assert_eq!(logged.len(), 100 + 9);
        assert_eq!(
            &logged[98..],
            &[99, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]
        );
    }

    #[test]
    fn reset_restarts_the_streak() {
        let t = Throttle::default();
        for _ in 0..150 {
            t.record();
        }
        assert_eq!(t.record(), None);
        t.reset();
        assert_eq!(t.record(), Some(1));
    }
}
