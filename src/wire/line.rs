//! Reading statsd lines: the grammar, for the receiving side.
//!
//! The CLI's `send` reads lines typed by people, the capture server and `listen`
//! read what arrives on a socket, and the property tests read back what the
//! formatter wrote. All of them use [`Line::parse`], which accepts the three tag
//! dialects of [`TagFormat`]:
//!
//! ```text
//! name:value|type[|@rate][|#k:v,k2]     DogStatsD
//! name,k=v,k2=v2:value|type[|@rate]     Influx / Telegraf
//! name;k=v;k2=v2:value|type[|@rate]     Graphite
//! ```
//!
//! It checks the same rules as the sending side, so a line that parses could
//! have been sent by this crate, and one that could not never parses.

use crate::error::{Error, ErrorKind, Reason};
use crate::wire::metric::{Cardinality, MetricType, TagFormat};
use crate::wire::validate::{self, MAX_LINE_LENGTH};

/// One statsd line, borrowed from the text it was parsed from.
///
/// ```
/// use statsd_connector::{Line, MetricType};
///
/// let line = Line::parse("api.hits:3|c|@0.5|#region:eu")?;
/// assert_eq!(line.name, "api.hits");
/// assert_eq!(line.value, "3");
/// assert_eq!(line.kind, MetricType::Counter);
/// assert_eq!(line.sample_rate, Some(0.5));
/// assert_eq!(line.tags().collect::<Vec<_>>(), [("region", "eu")]);
/// # Ok::<(), statsd_connector::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Line<'a> {
    /// The metric name, without tags.
    pub name: &'a str,
    /// The value as written (`3`, `+2`, `-1.5`, `alice`).
    pub value: &'a str,
    /// The metric type.
    pub kind: MetricType,
    /// The sample rate after `|@`, when present.
    pub sample_rate: Option<f64>,
    /// The tags as written, without their leading `|#`, `,` or `;`, when present.
    pub raw_tags: Option<&'a str>,
    /// The dialect the tags were written in.
    pub tag_format: TagFormat,
    /// `|T<unix seconds>` (DogStatsD v1.3), when present.
    pub timestamp: Option<u64>,
    /// `|c:<container id>` (DogStatsD v1.2/v1.4), when present.
    pub container_id: Option<&'a str>,
    /// `|e:<external data>` (DogStatsD v1.5), when present.
    pub external_data: Option<&'a str>,
    /// `|card:<cardinality>` (DogStatsD v1.6), when present.
    pub cardinality: Option<Cardinality>,
}

impl<'a> Line<'a> {
    /// Parses one line, without its trailing newline (a single trailing `\n` or
    /// `\r\n` is tolerated and ignored).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::MalformedLine`](crate::ErrorKind::MalformedLine) when the text is not a statsd metric line; its
    /// [`Reason`](crate::Reason) says what is wrong (a missing value or type, an
    /// unknown type code, a bad sample rate, an unknown field ...).
    pub fn parse(text: &'a str) -> Result<Line<'a>, Error> {
        let text = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(text);
        parse_line(text).map_err(|x| Error::from(ErrorKind::MalformedLine(x)))
    }

    /// Parses one line given as bytes, which must be UTF-8.
    ///
    /// This is the form a socket hands over:
    ///
    /// ```
    /// use statsd_connector::{Line, Reason};
    ///
    /// assert_eq!(Line::parse_bytes(b"hits:1|c")?.name, "hits");
    /// let error = Line::parse_bytes(b"hits:\xff|s").unwrap_err();
    /// assert_eq!(error.reason(), Some(Reason::NotUtf8));
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::MalformedLine`](crate::ErrorKind::MalformedLine): with [`Reason::NotUtf8`](crate::Reason::NotUtf8) when
    /// the bytes are not UTF-8, else as [`Line::parse`].
    pub fn parse_bytes(bytes: &'a [u8]) -> Result<Line<'a>, Error> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| Error::from(ErrorKind::MalformedLine(Reason::NotUtf8)))?;
        Line::parse(text)
    }

    /// The values: one, or several packed into one line (`t:1:2:3|ms`,
    /// DogStatsD v1.1).
    ///
    /// ```
    /// let line = statsd_connector::Line::parse("t:1:2.5:3|ms|@0.5")?;
    /// assert_eq!(line.values().collect::<Vec<_>>(), ["1", "2.5", "3"]);
    /// # Ok::<(), statsd_connector::Error>(())
    /// ```
    pub fn values(&self) -> impl Iterator<Item = &'a str> {
        self.value.split(':')
    }

