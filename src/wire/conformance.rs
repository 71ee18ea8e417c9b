//! Conformance with Datadog's own tests, ported as facts (inputs and expected
//! outputs), one case a line:
//!
//! - the writer against the datagrams datadog-go's tests expect (and a few of
//!   datadogpy's), byte for byte;
//! - the parser against the valid and invalid datagrams of the Agent's parser
//!   tests, field by field as the Agent records them (an unset string is `""`,
//!   an unset timestamp `0`, the priority and alert type default to normal and
//!   info).
//!
//! Where this crate refuses what a client writes (an empty title or name, a tag
//! with a newline that datadog-go silently drops), the case says so and, when
//! the rest of the input is fine, a second line checks the same expected bytes
//! without the offending character. Cases left out are listed with the reason
//! next to their table.

use super::dogstatsd_parse::{
    datagram_kind, parse_event, parse_service_check, DatagramKind, ParsedEvent,
};
use super::event::{write_event, AlertType, Event, EventPriority};
use super::service_check::{write_service_check, ServiceCheck, ServiceCheckStatus};
use crate::error::{Error, ErrorKind};

/// 2016-08-15T00:00:00Z, the timestamp of datadog-go's format tests.
const AUG_15_2016: u64 = 1_471_219_200;

/// What the writer must do with a case.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Write this line; a missing final `\n` is added (datadog-go's `append*`
    /// functions leave it to the buffer).
    Line(&'static str),
    /// Refuse it.
    Refused,
}
use Expect::{Line, Refused};

struct EventCase {
    source: &'static str,
    event: Event<'static>,
    global: &'static str,
    expect: Expect,
}

const fn ev(
    source: &'static str,
    event: Event<'static>,
    global: &'static str,
    expect: Expect,
) -> EventCase {
    EventCase {
        source,
        event,
        global,
        expect,
    }
}

const EVENT: Event<'static> = Event::new("EvenTitle", "EventText");
const TAG1_TAG2: &[(&str, &str)] = &[("tag1", ""), ("tag2", "")];

