//! Validation of everything a caller can put into a line.
//!
//! The rule is reject, never repair: a name, prefix, tag or raw value that could
//! break the statsd grammar is refused with an [`Error`] naming it, so that what
//! reaches the wire is always exactly the metric the caller meant, or nothing.
//!
//! A name may hold any UTF-8 except these bytes, each of which some server reads
//! as syntax: the separators `:` `|` `@` `#`, the tag separators of the three
//! dialects `,` `;` `=`, space, and every control character (`0x00`–`0x1f`,
//! `0x7f`). Names are at most [`MAX_NAME_LENGTH`] bytes, prefix included.
//!
//! Beyond ASCII, the same rule refuses the characters that end a line or
//! change how text reads for some reader (a log viewer, a terminal, a
//! dashboard), in names, prefixes, tag keys and values, set members and raw
//! values alike, and in the line parser:
//!
//! - the C1 controls `U+0080`–`U+009F` (among them `U+0085` NEL, a line end
//!   for some readers, and `U+009B` CSI, a terminal escape);
//! - the line and paragraph separators `U+2028`, `U+2029`;
//! - the bidirectional marks, embeddings, overrides and isolates `U+061C`,
//!   `U+200E`, `U+200F`, `U+202A`–`U+202E`, `U+2066`–`U+2069` (they make a
//!   name display as another one, "Trojan Source");
//! - the byte order mark `U+FEFF`, which is invisible and, inside a name,
//!   never meant (`U+2060` is the word joiner).
//!
//! Accepted on purpose: the zero-width space, non-joiner and joiner
//! `U+200B`–`U+200D`. The joiner builds emoji sequences and the non-joiner is
//! spelling in Persian and Indic scripts, so refusing them would refuse
//! legitimate names; they break no grammar and reorder nothing (a name that
//! merely looks like another, like a homoglyph, is not this module's to
//! judge). Other Unicode spaces (`U+00A0`, `U+2000`–`U+200A`, `U+3000`) are
//! accepted too: no statsd server reads them as separators.
//!
//! The checks run in three steps, each only for what the one before could
//! not decide. First a fast check, sixteen bytes at a time with SSE2 on
//! x86-64 (see `plain`): a text of only `-./0-9`, `A-Z[\]^_`, `` ` `` and
//! `a-z{`, which is nearly every real name, passes with a few comparisons.
//! Otherwise a 256-entry table lookup per byte, one table per kind of text,
//! without a branch per byte. Only a text the table refuses, or that holds a
//! lead byte of the refused characters above (`0xC2`, `0xD8`, `0xE2`,
//! `0xEF`), is looked at character by character. A 20-byte name costs a few
//! nanoseconds, which is why the checks run on every call instead of being
//! cached.

use crate::error::{Error, ErrorKind, Reason};
use crate::wire::metric::{MetricType, TagFormat, Value};

/// The longest metric name accepted, in bytes, prefixes included.
pub const MAX_NAME_LENGTH: usize = 1024;

/// The longest line accepted, in bytes, newline included. Datagram transports
/// lower it to their payload limit so that every line fits in one datagram.
pub const MAX_LINE_LENGTH: usize = 8192;

/// Bytes that may never appear in a name, prefix, set member, raw value or tag
/// key. The DogStatsD separators (`|`, `,`, `#`) and the Influx/Graphite ones
/// (`;`, `=`, ` `) are refused whatever the dialect, so a name that is valid for
/// one server is valid for all of them.
const RESERVED: [u8; 256] = forbidden(b":|@#,;= ");

/// DogStatsD allows `:` inside a tag value (`url:http://x`), the others do not.
const DOGSTATSD_TAG_RESERVED: [u8; 256] = forbidden(b"|@#,;= ");

/// Controls only: what a whole line may not contain anywhere.
const CONTROLS: [u8; 256] = forbidden(b"");

/// A byte the table refuses.
const REFUSED: u8 = 1;
/// A lead byte of a multi-byte character that may be refused: look closer.
const LOOK: u8 = 2;

const fn forbidden(extra: &[u8]) -> [u8; 256] {
    let mut table = [0; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = REFUSED;
        b += 1;
    }
    table[0x7f] = REFUSED;
    let mut i = 0;
    while i < extra.len() {
        table[extra[i] as usize] = REFUSED;
        i += 1;
    }
    // U+0080–U+009F (C2), U+061C (D8), U+200E–U+206x (E2), U+FEFF (EF).
    table[0xc2] = LOOK;
    table[0xd8] = LOOK;
    table[0xe2] = LOOK;
    table[0xef] = LOOK;
    table
}

/// Whether a non-ASCII character is refused (see the module documentation).
#[inline]
pub(crate) fn refused_char(c: char) -> bool {
    matches!(
        c,
        '\u{80}'..='\u{9f}'
            | '\u{61c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
            | '\u{feff}'
    )
}

