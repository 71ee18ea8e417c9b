//! DogStatsD events: what one is, and how it is written as one line.
//!
//! An event is not a metric: it has a title and a free text, and its grammar is
//! different. The header carries the byte lengths of the title and the text as
//! written, so those two may contain `|` (the Agent slices them by length), while
//! every field after them is delimited by `|` and must not contain one:
//!
//! ```text
//! _e{<title length>,<text length>}:<title>|<text>|d:<timestamp>|h:<hostname>|k:<aggregation key>|p:<priority>|s:<source type>|t:<alert type>|#<tags>
//! ```
//!
//! # What is written
//!
//! The order and the omissions are datadog-go's (`appendEvent` in
//! `statsd/format.go`), so that the bytes are the same for the same event: the
//! optional fields in the order above, each only when set; `|#` only when there
//! is a tag, the client's global tags first, then the event's. A newline in the
//! title or the text is written as the two characters `\n`, which the Agent
//! turns back into a newline (in both, unlike datadog-go, which leaves a newline
//! in the title as is and so breaks the line), and the lengths in the header are
//! those of the escaped title and text, in bytes. The line ends with `\n`.
//!
//! The client's namespace (prefix) is not applied to the title: neither
//! datadog-go nor datadogpy does, and the Agent's `statsd_metric_namespace` only
//! renames metrics.
//!
//! # What is refused
//!
//! The rule of the crate holds: reject, never repair (datadog-go silently drops
//! a newline from a tag; this module refuses the tag). The writer refuses, with
//! [`ErrorKind::InvalidField`] naming the field, or
//! [`ErrorKind::InvalidTag`]:
//!
//! | field | refused |
//! | --- | --- |
//! | title | empty; any control character but the newline (`\r`, tab, `0x7f`, ...) |
//! | text | any control character but the newline (empty is fine) |
//! | hostname, aggregation key, source type | `|`; every control character, the newline included |
//! | tag key | empty; `:` (the reader splits a tag at its first `:`); `,` `|` `#`; every control character |
//! | tag value | `,` `|` `#`; every control character (empty means a bare tag) |
//! | timestamp | above `i64::MAX`, which the Agent cannot read |
//!
//! and in every field the C1 controls U+0080 to U+009F and the separators
//! U+2028 and U+2029, which some readers take for line breaks. A title or text
//! that contains the two characters `\n` as text (a backslash, then `n`) is
//! refused too ([`Reason::AmbiguousEscape`]):
//! the Agent has no escape for the backslash, so it would read them as a
//! newline and the event would not arrive as written. Finally a line longer than
//! the limit is refused with [`ErrorKind::LineTooLong`],
//! which reports the length it would have had.
//!
//! On every error the buffer is left exactly as it was: everything is checked
//! and the length computed before the first byte is written.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, ErrorKind, Reason};

/// The priority of an event (`p:`). The Agent takes an event without one as
/// [`Normal`](EventPriority::Normal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventPriority {
    /// `normal`, the default.
    Normal,
    /// `low`.
    Low,
}

impl EventPriority {
    /// The name on the wire: `normal` or `low`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            EventPriority::Normal => "normal",
            EventPriority::Low => "low",
        }
    }

    /// The priority spelled exactly as on the wire, as the Agent reads it
    /// (lowercase only).
    pub(crate) fn from_wire(text: &str) -> Option<Self> {
        match text {
            "normal" => Some(EventPriority::Normal),
            "low" => Some(EventPriority::Low),
            _ => None,
        }
    }
}

impl fmt::Display for EventPriority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventPriority {
    type Err = Error;

    /// Reads `normal` or `low`, lowercase, as the Agent does.
    fn from_str(text: &str) -> Result<Self, Error> {
        Self::from_wire(text).ok_or_else(|| {
            invalid(
                "event priority",
                text,
                Reason::Expected("`normal` or `low`"),
            )
        })
    }
}

/// The alert type of an event (`t:`). The Agent takes an event without one as
/// [`Info`](AlertType::Info).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AlertType {
    /// `error`.
    Error,
    /// `warning`.
    Warning,
    /// `info`, the default.
    Info,
    /// `success`.
    Success,
}