#[rustfmt::skip]
const EVENT_WRITES: &[EventCase] = &[
    // DataDog/datadog-go statsd/format_test.go
    // Not ported to this table: TestFormatEventPriority, TestFormatEventAlertType
    // and TestFormatEventAllOptions give datadog-go's free-form priority and alert
    // type the placeholders "priority" and "alertType", which the typed
    // EventPriority and AlertType cannot hold (and the Agent ignores); their
    // datagrams are in DATADOG_GO_DATAGRAMS_READ below.
    ev("format_test.go TestFormatEvent", EVENT, "", Line("_e{9,9}:EvenTitle|EventText")),
    ev("format_test.go TestFormatEventEscapeText", Event::new("EvenTitle", "\nEventText\nLine2\n\nLine4\n"), "", Line(r"_e{9,29}:EvenTitle|\nEventText\nLine2\n\nLine4\n")),
    ev("format_test.go TestFormatEventTimeStamp", EVENT.timestamp(AUG_15_2016), "", Line("_e{9,9}:EvenTitle|EventText|d:1471219200")),
    ev("format_test.go TestFormatEventHostname", EVENT.hostname("hostname"), "", Line("_e{9,9}:EvenTitle|EventText|h:hostname")),
    ev("format_test.go TestFormatEventAggregationKey", EVENT.aggregation_key("aggregationKey"), "", Line("_e{9,9}:EvenTitle|EventText|k:aggregationKey")),
    ev("format_test.go TestFormatEventSourceTypeName", EVENT.source_type("sourceTypeName"), "", Line("_e{9,9}:EvenTitle|EventText|s:sourceTypeName")),
    ev("format_test.go TestFormatEventOneTag", EVENT, "tag:test", Line("_e{9,9}:EvenTitle|EventText|#tag:test")),
    ev("format_test.go TestFormatEventTwoTag", EVENT.tags(&[("tag1", "test")]), "tag2:test", Line("_e{9,9}:EvenTitle|EventText|#tag2:test,tag1:test")),
    // datadog-go writes `_e{0,0}:|`; the Agent refuses it (TestEventEmptyTitle).
    ev("format_test.go TestFormatEventNil", Event::new("", ""), "", Refused),

    // DataDog/datadog-go statsd/event_test.go
    ev("event_test.go TestEventEncode #1", Event::new("Hello", "Something happened to my event"), "", Line("_e{5,30}:Hello|Something happened to my event")),
    ev("event_test.go TestEventEncode #2", Event::new("hi", "okay").aggregation_key("foo"), "", Line("_e{2,4}:hi|okay|k:foo")),
    ev("event_test.go TestEventEncode #3", Event::new("hi", "okay").aggregation_key("foo").alert_type(AlertType::Info), "", Line("_e{2,4}:hi|okay|k:foo|t:info")),
    ev("event_test.go TestEventEncode #4", Event::new("hi", "w/e").alert_type(AlertType::Error).priority(EventPriority::Normal), "", Line("_e{2,3}:hi|w/e|p:normal|t:error")),
    ev("event_test.go TestEventEncode #5", Event::new("hi", "uh").tags(&[("host", "foo"), ("app", "bar")]), "", Line("_e{2,2}:hi|uh|#host:foo,app:bar")),
    // datadog-go drops the newline from the tag (`#helloworld`); this crate refuses the tag.
    ev("event_test.go TestEventEncode #6", Event::new("hi", "line1\nline2").tags(&[("hello\nworld", "")]), "", Refused),
    ev("event_test.go TestEventEncode #6, tag without its newline", Event::new("hi", "line1\nline2").tags(&[("helloworld", "")]), "", Line(r"_e{2,12}:hi|line1\nline2|#helloworld")),
    ev("event_test.go TestNewEventTitleMissing", Event::new("", "hi"), "", Refused),
    ev("event_test.go TestNewEvent", Event::new("hello", "world").tags(TAG1_TAG2), "", Line("_e{5,5}:hello|world|#tag1,tag2")),
    ev("event_test.go TestNewEventTagsAppend", Event::new("hello", "world").tags(TAG1_TAG2), "", Line("_e{5,5}:hello|world|#tag1,tag2")),
    ev("event_test.go TestNewEventEmptyText", Event::new("hello", "").tags(TAG1_TAG2), "", Line("_e{5,0}:hello||#tag1,tag2")),

    // DataDog/datadog-go statsd/buffer_test.go (the three other cases of the
    // test add the container ID `|c:`, external data `|e:` and cardinality
    // `|card:` fields, which these writers do not have).
    ev("buffer_test.go TestBufferEvent #1", Event::new("title", "text"), "tag:tag", Line("_e{5,4}:title|text|#tag:tag\n")),

    // DataDog/datadog-go statsd/test_helpers_test.go: sendAllType expects the
    // same event whether the client has a namespace or not (end_to_end_udp_test.go
    // runs it "With namespace"): the namespace is not applied to events.
    ev("test_helpers_test.go sendAllType", Event::new("hello", "world"), "", Line("_e{5,5}:hello|world")),

    // DataDog/datadogpy tests/unit/dogstatsd/test_statsd.py (the `|card:` field
    // of test_event's first case is left out, as above). Not ported: the second
    // case of test_event_constant_tags, where datadogpy writes the constant tags
    // after the event's (`#t1,t2:v2,bar:baz,foo`); this crate writes them first,
    // as datadog-go does.
    ev("test_statsd.py test_event #1", Event::new("Title", "L1\nL2").priority(EventPriority::Low).timestamp(1_375_296_969), "", Line(r"_e{5,6}:Title|L1\nL2|d:1375296969|p:low")),
    ev("test_statsd.py test_event #2", Event::new("Title", "♬ †øU †øU ¥ºu T0µ ♪").aggregation_key("key").tags(&[("t1", ""), ("t2", "v2")]), "", Line("_e{5,32}:Title|♬ †øU †øU ¥ºu T0µ ♪|k:key|#t1,t2:v2")),
    ev("test_statsd.py test_unicode_event", Event::new("my.prefix.Delivery - Daily Settlement Summary Report Delivery — Invoice Cloud succeeded", "Delivered — destination.csv"), "", Line("_e{89,29}:my.prefix.Delivery - Daily Settlement Summary Report Delivery — Invoice Cloud succeeded|Delivered — destination.csv")),
    ev("test_statsd.py test_event_matching_signature", Event::new("foo", "bar1"), "", Line("_e{3,4}:foo|bar1")),
    ev("test_statsd.py test_event_constant_tags #1", Event::new("Title", "L1\nL2").priority(EventPriority::Low).timestamp(1_375_296_969), "bar:baz,foo", Line(r"_e{5,6}:Title|L1\nL2|d:1375296969|p:low|#bar:baz,foo")),
];

struct CheckCase {
    source: &'static str,
    check: ServiceCheck<'static>,
    global: &'static str,
    expect: Expect,
}

const fn sc(
    source: &'static str,
    check: ServiceCheck<'static>,
    global: &'static str,
    expect: Expect,
) -> CheckCase {
    CheckCase {
        source,
        check,
        global,
        expect,
    }
}

const OK: ServiceCheckStatus = ServiceCheckStatus::Ok;
const CHECK: ServiceCheck<'static> = ServiceCheck::new("service.check", OK);
const CAT: ServiceCheck<'static> =
    ServiceCheck::new("DataCatService", OK).hostname("DataStation.Cat");
