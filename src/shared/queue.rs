//! The bounded queue between callers and the processor: formatted lines in
//! per-thread single-producer buffers.
//!
//! Why not a channel of `String`s: that costs an allocation and a synchronised
//! hand-off per metric, which caps a client near a few million metrics a second.
//! Here a caller writes its line into the chunk of its thread's [`Slot`],
//! above what the slot has published, and publishes it with one
//! compare-exchange on a word of that slot; no lock, and no cache line shared
//! with another emitting thread. The processor takes the published prefix of
//! every slot (at most [`TAKE_BUDGET`] of each at a time), copying it into
//! buffers of its own that it writes whole.
//!
//! One way in, [`Queue::publish`], with two writers (`slot::LineWriter`):
//! `InPlace` for a line whose length is bounded up front (the plain and
//! tagged lines of the common calls), written straight into the chunk; and
//! `Measured` for the rest (rates, DogStatsD fields, events), formatted into
//! the slot's scratch buffer, which can measure and refuse a line that is
//! too long, then copied. Both publish the same way, so one thread's lines
//! keep their order whichever way each came.
//!
//! Why per thread: each thread that emits is given a slot of the queue (found
//! through a thread-local cache, registered once in a small registry). A
//! thread only ever writes to its slot, so the lines of one thread stay in the
//! order it emitted them (a gauge set then adjusted arrives set then
//! adjusted). When a thread exits, its thread-local destructor gives its
//! unused lease back and frees the slot for the next thread that registers:
//! its published lines stay there for the processor, and the number of slots
//! is the largest number of threads that emitted at once, never more. With
//! `emitting_threads(1)`, every thread writes one slot under a mutex
//! instead, which keeps the order of lines across threads.
//!
//! Why chunks: a slot's chunk never grows (the processor reads it while the
//! owner appends); when a line does not fit, the owner seals the chunk and
//! starts a fresh one, taking the slot's lock once per [`CHUNK`] bytes. A
//! thread's first chunk is small ([`FIRST_CHUNK`]), so that threads that emit
//! a little cost little memory.
//!
//! Why a bound in lines, leased: lines are the unit the original connector used
//! (1000 metrics) and the unit of every counter in [`Stats`](crate::Stats). The
//! bound is one pool for the whole queue, so a single thread can use all of it;
//! a slot takes room from the pool in leases, so the shared counter is touched
//! about once per lease, not per line, and the processor returns to the pool
//! what it takes. An idle thread keeps the unused rest of its lease (at most
//! `lease` lines) until it emits again or exits. When the pool is empty, the
//! metric is refused (the caller's side counts it as dropped and logs a
//! throttled warning): the caller never waits for the network.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed, Ordering::Release};
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::shared::ledger::Tally;
use crate::shared::loom::Arc as SlotArc;
use crate::shared::mutex::lock;
use crate::shared::slot::{Chunk, LineWriter, Outcome, Slot, SlotOwner};
use std::sync::Arc;

/// Lines taken from the queue by one [`Queue::take`], in a buffer of the
/// processor's.
#[derive(Debug, Default)]
pub(crate) struct TakenBuffer {
    /// Whole lines, each ending in `\n`.
    pub(crate) bytes: Vec<u8>,
    /// How many lines `bytes` holds.
    pub(crate) lines: usize,
}

/// The size of a slot's chunks after its first (see the module docs).
pub(crate) const CHUNK: usize = 128 * 1024;

/// The size of a slot's first chunk.
pub(crate) const FIRST_CHUNK: usize = 4 * 1024;

/// Written chunks kept for reuse, and as many of the processor's buffers.
const POOLED_CHUNKS: usize = 16;

/// About how many bytes one [`Queue::take`] copies out of one slot. A
/// backlog (a slow or absent server) is handed over this much at a time,
/// so the processor's buffers and the callers' chunks keep coming back
/// through the pools instead of being freed and allocated again (a take of
/// tens of megabytes cost fresh pages on both sides).
const TAKE_BUDGET: usize = POOLED_CHUNKS / 2 * CHUNK;

/// What a thread's cached slot keeps alive: the registry and pool it returns
/// its lease to when it exits.
#[derive(Debug)]
struct Core {
    /// Room not leased by any slot, in lines.
    pool: Padded<AtomicUsize>,
    /// Every slot, claimed or free; grows only when every slot is claimed.
    slots: Mutex<Vec<SlotArc<Slot>>>,
    /// Whether a stop closed the queue (read under `slots` when a slot is
    /// made, so that a new slot is born closed).
    closed: std::sync::atomic::AtomicBool,
    /// The queue is gone: cached entries for it can be dropped.
    dropped: std::sync::atomic::AtomicBool,
}