impl AlertType {
    /// The name on the wire: `error`, `warning`, `info` or `success`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertType::Error => "error",
            AlertType::Warning => "warning",
            AlertType::Info => "info",
            AlertType::Success => "success",
        }
    }

    /// The alert type spelled exactly as on the wire, as the Agent reads it
    /// (lowercase only).
    pub(crate) fn from_wire(text: &str) -> Option<Self> {
        match text {
            "error" => Some(AlertType::Error),
            "warning" => Some(AlertType::Warning),
            "info" => Some(AlertType::Info),
            "success" => Some(AlertType::Success),
            _ => None,
        }
    }
}

impl fmt::Display for AlertType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlertType {
    type Err = Error;

    /// Reads `error`, `warning`, `info` or `success`, lowercase, as the Agent
    /// does.
    fn from_str(text: &str) -> Result<Self, Error> {
        Self::from_wire(text).ok_or_else(|| {
            invalid(
                "event alert type",
                text,
                Reason::Expected("`error`, `warning`, `info` or `success`"),
            )
        })
    }
}

/// A DogStatsD event: a title and a text, plus optional fields, borrowed from
/// the caller. Nothing is checked until it is written.
///
/// An empty hostname, aggregation key or source type leaves the field unset (it
/// is not written), as in datadog-go. Tags are `(key, value)` pairs; an empty
/// value makes a bare tag (`key` rather than `key:value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    title: &'a str,
    text: &'a str,
    timestamp: Option<u64>,
    hostname: Option<&'a str>,
    aggregation_key: Option<&'a str>,
    priority: Option<EventPriority>,
    source_type: Option<&'a str>,
    alert_type: Option<AlertType>,
    tags: &'a [(&'a str, &'a str)],
}

/// `None` for an empty text, so that an empty setting is no setting.
const fn non_empty(text: &str) -> Option<&str> {
    if text.is_empty() {
        None
    } else {
        Some(text)
    }
}

impl<'a> Event<'a> {
    /// An event with this title and text and nothing else.
    #[must_use]
    pub const fn new(title: &'a str, text: &'a str) -> Self {
        Event {
            title,
            text,
            timestamp: None,
            hostname: None,
            aggregation_key: None,
            priority: None,
            source_type: None,
            alert_type: None,
            tags: &[],
        }
    }

    /// When it happened, in seconds since the Unix epoch (`d:`); without it the
    /// Agent uses the time it received the event.
    #[must_use]
    pub const fn timestamp(mut self, unix_seconds: u64) -> Self {
        self.timestamp = Some(unix_seconds);
        self
    }

    /// The host it is about (`h:`); empty means none.
    #[must_use]
    pub const fn hostname(mut self, hostname: &'a str) -> Self {
        self.hostname = non_empty(hostname);
        self
    }

    /// The key that groups it with other events (`k:`); empty means none.
    #[must_use]
    pub const fn aggregation_key(mut self, key: &'a str) -> Self {
        self.aggregation_key = non_empty(key);
        self
    }

    /// Its priority (`p:`).
    #[must_use]
    pub const fn priority(mut self, priority: EventPriority) -> Self {
        self.priority = Some(priority);
        self
    }

    /// Its source type name (`s:`); empty means none.
    #[must_use]
    pub const fn source_type(mut self, source_type: &'a str) -> Self {
        self.source_type = non_empty(source_type);
        self
    }

    /// Its alert type (`t:`).
    #[must_use]
    pub const fn alert_type(mut self, alert_type: AlertType) -> Self {
        self.alert_type = Some(alert_type);
        self
    }

    /// Its own tags, written after the client's global tags.
    #[must_use]
    pub const fn tags(mut self, tags: &'a [(&'a str, &'a str)]) -> Self {
        self.tags = tags;
        self
    }

