//! Server addresses written as text.
//!
//! Why one type: an address reaches the connector from the builder, from
//! `STATSD_HOST`, from `DD_DOGSTATSD_URL` / `DD_AGENT_HOST` and from the CLI.
//! Parsing it in one place gives every source the same forms, the same
//! meaning for each form and the same error messages, and lets the rest of the
//! configuration match on a value instead of on string prefixes.
//!
//! Each form has exactly one meaning:
//!
//! | text | variant | meaning |
//! |---|---|---|
//! | `udp://host:port`, `udp://host` | [`Address::Udp`] | UDP datagrams; port 8125 when left out |
//! | `tcp://host:port`, `tcp://host` | [`Address::Tcp`] | a TCP stream of newline-separated lines; port 8125 when left out |
//! | `unixgram://path` | [`Address::Unixgram`] | Unix datagrams |
//! | `unixstream://path` | [`Address::UnixStream`] | a Unix stream in the Datadog Agent's framing: each payload preceded by its length, 4 bytes little-endian |
//! | `unix://path` | [`Address::Unix`] | a Unix socket of either kind, found by looking at the socket when connecting (the background's Unix transport does); for a stream, the caller decides the framing |
//! | `statsd.internal`, `10.0.0.7`, `::1`, `[::1]` | [`Address::Host`] | a host alone: port and protocol are given elsewhere (`STATSD_PORT`, `STATSD_PROTOCOL`, the builder), as `STATSD_HOST` means today |
//! | `statsd.internal:9125`, `[::1]:9125` | [`Address::HostPort`] | a host and port: the protocol is given elsewhere |
//! | `/run/statsd.sock` | [`Address::Path`] | a Unix socket path whose kind the protocol setting gives (`STATSD_PROTOCOL=unix` or `unixgram`), as `STATSD_HOST=/path` means today |
//!
//! Rules that apply to every form:
//!
//! - Surrounding whitespace is ignored; schemes are matched in any case.
//! - A host is a DNS name or IPv4 address (ASCII letters, digits, `-`, `.`,
//!   `_`, at most 253 bytes) or an IPv6 address. With a scheme or a port, an
//!   IPv6 address goes in brackets (`udp://[::1]:8125`); a bare IPv6 address
//!   (`::1`, `fe80::8125`) is always a host alone, never `host:port`.
//! - A port is a decimal number from 1 to 65535.
//! - A socket path is non-empty, has no NUL byte and fits a Unix socket
//!   address (at most 107 bytes on Linux). Relative paths are accepted after a
//!   scheme (`unix://run/dsd.socket`, as datadog-go accepts them); without a
//!   scheme only an absolute path is recognised as a path.
//!
//! Errors are [`ErrorKind::InvalidAddress`], naming the input and the bad part:
//! `invalid address "udp://:8125": empty host`.
//!
//! [`Display`](fmt::Display) writes the canonical text of an address, which
//! parses back to the same value.

use std::fmt;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Error, ErrorKind};

/// The port statsd servers and the Datadog Agent listen on by default.
pub(crate) const DEFAULT_PORT: u16 = 8125;

/// The longest socket path a Unix socket address holds, in bytes (the size of
/// `sun_path` less the terminating NUL).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) const MAX_UNIX_PATH: usize = 107;

/// The longest socket path a Unix socket address holds, in bytes (the size of
/// `sun_path` less the terminating NUL).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub const MAX_UNIX_PATH: usize = 103;

/// The longest DNS name, in bytes.
const MAX_HOST: usize = 253;

/// The schemes [`Address`] reads, for error messages.
const SCHEMES: &str = "udp, tcp, unix, unixgram or unixstream";

