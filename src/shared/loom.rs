//! The one switch between std's synchronisation and loom's model of it.
//!
//! The queue's hand-off (`slot`, `queue`) is model-checked by loom:
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
    atomic::{AtomicBool, AtomicU64},
    Arc, Mutex,
};
#[cfg(not(all(test, statsd_loom)))]
pub(crate) use std::sync::{
    atomic::{AtomicBool, AtomicU64},
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

/// A fixed run of bytes, never reallocated, that one side writes while the
/// other reads a different part of it: one cell per byte, so that each byte
/// may be written through a shared reference (and, under loom, is tracked).
#[derive(Debug)]
pub(crate) struct Bytes(Box<[UnsafeCell<u8>]>);

impl Bytes {
    /// `len` zero bytes.
    pub(crate) fn zeroed(len: usize) -> Bytes {
        #[cfg(all(test, statsd_loom))]
        return Bytes((0..len).map(|_| UnsafeCell::new(0)).collect());
        #[cfg(not(all(test, statsd_loom)))]
        {
            let zeroed = Box::into_raw(vec![0u8; len].into_boxed_slice());
            // SAFETY: `UnsafeCell<u8>` is `repr(transparent)` over `u8`, so
            // the allocation is a valid `[UnsafeCell<u8>]` of the same
            // length, and the box frees it with the same layout.
            Bytes(unsafe { Box::from_raw(zeroed as *mut [UnsafeCell<u8>]) })
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Copies `src` to `at..`. Panics if that is out of bounds.
    ///
    /// # Safety
    /// Nobody else reads or writes `at..at + src.len()` during the call.
    #[inline(always)]
    pub(crate) unsafe fn write(&self, at: usize, src: &[u8]) {
        let cells = &self.0[at..at + src.len()];
        #[cfg(not(all(test, statsd_loom)))]
        // SAFETY: the cells have the layout of `u8` and permit writes
        // through a shared reference, the range is in bounds (the slice
        // above checked it), nobody else touches it (the caller promises),
        // and `src` is not part of `self` (it is borrowed immutably while
        // the cells are written only here).
        unsafe {
            std::ptr::copy_nonoverlapping(
                src.as_ptr(),
                UnsafeCell::raw_get(cells.as_ptr()),
                src.len(),
            );
        }
        #[cfg(all(test, statsd_loom))]
        for (cell, &byte) in cells.iter().zip(src) {
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
        write: impl FnOnce(&mut [u8]) -> usize,
    ) -> usize {
        debug_assert!(at + max_len <= self.len(), "{at} + {max_len} bytes");
        #[cfg(not(all(test, statsd_loom)))]
        {
            // SAFETY: the cells have the layout of `u8` and permit writes
            // through a shared reference; the range is in bounds and nobody
            // else touches it while the exclusive slice lives (both promised
            // by the caller, for the call).
            let out = unsafe {
                let first = UnsafeCell::raw_get(self.0.as_ptr().add(at));
                std::slice::from_raw_parts_mut(first, max_len)
            };
            let len = write(out);
            debug_assert!(len <= max_len, "wrote {len} of at most {max_len} bytes");
            len
        }
        #[cfg(all(test, statsd_loom))]
        {
            // Written aside, then through the cells: loom tracks each.
            let mut line = vec![0; max_len];
            let len = write(&mut line);
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
        let cells = &self.0[from..to];
        #[cfg(not(all(test, statsd_loom)))]
        {
            // SAFETY: the cells have the layout of `u8`, the range is in
            // bounds (the slice above checked it), and nobody writes it
            // while the shared slice lives (the caller promises).
            let bytes = unsafe {
                std::slice::from_raw_parts(UnsafeCell::raw_get(cells.as_ptr()), cells.len())
            };
            out.extend_from_slice(bytes);
        }
        #[cfg(all(test, statsd_loom))]
        for cell in cells {
            // SAFETY: as above, one byte at a time.
            out.push(cell.with(|p| unsafe { *p }));
        }
    }
}
