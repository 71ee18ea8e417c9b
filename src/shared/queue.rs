//! The bounded queue between callers and the processor: formatted lines in a few
//! sharded byte buffers.
//!
//! Why not a channel of `String`s: that costs an allocation and a synchronised
//! hand-off per metric, which caps a client near a few million metrics a second.
//! Here a caller formats its line straight into the byte buffer of a shard, under
//! that shard's mutex, and the processor takes a whole buffer at a time by
//! swapping it with an empty one of the same capacity: no copy, and no allocation
//! once the buffers have grown to their working size.
//!
//! Why shards: each thread is given a home shard (round robin, on first use), so
//! two threads emitting at once lock different mutexes and their cache lines
//! never bounce between cores. The mutex is uncontended except for the instant
//! the processor swaps the buffer out. A thread only ever writes to its home
//! shard, so the lines of one thread stay in the order it emitted them (a gauge
//! set then adjusted arrives set then adjusted).
//!
//! Why chunks: a shard's buffer is sealed when it reaches [`CHUNK`] bytes and
//! a fresh one started, instead of growing. Growing a large `Vec` copies it
//! whole, and that copy (hundreds of microseconds for megabytes, while the
//! processor cannot write) would land on one unlucky caller; sealing costs
//! one allocation per chunk of lines, which the processor writes with the
//! rest in one vectored call.
//!
//! Why a bound in lines, leased: lines are the unit the original connector used
//! (1000 metrics) and the unit of every counter in [`Stats`](crate::Stats). The
//! bound is one pool for the whole queue, so a single thread can use all of it;
//! a shard takes room from the pool in chunks (a lease), so the shared counter
//! is touched about once per chunk of lines, not per line, and the processor
//! returns a shard's lease when it takes its lines. When the pool is empty, the
//! metric is refused (the caller's side counts it as dropped and logs a
//! throttled warning): the caller never waits for the network.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::error::{Error, ErrorKind};
use crate::shared::lock;

/// The formatted lines of one shard.
#[derive(Debug, Default)]
pub(crate) struct ShardBuffer {
    /// Whole lines, each ending in `\n`.
    pub(crate) bytes: Vec<u8>,
    /// How many lines `bytes` holds.
    pub(crate) lines: usize,
    /// Full chunks waiting for the processor, oldest first (lines in
    /// `bytes` came after them).
    sealed: Vec<ShardBuffer>,
    /// How many lines `sealed` holds.
    sealed_lines: usize,
    /// Lines ever accepted by this shard (the `queued` statistic).
    accepted: u64,
    /// Room taken from the queue's pool, in lines: `lines <= leased`.
    leased: usize,
    /// Whether this shard has woken the processor for being half full since
    /// the processor last took it.
    pressed: bool,
}

/// The size at which a shard's buffer is sealed (see the module docs).
pub(crate) const CHUNK: usize = 128 * 1024;

/// Room kept free at the end of a chunk, so that a line of up to this length
/// never makes the buffer grow.
const CHUNK_SLACK: usize = 4 * 1024;

impl ShardBuffer {
    /// Lines in this shard, sealed chunks included.
    #[inline]
    fn total_lines(&self) -> usize {
        self.lines + self.sealed_lines
    }

    /// Makes room for the next line without growing a large buffer: seals a
    /// full chunk and starts `fresh`, or gives an empty buffer its working
    /// size at once.
    fn make_room(&mut self, fresh: Vec<u8>) {
        let full = std::mem::replace(&mut self.bytes, fresh);
        if !full.is_empty() {
            self.sealed_lines += self.lines;
            self.sealed.push(ShardBuffer {
                bytes: full,
                lines: std::mem::take(&mut self.lines),
                ..ShardBuffer::default()
            });
        }
    }
}

/// Written chunks kept for reuse: enough for a few takes of every shard.
const POOLED_CHUNKS: usize = 16;

/// A shard, aligned to its own cache lines so that neighbours never share one.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard {
    buffer: Mutex<ShardBuffer>,
}