/// What [`first_forbidden`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Forbidden {
    Byte(u8),
    Char(char),
}

impl Forbidden {
    fn reason(self) -> Reason {
        match self {
            Forbidden::Byte(b) => Reason::ForbiddenByte(b),
            Forbidden::Char(c) => Reason::ForbiddenChar(c),
        }
    }
}

/// The first byte or character of `text` that `table` forbids. The common
/// case, none, is checked without a branch per byte (the lookups are
/// independent, so they overlap); only a text that fails, or holds a lead
/// byte of a possibly refused character, is scanned again.
#[inline]
fn first_forbidden(text: &str, table: &[u8; 256]) -> Option<Forbidden> {
    if plain(text.as_bytes()) {
        return None;
    }
    let any = text.bytes().fold(0, |any, b| any | table[usize::from(b)]);
    if any == 0 {
        return None;
    }
    first_forbidden_slow(text, table)
}

/// Whether every byte of `bytes` is one of `-./0-9` or `A-Z[\\]^_`a-z{`:
/// the bytes of nearly every real name, and allowed by every table here.
/// A yes is final; a no sends the text to the tables, which decide.
///
/// Sixteen bytes at a time with SSE2 (part of every x86-64): four
/// comparisons and a mask, where the tables cost two loads a byte. A text
/// shorter than a block is read as overlapping pieces: a byte read twice is
/// checked twice, which changes nothing.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn plain(bytes: &[u8]) -> bool {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_set1_epi64x, _mm_set_epi64x};
    /// Whether all 16 bytes of `block` are plain.
    ///
    /// # Safety
    /// SSE2 is available: it is on every x86-64 (the target enables it).
    #[inline(always)]
    unsafe fn all_plain(block: __m128i) -> bool {
        // SAFETY: as the caller promises.
        unsafe { plain_mask(block) == 0xffff }
    }
    /// `N <= 8` bytes at `at`, as the low bytes of a word.
    #[inline(always)]
    fn read<const N: usize>(bytes: &[u8], at: usize) -> u64 {
        let mut word = [0; 8];
        word[..N].copy_from_slice(&bytes[at..at + N]);
        u64::from_le_bytes(word)
    }
    let len = bytes.len();
    // SAFETY: for the whole block, SSE2 is part of x86-64, which the target
    // enables; the two loads read 16 bytes inside `bytes` (see each).
    unsafe {
        let block = match len {
            0 => return true,
            1..=3 => {
                // Four text bytes (the first twice), then the same four again.
                let word = u64::from_le_bytes([
                    bytes[0],
                    bytes[len / 2],
                    bytes[len - 1],
                    bytes[0],
                    0,
                    0,
                    0,
                    0,
                ]);
                _mm_set1_epi64x((word | word << 32) as i64)
            }
            4..=7 => {
                let word = read::<4>(bytes, 0) | read::<4>(bytes, len - 4) << 32;
                _mm_set1_epi64x(word as i64)
            }
            8..=16 => _mm_set_epi64x(read::<8>(bytes, len - 8) as i64, read::<8>(bytes, 0) as i64),
            _ => {
                let mut at = 0;
                while at + 16 <= len {
                    // `at + 16 <= len`: inside `bytes`; no alignment needed.
                    let block = _mm_loadu_si128(bytes.as_ptr().add(at).cast());
                    if !all_plain(block) {
                        return false;
                    }
                    at += 16;
                }
                // The last 16 bytes (`len > 16`), overlapping the blocks
                // before.
                _mm_loadu_si128(bytes.as_ptr().add(len - 16).cast())
            }
        };
        all_plain(block)
    }
}

/// One bit per byte of `block`: set for a plain byte (see [`plain`]).
///
/// # Safety
/// SSE2 is available: it is on every x86-64 (the target enables it).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn plain_mask(block: std::arch::x86_64::__m128i) -> u32 {
    // SAFETY: SSE2 is available, as the caller promises.
    unsafe { std::arch::x86_64::_mm_movemask_epi8(plain_lanes(block)) as u32 }
}

/// `0xff` in each lane of `block` that holds a plain byte, else 0.
///
/// # Safety
/// SSE2 is available: it is on every x86-64 (the target enables it).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn plain_lanes(block: std::arch::x86_64::__m128i) -> std::arch::x86_64::__m128i {
    use std::arch::x86_64::{
        _mm_and_si128, _mm_cmpgt_epi8, _mm_cmplt_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    // SAFETY: SSE2 is available (the caller promises it); these intrinsics
    // only compute on registers.
    unsafe {
        // Signed comparisons: a byte of 0x80 or more is negative, so it is
        // in neither range and the text goes to the tables.
        let in_range = |low: i8, high: i8| {
            _mm_and_si128(
                _mm_cmpgt_epi8(block, _mm_set1_epi8(low - 1)),
                _mm_cmplt_epi8(block, _mm_set1_epi8(high + 1)),
            )
        };
        _mm_or_si128(in_range(0x2d, 0x39), in_range(0x41, 0x7b))
    }
}

