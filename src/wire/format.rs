//! Writing one metric as one statsd line, straight into a byte buffer.
//!
//! [`LineFormat`] is built once from the configuration: it holds the prefix with
//! its trailing `.`, the type-prefix switch, the tag dialect and the global tags
//! already rendered in that dialect. Writing a line is then a handful of
//! `extend_from_slice` calls and integer formatting by `itoa` (floats by `zmij`),
//! with no allocation and no `format!`.
//!
//! Callers validate first (`wire::validate`); this module trusts its input,
//! except for the length limit, which it enforces by measuring what it wrote,
//! and for floats: a value or sample rate that is NaN or infinite (which has
//! no statsd spelling) is refused here too, whatever path it came by, so no
//! line can carry `inf` or `NaN`.

use std::io::Write as _;
use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::wire::metric::{Cardinality, MetricType, TagFormat, Value};
use crate::wire::validate::{self, MAX_NAME_LENGTH};

mod relay;

/// Everything about a line that comes from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct LineFormat {
    /// The user's prefix followed by `.`, or empty.
    prefix: Box<[u8]>,
    /// Whether `counters.`, `gauges.`, `timers.` ... follow the prefix.
    type_prefixes: bool,
    /// How tags are written.
    tag_format: TagFormat,
    /// The global tags, rendered without their leading separator
    /// (`k:v,k2` for DogStatsD, `k=v,k2=true` for Influx, `k=v;k2=true` for Graphite).
    global_tags: Box<[u8]>,
    /// The longest line accepted, newline included.
    max_line: usize,
    /// The DogStatsD origin fields, rendered once (`|c:<container id>` and
    /// `|e:<external data>`, protocols v1.2 and v1.5), or empty.
    origin: Box<[u8]>,
    /// The connector-wide `|card:` value (protocol v1.6), if any.
    cardinality: Option<Cardinality>,
    /// What surrounds the name and value of a line without per-call tags,
    /// rate or extras, by type: the fast path copies these whole.
    frames: [Frame; 6],
}

/// The fixed parts of a plain line of one type (see [`LineFormat::write_int`]):
/// `head`, the name, `middle`, the value, `tail`.
#[derive(Debug, Clone)]
struct Frame {
    /// The prefix and the type prefix.
    head: Padded,
    /// The Influx or Graphite global tags, and the `:` before the value.
    middle: Padded,
    /// `|` and the type code, the DogStatsD global tags, the origin fields
    /// and the cardinality, and the newline.
    tail: Padded,
    /// The tail split where a call's own tags go (DogStatsD only): see
    /// [`TaggedTail`].
    tagged: Option<TaggedTail>,
    /// The longest line without its name.
    longest: usize,
    /// [`Frame::room`] without the name.
    room: usize,
}

impl Frame {
    /// A frame the fast path never uses: every line is too long for it.
    fn unusable() -> Frame {
        Frame {
            head: Padded::default(),
            middle: Padded::default(),
            tail: Padded::default(),
            tagged: None,
            longest: usize::MAX / 2,
            room: 0,
        }
    }

    fn new(head: &[u8], middle: &[u8], tail: &[u8]) -> Frame {
        let (head, middle, tail) = (Padded::new(head), Padded::new(middle), Padded::new(tail));
        Frame {
            longest: head.len + middle.len + MAX_INT_LENGTH + tail.len,
            room: head.bytes.len() + middle.bytes.len() + MAX_INT_LENGTH + tail.bytes.len(),
            head,
            middle,
            tail,
            tagged: None,
        }
    }

    /// What writing a line with this frame may touch: each part at its
    /// padded length (the blocks of the last may reach past the line's end).
    #[inline(always)]
    fn room(&self, name: &str) -> usize {
        self.room + name.len()
    }
}

/// A DogStatsD frame's tail, split where a call's own tags go: `before`
/// (`|c` and the global tags, then `|#`, or `,` after global tags), the
/// call's tags, then `end` (the origin fields, the cardinality and the
/// newline).
#[derive(Debug, Clone)]
struct TaggedTail {
    before: Padded,
    end: Padded,
    /// The longest line without its name and tags.
    longest: usize,
    /// What writing a line with this frame may touch, without the name and
    /// tags (see [`Frame::room`]).
    room: usize,
}

impl TaggedTail {
    /// `frame`'s tail split into `before` and `end`.
    fn new(frame: &Frame, before: &[u8], end: &[u8]) -> TaggedTail {
        let (before, end) = (Padded::new(before), Padded::new(end));
        let (head, middle) = (&frame.head, &frame.middle);
        TaggedTail {
            longest: head.len + middle.len + MAX_VALUE_LENGTH + before.len + end.len,
            room: head.bytes.len()
                + middle.bytes.len()
                + MAX_VALUE_LENGTH
                + before.bytes.len()
                + end.bytes.len(),
            before,
            end,
        }
    }
}

/// The longest integer `itoa` writes (`-9223372036854775808`).
const MAX_INT_LENGTH: usize = 20;

/// The block the fast path copies frames in, and so the slack it needs
/// beyond a line: a frame is stored padded to whole blocks, and copying whole
/// blocks (two 16-byte moves, no branch on the length) may write up to a
/// block past the end of the line, into room the next line overwrites.
pub(crate) const FRAME_BLOCK: usize = 32;

/// A frame part: its bytes, padded with zeros to whole [`FRAME_BLOCK`]s.
#[derive(Debug, Clone, Default)]
struct Padded {
    bytes: Box<[u8]>,
    len: usize,
}

impl Padded {
    fn new(part: &[u8]) -> Padded {
        let mut bytes = part.to_vec();
        bytes.resize(part.len().div_ceil(FRAME_BLOCK).max(1) * FRAME_BLOCK, 0);
        Padded {
            bytes: bytes.into_boxed_slice(),
            len: part.len(),
        }
    }

    /// Copies whole blocks to `dst`; returns the part's length.
    ///
    /// # Safety
    /// `dst` is valid for writes of `self.bytes.len()` bytes.
    #[inline(always)]
    unsafe fn copy_to(&self, dst: *mut u8) -> usize {
        type Block = [u8; FRAME_BLOCK];
        // SAFETY: `bytes` holds at least one block (see `new`), and the
        // caller promises room for every block.
        unsafe {
            dst.cast::<Block>()
                .write_unaligned(self.bytes.as_ptr().cast::<Block>().read_unaligned());
        }
        if self.bytes.len() == FRAME_BLOCK {
            // A frame of up to one block: the usual case.
            return self.len;
        }
        // SAFETY: as the caller promises.
        unsafe { self.copy_after_first(dst) };
        self.len
    }

    /// [`Padded::copy_to`]'s blocks after the first, for a long part (a
    /// long prefix, long global tags, the origin fields): out of line, so
    /// that the copy loop is not repeated at every call site.
    ///
    /// # Safety
    /// As for [`Padded::copy_to`].
    #[cold]
    #[inline(never)]
    unsafe fn copy_after_first(&self, dst: *mut u8) {
        for (i, block) in self.bytes.chunks_exact(FRAME_BLOCK).enumerate().skip(1) {
            // SAFETY: the caller promises room for every block; a block is
            // read whole from `bytes`, whose length is a multiple of it.
            unsafe {
                dst.add(i * FRAME_BLOCK)
                    .cast::<[u8; FRAME_BLOCK]>()
                    .write_unaligned(block.as_ptr().cast::<[u8; FRAME_BLOCK]>().read_unaligned());
            }
        }
    }
}

/// What one call adds to its line beyond the statsd fields (DogStatsD only).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Extras {
    /// `|T<unix seconds>` (protocol v1.3; gauges and counts only).
    pub(crate) timestamp: Option<u64>,
    /// `|card:` for this call, instead of the connector's.
    pub(crate) cardinality: Option<Cardinality>,
}

impl Extras {
    /// Nothing extra.
    pub(crate) const NONE: Extras = Extras {
        timestamp: None,
        cardinality: None,
    };
}

/// One metric as its line carries it, checked by the caller: what
/// [`LineFormat::write`] and [`LineFormat::write_metric`] write.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MetricLine<'a> {
    pub(crate) name: &'a str,
    pub(crate) value: Value<'a>,
    pub(crate) kind: MetricType,
    /// 1 writes no `|@rate`.
    pub(crate) sample_rate: f64,
    /// The call's own tags (the global ones are the format's).
    pub(crate) tags: &'a [(&'a str, &'a str)],
    pub(crate) extras: Extras,
}

impl<'a> MetricLine<'a> {
    /// `name:value|kind`: no rate, no tags of its own, nothing extra.
    pub(crate) fn new(name: &'a str, value: Value<'a>, kind: MetricType) -> MetricLine<'a> {
        MetricLine {
            name,
            value,
            kind,
            sample_rate: 1.0,
            tags: &[],
            extras: Extras::NONE,
        }
    }
}

impl LineFormat {
    /// Builds the format; `prefix` and `global_tags` must already be validated.
    pub(crate) fn new(
        prefix: Option<&str>,
        type_prefixes: bool,
        tag_format: TagFormat,
        global_tags: &[(String, String)],
        max_line: usize,
    ) -> LineFormat {
        let prefix = match prefix {
            Some(p) => [p.as_bytes(), b"."].concat().into_boxed_slice(),
            None => Box::default(),
        };
        LineFormat {
            prefix,
            type_prefixes,
            tag_format,
            global_tags: render_tags(tag_format, global_tags).into_boxed_slice(),
            max_line,
            origin: Box::default(),
            cardinality: None,
            frames: std::array::from_fn(|_| Frame::unusable()),
        }
        .with_frames()
    }

