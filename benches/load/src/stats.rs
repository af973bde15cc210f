//! Counters and latency histograms, and the final report (JSON or table).

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::verify::Phone;

/// The three HTTP calls one verification is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Send,
    Inbox,
    Check,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::Send => "send",
            Step::Inbox => "inbox",
            Step::Check => "check",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailKind {
    /// The engine answered with a non-2xx status.
    Http,
    /// A 2xx answer whose content was not what a healthy run expects.
    Status,
    /// Connect, timeout or body read error: no usable answer at all.
    Transport,
}

/// Why one verification did not end in "Approved". `detail` groups failures
/// in the report, so it should stay low-cardinality (no ids, no numbers).
#[derive(Debug)]
pub struct Failure {
    pub kind: FailKind,
    pub detail: String,
}

/// Highest latency the histograms track; anything slower is clamped, which
/// is harmless because request timeouts end calls long before this.
const MAX_US: u64 = 3_600_000_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("static histogram bounds are valid")
}

pub struct Stats {
    // Measured window only (verifications started after the warmup).
    pub total: Histogram<u64>,
    steps: [Histogram<u64>; 3],
    pub completed: u64,
    pub approved: u64,
    pub http_requests: u64,
    pub fail_http: u64,
    pub fail_status: u64,
    pub fail_transport: u64,
    pub failures: FailureCounts,
    pub behind_schedule: u64,
    /// When the last measured verification finished, relative to the start.
    pub last_end: Duration,
    // Warmup, reported separately so a broken setup still shows up.
    pub warmup_completed: u64,
    pub warmup_failed: u64,
    pub warmup_failures: FailureCounts,
    // Everything, for the once-a-second progress line.
    pub done_all: u64,
    pub ok_all: u64,
}

impl Stats {
    pub fn new() -> Self {
        Stats {
            total: histogram(),
            steps: [histogram(), histogram(), histogram()],
            completed: 0,
            approved: 0,
            http_requests: 0,
            fail_http: 0,
            fail_status: 0,
            fail_transport: 0,
            failures: BTreeMap::new(),
            behind_schedule: 0,
            last_end: Duration::ZERO,
            warmup_completed: 0,
            warmup_failed: 0,
            warmup_failures: BTreeMap::new(),
            done_all: 0,
            ok_all: 0,
        }
    }

    /// One HTTP exchange; `latency` is `None` when no answer came back.
    pub fn record_step(&mut self, step: Step, latency: Option<Duration>) {
        self.http_requests += 1;
        if let Some(l) = latency {
            self.steps[step as usize].saturating_record(micros(l));
        }
    }

    pub fn record_verification(
        &mut self,
        measured: bool,
        number: u64,
        latency: Duration,
        ended_at: Duration,
        result: Result<(), Failure>,
    ) {
        self.done_all += 1;
        let ok = result.is_ok();
        if ok {
            self.ok_all += 1;
        }
        if !measured {
            self.warmup_completed += 1;
            if let Err(f) = result {
                self.warmup_failed += 1;
                tally(&mut self.warmup_failures, f.detail, number);
            }
            return;
        }
        self.completed += 1;
        self.last_end = self.last_end.max(ended_at);
        match result {
            Ok(()) => {
                self.approved += 1;
                self.total.saturating_record(micros(latency));
            }
            Err(f) => {
                match f.kind {
                    FailKind::Http => self.fail_http += 1,
                    FailKind::Status => self.fail_status += 1,
                    FailKind::Transport => self.fail_transport += 1,
                }
                tally(&mut self.failures, f.detail, number);
            }
        }
    }

    pub fn failed(&self) -> u64 {
        self.fail_http + self.fail_status + self.fail_transport
    }
}

/// Failures grouped by detail, with one number to look up in the engine's
/// logs or inbox.
pub type FailureCounts = BTreeMap<String, FailureCount>;

#[derive(Clone, Serialize)]
pub struct FailureCount {
    pub count: u64,
    pub first_number: String,
}

fn tally(map: &mut FailureCounts, detail: String, number: u64) {
    map.entry(detail)
        .or_insert_with(|| FailureCount {
            count: 0,
            first_number: Phone::new(number).as_str().to_string(),
        })
        .count += 1;
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, MAX_US)
}

#[derive(Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub max: f64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Self {
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Percentiles {
            count: h.len(),
            p50: ms(0.5),
            p90: ms(0.9),
            p99: ms(0.99),
            p99_9: ms(0.999),
            max: h.max() as f64 / 1000.0,
        }
    }
}

