//! `statsd-connector`: send, listen, bench and demo, over the library's public
//! API. Each subcommand lives in its own module; this file only parses the
//! command line and hands over.

mod bench;
mod demo;
mod event;
mod listen;
mod listen_unix;
mod send;
mod service_check;
mod target;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A statsd client that never blocks the caller: command-line tool.
#[derive(Debug, Parser)]
#[command(name = "statsd-connector", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send statsd lines given as arguments, or read from standard input.
    Send(send::Args),
    /// Send one DogStatsD event (TITLE TEXT).
    Event(event::Args),
    /// Send one DogStatsD service check (NAME STATUS).
    ServiceCheck(service_check::Args),
    /// Run an embedded statsd server that prints every line it receives.
    Listen(listen::Args),
    /// Emit counters as fast as possible and report throughput as JSON.
    Bench(bench::Args),
    /// Show the connector at work against an embedded server that restarts.
    Demo,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            // Usage errors exit 2 (clap's own convention); --help and
            // --version exit 0.
            return ExitCode::from(if error.use_stderr() { 2 } else { 0 });
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the tokio runtime: {error}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async {
        match cli.command {
            Command::Send(args) => send::run(args).await,
            Command::Event(args) => event::run(args).await,
            Command::ServiceCheck(args) => service_check::run(args).await,
            Command::Listen(args) => listen::run(args).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Demo => demo::run().await,
        }
    })
}
