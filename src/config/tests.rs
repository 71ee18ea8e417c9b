//! The configuration's rules: defaults, checks, and the environment.

use super::env::truthy;
use super::*;
use crate::error::ErrorKind;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

fn from_env(pairs: &[(&str, &str)]) -> Result<Config, Error> {
    Builder::from_env_with(env(pairs))?.build_config()
}

#[test]
fn defaults_match_the_original() {
    let config = Config::builder().host("h").build_config().unwrap();
    assert_eq!(config.port, 8125);
    assert_eq!(config.protocol, Protocol::Tcp);
    assert_eq!(config.reconnect_sleep, Duration::from_secs(1));
    assert_eq!(config.wait_timeout, Duration::from_millis(100));
    assert_eq!(config.max_payload, 1432);
    assert!(config.enabled);
}

#[test]
fn empty_host_is_an_error() {
    for builder in [Config::builder(), Config::builder().host("  ")] {
        let error = builder.build_config().unwrap_err();
        assert!(matches!(error.kind(), ErrorKind::EmptyHost), "{error:?}");
    }
}

#[test]
fn bad_ports_are_named() {
    let port_error = |b: Builder| match b.host("h").build_config().map_err(Error::into_kind) {
        Err(ErrorKind::InvalidPort { value, .. }) => value,
        other => panic!("{other:?}"),
    };
    assert_eq!(port_error(Config::builder().port(0)), "0");
    for text in ["0", "-1", "65536", "80a", "", "eighty"] {
        assert_eq!(port_error(Config::builder().port_text(text)), text);
    }
    let message = Config::builder()
        .host("h")
        .port_text("80a")
        .build_config()
        .unwrap_err()
        .to_string();
    assert_eq!(message, "invalid port \"80a\": not a number");
}

#[test]
fn protocols_parse_in_any_case_and_unknown_ones_are_named() {
    assert_eq!("UDP".parse::<Protocol>().unwrap(), Protocol::Udp);
    assert_eq!("tcp".parse::<Protocol>().unwrap(), Protocol::Tcp);
    let err = "sctp".parse::<Protocol>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown protocol \"sctp\": expected tcp, udp, unix or unixgram"
    );
}

#[test]
fn unix_addresses_choose_the_protocol_and_payload() {
    let config = Config::builder()
        .host("unix:///run/statsd.sock")
        .build_config()
        .unwrap();
    assert_eq!(
        (config.host(), config.protocol()),
        ("/run/statsd.sock", Protocol::Unix)
    );
    let config = Config::builder()
        .host("unixgram:///run/s.sock")
        .build_config()
        .unwrap();
    assert_eq!(config.protocol(), Protocol::Unixgram);
    assert_eq!(config.max_payload, DEFAULT_UNIX_MAX_PAYLOAD);
    let config = Config::builder()
        .host("unix:///run/s.sock")
        .protocol(Protocol::Udp)
        .build_config()
        .unwrap();
    assert_eq!(config.protocol(), Protocol::Unixgram);
    assert!(Config::builder().host("unix://").build_config().is_err());
}

#[test]
fn invalid_prefix_is_an_error() {
    let err = Config::builder()
        .host("h")
        .prefix("a:b")
        .build_config()
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidPrefix { prefix, .. } if prefix == "a:b"));
    assert!(Config::builder()
        .host("h")
        .prefix("app.")
        .build_config()
        .is_err());
}

#[test]
fn out_of_range_settings_are_errors() {
    let b = || Config::builder().host("h");
    assert!(b().queue_capacity(0).build_config().is_err());
    assert!(b().max_payload(10).build_config().is_err());
    assert!(b().max_payload(70_000).build_config().is_err());
    assert!(b().shards(0).build_config().is_err());
}

#[test]
fn environment_is_read() {
    let config = from_env(&[
        ("STATSD_HOST", "statsd.local"),
        ("STATSD_PORT", "9125"),
        ("STATSD_PREFIX", "svc"),
        ("STATSD_PROTOCOL", "udp"),
        ("STATSD_RECONNECT_SLEEP", "0.25"),
    ])
    .unwrap();
    assert_eq!(config.host(), "statsd.local");
    assert_eq!(config.port(), 9125);
    assert_eq!(config.prefix(), Some("svc"));
    assert_eq!(config.protocol(), Protocol::Udp);
    assert_eq!(config.reconnect_sleep, Duration::from_millis(250));
    assert!(config.enabled());
}

#[test]
fn no_host_in_the_environment_disables_metrics() {
    let config = from_env(&[]).unwrap();
    assert!(!config.enabled());
    assert!(!from_env(&[("STATSD_HOST", "")]).unwrap().enabled());
}

#[test]
fn enabled_follows_the_truthiness_rules() {
    for yes in ["1", "2", "-1", "0.5", "on", "T", "true", "TRUE", "Yes"] {
        assert!(truthy(yes), "{yes}");
        assert!(from_env(&[("STATSD_HOST", "h"), ("STATSD_ENABLED", yes)])
            .unwrap()
            .enabled());
    }
    for no in ["0", "0.0", "off", "false", "no", "", "nope", "f"] {
        assert!(!truthy(no), "{no}");
        assert!(!from_env(&[("STATSD_HOST", "h"), ("STATSD_ENABLED", no)])
            .unwrap()
            .enabled());
    }
}

#[test]
fn bad_environment_values_are_named() {
    let err = from_env(&[("STATSD_HOST", "h"), ("STATSD_PORT", "x")]).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidPort { value, .. } if value == "x"));
    let err = from_env(&[("STATSD_HOST", "h"), ("STATSD_PROTOCOL", "quic")]).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::UnknownProtocol(p) if p == "quic"));
    let err = from_env(&[("STATSD_HOST", "h"), ("STATSD_WAIT_TIMEOUT", "-1")]).unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::InvalidEnvironment {
            variable: "STATSD_WAIT_TIMEOUT",
            ..
        }
    ));
}