const HOST_APP: &[(&str, &str)] = &[("host", "foo"), ("app", "bar")];
const PY_MESSAGE: &str = "♬ †øU \n†øU ¥ºu|m: T0µ ♪";

#[rustfmt::skip]
const CHECK_WRITES: &[CheckCase] = &[
    // DataDog/datadog-go statsd/format_test.go
    sc("format_test.go TestFormatServiceCheck", CHECK, "", Line("_sc|service.check|0")),
    sc("format_test.go TestFormatServiceCheckEscape", CHECK.message("\n\nmessagem:hello...\n\nm:aa\nm:m"), "", Line(r"_sc|service.check|0|m:\n\nmessagem\:hello...\n\nm\:aa\nm\:m")),
    sc("format_test.go TestFormatServiceCheckTimestamp", CHECK.timestamp(AUG_15_2016), "", Line("_sc|service.check|0|d:1471219200")),
    sc("format_test.go TestFormatServiceCheckHostname", CHECK.hostname("hostname"), "", Line("_sc|service.check|0|h:hostname")),
    sc("format_test.go TestFormatServiceCheckMessage", CHECK.message("message"), "", Line("_sc|service.check|0|m:message")),
    sc("format_test.go TestFormatServiceCheckOneTag", CHECK.tags(&[("tag", "tag")]), "", Line("_sc|service.check|0|#tag:tag")),
    sc("format_test.go TestFormatServiceCheckTwoTag", CHECK.tags(&[("tag1", "tag1")]), "tag2:tag2", Line("_sc|service.check|0|#tag2:tag2,tag1:tag1")),
    sc("format_test.go TestFormatServiceCheckAllOptions", CHECK.timestamp(AUG_15_2016).hostname("hostname").message("message").tags(&[("tag1", "tag1")]), "tag2:tag2", Line("_sc|service.check|0|d:1471219200|h:hostname|#tag2:tag2,tag1:tag1|m:message")),
    // datadog-go writes `_sc||0`; the Agent refuses it (TestServiceCheckError `_sc||`).
    sc("format_test.go TestFormatServiceCheckNil", ServiceCheck::new("", OK), "", Refused),

    // DataDog/datadog-go statsd/service_check_test.go
    // TestUnknownStatus (status 5) cannot be built with the enum: see
    // `unknown_status_is_not_a_status` below.
    sc("service_check_test.go TestServiceChecks #1", ServiceCheck::new("DataCatService", OK), "", Line("_sc|DataCatService|0")),
    sc("service_check_test.go TestServiceChecks #2", ServiceCheck::new("DataCatService", ServiceCheckStatus::Warning), "", Line("_sc|DataCatService|1")),
    sc("service_check_test.go TestServiceChecks #3", ServiceCheck::new("DataCatService", ServiceCheckStatus::Critical), "", Line("_sc|DataCatService|2")),
    sc("service_check_test.go TestServiceChecks #4", ServiceCheck::new("DataCatService", ServiceCheckStatus::Unknown), "", Line("_sc|DataCatService|3")),
    sc("service_check_test.go TestServiceChecks #5", CAT, "", Line("_sc|DataCatService|0|h:DataStation.Cat")),
    sc("service_check_test.go TestServiceChecks #6", CAT.message("Here goes valuable message"), "", Line("_sc|DataCatService|0|h:DataStation.Cat|m:Here goes valuable message")),
    sc("service_check_test.go TestServiceChecks #7", CAT.message("Here are some cyrillic chars: к л м н о п р с т у ф х ц ч ш"), "", Line("_sc|DataCatService|0|h:DataStation.Cat|m:Here are some cyrillic chars: к л м н о п р с т у ф х ц ч ш")),
    sc("service_check_test.go TestServiceChecks #8", CAT.message("Here goes valuable message").tags(HOST_APP), "", Line("_sc|DataCatService|0|h:DataStation.Cat|#host:foo,app:bar|m:Here goes valuable message")),
    // datadog-go drops the newline from the tag value (`app:bar`); this crate refuses the tag.
    sc("service_check_test.go TestServiceChecks #9", CAT.message("Here goes \n that should be escaped").tags(&[("host", "foo"), ("app", "b\nar")]), "", Refused),
    sc("service_check_test.go TestServiceChecks #9, tag without its newline", CAT.message("Here goes \n that should be escaped").tags(HOST_APP), "", Line(r"_sc|DataCatService|0|h:DataStation.Cat|#host:foo,app:bar|m:Here goes \n that should be escaped")),
    sc("service_check_test.go TestServiceChecks #10", CAT.message("Here goes m: that should be escaped").tags(HOST_APP), "", Line(r"_sc|DataCatService|0|h:DataStation.Cat|#host:foo,app:bar|m:Here goes m\: that should be escaped")),
    sc("service_check_test.go TestNameMissing", ServiceCheck::new("", OK), "", Refused),
    sc("service_check_test.go TestNewServiceCheckWithTags", ServiceCheck::new("hello", ServiceCheckStatus::Warning).tags(TAG1_TAG2), "", Line("_sc|hello|1|#tag1,tag2")),
    sc("service_check_test.go TestNewServiceCheckWithTagsAppend", ServiceCheck::new("hello", ServiceCheckStatus::Warning).tags(TAG1_TAG2), "", Line("_sc|hello|1|#tag1,tag2")),

    // DataDog/datadog-go statsd/buffer_test.go (the other three cases add `|c:`,
    // `|e:`, `|card:`).
    sc("buffer_test.go TestBufferServiceCheck #1", ServiceCheck::new("name", OK), "tag:tag", Line("_sc|name|0|#tag:tag\n")),

    // DataDog/datadog-go statsd/test_helpers_test.go: no namespace on service
    // checks either.
    sc("test_helpers_test.go sendAllType", ServiceCheck::new("hello", ServiceCheckStatus::Warning), "", Line("_sc|hello|1")),

    // DataDog/datadogpy tests/unit/dogstatsd/test_statsd.py: datadogpy writes the
    // `|` of this message as is, and the Agent 7 would end the message there and
    // read `m\: T0µ ♪` as an unknown field; this crate refuses the message.
    sc("test_statsd.py test_service_check", ServiceCheck::new("my_check.name", ServiceCheckStatus::Warning).tags(&[("key1", "val1"), ("key2", "val2")]).timestamp(1_375_296_969).hostname("i-abcd1234").message(PY_MESSAGE), "", Refused),
    sc("test_statsd.py test_service_check_constant_tags", ServiceCheck::new("my_check.name", ServiceCheckStatus::Warning).timestamp(1_375_296_969).hostname("i-abcd1234").message(PY_MESSAGE), "bar:baz,foo", Refused),
];

