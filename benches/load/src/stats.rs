//! Counters and latency histograms, and the final report (JSON or table).

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::numbers::Numbers;
use crate::smsc::SmscReport;

/// The HTTP calls a unit of work is made of: a verification is all three, a
/// send-only unit is `Send`.
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

/// Why one unit did not end as expected ("Approved", "Success", accepted). `detail` groups failures
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
    numbers: Numbers,
    // Measured window only (units started after the warmup).
    pub total: Histogram<u64>,
    steps: [Histogram<u64>; 3],
    pub completed: u64,
    /// Verifications approved, or sends accepted.
    pub succeeded: u64,
    pub http_requests: u64,
    pub fail_http: u64,
    pub fail_status: u64,
    pub fail_transport: u64,
    pub failures: FailureCounts,
    pub behind_schedule: u64,
    /// When the last measured unit finished, relative to the start.
    pub last_end: Duration,
    // Warmup, reported separately so a broken setup still shows up.
    pub warmup_completed: u64,
    pub warmup_failed: u64,
    pub warmup_failures: FailureCounts,
    // Everything, for the once-a-second progress line.
    pub done_all: u64,
    pub ok_all: u64,
    /// Units that succeeded in each whole second since the start, warmup included: a rate that
    /// falls second by second shows here, where the run's average hides it.
    pub ok_per_second: Vec<u64>,
}

impl Stats {
    pub fn new(numbers: Numbers) -> Self {
        Stats {
            numbers,
            total: histogram(),
            steps: [histogram(), histogram(), histogram()],
            completed: 0,
            succeeded: 0,
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
            ok_per_second: Vec::new(),
        }
    }

    /// One HTTP exchange; `latency` is `None` when no answer came back.
    pub fn record_step(&mut self, step: Step, latency: Option<Duration>) {
        self.http_requests += 1;
        if let Some(l) = latency {
            self.steps[step as usize].saturating_record(micros(l));
        }
    }

    pub fn record_unit(
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
            let second = ended_at.as_secs() as usize;
            if self.ok_per_second.len() <= second {
                self.ok_per_second.resize(second + 1, 0);
            }
            self.ok_per_second[second] += 1;
        }
        if !measured {
            self.warmup_completed += 1;
            if let Err(f) = result {
                self.warmup_failed += 1;
                tally(&mut self.warmup_failures, f.detail, self.numbers, number);
            }
            return;
        }
        self.completed += 1;
        self.last_end = self.last_end.max(ended_at);
        match result {
            Ok(()) => {
                self.succeeded += 1;
                self.total.saturating_record(micros(latency));
            }
            Err(f) => {
                match f.kind {
                    FailKind::Http => self.fail_http += 1,
                    FailKind::Status => self.fail_status += 1,
                    FailKind::Transport => self.fail_transport += 1,
                }
                tally(&mut self.failures, f.detail, self.numbers, number);
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

fn tally(map: &mut FailureCounts, detail: String, numbers: Numbers, number: u64) {
    map.entry(detail)
        .or_insert_with(|| FailureCount {
            count: 0,
            first_number: numbers.phone(number).as_str().to_string(),
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

/// Latency percentiles by name, in the order the table prints them (a JSON
/// object, so readers index them by name).
pub struct Latencies(Vec<(&'static str, Percentiles)>);

impl Serialize for Latencies {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(name, p)| (name, p)))
    }
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
    /// `otpgate` or `kannel`.
    pub target: &'static str,
    /// What one unit of work is: `verification` (send + inbox + check) or `send`.
    pub unit: &'static str,
    /// `open` or `closed` loop.
    pub mode: &'static str,
    pub target_rate: Option<f64>,
    pub concurrency: u32,
    pub measured_seconds: f64,
    pub warmup: WarmupReport,
    pub completed: u64,
    /// Verifications approved, or sends accepted ("Success" from otpgate, "0: Accepted" from
    /// Kannel).
    pub succeeded: u64,
    /// Verification runs only: the same as `succeeded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved: Option<u64>,
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
    /// Units completed per second (successful or not).
    pub units_per_s: f64,
    /// Verification runs only: the same as `units_per_s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verifications_per_s: Option<f64>,
    pub http_requests_per_s: f64,
    /// `verification`, `send`, `inbox`, `check` for verifications; `message` (the unit, from
    /// its scheduled start in open loop) and `send` (the HTTP exchange) for send-only runs.
    pub latency_ms: Latencies,
    /// With `--smsc-control`: what reached the SMSC simulator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smsc: Option<SmscReport>,
    /// Units that succeeded in each whole second of the run, warmup included (index 0 is the
    /// first second); the last entry may cover a partial second.
    pub ok_per_second: Vec<u64>,
    pub numbers_used: [u64; 2],
    pub next_start: u64,
}

impl Report {
    /// The unit's own histogram under `unit_name`, then the steps it is made of.
    pub fn latencies(s: &Stats, unit_name: &'static str, steps: &[Step]) -> Latencies {
        let mut all = vec![(unit_name, Percentiles::of(&s.total))];
        all.extend(
            steps
                .iter()
                .map(|&st| (st.name(), Percentiles::of(&s.steps[st as usize]))),
        );
        Latencies(all)
    }

    pub fn print_table(&self) {
        let rate = match self.target_rate {
            Some(r) => format!("open loop at {r}/s"),
            None => "closed loop".to_string(),
        };
        let (units, ok) = match self.unit {
            "verification" => ("verifications", "approved"),
            _ => ("sends", "accepted"),
        };
        println!(
            "otpgate-load {} ({}) — {rate}, concurrency {}, {:.1} s measured after {:.1} s warmup",
            self.url, self.target, self.concurrency, self.measured_seconds, self.warmup.seconds
        );
        println!(
            "{units:<15}{} completed, {} {ok}, {} failed",
            self.completed, self.succeeded, self.failed
        );
        println!(
            "throughput     {:.1} {units}/s, {:.1} HTTP requests/s ({} requests)",
            self.units_per_s, self.http_requests_per_s, self.http_requests
        );
        if let Some(m) = &self.smsc {
            println!(
                "at the SMSC    {:.1} submit_sm/s over {:.1} s; {} submit_sm for {} {ok} in the run, \
                 {:.2} s after the last answer{}",
                m.submit_sm_per_s,
                m.measured_seconds,
                m.submit_sm_total,
                m.accepted_total,
                m.drain_seconds,
                if m.drained { "" } else { " (not all arrived)" }
            );
        }
        println!(
            "\n{:<14}{:>9}{:>10}{:>10}{:>10}{:>10}{:>10}",
            "latency (ms)", "count", "p50", "p90", "p99", "p99.9", "max"
        );
        for (name, p) in &self.latency_ms.0 {
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
                "\nwarmup: {} of {} {units} failed",
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
            println!("\n{} {units} were still running at the hard deadline", self.abandoned);
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
