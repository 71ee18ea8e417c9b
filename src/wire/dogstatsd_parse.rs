//! Reading DogStatsD events and service checks back from their lines.
//!
//! The receiving side (the capture server, the CLI, the tests) needs to see
//! what the Datadog Agent would see, so this follows the Agent's parser
//! (`comp/dogstatsd/server/impl/parse_events.go` and `parse_service_checks.go`
//! in DataDog/datadog-agent), with the same split between what refuses a line
//! and what is only skipped:
//!
//! - Refused: an event header that is not `_e{<title length>,<text length>}:`
//!   with two non-negative decimal lengths (a sign is allowed, as Go's `Atoi`
//!   allows it), an empty title, a line shorter than the lengths say; a service
//!   check with an empty name or a status other than exactly `0`, `1`, `2` or
//!   `3`.
//! - Skipped, the line still accepted: an unknown field (`x:1234`, and the
//!   origin-detection fields `c:`, `e:`, `card:`, which this parser does not
//!   read), and a known field whose value does not parse (`d:abc`, `p:urgent`,
//!   `t:test`), which keeps the value it had. Each skipped field is counted in
//!   `ignored_fields`. A field given twice keeps its last value; an empty value
//!   (`h:`) means the field is unset.
//! - Priority and alert type are compared byte for byte, lowercase, as the
//!   Agent does; a timestamp is a signed 64-bit decimal, as Go's `ParseInt`
//!   reads it.
//!
//! Where the Agent accepts a line only because of how it slices bytes, this
//! parser is stricter, so that a writer's mistake shows: the header must start
//! with `_e{` and end with `}` (the Agent drops its first three and last byte
//! unseen), the title must be followed by `|` and the text by `|` or the end of
//! the line (the Agent skips one byte after the title whatever it is, and reads
//! text cut short by a wrong length as an unknown field), the title and text
//! must end on UTF-8 character boundaries (the Agent would keep the broken
//! bytes), and a service check must start with `_sc|` (the Agent drops four
//! bytes after checking for `_sc`).
//!
//! The parsed values borrow from the line and are as written, escapes
//! included; the `unescaped_*` methods undo them. For an event's title and text
//! that is the Agent's own rule (`\n` becomes a newline). The Agent forwards a
//! service check's message as written; its escapes (`\n`, and `m\:` for `m:`)
//! are the clients' convention, which the Agent 5 parser (DataDog/dd-agent
//! `aggregator.py`) undid, and [`ParsedServiceCheck::unescaped_message`] undoes
//! it the same way.

use std::borrow::Cow;

use super::event::{AlertType, EventPriority};
use super::service_check::ServiceCheckStatus;
use crate::error::{Error, ErrorKind, Reason};

/// What a line is, judged from its first bytes as the Agent does: `_e{` is an
/// event, `_sc` a service check, anything else a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DatagramKind {
    /// A metric sample (or gibberish: the Agent tries it as a metric).
    Metric,
    /// An event, `_e{...`.
    Event,
    /// A service check, `_sc...`.
    ServiceCheck,
}

/// The kind of a line, from its prefix alone.
pub(crate) fn datagram_kind(line: &str) -> DatagramKind {
    if line.starts_with("_e{") {
        DatagramKind::Event
    } else if line.starts_with("_sc") {
        DatagramKind::ServiceCheck
    } else {
        DatagramKind::Metric
    }
}

/// An event read from a line. The strings borrow from it and are as written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParsedEvent<'a> {
    /// The title as written, escapes included.
    pub title: &'a str,
    /// The text as written, escapes included.
    pub text: &'a str,
    /// `d:`, seconds since the Unix epoch.
    pub timestamp: Option<i64>,
    /// `h:`.
    pub hostname: Option<&'a str>,
    /// `k:`.
    pub aggregation_key: Option<&'a str>,
    /// `p:`; the Agent takes none as normal.
    pub priority: Option<EventPriority>,
    /// `s:`.
    pub source_type: Option<&'a str>,
    /// `t:`; the Agent takes none as info.
    pub alert_type: Option<AlertType>,
    /// The tag list after `#`, as written (`env:prod,team`).
    pub tags: Option<&'a str>,
    /// How many fields after the text were skipped (unknown, or a value that
    /// does not parse).
    pub ignored_fields: usize,
}