    /// Renders the frames of plain lines by writing one of each type with
    /// the general writer around an empty name and value, so that the two
    /// paths cannot disagree.
    fn with_frames(mut self) -> LineFormat {
        let frames = MetricType::ALL.map(|kind| {
            let mut line = Vec::new();
            if self
                .write(&mut line, &MetricLine::new("", Value::Text(""), kind))
                .is_err()
            {
                // The fixed parts alone pass the length limit (long
                // global tags): no line of this type fits, and the general
                // writer says so.
                return Frame::unusable();
            }
            let head = self.name_overhead(kind);
            let colon = head + memchr::memchr(b':', &line[head..]).expect("a line has a `:`");
            let mut frame = Frame::new(&line[..head], &line[head..=colon], &line[colon + 1..]);
            frame.tagged = self
                .tagged_tail(kind, &line[colon + 1..])
                .map(|(before, end)| TaggedTail::new(&frame, &before, &end));
            frame
        });
        self.frames = frames;
        self
    }

    /// Where a call's own tags go in `tail` (a plain line's tail for
    /// `kind`), found by the general writer: the same line with one tag
    /// whose key is a byte no tag holds. DogStatsD only: the other dialects
    /// put tags after the name. The part before the call's tags ends with
    /// their separator (`|#`, or `,` after global tags).
    fn tagged_tail(&self, kind: MetricType, tail: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        if self.tag_format != TagFormat::DogStatsd {
            return None;
        }
        let marker = [("\u{0}", "")];
        let mut line = Vec::new();
        let metric = MetricLine {
            tags: &marker,
            ..MetricLine::new("", Value::Text(""), kind)
        };
        self.write(&mut line, &metric).ok()?;
        let at = memchr::memchr(0, &line)?;
        let end = &line[at + 1..];
        let before = &tail[..tail.len().checked_sub(end.len())?];
        let open: &'static [u8] = if self.global_tags.is_empty() {
            b"|#"
        } else {
            b","
        };
        // The line is what the general writer wrote: check the split.
        let found = line.get(at.checked_sub(open.len() + before.len())?..at)?;
        (found[..before.len()] == *before && found[before.len()..] == *open)
            .then(|| (found.to_vec(), end.to_vec()))
    }

    /// What [`LineFormat::write_tagged`] writes of a call's own `tags`, at
    /// most: each tag's key and value, a `:` between them and a `,` after
    /// (the last one is overwritten by what follows). `None` if their
    /// lengths add up to more than a name may be: so long a tag set goes to
    /// the exact checks, which know each dialect's limits.
    #[inline(always)]
    fn tags_room(tags: &[(&str, &str)]) -> Option<usize> {
        let text: usize = tags
            .iter()
            .map(|(key, value)| key.len() + value.len())
            .sum();
        (text <= MAX_NAME_LENGTH - 4).then_some(text + 2 * tags.len())
    }

    /// The room [`LineFormat::write_tagged`] needs for `name`, any value
    /// and the call's own `tags`, if this dialect writes them in place and
    /// the length limit allows the line with the longest value and the most
    /// separators (a line just under the limit may be left to the general
    /// writer, which measures it exactly).
    #[inline]
    pub(crate) fn tagged_bound(
        &self,
        name: &str,
        kind: MetricType,
        tags: &[(&str, &str)],
    ) -> Option<usize> {
        let frame = &self.frames[kind.index()];
        let tagged = frame.tagged.as_ref()?;
        let name_and_tags = name.len() + Self::tags_room(tags)?;
        (tagged.longest + name_and_tags <= self.max_line).then_some(tagged.room + name_and_tags)
    }

    /// Writes a line with the call's own tags (DogStatsD, no rate or
    /// extras) of `value` (one [`in_place`] takes) at the start of `out`,
    /// which holds at least [`tagged_bound`](Self::tagged_bound) bytes;
    /// returns its length, or 0 when the line is left to the general writer:
    /// no tags, a float that needs an exponent, or a tag that is not a key
    /// of plain bytes with a value of plain bytes (checked as they are
    /// copied: see `validate::PlainCopy`). The same bytes as
    /// [`LineFormat::write`] (a unit test compares them).
    ///
    /// # Safety
    /// `room` is what [`tagged_bound`](Self::tagged_bound) returned for the
    /// same `name`, `kind` and `tags`: the writes are bounded by it (it is
    /// not measured again here, which would cost a tagged call a tenth
    /// more), and only its being within `out` is checked.
    #[inline(always)]
    pub(crate) unsafe fn write_tagged(
        &self,
        out: &mut [u8],
        name: &str,
        value: Value<'_>,
        kind: MetricType,
        tags: &[(&str, &str)],
        room: usize,
    ) -> usize {
        let frame = &self.frames[kind.index()];
        let tagged = frame.tagged.as_ref().expect("`tagged_bound` said yes");
        if tags.is_empty() {
            return 0;
        }
        // One check for the whole line, so that the copies need none (the
        // room was measured for these parts by `tagged_bound`, as the caller
        // promises).
        assert!(room <= out.len(), "the room given is `tagged_bound`");
        let start = out.as_mut_ptr();
        // SAFETY: each write below starts where the previous part ended (a
        // part's padding is overwritten by the next) and covers at most its
        // part's padded length, the value at most `MAX_VALUE_LENGTH` bytes
        // and each tag its key, value and two separators, which
        // `tagged_bound` counted (`tags_room`) for these tags, as the caller
        // promises: everything lands inside the room checked above. `out` is a `&mut`, so it overlaps nothing we read.
        unsafe {
            let Some(mut at) = write_head_and_value(frame, name, value, start) else {
                return 0;
            };
            at = at.add(tagged.before.copy_to(at));
            let mut copy = validate::PlainCopy::new();
            for (key, value) in tags {
                copy.key(key, at);
                at = at.add(key.len());
                if !value.is_empty() {
                    *at = b':';
                    copy.value(value, at.add(1));
                    at = at.add(1 + value.len());
                }
                *at = b',';
                at = at.add(1);
            }
            if !copy.all_plain() {
                return 0;
            }
            // The end overwrites the last `,`.
            at = at.sub(1);
            at.add(tagged.end.copy_to(at)).offset_from(start) as usize
        }
    }

    /// The room [`LineFormat::write_plain`] needs for `name` and any value,
    /// if the length limit allows that line with the longest value.
    #[inline(always)]
    pub(crate) fn plain_bound(&self, name: &str, kind: MetricType) -> Option<usize> {
        let frame = &self.frames[kind.index()];
        let longest = frame.longest - MAX_INT_LENGTH + MAX_VALUE_LENGTH + name.len();
        (longest <= self.max_line).then(|| frame.room(name) - MAX_INT_LENGTH + MAX_VALUE_LENGTH)
    }

    /// Writes a plain line (no per-call tags, rate or extras) of `value`
    /// (one [`in_place`] takes) at the start of `out`, which holds at least
    /// [`plain_bound`](Self::plain_bound) bytes; returns its length, or 0
    /// for a float that needs an exponent (the general writer's). The same
    /// bytes as [`LineFormat::write`] (a unit test compares them).
    #[inline(always)]
    pub(crate) fn write_plain(
        &self,
        out: &mut [u8],
        name: &str,
        value: Value<'_>,
        kind: MetricType,
    ) -> usize {
        let frame = &self.frames[kind.index()];
        // One check for the whole line, so that the copies need none.
        assert!(
            frame.room(name) - MAX_INT_LENGTH + MAX_VALUE_LENGTH <= out.len(),
            "the room given is `plain_bound`"
        );
        let start = out.as_mut_ptr();
        // SAFETY: each write below starts where the previous part ended and
        // covers at most its part's padded length (the value at most
        // `MAX_VALUE_LENGTH` bytes), so everything lands inside the room
        // checked above; `out` is a `&mut`, so overlaps nothing we read.
        unsafe {
            match write_head_and_value(frame, name, value, start) {
                Some(at) => at.add(frame.tail.copy_to(at)).offset_from(start) as usize,
                None => 0,
            }
        }
    }

    /// The longest plain line [`LineFormat::write_int`] writes for `name`,
    /// if the length limit allows a line that long: the room to give it.
    #[inline]
    pub(crate) fn int_bound(&self, name: &str, kind: MetricType) -> Option<usize> {
        let frame = &self.frames[kind.index()];
        (frame.longest + name.len() <= self.max_line).then(|| frame.room(name))
    }

    /// Writes a plain line (no per-call tags, rate or extras) of an integer
    /// value at the start of `out`, which holds at least
    /// [`int_bound`](Self::int_bound) bytes; returns its length. The same
    /// bytes as [`LineFormat::write`] (a unit test compares them).
    #[inline(always)]
    pub(crate) fn write_int(
        &self,
        out: &mut [u8],
        name: &str,
        value: i64,
        kind: MetricType,
    ) -> usize {
        let frame = &self.frames[kind.index()];
        // One check for the whole line, so that the copies need none: the
        // room covers the line and the padding of every frame's blocks.
        assert!(
            frame.room(name) <= out.len(),
            "the room given is `int_bound`"
        );
        let start = out.as_mut_ptr();
        // SAFETY: each write below starts where the previous part ended and
        // covers at most its part's padded length (the digits at most
        // `MAX_INT_LENGTH`), so everything lands inside the `room` bytes
        // checked above; `out` is a `&mut`, so overlaps nothing we read.
        unsafe {
            let at = write_head(frame, name, start);
            let end = write_value_and_tail(at, value, &frame.tail);
            end.offset_from(start) as usize
        }
    }

    /// The plain integer line of `name`, prepared once (see [`PreparedInt`]),
    /// if the length limit allows any value on it.
    pub(crate) fn prepare_int(&self, name: &str, kind: MetricType) -> Option<PreparedInt> {
        self.int_bound(name, kind)?;
        let frame = &self.frames[kind.index()];
        let head = [
            &frame.head.bytes[..frame.head.len],
            name.as_bytes(),
            &frame.middle.bytes[..frame.middle.len],
        ]
        .concat();
        let (head, tail) = (Padded::new(&head), frame.tail.clone());
        Some(PreparedInt {
            room: head.bytes.len() + MAX_INT_LENGTH + tail.bytes.len(),
            head,
            tail,
        })
    }

    /// Adds the DogStatsD origin fields written on every line: the
    /// container id (`|c:`), the external data (`|e:`) and the cardinality
    /// (`|card:`). The values come checked from the configuration.
    pub(crate) fn with_origin(
        mut self,
        container_id: Option<&str>,
        external_data: Option<&str>,
        cardinality: Option<Cardinality>,
    ) -> LineFormat {
        let mut origin = Vec::new();
        if let Some(id) = container_id {
            origin.extend_from_slice(b"|c:");
            origin.extend_from_slice(id.as_bytes());
        }
        if let Some(external) = external_data {
            origin.extend_from_slice(b"|e:");
            origin.extend_from_slice(external.as_bytes());
        }
        self.origin = origin.into_boxed_slice();
        self.cardinality = cardinality;
        self.with_frames()
    }

    /// The fields an event or service check line ends with (origin and
    /// cardinality), before its newline.
    pub(crate) fn origin_trailer(&self) -> Vec<u8> {
        let mut trailer = self.origin.to_vec();
        write_extras(&mut trailer, Extras::NONE, self.cardinality);
        trailer
    }

    /// How many bytes go in front of every name: checked against the name limit.
    #[inline]
    pub(crate) fn name_overhead(&self, kind: MetricType) -> usize {
        self.prefix.len()
            + if self.type_prefixes {
                kind.type_prefix().len()
            } else {
                0
            }
    }

    /// The configured tag dialect.
    pub(crate) fn tag_format(&self) -> TagFormat {
        self.tag_format
    }

    /// The global tags as rendered for [`tag_format`](Self::tag_format),
    /// without a leading separator (`k:v,k2` for DogStatsD), or empty.
    pub(crate) fn global_tags(&self) -> &[u8] {
        &self.global_tags
    }

    /// Appends one line to `buf`. On error (the line would exceed the length
    /// limit, a float is not finite) `buf` is left as it was.
    #[inline]
    pub(crate) fn write(&self, buf: &mut Vec<u8>, metric: &MetricLine<'_>) -> Result<(), Error> {
        let MetricLine {
            name,
            value,
            kind,
            sample_rate,
            tags,
            extras,
        } = *metric;
        if let Value::Float(f) | Value::Delta(f) = value {
            if !f.is_finite() {
                return Err(not_finite(f));
            }
        }
        if !(sample_rate >= 1.0 || sample_rate > 0.0 && (1.0 / sample_rate).is_finite()) {
            return Err(Error::from(ErrorKind::InvalidSampleRate(sample_rate)));
        }
        let start = buf.len();
        buf.reserve(self.prefix.len() + name.len() + 32);
        put(buf, &self.prefix);
        if self.type_prefixes {
            put(buf, kind.type_prefix().as_bytes());
        }
        put(buf, name.as_bytes());
        let has_tags = !tags.is_empty() || !self.global_tags.is_empty();
        if has_tags && self.tag_format != TagFormat::DogStatsd {
            self.write_tags(buf, tags);
        }
        buf.push(b':');
        write_value(buf, value);
        buf.push(b'|');
        put(buf, kind.code().as_bytes());
        if sample_rate < 1.0 {
            put(buf, b"|@");
            write_float(buf, sample_rate);
        }
        if has_tags && self.tag_format == TagFormat::DogStatsd {
            put(buf, b"|#");
            self.write_tags(buf, tags);
        }
        if !self.origin.is_empty() {
            put(buf, &self.origin);
        }
        if extras.timestamp.is_some() || extras.cardinality.is_some() || self.cardinality.is_some()
        {
            write_extras(buf, extras, self.cardinality);
        }
        buf.push(b'\n');
        self.check_length(buf, start)
    }

    /// Appends one line of packed values (`name:v1:v2:…|type…`, DogStatsD
    /// protocol v1.1) with as many of `values` as fit the length limit, in
    /// order; returns how many it wrote (at least one). On error (not even
    /// one value fits, or a value is not finite) `buf` is left as it was.
    pub(crate) fn write_packed(
        &self,
        buf: &mut Vec<u8>,
        name: &str,
        kind: MetricType,
        values: &[f64],
        sample_rate: f64,
        tags: &[(&str, &str)],
    ) -> Result<usize, Error> {
        let Some((&first, rest)) = values.split_first() else {
            return Ok(0);
        };
        // Everything after the values, measured once: the line is then
        // filled up to the limit without writing anything twice.
        let start = buf.len();
        let metric = MetricLine {
            sample_rate,
            tags,
            ..MetricLine::new(name, Value::Float(first), kind)
        };
        self.write(buf, &metric)?;
        let written = buf.len() - start;
        let mut tail = Vec::with_capacity(written);
        let value_end = start + memchr::memchr(b'|', &buf[start..]).unwrap_or(written);
        tail.extend_from_slice(&buf[value_end..]);
        buf.truncate(value_end);
        let mut count = 1;
        let mut scratch = Vec::with_capacity(32);
        for &value in rest {
            if !value.is_finite() {
                buf.truncate(start);
                return Err(not_finite(value));
            }
            scratch.clear();
            scratch.push(b':');
            write_float(&mut scratch, value);
            if buf.len() - start + scratch.len() + tail.len() > self.max_line {
                break;
            }
            put(buf, &scratch);
            count += 1;
        }
        put(buf, &tail);
        Ok(count)
    }

    /// How many lines a metric takes: two for a negative absolute gauge (a
    /// reset to 0, then the value, since statsd reads `-5|g` as a decrement),
    /// one for anything else.
    #[inline]
    pub(crate) fn lines_for(kind: MetricType, value: Value<'_>) -> usize {
        match (kind, value) {
            (MetricType::Gauge, Value::Float(v)) if v < 0.0 => 2,
            _ => 1,
        }
    }

    /// Appends a metric's [`lines_for`](Self::lines_for) lines to `buf`, all
    /// or none: a gauge reset and its value must fit the length limit
    /// together, as they must share one datagram.
    #[inline]
    pub(crate) fn write_metric(
        &self,
        buf: &mut Vec<u8>,
        metric: &MetricLine<'_>,
    ) -> Result<(), Error> {
        if LineFormat::lines_for(metric.kind, metric.value) == 1 {
            return self.write(buf, metric);
        }
        let start = buf.len();
        let reset = MetricLine {
            value: Value::Int(0),
            ..*metric
        };
        self.write(buf, &reset)?;
        self.write(buf, metric)
            .inspect_err(|_| buf.truncate(start))?;
        self.check_length(buf, start)
    }

    /// Checks that what was written since `start` (one line, or a gauge reset
    /// and its value, which must travel together) fits the length limit;
    /// if not, removes it and says so.
    #[inline]
    fn check_length(&self, buf: &mut Vec<u8>, start: usize) -> Result<(), Error> {
        let length = buf.len() - start;
        if length > self.max_line {
            buf.truncate(start);
            return Err(Error::from(ErrorKind::LineTooLong {
                length,
                limit: self.max_line,
            }));
        }
        Ok(())
    }

    /// Writes global then per-call tags, with the dialect's leading separator for
    /// Influx and Graphite (for DogStatsD the caller has written `|#`).
    #[inline]
    fn write_tags(&self, buf: &mut Vec<u8>, tags: &[(&str, &str)]) {
        let separator = tag_separator(self.tag_format);
        let mut first = self.tag_format == TagFormat::DogStatsd;
        if !self.global_tags.is_empty() {
            if !first {
                buf.push(separator);
            }
            put(buf, &self.global_tags);
            first = false;
        }
        for (key, value) in tags {
            if !first {
                buf.push(separator);
            }
            write_tag(buf, self.tag_format, key, value);
            first = false;
        }
    }
}

