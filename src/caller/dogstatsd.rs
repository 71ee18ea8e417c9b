//! DogStatsD events and service checks, on the caller's thread.
//!
//! They are not metrics: no sampling, no aggregation, no prefix (datadog-go
//! and datadogpy do not apply the namespace to them), but they travel as lines
//! like any other, through the same queue, and are accounted for in the same
//! ledger. Each one is refused, typed and counted in `rejected`, unless the
//! server is declared DogStatsD ([`Builder::dogstatsd`](crate::Builder::dogstatsd)),
//! its fields can be written (see [`Event`] and [`ServiceCheck`] for the
//! rules) and its line fits the transport's limit.

use std::borrow::Cow;

use crate::error::{Error, ErrorKind, Reason};
use crate::shared::ledger::Tally;
use crate::shared::{Measured, Shared};
use crate::wire::dogstatsd_parse::{parse_event, parse_service_check};
use crate::wire::event::{check_event, check_tags, invalid, write_event, Event};
use crate::wire::format::render_tags;
use crate::wire::metric::TagFormat;
use crate::wire::service_check::{check_service_check, write_service_check, ServiceCheck};

use super::emit::rejected;

/// Validates and queues one event (see [`Connector::event`](crate::Connector::event)).
pub(crate) fn event(shared: &Shared, event: &Event<'_>) -> Result<(), Error> {
    if !shared.config.enabled {
        return Ok(());
    }
    queue(
        shared,
        "event",
        |global, max| check_event(event, global, max),
        |buf, global, max| write_event(buf, event, global, max),
    )?;
    shared.ledger.event_queued();
    Ok(())
}

/// Validates and queues one service check (see [`Connector::service_check`](crate::Connector::service_check)).
pub(crate) fn service_check(shared: &Shared, check: &ServiceCheck<'_>) -> Result<(), Error> {
    if !shared.config.enabled {
        return Ok(());
    }
    queue(
        shared,
        "service check",
        |global, max| check_service_check(check, global, max),
        |buf, global, max| write_service_check(buf, check, global, max),
    )?;
    shared.ledger.service_check_queued();
    Ok(())
}

/// Checks, then queues one line: everything that can be refused is refused
/// (and counted) before the queue's lock is taken, so a full queue only ever
/// drops a line that could have been sent.
fn queue(
    shared: &Shared,
    what: &'static str,
    check: impl FnOnce(&[u8], usize) -> Result<usize, Error>,
    write: impl FnOnce(&mut Vec<u8>, &[u8], usize) -> Result<(), Error>,
) -> Result<(), Error> {
    if !shared.config.is_dogstatsd() {
        return Err(rejected(shared, Error::from(ErrorKind::NotDogStatsd(what))));
    }
    // The origin fields (`|c:`, `|e:`, `|card:`) end the line, after the
    // tags (and after a service check's message), as on metric lines.
    let trailer = shared.format.origin_trailer();
    let max_line = shared
        .config
        .max_line_length()
        .saturating_sub(trailer.len());
    let global = match global_tags(shared) {
        Ok(global) => global,
        Err(error) => return Err(rejected(shared, error)),
    };
    if let Err(error) = check(&global, max_line) {
        return Err(rejected(shared, error));
    }
    // Checked: only a full queue can refuse it now (dropped and counted).
    let write = Measured(|buf: &mut Vec<u8>| {
        write(buf, &global, max_line)?;
        if !trailer.is_empty() {
            buf.pop(); // the newline, written again after the trailer
            buf.extend_from_slice(&trailer);
            buf.push(b'\n');
        }
        Ok(())
    });
    shared.publish(1, Tally::OTHER, write).into_result()
}

/// The global tags in the DogStatsD dialect (`k:v,k2`), checked by the rules
/// of events and service checks (stricter than those of metrics on non-ASCII
/// line breaks). The format holds them rendered for the configured dialect;
/// for Influx or Graphite tags they are rendered here.
fn global_tags(shared: &Shared) -> Result<Cow<'_, [u8]>, Error> {
    let tags = &shared.config.global_tags;
    for (key, value) in tags {
        check_tags(&[(key.as_str(), value.as_str())])?;
    }
    if shared.format.tag_format() == TagFormat::DogStatsd {
        return Ok(Cow::Borrowed(shared.format.global_tags()));
    }
    Ok(Cow::Owned(render_tags(TagFormat::DogStatsd, tags)))
}