/// The queue shared by every handle and the processor.
#[derive(Debug)]
pub(crate) struct Queue {
    // Read by every caller, written never: these share a cache line that
    // stays shared between cores. What the processor or a caller writes lives
    // on lines of its own (`Padded`), so that a write there does not pull
    // this line away from every emitting thread.
    shards: Box<[Shard]>,
    /// `shards.len() - 1`; the number of shards is a power of two, so a home
    /// shard is a mask away, not a division.
    shard_mask: usize,
    /// Lines in one shard at which it asks the processor to hurry: its share
    /// of half the bound.
    press_at: usize,
    /// How much room a shard leases at a time.
    lease: usize,
    /// Room not leased by any shard, in lines.
    pool: Padded<AtomicUsize>,
    /// Set by the processor before its last look at the queue when it is about
    /// to sleep; read by callers under the shard lock, which orders the two.
    sleeping: Padded<AtomicBool>,
    /// Wakes the processor when it sleeps and a line arrives.
    wake: Notify,
    /// Set by a completed stop, cleared by a start: callers' lines are then
    /// refused. Read by callers under the shard lock.
    closed: AtomicBool,
    /// Empty chunks that the processor has written, for callers to fill
    /// again: the steady state allocates nothing, and memory stays flat.
    pool_of_chunks: Padded<Mutex<Vec<Vec<u8>>>>,
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

/// A round-robin source of home shards for threads.
static NEXT_HOME: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's home shard index (before reduction modulo the shard count).
    static HOME: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's home index, assigned round robin on first use; shared by the
/// queue shards and the aggregation stripes.
#[inline]
pub(crate) fn home_hint() -> usize {
    HOME.with(|home| {
        let mut value = home.get();
        if value == usize::MAX {
            value = NEXT_HOME.fetch_add(1, Relaxed);
            home.set(value);
        }
        value
    })
}

impl Queue {
    /// A queue holding at most `capacity` lines in `shards` shards (rounded up
    /// to a power of two).
    pub(crate) fn new(capacity: usize, shards: usize) -> Queue {
        let shards = shards.max(1).next_power_of_two();
        Queue {
            shards: (0..shards).map(|_| Shard::default()).collect(),
            shard_mask: shards - 1,
            press_at: capacity.div_ceil(shards).div_ceil(2),
            // Small enough that idle leases strand little of the bound, large
            // enough that the pool is rarely touched.
            lease: (capacity / (shards * 8)).clamp(1, 1024),
            pool: Padded(AtomicUsize::new(capacity)),
            sleeping: Padded(AtomicBool::new(false)),
            wake: Notify::new(),
            closed: AtomicBool::new(false),
            pool_of_chunks: Padded(Mutex::new(Vec::with_capacity(POOLED_CHUNKS))),
        }
    }

    /// Appends `lines` lines written by `write` to the caller's home shard,
    /// or refuses them with an error of kind `QueueFull` when the bound is reached
    /// (the caller counts the drop; the queue keeps no statistics of drops).
    ///
    /// `write` must append whole lines or, on error, leave the buffer as it was.
    #[inline]
    pub(crate) fn push<F>(&self, lines: usize, write: F) -> Result<(), Error>
    where
        F: FnOnce(&mut Vec<u8>) -> Result<(), Error>,
    {
        self.push_inner::<true, F>(lines, write)
    }

    /// [`Queue::push`] even when the queue is closed: the processor's own
    /// lines (aggregates, telemetry) during a stop.
    #[inline]
    pub(crate) fn push_always<F>(&self, lines: usize, write: F) -> Result<(), Error>
    where
        F: FnOnce(&mut Vec<u8>) -> Result<(), Error>,
    {
        self.push_inner::<false, F>(lines, write)
    }

