//! One thread's single-producer buffer of the queue: the owner appends and
//! publishes without a lock; the processor takes the published prefix.
//!
//! The protocol, checked by the loom model at the end of this file:
//!
//! - **Owner only** ([`Owner`], in an `UnsafeCell`): the current chunk, the
//!   scratch buffer a line is formatted into, what the owner has published in
//!   the current chunk, and the room it leased. Exactly one party has it at a
//!   time: the thread that claimed the slot (`claimed`), or whoever holds the
//!   queue's mutex in the one-buffer mode. Callers of the `unsafe` owner
//!   methods promise that.
//! - **Published** (`state`, one `AtomicU64`): `lines << 32 | bytes` of the
//!   current chunk that are complete, plus [`CLOSED`]. The owner writes the
//!   bytes of a line beyond the published length, then publishes them with
//!   one compare-exchange (`AcqRel`); bytes below the published length are
//!   never written again while the chunk is in the slot. The compare-exchange
//!   fails only if a stop set [`CLOSED`] (the owner is the only other writer
//!   of the word, and it knows the value it expects), so no line is published
//!   after a stop's clear.
//! - **Chunks** (`chunks`, a mutex taken by the owner once per sealed chunk,
//!   by the processor once per take): the current chunk, the sealed ones,
//!   and how far the processor has taken. The owner replaces the current
//!   chunk (and resets the published length) only under this lock, so the
//!   processor, under it, reads a published length that belongs to the
//!   chunk it sees.
//! - **Sleep** (the queue's `sleeping`): the processor stores it, then reads
//!   every slot's `state` with a read-modify-write (`fetch_add(0, AcqRel)`).
//!   A caller publishes with a read-modify-write, then reads `sleeping`. Both
//!   read-modify-writes are on the same word, so one comes first in its
//!   modification order: if the processor's does, the caller's reads from it,
//!   synchronises with it and sees `sleeping`; if the caller's does, the
//!   processor sees the line. No line waits unnoticed, with no fence on the
//!   caller's path. A slot registered after the processor copied the list
//!   of slots was registered under the registry's lock, taken after the
//!   processor's (which came after `sleeping`), so its owner sees `sleeping`.
//! - **Exit**: a thread's cached slot is given up by its thread-local
//!   destructor: it returns the unused lease, then stores `claimed = false`
//!   (Release); the next thread claims the slot with a compare-exchange
//!   (Acquire), so it starts from the owner's state the last one left. Every
//!   line is published by the call that made it: a thread that exits leaves
//!   nothing unpublished, and its published lines stay for the processor.

#[cfg(all(test, statsd_loom))]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64};
#[cfg(all(test, statsd_loom))]
use loom::sync::{Arc, Mutex};
#[cfg(not(all(test, statsd_loom)))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64};
#[cfg(not(all(test, statsd_loom)))]
use std::sync::{Arc, Mutex};

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

use crate::shared::ledger::Tally;

/// The starting capacity of a slot's scratch buffer.
const SCRATCH: usize = 1024;

/// Set in a slot's `state` by a stop: the owner's next publish fails.
pub(crate) const CLOSED: u64 = 1 << 63;
/// The bytes part of a slot's `state`.
const BYTES: u64 = (1 << 32) - 1;
/// The lines part of a slot's `state` (below [`CLOSED`]).
const LINES: u64 = ((1 << 63) - 1) & !BYTES;

/// An `UnsafeCell` with loom's interface, on either side of the shim.
#[derive(Debug)]
#[repr(transparent)]
pub(crate) struct Cell<T>(
    #[cfg(all(test, statsd_loom))] loom::cell::UnsafeCell<T>,
    #[cfg(not(all(test, statsd_loom)))] std::cell::UnsafeCell<T>,
);

impl<T> Cell<T> {
    pub(crate) fn new(value: T) -> Cell<T> {
        #[cfg(all(test, statsd_loom))]
        return Cell(loom::cell::UnsafeCell::new(value));
        #[cfg(not(all(test, statsd_loom)))]
        return Cell(std::cell::UnsafeCell::new(value));
    }

