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

use std::marker::PhantomData;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

use crate::error::{Error, ErrorKind};
use crate::shared::ledger::Tally;
pub(crate) use crate::shared::loom::AtomicBool;
pub(crate) use crate::shared::loom::FillLine;
use crate::shared::loom::{Arc, AtomicU64, Bytes, Cell, Mutex};

/// The starting capacity of a slot's scratch buffer.
const SCRATCH: usize = 1024;

/// Set in a slot's `state` by a stop: the owner's next publish fails.
pub(crate) const CLOSED: u64 = 1 << 63;
/// The bytes part of a slot's `state`.
const BYTES: u64 = (1 << 32) - 1;
/// The lines part of a slot's `state` (below [`CLOSED`]).
const LINES: u64 = ((1 << 63) - 1) & !BYTES;

/// A fixed-capacity byte buffer, never reallocated: the owner writes above
/// the published length while the processor reads below it.
#[derive(Debug)]
pub(crate) struct Chunk {
    bytes: Bytes,
}

// SAFETY: the bytes are written only by the slot's owner (through a
// `SlotOwner`), above the published length, and read by the processor only
// below a published length it read with Acquire under the chunks lock (a
// `Piece`): no byte is written and read at once, and the Release/Acquire
// pair orders each write before each read. The loom model checks it.
unsafe impl Sync for Chunk {}

impl Chunk {
    pub(crate) fn new(capacity: usize) -> Chunk {
        // Lines are counted in 31 bits of `state`, bytes in 32: a chunk this
        // small can never hold more lines than they count (see `make_room`).
        assert!(
            capacity < (LINES >> 32) as usize,
            "a chunk of {capacity} bytes"
        );
        Chunk {
            bytes: Bytes::zeroed(capacity),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.bytes.len()
    }
}

/// Whole published lines of one chunk, handed out by [`Slot::take`]: the
/// only way to read a chunk, so every read is of bytes that are complete
/// and never written again while the chunk is shared.
#[derive(Debug)]
pub(crate) struct Piece<'a> {
    chunk: &'a Chunk,
    from: usize,
    to: usize,
    /// How many lines the piece holds.
    pub(crate) lines: usize,
}

impl Piece<'_> {
    /// How many bytes the piece holds.
    pub(crate) fn len(&self) -> usize {
        self.to - self.from
    }

    /// Appends the piece's bytes to `out`.
    pub(crate) fn copy_to(&self, out: &mut Vec<u8>) {
        // SAFETY: a `Piece` is made only by `Slot::take`, under the chunks
        // lock, for a range below a published length it read with Acquire:
        // the owner wrote those bytes before publishing them (Release) and
        // never writes below its published length again while the chunk is
        // in the slot (it starts a fresh chunk instead), and the borrow of
        // `chunk` keeps it alive.
        unsafe { self.chunk.bytes.read_into(self.from, self.to, out) }
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

// SAFETY: `owner` is touched only through a `SlotOwner`, which exists only
// under the owner's access (`Slot::owner`'s contract: one thread at a time,
// handed over with Acquire/Release on `claimed` or by the one-buffer mutex);
// everything else is atomics or under `chunks`.
unsafe impl Sync for Slot {}

/// The owner's access to a slot, as a value: while one lives, nothing else
/// touches the slot's owner-only state (see the module docs). Only
/// [`Slot::owner`] makes one, under that contract; every owner-only
/// operation is a safe method of it. Not `Send`: the access belongs to the
/// thread that has it (a claim, or the one-buffer mutex's guard).
#[derive(Debug)]
pub(crate) struct SlotOwner<'a> {
    slot: &'a Slot,
    not_send: PhantomData<*const ()>,
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
                // Room for any usual line from the start: the common lines
                // are written in place (`InPlace`), so the first measured
                // line of a warm thread must not be the one that allocates.
                scratch: Vec::with_capacity(SCRATCH),
            }),
            claimed: AtomicBool::new(false),
            accepted: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// The owner's access, as a value.
    ///
    /// # Safety
    /// For as long as the result lives, the calling thread has the owner's
    /// access (see the module docs): it claimed the slot (`claimed`, set
    /// with Acquire) and has not given it up, or it holds the one-buffer
    /// mutex that guards this slot, or nobody else can reach the slot yet;
    /// and no other `SlotOwner` of this slot is alive.
    #[inline(always)]
    pub(crate) unsafe fn owner(&self) -> SlotOwner<'_> {
        SlotOwner {
            slot: self,
            not_send: PhantomData,
        }
    }
}

