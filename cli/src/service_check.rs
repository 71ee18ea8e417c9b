//! `service-check`: send one DogStatsD service check, stop with a deadline,
//! print a one-line summary, exit 0 (delivered), 1 (undelivered) or 2 (usage
//! or invalid). The server is always declared DogStatsD here.

use std::process::ExitCode;

use statsd_connector::{ServiceCheck, ServiceCheckStatus};

use crate::event::{send_one, split_tags};
use crate::target::Target;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: Target,
    /// A tag `key:value` (or a bare `key`), after the global ones; repeatable
    #[arg(long = "tag", value_name = "K:V")]
    tags: Vec<String>,
    /// A message describing the state (newlines allowed, `|` not)
    #[arg(long, value_name = "M")]
    message: Option<String>,
    /// The host the check is about
    #[arg(long, value_name = "H")]
    hostname: Option<String>,
    /// When the check ran, in seconds since the Unix epoch
    #[arg(long, value_name = "UNIX")]
    timestamp: Option<u64>,
    /// Seconds to keep trying to deliver at the end
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// The check's name
    name: String,
    /// 0, 1, 2, 3 or ok, warning, critical, unknown
    status: ServiceCheckStatus,
}

pub async fn run(args: Args) -> ExitCode {
    let tags = split_tags(&args.tags);
    let mut check = ServiceCheck::new(&args.name, args.status)
        .hostname(args.hostname.as_deref().unwrap_or_default())
        .message(args.message.as_deref().unwrap_or_default())
        .tags(&tags);
    if let Some(timestamp) = args.timestamp {
        check = check.timestamp(timestamp);
    }
    send_one(&args.target, args.timeout, |connector| {
        connector.service_check(&check)
    })
    .await
}