    /// # Safety
    /// No other access to the value overlaps this one.
    #[inline(always)]
    pub(crate) unsafe fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        #[cfg(all(test, statsd_loom))]
        return self.0.with_mut(f);
        #[cfg(not(all(test, statsd_loom)))]
        return f(self.0.get());
    }

    /// # Safety
    /// No write to the value overlaps this read.
    #[inline]
    pub(crate) unsafe fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        #[cfg(all(test, statsd_loom))]
        return self.0.with(f);
        #[cfg(not(all(test, statsd_loom)))]
        return f(self.0.get());
    }
}

/// A fixed-capacity byte buffer, never reallocated: the owner writes above
/// the published length while the processor reads below it. One cell per byte,
/// so that loom checks exactly the bytes each side touches.
#[derive(Debug)]
pub(crate) struct Chunk {
    bytes: Box<[Cell<u8>]>,
}

// SAFETY: the bytes are written only by the slot's owner, above the published
// length, and read by the processor only below a published length it read
// with Acquire (or under the chunks lock): no byte is written and read at
// once, and the Release/Acquire pair orders each write before each read.
unsafe impl Sync for Chunk {}

impl Chunk {
    pub(crate) fn new(capacity: usize) -> Chunk {
        // Lines are counted in 31 bits of `state`, bytes in 32: a chunk this
        // small can never hold more lines than they count (see `make_room`).
        assert!(
            capacity < (LINES >> 32) as usize,
            "a chunk of {capacity} bytes"
        );
        #[cfg(all(test, statsd_loom))]
        return Chunk {
            bytes: (0..capacity).map(|_| Cell::new(0)).collect(),
        };
        #[cfg(not(all(test, statsd_loom)))]
        {
            let zeroed = Box::into_raw(vec![0u8; capacity].into_boxed_slice());
            // SAFETY: `Cell<u8>` is a `std::cell::UnsafeCell<u8>`, which has
            // the same layout as `u8` (`repr(transparent)` both), so the
            // allocation is a valid `[Cell<u8>]` of the same length, and the
            // box frees it with the same layout.
            let bytes = unsafe { Box::from_raw(zeroed as *mut [Cell<u8>]) };
            Chunk { bytes }
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.bytes.len()
    }

    /// Copies `src` to `at..`.
    ///
    /// # Safety
    /// Nobody reads or writes `at..at + src.len()` meanwhile (it is above the
    /// published length, and only the owner writes there).
    #[inline(always)]
    unsafe fn write(&self, at: usize, src: &[u8]) {
        let cells = &self.bytes[at..at + src.len()];
        #[cfg(not(all(test, statsd_loom)))]
        {
            // SAFETY: `Cell<u8>` is a `std::cell::UnsafeCell<u8>`, which has
            // the layout of `u8`, so the range is `src.len()` writable bytes;
            // the caller promises nobody else touches them; `src` is the
            // owner's scratch buffer, never a chunk, so they do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(src.as_ptr(), cells.as_ptr() as *mut u8, src.len());
            }
        }
        #[cfg(all(test, statsd_loom))]
        for (cell, &byte) in cells.iter().zip(src) {
            // SAFETY: as above, one byte at a time (loom tracks each).
            unsafe { cell.with_mut(|p| *p = byte) };
        }
    }

    /// The bytes `at..at + len`, for the owner to write in place.
    ///
    /// # Safety
    /// Nobody reads or writes `at..at + len` while the slice lives (it is
    /// above the published length, and only the owner writes there), and the
    /// range is inside the chunk.
    #[cfg(not(all(test, statsd_loom)))]
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    unsafe fn unpublished(&self, at: usize, len: usize) -> &mut [u8] {
        debug_assert!(at + len <= self.bytes.len());
        // SAFETY: `Cell<u8>` is a `std::cell::UnsafeCell<u8>`, which has the
        // layout of `u8` and permits writes through a shared reference; the
        // range is in bounds and nobody else touches it (promised above).
        unsafe { std::slice::from_raw_parts_mut((self.bytes.as_ptr() as *mut u8).add(at), len) }
    }