fn expected_line(line: &str) -> String {
    if line.ends_with('\n') {
        line.to_owned()
    } else {
        format!("{line}\n")
    }
}

#[test]
fn the_event_writer_matches_the_clients() {
    for case in EVENT_WRITES {
        let mut buf = b"before\n".to_vec();
        let result = write_event(&mut buf, &case.event, case.global.as_bytes(), 8192);
        match (case.expect, result) {
            (Line(line), Ok(())) => {
                let written = std::str::from_utf8(&buf[7..]).unwrap();
                assert_eq!(written, expected_line(line), "{}", case.source);
                // What the writer produces, the parser reads (the property
                // tests check it field by field).
                parse_event(written).unwrap();
            }
            (Refused, Err(_)) => assert_eq!(buf, b"before\n", "{}", case.source),
            (expect, result) => panic!("{}: expected {expect:?}, got {result:?}", case.source),
        }
    }
}

#[test]
fn the_service_check_writer_matches_the_clients() {
    for case in CHECK_WRITES {
        let mut buf = b"before\n".to_vec();
        let result = write_service_check(&mut buf, &case.check, case.global.as_bytes(), 8192);
        match (case.expect, result) {
            (Line(line), Ok(())) => {
                let written = std::str::from_utf8(&buf[7..]).unwrap();
                assert_eq!(written, expected_line(line), "{}", case.source);
                parse_service_check(written).unwrap();
            }
            (Refused, Err(_)) => assert_eq!(buf, b"before\n", "{}", case.source),
            (expect, result) => panic!("{}: expected {expect:?}, got {result:?}", case.source),
        }
    }
}

/// DataDog/datadog-go statsd/service_check_test.go TestUnknownStatus: 5 is not
/// a status.
#[test]
fn unknown_status_is_not_a_status() {
    assert_eq!(ServiceCheckStatus::from_code(5), None);
    assert!("5".parse::<ServiceCheckStatus>().is_err());
    assert!(parse_service_check("_sc|sc|5").is_err());
}

/// An event as the Agent records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AgentEvent {
    title: &'static str,
    text: &'static str,
    timestamp: i64,
    hostname: &'static str,
    aggregation_key: &'static str,
    priority: EventPriority,
    source_type: &'static str,
    alert_type: AlertType,
    tags: &'static [&'static str],
    /// Fields the Agent skips (logs and ignores).
    ignored: usize,
}

const MINIMAL: AgentEvent = AgentEvent {
    title: "test title",
    text: "test text",
    timestamp: 0,
    hostname: "",
    aggregation_key: "",
    priority: EventPriority::Normal,
    source_type: "",
    alert_type: AlertType::Info,
    tags: &[],
    ignored: 0,
};