/// Copies texts (a call's own tag keys and values, as the in-place writer
/// writes them) and checks, once for all of them, that every byte copied
/// was plain (see [`plain`]) and no key was empty. A yes is final (every
/// dialect allows such tags); a no sends the call to the exact checks,
/// which decide (a `:` in a DogStatsD value is allowed, for one), and what
/// was copied is left unused.
///
/// Up to sixteen bytes are read once, as overlapping pieces like
/// [`plain`]'s, and those same pieces are written back; longer texts go a
/// block at a time, the last block overlapping the one before. The check
/// of each text is folded into one register, tested at the end.
#[derive(Clone, Copy)]
pub(crate) struct PlainCopy {
    /// x86-64: `0xff` in each lane while every byte seen was plain.
    #[cfg(target_arch = "x86_64")]
    lanes: std::arch::x86_64::__m128i,
    /// Elsewhere: whether every byte seen was plain.
    #[cfg(not(target_arch = "x86_64"))]
    plain: bool,
}

impl PlainCopy {
    /// Nothing copied yet: plain.
    #[inline(always)]
    pub(crate) fn new() -> PlainCopy {
        #[cfg(target_arch = "x86_64")]
        return PlainCopy {
            // SAFETY: SSE2 is part of x86-64, which the target enables.
            lanes: unsafe { std::arch::x86_64::_mm_set1_epi8(-1) },
        };
        #[cfg(not(target_arch = "x86_64"))]
        return PlainCopy { plain: true };
    }

    /// Copies a tag key to `dst`; an empty key is not plain.
    ///
    /// # Safety
    /// `dst` is valid for `key.len()` bytes of writes and does not overlap
    /// `key`.
    #[inline(always)]
    pub(crate) unsafe fn key(&mut self, key: &str, dst: *mut u8) {
        // SAFETY: as the caller promises.
        unsafe { self.copy::<false>(key.as_bytes(), dst) }
    }

    /// Copies a tag value (not empty) to `dst`.
    ///
    /// # Safety
    /// As for [`PlainCopy::key`].
    #[inline(always)]
    pub(crate) unsafe fn value(&mut self, value: &str, dst: *mut u8) {
        // SAFETY: as the caller promises.
        unsafe { self.copy::<true>(value.as_bytes(), dst) }
    }

    /// Whether every text copied was plain (and no key empty).
    #[inline(always)]
    pub(crate) fn all_plain(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: SSE2 is part of x86-64, which the target enables.
        return unsafe { std::arch::x86_64::_mm_movemask_epi8(self.lanes) } == 0xffff;
        #[cfg(not(target_arch = "x86_64"))]
        return self.plain;
    }

    /// Copies `bytes` to `dst` and folds in their check.
    ///
    /// # Safety
    /// `dst` is valid for `bytes.len()` bytes of writes and does not overlap
    /// `bytes`.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn copy<const EMPTY_IS_PLAIN: bool>(&mut self, bytes: &[u8], dst: *mut u8) {
        use std::arch::x86_64::{
            _mm_and_si128, _mm_loadu_si128, _mm_set1_epi32, _mm_set1_epi64x, _mm_set1_epi8,
            _mm_set_epi64x, _mm_setzero_si128, _mm_storeu_si128,
        };
        let len = bytes.len();
        let from = bytes.as_ptr();
        // SAFETY: SSE2 is part of x86-64, which the target enables. In
        // every arm each read is inside `bytes` (`len` bounds it) and each
        // write inside `dst..dst + len`, which the caller promises;
        // unaligned reads and writes have no alignment requirement.
        unsafe {
            // The usual lengths of keys and values (4 to 16) first.
            let block = if len >= 4 {
                if len > 16 {
                    let mut at = 0;
                    while at + 16 <= len {
                        let block = _mm_loadu_si128(from.add(at).cast());
                        _mm_storeu_si128(dst.add(at).cast(), block);
                        self.lanes = _mm_and_si128(self.lanes, plain_lanes(block));
                        at += 16;
                    }
                    // The last 16 bytes, overlapping the blocks before.
                    let block = _mm_loadu_si128(from.add(len - 16).cast());
                    _mm_storeu_si128(dst.add(len - 16).cast(), block);
                    block
                } else if len >= 8 {
                    let first = from.cast::<u64>().read_unaligned();
                    let last = from.add(len - 8).cast::<u64>().read_unaligned();
                    dst.cast::<u64>().write_unaligned(first);
                    dst.add(len - 8).cast::<u64>().write_unaligned(last);
                    _mm_set_epi64x(last as i64, first as i64)
                } else {
                    let first = from.cast::<u32>().read_unaligned();
                    let last = from.add(len - 4).cast::<u32>().read_unaligned();
                    dst.cast::<u32>().write_unaligned(first);
                    dst.add(len - 4).cast::<u32>().write_unaligned(last);
                    _mm_set1_epi64x((u64::from(first) | u64::from(last) << 32) as i64)
                }
            } else if len >= 2 {
                let first = from.cast::<u16>().read_unaligned();
                let last = from.add(len - 2).cast::<u16>().read_unaligned();
                dst.cast::<u16>().write_unaligned(first);
                dst.add(len - 2).cast::<u16>().write_unaligned(last);
                _mm_set1_epi32((u32::from(first) | u32::from(last) << 16) as i32)
            } else if len == 1 {
                *dst = *from;
                _mm_set1_epi8(*from as i8)
            } else if EMPTY_IS_PLAIN {
                return;
            } else {
                _mm_setzero_si128()
            };
            self.lanes = _mm_and_si128(self.lanes, plain_lanes(block));
        }
    }

    /// The portable [`PlainCopy::copy`]: a copy, then a byte at a time.
    ///
    /// # Safety
    /// As for the x86-64 one.
    #[cfg(not(target_arch = "x86_64"))]
    #[inline(always)]
    unsafe fn copy<const EMPTY_IS_PLAIN: bool>(&mut self, bytes: &[u8], dst: *mut u8) {
        // SAFETY: the caller promises room for `bytes` at `dst`, apart from it.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len()) };
        self.plain &=
            (EMPTY_IS_PLAIN || !bytes.is_empty()) && bytes.iter().all(|&b| is_plain_byte(b));
    }
}