/// The queue shared by every handle and the processor.
#[derive(Debug)]
pub(crate) struct Queue {
    core: Arc<Core>,
    /// With `emitting_threads(1)`: the one slot, written under the mutex.
    single: Option<(Mutex<()>, SlotArc<Slot>)>,
    /// The bound, in lines.
    capacity: usize,
    /// How much room a slot leases at a time.
    lease: usize,
    /// Set by the processor before its last look at the queue when it is about
    /// to sleep; read by callers after they publish (see `slot`, the wake
    /// protocol).
    sleeping: Padded<std::sync::atomic::AtomicBool>,
    /// Wakes the processor when it sleeps and a line arrives.
    wake: Notify,
    /// Empty chunks that the processor has taken, for callers to fill
    /// again: the steady state allocates nothing, and memory stays flat.
    pool_of_chunks: Padded<Mutex<Vec<SlotArc<Chunk>>>>,
    /// The processor's written buffers, for the next take to fill.
    pool_of_buffers: Mutex<Vec<Vec<u8>>>,
    /// The slots a take looks at, copied from the registry so that a thread
    /// registering never waits for a take's copying.
    taking: Mutex<Vec<SlotArc<Slot>>>,
}

/// Keeps a value on cache lines of its own (128 bytes: adjacent-line
/// prefetching pairs 64-byte lines on x86).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

thread_local! {
    /// The queue this thread emitted to last and its slot there: one
    /// comparison finds it on the next call. Cleared by `Owned::drop` before
    /// the entry that keeps both alive goes.
    static LAST: std::cell::Cell<(*const Core, *const Slot)> =
        const { std::cell::Cell::new((std::ptr::null(), std::ptr::null())) };
    /// This thread's slots, one per queue it emitted to.
    static SLOTS: RefCell<Vec<Owned>> = const { RefCell::new(Vec::new()) };
}