impl SlotOwner<'_> {
    /// The owner-only state, for one operation.
    #[inline(always)]
    fn state<R>(&mut self, f: impl FnOnce(&Slot, &mut Owner) -> R) -> R {
        let slot = self.slot;
        // SAFETY: a `SlotOwner` lives only while its thread has the owner's
        // access (`Slot::owner`'s contract), and `&mut self` keeps two uses
        // of it from overlapping: nothing else touches `owner` meanwhile.
        unsafe { slot.owner.with_mut(|owner| f(slot, &mut *owner)) }
    }

    /// The unused leased room.
    #[inline(always)]
    pub(crate) fn room(&mut self) -> usize {
        self.state(|_, owner| owner.room)
    }

    /// Adds leased room.
    pub(crate) fn add_room(&mut self, lines: usize) {
        self.state(|_, owner| owner.room += lines);
    }

    /// Gives up the unused room, returning how much (an exiting thread).
    pub(crate) fn give_back_room(&mut self) -> usize {
        self.state(|_, owner| std::mem::take(&mut owner.room))
    }

    /// Writes `lines` lines with `write` above the published length and
    /// publishes them, or says why not: the one way lines get into a slot.
    /// `fresh` gives a chunk of at least the given capacity when the lines
    /// do not fit in the current one. `check_closed: false` publishes even
    /// in a closed slot (the processor's own lines during a stop).
    #[inline(always)]
    pub(crate) fn publish<W: LineWriter>(
        &mut self,
        lines: usize,
        tally: Tally,
        check_closed: bool,
        write: W,
        fresh: impl FnOnce(usize) -> Arc<Chunk>,
    ) -> Outcome<W::Declined> {
        // The body is a function of its own, inlined: a closure this large
        // is left out of line where several call sites share it, and the
        // call costs a third of an `incr`.
        self.state(|slot, owner| publish_in(slot, owner, lines, tally, check_closed, write, fresh))
    }
}

/// [`SlotOwner::publish`] with the owner's state.
#[inline(always)]
fn publish_in<W: LineWriter>(
    slot: &Slot,
    owner: &mut Owner,
    lines: usize,
    tally: Tally,
    check_closed: bool,
    write: W,
    fresh: impl FnOnce(usize) -> Arc<Chunk>,
) -> Outcome<W::Declined> {
    if owner.room < lines {
        return write.unwritten().map_or(Outcome::Full, Outcome::Declined);
    }
    let target = Target {
        slot,
        owner: &mut *owner,
        lines,
        fresh,
    };
    match write.write(target) {
        Ok(len) => slot.commit(owner, lines, tally, len, check_closed),
        Err(declined) => Outcome::Declined(declined),
    }
}

/// What became of a publish.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome<D> {
    /// Published: the processor takes the lines from here.
    Accepted,
    /// Not enough leased room (the queue leases more, or the bound is
    /// reached).
    Full,
    /// A stop closed the slot.
    Closed,
    /// The writer wrote nothing, for this reason.
    Declined(D),
}

impl Outcome<Leftover> {
    /// What the caller answers, or `None` when the line is left to the
    /// general writer.
    #[inline(always)]
    pub(crate) fn settled(self) -> Option<Result<(), Error>> {
        match self {
            Outcome::Accepted => Some(Ok(())),
            Outcome::Declined(Leftover) => None,
            unpublished => Some(Err(unpublished.refusal())),
        }
    }
}

impl<D> Outcome<D> {
    /// The error of a full queue or a closed one.
    #[cold]
    fn refusal(self) -> Error {
        Error::from(match self {
            Outcome::Closed => ErrorKind::Stopped,
            _ => ErrorKind::QueueFull,
        })
    }
}