/// Whether `b` is one of the bytes [`plain`] accepts, one at a time.
#[cfg_attr(all(target_arch = "x86_64", not(test)), allow(dead_code))]
fn is_plain_byte(b: u8) -> bool {
    matches!(b, b'-'..=b'9' | b'A'..=b'{')
}

/// The portable version of the SSE2 `plain`: none, the tables decide.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn plain(_bytes: &[u8]) -> bool {
    false
}

#[cold]
fn first_forbidden_slow(text: &str, table: &[u8; 256]) -> Option<Forbidden> {
    text.chars().find_map(|c| {
        if c.is_ascii() {
            (table[c as usize] == REFUSED).then_some(Forbidden::Byte(c as u8))
        } else {
            refused_char(c).then_some(Forbidden::Char(c))
        }
    })
}

/// The first control character in `text` (ASCII, C1, or one of the other
/// refused characters), for the line parser's whole-line check.
#[inline]
pub(crate) fn first_control(text: &str) -> Option<Reason> {
    first_forbidden(text, &CONTROLS).map(Forbidden::reason)
}

/// Checks a metric name. `extra_length` is the length of the prefixes that will
/// be put in front of it.
#[inline(always)]
pub(crate) fn name(name: &str, extra_length: usize) -> Result<(), Error> {
    // The common case inline, with nothing to save or build.
    let fits = !name.is_empty() && name.len() + extra_length <= MAX_NAME_LENGTH;
    if fits && plain(name.as_bytes()) {
        return Ok(());
    }
    name_checked(name, extra_length)
}

/// [`name`] for a name that is not plain (or empty, or too long): the tables.
#[inline(never)]
fn name_checked(name: &str, extra_length: usize) -> Result<(), Error> {
    let reason = if name.is_empty() {
        Reason::Empty
    } else if name.len() + extra_length > MAX_NAME_LENGTH {
        Reason::TooLong {
            length: name.len() + extra_length,
            limit: MAX_NAME_LENGTH,
        }
    } else if let Some(found) = first_forbidden(name, &RESERVED) {
        found.reason()
    } else {
        return Ok(());
    };
    Err(Error::from(ErrorKind::InvalidName {
        name: name.to_owned(),
        reason,
    }))
}

/// Checks a prefix given in the configuration: the name rules, plus no empty
/// segment (a leading or trailing `.` would double the separator).
pub(crate) fn prefix(prefix: &str) -> Result<(), Error> {
    let reason = if prefix.is_empty() {
        Reason::Empty
    } else if prefix.len() >= MAX_NAME_LENGTH {
        Reason::TooLong {
            length: prefix.len(),
            limit: MAX_NAME_LENGTH - 1,
        }
    } else if let Some(found) = first_forbidden(prefix, &RESERVED) {
        found.reason()
    } else if prefix.starts_with('.') || prefix.ends_with('.') || prefix.contains("..") {
        Reason::EmptySegment
    } else {
        return Ok(());
    };
    Err(Error::from(ErrorKind::InvalidPrefix {
        prefix: prefix.to_owned(),
        reason,
    }))
}

/// Checks per-call tags against the dialect.
#[inline]
pub(crate) fn tags(tags: &[(&str, &str)], format: TagFormat) -> Result<(), Error> {
    if tags.is_empty() {
        return Ok(());
    }
    tags.iter()
        .try_for_each(|(key, value)| tag(key, value, format))
}