/// What gives a caller the owner's access to its slot (see
/// `Queue::owned_slot`), until dropped.
enum Access<'a> {
    /// The one-buffer mutex.
    Locked(#[allow(dead_code)] std::sync::MutexGuard<'a, ()>),
    /// The slot's claim, held by this thread's `SLOTS`.
    Claimed,
    /// A slot claimed for one call, given back when this drops.
    ForThisCall(#[allow(dead_code)] Owned),
}

/// A slot this thread claimed. Dropping it (the thread exits, or the queue
/// is gone) gives the unused lease back and frees the slot; the lines it
/// published stay for the processor.
#[derive(Debug)]
struct Owned {
    core: Arc<Core>,
    slot: SlotArc<Slot>,
}

impl Drop for Owned {
    fn drop(&mut self) {
        let slot: *const Slot = &*self.slot;
        // Before the slot and its core can go: the cache must not outlive
        // them (it has no destructor, so it is there even during the
        // thread's teardown).
        let _ = LAST.try_with(|last| {
            if last.get().1 == slot {
                last.set((std::ptr::null(), std::ptr::null()));
            }
        });
        // SAFETY: this thread claimed the slot (`claimed`), so it has the
        // owner's access until the Release store below gives it up, and it
        // is not in a publish (a thread's teardown or a register, never inside
        // a publish's writer), so no other `SlotOwner` of it lives.
        let room = unsafe { self.slot.owner() }.give_back_room();
        if room > 0 {
            self.core.pool.fetch_add(room, Relaxed);
        }
        self.slot.claimed.store(false, Release);
    }
}

impl Core {
    /// Claims a free slot, or registers a new one.
    #[cold]
    fn claim(&self) -> SlotArc<Slot> {
        let mut slots = lock(&self.slots);
        for slot in slots.iter() {
            if slot
                .claimed
                .compare_exchange(false, true, std::sync::atomic::Ordering::Acquire, Relaxed)
                .is_ok()
            {
                return slot.clone();
            }
        }
        let slot = SlotArc::new(Slot::new(
            Chunk::new(FIRST_CHUNK),
            self.closed.load(Relaxed),
        ));
        slot.claimed.store(true, Relaxed);
        slots.push(slot.clone());
        slot
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.core.dropped.store(true, Relaxed);
    }
}

impl Queue {
    /// A queue holding at most `capacity` lines, for about
    /// `emitting_threads` threads emitting at once (it sizes the leases);
    /// with one, every thread writes one buffer (see the module docs).
    pub(crate) fn new(capacity: usize, emitting_threads: usize) -> Queue {
        let threads = emitting_threads.max(1).next_power_of_two();
        let core = Arc::new(Core {
            pool: Padded(AtomicUsize::new(capacity)),
            slots: Mutex::new(Vec::new()),
            closed: std::sync::atomic::AtomicBool::new(false),
            dropped: std::sync::atomic::AtomicBool::new(false),
        });
        let single = (threads == 1).then(|| (Mutex::new(()), core.claim()));
        Queue {
            core,
            single,
            capacity,
            // Small enough that idle leases strand little of the bound, large
            // enough that the pool is rarely touched.
            lease: (capacity / (threads * 8)).clamp(1, 1024),
            sleeping: Padded(std::sync::atomic::AtomicBool::new(false)),
            wake: Notify::new(),
            pool_of_chunks: Padded(Mutex::new(Vec::with_capacity(POOLED_CHUNKS))),
            pool_of_buffers: Mutex::new(Vec::with_capacity(POOLED_CHUNKS)),
            taking: Mutex::new(Vec::new()),
        }
    }

    /// Writes `lines` lines with `write` into the caller's slot and
    /// publishes them, or says why not ([`Outcome::Full`] when the bound is
    /// reached; the caller counts what it means, the queue keeps no
    /// statistics of drops). `check_closed: false` publishes even when the
    /// queue is closed: the processor's own lines (aggregates, telemetry)
    /// during a stop.
    #[inline(always)]
    pub(crate) fn publish<W: LineWriter>(
        &self,
        lines: usize,
        tally: Tally,
        check_closed: bool,
        write: W,
    ) -> Outcome<W::Declined> {
        // No look at `closed` first: a closed slot refuses the publish (its
        // `state` has `CLOSED`), which is the check that counts.
        match self.cached_owner() {
            Some(mut owner) => self.publish_to(&mut owner, lines, tally, check_closed, write),
            None => self
                .uncached(move |owner| self.publish_to(owner, lines, tally, check_closed, write)),
        }
    }

    /// Runs `publish` with the owner's access to this thread's slot when it is
    /// not the cached one (a first call, another queue, one buffer, a
    /// thread's teardown). Out of line: the closure costs nothing on the
    /// cached path.
    #[cold]
    #[inline(never)]
    fn uncached<R>(&self, publish: impl FnOnce(&mut SlotOwner<'_>) -> R) -> R {
        let (slot, _access) = self.owned_slot();
        // SAFETY: `owned_slot` gives a slot that outlives `_access`, and the
        // owner's access to it while `_access` lives, which covers the call;
        // no publish is running on this thread (publishes do not nest), so this is
        // the slot's only `SlotOwner`.
        let mut owner = unsafe { (*slot).owner() };
        publish(&mut owner)
    }

    /// The owner's access to this thread's slot of this queue, if it is the
    /// one in the one-entry cache `LAST` (see [`Queue::owned_slot`]).
    #[inline(always)]
    fn cached_owner(&self) -> Option<SlotOwner<'_>> {
        let (for_core, slot) = LAST.with(std::cell::Cell::get);
        // `LAST` is never set to a one-buffer queue's core.
        if for_core != Arc::as_ptr(&self.core) {
            return None;
        }
        // SAFETY: `LAST` names a slot this thread claimed for this queue,
        // kept alive (with its core, so the address cannot be reused) by its
        // entry in `SLOTS`, which goes only when the thread exits or when
        // this queue is dropped (it is borrowed for the result's life), and
        // whoever removes it clears `LAST` first (`Owned::drop`). The claim
        // is this thread's, so it has the owner's access, and no publish is
        // running on this thread (publishes do not nest): this is the slot's
        // only `SlotOwner`.
        Some(unsafe { (*slot).owner() })
    }

    /// This thread's slot of this queue, and what gives the owner's access
    /// to it until dropped: the one-buffer mutex held, or nothing for a slot
    /// this thread claimed (found in the one-entry cache `LAST`, else in
    /// `SLOTS`), or a slot claimed for one call during the thread's teardown.
    #[inline(always)]
    fn owned_slot(&self) -> (*const Slot, Access<'_>) {
        if let Some((mutex, slot)) = &self.single {
            // In one-buffer mode the slot is claimed by the queue and written
            // only under `mutex`: holding it is the owner's access.
            return (&**slot, Access::Locked(lock(mutex)));
        }
        self.registered_slot()
    }

    /// [`Queue::owned_slot`] for a thread that claims slots: its entry in
    /// `SLOTS`, registered if need be, then cached in `LAST`.
    #[cold]
    #[inline(never)]
    fn registered_slot(&self) -> (*const Slot, Access<'_>) {
        let core = &self.core;
        let cached = SLOTS.try_with(|slots| {
            let found = slots
                .borrow()
                .iter()
                .find(|owned| Arc::ptr_eq(&owned.core, core))
                .map(|owned| &*owned.slot as *const Slot);
            let slot = found.unwrap_or_else(|| self.register(slots));
            LAST.with(|last| last.set((Arc::as_ptr(core), slot)));
            slot
        });
        match cached {
            // A slot this thread claimed, kept alive by its entry in `SLOTS`,
            // which is only removed when the thread exits or when its queue
            // is dropped (not this one: we borrow it).
            Ok(slot) => (slot, Access::Claimed),
            // The thread's locals are being torn down: claim a slot for
            // this one call (given back when the `Owned` drops).
            Err(_) => {
                let owned = Owned {
                    core: core.clone(),
                    slot: core.claim(),
                };
                (&*owned.slot, Access::ForThisCall(owned))
            }
        }
    }

    /// Claims a slot for this thread and caches it.
    #[cold]
    fn register(&self, slots: &RefCell<Vec<Owned>>) -> *const Slot {
        let mut slots = slots.borrow_mut();
        // Slots of queues that are gone: free them now.
        slots.retain(|owned| !owned.core.dropped.load(Relaxed));
        let slot = self.core.claim();
        let pointer = &*slot as *const Slot;
        slots.push(Owned {
            core: self.core.clone(),
            slot,
        });
        pointer
    }

    /// [`Queue::publish`] with the owner's access: leases more room if the
    /// slot has too little, and wakes the processor if it sleeps.
    #[inline(always)]
    fn publish_to<W: LineWriter>(
        &self,
        owner: &mut SlotOwner<'_>,
        lines: usize,
        tally: Tally,
        check_closed: bool,
        write: W,
    ) -> Outcome<W::Declined> {
        if owner.room() < lines && !self.lease_more(owner, lines) {
            return write.unwritten().map_or(Outcome::Full, Outcome::Declined);
        }
        let fresh = |len| self.fresh_chunk(len);
        let outcome = owner.publish(lines, tally, check_closed, write, fresh);
        // After the publish (a read-modify-write): see `slot`, the wake
        // protocol. While the processor is busy no caller pays for a wake-up.
        if self.sleeping.load(Relaxed) {
            self.wake_processor();
        }
        outcome
    }

    #[cold]
    fn wake_processor(&self) {
        self.sleeping.store(false, Relaxed);
        self.wake.notify_one();
    }

    /// An empty chunk of at least `len` bytes: a written one from the pool,
    /// or a new one.
    #[cold]
    fn fresh_chunk(&self, len: usize) -> SlotArc<Chunk> {
        if len > CHUNK {
            return SlotArc::new(Chunk::new(len));
        }
        let pooled = lock(&self.pool_of_chunks).pop();
        pooled.unwrap_or_else(|| SlotArc::new(Chunk::new(CHUNK)))
    }

    /// Takes room for at least `lines` more lines from the pool (a lease, or
    /// what is left of it); returns whether the slot now has room. A lease
    /// that leaves less than half the bound in the pool wakes the processor:
    /// it may be letting a batch grow; hurry it, before anything has to be
    /// dropped.
    #[cold]
    fn lease_more(&self, owner: &mut SlotOwner<'_>, lines: usize) -> bool {
        let needed = lines - owner.room();
        let wanted = needed.max(self.lease);
        let taken = self.core.pool.fetch_update(Relaxed, Relaxed, |available| {
            (available >= needed).then(|| available - wanted.min(available))
        });
        match taken {
            Ok(available) => {
                let granted = wanted.min(available);
                owner.add_room(granted);
                if (available - granted) * 2 < self.capacity {
                    self.wake_processor();
                }
                true
            }
            Err(_) => {
                self.wake_processor();
                false
            }
        }
    }

    /// Keeps a sealed chunk that the processor has taken for reuse, if it is
    /// of the working size and the pool has room.
    fn recycle_chunk(&self, chunk: SlotArc<Chunk>) {
        if chunk.capacity() == CHUNK && SlotArc::strong_count(&chunk) == 1 {
            let mut pool = lock(&self.pool_of_chunks);
            if pool.len() < POOLED_CHUNKS {
                pool.push(chunk);
            }
        }
    }

    /// Moves the published lines of every slot (up to [`TAKE_BUDGET`] from
    /// each) into `out`, copied into buffers of the processor's (`written`
    /// ones first, once written). Returns the number of lines taken, which
    /// go back to the pool; 0 only when every slot is empty (the processor
    /// sleeps on that, see the wake protocol in `slot`).
    pub(crate) fn take(&self, out: &mut Vec<TakenBuffer>, written: &mut Vec<Vec<u8>>) -> usize {
        let mut buffers = lock(&self.pool_of_buffers);
        for mut buffer in written.drain(..) {
            if buffers.len() < POOLED_CHUNKS && (CHUNK..=4 * CHUNK).contains(&buffer.capacity()) {
                buffer.clear();
                buffers.push(buffer);
            }
        }
        let mut filling: Option<TakenBuffer> = None;
        let mut taken = 0;
        // A copy of the registry: a thread that registers after it was made
        // took the registry's lock after this take (and after a
        // `going_to_sleep` before it), so it sees `sleeping`.
        let mut slots = lock(&self.taking);
        slots.extend(lock(&self.core.slots).iter().cloned());
        for slot in slots.iter() {
            taken += slot.take(
                TAKE_BUDGET,
                |piece| {
                    let len = piece.len();
                    let full = filling
                        .as_ref()
                        .is_none_or(|b| b.bytes.len() + len > b.bytes.capacity());
                    if full {
                        out.extend(filling.take());
                        let mut bytes = buffers.pop().unwrap_or_default();
                        bytes.reserve(len.max(CHUNK));
                        filling = Some(TakenBuffer { bytes, lines: 0 });
                    }
                    if let Some(buffer) = filling.as_mut() {
                        piece.copy_to(&mut buffer.bytes);
                        buffer.lines += piece.lines;
                    }
                },
                |chunk| self.recycle_chunk(chunk),
            );
        }
        slots.clear();
        drop(slots);
        out.extend(filling);
        if taken > 0 {
            self.core.pool.fetch_add(taken, Relaxed);
        }
        taken
    }

    /// Refuses callers' lines from now on, then empties every slot; returns
    /// the number of lines discarded. After it returns no caller's line is
    /// left in the queue: each slot is closed and emptied in one step (see
    /// `slot`), so a publish either came before (and is discarded, counted)
    /// or fails.
    pub(crate) fn close_and_clear(&self) -> usize {
        self.clear_slots(true)
    }

    /// Accepts callers' lines again (a start).
    pub(crate) fn open(&self) {
        let slots = lock(&self.core.slots);
        self.core.closed.store(false, Relaxed);
        for slot in slots.iter() {
            slot.open();
        }
    }

    /// Whether callers' lines are refused (a stop completed), as far as a
    /// relaxed read can tell: for what bypasses the queue.
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.core.closed.load(Relaxed)
    }

    /// Empties every slot; returns the number of lines discarded.
    pub(crate) fn clear(&self) -> usize {
        self.clear_slots(false)
    }

    fn clear_slots(&self, close: bool) -> usize {
        let slots = lock(&self.core.slots);
        if close {
            self.core.closed.store(true, Relaxed);
        }
        let cleared: usize = slots
            .iter()
            .map(|slot| slot.clear(close, |chunk| self.recycle_chunk(chunk)))
            .sum();
        drop(slots);
        if cleared > 0 {
            self.core.pool.fetch_add(cleared, Relaxed);
        }
        cleared
    }

    /// How many slots the queue has (at most the threads that emitted at
    /// once, and the one-buffer slot).
    pub(crate) fn slot_count(&self) -> u64 {
        lock(&self.core.slots).len() as u64
    }

    /// Lines ever accepted, by tally.
    pub(crate) fn accepted_by_tally(&self) -> [u64; Tally::COUNT] {
        lock(&self.core.slots)
            .iter()
            .fold([0; Tally::COUNT], |mut sum, slot| {
                for (sum, count) in sum.iter_mut().zip(slot.accepted_by_tally()) {
                    *sum += count;
                }
                sum
            })
    }

    /// `(lines ever accepted, lines in the queue now)`.
    pub(crate) fn counts(&self) -> (u64, u64) {
        lock(&self.core.slots)
            .iter()
            .fold((0, 0), |(accepted, now), slot| {
                let (ever, held) = slot.counts();
                (accepted + ever, now + held as u64)
            })
    }

    /// Lines in the slots that are not being sealed or taken this instant:
    /// for `Debug`, which must never wait for a lock.
    pub(crate) fn depth_without_waiting(&self) -> u64 {
        match self.core.slots.try_lock() {
            Ok(slots) => slots
                .iter()
                .map(|slot| slot.depth_without_waiting() as u64)
                .sum(),
            Err(_) => 0,
        }
    }

    /// Announces that the processor is about to sleep. It must then look at
    /// the queue once more ([`Queue::take`]) before it waits in
    /// [`Queue::woken`], and call [`Queue::awake`] if it does not wait.
    pub(crate) fn going_to_sleep(&self) {
        self.sleeping.store(true, Relaxed);
    }

    /// Withdraws [`Queue::going_to_sleep`].
    pub(crate) fn awake(&self) {
        self.sleeping.store(false, Relaxed);
    }

    /// Completes when a caller has queued a line since the processor went to
    /// sleep, or the pool has fallen below half the bound.
    pub(crate) async fn woken(&self) {
        self.wake.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, ErrorKind};
    use crate::shared::slot::{InPlace, Leftover, Measured};

    /// What a caller would answer for `outcome` (the writers here never
    /// decline).
    fn result<D: std::fmt::Debug>(outcome: Outcome<D>) -> Result<(), Error> {
        match outcome {
            Outcome::Accepted => Ok(()),
            Outcome::Full => Err(Error::from(ErrorKind::QueueFull)),
            Outcome::Closed => Err(Error::from(ErrorKind::Stopped)),
            Outcome::Declined(declined) => panic!("declined: {declined:?}"),
        }
    }

    fn push_line(queue: &Queue, line: &[u8]) -> Result<(), Error> {
        let write = Measured(|buf: &mut Vec<u8>| {
            buf.extend_from_slice(line);
            Ok::<(), Error>(())
        });
        result(queue.publish(1, Tally::OTHER, true, write))
    }

    /// [`push_line`] by the in-place writer.
    fn push_line_direct(queue: &Queue, line: &[u8]) -> Result<(), Error> {
        let write = InPlace::new(line.len(), |out: &mut [u8]| {
            out[..line.len()].copy_from_slice(line);
            line.len()
        });
        result(queue.publish(1, Tally::OTHER, true, write))
    }

    #[test]
    fn lines_are_counted_by_tally_and_the_tallies_add_up_to_accepted() {
        let queue = Queue::new(100, 4);
        let counter = Tally::of(crate::wire::metric::MetricType::Counter);
        let gauge = Tally::of(crate::wire::metric::MetricType::Gauge);
        let write = Measured(|buf: &mut Vec<u8>| {
            buf.extend_from_slice(b"g:0|g\ng:-1|g\n");
            Ok::<(), Error>(())
        });
        result(queue.publish(2, gauge, true, write)).unwrap();
        let write = InPlace::new(4, |out: &mut [u8]| {
            out[..4].copy_from_slice(b"c:1\n");
            4
        });
        result(queue.publish(1, counter, true, write)).unwrap();
        push_line(&queue, b"_e{1,1}:a|b\n").unwrap();
        let by_tally = queue.accepted_by_tally();
        assert_eq!(by_tally[counter.index()], 1);
        assert_eq!(by_tally[gauge.index()], 2);
        assert_eq!(by_tally[Tally::OTHER.index()], 1);
        assert_eq!(by_tally.iter().sum::<u64>(), queue.counts().0);
    }

    /// Odd lines by the scratch path, even ones in place: the two paths
    /// share one slot and must keep one order.
    fn push_either(queue: &Queue, i: usize, line: &[u8]) -> Result<(), Error> {
        if i % 2 == 0 {
            push_line_direct(queue, line)
        } else {
            push_line(queue, line)
        }
    }

    #[test]
    fn a_single_thread_can_use_the_whole_bound() {
        let queue = Queue::new(8, 4);
        for _ in 0..8 {
            push_line(&queue, b"a:1|c\n").unwrap();
        }
        assert!(push_line(&queue, b"a:1|c\n").unwrap_err().is_queue_full());
        assert_eq!(queue.counts(), (8, 8));
    }

    #[test]
    fn a_slot_seals_chunks_instead_of_growing_and_keeps_their_order() {
        let queue = Queue::new(1_000_000, 1);
        // Long lines under Miri: three chunks in few lines.
        let pad = if cfg!(miri) {
            "x".repeat(990)
        } else {
            String::new()
        };
        let lines = 3 * CHUNK / (10 + pad.len()) + 7;
        for i in 0..lines {
            let line = format!("n{pad}:{:05}|c\n", i % 100_000);
            push_line(&queue, line.as_bytes()).unwrap();
        }
        let (mut out, mut spares) = (Vec::new(), Vec::new());
        assert_eq!(queue.take(&mut out, &mut spares), lines);
        assert!(out.len() >= 3, "{} chunks", out.len());
        assert!(out.iter().all(|c| c.bytes.capacity() <= CHUNK));
        assert_eq!(out.iter().map(|c| c.lines).sum::<usize>(), lines);
        let text = out
            .iter()
            .map(|c| &c.bytes[..])
            .collect::<Vec<_>>()
            .concat();
        let expected: String = (0..lines)
            .map(|i| format!("n{pad}:{:05}|c\n", i % 100_000))
            .collect();
        assert_eq!(text, expected.as_bytes());
        assert_eq!(queue.counts(), (lines as u64, 0));
    }

    /// A backlog of several budgets comes out a bounded piece at a time
    /// (whole chunks), in order, and every take but the last leaves the
    /// rest for the next.
    #[test]
    fn a_backlog_is_taken_a_budget_at_a_time_in_order() {
        let queue = Queue::new(10_000_000, 4);
        // Long lines under Miri, so that three budgets are few lines.
        let pad = if cfg!(miri) {
            "x".repeat(4000)
        } else {
            String::new()
        };
        let line = |i: usize| format!("backlog{pad}:{i:010}|c\n");
        let lines = 3 * TAKE_BUDGET / line(0).len();
        for i in 0..lines {
            push_line(&queue, line(i).as_bytes()).unwrap();
        }
        let (mut out, mut spares) = (Vec::new(), Vec::new());
        let (mut text, mut takes) = (Vec::new(), 0);
        loop {
            let taken = queue.take(&mut out, &mut spares);
            if taken == 0 {
                break;
            }
            takes += 1;
            let bytes: usize = out.iter().map(|b| b.bytes.len()).sum();
            assert!(bytes <= TAKE_BUDGET + CHUNK, "{bytes} bytes in one take");
            assert_eq!(out.iter().map(|b| b.lines).sum::<usize>(), taken);
            for buffer in out.drain(..) {
                text.extend_from_slice(&buffer.bytes);
                spares.push(buffer.bytes);
            }
        }
        assert!(takes >= 3, "{takes} takes");
        let expected: String = (0..lines).map(line).collect();
        assert!(text == expected.as_bytes(), "lines lost or out of order");
        assert_eq!(queue.counts(), (lines as u64, 0));
    }

    /// Lines that end exactly at a chunk's end, by both paths, in both
    /// modes: the next line starts a fresh chunk, and every byte comes out
    /// once, in order (Miri runs this: the in-place write and the copy into
    /// the chunk are the unsafe edges). Then a line exactly as long as a
    /// fresh chunk, and one longer than any (a chunk of its own size).
    #[test]
    fn a_line_that_ends_exactly_at_a_chunks_end_stays_whole() {
        for slots in [1, 4] {
            let queue = Queue::new(1_000_000, slots);
            let mut expected = Vec::new();
            // 16-byte lines: `FIRST_CHUNK / 16` of them fill the first chunk.
            for i in 0..FIRST_CHUNK / 16 + 3 {
                let line = format!("edges.{:05}:{}|c\n", i % 100_000, i % 10);
                assert_eq!(line.len(), 16);
                push_either(&queue, i, line.as_bytes()).unwrap();
                expected.extend_from_slice(line.as_bytes());
            }
            for len in [CHUNK, CHUNK + 1] {
                let mut line = vec![b'x'; len - 1];
                line.push(b'\n');
                push_line(&queue, &line).unwrap();
                push_line_direct(&queue, &line).unwrap();
                expected.extend_from_slice(&line);
                expected.extend_from_slice(&line);
            }
            let (mut out, mut spares) = (Vec::new(), Vec::new());
            let mut text = Vec::new();
            while queue.take(&mut out, &mut spares) > 0 {
                for buffer in out.drain(..) {
                    text.extend_from_slice(&buffer.bytes);
                }
            }
            assert!(text == expected, "{slots} slots: bytes lost or reordered");
        }
    }

    #[test]
    fn take_hands_over_whole_buffers_and_frees_the_bound() {
        let queue = Queue::new(4, 2);
        for _ in 0..4 {
            push_line(&queue, b"a:1|c\n").unwrap();
        }
        let (mut out, mut spares) = (Vec::new(), Vec::new());
        assert_eq!(queue.take(&mut out, &mut spares), 4);
        let bytes: Vec<u8> = out.iter().flat_map(|b| b.bytes.clone()).collect();
        assert_eq!(bytes, b"a:1|c\n".repeat(4));
        push_line(&queue, b"b:1|c\n").unwrap();
        assert_eq!(queue.counts(), (5, 1));
    }

    #[test]
    fn lines_of_one_thread_keep_their_order_and_leases_return() {
        let queue = Queue::new(64, 8);
        let (mut out, mut spares) = (Vec::new(), Vec::new());
        let mut all = Vec::new();
        for round in 0..10 {
            for i in 0..50 {
                let line = format!("l{round}.{i}:1|c\n");
                push_line(&queue, line.as_bytes()).unwrap();
            }
            queue.take(&mut out, &mut spares);
            for buffer in out.drain(..) {
                all.extend(buffer.bytes);
            }
        }
        let expected: String = (0..10)
            .flat_map(|r| (0..50).map(move |i| format!("l{r}.{i}:1|c\n")))
            .collect();
        assert_eq!(String::from_utf8(all).unwrap(), expected);
        // What a thread leased and did not use stays with it until it emits
        // again or exits.
        let (mutex_free_room, pool) = SLOTS.with(|slots| {
            let slots = slots.borrow();
            let owned = slots
                .iter()
                .find(|o| Arc::ptr_eq(&o.core, &queue.core))
                .unwrap();
            // SAFETY: this thread claimed the slot and is not pushing now.
            let room = unsafe { owned.slot.owner() }.room();
            (room, queue.core.pool.load(Relaxed))
        });
        assert_eq!(pool + mutex_free_room, 64, "every lease came back");
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let queue = Queue::new(4, 1);
        let write = Measured(|_: &mut Vec<u8>| Err("no"));
        assert_eq!(
            queue.publish(1, Tally::OTHER, true, write),
            Outcome::Declined("no")
        );
        let write = InPlace::new(8, |_: &mut [u8]| 0);
        assert_eq!(
            queue.publish(1, Tally::OTHER, true, write),
            Outcome::Declined(Leftover)
        );
        assert_eq!(queue.counts(), (0, 0));
    }

    #[test]
    fn clear_discards_and_counts() {
        let queue = Queue::new(4, 2);
        push_line(&queue, b"a:1|c\n").unwrap();
        push_line(&queue, b"a:1|c\n").unwrap();
        assert_eq!(queue.clear(), 2);
        assert_eq!(queue.counts(), (2, 0));
    }

    /// Threads come and go (8 at a time, 200 in all) while the processor
    /// takes: every line arrives once, each thread's in order, and slots of
    /// exited threads are reused instead of piling up.
    #[test]
    fn short_lived_threads_lose_nothing_and_reuse_slots() {
        let queue = Arc::new(Queue::new(1_000_000, 4));
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let taker = {
            let (queue, done) = (queue.clone(), done.clone());
            std::thread::spawn(move || {
                let (mut out, mut spares) = (Vec::new(), Vec::new());
                let mut text = Vec::new();
                loop {
                    let finished = done.load(std::sync::atomic::Ordering::Acquire);
                    queue.take(&mut out, &mut spares);
                    for buffer in out.drain(..) {
                        text.extend_from_slice(&buffer.bytes);
                        spares.push(buffer.bytes);
                    }
                    if finished {
                        return text;
                    }
                }
            })
        };
        // Fewer under Miri, which runs every thread's every step.
        let (waves, per_thread) = if cfg!(miri) { (3, 20) } else { (25, 500) };
        for wave in 0..waves {
            let threads: Vec<_> = (0..8)
                .map(|t| {
                    let queue = queue.clone();
                    std::thread::spawn(move || {
                        for i in 0..per_thread {
                            let line = format!("w{wave}t{t}:{i}|c\n");
                            push_either(&queue, i, line.as_bytes()).unwrap();
                        }
                    })
                })
                .collect();
            threads.into_iter().for_each(|t| t.join().unwrap());
        }
        done.store(true, std::sync::atomic::Ordering::Release);
        let text = String::from_utf8(taker.join().unwrap()).unwrap();
        let mut next = std::collections::HashMap::new();
        for line in text.lines() {
            let (who, i) = line.trim_end_matches("|c").split_once(':').unwrap();
            let expected = next.entry(who.to_owned()).or_insert(0);
            assert_eq!(i.parse::<usize>().unwrap(), *expected, "{who} out of order");
            *expected += 1;
        }
        assert_eq!(next.len(), waves * 8);
        assert!(next.values().all(|&n| n == per_thread));
        assert_eq!(queue.counts(), ((waves * 8 * per_thread) as u64, 0));
        let slots = lock(&queue.core.slots).len();
        assert!(slots <= 8 + 1, "{slots} slots for 8 threads at a time");
        // Every exited thread gave its lease back.
        assert_eq!(queue.core.pool.load(Relaxed), 1_000_000);
    }

    /// A stop closes the queue while threads emit: afterwards nothing is
    /// left in it, and every accepted line was either taken or discarded.
    #[test]
    fn a_stop_racing_emitting_threads_leaves_nothing_behind() {
        let (rounds, per_thread) = if cfg!(miri) { (2, 50) } else { (20, 2000) };
        for _ in 0..rounds {
            let queue = Arc::new(Queue::new(1_000_000, 4));
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let queue = queue.clone();
                    std::thread::spawn(move || {
                        let mut accepted = 0u64;
                        for i in 0..per_thread {
                            match push_either(&queue, i, b"a:1|c\n") {
                                Ok(()) => accepted += 1,
                                Err(e) => assert!(matches!(e.kind(), ErrorKind::Stopped)),
                            }
                        }
                        accepted
                    })
                })
                .collect();
            let (mut out, mut spares) = (Vec::new(), Vec::new());
            let taken = queue.take(&mut out, &mut spares);
            let cleared = queue.close_and_clear();
            assert_eq!(queue.counts().1, 0);
            let accepted: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
            assert_eq!(
                queue.counts(),
                (accepted, 0),
                "nothing slipped in after the stop"
            );
            assert_eq!(accepted, (taken + cleared) as u64);
        }
    }
}