impl Outcome<Error> {
    /// What the caller answers: `Ok` for lines accepted, else the error
    /// ([`ErrorKind::QueueFull`], [`ErrorKind::Stopped`], or the writer's).
    #[inline(always)]
    pub(crate) fn into_result(self) -> Result<(), Error> {
        match self {
            Outcome::Accepted => Ok(()),
            Outcome::Declined(error) => Err(error),
            unpublished => Err(unpublished.refusal()),
        }
    }
}

/// Where a [`LineWriter`] writes: above what the owner published in its
/// chunk, which it seals for a fresh one if the lines do not fit.
pub(crate) struct Target<'o, N> {
    slot: &'o Slot,
    owner: &'o mut Owner,
    lines: usize,
    fresh: N,
}

/// How a publish writes its lines: measured through the scratch buffer
/// ([`Measured`]), or in place within a bound ([`InPlace`]).
pub(crate) trait LineWriter {
    /// Why the writer may write nothing.
    type Declined;
    /// Whether a line the writer declines was refused as bad input (the
    /// caller counts it as rejected), rather than left to another writer.
    const DECLINES_AS_REJECTED: bool;
    /// Writes the lines at `target`; returns how many bytes.
    fn write<N: FnOnce(usize) -> Arc<Chunk>>(
        self,
        target: Target<'_, N>,
    ) -> Result<usize, Self::Declined>;

    /// The queue cannot take the lines (full), so `write` will not run:
    /// whether the writer declines them anyway. A writer that checks its
    /// input as it writes checks it here instead, so that a bad call is
    /// refused as bad, not dropped as if it were good.
    #[inline(always)]
    fn unwritten(self) -> Option<Self::Declined>
    where
        Self: Sized,
    {
        None
    }
}

/// Lines formatted into the owner's scratch buffer, then copied above the
/// published length: for lines whose length is known only once written.
/// The formatter must append whole lines, or fail and leave the buffer as
/// it was.
pub(crate) struct Measured<F>(pub(crate) F);

impl<F, E> LineWriter for Measured<F>
where
    F: FnOnce(&mut Vec<u8>) -> Result<(), E>,
{
    type Declined = E;
    const DECLINES_AS_REJECTED: bool = true;

    #[inline(always)]
    fn write<N: FnOnce(usize) -> Arc<Chunk>>(self, target: Target<'_, N>) -> Result<usize, E> {
        let Target {
            slot,
            owner,
            lines,
            fresh,
        } = target;
        owner.scratch.clear();
        (self.0)(&mut owner.scratch)?;
        let len = owner.scratch.len();
        let at = slot.make_room(owner, lines, len, fresh);
        // SAFETY: `at..at + len` is inside the chunk (`make_room` left the
        // room) and above what this owner published in it, so the processor
        // does not read it, and only the owner (this call) writes there.
        unsafe { owner.chunk.bytes.write(at, &owner.scratch) };
        Ok(len)
    }
}

/// Lines of at most `room` bytes written in place by `write`, which returns
/// how many bytes it wrote, or 0 to write nothing ([`Leftover`]): no
/// scratch buffer and no copy. `valid` says, when the queue is full and
/// `write` does not run, whether the input `write` would have checked is
/// good (see [`LineWriter::unwritten`]).
pub(crate) struct InPlace<W, V = fn() -> bool> {
    /// The most bytes `write` touches.
    pub(crate) room: usize,
    /// The writer.
    pub(crate) write: W,
    /// Whether the input is good, when `write` does not run.
    pub(crate) valid: V,
}

impl<W> InPlace<W> {
    /// A writer whose input is checked before (so `valid` says yes).
    #[inline(always)]
    pub(crate) fn new(room: usize, write: W) -> InPlace<W> {
        InPlace {
            room,
            write,
            valid: || true,
        }
    }
}

/// An in-place writer wrote nothing: the line is left to the general
/// writer (it needs what the in-place writer does not do).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Leftover;