/// Checks a tag key and value for the dialect; an empty value means a bare key.
#[inline]
pub(crate) fn tag(key: &str, value: &str, format: TagFormat) -> Result<(), Error> {
    // The common case, decided for every dialect at once: a short tag of
    // plain bytes (allowed by every table). An empty value is written at most
    // as `true`, hence the 4. Anything else, the exact check decides.
    let short = !key.is_empty() && key.len() + value.len().max(4) <= MAX_NAME_LENGTH;
    if short && plain(key.as_bytes()) && plain(value.as_bytes()) {
        return Ok(());
    }
    tag_checked(key, value, format)
}

/// [`tag`] for every tag, with the reason when it is refused.
#[cold]
#[inline(never)]
fn tag_checked(key: &str, value: &str, format: TagFormat) -> Result<(), Error> {
    let value_table = match format {
        TagFormat::DogStatsd => &DOGSTATSD_TAG_RESERVED,
        TagFormat::Influx | TagFormat::Graphite => &RESERVED,
    };
    // Influx and Graphite have no bare tags: an empty value is written `=true`.
    let written_value_len = match format {
        TagFormat::DogStatsd => value.len(),
        TagFormat::Influx | TagFormat::Graphite if value.is_empty() => "true".len(),
        TagFormat::Influx | TagFormat::Graphite => value.len(),
    };
    let reason = if key.is_empty() {
        Reason::Empty
    } else if key.len() + written_value_len > MAX_NAME_LENGTH {
        Reason::TooLong {
            length: key.len() + written_value_len,
            limit: MAX_NAME_LENGTH,
        }
    } else if let Some(found) = first_forbidden(key, &RESERVED) {
        found.reason()
    } else if let Some(found) = first_forbidden(value, value_table) {
        found.reason()
    } else {
        return Ok(());
    };
    let tag = if value.is_empty() {
        key.to_owned()
    } else {
        format!("{key}:{value}")
    };
    Err(Error::from(ErrorKind::InvalidTag { tag, reason }))
}

/// Checks a value given as text for the metric type: a finite number for every
/// type but sets (a leading `+` or `-` only for gauges, where it means a delta;
/// no sign at all for timings, which servers refuse negative), and for sets any
/// token without reserved characters.
pub(crate) fn raw_value(value: &str, kind: MetricType) -> Result<(), Error> {
    let invalid = |reason| {
        Error::from(ErrorKind::InvalidValue {
            value: value.to_owned(),
            reason,
        })
    };
    if value.is_empty() {
        return Err(invalid("empty"));
    }
    if value.len() > MAX_NAME_LENGTH {
        return Err(invalid("longer than the name limit"));
    }
    if first_forbidden(value, &RESERVED).is_some() {
        return Err(invalid("contains a reserved or control character"));
    }
    if kind == MetricType::Set {
        return Ok(());
    }
    let digits = match value.as_bytes()[0] {
        b'+' if kind != MetricType::Gauge => {
            return Err(invalid("a '+' sign is only meaningful for gauges"))
        }
        b'-' if matches!(kind, MetricType::Timing) => {
            return Err(invalid("timings cannot be negative"))
        }
        b'+' | b'-' => &value[1..],
        _ => value,
    };
    // Only plain decimal notation: `parse::<f64>` also takes "inf", "NaN" and
    // "1e5", which some servers do not.
    let plain = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().filter(|&b| b == b'.').count() <= 1
        && digits.bytes().any(|b| b.is_ascii_digit());
    if !plain {
        return Err(invalid("not a decimal number"));
    }
    // 309 integer digits are plain decimal but overflow an f64: the server
    // would read infinity.
    if !digits.parse::<f64>().is_ok_and(f64::is_finite) {
        return Err(invalid("too large for a 64-bit float"));
    }
    Ok(())
}

/// Checks a value for its metric type: numbers finite, timings given as a
/// float (seconds that did not convert to a duration) refused, text checked by
/// [`raw_value`].
#[inline]
pub(crate) fn value(value: Value<'_>, kind: MetricType) -> Result<(), Error> {
    match value {
        Value::Int(_) | Value::Duration(_) => Ok(()),
        Value::Float(f) if kind == MetricType::Timing => {
            Err(Error::from(ErrorKind::InvalidValue {
                value: f.to_string(),
                reason: "a timing must be a finite, non-negative number of seconds",
            }))
        }
        Value::Float(f) | Value::Delta(f) => finite(f),
        Value::Text(text) => raw_value(text, kind),
    }
}

/// Checks a number: NaN and infinities have no statsd spelling.
#[inline]
pub(crate) fn finite(value: f64) -> Result<(), Error> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::from(ErrorKind::InvalidValue {
            value: value.to_string(),
            reason: "not a finite number",
        }))
    }
}

