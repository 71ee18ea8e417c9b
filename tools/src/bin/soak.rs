//! Soak test: several threads emit at a steady rate through one connector over
//! TCP to a fault server, while a fault driver cycles through restarts,
//! resets, black holes, slow reads and graceful closes. At the end the
//! connector is stopped with a deadline and every line is accounted for.
//!
//! ```text
//! cargo run --release -p statsd-connector-tools --bin soak -- --seconds 60
//!     [--rate 250000]        lines per second, all threads together
//!     [--threads 4]          emitting threads
//!     [--fault-every 3]      seconds between faults
//!     [--queue 100000]       the connector's queue capacity
//!     [--stop-timeout 5]     seconds the final stop may take
//! ```
//!
//! Exits non-zero if the accounting identity fails
//! (`emitted == received + dropped + rejected + undelivered + in_queue + lost`
//! with `0 <= lost <= possibly_lost + unread_at_reset`), or if the server saw
//! a corrupt or duplicated line.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use statsd_connector::{Connector, Metrics, Stats};
use statsd_connector_testkit::fault_server::{Counts, FaultServer, Mode};

/// One call in this many uses an invalid name (rejected, and counted).
const INVALID_EVERY: u64 = 1000;

struct Options {
    seconds: u64,
    rate: u64,
    threads: u64,
    fault_every: f64,
    queue: usize,
    stop_timeout: f64,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        seconds: 60,
        rate: 250_000,
        threads: 4,
        fault_every: 3.0,
        queue: 100_000,
        stop_timeout: 5.0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(String::new());
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--seconds" => options.seconds = value.parse().map_err(|e| bad(&e))?,
            "--rate" => options.rate = value.parse().map_err(|e| bad(&e))?,
            "--threads" => options.threads = value.parse().map_err(|e| bad(&e))?,
            "--fault-every" => options.fault_every = value.parse().map_err(|e| bad(&e))?,
            "--queue" => options.queue = value.parse().map_err(|e| bad(&e))?,
            "--stop-timeout" => options.stop_timeout = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if options.threads == 0 || options.rate == 0 || options.fault_every <= 0.0 {
        return Err("--threads, --rate and --fault-every must be positive".into());
    }
    Ok(options)
}

/// What the emitting threads did.
#[derive(Debug, Default, Clone, Copy)]
struct Emitted {
    calls: u64,
    ok: u64,
    err: u64,
    invalid: u64,
    max_call: Duration,
}

/// One emitting thread: `per_second` lines a second, paced every millisecond,
/// `name:<sequence number>|c`, and now and then an invalid name.
fn emit(
    statsd: Connector,
    name: String,
    per_second: u64,
    stop: Arc<AtomicBool>,
    progress: Arc<AtomicU64>,
) -> Emitted {
    let mut done = Emitted::default();
    let mut seq: u64 = 0;
    let mut start = Instant::now();
    let mut tick: u64 = 0;
    while !stop.load(Relaxed) {
        tick += 1;
        // The lines of this millisecond, on an absolute schedule.
        let burst = per_second * tick / 1000 - per_second * (tick - 1) / 1000;
        for _ in 0..burst {
            let invalid = done.calls % INVALID_EVERY == INVALID_EVERY - 1;
            let before = Instant::now();
            let result = if invalid {
                statsd.count("not a valid name", 1)
            } else {
                seq += 1;
                statsd.count(&name, seq as i64 - 1)
            };
            done.max_call = done.max_call.max(before.elapsed());
            done.calls += 1;
            done.invalid += invalid as u64;
            match result {
                Ok(()) => done.ok += 1,
                Err(_) => done.err += 1,
            }
        }
        progress.fetch_add(burst, Relaxed);
        let next = start + Duration::from_millis(tick);
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else if now - next > Duration::from_millis(50) {
            // Far behind (the machine is busy): start the schedule again
            // rather than burst to catch up.
            start = now;
            tick = 0;
        }
    }
    done
}

/// The faults, in the order the driver cycles through them.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Restart,
    Kill,
    BlackHole,
    SlowRead,
    Close,
    KillExact,
}

const FAULTS: [Fault; 6] = [
    Fault::Restart,
    Fault::Kill,
    Fault::BlackHole,
    Fault::SlowRead,
    Fault::Close,
    Fault::KillExact,
];

