//! `otpgate-load` — load generator for a running otpgate engine, and for
//! Kannel as the baseline of the send-only path.
//!
//! What one unit of work is (`--mode`):
//! * `verify` (default): the full user journey: `POST /v3/phone/send/` →
//!   read the code → `POST /v3/phone/check/` with that code; it counts as
//!   approved only on "Success" then "Approved". Without `--smsc-control` the
//!   code comes from the sandbox inbox (`GET /v3/sandbox/messages/`) and every
//!   verification uses its own fictional number (`+1NXX55501XX`, 80,000 of
//!   them, offset by `--start`) because the engine allows 3 sends per number
//!   per 24 h. With `--smsc-control` the engine must have an SMPP carrier to
//!   that simulator: numbers are fresh carrier numbers and the code is read
//!   from what reached the SMSC (`GET /messages?destination=`), so the run
//!   covers routing, SMPP, billing and receipts: the production path.
//! * `send`: one message to a fresh carrier number (valid US numbers, 160
//!   million of them), counted only when accepted. With `--target otpgate`
//!   (default) that is `POST /v3/phone/send/` answered "Success", which the
//!   engine says once the SMSC returned submit_sm_resp; with `--target kannel`
//!   it is `GET /cgi-bin/sendsms` on Kannel's smsbox with the same numbers and
//!   otpgate's English text, answered "0: Accepted for delivery" — once the
//!   message is queued. `--smsc-control` reads the SMSC simulator's counters
//!   around the run to report what actually reached the carrier and how long
//!   a queue took to drain afterwards.
//!
//! How units are started:
//! * `--rate N` (open loop): unit k is scheduled at `k / N` s and its
//!   latency is measured from that scheduled time, so when every worker is
//!   busy the queueing delay is counted (no coordinated omission).
//! * `--rate 0` (closed loop): `--concurrency` workers run back to back; this
//!   finds the maximum throughput, latency is per unit.
//!
//! The run lasts `--warmup` + `--duration` seconds or `--count` units,
//! whichever comes first; only units started after the warmup are in the
//! report: counts, failures by kind, units/s and HTTP requests/s, and
//! p50/p90/p99/p99.9/max latency of the whole unit and of each call. Exits 1
//! if any unit (warmup included) failed.
//!
//! ```text
//! cargo run --release -p otpgate-load -- --api-key KEY --rate 1000 --duration 10
//! OTPGATE_API_KEY=KEY cargo run --release -p otpgate-load -- --rate 0 --json
//! cargo run --release -p otpgate-load -- --mode send --api-key KEY --smsc-control http://127.0.0.1:PORT
//! cargo run --release -p otpgate-load -- --mode send --target kannel --url http://127.0.0.1:13013 \
//!     --kannel-password secret --smsc-control http://127.0.0.1:PORT
//! ```
//!
//! The client runs on one thread (a single actix-rt system): the engine and
//! this tool usually share the same few cores, so the generator stays lean.

mod driver;
mod numbers;
mod send;
mod smsc;
mod stats;
mod verify;

use std::cell::Cell;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use awc::http::header::HeaderValue;
use clap::{Parser, ValueEnum};

use driver::{CodeSource, Driver, Work};
use send::KannelSend;
use smsc::{DrainLimits, SmscCounter};
use stats::{FailureReport, Report, WarmupReport};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// send → sandbox inbox → check (otpgate only).
    Verify,
    /// One message to a fresh carrier number.
    Send,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Target {
    /// otpgate's `/v3/phone/send/` (with `x-api-key`).
    Otpgate,
    /// Kannel smsbox's `/cgi-bin/sendsms` (`--mode send` only).
    Kannel,
    /// Jasmin's HTTP API `/send` (`--mode send` only); the `--kannel-*` options give its user,
    /// password, sender and brand.
    Jasmin,
}

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Drive verifications (send → inbox → check) or single sends against a running otpgate, or sends against Kannel"
)]
struct Args {
    /// Base URL of the engine, or of Kannel's smsbox sendsms port (plain http).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// What one unit of work is.
    #[arg(long, value_enum, default_value_t = Mode::Verify)]
    mode: Mode,
    /// Which gateway `--url` is.
    #[arg(long, value_enum, default_value_t = Target::Otpgate)]
    target: Target,
    /// API key sent as `x-api-key` (otpgate).
    #[arg(long, env = "OTPGATE_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Kannel sendsms-user username.
    #[arg(long, default_value = "otpgate")]
    kannel_user: String,
    /// Kannel sendsms-user password.
    #[arg(long, env = "KANNEL_PASSWORD", hide_env_values = true, default_value = "")]
    kannel_password: String,
    /// Sender for Kannel's `from=`, as otpgate's default `source_addr`.
    #[arg(long, default_value = "OTPGATE")]
    kannel_from: String,
    /// Brand in Kannel's text, "Your BRAND verification code is NNNNNN": otpgate writes its
    /// application's name there ("default" for the generated one).
    #[arg(long, default_value = "default")]
    kannel_brand: String,
    /// Control URL of the SMSC simulator (`http://…`): count the submit_sm that reached it.
    #[arg(long)]
    smsc_control: Option<String>,
    /// After the last answer, stop waiting for the SMSC count once it stood still this many seconds.
    #[arg(long, default_value_t = 2.0)]
    drain_idle: f64,
    /// After the last answer, wait at most this many seconds for the SMSC count.
    #[arg(long, default_value_t = 300.0)]
    drain_timeout: f64,
    /// Units per second, open loop; 0 = closed loop (as fast as the workers go).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Maximum units in flight (also the HTTP connection limit).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    concurrency: u32,
    /// Seconds measured, after the warmup.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Maximum units in total, warmup included [default: all numbers left after --start].
    #[arg(long)]
    count: Option<u64>,
    /// Index of the first number; use a fresh range for each run on the same database.
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Seconds run first and left out of the statistics.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Per-request timeout in seconds (connect + answer + body).
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// Print one JSON object with the results on stdout instead of a table.
    #[arg(long)]
    json: bool,
}

