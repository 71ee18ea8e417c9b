//! Sampling: whether this call is kept, drawn on the caller's thread.
//!
//! A per-thread generator, so that sampling never shares state (or a cache
//! line) between threads; xorshift64* is plenty for deciding one call in N.

use std::cell::Cell;

thread_local! {
    /// A per-thread xorshift64* state: sampling must not share a generator
    /// (and its cache line) between threads.
    static RANDOM: Cell<u64> = Cell::new({
        let local = 0u8;
        let seed = (&local as *const u8 as u64)
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64);
        seed | 1
    });
}

/// True with probability `rate`.
pub(crate) fn keep(rate: f64) -> bool {
    RANDOM.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        let uniform = (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64;
        uniform < rate
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn sampling_keeps_about_the_rate() {
        let kept = (0..100_000).filter(|_| super::keep(0.25)).count();
        assert!((23_000..27_000).contains(&kept), "{kept}");
    }
}