impl<'a> ParsedEvent<'a> {
    /// The title with `\n` turned back into newlines.
    #[must_use]
    pub fn unescaped_title(&self) -> Cow<'a, str> {
        unescape_newlines(self.title)
    }

    /// The text with `\n` turned back into newlines.
    #[must_use]
    pub fn unescaped_text(&self) -> Cow<'a, str> {
        unescape_newlines(self.text)
    }

    /// The priority the Agent records: normal when none was given.
    #[must_use]
    pub fn effective_priority(&self) -> EventPriority {
        self.priority.unwrap_or(EventPriority::Normal)
    }

    /// The alert type the Agent records: info when none was given.
    #[must_use]
    pub fn effective_alert_type(&self) -> AlertType {
        self.alert_type.unwrap_or(AlertType::Info)
    }

    /// The tags one by one, split at `,` as the Agent splits them.
    pub fn tags(&self) -> impl Iterator<Item = &'a str> + 'a {
        split_tags(self.tags)
    }

    /// The tags as `(key, value)`, split at the first `:`; a bare tag has an
    /// empty value.
    pub fn tag_pairs(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        split_tags(self.tags).map(tag_pair)
    }
}

/// A service check read from a line. The strings borrow from it and are as
/// written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParsedServiceCheck<'a> {
    /// The name.
    pub name: &'a str,
    /// The status.
    pub status: ServiceCheckStatus,
    /// `d:`, seconds since the Unix epoch.
    pub timestamp: Option<i64>,
    /// `h:`.
    pub hostname: Option<&'a str>,
    /// The tag list after `#`, as written.
    pub tags: Option<&'a str>,
    /// `m:`, as written, escapes included.
    pub message: Option<&'a str>,
    /// How many fields after the status were skipped (unknown, or a value that
    /// does not parse).
    pub ignored_fields: usize,
}

impl<'a> ParsedServiceCheck<'a> {
    /// The message with the clients' escapes undone: `\n` becomes a newline,
    /// `m\:` becomes `m:`.
    pub fn unescaped_message(&self) -> Option<Cow<'a, str>> {
        self.message.map(unescape_message)
    }

    /// The tags one by one, split at `,` as the Agent splits them.
    pub fn tags(&self) -> impl Iterator<Item = &'a str> + 'a {
        split_tags(self.tags)
    }

    /// The tags as `(key, value)`, split at the first `:`; a bare tag has an
    /// empty value.
    pub fn tag_pairs(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        split_tags(self.tags).map(tag_pair)
    }
}

