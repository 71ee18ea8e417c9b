//! Relaying DogStatsD lines as written: [`Connector::send_line`](crate::Connector::send_line)
//! with a line that carries packed values or the DogStatsD fields after v1.0
//! (`|T`, `|c:`, `|e:`, `|card:`), on a connector declared DogStatsD.
//!
//! A line taken from an application's log or a packet capture must reach
//! the Agent as the application sent it: those fields are checked (each at
//! most once, a timestamp only on a gauge or a count, a container ID or
//! external data that cannot end or add a field) and then copied as written,
//! never rewritten. The prefix and the global tags apply as to any line
//! (none, unless configured), the tag-set cap too; such a line bypasses
//! aggregation, as a call with a timestamp does (its fields are its own, not
//! the flush's).

use crate::error::{Error, ErrorKind, Reason};
use crate::shared::ledger::Tally;
use crate::shared::{Measured, Shared};
use crate::wire::line::Line;
use crate::wire::metric::MetricType;
use crate::wire::validate;

use super::emit::{capped, rejected};

/// How many tags of a relayed line are collected without an allocation;
/// a line with more is rare, and its tags go to a `Vec`.
const TAGS_ON_STACK: usize = 16;

/// The tags of a relayed line as the `(key, value)` pairs the writers take:
/// on the stack up to [`TAGS_ON_STACK`] of them, so that relaying a line
/// allocates nothing.
pub(crate) struct LineTags<'a> {
    on_stack: [(&'a str, &'a str); TAGS_ON_STACK],
    count: usize,
    /// Every tag, when there are more than fit on the stack (else empty,
    /// which costs no allocation).
    spilled: Vec<(&'a str, &'a str)>,
}

impl<'a> LineTags<'a> {
    /// Collects the tags of `line`.
    #[inline]
    pub(crate) fn of(line: &Line<'a>) -> LineTags<'a> {
        let mut tags = LineTags {
            on_stack: [("", ""); TAGS_ON_STACK],
            count: 0,
            spilled: Vec::new(),
        };
        let mut pairs = line.tags();
        for pair in pairs.by_ref() {
            if tags.count == TAGS_ON_STACK {
                tags.spilled = tags.on_stack.to_vec();
                tags.spilled.push(pair);
                tags.spilled.extend(pairs);
                return tags;
            }
            tags.on_stack[tags.count] = pair;
            tags.count += 1;
        }
        tags
    }

    /// The tags, in the order written.
    #[inline]
    pub(crate) fn as_slice(&self) -> &[(&'a str, &'a str)] {
        if self.spilled.is_empty() {
            &self.on_stack[..self.count]
        } else {
            &self.spilled
        }
    }
}

/// Checks and queues the relayed line `text`, parsed as `line`.
pub(crate) fn send(shared: &Shared, text: &str, line: &Line<'_>) -> Result<(), Error> {
    let own = LineTags::of(line);
    if let Err(error) = check(shared, line, own.as_slice()) {
        return Err(rejected(shared, error));
    }
    let tags = capped(shared, line.name, own.as_slice());
    let write = Measured(|buf: &mut Vec<u8>| {
        shared
            .format
            .write_relayed(buf, text, line.name, line.value, line.kind, tags)
    });
    // A line too long is counted as rejected where it is refused.
    shared.publish(1, Tally::of(line.kind), write).into_result()
}

/// What [`Line::parse`] does not check of a relayed line: the name with this
/// connector's prefix, the tags (`own`, the line's) in its dialect, and the
/// fields' values.
fn check(shared: &Shared, line: &Line<'_>, own: &[(&str, &str)]) -> Result<(), Error> {
    validate::name(line.name, shared.format.name_overhead(line.kind))?;
    validate::tags(own, shared.format.tag_format())?;
    if let Some(seconds) = line.timestamp {
        if !matches!(line.kind, MetricType::Counter | MetricType::Gauge) {
            return Err(Error::from(ErrorKind::InvalidField {
                field: "timestamp",
                value: format!("{seconds} on a {}", line.kind),
                reason: Reason::Expected("a gauge or a count (only they carry a timestamp)"),
            }));
        }
    }
    for (field, value) in [
        ("container id", line.container_id),
        ("external data", line.external_data),
    ] {
        let Some(value) = value else {
            continue;
        };
        // `|` cannot be in a field (it ends it); what else could break the
        // line or be read as another field is refused.
        let bad = value
            .chars()
            .find(|&c| c.is_control() || matches!(c, '#' | ',') && field == "container id")
            .or_else(|| value.chars().find(|c| c.is_whitespace() && *c != ' '));
        if let Some(c) = bad {
            return Err(Error::from(ErrorKind::InvalidField {
                field,
                value: value.to_owned(),
                reason: Reason::ForbiddenChar(c),
            }));
        }
        if field == "container id" && value.contains(' ') {
            return Err(Error::from(ErrorKind::InvalidField {
                field,
                value: value.to_owned(),
                reason: Reason::ForbiddenChar(' '),
            }));
        }
    }
    Ok(())
}
