//! `event`: send one DogStatsD event, stop with a deadline, print a one-line
//! summary, exit 0 (delivered), 1 (undelivered) or 2 (usage or invalid).
//!
//! The server is always declared DogStatsD here: asking for an event says so.
//! The helpers shared with `service-check` live here too.

use std::process::ExitCode;
use std::time::Duration;

use statsd_connector::{AlertType, Connector, Error, Event, EventPriority};

use crate::target::Target;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: Target,
    /// A tag `key:value` (or a bare `key`), after the global ones; repeatable
    #[arg(long = "tag", value_name = "K:V")]
    tags: Vec<String>,
    /// normal or low
    #[arg(long)]
    priority: Option<EventPriority>,
    /// error, warning, info or success
    #[arg(long = "alert-type")]
    alert_type: Option<AlertType>,
    /// The key that groups related events
    #[arg(long = "aggregation-key", value_name = "K")]
    aggregation_key: Option<String>,
    /// The source type name
    #[arg(long = "source-type", value_name = "S")]
    source_type: Option<String>,
    /// The host the event is about
    #[arg(long, value_name = "H")]
    hostname: Option<String>,
    /// When it happened, in seconds since the Unix epoch
    #[arg(long, value_name = "UNIX")]
    timestamp: Option<u64>,
    /// Seconds to keep trying to deliver at the end
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// The title
    title: String,
    /// The text (newlines allowed)
    text: String,
}

pub async fn run(args: Args) -> ExitCode {
    let tags = split_tags(&args.tags);
    let mut event = Event::new(&args.title, &args.text)
        .hostname(args.hostname.as_deref().unwrap_or_default())
        .aggregation_key(args.aggregation_key.as_deref().unwrap_or_default())
        .source_type(args.source_type.as_deref().unwrap_or_default())
        .tags(&tags);
    if let Some(timestamp) = args.timestamp {
        event = event.timestamp(timestamp);
    }
    if let Some(priority) = args.priority {
        event = event.priority(priority);
    }
    if let Some(alert_type) = args.alert_type {
        event = event.alert_type(alert_type);
    }
    send_one(&args.target, args.timeout, |connector| {
        connector.event(&event)
    })
    .await
}

/// `--tag` values as `(key, value)`, split at the first `:`; a bare key has
/// an empty value. The library checks them.
pub fn split_tags(tags: &[String]) -> Vec<(&str, &str)> {
    tags.iter()
        .map(|tag| tag.split_once(':').unwrap_or((tag.as_str(), "")))
        .collect()
}

/// Builds a DogStatsD connector for `target`, queues one thing with `send`
/// (before connecting, so an invalid one exits 2 without touching the
/// network), then starts, stops within `timeout` and reports like `send`.
pub async fn send_one(
    target: &Target,
    timeout: f64,
    send: impl FnOnce(&Connector) -> Result<(), Error>,
) -> ExitCode {
    let Ok(timeout) = Duration::try_from_secs_f64(timeout) else {
        eprintln!("error: invalid --timeout {timeout}: expected a non-negative number of seconds");
        return ExitCode::from(2);
    };
    let built = target.builder(None).and_then(|b| b.dogstatsd(true).build());
    let connector = match built {
        Ok(connector) => connector,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    if let Err(error) = send(&connector) {
        eprintln!("error: {error}");
        return ExitCode::from(2);
    }
    let connector = match crate::target::start(Ok(connector)).await {
        Ok(connector) => connector,
        Err(status) => return status,
    };
    let report = connector.stop_with_timeout(timeout).await;
    let stats = connector.stats();
    eprintln!(
        "{} sent, {} undelivered, {} possibly lost",
        stats.sent, report.undelivered, stats.possibly_lost
    );
    if report.undelivered > 0 || stats.possibly_lost > 0 || stats.sent == 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