/// For [`Connector::send_line`](crate::Connector::send_line): an event (`_e{`) or service check (`_sc|`)
/// line is read, checked and sent as [`Connector::event`](crate::Connector::event) or
/// [`Connector::service_check`](crate::Connector::service_check) would send it (with the global tags, escapes
/// written the same way); `None` for any other line, which is a metric's.
///
/// A line with a field this crate does not write (an unknown one, or a value
/// that does not parse, which the Agent would skip) is refused, not repaired.
pub(crate) fn send_line(shared: &Shared, line: &str) -> Option<Result<(), Error>> {
    let result = if line.starts_with("_e{") {
        send_event_line(shared, line)
    } else if line.starts_with("_sc|") {
        send_service_check_line(shared, line)
    } else {
        return None;
    };
    Some(result)
}

fn send_event_line(shared: &Shared, line: &str) -> Result<(), Error> {
    if !shared.config.enabled {
        return Ok(());
    }
    let parsed = match parse_event(line) {
        Ok(parsed) if parsed.ignored_fields == 0 => parsed,
        Ok(_) => return Err(rejected(shared, unknown_fields(
            "only the fields d:, h:, k:, p: (normal, low), s:, t: (error, warning, info, success) and # after the text",
        ))),
        Err(error) => return Err(rejected(shared, error)),
    };
    let title = parsed.unescaped_title();
    let text = parsed.unescaped_text();
    let tags: Vec<(&str, &str)> = parsed.tag_pairs().collect();
    let mut event = Event::new(&title, &text)
        .hostname(parsed.hostname.unwrap_or_default())
        .aggregation_key(parsed.aggregation_key.unwrap_or_default())
        .source_type(parsed.source_type.unwrap_or_default())
        .tags(&tags);
    if let Some(timestamp) = parsed.timestamp {
        match u64::try_from(timestamp) {
            Ok(timestamp) => event = event.timestamp(timestamp),
            Err(_) => return Err(rejected(shared, negative("event timestamp", timestamp))),
        }
    }
    if let Some(priority) = parsed.priority {
        event = event.priority(priority);
    }
    if let Some(alert_type) = parsed.alert_type {
        event = event.alert_type(alert_type);
    }
    self::event(shared, &event)
}

fn send_service_check_line(shared: &Shared, line: &str) -> Result<(), Error> {
    if !shared.config.enabled {
        return Ok(());
    }
    let parsed = match parse_service_check(line) {
        Ok(parsed) if parsed.ignored_fields == 0 => parsed,
        Ok(_) => {
            return Err(rejected(
                shared,
                unknown_fields("only the fields d:, h:, # and m: after the status"),
            ))
        }
        Err(error) => return Err(rejected(shared, error)),
    };
    let message = parsed.unescaped_message().unwrap_or_default();
    let tags: Vec<(&str, &str)> = parsed.tag_pairs().collect();
    let mut check = ServiceCheck::new(parsed.name, parsed.status)
        .hostname(parsed.hostname.unwrap_or_default())
        .message(&message)
        .tags(&tags);
    if let Some(timestamp) = parsed.timestamp {
        match u64::try_from(timestamp) {
            Ok(timestamp) => check = check.timestamp(timestamp),
            Err(_) => {
                return Err(rejected(
                    shared,
                    negative("service check timestamp", timestamp),
                ))
            }
        }
    }
    service_check(shared, &check)
}

/// A field the Agent would skip: unknown, or a value that does not parse.
fn unknown_fields(expected: &'static str) -> Error {
    Error::from(ErrorKind::MalformedLine(Reason::Expected(expected)))
}