    #[inline]
    fn push_inner<const CHECK_CLOSED: bool, F>(&self, lines: usize, write: F) -> Result<(), Error>
    where
        F: FnOnce(&mut Vec<u8>) -> Result<(), Error>,
    {
        let shard = &self.shards[home_hint() & self.shard_mask];
        let mut guard = lock(&shard.buffer);
        // Read under the shard lock: `close` sets the flag before it takes
        // every shard's lock to clear it, so a line either lands before that
        // clear (and is discarded, counted) or sees the flag. None slips in
        // after a stop.
        if CHECK_CLOSED && self.closed.load(Relaxed) {
            return Err(Error::from(crate::error::ErrorKind::Stopped));
        }
        if guard.total_lines() + lines > guard.leased && !self.lease_more(&mut guard, lines) {
            return Err(Error::from(ErrorKind::QueueFull));
        }
        if guard.bytes.len() >= CHUNK - CHUNK_SLACK || guard.bytes.capacity() == 0 {
            guard.make_room(self.fresh_chunk());
        }
        write(&mut guard.bytes)?;
        guard.lines += lines;
        guard.accepted += lines as u64;
        // Read under the lock: if the processor's last look at this shard came
        // before our lock, it set `sleeping` before that look, and we see it.
        // Otherwise it sees our line. Either way no line waits unnoticed, and
        // while the processor is busy no caller pays for a wake-up.
        let mut wake = self.sleeping.load(Relaxed);
        if !guard.pressed && guard.total_lines() >= self.press_at {
            // This shard holds its share of half the bound: the processor may
            // be letting a batch grow; hurry it, once per take, before
            // anything has to be dropped.
            guard.pressed = true;
            wake = true;
        }
        drop(guard);
        if wake {
            self.sleeping.store(false, Relaxed);
            self.wake.notify_one();
        }
        Ok(())
    }

    /// An empty chunk: a written one from the pool, or a new one.
    #[cold]
    fn fresh_chunk(&self) -> Vec<u8> {
        let pooled = lock(&self.pool_of_chunks).pop();
        pooled.unwrap_or_else(|| Vec::with_capacity(CHUNK))
    }

    /// Keeps written buffers of a chunk's size for reuse, up to a few; frees
    /// the rest.
    fn recycle(&self, buffers: &mut Vec<Vec<u8>>) {
        let mut pool = lock(&self.pool_of_chunks);
        for mut buffer in buffers.drain(..) {
            if pool.len() < POOLED_CHUNKS && (CHUNK..=4 * CHUNK).contains(&buffer.capacity()) {
                buffer.clear();
                pool.push(buffer);
            }
        }
    }

    /// Takes room for at least `lines` more lines from the pool (a lease, or
    /// what is left of it); returns whether the shard now has room.
    #[cold]
    fn lease_more(&self, guard: &mut ShardBuffer, lines: usize) -> bool {
        let needed = guard.total_lines() + lines - guard.leased;
        let wanted = needed.max(self.lease);
        let taken = self.pool.fetch_update(Relaxed, Relaxed, |available| {
            (available >= needed).then(|| available - wanted.min(available))
        });
        match taken {
            Ok(available) => {
                guard.leased += wanted.min(available);
                true
            }
            Err(_) => false,
        }
    }

    /// Gives a shard's lease back to the pool (its lines are gone).
    fn release(&self, guard: &mut ShardBuffer) {
        let unused = std::mem::take(&mut guard.leased) - guard.total_lines();
        if unused > 0 {
            self.pool.fetch_add(unused, Relaxed);
        }
    }