/// A plain integer line (no per-call tags, rate or extras) whose name and
/// everything before the value are written once: a counter handle's. A
/// call then writes two padded blocks and the digits.
#[derive(Debug, Clone)]
pub(crate) struct PreparedInt {
    /// The prefix, the type prefix, the name, the Influx or Graphite tags
    /// and the `:`.
    head: Padded,
    /// Everything after the value (the frame's tail).
    tail: Padded,
    /// The room a line takes at most, blocks included.
    room: usize,
}

impl PreparedInt {
    /// The room [`PreparedInt::write`] needs.
    #[inline]
    pub(crate) fn room(&self) -> usize {
        self.room
    }

    /// Writes the line with `value` at the start of `out`, which holds at
    /// least [`room`](Self::room) bytes; returns its length.
    #[inline]
    pub(crate) fn write(&self, out: &mut [u8], value: i64) -> usize {
        assert!(self.room() <= out.len(), "the room given is `room()`");
        let start = out.as_mut_ptr();
        // SAFETY: the head's blocks, then at most `MAX_INT_LENGTH` digits,
        // then the tail's blocks: inside the `room()` bytes checked above.
        unsafe {
            let at = start.add(self.head.copy_to(start));
            write_value_and_tail(at, value, &self.tail).offset_from(start) as usize
        }
    }
}

/// Writes a frame's head, `name` and the frame's middle at `start`; returns
/// where the value goes.
///
/// # Safety
/// `start` is valid for writes of the head's and middle's padded lengths and
/// `name.len()` bytes.
#[inline(always)]
unsafe fn write_head(frame: &Frame, name: &str, start: *mut u8) -> *mut u8 {
    // SAFETY: the head's blocks, the name, then the middle's blocks, each
    // where the last ended, as the caller promises room for.
    unsafe {
        let mut at = start.add(frame.head.copy_to(start));
        copy_short(name.as_bytes(), at);
        at = at.add(name.len());
        at.add(frame.middle.copy_to(at))
    }
}