/// A statsd server address; see the [module documentation](self) for the
/// forms and their meaning.
///
/// Hosts are kept as written (IPv6 addresses normalised and without
/// brackets); nothing is resolved here.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub(crate) enum Address {
    /// A host alone (`statsd.internal`, `10.0.0.7`, `::1`): the port and the
    /// protocol come from elsewhere.
    Host(String),
    /// A host and a port (`statsd.internal:9125`, `[::1]:9125`): the
    /// protocol comes from elsewhere.
    HostPort {
        /// The host name or IP address, IPv6 without brackets.
        host: String,
        /// The port, 1 to 65535.
        port: u16,
    },
    /// An absolute socket path without a scheme (`/run/statsd.sock`): the
    /// protocol setting says whether it is a stream or a datagram socket.
    Path(PathBuf),
    /// `udp://host:port`: UDP datagrams.
    Udp {
        /// The host name or IP address, IPv6 without brackets.
        host: String,
        /// The port, 1 to 65535 ([`DEFAULT_PORT`] when the text had none).
        port: u16,
    },
    /// `tcp://host:port`: a TCP stream of newline-separated lines.
    Tcp {
        /// The host name or IP address, IPv6 without brackets.
        host: String,
        /// The port, 1 to 65535 ([`DEFAULT_PORT`] when the text had none).
        port: u16,
    },
    /// `unixgram://path`: Unix datagrams.
    Unixgram(PathBuf),
    /// `unixstream://path`: a Unix stream where every payload is preceded by
    /// its length in bytes as a 4-byte little-endian number (the Datadog
    /// Agent's framing; the length does not count the 4 bytes themselves).
    UnixStream(PathBuf),
    /// `unix://path`: a Unix socket whose kind is found by looking at it
    /// (when connecting, by the background's Unix transport). A datagram
    /// socket gets datagrams; for a stream socket the caller chooses the
    /// framing.
    Unix(PathBuf),
}

#[allow(dead_code)] // accessors for the CLI and logs; the tests use them
impl Address {
    /// The host, for the network forms.
    pub(crate) fn host(&self) -> Option<&str> {
        match self {
            Address::Host(host)
            | Address::HostPort { host, .. }
            | Address::Udp { host, .. }
            | Address::Tcp { host, .. } => Some(host),
            _ => None,
        }
    }

    /// The port, for the forms that carry one.
    pub(crate) fn port(&self) -> Option<u16> {
        match self {
            Address::HostPort { port, .. }
            | Address::Udp { port, .. }
            | Address::Tcp { port, .. } => Some(*port),
            _ => None,
        }
    }

    /// The socket path, for the Unix forms.
    pub(crate) fn path(&self) -> Option<&Path> {
        match self {
            Address::Path(path)
            | Address::Unixgram(path)
            | Address::UnixStream(path)
            | Address::Unix(path) => Some(path),
            _ => None,
        }
    }

    /// The scheme the address was written with (`udp`, `unix` ...), or
    /// `None` for the legacy forms without one.
    pub(crate) fn scheme(&self) -> Option<&'static str> {
        match self {
            Address::Host(_) | Address::HostPort { .. } | Address::Path(_) => None,
            Address::Udp { .. } => Some("udp"),
            Address::Tcp { .. } => Some("tcp"),
            Address::Unixgram(_) => Some("unixgram"),
            Address::UnixStream(_) => Some("unixstream"),
            Address::Unix(_) => Some("unix"),
        }
    }
}

impl FromStr for Address {
    type Err = Error;

    /// Parses any of the forms in the [module documentation](self).
    fn from_str(text: &str) -> Result<Address, Error> {
        parse(text).map_err(|reason| {
            Error::from(ErrorKind::InvalidAddress {
                address: text.to_owned(),
                reason,
            })
        })
    }
}

impl fmt::Display for Address {
    /// Writes the canonical form, which parses back to the same address.
    /// A path that is not valid UTF-8 is written lossily.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Host(host) => f.write_str(host),
            Address::HostPort { host, port } => write_host_port(f, host, *port),
            Address::Path(path) => write!(f, "{}", path.display()),
            Address::Udp { host, port } | Address::Tcp { host, port } => {
                write!(f, "{}://", self.scheme().unwrap_or_default())?;
                write_host_port(f, host, *port)
            }
            Address::Unixgram(path) | Address::UnixStream(path) | Address::Unix(path) => {
                write!(
                    f,
                    "{}://{}",
                    self.scheme().unwrap_or_default(),
                    path.display()
                )
            }
        }
    }
}

fn write_host_port(f: &mut fmt::Formatter<'_>, host: &str, port: u16) -> fmt::Result {
    if host.contains(':') {
        write!(f, "[{host}]:{port}")
    } else {
        write!(f, "{host}:{port}")
    }
}