    /// Moves every shard's lines into `out`, swapping each non-empty buffer with
    /// an empty one; `written` buffers go back to the pool of chunks first.
    /// Returns the number of lines taken.
    pub(crate) fn take(&self, out: &mut Vec<ShardBuffer>, written: &mut Vec<Vec<u8>>) -> usize {
        if !written.is_empty() {
            self.recycle(written);
        }
        let mut taken = 0;
        for shard in self.shards.iter() {
            let mut guard = lock(&shard.buffer);
            if guard.total_lines() == 0 {
                continue;
            }
            taken += guard.total_lines();
            guard.sealed_lines = 0;
            out.append(&mut guard.sealed);
            if guard.lines > 0 {
                // The next line takes a chunk from the pool (`fresh_chunk`).
                let bytes = std::mem::take(&mut guard.bytes);
                let lines = std::mem::take(&mut guard.lines);
                out.push(ShardBuffer {
                    bytes,
                    lines,
                    ..ShardBuffer::default()
                });
            }
            guard.pressed = false;
            self.release(&mut guard);
        }
        taken
    }

    /// Refuses callers' lines from now on, then empties every shard; returns
    /// the number of lines discarded. After it returns no caller's line is
    /// left in the queue (see `push_inner`).
    pub(crate) fn close_and_clear(&self) -> usize {
        self.closed.store(true, Relaxed);
        self.clear()
    }

    /// Accepts callers' lines again (a start).
    pub(crate) fn open(&self) {
        self.closed.store(false, Relaxed);
    }

    /// Whether callers' lines are refused (a stop completed), as far as a
    /// relaxed read can tell: for what bypasses the queue.
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Relaxed)
    }

    /// Empties every shard; returns the number of lines discarded.
    pub(crate) fn clear(&self) -> usize {
        let mut cleared = 0;
        for shard in self.shards.iter() {
            let mut guard = lock(&shard.buffer);
            cleared += guard.total_lines();
            guard.lines = 0;
            guard.sealed_lines = 0;
            guard.sealed.clear();
            guard.bytes.clear();
            self.release(&mut guard);
        }
        cleared
    }

    /// `(lines ever accepted, lines in the queue now)`.
    pub(crate) fn counts(&self) -> (u64, u64) {
        self.shards.iter().fold((0, 0), |(accepted, now), shard| {
            let guard = lock(&shard.buffer);
            (accepted + guard.accepted, now + guard.total_lines() as u64)
        })
    }

    /// Lines in the shards that are not being written this instant: for
    /// `Debug`, which must never wait for a lock.
    pub(crate) fn depth_without_waiting(&self) -> u64 {
        self.shards
            .iter()
            .filter_map(|shard| shard.buffer.try_lock().ok())
            .map(|guard| guard.total_lines() as u64)
            .sum()
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
    /// sleep, or a shard has become half full.
    pub(crate) async fn woken(&self) {
        self.wake.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push_line(queue: &Queue, line: &[u8]) -> Result<(), Error> {
        queue.push(1, |buf| {
            buf.extend_from_slice(line);
            Ok(())
        })
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
    fn a_shard_seals_chunks_instead_of_growing_and_keeps_their_order() {
        let queue = Queue::new(1_000_000, 1);
        let lines = 3 * CHUNK / 10 + 7;
        for i in 0..lines {
            let line = format!("n:{:05}|c\n", i % 100_000);
            push_line(&queue, line.as_bytes()).unwrap();
        }
        let (mut out, mut spares) = (Vec::new(), Vec::new());
        assert_eq!(queue.take(&mut out, &mut spares), lines);
        assert!(out.len() >= 3, "{} chunks", out.len());
        assert!(out.iter().all(|c| c.bytes.capacity() <= CHUNK));
        assert_eq!(out.iter().map(|c| c.lines).sum::<usize>(), lines);
        let text: Vec<u8> = out.iter().flat_map(|c| c.bytes.clone()).collect();
        let expected: String = (0..lines)
            .map(|i| format!("n:{:05}|c\n", i % 100_000))
            .collect();
        assert_eq!(text, expected.as_bytes());
        assert_eq!(queue.counts(), (lines as u64, 0));
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
        assert_eq!(queue.pool.load(Relaxed), 64, "every lease came back");
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let queue = Queue::new(4, 1);
        let err = queue.push(1, |_| Err(Error::from(ErrorKind::QueueFull)));
        assert!(err.is_err());
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
}