/// [`write_head`], then `value` (one [`in_place`] takes); returns where the
/// tail goes, or `None` for a float that needs an exponent.
///
/// # Safety
/// `start` is valid for writes of the head's and middle's padded lengths,
/// `name.len()` and [`MAX_VALUE_LENGTH`] bytes.
#[inline(always)]
unsafe fn write_head_and_value(
    frame: &Frame,
    name: &str,
    value: Value<'_>,
    start: *mut u8,
) -> Option<*mut u8> {
    // SAFETY: the head as `write_head` writes it, then the value's room
    // where it ended, as the caller promises; nothing else refers to those
    // bytes while the exclusive reference lives.
    unsafe {
        let at = write_head(frame, name, start);
        let room = &mut *at.cast::<ValueRoom>();
        match number_into(room, value) {
            0 => None,
            len => Some(at.add(len)),
        }
    }
}

/// Whether the in-place writers take `value` for a line of `kind`: one line
/// (not a negative absolute gauge, which is two), a finite number, not a
/// float timing (refused by validation), a duration whose nanoseconds fit
/// in `u64` (584 years). The rest goes to the general writer, which refuses
/// what it must; so does a float the in-place writer finds to need an
/// exponent.
#[inline(always)]
pub(crate) fn in_place(value: Value<'_>, kind: MetricType) -> bool {
    match value {
        Value::Int(_) => true,
        Value::Float(f) => {
            kind != MetricType::Timing && f.is_finite() && (f >= 0.0 || kind != MetricType::Gauge)
        }
        Value::Delta(f) => f.is_finite(),
        Value::Duration(d) => d.as_secs() < MAX_NANOS_SECONDS,
        Value::Text(_) => false,
    }
}

/// The longest value the in-place writers write: a float in plain notation
/// (at most 26 bytes: a sign, `0.0000`, 17 digits and a point, and a
/// delta's `+`; a longer one is left to the general writer), an integer (at
/// most 20), or a duration's milliseconds (at most 14 digits, a point and
/// six decimals).
const MAX_VALUE_LENGTH: usize = 32;

/// The room a value is written in.
type ValueRoom = [u8; MAX_VALUE_LENGTH];

/// The seconds below which a duration's nanoseconds fit in `u64`.
const MAX_NANOS_SECONDS: u64 = u64::MAX / 1_000_000_000;

/// Powers of ten, for decimals of up to six places.
const POW10: [u64; 7] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000];

/// Writes `value` (one [`in_place`] takes) at the start of `out`; returns
/// its length, or 0 for a float that needs an exponent.
#[inline(always)]
fn number_into(out: &mut ValueRoom, value: Value<'_>) -> usize {
    match value {
        // The commonest value (`incr`) by far: no sign to look at (three
        // instructions of a tagged `incr`).
        Value::Int(n @ 0..=9) => whole_into(out, 0, n as u64),
        Value::Int(n) => int_into(out, 0, n),
        Value::Float(f) => float_into(out, f, false),
        Value::Delta(f) => float_into(out, f, true),
        Value::Duration(d) => millis_into(out, d),
        Value::Text(_) => 0,
    }
}

/// Copies `bytes` into `out` at `at`; returns where they end, or 0 if they
/// do not fit (no number the writers here take is that long).
#[inline(always)]
fn put_at(out: &mut ValueRoom, at: usize, bytes: &[u8]) -> usize {
    let end = at + bytes.len();
    if end > MAX_VALUE_LENGTH {
        return 0;
    }
    // SAFETY: `at..end` is inside `out` (checked above), which `bytes`
    // (borrowed apart) cannot overlap. `copy_short`: no call to `memcpy`
    // for a few bytes.
    unsafe { copy_short(bytes, out.as_mut_ptr().add(at)) };
    end
}

/// Writes a finite float in plain decimal notation at the start of `out`
/// (after a `+` when `plus` and it is not negative: a delta); returns its
/// length, or 0 if the shortest round-trip digits need an exponent.
///
/// Integral values are written as integers (`3`, not `3.0`); a value with
/// at most six decimals and fifteen significant digits (nearly every value
/// a program measures) by integer arithmetic (see [`short_decimal`]); any
/// other by `zmij` (Schubfach: the digits `ryu` gives, in about a third of
/// the instructions). All three give the shortest text that reads back as
/// the same `f64`.
#[inline(always)]
fn float_into(out: &mut ValueRoom, f: f64, plus: bool) -> usize {
    debug_assert!(f.is_finite(), "float_into({f})");
    let mut at = 0;
    if plus && f >= 0.0 {
        out[0] = b'+';
        at = 1;
    }
    let a = f.abs();
    if a < TWO_52 {
        // Below 2^52 a float's distance to 2^52 is a whole number of units
        // of 1: adding 2^52 rounds it to an integer, exactly, and that
        // integer is the low bits (no saturating conversion, which costs a
        // dozen instructions). -0.0 is integral too, written `0`, so no
        // stray sign can make a delta.
        let rounded = a + TWO_52;
        if rounded - TWO_52 == a {
            return sign_and_whole(out, at, f, rounded.to_bits() - TWO_52.to_bits());
        }
        if let Some((digits, places)) = short_decimal(a) {
            let scale = POW10[places];
            let whole = digits / scale;
            let at = if f < 0.0 { sign(out, at) } else { at };
            return decimal_into(out, at, whole, digits - whole * scale, places);
        }
    } else if a < 9.2e18 {
        // Integral (every float from 2^52 up is), and within `i64`.
        return int_into(out, at, f as i64);
    }
    let mut shortest = zmij::Buffer::new();
    let text = shortest.format_finite(f).as_bytes();
    // An exponent (`e+16`, `e-7`, `e-324`) ends the text: its last five
    // bytes tell, without a scan of the whole (a loop of five compares, not
    // a call to `memchr`).
    let last = &text[text.len().saturating_sub(5)..];
    #[allow(clippy::manual_contains)] // `contains` calls `memchr`: 29 instructions here
    if last.iter().any(|&byte| byte == b'e') {
        return 0;
    }
    put_at(out, at, text)
}

/// The digits and decimal places `(m, k)` of `a` (positive, finite, not
/// integral) as `m / 10^k`, with the fewest places `k` up to six, if
/// `a < 10^9`; else `None`.
///
/// Why this is the shortest round-trip text: `m` and `10^k` are exact in
/// `f64` (`m < 10^15 < 2^53`), so the division is correctly rounded, like
/// reading the text `m / 10^k` back: equal to `a` means the text reads back
/// as `a`. The shortest text has no more significant digits than that one,
/// so at most fifteen, and two decimals of at most fifteen significant
/// digits that read back as the same `f64` are the same number (`f64`
/// holds fifteen decimal digits). With the fewest places, `m` does not end
/// in zero, so the text is the shortest one's, digit for digit. `m` is
/// `a * 10^k` rounded to the nearest integer: that product is within 0.25
/// of the true one (at most fifteen digits), so rounding finds `m` when it
/// exists.
#[inline(always)]
fn short_decimal(a: f64) -> Option<(u64, usize)> {
    if a >= 1e9 {
        return None;
    }
    let mut scale = 1.0;
    for places in 1..POW10.len() {
        scale *= 10.0;
        // Rounded to the nearest integer by adding 2^52 (`a * scale` is
        // below 10^15): exact, and no conversion.
        let rounded = a * scale + TWO_52;
        if (rounded - TWO_52) / scale == a {
            return Some((rounded.to_bits() - TWO_52.to_bits(), places));
        }
    }
    None
}

/// 2^52: from there up, every `f64` is an integer, and below it, adding it
/// rounds to one.
const TWO_52: f64 = 4_503_599_627_370_496.0;

/// Writes `-` at `at` (for a negative `f`) and the whole number `n`.
#[inline(always)]
fn sign_and_whole(out: &mut ValueRoom, at: usize, f: f64, n: u64) -> usize {
    let at = if f < 0.0 && n != 0 { sign(out, at) } else { at };
    whole_into(out, at, n)
}

/// Writes `-` at `at`; returns where the number goes.
#[inline(always)]
fn sign(out: &mut ValueRoom, at: usize) -> usize {
    out[at] = b'-';
    at + 1
}

/// Writes `whole`, a point and `fraction` on `places` digits (1 to 8, with
/// leading zeros; `fraction < 10^places`) at `at`; returns where they end,
/// or 0 if they do not fit.
#[inline(always)]
fn decimal_into(out: &mut ValueRoom, at: usize, whole: u64, fraction: u64, places: usize) -> usize {
    let at = whole_into(out, at, whole);
    if at == 0 || at >= MAX_VALUE_LENGTH {
        return 0;
    }
    out[at] = b'.';
    // The last `places` of the fraction's two or eight digits.
    let text = if places <= 2 {
        two_digits(fraction) >> (8 * (2 - places))
    } else {
        (eight_digits(fraction) + ASCII_ZEROS) >> (8 * (8 - places))
    };
    word_into(out, at + 1, text, places)
}

/// The two digits of `n` (below 100) as text, the tens in the low byte.
#[inline(always)]
fn two_digits(n: u64) -> u64 {
    debug_assert!(n < 100, "two_digits({n})");
    // `n * 103 >> 10` is `n / 10` for `n < 100`.
    let tens = (n * 103) >> 10;
    (tens | (n - tens * 10) << 8) + 0x3030
}

/// Writes `n` in decimal at `at`, after its sign if negative; returns where
/// it ends, or 0 if it does not fit.
#[inline(always)]
fn int_into(out: &mut ValueRoom, at: usize, n: i64) -> usize {
    if n >= 0 {
        return whole_into(out, at, n as u64);
    }
    out[at] = b'-';
    whole_into(out, at + 1, n.unsigned_abs())
}