const TITLE_TEXT: AgentEvent = AgentEvent {
    title: "title",
    text: "text",
    ..MINIMAL
};

const EVEN_TITLE: AgentEvent = AgentEvent {
    title: "EvenTitle",
    text: "EventText",
    ..MINIMAL
};

fn as_agent(parsed: &ParsedEvent<'_>) -> (String, String, AgentEvent) {
    (
        parsed.unescaped_title().into_owned(),
        parsed.unescaped_text().into_owned(),
        AgentEvent {
            title: "",
            text: "",
            timestamp: parsed.timestamp.unwrap_or(0),
            hostname: "",
            aggregation_key: "",
            priority: parsed.effective_priority(),
            source_type: "",
            alert_type: parsed.effective_alert_type(),
            tags: &[],
            ignored: parsed.ignored_fields,
        },
    )
}

#[rustfmt::skip]
const VALID_EVENTS: &[(&str, &str, AgentEvent)] = &[
    // DataDog/datadog-agent comp/dogstatsd/server/impl/parse_events_test.go (the
    // same cases as the older comp/dogstatsd/server/parse_events_test.go)
    ("TestEventMinimal", "_e{10,9}:test title|test text", MINIMAL),
    ("TestEventMultilinesText", r"_e{10,24}:test title|test\line1\nline2\nline3", AgentEvent { text: "test\\line1\nline2\nline3", ..MINIMAL }),
    ("TestEventPipeInTitle", r"_e{10,24}:test|title|test\line1\nline2\nline3", AgentEvent { title: "test|title", text: "test\\line1\nline2\nline3", ..MINIMAL }),
    // TestEventError: the lines it expects no error for; the test checks only
    // that, the values follow from the parser (the bad field is skipped).
    ("TestEventError invalid timestamp", "_e{5,4}:title|text|d:abc", AgentEvent { ignored: 1, ..TITLE_TEXT }),
    ("TestEventError invalid priority", "_e{5,4}:title|text|p:urgent", AgentEvent { ignored: 1, ..TITLE_TEXT }),
    ("TestEventError invalid priority (again)", "_e{5,4}:title|text|p:urgent", AgentEvent { ignored: 1, ..TITLE_TEXT }),
    ("TestEventError invalid alert type", "_e{5,4}:title|text|t:test", AgentEvent { ignored: 1, ..TITLE_TEXT }),
    ("TestEventError unknown metadata", "_e{5,4}:title|text|x:1234", AgentEvent { ignored: 1, ..TITLE_TEXT }),
    ("TestEventMetadataTimestamp", "_e{10,9}:test title|test text|d:21", AgentEvent { timestamp: 21, ..MINIMAL }),
    ("TestEventMetadataPriority", "_e{10,9}:test title|test text|p:low", AgentEvent { priority: EventPriority::Low, ..MINIMAL }),
    // The test does not check the hostname; the value follows from the parser.
    ("TestEventMetadataHostname", "_e{10,9}:test title|test text|h:localhost", AgentEvent { hostname: "localhost", ..MINIMAL }),
    ("TestEventMetadataAlertType", "_e{10,9}:test title|test text|t:warning", AgentEvent { alert_type: AlertType::Warning, ..MINIMAL }),
    ("TestEventMetadataAggregatioKey", "_e{10,9}:test title|test text|k:some aggregation key", AgentEvent { aggregation_key: "some aggregation key", ..MINIMAL }),
    ("TestEventMetadataSourceType", "_e{10,9}:test title|test text|s:this is the source", AgentEvent { source_type: "this is the source", ..MINIMAL }),
    ("TestEventMetadataTags", "_e{10,9}:test title|test text|#tag1,tag2:test", AgentEvent { tags: &["tag1", "tag2:test"], ..MINIMAL }),
    ("TestEventMetadataMultiple", "_e{10,9}:test title|test text|t:warning|d:12345|p:low|h:some.host|k:aggKey|s:source test|#tag1,tag2:test", AgentEvent { timestamp: 12345, priority: EventPriority::Low, tags: &["tag1", "tag2:test"], alert_type: AlertType::Warning, aggregation_key: "aggKey", source_type: "source test", hostname: "some.host", ..MINIMAL }),
    ("TestEventEmptyText", "_e{10,0}:test title|", AgentEvent { text: "", ..MINIMAL }),
    ("TestEventEmptyTextWithAlertType", "_e{10,0}:test title||t:warning", AgentEvent { text: "", alert_type: AlertType::Warning, ..MINIMAL }),

    // DataDog/datadog-agent comp/dogstatsd/server/impl/parse_events_fuzz_test.go
    // FuzzParseEvent: its seed corpus (all five are also cases above; the fuzz
    // test asserts nothing, the values follow from the parser).
    ("FuzzParseEvent seed 1", "_e{10,9}:test title|test text", MINIMAL),
    ("FuzzParseEvent seed 2", r"_e{10,24}:test|title|test\line1\nline2\nline3", AgentEvent { title: "test|title", text: "test\\line1\nline2\nline3", ..MINIMAL }),
    ("FuzzParseEvent seed 3", "_e{10,9}:test title|test text|s:this is the source", AgentEvent { source_type: "this is the source", ..MINIMAL }),
    ("FuzzParseEvent seed 4", "_e{10,9}:test title|test text|t:warning|d:12345|p:low|h:some.host|k:aggKey|s:source test|#tag1,tag2:test", AgentEvent { timestamp: 12345, priority: EventPriority::Low, tags: &["tag1", "tag2:test"], alert_type: AlertType::Warning, aggregation_key: "aggKey", source_type: "source test", hostname: "some.host", ..MINIMAL }),
    ("FuzzParseEvent seed 5", "_e{10,0}:test title||t:warning", AgentEvent { text: "", alert_type: AlertType::Warning, ..MINIMAL }),
];

