//! What the benchmarks share: a stopwatch that reads wall time or, with
//! `STATSD_BENCH_CLOCK=cpu`, the measuring thread's CPU time.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Wall time by default; with `STATSD_BENCH_CLOCK=cpu`, the measuring thread's
/// CPU time, which leaves out the time other processes took the core.
pub struct Stopwatch {
    wall: Instant,
    cpu: Duration,
}

fn cpu_clock() -> bool {
    static CPU: OnceLock<bool> = OnceLock::new();
    *CPU.get_or_init(|| {
        let cpu = std::env::var("STATSD_BENCH_CLOCK").is_ok_and(|v| v == "cpu");
        eprintln!(
            "clock: {}",
            if cpu { "thread CPU time" } else { "wall time" }
        );
        cpu
    })
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

impl Stopwatch {
    pub fn start() -> Stopwatch {
        let cpu = if cpu_clock() {
            thread_cpu()
        } else {
            Duration::ZERO
        };
        Stopwatch {
            wall: Instant::now(),
            cpu,
        }
    }

    pub fn elapsed(&self) -> Duration {
        if cpu_clock() {
            thread_cpu() - self.cpu
        } else {
            self.wall.elapsed()
        }
    }
}