/// Writes `n` in decimal at `at`; returns where it ends, or 0 if it does
/// not fit. Below 10^8 (nearly every whole part of a measured value) by
/// [`eight_digits`], with no call and no loop; above, by `itoa`.
#[inline(always)]
fn whole_into(out: &mut ValueRoom, at: usize, n: u64) -> usize {
    if n < 100 {
        // One or two digits (a count, a small gauge, a timing's whole
        // milliseconds): fewer steps than eight.
        if n < 10 {
            out[at] = b'0' + n as u8;
            return at + 1;
        }
        return word_into(out, at, two_digits(n), 2);
    }
    if n >= 100_000_000 {
        return put_at(out, at, itoa::Buffer::new().format(n).as_bytes());
    }
    let digits = eight_digits(n);
    // The leading zeros are the low zero bytes (the bit at 56 keeps the
    // last digit of a zero).
    let leading = ((digits | 1 << 56).trailing_zeros() / 8) as usize;
    word_into(
        out,
        at,
        (digits + ASCII_ZEROS) >> (8 * leading),
        8 - leading,
    )
}

/// Stores the eight bytes of `text` (its first `len` are the digits, the
/// rest is room the next part overwrites) at `at`; returns `at + len`, or
/// 0 if the eight bytes do not fit.
#[inline(always)]
fn word_into(out: &mut ValueRoom, at: usize, text: u64, len: usize) -> usize {
    match out.get_mut(at..at + 8) {
        Some(room) => {
            room.copy_from_slice(&text.to_le_bytes());
            at + len
        }
        None => 0,
    }
}

/// For each number of microseconds below 1000, the text of its three
/// digits as a fraction of a millisecond, without trailing zeros, in the
/// low three bytes (530 is `53`, 5 is `005`), and how many of them count in
/// the top byte.
static MICROS: [u32; 1000] = {
    let mut table = [0; 1000];
    let mut n = 0;
    while n < 1000 {
        let digits = [n / 100, n / 10 % 10, n % 10];
        let mut places = 3;
        while places > 1 && digits[places - 1] == 0 {
            places -= 1;
        }
        let text = (b'0' as u32 + digits[0] as u32)
            | (b'0' as u32 + digits[1] as u32) << 8
            | (b'0' as u32 + digits[2] as u32) << 16;
        table[n] = text | (places as u32) << 24;
        n += 1;
    }
    table
};

/// `'0'` in each byte of a word: added to eight digits (each at most 9, so
/// no carry), it makes their text.
const ASCII_ZEROS: u64 = 0x3030_3030_3030_3030;

/// The eight decimal digits of `n` (below 10^8), leading zeros included,
/// one per byte, the most significant in the lowest byte (first in memory),
/// by multiplications on the word's lanes (SWAR): `n` split in two halves
/// of four digits, each in two quarters of two, each in two digits; each
/// division by a constant is a multiplication and a shift, exact in the
/// range of its lane, and no lane carries into the next.
#[inline(always)]
fn eight_digits(n: u64) -> u64 {
    debug_assert!(n < 100_000_000, "eight_digits({n})");
    let high = n / 10_000;
    // Two 32-bit lanes: the first four digits, then the last four.
    let halves = high | (n - high * 10_000) << 32;
    // `x * 10486 >> 20` is `x / 100` for `x < 10^4`.
    let hundreds = ((halves * 10_486) >> 20) & 0x0000_007f_0000_007f;
    // Four 16-bit lanes of two digits each.
    let quarters = hundreds | (halves - hundreds * 100) << 16;
    // `x * 103 >> 10` is `x / 10` for `x < 100`.
    let tens = ((quarters * 103) >> 10) & 0x000f_000f_000f_000f;
    // Eight bytes of one digit each.
    tens | (quarters - tens * 10) << 8
}

/// Writes a duration in milliseconds, exactly, from its integer nanoseconds
/// (`1500µs` is `1.5`, `2s` is `2000`) at the start of `out`; returns its
/// length, or 0 if its nanoseconds do not fit in `u64` (584 years).
#[inline(always)]
fn millis_into(out: &mut ValueRoom, d: Duration) -> usize {
    if d.as_secs() >= MAX_NANOS_SECONDS {
        return 0;
    }
    let nanos = d.as_secs() * 1_000_000_000 + u64::from(d.subsec_nanos());
    let (whole, fraction) = (nanos / 1_000_000, nanos % 1_000_000);
    let at = whole_into(out, 0, whole);
    if fraction == 0 || at == 0 || at >= MAX_VALUE_LENGTH {
        return at;
    }
    out[at] = b'.';
    if fraction % 1000 == 0 {
        // Whole microseconds (`from_micros`, a clock of that resolution):
        // their three digits without trailing zeros, from a table.
        let entry = MICROS[(fraction / 1000) as usize];
        return word_into(
            out,
            at + 1,
            u64::from(entry & 0xff_ffff),
            (entry >> 24) as usize,
        );
    }
    // Six digits (the first two of the eight are zeros), without their
    // trailing zeros (the high zero bytes): 530 001 is `530001`, 1 is
    // `000001`.
    let digits = eight_digits(fraction);
    let places = 8 - (digits.leading_zeros() / 8) as usize - 2;
    word_into(out, at + 1, (digits + ASCII_ZEROS) >> 16, places)
}

/// Writes `value` and the padded `tail` at `at`; returns where the line
/// ends (the blocks of the tail may reach further).
///
/// # Safety
/// `at` is valid for writes of `MAX_INT_LENGTH + tail.bytes.len()` bytes.
#[inline(always)]
unsafe fn write_value_and_tail(mut at: *mut u8, value: i64, tail: &Padded) -> *mut u8 {
    // SAFETY: at most `MAX_INT_LENGTH` digits, then the tail's blocks, as
    // the caller promises room for.
    unsafe {
        if (0..10).contains(&value) {
            // The commonest value (`incr`) by far: no formatter.
            *at = b'0' + value as u8;
            at = at.add(1);
        } else {
            let mut digits = itoa::Buffer::new();
            let digits = digits.format(value).as_bytes();
            copy_short(digits, at);
            at = at.add(digits.len());
        }
        at.add(tail.copy_to(at))
    }
}

/// Copies `src` to `dst` without a call to `memcpy` for the short pieces
/// a line is made of (a call costs more than the copy): two overlapping
/// loads and stores of 8, 4 or 1 bytes; `memcpy` above 16 bytes.
///
/// # Safety
/// `dst` is valid for `src.len()` bytes of writes and does not overlap `src`.
#[inline(always)]
unsafe fn copy_short(src: &[u8], dst: *mut u8) {
    let len = src.len();
    let from = src.as_ptr();
    // SAFETY: in every arm, each read is inside `src` and each write inside
    // `dst..dst + len`, which the caller promises; the unaligned reads and
    // writes have no alignment requirement.
    unsafe {
        if len >= 8 {
            if len > 16 {
                std::ptr::copy_nonoverlapping(from, dst, len);
                return;
            }
            let first = from.cast::<u64>().read_unaligned();
            let last = from.add(len - 8).cast::<u64>().read_unaligned();
            dst.cast::<u64>().write_unaligned(first);
            dst.add(len - 8).cast::<u64>().write_unaligned(last);
        } else if len >= 4 {
            let first = from.cast::<u32>().read_unaligned();
            let last = from.add(len - 4).cast::<u32>().read_unaligned();
            dst.cast::<u32>().write_unaligned(first);
            dst.add(len - 4).cast::<u32>().write_unaligned(last);
        } else if len > 0 {
            // 1 to 3 bytes: the first, the middle one and the last.
            *dst = *from;
            *dst.add(len / 2) = *from.add(len / 2);
            *dst.add(len - 1) = *from.add(len - 1);
        }
    }
}

/// Appends `bytes` to `buf`, by [`copy_short`] while the spare capacity
/// holds them (the scratch buffer's always does): no call to `memcpy` for
/// each of the short pieces a line is made of.
#[inline(always)]
fn put(buf: &mut Vec<u8>, bytes: &[u8]) {
    let len = buf.len();
    if buf.capacity() - len < bytes.len() {
        buf.extend_from_slice(bytes);
        return;
    }
    // SAFETY: the spare capacity holds `bytes.len()` bytes past `len`; they
    // cannot overlap `bytes` (`buf` is borrowed mutably, `bytes` shared), and
    // `copy_short` writes all of them before the length covers them.
    unsafe {
        copy_short(bytes, buf.as_mut_ptr().add(len));
        buf.set_len(len + bytes.len());
    }
}

#[cold]
fn not_finite(f: f64) -> Error {
    Error::from(ErrorKind::InvalidValue {
        value: f.to_string(),
        reason: "not a finite number",
    })
}

/// Tags rendered in `format` without a leading separator (`k:v,k2` for
/// DogStatsD, `k=v,k2=true` for Influx, `k=v;k2=true` for Graphite).
pub(crate) fn render_tags(format: TagFormat, tags: &[(String, String)]) -> Vec<u8> {
    let mut rendered = Vec::new();
    for (key, value) in tags {
        if !rendered.is_empty() {
            rendered.push(tag_separator(format));
        }
        write_tag(&mut rendered, format, key, value);
    }
    rendered
}

fn tag_separator(format: TagFormat) -> u8 {
    match format {
        TagFormat::DogStatsd | TagFormat::Influx => b',',
        TagFormat::Graphite => b';',
    }
}

/// Writes one tag in the dialect (inline: a call costs more than the few
/// copies it makes).
#[inline(always)]
fn write_tag(buf: &mut Vec<u8>, format: TagFormat, key: &str, value: &str) {
    put(buf, key.as_bytes());
    match (format, value.is_empty()) {
        (TagFormat::DogStatsd, true) => {}
        (TagFormat::DogStatsd, false) => {
            buf.push(b':');
            put(buf, value.as_bytes());
        }
        (_, true) => put(buf, b"=true"),
        (_, false) => {
            buf.push(b'=');
            put(buf, value.as_bytes());
        }
    }
}

#[inline]
fn write_value(buf: &mut Vec<u8>, value: Value<'_>) {
    match value {
        Value::Int(n) => put(buf, itoa::Buffer::new().format(n).as_bytes()),
        Value::Float(f) => write_float(buf, f),
        Value::Delta(f) => write_float_or_delta(buf, f, true),
        Value::Duration(d) => write_millis(buf, d),
        Value::Text(text) => put(buf, text.as_bytes()),
    }
}