    /// Appends `from..to` to `out`.
    ///
    /// # Safety
    /// The range is below a published length read with `Acquire` (or under
    /// the chunks lock), so its bytes are complete and nobody writes them.
    unsafe fn read_into(&self, from: usize, to: usize, out: &mut Vec<u8>) {
        let cells = &self.bytes[from..to];
        #[cfg(not(all(test, statsd_loom)))]
        {
            // SAFETY: `UnsafeCell<u8>` has the layout of `u8`; the caller
            // promises the bytes are published and never written again
            // while this chunk is shared.
            let bytes =
                unsafe { std::slice::from_raw_parts(cells.as_ptr() as *const u8, cells.len()) };
            out.extend_from_slice(bytes);
        }
        #[cfg(all(test, statsd_loom))]
        for cell in cells {
            // SAFETY: as above, one byte at a time.
            out.push(unsafe { cell.with(|p| *p) });
        }
    }
}

/// What only the owner of a slot touches.
#[derive(Debug)]
struct Owner {
    /// The chunk being filled: the same one as `Chunks::current`.
    chunk: Arc<Chunk>,
    /// What this owner published in `chunk` (`state` without [`CLOSED`]).
    published: u64,
    /// Lines leased from the queue's pool and not used yet.
    room: usize,
    /// Where a line is formatted before it is copied into the chunk (a
    /// formatter wants a `Vec`, and the chunk must never grow).
    scratch: Vec<u8>,
}

/// What the owner and the processor share under the slot's lock.
#[derive(Debug)]
struct Chunks {
    /// The chunk the owner fills.
    current: Arc<Chunk>,
    /// Full chunks, oldest first, each with its final published `state`.
    sealed: Vec<(Arc<Chunk>, u64)>,
    /// How far the processor has taken the oldest chunk still here
    /// (`sealed[0]`, or `current` when none is sealed), as a `state`.
    taken: u64,
}

/// One producer's buffer (see the module docs), on cache lines of its own:
/// the owner writes `state` and `accepted` on every call, and a neighbour's
/// owner must not pull those lines away from it.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct Slot {
    state: AtomicU64,
    chunks: Mutex<Chunks>,
    owner: Cell<Owner>,
    /// Whether a thread owns this slot (per-thread mode).
    pub(crate) claimed: AtomicBool,
    /// Lines ever published here, by tally (summed: the `accepted`
    /// statistic); written by the owner only.
    accepted: [AtomicU64; Tally::COUNT],
}

// SAFETY: `owner` is touched only through the `unsafe` owner methods, whose
// callers promise the owner's access (one thread at a time, handed over with
// Acquire/Release on `claimed` or by the one-buffer mutex); everything else
// is atomics or under `chunks`.
unsafe impl Sync for Slot {}

/// Why a publish did not happen.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Not enough leased room: lease more, or drop.
    NoRoom,
    /// A stop closed the slot.
    Closed,
}

fn lock<T>(mutex: &Mutex<T>) -> impl std::ops::DerefMut<Target = T> + '_ {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn lines_of(state: u64) -> usize {
    ((state & LINES) >> 32) as usize
}

fn bytes_of(state: u64) -> usize {
    (state & BYTES) as usize
}