    /// Checks every field against the table of the module documentation.
    fn validate(&self) -> Result<(), Error> {
        if self.title.is_empty() {
            return Err(invalid("event title", self.title, Reason::Empty));
        }
        check(self.title, "event title", TextRule::Free)?;
        check(self.text, "event text", TextRule::Free)?;
        for (field, value) in [
            ("event hostname", self.hostname),
            ("event aggregation key", self.aggregation_key),
            ("event source type", self.source_type),
        ] {
            if let Some(value) = value {
                check(value, field, TextRule::Field)?;
            }
        }
        if let Some(timestamp) = self.timestamp {
            check_timestamp(timestamp, "event timestamp")?;
        }
        check_tags(self.tags)
    }
}

/// Appends `event` to `buf` as one line ending in `\n`.
///
/// `global_tags` is the client's tag list, already rendered in the DogStatsD
/// dialect (`env:prod,team`) and checked, or empty; it is written before the
/// event's own tags. The line, newline included, must fit in `max_line` bytes.
/// On any error `buf` is left exactly as it was.
pub(crate) fn write_event(
    buf: &mut Vec<u8>,
    event: &Event<'_>,
    global_tags: &[u8],
    max_line: usize,
) -> Result<(), Error> {
    let length = check_event(event, global_tags, max_line)?;

    let mut title_digits = itoa::Buffer::new();
    let mut text_digits = itoa::Buffer::new();
    let mut timestamp_digits = itoa::Buffer::new();
    let timestamp = event.timestamp.map(|t| timestamp_digits.format(t));
    buf.reserve(length);
    let start = buf.len();
    buf.extend_from_slice(b"_e{");
    buf.extend_from_slice(title_digits.format(escaped_length(event.title)).as_bytes());
    buf.push(b',');
    buf.extend_from_slice(text_digits.format(escaped_length(event.text)).as_bytes());
    buf.extend_from_slice(b"}:");
    push_escaped(buf, event.title);
    buf.push(b'|');
    push_escaped(buf, event.text);
    push_optional(buf, b"|d:", timestamp);
    push_optional(buf, b"|h:", event.hostname);
    push_optional(buf, b"|k:", event.aggregation_key);
    push_optional(buf, b"|p:", event.priority.map(EventPriority::as_str));
    push_optional(buf, b"|s:", event.source_type);
    push_optional(buf, b"|t:", event.alert_type.map(AlertType::as_str));
    push_tags(buf, global_tags, event.tags);
    buf.push(b'\n');
    debug_assert_eq!(buf.len() - start, length);
    Ok(())
}

/// Checks `event` as [`write_event`] would, without writing it: its fields,
/// and that its line (with `global_tags`, newline included) fits in
/// `max_line` bytes. Returns that length.
pub(crate) fn check_event(
    event: &Event<'_>,
    global_tags: &[u8],
    max_line: usize,
) -> Result<usize, Error> {
    debug_assert!(
        memchr::memchr2(b'\n', b'|', global_tags).is_none(),
        "global tags must be rendered and checked"
    );
    event.validate()?;

    let digits = |n: usize| itoa::Buffer::new().format(n).len();
    let title_length = escaped_length(event.title);
    let text_length = escaped_length(event.text);
    let timestamp_length = event
        .timestamp
        .map_or(0, |t| 3 + itoa::Buffer::new().format(t).len());
    // `_e{` title `,` text `}:` title `|` text
    let length = 3
        + digits(title_length)
        + 1
        + digits(text_length)
        + 2
        + title_length
        + 1
        + text_length
        + timestamp_length
        + optional_length(event.hostname)
        + optional_length(event.aggregation_key)
        + optional_length(event.priority.map(EventPriority::as_str))
        + optional_length(event.source_type)
        + optional_length(event.alert_type.map(AlertType::as_str))
        + tags_length(global_tags, event.tags)
        + 1;
    if length > max_line {
        return Err(Error::from(ErrorKind::LineTooLong {
            length,
            limit: max_line,
        }));
    }
    Ok(length)
}

// ---------------------------------------------------------------------------
// Checking and writing, shared with the service checks.

