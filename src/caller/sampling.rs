//! Sampling: whether this call is kept, drawn on the caller's thread.
//!
//! The generator is per thread (`shared::random`), so that sampling never
//! shares state, or a cache line, between threads.

use crate::shared::random;

/// True with probability `rate`.
#[inline]
pub(crate) fn keep(rate: f64) -> bool {
    random::uniform() < rate
}

#[cfg(test)]
mod tests {
    #[test]
    fn sampling_keeps_about_the_rate() {
        let kept = (0..100_000).filter(|_| super::keep(0.25)).count();
        assert!((23_000..27_000).contains(&kept), "{kept}");
    }
}