/// Hands out unit indexes and their start times; the one place that
/// enforces both the count and the duration limit.
struct Schedule {
    next: Cell<u64>,
    count: u64,
    t0: Instant,
    end: Instant,
    /// Nanoseconds between scheduled starts; `None` in closed loop.
    interval_ns: Option<f64>,
}

struct Job {
    k: u64,
    /// Latency origin: the scheduled time if the job started late.
    origin: Instant,
    /// Started more than 1 ms after its slot because every worker was busy.
    behind: bool,
    scheduled: Instant,
}

impl Schedule {
    async fn claim(&self) -> Option<Job> {
        let k = self.next.get();
        let now = Instant::now();
        if k >= self.count || now >= self.end {
            return None;
        }
        let Some(iv) = self.interval_ns else {
            self.next.set(k + 1);
            return Some(Job {
                k,
                origin: now,
                behind: false,
                scheduled: now,
            });
        };
        let scheduled = self.t0 + Duration::from_nanos((k as f64 * iv) as u64);
        if scheduled >= self.end {
            return None;
        }
        self.next.set(k + 1);
        if scheduled > now {
            // A free worker waited for the slot: timer lateness (≤ 1 ms tick)
            // is the generator's, not the engine's, so start the clock on wake.
            actix_rt::time::sleep_until(scheduled.into()).await;
            Some(Job {
                k,
                origin: Instant::now(),
                behind: false,
                scheduled,
            })
        } else {
            // No worker was free at the scheduled time: that wait is queueing
            // the engine caused, so it belongs in the latency. Sub-millisecond
            // lag is just the claim itself, not worth flagging.
            Some(Job {
                k,
                origin: scheduled,
                behind: now - scheduled > Duration::from_millis(1),
                scheduled,
            })
        }
    }

    /// Open loop: slots due before the end that no worker ever started.
    fn missed(&self) -> u64 {
        let Some(iv) = self.interval_ns else { return 0 };
        let span = self.end.duration_since(self.t0).as_nanos() as f64;
        let due = ((span / iv).ceil() as u64).min(self.count);
        due.saturating_sub(self.next.get())
    }
}

async fn worker(v: Rc<Driver>, sched: Rc<Schedule>, warmup_end: Instant) {
    // Bounded: every claim consumes one of `count` indexes and none is
    // handed out after the end time.
    while let Some(job) = sched.claim().await {
        let measured = job.scheduled >= warmup_end;
        let number = v.first_number + job.k;
        let result = v.run(number, measured).await;
        let done = Instant::now();
        let mut s = v.stats.borrow_mut();
        if measured && job.behind {
            s.behind_schedule += 1;
        }
        s.record_unit(measured, number, done - job.origin, done - sched.t0, result);
    }
}

fn secs(name: &str, v: f64, min_exclusive: bool) -> Result<Duration, String> {
    let ok = v.is_finite() && v <= 86_400.0 && if min_exclusive { v > 0.0 } else { v >= 0.0 };
    if !ok {
        let bound = if min_exclusive { "> 0" } else { ">= 0" };
        return Err(format!("--{name} must be {bound} and at most 86400 seconds, got {v}"));
    }
    Ok(Duration::from_secs_f64(v))
}

struct Plan {
    work: Work,
    count: u64,
    warmup: Duration,
    duration: Duration,
    timeout: Duration,
    interval_ns: Option<f64>,
    base: String,
    key: Option<HeaderValue>,
    smsc: Option<(SmscCounter, DrainLimits)>,
}