/// What a text field may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextRule {
    /// An event's title or text: newlines (escaped) and `|` allowed, since the
    /// header's lengths delimit them.
    Free,
    /// A service check's message: newlines (escaped) allowed, `|` not (the
    /// Agent ends a field at the first `|`).
    Message,
    /// Any other field: neither newlines nor `|`.
    Field,
}

/// The error for a field.
pub(crate) fn invalid(field: &'static str, value: &str, reason: Reason) -> Error {
    Error::from(ErrorKind::InvalidField {
        field,
        value: value.to_owned(),
        reason,
    })
}

/// Checks a text field against its rule (emptiness is the caller's business).
pub(crate) fn check(value: &str, field: &'static str, rule: TextRule) -> Result<(), Error> {
    let newline = rule != TextRule::Field;
    let pipe = rule == TextRule::Free;
    if let Some(reason) = forbidden(value, newline, if pipe { b"" } else { b"|" }) {
        return Err(invalid(field, value, reason));
    }
    if newline && memchr::memmem::find(value.as_bytes(), b"\\n").is_some() {
        return Err(invalid(field, value, Reason::AmbiguousEscape("\\n")));
    }
    if rule == TextRule::Message && memchr::memmem::find(value.as_bytes(), b"m\\:").is_some() {
        return Err(invalid(field, value, Reason::AmbiguousEscape("m\\:")));
    }
    Ok(())
}

/// The first character of `text` that may not be written: a control character
/// (the newline only if `newline_ok` is false), a byte of `reserved`, a C1
/// control, U+2028 or U+2029.
pub(crate) fn forbidden(text: &str, newline_ok: bool, reserved: &[u8]) -> Option<Reason> {
    let bytes = text.as_bytes();
    for i in 0..bytes.len() {
        match bytes[i..] {
            [b'\n', ..] if newline_ok => {}
            [b @ (0x00..=0x1f | 0x7f), ..] => return Some(Reason::ForbiddenByte(b)),
            // U+0080 to U+009F are 0xC2 0x80 to 0xC2 0x9F in UTF-8.
            [0xc2, next @ 0x80..=0x9f, ..] => return Some(Reason::ForbiddenChar(char::from(next))),
            // U+2028 and U+2029.
            [0xe2, 0x80, 0xa8, ..] => return Some(Reason::ForbiddenChar('\u{2028}')),
            [0xe2, 0x80, 0xa9, ..] => return Some(Reason::ForbiddenChar('\u{2029}')),
            [b, ..] if reserved.contains(&b) => return Some(Reason::ForbiddenByte(b)),
            _ => {}
        }
    }
    None
}

/// Refuses a timestamp the Agent cannot read (it parses a signed 64-bit
/// number).
pub(crate) fn check_timestamp(timestamp: u64, field: &'static str) -> Result<(), Error> {
    if i64::try_from(timestamp).is_err() {
        return Err(invalid(field, &timestamp.to_string(), Reason::OutOfRange));
    }
    Ok(())
}

/// Checks per-call tags: a key is not empty and holds no `:`, neither key nor
/// value holds `,`, `|`, `#` or a control character.
pub(crate) fn check_tags(tags: &[(&str, &str)]) -> Result<(), Error> {
    for &(key, value) in tags {
        let reason = if key.is_empty() {
            Some(Reason::Empty)
        } else {
            forbidden(key, false, b":,|#").or_else(|| forbidden(value, false, b",|#"))
        };
        if let Some(reason) = reason {
            let tag = if value.is_empty() {
                key.to_owned()
            } else {
                format!("{key}:{value}")
            };
            return Err(Error::from(ErrorKind::InvalidTag { tag, reason }));
        }
    }
    Ok(())
}

/// The length of `text` once its newlines are written `\n`.
pub(crate) fn escaped_length(text: &str) -> usize {
    text.len() + memchr::memchr_iter(b'\n', text.as_bytes()).count()
}