    /// The value as an integer, when the integer writer writes that integer
    /// as these very bytes (no `+`, no leading zero, not `-0`, at most 18
    /// digits): a relayed line may then take the integer's path and still
    /// go out as written.
    pub(crate) fn exact_integer(&self) -> Option<i64> {
        let n = short_integer(self.value)?;
        let digits = self.value.strip_prefix('-').unwrap_or(self.value);
        let leading_zero = digits.len() > 1 && digits.starts_with('0');
        (!leading_zero && self.value != "-0").then_some(n)
    }

    /// Whether the line carries anything beyond plain statsd: several
    /// values, or a DogStatsD field after v1.0 (timestamp, container id,
    /// external data, cardinality).
    #[must_use]
    pub fn has_dogstatsd_extensions(&self) -> bool {
        // Only the packed types parse with `:` in the value.
        find(b':', self.value.as_bytes()).is_some()
            || self.timestamp.is_some()
            || self.container_id.is_some()
            || self.external_data.is_some()
            || self.cardinality.is_some()
    }

    /// The tags as `(key, value)` pairs; a bare key has an empty value.
    pub fn tags(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        TagPairs::new(self.raw_tags, self.tag_format).map(|(key, value)| (key, value.unwrap_or("")))
    }
}

/// Below this length a part of a line is scanned byte by byte: `memchr`'s
/// set-up costs more than it saves on the short parts most lines are made of.
const SHORT: usize = 32;

/// Where `byte` first is in `bytes`.
#[inline]
fn find(byte: u8, bytes: &[u8]) -> Option<usize> {
    if bytes.len() < SHORT {
        bytes.iter().position(|&b| b == byte)
    } else {
        memchr::memchr(byte, bytes)
    }
}

/// Where `one` or `other` first is in `bytes`.
#[inline]
fn find2(one: u8, other: u8, bytes: &[u8]) -> Option<usize> {
    if bytes.len() < SHORT {
        bytes.iter().position(|&b| b == one || b == other)
    } else {
        memchr::memchr2(one, other, bytes)
    }
}

/// `text` cut at its first `byte`: what is before, and what is after when the
/// byte is there. `byte` is ASCII, so both cuts fall on character boundaries.
#[inline]
fn cut(text: &str, byte: u8) -> (&str, Option<&str>) {
    match find(byte, text.as_bytes()) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    }
}

/// The tags of a line, each as its key and, after the first pair separator,
/// its value (`None` for a bare key: `k` is not `k:`, whose value is empty).
struct TagPairs<'a> {
    /// What is left to read; `None` once the last tag has been read (an
    /// empty string is still one tag, the empty one, as `split` reads it).
    rest: Option<&'a str>,
    separator: u8,
    pair: u8,
}

impl<'a> TagPairs<'a> {
    fn new(raw_tags: Option<&'a str>, format: TagFormat) -> TagPairs<'a> {
        let (separator, pair) = match format {
            TagFormat::DogStatsd => (b',', b':'),
            TagFormat::Influx => (b',', b'='),
            TagFormat::Graphite => (b';', b'='),
        };
        TagPairs {
            rest: raw_tags,
            separator,
            pair,
        }
    }
}

impl<'a> Iterator for TagPairs<'a> {
    type Item = (&'a str, Option<&'a str>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let (tag, rest) = cut(self.rest?, self.separator);
        self.rest = rest;
        Some(cut(tag, self.pair))
    }
}

/// Sets a field seen for the first time; a field twice is not a line.
fn once<T>(slot: &mut Option<T>, value: T) -> Result<(), Reason> {
    if slot.is_some() {
        return Err(Reason::UnknownField);
    }
    *slot = Some(value);
    Ok(())
}

fn non_empty(text: &str) -> Result<&str, Reason> {
    if text.is_empty() {
        Err(Reason::UnknownField)
    } else {
        Ok(text)
    }
}

/// The fields of a line after its type, which [`parse_line`] reads one by one.
#[derive(Default)]
struct Fields<'a> {
    sample_rate: Option<f64>,
    dogstatsd_tags: Option<&'a str>,
    timestamp: Option<u64>,
    container_id: Option<&'a str>,
    external_data: Option<&'a str>,
    cardinality: Option<Cardinality>,
}