fn plan(a: &Args) -> Result<Plan, String> {
    let base = a.url.trim_end_matches('/').to_string();
    if !base.starts_with("http://") {
        return Err(format!(
            "--url must be a plain http:// URL (no TLS in this client), got {:?}",
            a.url
        ));
    }
    let (work, key) = match (a.mode, a.target) {
        (Mode::Verify, Target::Kannel | Target::Jasmin) => {
            return Err("--target kannel or jasmin has no verification to run; use it with --mode send".into())
        }
        (mode, Target::Otpgate) => {
            let key = a
                .api_key
                .as_deref()
                .ok_or("--api-key (or OTPGATE_API_KEY) is required for otpgate")?;
            let key = HeaderValue::from_str(key).map_err(|_| "--api-key is not a valid header value")?;
            let work = if mode == Mode::Verify {
                // With the SMSC simulator at hand, read the codes where the carrier got them:
                // the charged production path instead of the uncharged sandbox.
                match &a.smsc_control {
                    Some(control) => Work::Verify(CodeSource::Smsc(control.trim_end_matches('/').to_owned())),
                    None => Work::Verify(CodeSource::Sandbox),
                }
            } else {
                Work::SendOtpgate
            };
            (work, Some(key))
        }
        (Mode::Send, Target::Kannel) => {
            let kannel = KannelSend::new(
                &base,
                &a.kannel_user,
                &a.kannel_password,
                &a.kannel_from,
                &a.kannel_brand,
            );
            (Work::SendKannel(kannel), None)
        }
        (Mode::Send, Target::Jasmin) => {
            let jasmin = KannelSend::jasmin(
                &base,
                &a.kannel_user,
                &a.kannel_password,
                &a.kannel_from,
                &a.kannel_brand,
            );
            (Work::SendKannel(jasmin), None)
        }
    };
    let numbers = work.numbers();
    let space = numbers.space();
    if a.start >= space {
        return Err(format!(
            "--start {} is outside the {space} {}",
            a.start,
            numbers.pattern()
        ));
    }
    let count = match a.count {
        Some(0) => return Err("--count must be at least 1".into()),
        Some(c) if c.saturating_add(a.start) > space => {
            return Err(format!(
                "--count {c} + --start {} exceeds the {space} distinct {}; lower one of them",
                a.start,
                numbers.pattern()
            ))
        }
        Some(c) => c,
        None => space - a.start,
    };
    if !(a.rate.is_finite() && a.rate >= 0.0) {
        return Err(format!("--rate must be >= 0, got {}", a.rate));
    }
    let warmup = secs("warmup", a.warmup, false)?;
    let duration = secs("duration", a.duration, true)?;
    let timeout = secs("timeout", a.timeout, true)?;
    let smsc = match &a.smsc_control {
        None => None,
        Some(url) => {
            let limits = DrainLimits {
                idle: secs("drain-idle", a.drain_idle, true)?,
                timeout: secs("drain-timeout", a.drain_timeout, false)?,
            };
            Some((SmscCounter::new(url, timeout)?, limits))
        }
    };
    let interval_ns = (a.rate > 0.0).then(|| 1e9 / a.rate);
    if let Some(iv) = interval_ns {
        let due = (warmup + duration).as_nanos() as f64 / iv;
        if due > count as f64 {
            eprintln!("note: --rate × run time needs {due:.0} numbers; the run stops after {count}");
        }
    }
    Ok(Plan {
        work,
        count,
        warmup,
        duration,
        timeout,
        interval_ns,
        base,
        key,
        smsc,
    })
}

