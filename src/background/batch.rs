//! What the processor holds between taking lines from the queue and writing them.
//!
//! A [`Batch`] is the buffers taken by one [`Queue::take`], in order, plus
//! how far the first one has been written. It only ever advances by what a
//! socket accepted, so data a failed write did not deliver stays here and goes
//! first on the next connection. Buffers that have been written go back to the
//! queue's pool of buffers on the next take, for the processor to fill
//! again (the callers' chunks have a pool of their own): in steady state
//! nothing is allocated.

use std::collections::VecDeque;
use std::io::IoSlice;

use crate::shared::queue::{Queue, TakenBuffer};

/// The most buffers one vectored write or one `sendmmsg` call carries.
pub(crate) const MAX_SLICES: usize = 64;

/// Written buffers kept until the next take hands them to the queue's pool
/// (which keeps what fits and frees the rest).
const MAX_SPARES: usize = 16;

/// Lines taken from the queue and not yet written.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// Buffers of whole lines, oldest first.
    chunks: VecDeque<TakenBuffer>,
    /// Bytes of `chunks[0]` already written.
    offset: usize,
    /// Lines of `chunks[0]` already written whole (the newlines before
    /// `offset`).
    front_written: usize,
    /// Whole lines not yet written (a line partly written counts as not written).
    lines: usize,
    /// Empty buffers, kept with their capacity for the next take.
    spares: Vec<Vec<u8>>,
    /// Scratch space for `Queue::take`.
    taken: Vec<TakenBuffer>,
}

impl Batch {
    /// Takes every line in the queue; returns how many.
    pub(crate) fn refill(&mut self, queue: &Queue) -> usize {
        let lines = queue.take(&mut self.taken, &mut self.spares);
        self.lines += lines;
        self.chunks.extend(self.taken.drain(..));
        lines
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Whole lines not yet written.
    pub(crate) fn lines(&self) -> usize {
        self.lines
    }

    /// Fills `slices` with the unwritten bytes, oldest first; returns how many.
    pub(crate) fn io_slices<'a>(&'a self, slices: &mut [IoSlice<'a>; MAX_SLICES]) -> usize {
        let mut n = 0;
        for (i, chunk) in self.chunks.iter().take(MAX_SLICES).enumerate() {
            let start = if i == 0 { self.offset } else { 0 };
            slices[i] = IoSlice::new(&chunk.bytes[start..]);
            n += 1;
        }
        n
    }

    /// Marks `written` more bytes as written; returns the lines they completed.
    pub(crate) fn advance(&mut self, mut written: usize) -> usize {
        let mut completed = 0;
        while written > 0 {
            let Some(front) = self.chunks.front() else {
                break;
            };
            let available = front.bytes.len() - self.offset;
            let step = written.min(available);
            written -= step;
            if step == available {
                // The buffer holds `lines` whole lines: the rest of them end
                // here, no need to count newlines.
                debug_assert_eq!(
                    memchr::memchr_iter(b'\n', &front.bytes).count(),
                    front.lines,
                    "a buffer's line count"
                );
                completed += front.lines - self.front_written;
                self.recycle_front();
            } else {
                let ended =
                    memchr::memchr_iter(b'\n', &front.bytes[self.offset..self.offset + step])
                        .count();
                completed += ended;
                self.front_written += ended;
                self.offset += step;
            }
        }
        self.lines -= completed;
        completed
    }

    /// After a connection failed in the middle of a line: moves back to the
    /// start of that line, so the next connection receives it whole.
    pub(crate) fn rewind_partial_line(&mut self) {
        if let Some(front) = self.chunks.front() {
            self.offset =
                memchr::memrchr(b'\n', &front.bytes[..self.offset]).map_or(0, |at| at + 1);
        }
    }

    /// The next datagrams to send, each as `(start, end)` within the first
    /// buffer: whole lines, at most `max_payload` bytes each, at most
    /// [`MAX_SLICES`] of them, never separating a gauge reset from its value.
    pub(crate) fn datagrams(&self, max_payload: usize, out: &mut Vec<(usize, usize)>) {
        out.clear();
        let Some(front) = self.chunks.front() else {
            return;
        };
        let bytes = &front.bytes[..];
        let mut start = self.offset;
        while start < bytes.len() && out.len() < MAX_SLICES {
            let end = datagram_end(bytes, start, max_payload);
            out.push((start, end));
            start = end;
        }
    }

    /// Bytes of the first buffer already written (where the next write starts).
    pub(crate) fn front_offset(&self) -> usize {
        self.offset
    }

    /// The first buffer's bytes (the datagrams of [`Batch::datagrams`] index it).
    pub(crate) fn front_bytes(&self) -> &[u8] {
        self.chunks.front().map_or(&[], |chunk| &chunk.bytes[..])
    }

    /// Throws away everything not yet written; returns the lines thrown away.
    pub(crate) fn discard(&mut self) -> usize {
        while !self.chunks.is_empty() {
            self.recycle_front();
        }
        std::mem::take(&mut self.lines)
    }

    fn recycle_front(&mut self) {
        if let Some(mut chunk) = self.chunks.pop_front() {
            chunk.bytes.clear();
            if self.spares.len() < MAX_SPARES {
                self.spares.push(chunk.bytes);
            }
        }
        self.offset = 0;
        self.front_written = 0;
    }
}

/// Where the datagram that starts at `start` ends: after the last whole line
/// that fits in `max_payload`, moved back one line if that would separate
/// `name:0|g` from the `name:-5|g` that follows it (a negative gauge is sent as
/// that pair and must arrive in one datagram to be read as one value).
fn datagram_end(bytes: &[u8], start: usize, max_payload: usize) -> usize {
    if bytes.len() - start <= max_payload {
        return bytes.len();
    }
    let window = &bytes[start..start + max_payload];
    let Some(last_newline) = memchr::memrchr(b'\n', window) else {
        // A line longer than the payload: never queued (lines are checked
        // against the payload limit), but if it were, send it alone.
        return memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |at| start + at + 1);
    };
    let cut = start + last_newline + 1;
    let previous_start =
        memchr::memrchr(b'\n', &bytes[start..cut - 1]).map_or(start, |at| start + at + 1);
    let next_end = memchr::memchr(b'\n', &bytes[cut..]).map_or(bytes.len(), |at| cut + at);
    if previous_start > start
        && is_gauge_reset_pair(&bytes[previous_start..cut - 1], &bytes[cut..next_end])
    {
        previous_start
    } else {
        cut
    }
}