fn negative(field: &'static str, timestamp: i64) -> Error {
    invalid(field, &timestamp.to_string(), Reason::OutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Connector, ServiceCheckStatus, TagFormat};

    fn dogstatsd() -> Connector {
        Connector::builder()
            .host("localhost")
            .dogstatsd(true)
            .global_tag("env", "prod")
            .build()
            .unwrap()
    }

    #[test]
    fn refused_unless_dogstatsd_and_counted() {
        let plain = Connector::builder().host("localhost").build().unwrap();
        let error = plain.event(&Event::new("t", "x")).unwrap_err();
        assert!(matches!(error.kind(), ErrorKind::NotDogStatsd("event")));
        assert!(error.is_invalid_input());
        let check = ServiceCheck::new("a", ServiceCheckStatus::Ok);
        assert!(matches!(
            plain.service_check(&check).unwrap_err().kind(),
            ErrorKind::NotDogStatsd("service check")
        ));
        assert!(plain.send_line("_sc|a|0").is_err());
        let stats = plain.stats();
        assert_eq!((stats.rejected, stats.accepted, stats.events), (3, 0, 0));
    }

    #[test]
    fn disabled_does_nothing() {
        let off = Connector::builder()
            .host("localhost")
            .dogstatsd(true)
            .enabled(false)
            .build()
            .unwrap();
        off.event(&Event::new("", "")).unwrap();
        off.send_line("_e{oops").unwrap();
        assert_eq!(off.stats(), crate::Stats::default());
    }

    #[test]
    fn send_line_refuses_what_it_would_not_write() {
        let statsd = dogstatsd();
        for line in [
            "_e{1,1}:a|b|x:unknown",
            "_e{1,1}:a|b|p:urgent",
            "_e{1,1}:a|b|d:-5",
            "_e{2,1}:a|b",
            "_e{1,1}:a|\t",
            "_sc|a|4",
            "_sc|a|0|m:a|b",
            "_sc|a|0|#bad tag,",
        ] {
            let error = statsd.send_line(line).unwrap_err();
            assert!(error.is_invalid_input(), "{line}: {error}");
        }
        assert_eq!(statsd.stats().rejected, 8);
        statsd.send_line("_e{3,4}:a|b|c\\nd|p:low|#k:v").unwrap();
        statsd.send_line("_sc|a|1|m:m\\: x\\ny").unwrap();
        let stats = statsd.stats();
        assert_eq!(
            (stats.accepted, stats.events, stats.service_checks),
            (2, 1, 1)
        );
    }

    #[test]
    fn global_tags_in_another_dialect_are_rendered_for_dogstatsd() {
        let statsd = Connector::builder()
            .host("localhost")
            .dogstatsd(true)
            .tag_format(TagFormat::Influx)
            .global_tag("env", "prod")
            .global_tag("canary", "")
            .build()
            .unwrap();
        let global = global_tags(statsd.shared()).unwrap();
        assert_eq!(&*global, b"env:prod,canary");
    }

    #[test]
    fn too_long_is_rejected_not_dropped() {
        let statsd = Connector::builder()
            .host("localhost")
            .protocol(crate::Protocol::Udp)
            .dogstatsd(true)
            .build()
            .unwrap();
        let text = "x".repeat(statsd.config().max_line_length());
        let error = statsd.event(&Event::new("t", &text)).unwrap_err();
        assert!(matches!(error.kind(), ErrorKind::LineTooLong { .. }));
        let stats = statsd.stats();
        assert_eq!((stats.rejected, stats.dropped, stats.accepted), (1, 0, 0));
    }

    #[test]
    fn full_queue_drops_and_counts() {
        let statsd = Connector::builder()
            .host("localhost")
            .dogstatsd(true)
            .queue_capacity(1)
            .build()
            .unwrap();
        statsd.event(&Event::new("t", "x")).unwrap();
        let check = ServiceCheck::new("a", ServiceCheckStatus::Ok);
        assert!(statsd.service_check(&check).unwrap_err().is_queue_full());
        let stats = statsd.stats();
        assert_eq!(
            (
                stats.accepted,
                stats.dropped,
                stats.events,
                stats.service_checks
            ),
            (1, 1, 1, 0)
        );
    }
}