/// Injects one fault; returns once the server is healthy again.
async fn inject(server: &FaultServer, fault: Fault, outage: Duration) {
    match fault {
        Fault::Restart => {
            server.refuse().await.expect("refuse");
            server.kill_all().await;
            tokio::time::sleep(outage).await;
            server.restart().await.expect("restart");
        }
        Fault::Kill => {
            server.kill_all().await;
        }
        Fault::KillExact => {
            server.kill_all_exact().await;
        }
        Fault::BlackHole => {
            server.set_mode(Mode::BlackHole);
            tokio::time::sleep(outage).await;
            server.set_mode(Mode::Normal);
        }
        Fault::SlowRead => {
            server.set_mode(Mode::Slow {
                bytes: 16 * 1024,
                every: Duration::from_millis(1),
            });
            tokio::time::sleep(outage).await;
            server.set_mode(Mode::Normal);
        }
        Fault::Close => {
            server.close_all().await;
        }
    }
}

/// Peak resident memory of this process, from `/proc/self/status`.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .map(|line| line["VmHWM:".len()..].trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("soak: {message}");
            }
            eprintln!(
                "usage: soak [--seconds N] [--rate LINES_PER_S] [--threads N] \
                 [--fault-every S] [--queue LINES] [--stop-timeout S]"
            );
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(soak(options))
}

