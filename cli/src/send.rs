//! `send`: queue each line as it is read, stop with a deadline at the end of
//! input (or on SIGINT/SIGTERM), print a one-line summary, exit 0/1/2.

use std::process::ExitCode;
use std::time::Duration;

use statsd_connector::{Error, MAX_LINE_LENGTH};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::target::Target;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: Target,
    /// Prefix put before every name [env: STATSD_PREFIX]
    #[arg(long)]
    prefix: Option<String>,
    /// Seconds to keep trying to deliver at the end
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Statsd lines `name:value|type[|@rate][|#tags]`; standard input when none
    lines: Vec<String>,
}

/// The queue bound of `send`: large, because a file is read much faster than a
/// person types, and a line dropped here would be a line the user asked for.
const SEND_QUEUE_CAPACITY: usize = 1_000_000;

pub async fn run(args: Args) -> ExitCode {
    let Ok(timeout) = Duration::try_from_secs_f64(args.timeout) else {
        eprintln!(
            "error: invalid --timeout {}: expected a non-negative number of seconds",
            args.timeout
        );
        return ExitCode::from(2);
    };
    let built = args
        .target
        .builder(args.prefix.as_deref())
        // Declared DogStatsD so that `_e{..}` and `_sc|..` lines typed here
        // are sent: whoever types them knows what the server is.
        .and_then(|b| {
            b.queue_capacity(SEND_QUEUE_CAPACITY)
                .dogstatsd(true)
                .build()
        });
    let connector = match crate::target::start(built).await {
        Ok(connector) => connector,
        Err(status) => return status,
    };

    let mut invalid = 0u64;
    let mut send = |number: usize, line: Result<&str, Error>| {
        let line = match line {
            // One rule: only empty lines and lines of ASCII spaces and tabs are
            // blank; anything else (VT, FF, U+0085, U+2028 ...) is a line
            // that is checked, and refused with its number if invalid.
            Ok(line) if line.bytes().all(|b| b == b' ' || b == b'\t') => return,
            Ok(line) => line,
            Err(error) => {
                invalid += 1;
                eprintln!("line {number}: {error}");
                return;
            }
        };
        match connector.send_line(line) {
            Ok(()) => {}
            Err(error) if error.is_queue_full() => {}
            Err(error) => {
                invalid += 1;
                eprintln!("line {number}: {error}");
            }
        }
    };
    if args.lines.is_empty() {
        tokio::select! {
            () = read_lines(tokio::io::stdin(), &mut send) => {}
            () = interrupted() => eprintln!("interrupted: stopping"),
        }
    } else {
        for (i, line) in args.lines.iter().enumerate() {
            send(i + 1, Ok(line));
        }
    }

    let report = connector.stop_with_timeout(timeout).await;
    let stats = connector.stats();
    if report.undelivered > 0 || stats.possibly_lost > 0 {
        // Why, whatever the log filter: one line, before the summary.
        if let Some(error) = connector.last_error() {
            eprintln!("last error: {error}");
        }
    }
    eprintln!(
        "{} sent, {} invalid, {} dropped, {} undelivered, {} possibly lost",
        stats.sent, invalid, stats.dropped, report.undelivered, stats.possibly_lost
    );
    if invalid > 0 {
        ExitCode::from(2)
    } else if stats.dropped > 0 || report.undelivered > 0 || stats.possibly_lost > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Reads lines of at most [`MAX_LINE_LENGTH`] bytes, handing each to `handle`
/// with its 1-based number as soon as it is complete (so `tail -f` streams).
/// A line that is too long or not UTF-8 is handed over as an error; a trailing
/// `\r` is removed.
async fn read_lines<R: AsyncRead + Unpin>(
    input: R,
    handle: &mut impl FnMut(usize, Result<&str, Error>),
) {
    let mut reader = BufReader::with_capacity(64 * 1024, input);
    let mut line = Vec::with_capacity(256);
    let mut overlong = false;
    // The line's real length, kept counting past the limit for the message.
    let mut length = 0;
    let mut number = 0;
    loop {
        let available = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(available) => available,
        };
        let (chunk, complete) = match memchr_newline(available) {
            Some(at) => (&available[..at], true),
            None => (available, false),
        };
        length += chunk.len();
        if !overlong {
            if line.len() + chunk.len() >= MAX_LINE_LENGTH {
                overlong = true;
            } else {
                line.extend_from_slice(chunk);
            }
        }
        let used = chunk.len() + usize::from(complete);
        reader.consume(used);
        if complete {
            number += 1;
            deliver(number, &line, overlong.then_some(length), handle);
            line.clear();
            overlong = false;
            length = 0;
        }
    }
    if !line.is_empty() || overlong {
        number += 1;
        deliver(number, &line, overlong.then_some(length), handle);
    }
}

/// Hands one line over; `overlong` is the real length of a line too long
/// to keep (without its newline).
fn deliver(
    number: usize,
    line: &[u8],
    overlong: Option<usize>,
    handle: &mut impl FnMut(usize, Result<&str, Error>),
) {
    if let Some(length) = overlong {
        return handle(
            number,
            Err(Error::from(statsd_connector::ErrorKind::MalformedLine(
                statsd_connector::Reason::TooLong {
                    length,
                    limit: MAX_LINE_LENGTH,
                },
            ))),
        );
    }
    // A byte-order mark at the start of the input is not part of the first
    // name.
    let line = match number {
        1 => line.strip_prefix(BOM).unwrap_or(line),
        _ => line,
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match std::str::from_utf8(line) {
        Ok(text) => handle(number, Ok(text)),
        Err(_) => handle(
            number,
            Err(Error::from(statsd_connector::ErrorKind::MalformedLine(
                statsd_connector::Reason::NotUtf8,
            ))),
        ),
    }
}

/// The UTF-8 byte-order mark.
const BOM: &[u8] = b"\xef\xbb\xbf";

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

/// Completes on SIGINT or (on Unix) SIGTERM.
pub async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut terminate = match signal(SignalKind::terminate()) {
            Ok(terminate) => terminate,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