impl<'a> Fields<'a> {
    /// Reads one field; `tags_after_name` says whether the name carried tags
    /// already (a line has one tag set).
    fn read(&mut self, field: &'a str, tags_after_name: bool) -> Result<(), Reason> {
        // Each field is told by its first byte (`c:` and `card:` by what
        // follows); the DogStatsD fields after v1.0 at most once each.
        match field.as_bytes().first() {
            Some(b'T') => {
                let seconds = field[1..].parse().map_err(|_| Reason::UnknownField)?;
                once(&mut self.timestamp, seconds)
            }
            Some(b'c') => {
                if let Some(id) = field.strip_prefix("c:") {
                    once(&mut self.container_id, non_empty(id)?)
                } else if let Some(text) = field.strip_prefix("card:") {
                    let value = Cardinality::parse(text).ok_or(Reason::UnknownField)?;
                    once(&mut self.cardinality, value)
                } else {
                    Err(Reason::UnknownField)
                }
            }
            Some(b'e') => match field.strip_prefix("e:") {
                Some(data) => once(&mut self.external_data, non_empty(data)?),
                None => Err(Reason::UnknownField),
            },
            Some(b'@') => {
                let rate: f64 = field[1..].parse().map_err(|_| Reason::BadSampleRate)?;
                if self.sample_rate.is_some() || validate::sample_rate(rate).is_err() {
                    return Err(Reason::BadSampleRate);
                }
                self.sample_rate = Some(rate);
                Ok(())
            }
            Some(b'#') if tags_after_name || self.dogstatsd_tags.is_some() => {
                Err(Reason::UnknownField)
            }
            Some(b'#') => {
                self.dogstatsd_tags = Some(&field[1..]);
                Ok(())
            }
            _ => Err(Reason::UnknownField),
        }
    }
}

/// Checks a value as written: one, or several packed (`t:1:2:3|ms`) for the
/// types the Agent packs (DogStatsD v1.1).
fn check_value(value: &str, kind: MetricType) -> Result<(), Reason> {
    // The commonest value, a short integer, is decided here: `raw_value`
    // accepts one for every type but a timing with a sign (and its float
    // parse is most of its cost).
    if short_integer(value).is_some() && !(kind == MetricType::Timing && value.starts_with('-')) {
        return Ok(());
    }
    let packable = matches!(
        kind,
        MetricType::Timing | MetricType::Histogram | MetricType::Distribution
    );
    if packable && find(b':', value.as_bytes()).is_some() {
        let mut rest = Some(value);
        while let Some(text) = rest {
            let (one, after) = cut(text, b':');
            validate::raw_value(one, kind).map_err(|_| Reason::BadValue)?;
            rest = after;
        }
        Ok(())
    } else {
        validate::raw_value(value, kind).map_err(|_| Reason::BadValue)
    }
}

/// The most digits [`short_integer`] reads: 18 never overflow an `i64`.
const SHORT_INTEGER_DIGITS: usize = 18;

/// A value that is a short integer (an optional `-`, then 1 to 18 ASCII
/// digits, leading zeros allowed), as an `i64`; `None` for any other value.
fn short_integer(value: &str) -> Option<i64> {
    let (negative, digits) = match value.as_bytes() {
        [b'-', digits @ ..] => (true, digits),
        digits => (false, digits),
    };
    if digits.is_empty() || digits.len() > SHORT_INTEGER_DIGITS {
        return None;
    }
    let mut magnitude: i64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude * 10 + i64::from(digit - b'0');
    }
    Some(if negative { -magnitude } else { magnitude })
}