async fn soak(options: Options) -> ExitCode {
    let server = FaultServer::builder()
        .close_linger(Duration::from_secs(5))
        .start()
        .await
        .expect("fault server");
    let statsd = Connector::builder()
        .host("127.0.0.1")
        .port(server.port())
        .queue_capacity(options.queue)
        .reconnect_sleep(Duration::from_millis(50))
        .connect_timeout(Duration::from_secs(2))
        .build()
        .expect("connector");
    statsd.start().await.expect("start");
    println!(
        "soak: {} s, {} lines/s over {} threads, a fault every {} s, queue {} lines, server 127.0.0.1:{}",
        options.seconds,
        options.rate,
        options.threads,
        options.fault_every,
        options.queue,
        server.port()
    );

    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicU64::new(0));
    let per_thread = options.rate / options.threads;
    let threads: Vec<_> = (0..options.threads)
        .map(|i| {
            let (statsd, stop, progress) = (statsd.clone(), stop.clone(), progress.clone());
            std::thread::Builder::new()
                .name(format!("emit-{i}"))
                .spawn(move || emit(statsd, format!("soak.t{i}"), per_thread, stop, progress))
                .expect("emitter thread")
        })
        .collect();

    let started = Instant::now();
    let end = started + Duration::from_secs(options.seconds);
    let every = Duration::from_secs_f64(options.fault_every);
    let outage = every / 2;
    let mut injected = [0u64; FAULTS.len()];
    let mut next_fault = started + every;
    let mut next_report = started + Duration::from_secs(10);
    let mut which = 0;
    while Instant::now() < end {
        let now = Instant::now();
        if now >= next_fault && now + outage < end {
            let fault = FAULTS[which % FAULTS.len()];
            inject(&server, fault, outage).await;
            injected[which % FAULTS.len()] += 1;
            which += 1;
            next_fault += every;
        }
        if Instant::now() >= next_report {
            let stats = statsd.stats();
            println!(
                "  t={:>3}s emitted {:>11} received {:>11} dropped {:>10} reconnects {:>4} possibly_lost {:>8} rss peak {}",
                started.elapsed().as_secs(),
                progress.load(Relaxed),
                server.received(),
                stats.dropped,
                stats.reconnects,
                stats.possibly_lost,
                peak_rss()
            );
            next_report += Duration::from_secs(10);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.set_mode(Mode::Normal);
    stop.store(true, Relaxed);
    let emitted = threads
        .into_iter()
        .map(|thread| thread.join().expect("an emitter thread panicked"))
        .fold(Emitted::default(), |a, b| Emitted {
            calls: a.calls + b.calls,
            ok: a.ok + b.ok,
            err: a.err + b.err,
            invalid: a.invalid + b.invalid,
            max_call: a.max_call.max(b.max_call),
        });
    let emitting = started.elapsed();

    let stop_started = Instant::now();
    let deadline = Duration::from_secs_f64(options.stop_timeout);
    let report = statsd.stop_with_timeout(deadline).await;
    let stop_took = stop_started.elapsed();
    let settled = server.settle(Duration::from_secs(30)).await;
    let stats = statsd.stats();
    let counts = server.counts();

    let faults = FAULTS
        .iter()
        .zip(injected)
        .map(|(fault, n)| format!("{fault:?} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let (lost, failures) = check(&emitted, &stats, &counts);
    print_table(&emitted, &stats, &counts, lost);
    println!("  {:<28} {}", "faults injected", faults);
    println!("  {:<28} {:.1} s", "emitting for", emitting.as_secs_f64());
    println!(
        "  {:<28} {:.0} lines/s",
        "emitted rate",
        emitted.calls as f64 / emitting.as_secs_f64()
    );
    println!("  {:<28} {:?}", "slowest call", emitted.max_call);
    println!(
        "  {:<28} {:?} (deadline {:?}; reported undelivered {}, possibly lost {})",
        "final stop took", stop_took, deadline, report.undelivered, report.possibly_lost
    );
    println!("  {:<28} {}", "server settled", settled);
    println!("  {:<28} {}", "peak resident memory", peak_rss());
    let mut failures = failures;
    if !settled {
        failures.push("the server did not settle".to_owned());
    }
    if failures.is_empty() {
        println!("soak: OK");
        ExitCode::SUCCESS
    } else {
        for failure in &failures {
            println!("soak: FAILED: {failure}");
        }
        if !counts.corrupt.eq(&0) {
            for sample in server.corrupt_samples() {
                println!("  corrupt: {sample}");
            }
        }
        ExitCode::FAILURE
    }
}

/// The identity and the server's checks; returns `lost` and what failed.
fn check(emitted: &Emitted, stats: &Stats, counts: &Counts) -> (i128, Vec<String>) {
    let accounted =
        counts.received + stats.dropped + stats.rejected + stats.undelivered + stats.in_queue;
    let lost = emitted.calls as i128 - accounted as i128;
    let mut failures = Vec::new();
    if counts.corrupt > 0 {
        failures.push(format!("{} corrupt lines", counts.corrupt));
    }
    if counts.duplicates > 0 {
        failures.push(format!("{} lines received twice", counts.duplicates));
    }
    if lost < 0 {
        failures.push(format!("{} more lines accounted for than emitted", -lost));
    }
    let allowed = stats.possibly_lost as i128 + counts.unread_at_kill_lines as i128;
    if lost > allowed {
        failures.push(format!(
            "{lost} lines lost, more than possibly_lost {} + unread at resets {}",
            stats.possibly_lost, counts.unread_at_kill_lines
        ));
    }
    if stats.accepted != emitted.ok || stats.dropped + stats.rejected != emitted.err {
        failures.push(format!(
            "the connector's counters disagree with the callers: accepted {} vs ok {}, \
             dropped + rejected {} vs err {}",
            stats.accepted,
            emitted.ok,
            stats.dropped + stats.rejected,
            emitted.err
        ));
    }
    (lost, failures)
}

fn print_table(emitted: &Emitted, stats: &Stats, counts: &Counts, lost: i128) {
    let rows = [
        ("emitted", emitted.calls.to_string()),
        ("received", counts.received.to_string()),
        ("dropped", stats.dropped.to_string()),
        ("rejected", stats.rejected.to_string()),
        ("undelivered", stats.undelivered.to_string()),
        ("in_queue", stats.in_queue.to_string()),
        ("possibly lost", stats.possibly_lost.to_string()),
        (
            "unread at resets (server)",
            counts.unread_at_kill_lines.to_string(),
        ),
        ("lost (computed)", lost.to_string()),
        ("corrupt", counts.corrupt.to_string()),
        ("duplicates", counts.duplicates.to_string()),
        ("partial fragments", counts.partial.to_string()),
        ("reconnects", stats.reconnects.to_string()),
        ("connect failures", stats.connect_failures.to_string()),
        ("server connections", counts.connections.to_string()),
        (
            "resets / closes / linger",
            format!(
                "{} / {} / {}",
                counts.kills, counts.closes, counts.close_timeouts
            ),
        ),
    ];
    println!("accounting:");
    for (name, value) in rows {
        println!("  {name:<28} {value:>14}");
    }
}