/// Reads one event line (a trailing `\n`, and a `\r` before it, are dropped as
/// the Agent's line splitter drops them).
pub(crate) fn parse_event(line: &str) -> Result<ParsedEvent<'_>, Error> {
    let line = one_line(line)?;
    let header_end = line.find(':').ok_or(malformed(Reason::Expected(
        "an event header `_e{<title length>,<text length>}:`",
    )))?;
    let lengths = line[..header_end]
        .strip_prefix("_e{")
        .and_then(|h| h.strip_suffix('}'))
        .and_then(|h| h.split_once(','))
        .ok_or(malformed(Reason::Expected(
            "an event header `_e{<title length>,<text length>}:`",
        )))?;
    let title_length = header_length(lengths.0)?;
    if title_length == 0 {
        return Err(malformed(Reason::EmptyField("event title")));
    }
    let text_length = header_length(lengths.1)?;

    let body = &line[header_end + 1..];
    let text_start = title_length.checked_add(1);
    let text_end = text_start.and_then(|start| start.checked_add(text_length));
    let (Some(text_start), Some(text_end)) = (text_start, text_end) else {
        return Err(malformed(Reason::Expected(
            "a title and a text as long as the header says",
        )));
    };
    if body.len() < text_end {
        return Err(malformed(Reason::Expected(
            "a title and a text as long as the header says",
        )));
    }
    let (Some(title), Some(text)) = (body.get(..title_length), body.get(text_start..text_end))
    else {
        return Err(malformed(Reason::NotUtf8));
    };
    if body.as_bytes()[title_length] != b'|' {
        return Err(malformed(Reason::Expected(
            "`|` right after the title, as long as the header says",
        )));
    }
    let rest = &body[text_end..];
    let fields = match rest.strip_prefix('|') {
        Some(fields) => Some(fields),
        None if rest.is_empty() => None,
        None => {
            return Err(malformed(Reason::Expected(
                "`|` or the end of the line right after the text, as long as the header says",
            )))
        }
    };

    let mut event = ParsedEvent {
        title,
        text,
        timestamp: None,
        hostname: None,
        aggregation_key: None,
        priority: None,
        source_type: None,
        alert_type: None,
        tags: None,
        ignored_fields: 0,
    };
    for field in fields.into_iter().flat_map(|f| f.split('|')) {
        let read = if let Some(value) = field.strip_prefix("d:") {
            value.parse().ok().map(|t| event.timestamp = Some(t))
        } else if let Some(value) = field.strip_prefix("h:") {
            event.hostname = non_empty(value);
            Some(())
        } else if let Some(value) = field.strip_prefix("k:") {
            event.aggregation_key = non_empty(value);
            Some(())
        } else if let Some(value) = field.strip_prefix("p:") {
            EventPriority::from_wire(value).map(|p| event.priority = Some(p))
        } else if let Some(value) = field.strip_prefix("s:") {
            event.source_type = non_empty(value);
            Some(())
        } else if let Some(value) = field.strip_prefix("t:") {
            AlertType::from_wire(value).map(|a| event.alert_type = Some(a))
        } else if let Some(value) = field.strip_prefix('#') {
            event.tags = non_empty(value);
            Some(())
        } else {
            None
        };
        if read.is_none() {
            event.ignored_fields += 1;
        }
    }
    Ok(event)
}

/// Reads one service check line (a trailing `\n`, and a `\r` before it, are
/// dropped as the Agent's line splitter drops them).
pub(crate) fn parse_service_check(line: &str) -> Result<ParsedServiceCheck<'_>, Error> {
    let line = one_line(line)?;
    let rest = line.strip_prefix("_sc|").ok_or(malformed(Reason::Expected(
        "`_sc|` at the start of a service check",
    )))?;
    let mut fields = rest.split('|');
    let name = fields.next().unwrap_or_default();
    if name.is_empty() {
        return Err(malformed(Reason::EmptyField("service check name")));
    }
    let status = match fields.next() {
        None | Some("") => return Err(malformed(Reason::EmptyField("service check status"))),
        Some(status) => ServiceCheckStatus::from_wire(status).ok_or(malformed(
            Reason::Expected("a service check status of 0, 1, 2 or 3"),
        ))?,
    };

    let mut check = ParsedServiceCheck {
        name,
        status,
        timestamp: None,
        hostname: None,
        tags: None,
        message: None,
        ignored_fields: 0,
    };
    for field in fields {
        let read = if let Some(value) = field.strip_prefix("d:") {
            value.parse().ok().map(|t| check.timestamp = Some(t))
        } else if let Some(value) = field.strip_prefix("h:") {
            check.hostname = non_empty(value);
            Some(())
        } else if let Some(value) = field.strip_prefix('#') {
            check.tags = non_empty(value);
            Some(())
        } else if let Some(value) = field.strip_prefix("m:") {
            check.message = non_empty(value);
            Some(())
        } else {
            None
        };
        if read.is_none() {
            check.ignored_fields += 1;
        }
    }
    Ok(check)
}