#[rustfmt::skip]
const INVALID_EVENTS: &[(&str, &str)] = &[
    // DataDog/datadog-agent comp/dogstatsd/server/impl/parse_events_test.go
    ("TestEventError missing length header", "_e:title|text"),
    ("TestEventError greater length than packet", "_e{10,10}:title|text"),
    ("TestEventError zero length title", "_e{0,0}:a|a"),
    ("TestEventError zero length title", "_e{0,4}:text"),
    ("TestEventError missing title or text length", "_e{5555:title|text"),
    ("TestEventError wrong len format", "_e{a,1}:title|text"),
    ("TestEventError wrong len format", "_e{1,a}:title|text"),
    ("TestEventError missing title or text length", "_e{5,}:title|text"),
    ("TestEventError missing title or text length", "_e{,4}:title|text"),
    ("TestEventError missing title or text length", "_e{}:title|text"),
    ("TestEventError missing title or text length", "_e{,}:title|text"),
    ("TestEventError not enough information", "_e|text"),
    ("TestEventError not enough information", "_e:|text"),
    ("TestEventError invalid title length", "_e{-123,-987}:"),
    ("TestEventError invalid text length", "_e{5,-987}:title"),
    ("TestEventError malformed message", "_e{0001,-9876"),
    ("TestEventEmptyTitle", "_e{0,9}:|test text"),
    // DataDog/datadog-agent comp/dogstatsd/server/impl/testdata/fuzz/FuzzParseEventWithEnrich/cf83c5a5edf44df4
    ("FuzzParseEventWithEnrich corpus cf83c5a5edf44df4", "0001000000000000000000,90000000000000000000:"),
];

#[rustfmt::skip]
const DATADOG_GO_DATAGRAMS_READ: &[(&str, &str, AgentEvent)] = &[
    // DataDog/datadog-go statsd/format_test.go: the datagrams of the cases the
    // typed writer cannot produce, read by the Agent's rules (the placeholder
    // priority and alert type are skipped).
    ("format_test.go TestFormatEventPriority", "_e{9,9}:EvenTitle|EventText|p:priority", AgentEvent { ignored: 1, ..EVEN_TITLE }),
    ("format_test.go TestFormatEventAlertType", "_e{9,9}:EvenTitle|EventText|t:alertType", AgentEvent { ignored: 1, ..EVEN_TITLE }),
    ("format_test.go TestFormatEventAllOptions", "_e{9,9}:EvenTitle|EventText|d:1471219200|h:hostname|k:aggregationKey|p:priority|s:SourceTypeName|t:alertType|#tag:global,tag:normal", AgentEvent { timestamp: 1_471_219_200, hostname: "hostname", aggregation_key: "aggregationKey", source_type: "SourceTypeName", tags: &["tag:global", "tag:normal"], ignored: 2, ..EVEN_TITLE }),
];

fn check_valid_event(source: &str, line: &str, expected: &AgentEvent) {
    let parsed = parse_event(line).unwrap_or_else(|e| panic!("{source}: {line:?}: {e}"));
    let (title, text, numbers) = as_agent(&parsed);
    assert_eq!(
        (title.as_str(), text.as_str()),
        (expected.title, expected.text),
        "{source}"
    );
    assert_eq!(
        numbers,
        AgentEvent {
            title: "",
            text: "",
            hostname: "",
            aggregation_key: "",
            source_type: "",
            tags: &[],
            ..*expected
        },
        "{source}"
    );
    assert_eq!(parsed.hostname.unwrap_or(""), expected.hostname, "{source}");
    assert_eq!(
        parsed.aggregation_key.unwrap_or(""),
        expected.aggregation_key,
        "{source}"
    );
    assert_eq!(
        parsed.source_type.unwrap_or(""),
        expected.source_type,
        "{source}"
    );
    assert_eq!(parsed.tags().collect::<Vec<_>>(), expected.tags, "{source}");
}