/// Writes a call's timestamp and the cardinality (the call's, else the
/// connector's): `|T<seconds>|card:<value>`, each when present.
fn write_extras(buf: &mut Vec<u8>, extras: Extras, connector: Option<Cardinality>) {
    if let Some(seconds) = extras.timestamp {
        put(buf, b"|T");
        put(buf, itoa::Buffer::new().format(seconds).as_bytes());
    }
    if let Some(cardinality) = extras.cardinality.or(connector) {
        put(buf, b"|card:");
        put(buf, cardinality.as_str().as_bytes());
    }
}

/// Writes a finite float in plain decimal notation, as [`float_into`]
/// does; the rare value whose shortest digits need an exponent through
/// `Display`, which never writes one.
#[inline]
pub(crate) fn write_float(buf: &mut Vec<u8>, f: f64) {
    write_float_or_delta(buf, f, false);
}

/// [`write_float`], after a `+` when `plus` and `f` is not negative.
#[inline]
fn write_float_or_delta(buf: &mut Vec<u8>, f: f64, plus: bool) {
    debug_assert!(f.is_finite(), "write_float({f})");
    let mut room = [0; MAX_VALUE_LENGTH];
    match float_into(&mut room, f, plus) {
        0 => {
            if plus && f >= 0.0 {
                buf.push(b'+');
            }
            // Writing into a Vec cannot fail.
            let _ = write!(buf, "{f}");
        }
        len => put(buf, &room[..len]),
    }
}