/// Turns `\n` into newlines, as the Agent's `cleanEventText` does.
pub(crate) fn unescape_newlines(text: &str) -> Cow<'_, str> {
    if memchr::memmem::find(text.as_bytes(), b"\\n").is_none() {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.replace("\\n", "\n"))
    }
}

/// Undoes a service check message's escapes: `\n` to a newline, `m\:` to `m:`,
/// left to right.
pub(crate) fn unescape_message(message: &str) -> Cow<'_, str> {
    let bytes = message.as_bytes();
    if memchr::memchr(b'\\', bytes).is_none() {
        return Cow::Borrowed(message);
    }
    let mut out = String::with_capacity(message.len());
    let mut start = 0;
    for i in memchr::memchr_iter(b'\\', bytes) {
        if i < start {
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'n') => {
                out.push_str(&message[start..i]);
                out.push('\n');
                start = i + 2;
            }
            Some(b':') if i > 0 && bytes[i - 1] == b'm' => {
                out.push_str(&message[start..i]);
                out.push(':');
                start = i + 2;
            }
            _ => {}
        }
    }
    out.push_str(&message[start..]);
    Cow::Owned(out)
}

/// The line without its end, refused if another newline is left in it.
fn one_line(line: &str) -> Result<&str, Error> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    if memchr::memchr(b'\n', line.as_bytes()).is_some() {
        return Err(malformed(Reason::ForbiddenByte(b'\n')));
    }
    Ok(line)
}

/// A length in the event header, read as Go's `strconv.Atoi` reads it (an
/// optional sign, decimal digits), refused if negative.
fn header_length(text: &str) -> Result<usize, Error> {
    text.parse::<i64>()
        .ok()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(malformed(Reason::Expected(
            "non-negative decimal lengths in the event header",
        )))
}

fn malformed(reason: Reason) -> Error {
    Error::from(ErrorKind::MalformedLine(reason))
}

const fn non_empty(text: &str) -> Option<&str> {
    if text.is_empty() {
        None
    } else {
        Some(text)
    }
}

fn split_tags(tags: Option<&str>) -> impl Iterator<Item = &str> {
    tags.into_iter().flat_map(|t| t.split(','))
}