#[test]
fn the_event_parser_accepts_what_the_agent_accepts() {
    for (source, line, expected) in VALID_EVENTS.iter().chain(DATADOG_GO_DATAGRAMS_READ) {
        check_valid_event(source, line, expected);
    }
}

#[test]
fn the_event_parser_refuses_what_the_agent_refuses() {
    for (source, line) in INVALID_EVENTS {
        assert!(
            matches!(
                parse_event(line).map_err(Error::into_kind),
                Err(ErrorKind::MalformedLine(_))
            ),
            "{source}: {line:?} was accepted"
        );
    }
    // DataDog/datadog-go statsd/format_test.go TestFormatEventNil writes this;
    // the Agent refuses it.
    assert!(parse_event("_e{0,0}:|").is_err());
}

/// A service check as the Agent records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AgentCheck {
    name: &'static str,
    status: ServiceCheckStatus,
    timestamp: i64,
    hostname: &'static str,
    message: &'static str,
    tags: &'static [&'static str],
    ignored: usize,
}

const AGENT_UP: AgentCheck = AgentCheck {
    name: "agent.up",
    status: ServiceCheckStatus::Ok,
    timestamp: 0,
    hostname: "",
    message: "",
    tags: &[],
    ignored: 0,
};

#[rustfmt::skip]
const VALID_CHECKS: &[(&str, &str, AgentCheck)] = &[
    // DataDog/datadog-agent comp/dogstatsd/server/impl/parse_service_checks_test.go
    ("TestServiceCheckMinimal", "_sc|agent.up|0", AGENT_UP),
    // TestServiceCheckError: the lines it expects no error for (values follow
    // from the parser: the bad field is skipped).
    ("TestServiceCheckError invalid timestamp", "_sc|agent.up|0|d:some_time", AgentCheck { ignored: 1, ..AGENT_UP }),
    ("TestServiceCheckError unknown metadata", "_sc|agent.up|0|u:unknown", AgentCheck { ignored: 1, ..AGENT_UP }),
    ("TestServiceCheckMetadataTimestamp", "_sc|agent.up|0|d:21", AgentCheck { timestamp: 21, ..AGENT_UP }),
    ("TestServiceCheckMetadataHostname", "_sc|agent.up|0|h:localhost", AgentCheck { hostname: "localhost", ..AGENT_UP }),
    ("TestServiceCheckMetadataTags", "_sc|agent.up|0|#tag1,tag2:test,tag3", AgentCheck { tags: &["tag1", "tag2:test", "tag3"], ..AGENT_UP }),
    ("TestServiceCheckMetadataMessage", "_sc|agent.up|0|m:this is fine", AgentCheck { message: "this is fine", ..AGENT_UP }),
    ("TestServiceCheckMetadataMultiple all types", "_sc|agent.up|0|d:21|h:localhost|#tag1:test,tag2|m:this is fine", AgentCheck { hostname: "localhost", timestamp: 21, message: "this is fine", tags: &["tag1:test", "tag2"], ..AGENT_UP }),
    ("TestServiceCheckMetadataMultiple repeated fields", "_sc|agent.up|0|d:21|h:localhost|h:localhost2|d:22", AgentCheck { hostname: "localhost2", timestamp: 22, ..AGENT_UP }),

    // DataDog/datadog-agent comp/dogstatsd/server/impl/parse_service_checks_fuzz_test.go
    // FuzzParseServiceCheck: its seed corpus (seeds 1, 4 and 5 are also cases
    // above; the fuzz test asserts nothing, the values follow from the parser).
    ("FuzzParseServiceCheck seed 1", "_sc|agent.up|0", AGENT_UP),
    ("FuzzParseServiceCheck seed 2", "_sc|agent.up|0|d:12345|h:some.host|#tag1,tag2:test", AgentCheck { timestamp: 12345, hostname: "some.host", tags: &["tag1", "tag2:test"], ..AGENT_UP }),
    ("FuzzParseServiceCheck seed 3", "_sc|agent.up|0|d:12345|h:some.host|#tag1,tag2:test|m:some message", AgentCheck { timestamp: 12345, hostname: "some.host", tags: &["tag1", "tag2:test"], message: "some message", ..AGENT_UP }),
    ("FuzzParseServiceCheck seed 4", "_sc|agent.up|0|#tag1,tag2:test,tag3", AgentCheck { tags: &["tag1", "tag2:test", "tag3"], ..AGENT_UP }),
    ("FuzzParseServiceCheck seed 5", "_sc|agent.up|0|d:21|h:localhost|h:localhost2|d:22", AgentCheck { hostname: "localhost2", timestamp: 22, ..AGENT_UP }),
];