/// Checks the tags in their dialect, in one pass. `k:` (or `k=`) is not the
/// bare tag `k`: refused rather than rewritten, and that reason comes first,
/// whichever tag it is on; else the first refused tag's.
fn check_tags(raw_tags: &str, format: TagFormat) -> Result<(), Reason> {
    let mut first_refused = None;
    for (key, value) in TagPairs::new(Some(raw_tags), format) {
        // The value is what follows the first pair separator (a DogStatsD
        // value may itself hold `:`): empty after it is `k:`.
        if value == Some("") {
            return Err(Reason::EmptyTagValue);
        }
        if first_refused.is_none() {
            if let Err(error) = validate::tag(key, value.unwrap_or(""), format) {
                first_refused = Some(error.reason().unwrap_or(Reason::BadValue));
            }
        }
    }
    first_refused.map_or(Ok(()), Err)
}

/// The grammar in a few passes over the bytes: the structural bytes (`:`,
/// `|`, the tag separators) are all ASCII, found by [`find`] (byte by byte in
/// a short part, `memchr` in a long one), and every cut at one falls on a
/// character boundary. The checks, and the reason a
/// line is refused, come in the order the grammar is read.
fn parse_line(text: &str) -> Result<Line<'_>, Reason> {
    if text.is_empty() {
        return Err(Reason::Empty);
    }
    // The limit counts the newline; `text` is the line without it, so the
    // room for `text` is one byte less, and the length reported is what was
    // given (terminator excluded).
    if text.len() >= MAX_LINE_LENGTH {
        return Err(Reason::TooLong {
            length: text.len(),
            limit: MAX_LINE_LENGTH - 1,
        });
    }
    if let Some(reason) = validate::first_control(text) {
        return Err(reason);
    }
    let (head, rest) = cut(text, b':');
    let rest = rest.ok_or(Reason::MissingValue)?;
    let (value, rest) = cut(rest, b'|');
    let rest = rest.ok_or(Reason::MissingType)?;
    let (code, mut fields) = cut(rest, b'|');
    let kind = MetricType::from_code(code.as_bytes()).ok_or(Reason::BadType)?;

    // Tags after the name: Influx (`,`) or Graphite (`;`).
    let (name, name_tags, name_tag_format) = match find2(b',', b';', head.as_bytes()) {
        Some(at) => {
            let format = if head.as_bytes()[at] == b',' {
                TagFormat::Influx
            } else {
                TagFormat::Graphite
            };
            (&head[..at], Some(&head[at + 1..]), format)
        }
        None => (head, None, TagFormat::DogStatsd),
    };
    validate::name(name, 0).map_err(|e| e.reason().unwrap_or(Reason::BadValue))?;
    check_value(value, kind)?;

    let mut read = Fields::default();
    while let Some(remaining) = fields {
        let (field, after) = cut(remaining, b'|');
        read.read(field, name_tags.is_some())?;
        fields = after;
    }
    let (raw_tags, tag_format) = match read.dogstatsd_tags {
        Some(tags) => (Some(tags), TagFormat::DogStatsd),
        None => (name_tags, name_tag_format),
    };
    if let Some(raw) = raw_tags {
        check_tags(raw, tag_format)?;
    }
    Ok(Line {
        name,
        value,
        kind,
        sample_rate: read.sample_rate,
        raw_tags,
        tag_format,
        timestamp: read.timestamp,
        container_id: read.container_id,
        external_data: read.external_data,
        cardinality: read.cardinality,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_of_every_type() {
        for (text, kind) in [
            ("a:1|c", MetricType::Counter),
            ("a:-1.5|g", MetricType::Gauge),
            ("a:+2|g", MetricType::Gauge),
            ("a:12.5|ms", MetricType::Timing),
            ("a:bob|s", MetricType::Set),
            ("a:3|h", MetricType::Histogram),
            ("a:3|d", MetricType::Distribution),
        ] {
            let line = Line::parse(text).unwrap();
            assert_eq!((line.name, line.kind), ("a", kind), "{text}");
        }
    }

    #[test]
    fn rate_and_tags_in_three_dialects() {
        let dog = Line::parse("a:1|c|@0.1|#k:v,bare").unwrap();
        assert_eq!(dog.sample_rate, Some(0.1));
        assert_eq!(dog.tags().collect::<Vec<_>>(), [("k", "v"), ("bare", "")]);
        let influx = Line::parse("a,k=v,x=y:1|c").unwrap();
        assert_eq!((influx.name, influx.tag_format), ("a", TagFormat::Influx));
        assert_eq!(influx.tags().collect::<Vec<_>>(), [("k", "v"), ("x", "y")]);
        let graphite = Line::parse("a;k=v;x=y:1|c|@0.5").unwrap();
        assert_eq!(
            (graphite.name, graphite.tag_format),
            ("a", TagFormat::Graphite)
        );
        assert_eq!(
            graphite.tags().collect::<Vec<_>>(),
            [("k", "v"), ("x", "y")]
        );
    }

    #[test]
    fn trailing_newline_and_crlf_are_tolerated() {
        assert_eq!(Line::parse("a:1|c\n").unwrap().name, "a");
        assert_eq!(Line::parse("a:1|c\r\n").unwrap().name, "a");
    }

    #[test]
    fn malformed_lines_say_why() {
        let reason = |text| match Line::parse(text).map_err(Error::into_kind) {
            Err(ErrorKind::MalformedLine(reason)) => reason,
            other => panic!("{text:?} gave {other:?}"),
        };
        assert_eq!(reason(""), Reason::Empty);
        assert_eq!(reason("a"), Reason::MissingValue);
        assert_eq!(reason("a:1"), Reason::MissingType);
        assert_eq!(reason("a:1|x"), Reason::BadType);
        assert_eq!(reason("a:1|c|@2"), Reason::BadSampleRate);
        assert_eq!(reason("a:1|c|@0"), Reason::BadSampleRate);
        assert_eq!(reason("a:1|c|x"), Reason::UnknownField);
        assert_eq!(reason("a:x|c"), Reason::BadValue);
        assert_eq!(reason("a:-1|ms"), Reason::BadValue);
        assert_eq!(reason(":1|c"), Reason::Empty);
        assert_eq!(reason("a b:1|c"), Reason::ForbiddenByte(b' '));
        assert_eq!(reason("a:1|c\nb:1|c"), Reason::ForbiddenByte(b'\n'));
        assert_eq!(reason("a:1|c|#k|v"), Reason::UnknownField);
        assert!(matches!(reason(&"a".repeat(9000)), Reason::TooLong { .. }));
    }

    fn reason(text: &str) -> Reason {
        match Line::parse(text).map_err(Error::into_kind) {
            Err(ErrorKind::MalformedLine(reason)) => reason,
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    #[test]
    fn overlong_lines_report_their_real_length() {
        let text = format!("a:1|c|#k:{}", "v".repeat(9000));
        assert_eq!(
            reason(&text),
            Reason::TooLong {
                length: text.len(),
                limit: MAX_LINE_LENGTH - 1
            }
        );
        // With a terminator, the length is still the line's own.
        let exact = "a".repeat(MAX_LINE_LENGTH);
        assert_eq!(
            reason(&format!("{exact}\r\n")),
            Reason::TooLong {
                length: MAX_LINE_LENGTH,
                limit: MAX_LINE_LENGTH - 1
            }
        );
        // The longest line that fits: limit bytes with its newline.
        let mut fits = format!(
            "a:1|c|#{}",
            vec!["k:".to_owned() + &"v".repeat(998); 8].join(",")
        );
        let pad = MAX_LINE_LENGTH - 1 - fits.len() - ",k:".len();
        fits += &format!(",k:{}", "v".repeat(pad));
        assert_eq!(fits.len(), MAX_LINE_LENGTH - 1);
        Line::parse(&fits).unwrap();
    }

    #[test]
    fn unicode_controls_separators_and_bidi_are_refused_anywhere_in_a_line() {
        for c in [
            '\u{85}', '\u{9b}', '\u{80}', '\u{2028}', '\u{2029}', '\u{202e}', '\u{2066}',
            '\u{61c}', '\u{200f}', '\u{feff}',
        ] {
            for text in [
                format!("a{c}b:1|c"),
                format!("a:1{c}|c"),
                format!("s:m{c}|s"),
                format!("a:1|c|#k:v{c}"),
                format!("a:1|c|#k{c}:v"),
                format!("a,k=v{c}:1|c"),
                format!("a:1|c{c}"),
                format!("a:1|c|@0.5{c}"),
            ] {
                assert_eq!(reason(&text), Reason::ForbiddenChar(c), "{text:?}");
            }
        }
        // Joiners are text, not controls.
        Line::parse("family\u{200d}name:1|c").unwrap();
        Line::parse("a:1|c|#k:\u{200c}v").unwrap();
    }

    #[test]
    fn empty_tag_values_after_a_separator_are_refused_not_made_bare() {
        assert_eq!(reason("a:1|c|#k:"), Reason::EmptyTagValue);
        assert_eq!(reason("a:1|c|#x:y,k:"), Reason::EmptyTagValue);
        assert_eq!(reason("a,k=:1|c"), Reason::EmptyTagValue);
        assert_eq!(reason("a;k=:1|c"), Reason::EmptyTagValue);
        let bare = Line::parse("a:1|c|#k").unwrap();
        assert_eq!(bare.tags().collect::<Vec<_>>(), [("k", "")]);
    }

    #[test]
    fn sample_rates_whose_inverse_is_infinite_are_refused() {
        assert_eq!(reason("a:1|c|@5e-324"), Reason::BadSampleRate);
        assert_eq!(reason("a:1|c|@1e-309"), Reason::BadSampleRate);
        assert_eq!(reason("a:1|c|@inf"), Reason::BadSampleRate);
        assert_eq!(reason("a:1|c|@NaN"), Reason::BadSampleRate);
        assert_eq!(
            Line::parse("a:1|c|@1e-300").unwrap().sample_rate,
            Some(1e-300)
        );
    }

    /// Values near the edges of the short-integer shortcut: signs, zeros,
    /// lengths, other characters.
    fn values_to_try() -> Vec<String> {
        let mut values: Vec<String> = [
            "", "-", "+", "0", "-0", "+0", "00", "-00", "007", "-007", "1", "-1", "+1", "10",
            "1.5", "1.50", "-1.5", ".5", "5.", "1e5", "inf", "NaN", "1_0", "1 ", "abc", "٣",
            "0x10", "--1", "-+1", "1-",
        ]
        .map(String::from)
        .into();
        for digits in 1..=20 {
            for lead in ["1", "9", "0"] {
                let value = format!("{lead}{}", "9".repeat(digits - 1));
                values.push(format!("-{value}"));
                values.push(value);
            }
        }
        values.push(i64::MAX.to_string());
        values.push(i64::MIN.to_string());
        values
    }

    #[test]
    fn the_short_integer_shortcut_accepts_only_what_raw_value_accepts() {
        for value in values_to_try() {
            for kind in MetricType::ALL {
                let expected = validate::raw_value(&value, kind).map_err(|_| Reason::BadValue);
                assert_eq!(check_value(&value, kind), expected, "{value:?} as {kind:?}");
                if let Some(n) = short_integer(&value) {
                    assert_eq!(value.parse::<i64>(), Ok(n), "{value:?}");
                }
            }
        }
    }

    #[test]
    fn an_exact_integer_is_written_back_as_the_same_bytes() {
        let mut exact = 0;
        for value in values_to_try() {
            let text = format!("a:{value}|c");
            let Ok(line) = Line::parse(&text) else {
                continue;
            };
            if let Some(n) = line.exact_integer() {
                assert_eq!(n.to_string(), value);
                exact += 1;
            } else {
                let written = value.parse::<i64>().map(|n| n.to_string());
                let short = value.trim_start_matches('-').len() <= SHORT_INTEGER_DIGITS;
                assert!(written.as_ref() != Ok(&value) || !short, "{value:?}");
            }
        }
        assert!(exact > 20, "{exact}");
        assert_eq!(Line::parse("a:1|c").unwrap().exact_integer(), Some(1));
        assert_eq!(Line::parse("a:-12|c").unwrap().exact_integer(), Some(-12));
        for kept_as_written in ["a:01|c", "a:-0|c", "a:1.0|c", "a:1.50|g", "a:+1|g"] {
            assert_eq!(Line::parse(kept_as_written).unwrap().exact_integer(), None);
        }
    }

    #[test]
    fn structure_in_long_parts_is_found_as_in_short_ones() {
        // Parts longer than `SHORT` are searched with `memchr`.
        let long_name = "n".repeat(100);
        let long_value = "v".repeat(100);
        let influx = format!("{long_name},k=v:1|c");
        let line = Line::parse(&influx).unwrap();
        assert_eq!(
            (line.name, line.tag_format),
            (long_name.as_str(), TagFormat::Influx)
        );
        let text = format!("a:{long_value}|s|#{long_value}:x,{long_value}|@0.5");
        let line = Line::parse(&text).unwrap();
        assert_eq!(line.value, long_value);
        assert_eq!(
            line.tags().collect::<Vec<_>>(),
            [(long_value.as_str(), "x"), (long_value.as_str(), "")]
        );
        assert_eq!(line.sample_rate, Some(0.5));
        let packed = format!("t:{}:2|ms", "1".repeat(40));
        assert_eq!(Line::parse(&packed).unwrap().values().count(), 2);
        assert_eq!(
            reason(&format!("t:{}::2|ms", "1".repeat(40))),
            Reason::BadValue
        );
        assert_eq!(
            reason(&format!("a:1|c|#{long_value}:")),
            Reason::EmptyTagValue
        );
    }

    #[test]
    fn an_empty_tag_value_is_the_reason_even_after_a_refused_tag() {
        assert_eq!(reason("a:1|c|#k v:x"), Reason::ForbiddenByte(b' '));
        assert_eq!(reason("a:1|c|#k v:x,k:"), Reason::EmptyTagValue);
        assert_eq!(reason("a,k v=x;k=:1|c"), Reason::ForbiddenByte(b' '));
        assert_eq!(reason("a;k v=x;k=:1|c"), Reason::EmptyTagValue);
        assert_eq!(reason("a:1|c|#,k:"), Reason::EmptyTagValue);
        assert_eq!(reason("a:1|c|#"), Reason::Empty);
        assert_eq!(reason("a:1|c|#k,"), Reason::Empty);
        assert_eq!(reason("a:1|c|"), Reason::UnknownField);
        assert_eq!(reason("a:1|c|#a|#b"), Reason::UnknownField);
        assert_eq!(reason("a,k=v:1|c|#b"), Reason::UnknownField);
        assert_eq!(reason("a:1|c|@0.5|@0.5"), Reason::BadSampleRate);
        assert_eq!(reason("a:1|c|cx"), Reason::UnknownField);
        assert_eq!(reason("a:1|c|ex"), Reason::UnknownField);
        assert_eq!(reason("a:1|c|e:"), Reason::UnknownField);
        assert_eq!(reason("a:1|c|e:x|e:y"), Reason::UnknownField);
        assert_eq!(Line::parse("a:1|c|T+12").unwrap().timestamp, Some(12));
    }

    #[test]
    fn dogstatsd_fields_after_v1_0_are_read_once_each() {
        let line =
            Line::parse("t:1:2:3|ms|@0.5|#k:v|T1700000000|c:abc|e:it-false|card:low").unwrap();
        assert_eq!(line.values().collect::<Vec<_>>(), ["1", "2", "3"]);
        assert_eq!(line.timestamp, Some(1_700_000_000));
        assert_eq!(line.container_id, Some("abc"));
        assert_eq!(line.external_data, Some("it-false"));
        assert_eq!(line.cardinality, Some(Cardinality::Low));
        assert!(line.has_dogstatsd_extensions());
        assert!(!Line::parse("a:1|c").unwrap().has_dogstatsd_extensions());
        for bad in [
            "a:1|c|T12|T13",
            "a:1|c|Tx",
            "a:1|c|c:",
            "a:1|c|card:huge",
            "a:1:2|c",
            "a:1:2|g",
            "t:1::2|ms",
        ] {
            assert!(Line::parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