impl<W, V> LineWriter for InPlace<W, V>
where
    W: FillLine,
    V: FnOnce() -> bool,
{
    type Declined = Leftover;
    const DECLINES_AS_REJECTED: bool = false;

    #[inline(always)]
    fn write<N: FnOnce(usize) -> Arc<Chunk>>(
        self,
        target: Target<'_, N>,
    ) -> Result<usize, Leftover> {
        let Target {
            slot,
            owner,
            lines,
            fresh,
        } = target;
        let at = slot.make_room(owner, lines, self.room, fresh);
        // SAFETY: `at..at + room` is inside the chunk (`make_room` left that
        // much room) and above what this owner published in it, so the
        // processor does not read it, and only the owner (this call) writes
        // there.
        let len = unsafe { owner.chunk.bytes.write_in_place(at, self.room, self.write) };
        if len == 0 {
            return Err(Leftover);
        }
        Ok(len)
    }

    #[inline(always)]
    fn unwritten(self) -> Option<Leftover> {
        (!(self.valid)()).then_some(Leftover)
    }
}

impl Slot {
    /// Seals the current chunk if `len` more bytes (making `lines` lines)
    /// do not fit in it; returns where in the (current) chunk they go.
    #[inline(always)]
    fn make_room(
        &self,
        owner: &mut Owner,
        lines: usize,
        len: usize,
        fresh: impl FnOnce(usize) -> Arc<Chunk>,
    ) -> usize {
        // No count of lines to check: each line ends in a newline, so a
        // chunk holds fewer lines than bytes, and fewer bytes than `state`'s
        // lines part can count (`Chunk::new`).
        debug_assert!(len >= lines, "{lines} lines in {len} bytes");
        let at = bytes_of(owner.published);
        if at + len > owner.chunk.capacity() {
            self.seal(owner, fresh(len));
            return bytes_of(owner.published);
        }
        at
    }

