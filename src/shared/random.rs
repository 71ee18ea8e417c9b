//! A per-thread random generator for sampling decisions (the caller's
//! `sampled(rate)`, the aggregation's reservoir): never shared between
//! threads, so it never shares a cache line either. xorshift64* is plenty
//! for choosing one call in N.

use std::cell::Cell;

thread_local! {
    static STATE: Cell<u64> = Cell::new({
        let local = 0u8;
        let seed = (&local as *const u8 as u64)
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64);
        seed | 1
    });
}

/// The next 64 random bits of this thread.
#[inline]
pub(crate) fn next() -> u64 {
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

/// A uniform number in `[0, 1)`.
#[inline]
pub(crate) fn uniform() -> f64 {
    (next() >> 11) as f64 / (1u64 << 53) as f64
}

/// A uniform number in `[0, n)` (`n > 0`).
#[inline]
pub(crate) fn below(n: u64) -> u64 {
    // Multiply-shift: unbiased enough for sampling, and no division.
    ((u128::from(next()) * u128::from(n)) >> 64) as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut seen = [false; 7];
        for _ in 0..10_000 {
            let n = super::below(7);
            seen[n as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }
}
