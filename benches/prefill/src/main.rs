//! `otpgate-prefill` — fills an otpgate store with a month's worth of charged verifications, so a
//! benchmark can compare the send path on an empty store and on a full one (issue 11: no
//! per-request work may grow with stored volume).
//!
//! Each row is what the engine itself leaves behind after a send a carrier accepted: a verification
//! made by the number rules (`NumberState::begin_send` / `finish_send`), pending, charged $0.03 +
//! `--fee-micros`, saved through the store's single writer in batches, so the ledger, the free-tier
//! counter and the usage totals are exactly what a real month produces. Numbers are Spanish
//! mobiles (`+34 6XX XXX XXX`, index `i` → `+346` + `i` on 8 digits): they never collide with the
//! US numbers the load generator sends to. Timestamps are spread evenly from the start of the
//! current UTC month to now, so every charge counts against this month's allowance.
//!
//! ```text
//! otpgate-prefill --db /tmp/full/data/otpgate.db --count 1000000
//! ```
//!
//! Start the engine on the same database afterwards (its migrations are applied here already).
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use chrono::{Datelike, TimeZone, Utc};
use clap::Parser;
use otpgate::code::CodeSecret;
use otpgate::config::VerificationPolicy;
use otpgate::number;
use otpgate::number_state::{NumberState, SendRequest, SendResult, SendStart};
use otpgate::store::sqlite::SqliteStore;
use otpgate::store::Store;
use otpgate::verification::Verification;
use otpgate_gateway::Channel;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Fill an otpgate SQLite store with a month of charged verifications"
)]
struct Args {
    /// The SQLite database file (created with the engine's schema if missing).
    #[arg(long)]
    db: PathBuf,
    /// Verifications (and charges) to add, at most 100,000,000.
    #[arg(long, default_value_t = 1_000_000)]
    count: u64,
    /// The application they belong to; the engine's generated one is `default`.
    #[arg(long, default_value = "default")]
    application: String,
    /// The carrier fee of each charge, in micro-dollars.
    #[arg(long, default_value_t = 7_900)]
    fee_micros: u64,
    /// Verifications per store save (one writer transaction each, at most).
    #[arg(long, default_value_t = 2_048)]
    batch: usize,
}

const SPACE: u64 = 100_000_000;

fn verification(app: &str, i: u64, at_ms: i64, fee_micros: u64, secret: &CodeSecret) -> Verification {
    let request = SendRequest {
        application: app.into(),
        number: number::parse(&format!("+346{i:08}")).expect("+34 6XX XXX XXX is a valid Spanish mobile"),
        channel: None,
        preferred: None,
        blocklisted: None,
        high_risk: None,
        vendor_data: Some(format!("user-{i}")),
        metadata: None,
        code_length: 6,
        locale: "en".into(),
    };
    let mut state = NumberState::default();
    let (start, _) = state.begin_send(&request, &VerificationPolicy::default(), secret, at_ms);
    let SendStart::Deliver { request_id, .. } = start else {
        unreachable!("a first send to a fresh number is delivered")
    };
    let accepted = SendResult::Accepted {
        channel: Channel::Sms,
        carrier: "smsc-a".into(),
        delivered: false,
        fallbacks: vec![],
        fee_micros: Some(fee_micros),
        message_id: request_id.clone(),
    };
    state
        .finish_send(&request_id, at_ms, &accepted, at_ms)
        .expect("an accepted first send changes the record")
}

async fn run(args: Args) -> Result<(), String> {
    if args.count > SPACE {
        return Err(format!("--count must be at most {SPACE}"));
    }
    if args.batch == 0 {
        return Err("--batch must be at least 1".into());
    }
    let store = SqliteStore::open(&args.db).map_err(|e| e.to_string())?;
    let now = Utc::now();
    let month_start = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .expect("the first of a month at midnight UTC exists")
        .timestamp_millis();
    let span = (now.timestamp_millis() - month_start).max(1) as u64;
    let secret = CodeSecret::from_bytes(b"otpgate-prefill");
    let started = Instant::now();
    // One save in flight while the next batch is built: the writer commits one while we make the next.
    let mut in_flight = None;
    let mut done = 0;
    while done < args.count {
        let n = (args.count - done).min(args.batch as u64);
        let batch: Vec<Verification> = (done..done + n)
            .map(|i| {
                let at_ms = month_start + (i.saturating_mul(span) / args.count) as i64;
                verification(&args.application, i, at_ms, args.fee_micros, &secret)
            })
            .collect();
        let commit = store.save(batch);
        if let Some(previous) = in_flight.replace(commit) {
            previous.await.map_err(|e| e.to_string())?;
        }
        let before = done;
        done += n;
        if done / 100_000 != before / 100_000 || done == args.count {
            let rate = done as f64 / started.elapsed().as_secs_f64();
            eprintln!("otpgate-prefill: {done} of {} saved ({rate:.0}/s)", args.count);
        }
    }
    if let Some(last) = in_flight {
        last.await.map_err(|e| e.to_string())?;
    }
    store.flush().await.map_err(|e| e.to_string())?;
    println!(
        "otpgate-prefill: {} charged verifications of {:?} in {} in {:.1} s",
        args.count,
        args.application,
        args.db.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("otpgate-prefill: error: {e}");
            ExitCode::FAILURE
        }
    }
}
