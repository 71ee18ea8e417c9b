//! The one switch between std's synchronisation and loom's model of it.
//!
//! The queue's hand-off (`slot`, `queue`) and the aggregated counters'
//! cells (`aggregate::counters`) are model-checked by loom:
//! `RUSTFLAGS="--cfg statsd_loom" cargo test -p statsd-connector --lib --release loom`
//! (not `--cfg loom`: tokio reads that one too, and leaves out `tokio::net`).
//! Under that flag, and only in tests, this module hands out loom's atomics,
//! `Arc`, `Mutex` and cells, which loom tracks access by access; otherwise
//! std's. Everything else imports from here and never names the flag.
//!
//! The two byte-level primitives the hand-off rests on live here too, because
//! they are the only code whose body differs between the two builds:
//! [`Bytes`] copies and reads a run of bytes with one `memcpy` under std, and
//! cell by cell under loom, so that the model checks exactly the bytes each
//! side touches.

#[cfg(all(test, statsd_loom))]
pub(crate) use loom::sync::{
    atomic::{AtomicBool, AtomicI64, AtomicU64},
    Arc, Mutex,
};
#[cfg(not(all(test, statsd_loom)))]
pub(crate) use std::sync::{
    atomic::{AtomicBool, AtomicI64, AtomicU64},
    Arc, Mutex,
};

#[cfg(all(test, statsd_loom))]
use loom::cell::UnsafeCell;
#[cfg(not(all(test, statsd_loom)))]
use std::cell::UnsafeCell;

/// An `UnsafeCell` with loom's closure interface, in both builds: loom sees
/// each access begin and end.
#[derive(Debug)]
#[repr(transparent)]
pub(crate) struct Cell<T>(UnsafeCell<T>);

impl<T> Cell<T> {
    pub(crate) fn new(value: T) -> Cell<T> {
        Cell(UnsafeCell::new(value))
    }

    /// Runs `f` with a pointer to the value, for reading and writing.
    ///
    /// # Safety
    /// No other access to the value overlaps this one.
    #[inline(always)]
    pub(crate) unsafe fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        #[cfg(all(test, statsd_loom))]
        return self.0.with_mut(f);
        #[cfg(not(all(test, statsd_loom)))]
        return f(self.0.get());
    }
}

/// What writes a line in place ([`Bytes::write_in_place`]): returns how
/// many bytes it wrote. A closure is one; the hot writers are types of
/// their own whose `fill` is always inlined, because a closure shared by
/// many call sites is compiled out of line, and the call costs a fifth of
/// an `incr`.
pub(crate) trait FillLine {
    /// Writes at the start of `out`; returns how many bytes.
    fn fill(self, out: &mut [u8]) -> usize;
}

impl<F: FnOnce(&mut [u8]) -> usize> FillLine for F {
    #[inline(always)]
    fn fill(self, out: &mut [u8]) -> usize {
        self(out)
    }
}

/// A fixed run of bytes, never reallocated, that one side writes while the
/// other reads a different part of it.
///
/// Under std it is held by a raw pointer, not a `Box<[u8]>`: each access
/// borrows only the bytes it touches (a reference to the whole run would
/// claim all of it, and overlap the other side's bytes), and Miri checks
/// exactly those. Under loom it is one cell per byte, tracked by the model.
#[derive(Debug)]
pub(crate) struct Bytes {
    #[cfg(not(all(test, statsd_loom)))]
    start: std::ptr::NonNull<u8>,
    #[cfg(all(test, statsd_loom))]
    cells: Box<[UnsafeCell<u8>]>,
    len: usize,
}

// SAFETY: `Bytes` owns its allocation (freed once, in `drop`), like a
// `Box<[u8]>`, which is `Send` and `Sync`; its methods that write or read
// through a shared reference are `unsafe`, and their callers promise that
// no two of them touch the same byte at once.
#[cfg(not(all(test, statsd_loom)))]
unsafe impl Send for Bytes {}
// SAFETY: as for `Send`.
#[cfg(not(all(test, statsd_loom)))]
unsafe impl Sync for Bytes {}

#[cfg(not(all(test, statsd_loom)))]
impl Drop for Bytes {
    fn drop(&mut self) {
        let run = std::ptr::slice_from_raw_parts_mut(self.start.as_ptr(), self.len);
        // SAFETY: `start` and `len` are those of the boxed slice `zeroed`
        // leaked, and `&mut self` means nobody else uses it any more.
        drop(unsafe { Box::from_raw(run) });
    }
}