/// Writes a duration in milliseconds, exactly, as [`millis_into`] does;
/// beyond its 584 years, from `u128` nanoseconds.
fn write_millis(buf: &mut Vec<u8>, d: Duration) {
    let mut room = [0; MAX_VALUE_LENGTH];
    match millis_into(&mut room, d) {
        0 => {
            let nanos = d.as_nanos();
            let (whole, fraction) = (nanos / 1_000_000, nanos % 1_000_000);
            put(buf, itoa::Buffer::new().format(whole).as_bytes());
            if fraction != 0 {
                let digits = format!(".{fraction:06}");
                put(buf, digits.trim_end_matches('0').as_bytes());
            }
        }
        len => put(buf, &room[..len]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every configuration the frames depend on: prefix, type prefixes,
    /// the three tag dialects with and without global tags, origin fields
    /// and cardinality, and a frame longer than one block.
    fn formats() -> Vec<LineFormat> {
        let mut formats = Vec::new();
        let long_tag = ("deployment".to_owned(), "x".repeat(40));
        for prefix in [None, Some("app.web")] {
            for type_prefixes in [false, true] {
                for tag_format in [TagFormat::DogStatsd, TagFormat::Influx, TagFormat::Graphite] {
                    for tags in [
                        vec![],
                        vec![("env".to_owned(), "prod".to_owned())],
                        vec![long_tag.clone()],
                    ] {
                        let format =
                            LineFormat::new(prefix, type_prefixes, tag_format, &tags, 8192);
                        formats.push(format.clone());
                        formats.push(format.with_origin(
                            Some(
                                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                            ),
                            Some("it-false,cn-web"),
                            Some(Cardinality::High),
                        ));
                    }
                }
            }
        }
        if cfg!(miri) {
            // A spread of them (every dialect, origin on and off, the long
            // frame): Miri runs each line's every step.
            return formats.into_iter().step_by(7).collect();
        }
        formats
    }

    /// Every type; under Miri, which is there for the unsafe copies (the
    /// same for every type), a counter and a gauge.
    fn kinds() -> Vec<MetricType> {
        if cfg!(miri) {
            vec![MetricType::Counter, MetricType::Gauge]
        } else {
            MetricType::ALL.to_vec()
        }
    }

    /// Name lengths 1 to 34; under Miri, those at and around the copy's
    /// thresholds (1, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33).
    fn name_lengths() -> Vec<usize> {
        if cfg!(miri) {
            vec![1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33]
        } else {
            (1..=34).collect()
        }
    }

    #[test]
    fn the_fast_integer_lines_are_the_general_writers_bytes() {
        let values = [0, 1, 9, 10, -1, -9, 12_345, i64::MAX, i64::MIN];
        for format in formats() {
            for kind in kinds() {
                for name in ["a", "bench.requests", &"n".repeat(40)] {
                    let prepared = format.prepare_int(name, kind).expect("short enough");
                    for value in values {
                        let mut expected = Vec::new();
                        format
                            .write(
                                &mut expected,
                                &MetricLine::new(name, Value::Int(value), kind),
                            )
                            .unwrap();
                        // Garbage around the line: the fast writers must
                        // neither read it nor leave any inside the line.
                        let room = format.int_bound(name, kind).unwrap();
                        let mut out = vec![b'#'; room];
                        let len = format.write_int(&mut out, name, value, kind);
                        assert_eq!(out[..len], expected[..], "{format:?} {kind:?} {value}");
                        let mut out = vec![b'#'; prepared.room()];
                        let len = prepared.write(&mut out, value);
                        assert_eq!(out[..len], expected[..], "{format:?} {kind:?} {value}");
                    }
                }
            }
        }
    }

    /// The edges of the unsafe fast writers, in a buffer of exactly the
    /// room they ask for (Miri runs this: a write one byte past it is an
    /// error there): every name length across the copy's thresholds (1, 3,
    /// 4, 7, 8, 15, 16, 17, 31, 32, 33 bytes) and prefixes that make the
    /// head end just before, at and just after a block's end, with values
    /// of one digit, two and twenty characters.
    #[test]
    fn the_fast_writers_stay_inside_their_room_at_every_block_edge() {
        for prefix_len in [0, 29, 30, 31, 32, 62, 63] {
            let prefix = "p".repeat(prefix_len);
            let prefix = (prefix_len > 0).then_some(prefix.as_str());
            let format = LineFormat::new(prefix, false, TagFormat::DogStatsd, &[], 8192);
            for name_len in name_lengths() {
                let name = "n".repeat(name_len);
                for value in [7, 42, i64::MIN] {
                    let kind = MetricType::Counter;
                    let mut expected = Vec::new();
                    let metric = MetricLine::new(&name, Value::Int(value), kind);
                    format.write(&mut expected, &metric).unwrap();
                    let room = format.int_bound(&name, kind).unwrap();
                    let mut out = vec![b'#'; room];
                    let len = format.write_int(&mut out, &name, value, kind);
                    assert_eq!(out[..len], expected[..], "{prefix_len} {name_len} {value}");
                    let prepared = format.prepare_int(&name, kind).unwrap();
                    let mut out = vec![b'#'; prepared.room()];
                    let len = prepared.write(&mut out, value);
                    assert_eq!(out[..len], expected[..], "{prefix_len} {name_len} {value}");
                }
            }
        }
    }

    /// `put` copies into spare capacity without `memcpy`: a piece that
    /// fills the capacity exactly, one that needs one byte more (the
    /// growing path), and every short length.
    #[test]
    fn put_fills_spare_capacity_exactly_and_grows_past_it() {
        for len in 0..=34usize {
            let piece: Vec<u8> = (0..len as u8).collect();
            for spare in [len, len.saturating_sub(1)] {
                let mut buf = Vec::with_capacity(3 + spare);
                buf.extend_from_slice(b"abc");
                let spare_before = buf.capacity() - buf.len();
                put(&mut buf, &piece);
                assert_eq!(&buf[..3], b"abc", "{len} {spare_before}");
                assert_eq!(buf[3..], piece[..], "{len} {spare_before}");
            }
        }
    }

    /// The in-place writer of floats and durations writes the general
    /// writer's bytes, in a buffer of exactly the room it asks for, for
    /// every configuration and type; and it declines exactly what the
    /// general writer must take (two lines, an exponent, no number).
    #[test]
    fn the_plain_writer_writes_the_general_writers_bytes() {
        let mut values = vec![
            Value::Duration(Duration::ZERO),
            Value::Duration(Duration::from_nanos(1)),
            Value::Duration(Duration::from_micros(1530)),
            Value::Duration(Duration::from_secs(2)),
            Value::Duration(Duration::from_nanos(u64::MAX)),
            Value::Duration(Duration::new(u64::MAX / 1000 - 1, 999_999_999)),
            Value::Int(i64::MIN),
        ];
        for f in [
            0.0,
            -0.0,
            21.53,
            -21.53,
            0.1 + 0.2,
            1e-5,
            -1.234_567_890_123_4e-5,
            1e15,
            1.5e16,
            9.2e18,
            1e21,
            1e-7,
            f64::MIN_POSITIVE,
            f64::MAX,
            -f64::MAX,
        ] {
            values.extend([Value::Float(f), Value::Delta(f)]);
        }
        let long = "n".repeat(40);
        // Under Miri one name: the name's copy is `write_int`'s, whose edges
        // the block-edge test covers.
        let names = if cfg!(miri) {
            vec!["bench.gauge"]
        } else {
            vec!["a", "bench.gauge", &long]
        };
        for format in formats() {
            for kind in kinds() {
                for name in names.iter().copied() {
                    for value in values.iter().copied() {
                        let metric = MetricLine::new(name, value, kind);
                        let mut expected = Vec::new();
                        let general = format.write(&mut expected, &metric);
                        if !in_place(value, kind) {
                            continue;
                        }
                        assert!(general.is_ok(), "{kind:?} {value:?}: in place but refused");
                        assert_eq!(LineFormat::lines_for(kind, value), 1, "{value:?}");
                        let Some(room) = format.plain_bound(name, kind) else {
                            continue;
                        };
                        let mut out = vec![b'#'; room];
                        let len = format.write_plain(&mut out, name, value, kind);
                        if len == 0 {
                            // Left to the general writer: an exponent.
                            let text = zmij::Buffer::new().format_finite(number(value)).to_owned();
                            assert!(text.contains('e'), "{value:?} declined: {text}");
                            continue;
                        }
                        assert_eq!(out[..len], expected[..], "{format:?} {kind:?} {value:?}");
                    }
                }
            }
        }
        // What the general writer must take.
        let declined = [
            (Value::Float(-1.5), MetricType::Gauge),
            (Value::Float(1.5), MetricType::Timing),
            (Value::Float(f64::NAN), MetricType::Histogram),
            (Value::Float(f64::INFINITY), MetricType::Gauge),
            (Value::Delta(f64::NEG_INFINITY), MetricType::Gauge),
            (Value::Duration(Duration::MAX), MetricType::Timing),
            (Value::Text("a"), MetricType::Set),
        ];
        for (value, kind) in declined {
            assert!(!in_place(value, kind), "{kind:?} {value:?}");
        }
        // Taken, then left to the general writer as written: an exponent.
        let format = &formats()[0];
        for f in [1e-7, 1e21] {
            let room = format.plain_bound("g", MetricType::Gauge).unwrap();
            let written =
                format.write_plain(&mut vec![0; room], "g", Value::Float(f), MetricType::Gauge);
            assert_eq!(written, 0, "{f}");
        }
    }

    /// A value's number, for the exponent check.
    fn number(value: Value<'_>) -> f64 {
        match value {
            Value::Float(f) | Value::Delta(f) => f,
            other => panic!("{other:?} has no exponent"),
        }
    }

    /// The in-place writer of a call's own tags writes the general
    /// writer's bytes, in a buffer of exactly the room it asks for, for
    /// every configuration (DogStatsD: with and without global tags, origin
    /// fields and cardinality; the other dialects decline) and type.
    #[test]
    fn the_tagged_writer_writes_the_general_writers_bytes() {
        let long = "t".repeat(40);
        let tag_sets: [&[(&str, &str)]; 4] = [
            &[("region", "eu"), ("host", "web-01")],
            &[("bare", "")],
            &[("k", "v"), ("bare", ""), ("x", "y")],
            &[(&long, &long)],
        ];
        let values = [Value::Int(1), Value::Int(-42), Value::Float(21.53)];
        let mut written = 0;
        for format in formats() {
            for kind in kinds() {
                for tags in tag_sets {
                    for value in values {
                        if !in_place(value, kind) {
                            continue;
                        }
                        let Some(room) = format.tagged_bound("bench.tagged", kind, tags) else {
                            assert!(
                                format.tag_format != TagFormat::DogStatsd,
                                "{format:?}: DogStatsD declined"
                            );
                            continue;
                        };
                        let metric = MetricLine {
                            tags,
                            ..MetricLine::new("bench.tagged", value, kind)
                        };
                        let mut expected = Vec::new();
                        format.write(&mut expected, &metric).unwrap();
                        let mut out = vec![b'#'; room];
                        // SAFETY: `room` is `tagged_bound`'s for these.
                        let len = unsafe {
                            format.write_tagged(&mut out, "bench.tagged", value, kind, tags, room)
                        };
                        assert_eq!(out[..len], expected[..], "{format:?} {kind:?} {tags:?}");
                        written += 1;
                    }
                }
            }
        }
        assert!(written > 0);
    }

    /// The tagged writer copies keys and values of every length across
    /// the copy's pieces and blocks exactly, in the room it asks for, and
    /// leaves to the general writer (0) any tag that is not a key of plain
    /// bytes with a value of plain bytes.
    #[test]
    fn the_tagged_writer_takes_every_length_and_declines_what_is_not_plain() {
        let lengths = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33];
        let global = [("env".to_owned(), "prod".to_owned())];
        let (kind, value) = (MetricType::Counter, Value::Int(1));
        for global_tags in [&[][..], &global[..]] {
            let format = LineFormat::new(None, false, TagFormat::DogStatsd, global_tags, 8192);
            let write = |tags: &[(&str, &str)]| {
                let room = format.tagged_bound("t", kind, tags).expect("in place");
                let mut out = vec![b'#'; room];
                // SAFETY: `room` is `tagged_bound`'s for these.
                let len = unsafe { format.write_tagged(&mut out, "t", value, kind, tags, room) };
                out.truncate(len);
                out
            };
            for key_len in lengths {
                for value_len in [0].iter().chain(&lengths) {
                    let (key, tag_value) = ("k".repeat(key_len), "v".repeat(*value_len));
                    let tags = [(key.as_str(), tag_value.as_str()), ("b", "w")];
                    let mut expected = Vec::new();
                    let metric = MetricLine {
                        tags: &tags,
                        ..MetricLine::new("t", value, kind)
                    };
                    format.write(&mut expected, &metric).unwrap();
                    assert_eq!(write(&tags), expected, "{key_len} {value_len}");
                }
            }
            // A bad byte in the middle block of a value over 16 bytes.
            let mut long_bad = "v".repeat(40);
            long_bad.replace_range(20..21, "|");
            for tag in [
                ("", "v"),
                ("k", "a:b"),
                ("k", "a,b"),
                ("k", "a b"),
                ("k", "\u{e9}t\u{e9}"),
                ("k\n", "v"),
                ("k", long_bad.as_str()),
            ] {
                assert!(write(&[("a", "b"), tag]).is_empty(), "{tag:?}");
            }
        }
    }

    #[test]
    fn the_fast_path_stays_out_of_lines_near_the_length_limit() {
        let format = LineFormat::new(None, false, TagFormat::DogStatsd, &[], 40);
        // 30 + `:` + 20 digits + `|c\n` could exceed 40: the general path
        // (which measures) takes it.
        assert!(format
            .int_bound(&"n".repeat(30), MetricType::Counter)
            .is_none());
        assert!(format
            .prepare_int(&"n".repeat(30), MetricType::Counter)
            .is_none());
        assert!(format.int_bound("short", MetricType::Counter).is_some());
    }

    fn line(format: &LineFormat, name: &str, value: Value<'_>, kind: MetricType) -> String {
        line_with(format, name, value, kind, 1.0, &[])
    }

    fn line_with(
        format: &LineFormat,
        name: &str,
        value: Value<'_>,
        kind: MetricType,
        rate: f64,
        tags: &[(&str, &str)],
    ) -> String {
        let mut buf = Vec::new();
        let metric = MetricLine {
            sample_rate: rate,
            tags,
            ..MetricLine::new(name, value, kind)
        };
        format.write(&mut buf, &metric).unwrap();
        String::from_utf8(buf).unwrap()
    }

    fn plain() -> LineFormat {
        LineFormat::new(None, false, TagFormat::DogStatsd, &[], 8192)
    }

    #[test]
    fn counter_gauge_timing_set_lines() {
        let f = plain();
        assert_eq!(
            line(&f, "hits", Value::Int(1), MetricType::Counter),
            "hits:1|c\n"
        );
        assert_eq!(
            line(&f, "hits", Value::Int(-3), MetricType::Counter),
            "hits:-3|c\n"
        );
        assert_eq!(
            line(&f, "temp", Value::Float(21.5), MetricType::Gauge),
            "temp:21.5|g\n"
        );
        assert_eq!(
            line(&f, "temp", Value::Float(20.0), MetricType::Gauge),
            "temp:20|g\n"
        );
        assert_eq!(
            line(&f, "temp", Value::Float(-0.0), MetricType::Gauge),
            "temp:0|g\n"
        );
        assert_eq!(
            line(&f, "users", Value::Text("alice"), MetricType::Set),
            "users:alice|s\n"
        );
    }

    #[test]
    fn deltas_always_carry_a_sign() {
        let f = plain();
        assert_eq!(
            line(&f, "q", Value::Delta(3.0), MetricType::Gauge),
            "q:+3|g\n"
        );
        assert_eq!(
            line(&f, "q", Value::Delta(-2.0), MetricType::Gauge),
            "q:-2|g\n"
        );
        assert_eq!(
            line(&f, "q", Value::Delta(0.0), MetricType::Gauge),
            "q:+0|g\n"
        );
        assert_eq!(
            line(&f, "q", Value::Delta(0.25), MetricType::Gauge),
            "q:+0.25|g\n"
        );
    }

    #[test]
    fn durations_are_exact_milliseconds() {
        let f = plain();
        let ms = |d| line(&f, "t", Value::Duration(d), MetricType::Timing);
        assert_eq!(ms(Duration::from_secs(2)), "t:2000|ms\n");
        assert_eq!(ms(Duration::from_micros(1500)), "t:1.5|ms\n");
        assert_eq!(ms(Duration::from_nanos(1)), "t:0.000001|ms\n");
        assert_eq!(ms(Duration::from_nanos(12_345_678)), "t:12.345678|ms\n");
        assert_eq!(ms(Duration::ZERO), "t:0|ms\n");
        // Zeros inside the fraction are kept, trailing ones dropped.
        assert_eq!(ms(Duration::from_nanos(1_000_001)), "t:1.000001|ms\n");
        assert_eq!(ms(Duration::from_nanos(1_050_000)), "t:1.05|ms\n");
        // The largest milliseconds `u64` holds, then past it (`u128`).
        let last = Duration::new(u64::MAX / 1000, 615_999_999);
        assert_eq!(ms(last), "t:18446744073709551615.999999|ms\n");
        let past = Duration::new(u64::MAX / 1000, 616_000_000);
        assert_eq!(ms(past), "t:18446744073709551616|ms\n");
        assert_eq!(ms(Duration::MAX), "t:18446744073709551615999.999999|ms\n");
    }

    #[test]
    fn floats_never_use_exponents() {
        let f = plain();
        let g = |v| line(&f, "g", Value::Float(v), MetricType::Gauge);
        assert_eq!(g(1e-7), "g:0.0000001|g\n");
        assert_eq!(g(1.5e20), "g:150000000000000000000|g\n");
        assert_eq!(g(0.1), "g:0.1|g\n");
        // Integral floats are written as integers up to 2^63, never as `N.0`.
        assert_eq!(g(9_435_134_604_641_412.0), "g:9435134604641412|g\n");
        assert_eq!(g(-9.0e18), "g:-9000000000000000000|g\n");
        assert_eq!(g(0.00001), "g:0.00001|g\n");
        assert_eq!(g(-9.9e-6), "g:-0.0000099|g\n");
        assert_eq!(g(1234.5678), "g:1234.5678|g\n");
    }

    /// Steps the tests' xorshift64 generator: the same values every run,
    /// so that a failure names a value that fails again.
    fn next_bits(bits: &mut u64) {
        *bits ^= *bits << 13;
        *bits ^= *bits >> 7;
        *bits ^= *bits << 17;
    }

    /// Whatever the bits, a finite float is written without an exponent and
    /// reads back as itself (the shortest digits come from `zmij`, the rare
    /// exponent cases from `Display`).
    #[test]
    fn every_float_is_plain_decimal_and_round_trips() {
        let mut bits: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut seen = 0;
        let values = if cfg!(miri) { 20 } else { 200_000 };
        while seen < values {
            next_bits(&mut bits);
            // Raw bit patterns (any magnitude), and short decimals (the
            // gauges and rates of real calls).
            let f = if seen % 2 == 0 {
                f64::from_bits(bits)
            } else {
                (bits % 10_000_000) as f64 / 1000.0
            };
            if !f.is_finite() {
                continue;
            }
            seen += 1;
            let mut buf = Vec::new();
            write_float(&mut buf, f);
            let text = std::str::from_utf8(&buf).unwrap();
            assert!(!text.contains(['e', 'E']), "{f:e} written as {text}");
            assert_eq!(text.parse::<f64>().unwrap(), f, "{f:e} written as {text}");
        }
    }

    /// Whichever way a float is written (integral, by integer arithmetic,
    /// by `zmij`, through `Display`), its text is as short as the standard
    /// library's `Display` (the shortest digits that read back as the same
    /// `f64`, in plain notation), and the same text wherever the integer
    /// arithmetic writes it. (Where two texts of the shortest length read
    /// back as the same `f64`, `zmij` may pick the other one: it happens
    /// for a few raw bit patterns of seventeen digits.) Raw bit patterns,
    /// and decimals of one to nine places and up to seventeen digits (the
    /// integer arithmetic's edges: six places, fifteen digits, `10^9`).
    #[test]
    fn every_float_is_written_as_display_writes_it() {
        let mut bits: u64 = 0x2545_f491_4f6c_dd1d;
        let values = if cfg!(miri) { 30 } else { 300_000 };
        for i in 0..values {
            next_bits(&mut bits);
            let places = i / 3 % 9 + 1;
            let digits = bits % 10u64.pow((i % 17 + 1) as u32);
            let f = match i % 3 {
                0 => f64::from_bits(bits),
                1 => digits as f64 / 10f64.powi(places),
                _ => -(digits as f64) / 10f64.powi(places),
            };
            if !f.is_finite() || f == 0.0 {
                continue;
            }
            let mut buf = Vec::new();
            write_float(&mut buf, f);
            let text = String::from_utf8(buf).unwrap();
            let display = f.to_string();
            if short_decimal(f.abs()).is_some() || text == display {
                assert_eq!(text, display, "{f:e}");
            } else {
                assert_eq!(text.len(), display.len(), "{f:e}: {text} and {display}");
                assert_eq!(text.parse::<f64>().unwrap(), f, "{f:e}: {text}");
            }
            let mut delta = Vec::new();
            write_value(&mut delta, Value::Delta(f));
            let sign = if f > 0.0 { "+" } else { "" };
            assert_eq!(
                String::from_utf8(delta).unwrap(),
                format!("{sign}{text}"),
                "{f:e}"
            );
        }
    }

    /// The multiplications of `eight_digits` are exact on every lane: each
    /// number below 10^8 at the edges of its lanes, and a spread of others.
    #[test]
    fn eight_digits_are_the_numbers_digits() {
        let edges = [0, 1, 9, 10, 99, 100, 999, 1_000, 9_999, 10_000, 99_999_999];
        let step = if cfg!(miri) { 9_999_991 } else { 997 };
        for n in edges
            .into_iter()
            .chain(0..1000)
            .chain((0..100_000_000).step_by(step))
        {
            let text = (eight_digits(n) + ASCII_ZEROS).to_le_bytes();
            assert_eq!(text, *format!("{n:08}").as_bytes(), "{n}");
            if n < 100 {
                let two = two_digits(n).to_le_bytes();
                assert_eq!(two[..2], *format!("{n:02}").as_bytes(), "{n}");
            }
            let mut out = [0; MAX_VALUE_LENGTH];
            let end = whole_into(&mut out, 1, n);
            assert_eq!(out[1..end], *n.to_string().as_bytes(), "{n}");
        }
    }

    /// Durations are written as their exact milliseconds, every fraction
    /// of six places with its trailing zeros dropped, in place and not.
    #[test]
    fn every_duration_is_its_exact_milliseconds() {
        let mut bits: u64 = 0x9e37_79b9_7f4a_7c15;
        let values = if cfg!(miri) { 30 } else { 100_000 };
        for i in 0..values {
            next_bits(&mut bits);
            assert_exact_millis(bits % 10u64.pow((i % 19 + 1) as u32));
        }
        // Every whole number of microseconds in a millisecond (the table's
        // entries), after a few whole parts.
        let wholes: &[u64] = if cfg!(miri) {
            &[1]
        } else {
            &[0, 1, 21, 99_999_999, 100_000_000]
        };
        for &whole in wholes {
            for micros in 0..1000 {
                assert_exact_millis((whole * 1000 + micros) * 1000);
            }
        }
    }

    /// A duration of `nanos` is written as its exact milliseconds, the
    /// fraction's trailing zeros dropped.
    fn assert_exact_millis(nanos: u64) {
        let (whole, fraction) = (nanos / 1_000_000, nanos % 1_000_000);
        let expected = if fraction == 0 {
            whole.to_string()
        } else {
            format!("{whole}.{fraction:06}")
                .trim_end_matches('0')
                .to_owned()
        };
        let d = Duration::from_nanos(nanos);
        let mut buf = Vec::new();
        write_value(&mut buf, Value::Duration(d));
        assert_eq!(std::str::from_utf8(&buf).unwrap(), expected, "{d:?}");
    }

    #[test]
    fn prefix_and_type_prefixes_come_in_order() {
        let f = LineFormat::new(Some("app.web"), true, TagFormat::DogStatsd, &[], 8192);
        assert_eq!(
            line(&f, "hits", Value::Int(1), MetricType::Counter),
            "app.web.counters.hits:1|c\n"
        );
        assert_eq!(
            line(&f, "t", Value::Int(5), MetricType::Timing),
            "app.web.timers.t:5|ms\n"
        );
        assert_eq!(
            line(&f, "g", Value::Int(5), MetricType::Gauge),
            "app.web.gauges.g:5|g\n"
        );
        let f = LineFormat::new(Some("app"), false, TagFormat::DogStatsd, &[], 8192);
        assert_eq!(
            line(&f, "hits", Value::Int(1), MetricType::Counter),
            "app.hits:1|c\n"
        );
    }

    #[test]
    fn sample_rate_and_tags_in_each_dialect() {
        let global = [("env".to_owned(), "prod".to_owned())];
        let dog = LineFormat::new(None, false, TagFormat::DogStatsd, &global, 8192);
        assert_eq!(
            line_with(
                &dog,
                "h",
                Value::Int(1),
                MetricType::Counter,
                0.5,
                &[("a", "b"), ("bare", "")]
            ),
            "h:1|c|@0.5|#env:prod,a:b,bare\n"
        );
        let influx = LineFormat::new(None, false, TagFormat::Influx, &global, 8192);
        assert_eq!(
            line_with(
                &influx,
                "h",
                Value::Int(1),
                MetricType::Counter,
                1.0,
                &[("a", "b"), ("bare", "")]
            ),
            "h,env=prod,a=b,bare=true:1|c\n"
        );
        let graphite = LineFormat::new(None, false, TagFormat::Graphite, &[], 8192);
        assert_eq!(
            line_with(
                &graphite,
                "h",
                Value::Int(1),
                MetricType::Counter,
                0.25,
                &[("a", "b"), ("c", "d")]
            ),
            "h;a=b;c=d:1|c|@0.25\n"
        );
    }

    #[test]
    fn the_formatter_refuses_non_finite_floats_and_leaves_the_buffer_untouched() {
        let f = plain();
        let mut buf = b"before\n".to_vec();
        for value in [
            Value::Float(f64::INFINITY),
            Value::Float(f64::NEG_INFINITY),
            Value::Float(f64::NAN),
            Value::Delta(f64::INFINITY),
            Value::Delta(f64::NAN),
        ] {
            for kind in [MetricType::Gauge, MetricType::Histogram] {
                let err = f
                    .write_metric(&mut buf, &MetricLine::new("g", value, kind))
                    .unwrap_err();
                assert!(err.is_invalid_input(), "{value:?}");
            }
        }
        for rate in [f64::NAN, 0.0, -1.0, 5e-324] {
            let metric = MetricLine {
                sample_rate: rate,
                ..MetricLine::new("c", Value::Int(1), MetricType::Counter)
            };
            assert!(f.write(&mut buf, &metric).is_err());
        }
        assert_eq!(buf, b"before\n");
    }

    #[test]
    fn overlong_lines_are_refused_and_leave_the_buffer_untouched() {
        let f = LineFormat::new(None, false, TagFormat::DogStatsd, &[], 16);
        let mut buf = b"before\n".to_vec();
        let err = f
            .write(
                &mut buf,
                &MetricLine::new("a-rather-long-name", Value::Int(1), MetricType::Counter),
            )
            .unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::LineTooLong { limit: 16, .. }
        ));
        assert_eq!(buf, b"before\n");
    }
}