/// Whether `first` is `name:0|g<rest>` and `second` is `name:-<digits>|g<rest>`.
fn is_gauge_reset_pair(first: &[u8], second: &[u8]) -> bool {
    let Some(colon) = memchr::memchr(b':', first) else {
        return false;
    };
    let (name, after_name) = first.split_at(colon);
    let Some(rest) = after_name.strip_prefix(b":0|g") else {
        return false;
    };
    let Some(value_and_rest) = second
        .strip_prefix(name)
        .and_then(|s| s.strip_prefix(b":-"))
    else {
        return false;
    };
    let Some(bar) = memchr::memchr(b'|', value_and_rest) else {
        return false;
    };
    value_and_rest[bar..].strip_prefix(b"|g") == Some(rest)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A batch holding `lines` (each a whole line), taken from a queue as
    /// the processor takes them; for this module's tests and the transports'.
    pub(crate) fn batch_of(lines: &[&str]) -> Batch {
        let queue = Queue::new(10_000, 1);
        for line in lines {
            let write = crate::shared::Measured(|buf: &mut Vec<u8>| {
                buf.extend_from_slice(line.as_bytes());
                Ok::<(), ()>(())
            });
            let outcome = queue.publish(1, crate::shared::ledger::Tally::OTHER, true, write);
            assert_eq!(outcome, crate::shared::Outcome::Accepted);
        }
        let mut batch = Batch::default();
        batch.refill(&queue);
        batch
    }

    fn packed(batch: &Batch, max: usize) -> Vec<String> {
        let mut out = Vec::new();
        batch.datagrams(max, &mut out);
        out.iter()
            .map(|&(s, e)| String::from_utf8(batch.front_bytes()[s..e].to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn advance_counts_completed_lines_and_keeps_the_rest() {
        let mut batch = batch_of(&["aa:1|c\n", "bb:1|c\n"]);
        assert_eq!(batch.lines(), 2);
        assert_eq!(batch.advance(3), 0);
        assert_eq!(batch.advance(4), 1);
        assert_eq!(batch.lines(), 1);
        assert_eq!(batch.advance(7), 1);
        assert!(batch.is_empty());
    }

    #[test]
    fn rewind_resends_a_partly_written_line_whole() {
        let mut batch = batch_of(&["aa:1|c\n", "bb:1|c\n"]);
        batch.advance(10);
        batch.rewind_partial_line();
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let n = batch.io_slices(&mut slices);
        assert_eq!(n, 1);
        assert_eq!(&*slices[0], b"bb:1|c\n");
    }

    #[test]
    fn datagrams_hold_whole_lines_up_to_the_limit() {
        let batch = batch_of(&["a:1|c\n", "b:1|c\n", "c:1|c\n"]);
        assert_eq!(packed(&batch, 12), ["a:1|c\nb:1|c\n", "c:1|c\n"]);
        assert_eq!(packed(&batch, 13), ["a:1|c\nb:1|c\n", "c:1|c\n"]);
        assert_eq!(packed(&batch, 11), ["a:1|c\n", "b:1|c\n", "c:1|c\n"]);
        assert_eq!(packed(&batch, 1432), ["a:1|c\nb:1|c\nc:1|c\n"]);
    }

    #[test]
    fn a_gauge_reset_stays_with_its_value() {
        let batch = batch_of(&["a:1|c\n", "g:0|g\n", "g:-5|g\n", "z:1|c\n"]);
        // 12 bytes would fit "a:1|c\ng:0|g\n" but that separates the pair.
        assert_eq!(
            packed(&batch, 13),
            ["a:1|c\n", "g:0|g\ng:-5|g\n", "z:1|c\n"]
        );
        assert!(is_gauge_reset_pair(b"g:0|g|#k:v", b"g:-5.5|g|#k:v"));
        assert!(!is_gauge_reset_pair(b"g:0|g", b"h:-5|g"));
        assert!(!is_gauge_reset_pair(b"g:0|g", b"g:5|g"));
        assert!(!is_gauge_reset_pair(b"g:0|c", b"g:-5|c"));
    }
}