impl Bytes {
    /// `len` zero bytes.
    pub(crate) fn zeroed(len: usize) -> Bytes {
        #[cfg(all(test, statsd_loom))]
        return Bytes {
            cells: (0..len).map(|_| UnsafeCell::new(0)).collect(),
            len,
        };
        #[cfg(not(all(test, statsd_loom)))]
        {
            let run: *mut [u8] = Box::into_raw(vec![0u8; len].into_boxed_slice());
            Bytes {
                // `Box::into_raw` never returns null.
                start: std::ptr::NonNull::new(run.cast::<u8>()).expect("a boxed slice"),
                len,
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The bytes `at..at + len`, for the unsafe methods below.
    #[cfg(not(all(test, statsd_loom)))]
    #[inline(always)]
    fn range(&self, at: usize, len: usize) -> *mut u8 {
        debug_assert!(at + len <= self.len, "{at} + {len} of {} bytes", self.len);
        // `wrapping_add`: no promise needed here; the callers' promise that
        // the range is in bounds is what makes the access sound.
        self.start.as_ptr().wrapping_add(at)
    }

    /// Copies `src` to `at..`. No bounds check in release builds (the
    /// caller has made the room), like [`Bytes::write_in_place`].
    ///
    /// # Safety
    /// `at + src.len() <= self.len()`, and nobody else reads or writes
    /// `at..at + src.len()` during the call.
    #[inline(always)]
    pub(crate) unsafe fn write(&self, at: usize, src: &[u8]) {
        #[cfg(not(all(test, statsd_loom)))]
        // SAFETY: in bounds and nobody else touches the range (both
        // promised by the caller), and `src` is not part of the run (the
        // run is reached only through these methods, which never hand out a
        // reference to it that outlives the call).
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), self.range(at, src.len()), src.len());
        }
        #[cfg(all(test, statsd_loom))]
        for (cell, &byte) in self.cells[at..at + src.len()].iter().zip(src) {
            // SAFETY: as above, one byte at a time (loom tracks each).
            cell.with_mut(|p| unsafe { *p = byte });
        }
    }

    /// Lets `write` fill `at..at + max_len` in place and returns how many
    /// bytes it wrote (at most `max_len`). The fast path of every plain
    /// line: no bounds check in release builds, so the caller checks.
    ///
    /// # Safety
    /// `at + max_len <= self.len()`, and nobody else reads or writes
    /// `at..at + max_len` during the call.
    #[inline(always)]
    pub(crate) unsafe fn write_in_place(
        &self,
        at: usize,
        max_len: usize,
        write: impl FillLine,
    ) -> usize {
        #[cfg(not(all(test, statsd_loom)))]
        {
            // SAFETY: in bounds, and nobody else touches the range while the
            // exclusive slice lives (both promised by the caller, for the
            // call); the bytes are initialised (zeroed at the start).
            let out = unsafe { std::slice::from_raw_parts_mut(self.range(at, max_len), max_len) };
            let len = write.fill(out);
            debug_assert!(len <= max_len, "wrote {len} of at most {max_len} bytes");
            len
        }
        #[cfg(all(test, statsd_loom))]
        {
            assert!(at + max_len <= self.len);
            // Written aside, then through the cells: loom tracks each.
            let mut line = vec![0; max_len];
            let len = write.fill(&mut line);
            // SAFETY: as promised by the caller.
            unsafe { self.write(at, &line[..len]) };
            len
        }
    }

    /// Appends `from..to` to `out`. Panics if that is out of bounds.
    ///
    /// # Safety
    /// Nobody writes `from..to` during the call.
    #[inline]
    pub(crate) unsafe fn read_into(&self, from: usize, to: usize, out: &mut Vec<u8>) {
        assert!(
            from <= to && to <= self.len,
            "{from}..{to} of {} bytes",
            self.len
        );
        #[cfg(not(all(test, statsd_loom)))]
        {
            // SAFETY: in bounds (asserted above), initialised, and nobody
            // writes the range while the shared slice lives (the caller
            // promises).
            let bytes =
                unsafe { std::slice::from_raw_parts(self.range(from, to - from), to - from) };
            out.extend_from_slice(bytes);
        }
        #[cfg(all(test, statsd_loom))]
        for cell in &self.cells[from..to] {
            // SAFETY: as above, one byte at a time.
            out.push(cell.with(|p| unsafe { *p }));
        }
    }
}