/// Checks a sample rate: in (0, 1], and not so small that the server's
/// `1 / rate` is infinite (below about 5.6e-309, a subnormal).
#[inline]
pub(crate) fn sample_rate(rate: f64) -> Result<(), Error> {
    if rate > 0.0 && rate <= 1.0 && (1.0 / rate).is_finite() {
        Ok(())
    } else {
        Err(Error::from(ErrorKind::InvalidSampleRate(rate)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain bytes of the fast check, spelled out.
    /// Every byte value; under Miri (slow, and there for the unsafe loads
    /// of every block shape, not for the comparisons) the edges of the two
    /// plain ranges and of the signed compare.
    fn bytes_to_try() -> Vec<u8> {
        if cfg!(miri) {
            vec![
                0, 0x2c, 0x2d, 0x39, 0x3a, 0x40, 0x41, 0x7b, 0x7c, 0x7f, 0x80, 0xff,
            ]
        } else {
            (0..=255).collect()
        }
    }

    /// x86-64 only: elsewhere the fast check always says no and the tables
    /// decide.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_fast_check_says_plain_exactly_when_every_byte_is() {
        let plain_bytes: Vec<u8> = (0..=255).filter(|&b| is_plain_byte(b)).collect();
        for len in 0..=40 {
            // A plain text of this length, then each byte in turn replaced by
            // every other byte value: every position of every block shape.
            let text: Vec<u8> = (0..len)
                .map(|i| plain_bytes[i * 7 % plain_bytes.len()])
                .collect();
            assert!(plain(&text), "{len}");
            for at in 0..len {
                for b in bytes_to_try() {
                    let mut other = text.clone();
                    other[at] = b;
                    assert_eq!(
                        plain(&other),
                        is_plain_byte(b),
                        "len {len}, byte {b:#x} at {at}"
                    );
                }
            }
        }
    }

    /// The copying check copies exactly and agrees with the byte-at-a-time
    /// check for every length across the block edges and every byte at
    /// every position, writing nothing outside its text.
    #[test]
    fn the_fast_copying_check_copies_and_agrees_with_the_bytewise_one() {
        let lengths: Vec<usize> = if cfg!(miri) {
            vec![0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 33]
        } else {
            (0..=48).collect()
        };
        let plain_bytes: Vec<u8> = (0..=255).filter(|&b| is_plain_byte(b)).collect();
        for len in lengths {
            let text: Vec<u8> = (0..len)
                .map(|i| plain_bytes[i * 7 % plain_bytes.len()])
                .collect();
            for at in 0..=len {
                for b in bytes_to_try() {
                    let mut other = text.clone();
                    if at < len {
                        other[at] = b;
                    }
                    let bytewise = other.iter().all(|&b| is_plain_byte(b));
                    // As a value (empty is plain), then as a key (empty is
                    // not), each after a plain text and before another.
                    for as_key in [false, true] {
                        let mut out = vec![0xaa; len + 4];
                        let mut copy = PlainCopy::new();
                        // SAFETY: `out` has room for `a`, the text and `b`
                        // from its second byte, and is its own allocation.
                        unsafe {
                            let dst = out.as_mut_ptr().add(1);
                            copy.value("a", dst);
                            if as_key {
                                copy.copy::<false>(&other, dst.add(1));
                            } else {
                                copy.copy::<true>(&other, dst.add(1));
                            }
                            copy.key("b", dst.add(1 + len));
                        }
                        assert_eq!(
                            copy.all_plain(),
                            bytewise && !(as_key && len == 0),
                            "len {len}, byte {b:#x} at {at}, key {as_key}"
                        );
                        assert_eq!(out[2..2 + len], other[..], "len {len}, byte {b:#x} at {at}");
                        assert_eq!(
                            (out[0], out[1], out[2 + len], out[3 + len]),
                            (0xaa, b'a', b'b', 0xaa),
                            "len {len}"
                        );
                    }
                    if at == len {
                        break;
                    }
                }
            }
        }
    }

    #[test]
    fn a_plain_byte_is_allowed_by_every_table() {
        for b in (0..=255u8).filter(|&b| is_plain_byte(b)) {
            for table in [&RESERVED, &DOGSTATSD_TAG_RESERVED, &CONTROLS] {
                assert_eq!(table[usize::from(b)], 0, "{:?}", b as char);
            }
        }
    }

    fn name_reason(text: &str) -> Reason {
        match name(text, 0).map_err(Error::into_kind) {
            Err(ErrorKind::InvalidName { reason, .. }) => reason,
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    #[test]
    fn ordinary_names_pass() {
        for ok in [
            "requests",
            "api.v2.latency",
            "with-dash_and_underscore",
            "ünïcödé.name",
            "a",
        ] {
            name(ok, 0).unwrap();
        }
    }

    #[test]
    fn every_separator_and_control_byte_is_refused_in_names() {
        for bad in [
            ":", "|", "@", "#", ",", ";", "=", " ", "\n", "\r", "\0", "\t", "\x7f",
        ] {
            let text = format!("a{bad}b");
            assert_eq!(
                name_reason(&text),
                Reason::ForbiddenByte(bad.as_bytes()[0]),
                "{text:?}"
            );
        }
    }

    #[test]
    fn empty_and_overlong_names_are_refused() {
        assert_eq!(name_reason(""), Reason::Empty);
        let long = "x".repeat(MAX_NAME_LENGTH + 1);
        assert!(matches!(name_reason(&long), Reason::TooLong { .. }));
        // The prefix counts against the limit.
        assert!(name("x".repeat(1000).as_str(), 30).is_err());
        assert!(name("x".repeat(1000).as_str(), 24).is_ok());
    }

    #[test]
    fn prefix_refuses_empty_segments_and_separators() {
        prefix("app.web").unwrap();
        for bad in [".app", "app.", "a..b", "a:b", "a b", ""] {
            assert!(
                matches!(
                    prefix(bad).map_err(Error::into_kind),
                    Err(ErrorKind::InvalidPrefix { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn raw_values_must_fit_their_type() {
        for (value, kind) in [
            ("1", MetricType::Counter),
            ("-3", MetricType::Counter),
            ("2.5", MetricType::Counter),
            ("+3", MetricType::Gauge),
            ("-3.5", MetricType::Gauge),
            ("12.25", MetricType::Timing),
            ("alice", MetricType::Set),
            (".5", MetricType::Histogram),
        ] {
            raw_value(value, kind).unwrap_or_else(|e| panic!("{value} {kind}: {e}"));
        }
        for (value, kind) in [
            ("", MetricType::Counter),
            ("NaN", MetricType::Gauge),
            ("inf", MetricType::Gauge),
            ("1e5", MetricType::Counter),
            (&*format!("1{}", "0".repeat(309)), MetricType::Gauge),
            ("+1", MetricType::Counter),
            ("-1", MetricType::Timing),
            ("1.2.3", MetricType::Gauge),
            ("1|c", MetricType::Counter),
            ("a:b", MetricType::Set),
            ("-", MetricType::Gauge),
            (".", MetricType::Gauge),
        ] {
            assert!(raw_value(value, kind).is_err(), "{value:?} {kind} passed");
        }
    }

    #[test]
    fn tags_follow_the_dialect() {
        tag("region", "eu", TagFormat::DogStatsd).unwrap();
        tag("url", "http://x", TagFormat::DogStatsd).unwrap();
        assert!(tag("url", "http://x", TagFormat::Influx).is_err());
        assert!(tag("a,b", "x", TagFormat::DogStatsd).is_err());
        assert!(tag("k", "v|c", TagFormat::DogStatsd).is_err());
        assert!(tag("k", "a;b", TagFormat::Graphite).is_err());
        assert!(tag("k", "a=b", TagFormat::Influx).is_err());
        assert!(tag("", "v", TagFormat::DogStatsd).is_err());
        // A bare tag is written `key=true` in Influx and Graphite.
        let key = "k".repeat(MAX_NAME_LENGTH - 2);
        assert!(tag(&key, "", TagFormat::DogStatsd).is_ok());
        assert!(tag(&key, "", TagFormat::Influx).is_err());
        assert!(tag(&key, "", TagFormat::Graphite).is_err());
    }

    #[test]
    fn nan_infinity_and_bad_rates_are_refused() {
        assert!(finite(f64::NAN).is_err());
        assert!(finite(f64::INFINITY).is_err());
        assert!(finite(-1.5).is_ok());
        assert!(sample_rate(0.0).is_err());
        assert!(sample_rate(1.5).is_err());
        assert!(sample_rate(f64::NAN).is_err());
        assert!(sample_rate(0.25).is_ok());
    }

    const REFUSED_CHARS: [char; 14] = [
        '\u{80}', '\u{85}', '\u{9b}', '\u{9f}', '\u{2028}', '\u{2029}', '\u{202a}', '\u{202e}',
        '\u{2066}', '\u{2069}', '\u{61c}', '\u{200e}', '\u{200f}', '\u{feff}',
    ];

    fn reason_of(result: Result<(), Error>) -> Option<Reason> {
        result.err().and_then(|e| e.reason())
    }

    #[test]
    fn c1_controls_separators_bidi_and_bom_are_refused_everywhere() {
        for c in REFUSED_CHARS {
            let text = format!("a{c}b");
            let want = Some(Reason::ForbiddenChar(c));
            assert_eq!(reason_of(name(&text, 0)), want, "name {text:?}");
            assert_eq!(reason_of(prefix(&text)), want, "prefix {text:?}");
            for format in [TagFormat::DogStatsd, TagFormat::Influx, TagFormat::Graphite] {
                assert_eq!(reason_of(tag(&text, "v", format)), want, "key {text:?}");
                assert_eq!(reason_of(tag("k", &text, format)), want, "value {text:?}");
            }
            assert!(
                raw_value(&text, MetricType::Set).is_err(),
                "member {text:?}"
            );
            assert!(value(Value::Text(&text), MetricType::Set).is_err());
            assert_eq!(first_control(&text), want);
        }
    }

    #[test]
    fn joiners_and_ordinary_non_ascii_pass() {
        for ok in [
            "\u{1f468}\u{200d}\u{1f469}",
            "\u{0645}\u{06cc}\u{200c}\u{062e}",
            "zw\u{200b}sp",
            "caf\u{e9}",
            "\u{a0}nbsp",
            "\u{a1}\u{bf}",
            "dash\u{2014}and\u{2030}",
            "\u{ff01}fullwidth",
            "\u{600}\u{61b}\u{61d}",
        ] {
            name(ok, 0).unwrap_or_else(|e| panic!("{ok:?}: {e}"));
            tag("k", ok, TagFormat::DogStatsd).unwrap();
            raw_value(ok, MetricType::Set).unwrap();
        }
    }

    #[test]
    fn sample_rates_whose_inverse_is_infinite_are_refused() {
        assert!(sample_rate(5e-324).is_err());
        assert!(sample_rate(1e-309).is_err());
        assert!(sample_rate(f64::MIN_POSITIVE / 4.0).is_err());
        assert!(sample_rate(f64::MIN_POSITIVE).is_ok());
        assert!(sample_rate(1e-300).is_ok());
    }

    /// Characters from every category that matters: ASCII (separators and
    /// controls among them), C1, the refused Unicode ones, the accepted
    /// joiners, and anything else.
    fn interesting_char() -> impl proptest::strategy::Strategy<Value = char> {
        use proptest::prelude::*;
        prop_oneof![
            proptest::char::range('\0', '\u{7f}'),
            proptest::char::range('\u{80}', '\u{ff}'),
            proptest::sample::select(REFUSED_CHARS.to_vec()),
            proptest::sample::select(vec!['\u{200b}', '\u{200c}', '\u{200d}', '\u{2060}']),
            proptest::char::range('\u{2000}', '\u{2070}'),
            proptest::char::any(),
        ]
    }

    fn interesting_string() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::collection::vec(interesting_char(), 1..12).prop_map(|cs| cs.into_iter().collect())
    }

    use proptest::strategy::Strategy as _;

    proptest::proptest! {
        #[test]
        fn any_string_is_refused_or_round_trips_without_refused_characters(
            n in interesting_string(),
            k in interesting_string(),
            v in interesting_string(),
            member in interesting_string(),
        ) {
            use crate::wire::format::{LineFormat, MetricLine};
            use crate::wire::line::Line;
            let clean = |t: &str| !t.chars().any(|c| c.is_control() || refused_char(c));
            for format in [TagFormat::DogStatsd, TagFormat::Influx, TagFormat::Graphite] {
                let ok = name(&n, 0).is_ok()
                    && tag(&k, &v, format).is_ok()
                    && raw_value(&member, MetricType::Set).is_ok();
                let fmt = LineFormat::new(None, false, format, &[], MAX_LINE_LENGTH);
                let mut buf = Vec::new();
                let tags = [(k.as_str(), v.as_str())];
                if !ok {
                    continue;
                }
                let metric = MetricLine {
                    tags: &tags,
                    ..MetricLine::new(&n, Value::Text(&member), MetricType::Set)
                };
                fmt.write(&mut buf, &metric).unwrap();
                let text = std::str::from_utf8(&buf).unwrap();
                proptest::prop_assert!(clean(text.trim_end_matches('\n')), "{:?}", text);
                let line = Line::parse(text).unwrap();
                proptest::prop_assert_eq!(line.name, n.as_str());
                proptest::prop_assert_eq!(line.value, member.as_str());
                let mut want = vec![(k.as_str(), v.as_str())];
                if v.is_empty() && format != TagFormat::DogStatsd {
                    want = vec![(k.as_str(), "true")];
                }
                proptest::prop_assert_eq!(line.tags().collect::<Vec<_>>(), want);
            }
            // Validation and the parser agree character by character.
            for t in [&n, &k, &v, &member] {
                let refused = t.chars().any(|c| (c.is_ascii() && c.is_control()) || refused_char(c));
                proptest::prop_assert_eq!(first_control(t).is_some(), refused, "{:?}", t);
                if refused {
                    proptest::prop_assert!(name(t, 0).is_err());
                    // Not at the very end: the parser tolerates one
                    // trailing newline (the line's own terminator).
                    let line = format!("a:1|c|#k:{t}x");
                    proptest::prop_assert!(Line::parse(&line).is_err());
                }
            }
        }
    }
}
