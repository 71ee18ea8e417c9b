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

/// Checks and queues the relayed line `text`, parsed as `line`.
pub(crate) fn send(shared: &Shared, text: &str, line: &Line<'_>) -> Result<(), Error> {
    if let Err(error) = check(shared, line) {
        return Err(rejected(shared, error));
    }
    let own: Vec<(&str, &str)> = line.tags().collect();
    let tags = capped(shared, line.name, &own);
    let write = Measured(|buf: &mut Vec<u8>| {
        shared
            .format
            .write_relayed(buf, text, line.name, line.value, line.kind, tags)
    });
    // A line too long is counted as rejected where it is refused.
    shared.publish(1, Tally::of(line.kind), write).into_result()
}

/// What [`Line::parse`] does not check of a relayed line: the name with this
/// connector's prefix, the tags in its dialect, and the fields' values.
fn check(shared: &Shared, line: &Line<'_>) -> Result<(), Error> {
    validate::name(line.name, shared.format.name_overhead(line.kind))?;
    let tags: Vec<(&str, &str)> = line.tags().collect();
    validate::tags(&tags, shared.format.tag_format())?;
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