/// Appends `text` with its newlines written `\n`.
pub(crate) fn push_escaped(buf: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    let mut start = 0;
    for newline in memchr::memchr_iter(b'\n', bytes) {
        buf.extend_from_slice(&bytes[start..newline]);
        buf.extend_from_slice(b"\\n");
        start = newline + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
}

/// The length of `|x:value` for a field that is set.
pub(crate) fn optional_length(value: Option<&str>) -> usize {
    value.map_or(0, |value| 3 + value.len())
}

/// Appends `prefix` and `value` if the field is set.
pub(crate) fn push_optional(buf: &mut Vec<u8>, prefix: &[u8], value: Option<&str>) {
    if let Some(value) = value {
        buf.extend_from_slice(prefix);
        buf.extend_from_slice(value.as_bytes());
    }
}

/// The length of `|#global,key:value,key`, or 0 without any tag.
pub(crate) fn tags_length(global: &[u8], tags: &[(&str, &str)]) -> usize {
    if global.is_empty() && tags.is_empty() {
        return 0;
    }
    let own: usize = tags
        .iter()
        .map(|(key, value)| key.len() + if value.is_empty() { 0 } else { 1 + value.len() })
        .sum();
    let items = usize::from(!global.is_empty()) + tags.len();
    // `|#`, the items, a comma between two.
    2 + global.len() + own + (items - 1)
}

/// Appends `|#global,key:value,key`, or nothing without any tag.
pub(crate) fn push_tags(buf: &mut Vec<u8>, global: &[u8], tags: &[(&str, &str)]) {
    if global.is_empty() && tags.is_empty() {
        return;
    }
    buf.extend_from_slice(b"|#");
    buf.extend_from_slice(global);
    for (i, (key, value)) in tags.iter().enumerate() {
        if i > 0 || !global.is_empty() {
            buf.push(b',');
        }
        buf.extend_from_slice(key.as_bytes());
        if !value.is_empty() {
            buf.push(b':');
            buf.extend_from_slice(value.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::dogstatsd_parse::parse_event;
    use super::*;

    fn write(event: &Event<'_>, global: &[u8]) -> Result<String, Error> {
        let mut buf = Vec::new();
        write_event(&mut buf, event, global, usize::MAX)?;
        Ok(String::from_utf8(buf).unwrap())
    }

    fn field_reason(event: &Event<'_>) -> (&'static str, Reason) {
        match write(event, b"").map_err(Error::into_kind) {
            Err(ErrorKind::InvalidField { field, reason, .. }) => (field, reason),
            other => panic!("{event:?} gave {other:?}"),
        }
    }

    #[test]
    fn every_field_in_datadog_go_order() {
        let tags = [("region", "eu"), ("canary", "")];
        let event = Event::new("Deploy", "v2\nrolled out")
            .alert_type(AlertType::Success)
            .source_type("ci")
            .priority(EventPriority::Low)
            .aggregation_key("deploys")
            .hostname("web-1")
            .timestamp(1_700_000_000)
            .tags(&tags);
        assert_eq!(
            write(&event, b"env:prod").unwrap(),
            "_e{6,14}:Deploy|v2\\nrolled out|d:1700000000|h:web-1|k:deploys|p:low|s:ci|t:success|#env:prod,region:eu,canary\n"
        );
    }

    #[test]
    fn title_newlines_are_escaped_and_counted() {
        assert_eq!(
            write(&Event::new("a\nb", ""), b"").unwrap(),
            "_e{4,0}:a\\nb|\n"
        );
    }

    #[test]
    fn lengths_are_utf8_bytes() {
        assert_eq!(
            write(&Event::new("é", "日本"), b"").unwrap(),
            "_e{2,6}:é|日本\n"
        );
    }

    #[test]
    fn empty_settings_are_no_settings() {
        let event = Event::new("t", "x")
            .hostname("")
            .aggregation_key("")
            .source_type("");
        assert_eq!(event, Event::new("t", "x"));
        assert_eq!(write(&event, b"").unwrap(), "_e{1,1}:t|x\n");
    }

    #[test]
    fn global_tags_alone() {
        assert_eq!(
            write(&Event::new("t", "x"), b"env:prod,team").unwrap(),
            "_e{1,1}:t|x|#env:prod,team\n"
        );
    }

    #[test]
    fn pipes_are_fine_in_title_and_text_only() {
        assert_eq!(
            write(&Event::new("a|b", "c|d"), b"").unwrap(),
            "_e{3,3}:a|b|c|d\n"
        );
        for event in [
            Event::new("t", "x").hostname("a|b"),
            Event::new("t", "x").aggregation_key("a|b"),
            Event::new("t", "x").source_type("a|b"),
        ] {
            assert_eq!(field_reason(&event).1, Reason::ForbiddenByte(b'|'));
        }
    }

    #[test]
    fn each_field_names_itself() {
        assert_eq!(
            field_reason(&Event::new("", "x")),
            ("event title", Reason::Empty)
        );
        assert_eq!(
            field_reason(&Event::new("a\rb", "x")),
            ("event title", Reason::ForbiddenByte(b'\r'))
        );
        assert_eq!(
            field_reason(&Event::new("t", "tab\there")),
            ("event text", Reason::ForbiddenByte(b'\t'))
        );
        assert_eq!(
            field_reason(&Event::new("t", "x\u{2028}y")),
            ("event text", Reason::ForbiddenChar('\u{2028}'))
        );
        assert_eq!(
            field_reason(&Event::new("t\u{85}", "x")),
            ("event title", Reason::ForbiddenChar('\u{85}'))
        );
        assert_eq!(
            field_reason(&Event::new("t", "C:\\new")),
            ("event text", Reason::AmbiguousEscape("\\n"))
        );
        assert_eq!(
            field_reason(&Event::new("t", "x").hostname("a\nb")),
            ("event hostname", Reason::ForbiddenByte(b'\n'))
        );
        assert_eq!(
            field_reason(&Event::new("t", "x").aggregation_key("\u{2029}")),
            ("event aggregation key", Reason::ForbiddenChar('\u{2029}'))
        );
        assert_eq!(
            field_reason(&Event::new("t", "x").source_type("\x7f")),
            ("event source type", Reason::ForbiddenByte(0x7f))
        );
        assert_eq!(
            field_reason(&Event::new("t", "x").timestamp(u64::MAX)),
            ("event timestamp", Reason::OutOfRange)
        );
        // Other non-ASCII is fine, including characters next to the refused ones.
        write(&Event::new("\u{a0}\u{7ff}\u{2027}\u{202a}", "x"), b"").unwrap();
    }

    #[test]
    fn bad_tags_are_refused_not_repaired() {
        for (tags, tag, reason) in [
            (&[("", "v")][..], ":v", Reason::Empty),
            (&[("a:b", "")][..], "a:b", Reason::ForbiddenByte(b':')),
            (
                &[("hello\nworld", "")][..],
                "hello\nworld",
                Reason::ForbiddenByte(b'\n'),
            ),
            (&[("k", "a,b")][..], "k:a,b", Reason::ForbiddenByte(b',')),
            (&[("k", "a|b")][..], "k:a|b", Reason::ForbiddenByte(b'|')),
            (&[("k", "#b")][..], "k:#b", Reason::ForbiddenByte(b'#')),
            (
                &[("ok", ""), ("k", "\u{9f}")][..],
                "k:\u{9f}",
                Reason::ForbiddenChar('\u{9f}'),
            ),
        ] {
            match write(&Event::new("t", "x").tags(tags), b"").map_err(Error::into_kind) {
                Err(ErrorKind::InvalidTag {
                    tag: got,
                    reason: why,
                }) => {
                    assert_eq!((got.as_str(), why), (tag, reason));
                }
                other => panic!("{tags:?} gave {other:?}"),
            }
        }
        // A tag value may hold ':' (the reader splits at the first one).
        assert_eq!(
            write(&Event::new("t", "x").tags(&[("url", "http://x")]), b"").unwrap(),
            "_e{1,1}:t|x|#url:http://x\n"
        );
    }

    #[test]
    fn too_long_reports_the_real_length_and_leaves_the_buffer() {
        let tags = [("k", "v")];
        let event = Event::new("title", "text").hostname("h").tags(&tags);
        let full = write(&event, b"g").unwrap();
        let mut buf = b"previous\n".to_vec();
        assert!(matches!(
            write_event(&mut buf, &event, b"g", full.len() - 1).map_err(Error::into_kind),
            Err(ErrorKind::LineTooLong { length, limit }) if length == full.len() && limit == full.len() - 1
        ));
        assert_eq!(buf, b"previous\n");
        write_event(&mut buf, &event, b"g", full.len()).unwrap();
        assert_eq!(buf, format!("previous\n{full}").as_bytes());
    }

    #[test]
    fn enums_read_and_print_their_wire_names() {
        for priority in [EventPriority::Normal, EventPriority::Low] {
            assert_eq!(
                priority.to_string().parse::<EventPriority>().unwrap(),
                priority
            );
        }
        for alert in [
            AlertType::Error,
            AlertType::Warning,
            AlertType::Info,
            AlertType::Success,
        ] {
            assert_eq!(alert.to_string().parse::<AlertType>().unwrap(), alert);
        }
        assert!(matches!(
            "urgent".parse::<EventPriority>().map_err(Error::into_kind),
            Err(ErrorKind::InvalidField {
                field: "event priority",
                ..
            })
        ));
        // The Agent compares bytes: `Low` is not a priority.
        assert!("Low".parse::<EventPriority>().is_err());
        assert!("test".parse::<AlertType>().is_err());
    }

    mod properties {
        use super::super::tests_support::{any_text, clean_global, clean_text, expected_tags};
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        struct Input {
            title: String,
            text: String,
            timestamp: Option<u64>,
            hostname: String,
            key: String,
            priority: Option<EventPriority>,
            source: String,
            alert: Option<AlertType>,
            tags: Vec<(String, String)>,
        }

        fn input(text: fn(usize) -> BoxedStrategy<String>) -> impl Strategy<Value = Input> {
            (
                (text(10), text(20), proptest::option::of(0u64..=u64::MAX)),
                (text(8), text(8), text(8)),
                (
                    proptest::option::of(prop::sample::select(vec![
                        EventPriority::Normal,
                        EventPriority::Low,
                    ])),
                    proptest::option::of(prop::sample::select(vec![
                        AlertType::Error,
                        AlertType::Warning,
                        AlertType::Info,
                        AlertType::Success,
                    ])),
                ),
                proptest::collection::vec((text(6), text(6)), 0..3),
            )
                .prop_map(
                    |(
                        (title, text, timestamp),
                        (hostname, key, source),
                        (priority, alert),
                        tags,
                    )| {
                        Input {
                            title,
                            text,
                            timestamp,
                            hostname,
                            key,
                            priority,
                            source,
                            alert,
                            tags,
                        }
                    },
                )
        }

        fn check_round_trip(input: &Input, global: &str, max_line: usize) -> bool {
            let tags: Vec<(&str, &str)> = input
                .tags
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let mut event = Event::new(&input.title, &input.text)
                .hostname(&input.hostname)
                .aggregation_key(&input.key)
                .source_type(&input.source)
                .tags(&tags);
            if let Some(t) = input.timestamp {
                event = event.timestamp(t);
            }
            if let Some(p) = input.priority {
                event = event.priority(p);
            }
            if let Some(a) = input.alert {
                event = event.alert_type(a);
            }
            let before = b"gauge:1|g\n".to_vec();
            let mut buf = before.clone();
            let result = write_event(&mut buf, &event, global.as_bytes(), max_line);
            if let Err(error) = result {
                assert_eq!(buf, before, "{error}");
                if let ErrorKind::LineTooLong { length, .. } = *error.kind() {
                    let mut full = Vec::new();
                    write_event(&mut full, &event, global.as_bytes(), usize::MAX).unwrap();
                    assert_eq!(full.len(), length);
                }
                return false;
            }
            assert_eq!(&buf[..before.len()], &before[..]);
            let line = &buf[before.len()..];
            assert!(line.len() <= max_line);
            assert_eq!(line.last(), Some(&b'\n'));
            assert_eq!(memchr::memchr_iter(b'\n', line).count(), 1);
            assert!(line[..line.len() - 1]
                .iter()
                .all(|&b| b >= 0x20 && b != 0x7f));
            let line = std::str::from_utf8(line).unwrap();
            assert!(!line
                .chars()
                .any(|c| ('\u{80}'..='\u{9f}').contains(&c) || c == '\u{2028}' || c == '\u{2029}'));

            let parsed = parse_event(line).unwrap();
            assert_eq!(parsed.unescaped_title(), input.title);
            assert_eq!(parsed.unescaped_text(), input.text);
            assert_eq!(parsed.timestamp, input.timestamp.map(|t| t as i64));
            assert_eq!(parsed.hostname, event.hostname);
            assert_eq!(parsed.aggregation_key, event.aggregation_key);
            assert_eq!(parsed.priority, input.priority);
            assert_eq!(parsed.source_type, event.source_type);
            assert_eq!(parsed.alert_type, input.alert);
            assert_eq!(
                parsed.tag_pairs().collect::<Vec<_>>(),
                expected_tags(global, &tags)
            );
            assert_eq!(parsed.ignored_fields, 0);
            true
        }

        proptest! {
            #[test]
            fn anything_either_fails_cleanly_or_reads_back(
                input in input(|n| any_text(n).boxed()),
                global in prop_oneof![Just(String::new()), clean_global()],
                max_line in prop_oneof![20usize..200, Just(usize::MAX)],
            ) {
                check_round_trip(&input, &global, max_line);
            }

            #[test]
            fn clean_input_always_reads_back(
                input in input(|n| clean_text(n).boxed()),
                global in clean_global(),
            ) {
                let mut input = input;
                if input.title.is_empty() {
                    input.title.push('t');
                }
                input.tags.retain(|(k, _)| !k.is_empty());
                input.timestamp = input.timestamp.map(|t| t >> 1);
                prop_assert!(check_round_trip(&input, &global, usize::MAX));
            }
        }
    }
}

/// Strategies for the property tests of events and service checks.
#[cfg(test)]
pub(crate) mod tests_support {
    use proptest::prelude::*;

    /// Mostly ordinary characters, often the ones that matter.
    fn any_char() -> impl Strategy<Value = char> {
        prop_oneof![
            6 => proptest::char::range('a', 'z'),
            1 => Just(' '),
            3 => prop::sample::select(vec![
                '\n', '\r', '\t', '\0', '\x7f', '|', ',', '#', ':', '\\', 'n', 'm', '{',
                '}', '\u{85}', '\u{9f}', '\u{a0}', '\u{2028}', '\u{2029}', 'é', '日',
                '🦀',
            ]),
            1 => any::<char>(),
        ]
    }

    pub(crate) fn any_text(max: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(any_char(), 0..max).prop_map(|c| c.into_iter().collect())
    }

    /// Characters every field accepts.
    pub(crate) fn clean_text(max: usize) -> impl Strategy<Value = String> {
        "[a-z0-9 .é日🦀-]{0,12}".prop_map(move |s| s.chars().take(max).collect())
    }

    /// The tags a line should read back with: the rendered global ones
    /// (`k:v,k2`) first, then the call's.
    pub(crate) fn expected_tags<'a>(
        global: &'a str,
        tags: &[(&'a str, &'a str)],
    ) -> Vec<(&'a str, &'a str)> {
        global
            .split(',')
            .filter(|t| !t.is_empty())
            .map(|t| t.split_once(':').unwrap_or((t, "")))
            .chain(tags.iter().copied())
            .collect()
    }

    pub(crate) fn clean_global() -> impl Strategy<Value = String> {
        proptest::collection::vec(("[a-z]{1,5}", "[a-z:]{0,5}"), 0..3).prop_map(|tags| {
            tags.iter()
                .map(|(k, v)| {
                    if v.is_empty() {
                        k.clone()
                    } else {
                        format!("{k}:{v}")
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        })
    }
}