async fn run(a: Args, p: Plan) -> ExitCode {
    let connector = awc::Connector::new()
        .limit(a.concurrency as usize)
        .timeout(p.timeout)
        .conn_keep_alive(Duration::from_secs(60));
    let mut client = awc::ClientBuilder::new()
        .connector(connector)
        .timeout(p.timeout)
        .no_default_headers()
        .disable_redirects();
    if let Some(key) = p.key {
        client = client.add_default_header(("x-api-key", key));
    }
    let (target, unit) = (p.work.target(), p.work.unit());
    let (unit_name, steps) = p.work.latency_names();
    let v = match Driver::new(client.finish(), &p.base, p.work, a.start) {
        Ok(v) => Rc::new(v),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let smsc = p.smsc.map(Rc::new);
    let smsc_start = match &smsc {
        None => None,
        Some(m) => match m.0.read().await {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("error: SMSC simulator: {e}");
                return ExitCode::from(2);
            }
        },
    };

    let t0 = Instant::now();
    let warmup_end = t0 + p.warmup;
    let sched = Rc::new(Schedule {
        next: Cell::new(0),
        count: p.count,
        t0,
        end: warmup_end + p.duration,
        interval_ns: p.interval_ns,
    });
    let smsc_at_warmup_end = smsc.clone().map(|m| {
        actix_rt::spawn(async move {
            actix_rt::time::sleep_until(warmup_end.into()).await;
            m.0.read().await
        })
    });
    let workers: Vec<_> = (0..a.concurrency)
        .map(|_| actix_rt::spawn(worker(v.clone(), sched.clone(), warmup_end)))
        .collect();
    let progress = actix_rt::spawn(progress(v.clone(), t0, p.warmup));

    // Each call is capped by the timeout and a verification is three calls,
    // so this only trips if something is badly wrong; the run still ends.
    let hard_deadline = p.warmup + p.duration + p.timeout * 3 + Duration::from_secs(5);
    let joined = actix_rt::time::timeout(hard_deadline, async {
        for w in workers {
            let _ = w.await;
        }
    })
    .await;
    progress.abort();
    let abandoned = {
        let s = v.stats.borrow();
        sched.next.get() - s.done_all
    };
    if joined.is_err() {
        eprintln!("warning: hard deadline reached with {abandoned} units in flight");
    }

    let ok_all = v.stats.borrow().ok_all;
    let smsc_report = match (smsc, smsc_start, smsc_at_warmup_end) {
        (Some(m), Some(start), Some(at_warmup_end)) => {
            let (counter, limits) = &*m;
            let readings = async {
                let at_warmup_end = at_warmup_end.await.map_err(|e| e.to_string())??;
                let last_answer = counter.read().await?;
                let drain = counter.wait_drained(start, last_answer, ok_all, limits).await?;
                Ok::<_, String>(counter.report(start, at_warmup_end, last_answer, drain, ok_all))
            };
            match readings.await {
                Ok(r) => Some(r),
                Err(e) => {
                    eprintln!("warning: SMSC simulator: {e}");
                    None
                }
            }
        }
        _ => None,
    };

    let s = v.stats.borrow();
    let window = s.last_end.saturating_sub(p.warmup).as_secs_f64();
    let per_s = |n: u64| if window > 0.0 { n as f64 / window } else { 0.0 };
    let verifying = unit == "verification";
    let report = Report {
        url: p.base.clone(),
        target,
        unit,
        mode: if p.interval_ns.is_some() { "open" } else { "closed" },
        target_rate: p.interval_ns.map(|_| a.rate),
        concurrency: a.concurrency,
        measured_seconds: window,
        warmup: WarmupReport {
            seconds: p.warmup.as_secs_f64(),
            completed: s.warmup_completed,
            failed: s.warmup_failed,
            failures: s.warmup_failures.clone(),
        },
        completed: s.completed,
        succeeded: s.succeeded,
        approved: verifying.then_some(s.succeeded),
        failed: s.failed(),
        failures: FailureReport {
            http_status: s.fail_http,
            unexpected_status: s.fail_status,
            transport: s.fail_transport,
            by_detail: s.failures.clone(),
        },
        behind_schedule: s.behind_schedule,
        missed_schedule: sched.missed(),
        abandoned,
        http_requests: s.http_requests,
        units_per_s: per_s(s.completed),
        verifications_per_s: verifying.then(|| per_s(s.completed)),
        http_requests_per_s: per_s(s.http_requests),
        latency_ms: Report::latencies(&s, unit_name, steps),
        smsc: smsc_report,
        ok_per_second: s.ok_per_second.clone(),
        numbers_used: [a.start, a.start + sched.next.get()],
        next_start: a.start + sched.next.get(),
    };
    if a.json {
        println!("{}", serde_json::to_string(&report).expect("report serializes"));
    } else {
        report.print_table();
    }
    if s.failed() > 0 || s.warmup_failed > 0 || abandoned > 0 || s.done_all == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Once-a-second progress line on stderr; aborted when the workers finish.
async fn progress(v: Rc<Driver>, t0: Instant, warmup: Duration) {
    let mut tick = actix_rt::time::interval_at((t0 + Duration::from_secs(1)).into(), Duration::from_secs(1));
    let mut last = 0;
    // Bounded by the abort in `run`; the cap is only a backstop.
    for _ in 0..=86_400 * 2 {
        tick.tick().await;
        let (done, ok) = {
            let s = v.stats.borrow();
            (s.done_all, s.ok_all)
        };
        let el = t0.elapsed();
        let phase = if el < warmup { " (warmup)" } else { "" };
        eprintln!(
            "[{:>5.1}s] done {done:>8}  ok {ok:>8}  errors {:>6}  rate {:>8}/s{phase}",
            el.as_secs_f64(),
            done - ok,
            done - last
        );
        last = done;
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let plan = match plan(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    actix_rt::System::new().block_on(run(args, plan))
}