fn tag_pair(tag: &str) -> (&str, &str) {
    tag.split_once(':').unwrap_or((tag, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(result: Result<impl std::fmt::Debug, Error>) -> Reason {
        match result.map_err(Error::into_kind) {
            Err(ErrorKind::MalformedLine(reason)) => reason,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn kinds_by_prefix() {
        assert_eq!(datagram_kind("_e{1,1}:a|b"), DatagramKind::Event);
        assert_eq!(datagram_kind("_sc|a|0"), DatagramKind::ServiceCheck);
        assert_eq!(datagram_kind("_e:title"), DatagramKind::Metric);
        assert_eq!(datagram_kind("a:1|c"), DatagramKind::Metric);
    }

    #[test]
    fn line_ends_are_dropped_like_the_agent() {
        let event = parse_event("_e{1,1}:a|b\r\n").unwrap();
        assert_eq!((event.title, event.text), ("a", "b"));
        let check = parse_service_check("_sc|a|0|m:x\n").unwrap();
        assert_eq!(check.message, Some("x"));
        assert_eq!(
            reason(parse_event("_e{1,3}:a|b\nc")),
            Reason::ForbiddenByte(b'\n')
        );
    }

    #[test]
    fn header_lengths_read_like_go_atoi() {
        assert_eq!(parse_event("_e{+1,1}:a|b").unwrap().title, "a");
        assert_eq!(parse_event("_e{1,-0}:a|").unwrap().text, "");
        assert_eq!(parse_event("_e{01,1}:a|b").unwrap().text, "b");
        for bad in [
            "_e{1 ,1}:a|b",
            "_e{1,1x}:a|b",
            "_e{1,-1}:a|b",
            "_e{1,1.0}:a|b",
        ] {
            assert!(parse_event(bad).is_err(), "{bad}");
        }
        // Lengths that overflow are refused, not wrapped.
        assert!(parse_event(&format!("_e{{{},1}}:a|b", i64::MAX)).is_err());
        assert!(parse_event(&format!("_e{{1,{}}}:a|b", u64::MAX)).is_err());
    }

    #[test]
    fn stricter_than_the_agent_on_framing() {
        // The Agent reads all of these (by slicing bytes); they are writer bugs.
        for line in [
            "_e{5,4x:title|text",
            "_e{5,4}:titleXtext",
            "_e{5,2}:title|text",
            "_e{4,5}:title|text|#shell,bash",
            "_scX|agent.up|0",
        ] {
            let result = if line.starts_with("_sc") {
                parse_service_check(line).map(|_| ())
            } else {
                parse_event(line).map(|_| ())
            };
            assert!(result.is_err(), "{line}");
        }
        // A title or text cut inside a character.
        assert_eq!(reason(parse_event("_e{1,1}:é|x")), Reason::NotUtf8);
    }

    #[test]
    fn fields_repeat_skip_and_empty_like_the_agent() {
        let event =
            parse_event("_e{1,1}:a|b|p:low|p:urgent|d:5|d:x|h:one|h:|c:ci-1|#a,b|#c||z").unwrap();
        assert_eq!(event.priority, Some(EventPriority::Low));
        assert_eq!(event.timestamp, Some(5));
        assert_eq!(event.hostname, None);
        assert_eq!(event.tags().collect::<Vec<_>>(), ["c"]);
        // p:urgent, d:x, c:ci-1, the empty field, z.
        assert_eq!(event.ignored_fields, 5);
        assert_eq!(event.effective_alert_type(), AlertType::Info);
    }

    #[test]
    fn unescaping() {
        assert!(matches!(unescape_newlines("plain"), Cow::Borrowed("plain")));
        assert_eq!(unescape_newlines("a\\nb\\\\nc"), "a\nb\\\nc");
        assert!(matches!(unescape_message("no escapes"), Cow::Borrowed(_)));
        assert_eq!(
            unescape_message("\\n\\nmessagem\\:hello...\\n\\nm\\:aa\\nm\\:m"),
            "\n\nmessagem:hello...\n\nm:aa\nm:m"
        );
        // A backslash that starts no escape stays.
        assert_eq!(unescape_message("a\\b\\:c\\"), "a\\b\\:c\\");
        assert_eq!(unescape_message("m\\\\n"), "m\\\n");
    }

    proptest::proptest! {
        /// Whatever the line, the parsers answer without panicking, and what
        /// they accept holds together.
        #[test]
        fn any_line_is_read_or_refused(
            line in proptest::prop_oneof![
                "_e\\{[0-9+-]{0,3},[0-9+-]{0,3}\\}:[a-z|\\\\n:é]{0,12}",
                "_sc\\|[a-z|:#0-4]{0,12}",
                ".{0,16}",
            ],
        ) {
            if let Ok(event) = parse_event(&line) {
                proptest::prop_assert!(!event.title.is_empty());
                proptest::prop_assert!(event.unescaped_title().len() <= event.title.len());
            }
            if let Ok(check) = parse_service_check(&line) {
                proptest::prop_assert!(!check.name.is_empty() && !check.name.contains('|'));
            }
        }
    }

    #[test]
    fn tag_pairs_split_at_the_first_colon() {
        let check = parse_service_check("_sc|a|0|#url:http://x,bare,,k:").unwrap();
        assert_eq!(
            check.tag_pairs().collect::<Vec<_>>(),
            [("url", "http://x"), ("bare", ""), ("", ""), ("k", "")]
        );
    }
}