    /// Publishes `lines` lines of `len` bytes written above the published
    /// length, or refuses them (a stop closed the slot).
    #[inline(always)]
    fn commit<D>(
        &self,
        owner: &mut Owner,
        lines: usize,
        tally: Tally,
        len: usize,
        check_closed: bool,
    ) -> Outcome<D> {
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
                return Outcome::Closed;
            }
            self.publish_closed(actual, next);
        }
        owner.published = next;
        owner.room -= lines;
        let accepted = &self.accepted[tally.index()];
        accepted.store(accepted.load(Relaxed) + lines as u64, Relaxed);
        Outcome::Accepted
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

    /// Takes the published lines, oldest first: calls `out` with each
    /// [`Piece`]; returns the lines taken.
    /// Whole sealed chunks are taken until `budget` bytes are reached, and
    /// the current chunk only once no sealed one is left waiting, so a
    /// backlog is handed over a bounded piece at a time. `recycle` receives
    /// the sealed chunks taken, which nobody else holds.
    pub(crate) fn take(
        &self,
        budget: usize,
        mut out: impl FnMut(Piece<'_>),
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
                // Below the sealed chunk's final published length: complete,
                // and never written again.
                out(Piece {
                    chunk,
                    from: bytes_of(from),
                    to: bytes_of(*end),
                    lines,
                });
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
            // Below `state`, read with Acquire under the lock: complete, and
            // never written again while this chunk is current (or sealed).
            out(Piece {
                chunk: &chunks.current,
                from: bytes_of(from),
                to: bytes_of(state),
                lines,
            });
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
        self.take(usize::MAX, |_| {}, recycle)
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
    use loom::thread;
    use std::sync::atomic::Ordering::{Relaxed, Release};

    /// Chunks of 3 bytes: the second line of 2 bytes seals the first chunk.
    fn slot() -> Arc<Slot> {
        let slot = Arc::new(Slot::new(Chunk::new(3), false));
        // SAFETY: nobody else has the slot yet.
        unsafe { slot.owner() }.add_room(8);
        slot
    }

    /// Publishes `line` as one line through the scratch buffer, as
    /// `Queue::publish` does with a `Measured` writer.
    fn publish(owner: &mut SlotOwner<'_>, line: &[u8], check_closed: bool) -> Result<(), String> {
        let write = Measured(|buf: &mut Vec<u8>| {
            buf.extend_from_slice(line);
            Ok::<(), ()>(())
        });
        let outcome = owner.publish(1, Tally::OTHER, check_closed, write, |len| {
            Arc::new(Chunk::new(len.max(3)))
        });
        accepted(outcome)
    }

    /// Publishes `line` as one line in place, as `Queue::publish` does
    /// with an `InPlace` writer (written above the published length, no
    /// scratch).
    fn publish_direct(owner: &mut SlotOwner<'_>, line: &[u8]) -> Result<(), String> {
        let write = InPlace::new(line.len(), |out: &mut [u8]| {
            out[..line.len()].copy_from_slice(line);
            line.len()
        });
        let outcome = owner.publish(1, Tally::OTHER, true, write, |len| {
            Arc::new(Chunk::new(len.max(3)))
        });
        accepted(outcome)
    }

    /// `Ok` for a line published, else what became of it.
    fn accepted<D: std::fmt::Debug>(outcome: Outcome<D>) -> Result<(), String> {
        match outcome {
            Outcome::Accepted => Ok(()),
            other => Err(format!("{other:?}")),
        }
    }

    /// Runs `publish` on a thread of its own, as the slot's only owner.
    fn owner_thread<T: Send + 'static>(
        slot: &Arc<Slot>,
        publish: impl FnOnce(&mut SlotOwner<'_>) -> T + Send + 'static,
    ) -> thread::JoinHandle<T> {
        let slot = slot.clone();
        thread::spawn(move || {
            // SAFETY: the tests that call this touch the slot's owner-only
            // state on no other thread until they join this one.
            publish(&mut unsafe { slot.owner() })
        })
    }

    /// What `Queue::take` does with the pieces: copies them, in order.
    fn take_into(slot: &Slot, out: &mut Vec<u8>) -> usize {
        take_some(slot, usize::MAX, out)
    }

    /// [`take_into`] with a budget of `budget` bytes.
    fn take_some(slot: &Slot, budget: usize, out: &mut Vec<u8>) -> usize {
        slot.take(budget, |piece| piece.copy_to(out), drop)
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
                    // SAFETY: this thread is the slot's only owner.
                    let mut owner = unsafe { slot.owner() };
                    for (i, line) in [b"a\n", b"b\n"].into_iter().enumerate() {
                        // One line by each path: through the scratch
                        // buffer, then in place.
                        if i == 0 {
                            publish(&mut owner, line, true)
                        } else {
                            publish_direct(&mut owner, line)
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
            let caller = owner_thread(&slot, |owner| {
                publish(owner, b"a\n", true).unwrap();
                publish_direct(owner, b"b\n").unwrap();
                publish(owner, b"c\n", true).unwrap();
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
                    {
                        // SAFETY: this thread claimed the slot (above, for
                        // it), until the store below.
                        let mut owner = unsafe { slot.owner() };
                        publish(&mut owner, b"a\n", true).unwrap();
                        publish_direct(&mut owner, b"b\n").unwrap();
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
                    publish(&mut unsafe { slot.owner() }, b"c\n", true).unwrap();
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
            let caller = owner_thread(&slot, |owner| {
                [publish(owner, b"a\n", true), publish_direct(owner, b"b\n")]
            });
            let cleared = slot.clear(true, drop);
            let results = caller.join().unwrap();
            let accepted = results.iter().filter(|r| r.is_ok()).count();
            assert_eq!(cleared, accepted, "{results:?}");
            assert_eq!(slot.counts(), (accepted as u64, 0));
            // A refusal is for good: once one is refused, so is the next.
            assert!(results[0].is_ok() || results[1].is_err());
            // SAFETY: the caller thread has exited; this one owns the slot.
            publish(&mut unsafe { slot.owner() }, b"t\n", false).unwrap();
            let mut got = Vec::new();
            take_into(&slot, &mut got);
            assert_eq!(got, b"t\n");
        });
    }
}