#[derive(Serialize)]
pub struct Latencies {
    pub verification: Percentiles,
    pub send: Percentiles,
    pub inbox: Percentiles,
    pub check: Percentiles,
}

#[derive(Serialize)]
pub struct FailureReport {
    pub http_status: u64,
    pub unexpected_status: u64,
    pub transport: u64,
    pub by_detail: FailureCounts,
}

#[derive(Serialize)]
pub struct WarmupReport {
    pub seconds: f64,
    pub completed: u64,
    pub failed: u64,
    pub failures: FailureCounts,
}

/// Everything `--json` prints; the table shows the same numbers.
#[derive(Serialize)]
pub struct Report {
    pub url: String,
    pub mode: &'static str,
    pub target_rate: Option<f64>,
    pub concurrency: u32,
    pub measured_seconds: f64,
    pub warmup: WarmupReport,
    pub completed: u64,
    pub approved: u64,
    pub failed: u64,
    pub failures: FailureReport,
    /// Open loop only: started after their scheduled time because every
    /// worker was busy (their latency includes that wait).
    pub behind_schedule: u64,
    /// Open loop only: scheduled before the end but never started.
    pub missed_schedule: u64,
    /// Still running when the hard deadline hit; counted nowhere else.
    pub abandoned: u64,
    pub http_requests: u64,
    pub verifications_per_s: f64,
    pub http_requests_per_s: f64,
    pub latency_ms: Latencies,
    pub numbers_used: [u64; 2],
    pub next_start: u64,
}

impl Report {
    pub fn latencies(s: &Stats) -> Latencies {
        Latencies {
            verification: Percentiles::of(&s.total),
            send: Percentiles::of(&s.steps[Step::Send as usize]),
            inbox: Percentiles::of(&s.steps[Step::Inbox as usize]),
            check: Percentiles::of(&s.steps[Step::Check as usize]),
        }
    }

    pub fn print_table(&self) {
        let rate = match self.target_rate {
            Some(r) => format!("open loop at {r}/s"),
            None => "closed loop".to_string(),
        };
        println!(
            "otpgate-load {} — {rate}, concurrency {}, {:.1} s measured after {:.1} s warmup",
            self.url, self.concurrency, self.measured_seconds, self.warmup.seconds
        );
        println!(
            "verifications  {} completed, {} approved, {} failed",
            self.completed, self.approved, self.failed
        );
        println!(
            "throughput     {:.1} verifications/s, {:.1} HTTP requests/s ({} requests)",
            self.verifications_per_s, self.http_requests_per_s, self.http_requests
        );
        println!(
            "\n{:<14}{:>9}{:>10}{:>10}{:>10}{:>10}{:>10}",
            "latency (ms)", "count", "p50", "p90", "p99", "p99.9", "max"
        );
        let l = &self.latency_ms;
        for (name, p) in [
            ("verification", &l.verification),
            ("send", &l.send),
            ("inbox", &l.inbox),
            ("check", &l.check),
        ] {
            println!(
                "{name:<14}{:>9}{:>10.2}{:>10.2}{:>10.2}{:>10.2}{:>10.2}",
                p.count, p.p50, p.p90, p.p99, p.p99_9, p.max
            );
        }
        if self.failed > 0 {
            let f = &self.failures;
            println!(
                "\nfailures       {} http status, {} unexpected status, {} transport",
                f.http_status, f.unexpected_status, f.transport
            );
            print_failures(&f.by_detail);
        }
        if self.warmup.failed > 0 {
            println!(
                "\nwarmup: {} of {} verifications failed",
                self.warmup.failed, self.warmup.completed
            );
            print_failures(&self.warmup.failures);
        }
        if self.behind_schedule > 0 || self.missed_schedule > 0 {
            println!(
                "\nschedule: {} started late (all workers busy), {} never started; \
                 raise --concurrency or lower --rate",
                self.behind_schedule, self.missed_schedule
            );
        }
        if self.abandoned > 0 {
            println!(
                "\n{} verifications were still running at the hard deadline",
                self.abandoned
            );
        }
        println!(
            "\nnumbers used   {}..{} (next run: --start {})",
            self.numbers_used[0], self.numbers_used[1], self.next_start
        );
    }
}

fn print_failures(f: &FailureCounts) {
    for (detail, c) in f {
        println!("  {:>8}  {detail}  (first: {})", c.count, c.first_number);
    }
}