impl Slot {
    /// A slot filling `chunk`; closed from the start if `closed`.
    pub(crate) fn new(chunk: Chunk, closed: bool) -> Slot {
        let chunk = Arc::new(chunk);
        Slot {
            state: AtomicU64::new(if closed { CLOSED } else { 0 }),
            chunks: Mutex::new(Chunks {
                current: chunk.clone(),
                sealed: Vec::new(),
                taken: 0,
            }),
            owner: Cell::new(Owner {
                chunk,
                published: 0,
                room: 0,
                // Room for any usual line from the start: the plain lines
                // never come here (`push_direct`), so the first tagged line
                // of a warm thread must not be the one that allocates.
                scratch: Vec::with_capacity(SCRATCH),
            }),
            claimed: AtomicBool::new(false),
            accepted: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// Formats `lines` lines with `write` and publishes them, or refuses.
    /// `fresh` gives a chunk of at least the given capacity when the line
    /// does not fit in the current one. `check_closed: false` publishes even
    /// in a closed slot (the processor's own lines during a stop).
    ///
    /// Returns the error of `write`, or whether the publish happened.
    ///
    /// # Safety
    /// The caller has the owner's access (see the module docs).
    #[inline]
    pub(crate) unsafe fn push<E>(
        &self,
        lines: usize,
        tally: Tally,
        check_closed: bool,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
        fresh: impl FnOnce(usize) -> Arc<Chunk>,
    ) -> Result<Result<(), Refused>, E> {
        // SAFETY: the caller has the owner's access, so nothing else touches
        // `owner` during this call.
        unsafe {
            self.owner.with_mut(|owner| {
                self.push_owned(&mut *owner, lines, tally, check_closed, write, fresh)
            })
        }
    }

    /// [`Slot::push`] with the owner's state in hand (a function of its own,
    /// not a closure, so that it and the formatter inline into the call).
    #[inline(always)]
    fn push_owned<E>(
        &self,
        owner: &mut Owner,
        lines: usize,
        tally: Tally,
        check_closed: bool,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
        fresh: impl FnOnce(usize) -> Arc<Chunk>,
    ) -> Result<Result<(), Refused>, E> {
        if owner.room < lines {
            return Ok(Err(Refused::NoRoom));
        }
        owner.scratch.clear();
        write(&mut owner.scratch)?;
        let len = owner.scratch.len();
        self.make_room(owner, lines, len, fresh);
        let at = bytes_of(owner.published);
        // SAFETY: `at..at + len` is above what this owner published
        // in its chunk, so the processor does not read it, and only
        // the owner writes; `make_room` left the room.
        unsafe { owner.chunk.write(at, &owner.scratch) };
        Ok(self.publish(owner, lines, tally, len, check_closed))
    }

    /// Writes `lines` lines of at most `max_len` bytes in place with
    /// `write` (which returns how many bytes it wrote) and publishes them,
    /// or refuses (no room, or closed: only callers' lines come this way).
    /// The fast path: no scratch buffer, no copy, no error.
    ///
    /// # Safety
    /// The caller has the owner's access (see the module docs).
    #[inline]
    pub(crate) unsafe fn push_direct(
        &self,
        lines: usize,
        tally: Tally,
        max_len: usize,
        write: impl FnOnce(&mut [u8]) -> usize,
        fresh: impl FnOnce(usize) -> Arc<Chunk>,
    ) -> Result<(), Refused> {
        // SAFETY: the caller has the owner's access, so nothing else touches
        // `owner` during this call.
        unsafe {
            self.owner.with_mut(|owner| {
                let owner = &mut *owner;
                if owner.room < lines {
                    return Err(Refused::NoRoom);
                }
                self.make_room(owner, lines, max_len, fresh);
                let at = bytes_of(owner.published);
                #[cfg(not(all(test, statsd_loom)))]
                // SAFETY: `at..at + max_len` is above what this owner
                // published in its chunk (so the processor does not read
                // it), only the owner writes there, and `make_room` left
                // that much room.
                let len = write(owner.chunk.unpublished(at, max_len));
                #[cfg(all(test, statsd_loom))]
                let len = {
                    // loom tracks each byte's cell: write through them.
                    let mut line = vec![0; max_len];
                    let len = write(&mut line);
                    owner.chunk.write(at, &line[..len]);
                    len
                };
                debug_assert!(len <= max_len);
                self.publish(owner, lines, tally, len, true)
            })
        }
    }

    /// Seals the current chunk if `len` more bytes (making `lines` lines)
    /// do not fit in it.
    #[inline(always)]
    fn make_room(
        &self,
        owner: &mut Owner,
        lines: usize,
        len: usize,
        fresh: impl FnOnce(usize) -> Arc<Chunk>,
    ) {
        // No count of lines to check: each line ends in a newline, so a
        // chunk holds fewer lines than bytes, and fewer bytes than `state`'s
        // lines part can count (`Chunk::new`).
        debug_assert!(len >= lines, "{lines} lines in {len} bytes");
        let at = bytes_of(owner.published);
        if at + len > owner.chunk.capacity() {
            self.seal(owner, fresh(len));
        }
    }

    /// Publishes `lines` lines of `len` bytes written above the published
    /// length, or refuses them (a stop closed the slot).
    #[inline(always)]
    fn publish(
        &self,
        owner: &mut Owner,
        lines: usize,
        tally: Tally,
        len: usize,
        check_closed: bool,
    ) -> Result<(), Refused> {
        let next = owner.published + ((lines as u64) << 32) + len as u64;
        // Release: the bytes written above are visible to whoever reads
        // `next` with Acquire. Acquire: see the module docs (the wake
        // protocol). The owner's `published` never has `CLOSED`, so the
        // usual first try needs no mask.
        if let Err(actual) = self
            .state
            .compare_exchange(owner.published, next, AcqRel, Acquire)
        {
            // Only `CLOSED` can differ from what the owner expects: a stop
            // set it. Refuse, or (the processor's own lines) keep it set.
            debug_assert_eq!(actual, owner.published | CLOSED);
            if check_closed {
                return Err(Refused::Closed);
            }
            self.publish_closed(actual, next);
        }
        owner.published = next;
        owner.room -= lines;
        let accepted = &self.accepted[tally.index()];
        accepted.store(accepted.load(Relaxed) + lines as u64, Relaxed);
        Ok(())
    }

    /// The compare-exchange of [`Slot::publish`] in a closed slot (the
    /// processor's own lines during a stop): publishes `next`, keeping
    /// `CLOSED` as it is (a start may clear it meanwhile).
    #[cold]
    fn publish_closed(&self, mut expected: u64, next: u64) {
        while let Err(actual) =
            self.state
                .compare_exchange(expected, next | (expected & CLOSED), AcqRel, Acquire)
        {
            // Only `CLOSED` can differ from what the owner expects.
            expected = actual;
        }
    }

    /// Adds leased room (owner's access).
    ///
    /// # Safety
    /// The caller has the owner's access.
    pub(crate) unsafe fn add_room(&self, lines: usize) {
        // SAFETY: the caller has the owner's access.
        unsafe { self.owner.with_mut(|owner| (*owner).room += lines) }
    }

    /// The unused leased room (owner's access).
    ///
    /// # Safety
    /// The caller has the owner's access.
    pub(crate) unsafe fn room(&self) -> usize {
        // SAFETY: the caller has the owner's access.
        unsafe { self.owner.with(|owner| (*owner).room) }
    }

    /// Gives up the unused room, returning how much (an exiting thread).
    ///
    /// # Safety
    /// The caller has the owner's access.
    pub(crate) unsafe fn give_back_room(&self) -> usize {
        // SAFETY: the caller has the owner's access.
        unsafe {
            self.owner
                .with_mut(|owner| std::mem::take(&mut (*owner).room))
        }
    }

    /// Puts the full chunk aside for the processor and starts `fresh`.
    #[cold]
    fn seal(&self, owner: &mut Owner, fresh: Arc<Chunk>) {
        let mut chunks = lock(&self.chunks);
        let full = std::mem::replace(&mut chunks.current, fresh.clone());
        if owner.published & (LINES | BYTES) != 0 {
            chunks.sealed.push((full, owner.published));
        } else {
            // Nothing published in it: the processor has nothing to take.
            chunks.taken = 0;
        }
        owner.chunk = fresh;
        owner.published = 0;
        // Under the lock: the processor reads `state` only under it, so it
        // never pairs the new chunk with the old length. Keeps `CLOSED`.
        self.state.fetch_and(CLOSED, AcqRel);
        if chunks.sealed.is_empty() {
            chunks.taken = 0;
        }
    }

    /// Takes the published lines, oldest first: calls `out` with each piece
    /// (a chunk, the byte range, the lines in it); returns the lines taken.
    /// Whole sealed chunks are taken until `budget` bytes are reached, and
    /// the current chunk only once no sealed one is left waiting, so a
    /// backlog is handed over a bounded piece at a time. `recycle` receives
    /// the sealed chunks taken, which nobody else holds.
    pub(crate) fn take(
        &self,
        budget: usize,
        mut out: impl FnMut(&Chunk, usize, usize, usize),
        mut recycle: impl FnMut(Arc<Chunk>),
    ) -> usize {
        let mut chunks = lock(&self.chunks);
        // A read-modify-write, not a load: see the wake protocol.
        let state = self.state.fetch_add(0, AcqRel) & !CLOSED;
        let mut taken = 0;
        let mut from = chunks.taken;
        let (mut bytes, mut whole) = (0, 0);
        for (chunk, end) in &chunks.sealed {
            if bytes >= budget {
                break;
            }
            let lines = lines_of(*end) - lines_of(from);
            if lines > 0 {
                out(chunk, bytes_of(from), bytes_of(*end), lines);
            }
            taken += lines;
            bytes += bytes_of(*end) - bytes_of(from);
            from = 0;
            whole += 1;
        }
        for (chunk, _) in chunks.sealed.drain(..whole) {
            recycle(chunk);
        }
        if !chunks.sealed.is_empty() {
            // The budget is spent; the next take starts at the next sealed
            // chunk, untouched (or where this one started, if it took none).
            if whole > 0 {
                chunks.taken = 0;
            }
            return taken;
        }
        let lines = lines_of(state) - lines_of(from);
        if lines > 0 {
            // SAFETY of the read inside `out`: below `state`, read with
            // Acquire under the lock, so complete and never written again
            // while this chunk is current (or sealed).
            out(&chunks.current, bytes_of(from), bytes_of(state), lines);
        }
        taken += lines;
        chunks.taken = state;
        taken
    }

    /// Discards every published line (as `take`, without reading them);
    /// with `close`, sets [`CLOSED`] in the same step, so that no line is
    /// published afterwards. Returns the lines discarded.
    pub(crate) fn clear(&self, close: bool, recycle: impl FnMut(Arc<Chunk>)) -> usize {
        if close {
            // Under the lock, like every change of `state` but a publish.
            let chunks = lock(&self.chunks);
            self.state.fetch_or(CLOSED, AcqRel);
            drop(chunks);
        }
        self.take(usize::MAX, |_, _, _, _| {}, recycle)
    }

    /// Lets the owner publish again (a start).
    pub(crate) fn open(&self) {
        let _chunks = lock(&self.chunks);
        self.state.fetch_and(!CLOSED, AcqRel);
    }

    /// `(lines ever published, lines not taken)`.
    pub(crate) fn counts(&self) -> (u64, usize) {
        let chunks = lock(&self.chunks);
        let accepted = self.accepted_by_tally().iter().sum();
        (accepted, Self::held(&chunks, self.state.load(Acquire)))
    }

    /// Lines ever published here, by tally.
    pub(crate) fn accepted_by_tally(&self) -> [u64; Tally::COUNT] {
        std::array::from_fn(|i| self.accepted[i].load(Relaxed))
    }

    /// Lines not taken, if the lock is free this instant.
    pub(crate) fn depth_without_waiting(&self) -> usize {
        match self.chunks.try_lock() {
            Ok(chunks) => Self::held(&chunks, self.state.load(Acquire)),
            Err(_) => 0,
        }
    }

    fn held(chunks: &Chunks, state: u64) -> usize {
        let sealed: usize = chunks.sealed.iter().map(|(_, end)| lines_of(*end)).sum();
        sealed + lines_of(state) - lines_of(chunks.taken)
    }
}

/// Reads a piece handed to `Slot::take`'s `out`.
///
/// # Safety
/// Only with the arguments `Slot::take` passed (a published range).
pub(crate) unsafe fn copy_out(chunk: &Chunk, from: usize, to: usize, out: &mut Vec<u8>) {
    // SAFETY: the caller passes a range `take` read as published.
    unsafe { chunk.read_into(from, to, out) }
}

/// The model check of the protocol above: every interleaving (loom) of an
/// owner publishing, sealing and exiting, with the processor taking, going
/// to sleep and closing.
///
/// `RUSTFLAGS="--cfg statsd_loom" cargo test -p statsd-connector --lib --release loom`
/// (`--cfg loom` would also switch tokio to its own loom build, which leaves
/// out `tokio::net`.)
#[cfg(all(test, statsd_loom))]
mod loom_model {
    use super::*;
    use loom::sync::atomic::AtomicBool;
    use loom::thread;
    use std::sync::atomic::Ordering::{Relaxed, Release};

    /// Chunks of 3 bytes: the second line of 2 bytes seals the first chunk.
    fn slot() -> Arc<Slot> {
        let slot = Arc::new(Slot::new(Chunk::new(3), false));
        // SAFETY: nobody else has the slot yet.
        unsafe { slot.add_room(8) };
        slot
    }

    /// Publishes `line` as one line, as `Queue::push_to` does.
    ///
    /// # Safety
    /// The caller has the owner's access.
    unsafe fn publish(slot: &Slot, line: &[u8], check_closed: bool) -> Result<(), Refused> {
        // SAFETY: promised by the caller.
        let pushed = unsafe {
            slot.push(
                1,
                Tally::OTHER,
                check_closed,
                |buf: &mut Vec<u8>| {
                    buf.extend_from_slice(line);
                    Ok::<(), ()>(())
                },
                |len| Arc::new(Chunk::new(len.max(3))),
            )
        };
        pushed.unwrap()
    }

    /// Publishes `line` as one line in place, as `Queue::push_direct_to`
    /// does (the fast path: written above the published length, no scratch).
    ///
    /// # Safety
    /// The caller has the owner's access.
    unsafe fn publish_direct(slot: &Slot, line: &[u8]) -> Result<(), Refused> {
        // SAFETY: promised by the caller.
        unsafe {
            slot.push_direct(
                1,
                Tally::OTHER,
                line.len(),
                |out| {
                    out[..line.len()].copy_from_slice(line);
                    line.len()
                },
                |len| Arc::new(Chunk::new(len.max(3))),
            )
        }
    }

    /// Runs `publish` on a thread of its own, as the slot's owner.
    fn owner_thread<T: Send + 'static>(
        slot: &Arc<Slot>,
        publish: impl FnOnce(&Slot) -> T + Send + 'static,
    ) -> thread::JoinHandle<T> {
        let slot = slot.clone();
        thread::spawn(move || publish(&slot))
    }

    /// What `Queue::take` does with the pieces: copies them, in order.
    fn take_into(slot: &Slot, out: &mut Vec<u8>) -> usize {
        take_some(slot, usize::MAX, out)
    }

    /// [`take_into`] with a budget of `budget` bytes.
    fn take_some(slot: &Slot, budget: usize, out: &mut Vec<u8>) -> usize {
        slot.take(
            budget,
            // SAFETY: `take` passes a range it read as published.
            |chunk, from, to, _| unsafe { copy_out(chunk, from, to, out) },
            drop,
        )
    }

    /// A caller publishes (sealing a chunk on the way) while the processor
    /// announces sleep and looks a last time: either that look sees every
    /// line, or the caller saw `sleeping` and woke it. Whatever the
    /// interleaving, the lines arrive once each, in order.
    #[test]
    fn loom_a_publish_racing_the_processor_going_to_sleep_is_never_missed() {
        loom::model(|| {
            let slot = slot();
            let sleeping = Arc::new(AtomicBool::new(false));
            let woken = Arc::new(AtomicBool::new(false));
            let caller = {
                let (slot, sleeping, woken) = (slot.clone(), sleeping.clone(), woken.clone());
                thread::spawn(move || {
                    for (i, line) in [b"a\n", b"b\n"].into_iter().enumerate() {
                        // SAFETY: this thread is the slot's only owner. One
                        // line by each path: through the scratch buffer,
                        // then in place.
                        unsafe {
                            if i == 0 {
                                publish(&slot, line, true)
                            } else {
                                publish_direct(&slot, line)
                            }
                        }
                        .unwrap();
                        if sleeping.load(Relaxed) {
                            sleeping.store(false, Relaxed);
                            woken.store(true, Relaxed);
                        }
                    }
                })
            };
            let mut got = Vec::new();
            sleeping.store(true, Relaxed);
            let seen = take_into(&slot, &mut got);
            caller.join().unwrap();
            if seen < 2 {
                assert!(
                    woken.load(Relaxed),
                    "a line waits and nobody woke the processor"
                );
            }
            take_into(&slot, &mut got);
            assert_eq!(got, b"a\nb\n");
            assert_eq!(slot.counts(), (2, 0));
        });
    }

    /// Takes of one byte's budget (one sealed chunk at a time) race a
    /// caller that publishes three lines, sealing a chunk for each: the
    /// pieces come out whole, once each, in order, and what a take left
    /// behind is found by the next.
    #[test]
    fn loom_takes_on_a_budget_hand_over_a_backlog_in_order() {
        loom::model(|| {
            let slot = slot();
            // SAFETY: the caller thread is the slot's only owner.
            let caller = owner_thread(&slot, |slot| unsafe {
                publish(slot, b"a\n", true).unwrap();
                publish_direct(slot, b"b\n").unwrap();
                publish(slot, b"c\n", true).unwrap();
            });
            let mut got = Vec::new();
            let mut taken = take_some(&slot, 1, &mut got);
            caller.join().unwrap();
            loop {
                let more = take_some(&slot, 1, &mut got);
                if more == 0 {
                    break;
                }
                taken += more;
            }
            assert_eq!(got, b"a\nb\nc\n");
            assert_eq!(taken, 3);
            assert_eq!(slot.counts(), (3, 0));
        });
    }

    /// The processor takes while a caller publishes two lines in two chunks
    /// and its thread exits (gives the slot up), and a new thread claims the
    /// slot and publishes: every line once, each thread's in order, the first
    /// thread's before the second's, and no access to the owner's state or a
    /// byte races (loom checks each cell).
    #[test]
    fn loom_a_slot_passes_from_an_exited_thread_to_the_next_with_its_lines() {
        loom::model(|| {
            let slot = slot();
            slot.claimed.store(true, Relaxed);
            let first = {
                let slot = slot.clone();
                thread::spawn(move || {
                    // SAFETY: this thread claimed the slot (above, for it).
                    unsafe {
                        publish(&slot, b"a\n", true).unwrap();
                        publish_direct(&slot, b"b\n").unwrap();
                    }
                    // The thread's exit: what `Owned::drop` does.
                    slot.claimed.store(false, Release);
                })
            };
            let second = {
                let slot = slot.clone();
                thread::spawn(move || {
                    while slot
                        .claimed
                        .compare_exchange(false, true, Acquire, Relaxed)
                        .is_err()
                    {
                        thread::yield_now();
                    }
                    // SAFETY: this thread claimed the slot.
                    unsafe { publish(&slot, b"c\n", true).unwrap() };
                })
            };
            let mut got = Vec::new();
            take_into(&slot, &mut got);
            first.join().unwrap();
            second.join().unwrap();
            take_into(&slot, &mut got);
            assert_eq!(got, b"a\nb\nc\n");
        });
    }

    /// A stop closes and clears while a caller publishes: the line is either
    /// discarded by the clear (counted) or refused; none is left behind, and
    /// the processor's own lines still go in.
    #[test]
    fn loom_a_stop_leaves_no_line_behind() {
        loom::model(|| {
            let slot = slot();
            // SAFETY: the caller thread is the slot's only owner.
            let caller = owner_thread(&slot, |slot| unsafe {
                [publish(slot, b"a\n", true), publish_direct(slot, b"b\n")]
            });
            let cleared = slot.clear(true, drop);
            let results = caller.join().unwrap();
            let accepted = results.iter().filter(|r| r.is_ok()).count();
            assert_eq!(cleared, accepted, "{results:?}");
            assert_eq!(slot.counts(), (accepted as u64, 0));
            // A refusal is for good: once one is refused, so is the next.
            assert!(results[0].is_ok() || results[1].is_err());
            // SAFETY: the caller thread has exited; this one owns the slot.
            unsafe { publish(&slot, b"t\n", false) }.unwrap();
            let mut got = Vec::new();
            take_into(&slot, &mut got);
            assert_eq!(got, b"t\n");
        });
    }
}