/// Parses an address; the error is the reason alone, for callers that wrap it
/// in their own error (an environment variable, say).
pub(crate) fn parse(text: &str) -> Result<Address, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty address".into());
    }
    let with_scheme = text
        .split_once("://")
        .filter(|(scheme, _)| scheme.bytes().all(|b| b.is_ascii_alphanumeric()));
    if let Some((scheme, rest)) = with_scheme {
        return match scheme.to_ascii_lowercase().as_str() {
            "udp" => network(rest).map(|(host, port)| Address::Udp { host, port }),
            "tcp" => network(rest).map(|(host, port)| Address::Tcp { host, port }),
            "unixgram" => socket_path(rest).map(Address::Unixgram),
            "unixstream" => socket_path(rest).map(Address::UnixStream),
            "unix" => socket_path(rest).map(Address::Unix),
            "" => Err(format!("missing scheme before '://' (expected {SCHEMES})")),
            _ => Err(format!("unknown scheme {scheme:?} (expected {SCHEMES})")),
        };
    }
    if text.starts_with('/') {
        return socket_path(text).map(Address::Path);
    }
    if let Some((before, _)) = text.split_once(':') {
        let lower = before.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "udp" | "tcp" | "unix" | "unixgram" | "unixstream"
        ) {
            return Err(format!("missing '//' after \"{before}:\""));
        }
    }
    match host_and_port(text, false)? {
        (host, None) => Ok(Address::Host(host)),
        (host, Some(port)) => Ok(Address::HostPort { host, port }),
    }
}

/// The authority of a `udp://` or `tcp://` address: a host and an optional
/// port, nothing after.
fn network(rest: &str) -> Result<(String, u16), String> {
    if let Some(at) = rest.find(['/', '?', '#']) {
        return Err(format!(
            "unexpected {:?} after the host and port (a network address has no path)",
            &rest[at..]
        ));
    }
    if rest.contains('@') {
        return Err("a network address has no user part ('@')".into());
    }
    let (host, port) = host_and_port(rest, true)?;
    Ok((host, port.unwrap_or(DEFAULT_PORT)))
}

/// Splits `host`, `host:port`, `[v6]`, `[v6]:port`, and (without a scheme) a
/// bare IPv6 address.
fn host_and_port(text: &str, with_scheme: bool) -> Result<(String, Option<u16>), String> {
    if let Some(rest) = text.strip_prefix('[') {
        let (inner, after) = rest
            .split_once(']')
            .ok_or("missing ']' after the IPv6 address")?;
        let ip: Ipv6Addr = inner
            .parse()
            .map_err(|_| format!("{inner:?} in brackets is not an IPv6 address"))?;
        let port = if after.is_empty() {
            None
        } else if let Some(port) = after.strip_prefix(':') {
            Some(parse_port(port)?)
        } else {
            return Err(format!("unexpected {after:?} after ']'"));
        };
        return Ok((ip.to_string(), port));
    }
    match text.matches(':').count() {
        0 => {
            check_host(text)?;
            Ok((text.to_owned(), None))
        }
        1 => {
            let (host, port) = text.split_once(':').unwrap_or((text, ""));
            check_host(host)?;
            Ok((host.to_owned(), Some(parse_port(port)?)))
        }
        _ => match text.parse::<Ipv6Addr>() {
            Ok(ip) if !with_scheme => Ok((ip.to_string(), None)),
            Ok(_) => Err("an IPv6 address must be in brackets, as in [::1]:8125".into()),
            Err(_) => Err(
                "too many ':' for host:port (an IPv6 address goes in brackets, as in [::1]:8125)"
                    .into(),
            ),
        },
    }
}

fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("empty host".into());
    }
    if host.len() > MAX_HOST {
        return Err(format!(
            "host is {} bytes, longer than the {MAX_HOST} of a DNS name",
            host.len()
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
    match host.chars().find(|&c| !allowed(c)) {
        Some(c) => Err(format!("invalid character {c:?} in host {host:?}")),
        None => Ok(()),
    }
}

/// Parses a port: decimal digits only, 1 to 65535. The error names the text.
pub(crate) fn parse_port(text: &str) -> Result<u16, String> {
    if text.is_empty() {
        return Err("empty port".into());
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("port {text:?} is not a number"));
    }
    match text.parse::<u32>() {
        Ok(port @ 1..=65_535) => Ok(port as u16),
        _ => Err(format!("port {text} is out of range (1 to 65535)")),
    }
}

fn socket_path(path: &str) -> Result<PathBuf, String> {
    if path.is_empty() {
        return Err("empty socket path".into());
    }
    if path.contains('\0') {
        return Err("socket path contains a NUL byte".into());
    }
    if path.len() > MAX_UNIX_PATH {
        return Err(format!(
            "socket path is {} bytes, longer than the {MAX_UNIX_PATH} a Unix socket address holds",
            path.len()
        ));
    }
    Ok(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(h: &str) -> Address {
        Address::Host(h.into())
    }

    fn host_port(h: &str, port: u16) -> Address {
        Address::HostPort {
            host: h.into(),
            port,
        }
    }

    fn udp(h: &str, port: u16) -> Address {
        Address::Udp {
            host: h.into(),
            port,
        }
    }

    fn tcp(h: &str, port: u16) -> Address {
        Address::Tcp {
            host: h.into(),
            port,
        }
    }

    fn message(text: &str) -> String {
        text.parse::<Address>().unwrap_err().to_string()
    }

    #[test]
    fn every_form_parses_to_its_one_meaning_and_prints_canonically() {
        // (input, parsed value, canonical text)
        let cases: Vec<(&str, Address, &str)> = vec![
            (
                "udp://127.0.0.1:8125",
                udp("127.0.0.1", 8125),
                "udp://127.0.0.1:8125",
            ),
            ("udp://statsd", udp("statsd", 8125), "udp://statsd:8125"),
            (
                "UDP://Statsd:9125",
                udp("Statsd", 9125),
                "udp://Statsd:9125",
            ),
            ("udp://[::1]:8125", udp("::1", 8125), "udp://[::1]:8125"),
            ("udp://[0:0::1]", udp("::1", 8125), "udp://[::1]:8125"),
            (
                "tcp://statsd.internal:8126",
                tcp("statsd.internal", 8126),
                "tcp://statsd.internal:8126",
            ),
            ("tcp://my_host", tcp("my_host", 8125), "tcp://my_host:8125"),
            (
                "unixgram:///var/run/datadog/dsd.socket",
                Address::Unixgram("/var/run/datadog/dsd.socket".into()),
                "unixgram:///var/run/datadog/dsd.socket",
            ),
            (
                "unixstream:///var/run/datadog/dsd.socket",
                Address::UnixStream("/var/run/datadog/dsd.socket".into()),
                "unixstream:///var/run/datadog/dsd.socket",
            ),
            (
                "unix:///run/statsd.sock",
                Address::Unix("/run/statsd.sock".into()),
                "unix:///run/statsd.sock",
            ),
            // datadog-go's own tests use a relative path after unix://.
            (
                "unix://test/path.socket",
                Address::Unix("test/path.socket".into()),
                "unix://test/path.socket",
            ),
            (
                "  statsd.internal \n",
                host("statsd.internal"),
                "statsd.internal",
            ),
            ("10.0.0.7", host("10.0.0.7"), "10.0.0.7"),
            ("localhost", host("localhost"), "localhost"),
            ("::1", host("::1"), "::1"),
            ("[::1]", host("::1"), "::1"),
            // A bare IPv6 address never carries a port: this is one address.
            ("fe80::8125", host("fe80::8125"), "fe80::8125"),
            ("statsd:9125", host_port("statsd", 9125), "statsd:9125"),
            (
                "[2001:db8::7]:9125",
                host_port("2001:db8::7", 9125),
                "[2001:db8::7]:9125",
            ),
            (
                "/run/statsd.sock",
                Address::Path("/run/statsd.sock".into()),
                "/run/statsd.sock",
            ),
            // "://" inside a path is not a scheme.
            (
                "/tmp/a://b",
                Address::Path("/tmp/a://b".into()),
                "/tmp/a://b",
            ),
        ];
        for (input, expected, canonical) in cases {
            let parsed: Address = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(parsed, expected, "{input}");
            assert_eq!(parsed.to_string(), canonical, "{input}");
            let again: Address = canonical.parse().unwrap();
            assert_eq!(again, parsed, "round trip of {input}");
        }
    }

    #[test]
    fn errors_name_the_input_and_the_bad_part() {
        let cases = [
            (
                "udp://:8125",
                r#"invalid address "udp://:8125": empty host"#,
            ),
            ("", r#"invalid address "": empty address"#),
            (
                "udp://host:",
                r#"invalid address "udp://host:": empty port"#,
            ),
            (
                "udp://host:0",
                r#"invalid address "udp://host:0": port 0 is out of range (1 to 65535)"#,
            ),
            (
                "udp://host:65536",
                r#"invalid address "udp://host:65536": port 65536 is out of range (1 to 65535)"#,
            ),
            (
                "udp://host:99999999999",
                r#"invalid address "udp://host:99999999999": port 99999999999 is out of range (1 to 65535)"#,
            ),
            (
                "statsd:80a",
                r#"invalid address "statsd:80a": port "80a" is not a number"#,
            ),
            (
                "statsd:-1",
                r#"invalid address "statsd:-1": port "-1" is not a number"#,
            ),
            (
                "udp://::1:8125",
                r#"invalid address "udp://::1:8125": an IPv6 address must be in brackets, as in [::1]:8125"#,
            ),
            (
                "udp://[::1",
                r#"invalid address "udp://[::1": missing ']' after the IPv6 address"#,
            ),
            (
                "udp://[nope]:1",
                r#"invalid address "udp://[nope]:1": "nope" in brackets is not an IPv6 address"#,
            ),
            (
                "[::1]x",
                r#"invalid address "[::1]x": unexpected "x" after ']'"#,
            ),
            (
                "a:b:c",
                r#"invalid address "a:b:c": too many ':' for host:port (an IPv6 address goes in brackets, as in [::1]:8125)"#,
            ),
            (
                "http://statsd:80",
                r#"invalid address "http://statsd:80": unknown scheme "http" (expected udp, tcp, unix, unixgram or unixstream)"#,
            ),
            (
                "://statsd",
                r#"invalid address "://statsd": missing scheme before '://' (expected udp, tcp, unix, unixgram or unixstream)"#,
            ),
            (
                "udp://statsd:8125/metrics",
                r#"invalid address "udp://statsd:8125/metrics": unexpected "/metrics" after the host and port (a network address has no path)"#,
            ),
            (
                "tcp://me@statsd",
                r#"invalid address "tcp://me@statsd": a network address has no user part ('@')"#,
            ),
            ("unix://", r#"invalid address "unix://": empty socket path"#),
            (
                "unixgram://",
                r#"invalid address "unixgram://": empty socket path"#,
            ),
            (
                "unixstream://",
                r#"invalid address "unixstream://": empty socket path"#,
            ),
            (
                "unix:/run/x.sock",
                r#"invalid address "unix:/run/x.sock": missing '//' after "unix:""#,
            ),
            (
                "stats d",
                r#"invalid address "stats d": invalid character ' ' in host "stats d""#,
            ),
            (
                "statsd.internal/x",
                r#"invalid address "statsd.internal/x": invalid character '/' in host "statsd.internal/x""#,
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(message(input), expected);
        }
        let long = format!("unix:///{}", "a".repeat(MAX_UNIX_PATH));
        assert!(
            message(&long).contains("longer than the"),
            "{}",
            message(&long)
        );
        let ok = format!("unix:///{}", "a".repeat(MAX_UNIX_PATH - 1));
        assert!(ok.parse::<Address>().is_ok());
        assert!(message("unix:///a\0b").ends_with("socket path contains a NUL byte"));
        assert!(message(&"h".repeat(254)).contains("longer than the 253 of a DNS name"));
    }

    #[test]
    fn the_error_is_the_typed_variant() {
        match "udp://:1".parse::<Address>().unwrap_err().kind() {
            ErrorKind::InvalidAddress { address, reason } => {
                assert_eq!(address, "udp://:1");
                assert_eq!(reason, "empty host");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn accessors_report_the_parts() {
        let a: Address = "udp://[::1]:9".parse().unwrap();
        assert_eq!(
            (a.host(), a.port(), a.path(), a.scheme()),
            (Some("::1"), Some(9), None, Some("udp"))
        );
        let a: Address = "unixstream:///s".parse().unwrap();
        assert_eq!(
            (a.host(), a.port(), a.path(), a.scheme()),
            (None, None, Some(Path::new("/s")), Some("unixstream"))
        );
        let a: Address = "statsd".parse().unwrap();
        assert_eq!(
            (a.host(), a.port(), a.scheme()),
            (Some("statsd"), None, None)
        );
        let a: Address = "/s".parse().unwrap();
        assert_eq!((a.path(), a.scheme()), (Some(Path::new("/s")), None));
    }
}