#[rustfmt::skip]
const INVALID_CHECKS: &[(&str, &str)] = &[
    // DataDog/datadog-agent comp/dogstatsd/server/impl/parse_service_checks_test.go
    ("TestServiceCheckError not enough information", "_sc|agent.up"),
    ("TestServiceCheckError not enough information", "_sc|agent.up|"),
    ("TestServiceCheckError not enough information", "_sc||"),
    ("TestServiceCheckError not enough information", "_sc|"),
    ("TestServiceCheckError invalid status", "_sc|agent.up|OK"),
    ("TestServiceCheckError unknown status", "_sc|agent.up|21"),
];

#[test]
fn the_service_check_parser_accepts_what_the_agent_accepts() {
    for (source, line, expected) in VALID_CHECKS {
        let parsed =
            parse_service_check(line).unwrap_or_else(|e| panic!("{source}: {line:?}: {e}"));
        let got = AgentCheck {
            name: expected.name,
            status: parsed.status,
            timestamp: parsed.timestamp.unwrap_or(0),
            hostname: expected.hostname,
            message: expected.message,
            tags: expected.tags,
            ignored: parsed.ignored_fields,
        };
        assert_eq!(got, *expected, "{source}");
        assert_eq!(parsed.name, expected.name, "{source}");
        assert_eq!(parsed.hostname.unwrap_or(""), expected.hostname, "{source}");
        assert_eq!(parsed.message.unwrap_or(""), expected.message, "{source}");
        assert_eq!(parsed.tags().collect::<Vec<_>>(), expected.tags, "{source}");
    }
}

#[test]
fn the_service_check_parser_refuses_what_the_agent_refuses() {
    for (source, line) in INVALID_CHECKS {
        assert!(
            matches!(
                parse_service_check(line).map_err(Error::into_kind),
                Err(ErrorKind::MalformedLine(_))
            ),
            "{source}: {line:?} was accepted"
        );
    }
    // DataDog/datadog-go statsd/format_test.go TestFormatServiceCheckNil writes
    // this; the Agent refuses it.
    assert!(parse_service_check("_sc||0").is_err());
}

#[rustfmt::skip]
const KINDS: &[(&str, &str, DatagramKind)] = &[
    // DataDog/datadog-agent comp/dogstatsd/server/impl/parse_test.go
    ("TestIdentifyEvent", "_e{4,5}:title|text|#shell,bash", DatagramKind::Event),
    ("TestIdentifyServiceCheck", "_sc|NAME|STATUS|d:TIMESTAMP|h:HOSTNAME|#TAG_KEY_1:TAG_VALUE_1,TAG_2|m:SERVICE_CHECK_MESSAGE", DatagramKind::ServiceCheck),
    ("TestIdentifyMetricSample", "song.length:240|h|@0.5", DatagramKind::Metric),
    ("TestIdentifyRandomString", "song.length:240|h|@0.5", DatagramKind::Metric),
];

#[test]
fn lines_are_classified_by_prefix() {
    for (source, line, kind) in KINDS {
        assert_eq!(datagram_kind(line), *kind, "{source}");
    }
    // Those two are only classified by the Agent's test; as datagrams they are
    // refused: the lengths 4,5 do not match "title" and "text", and STATUS is
    // not a status.
    assert!(parse_event(KINDS[0].1).is_err());
    assert!(parse_service_check(KINDS[1].1).is_err());
}

#[rustfmt::skip]
const TAG_LISTS: &[(&str, &str, &[&str])] = &[
    // DataDog/datadog-agent comp/dogstatsd/server/impl/parse_test.go (the tag
    // list given to the parser, here inside a service check's `#` field)
    ("TestParseTags", "tag:test,mytag,good:boy", &["tag:test", "mytag", "good:boy"]),
    ("TestParseTagsEmpty", "", &[]),
];

#[test]
fn tag_lists_split_like_the_agent() {
    for (source, raw, expected) in TAG_LISTS {
        let line = format!("_sc|check|0|#{raw}");
        let parsed = parse_service_check(&line).unwrap();
        assert_eq!(parsed.tags().collect::<Vec<_>>(), *expected, "{source}");
        assert_eq!(parsed.tags.is_none(), expected.is_empty(), "{source}");
    }
}
