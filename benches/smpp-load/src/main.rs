//! `otpgate-smpp-load`: how many submit_sm per second otpgate's SMPP gateway pushes to an SMSC,
//! for each combination of binds × window, and — built with `--features peer-smpp34` — the
//! smpp34 crate's client against the same SMSC in the same run, for comparison.
//!
//! Every message is a full round trip: `Gateway::send` returns once the SMSC answered the
//! submit_sm (that is when an OTP counts as sent). The SMSC sends a DELIVRD receipt for each,
//! which the gateway also matches and reports, as in production.
//!
//! ```text
//! otpgate-smsc-sim --listen 127.0.0.1:2775 --no-record &
//! cargo run --release -p otpgate-smpp-load --features peer-smpp34 -- --smsc 127.0.0.1:2775
//! ```
//! `benches/smpp.sh` does both.
use clap::Parser;
use hdrhistogram::Histogram;
use otpgate_gateway::{report_channel, Channel, Coverage, Gateway, OutboundMessage};
use otpgate_smpp::{SmppConfig, SmppGateway, Source};
use serde_json::json;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(about = "submit_sm/s through otpgate's SMPP gateway against an SMSC")]
struct Cli {
    /// SMSC address (host:port).
    #[arg(long, default_value = "127.0.0.1:2775")]
    smsc: String,
    #[arg(long, default_value = "otpgate")]
    system_id: String,
    #[arg(long, default_value = "secret")]
    password: String,
    /// Messages per measured run (after a warm-up of a tenth of it).
    #[arg(long, default_value_t = 200_000)]
    count: u64,
    /// Bind counts to try, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    binds: Vec<u32>,
    /// Window sizes to try, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10,64")]
    windows: Vec<u32>,
    /// The simulator's control URL: each run's count is cross-checked against the submit_sm
    /// the SMSC says it answered.
    #[arg(long)]
    control: Option<String>,
    /// Skip the smpp34 comparison even when built with it.
    #[arg(long)]
    no_peer: bool,
    /// Print one JSON object per run instead of a table row.
    #[arg(long)]
    json: bool,
}

struct RunResult {
    client: &'static str,
    binds: u32,
    window: u32,
    count: u64,
    seconds: f64,
    latency: Option<Histogram<u64>>,
    /// submit_sm the SMSC counted during the run (warm-up included), when `--control` is given.
    smsc_counted: Option<u64>,
}

impl RunResult {
    fn rate(&self) -> f64 {
        self.count as f64 / self.seconds
    }

    fn print(&self, json: bool) {
        let q = |p: f64| self.latency.as_ref().map(|h| h.value_at_quantile(p) as f64 / 1000.0);
        if json {
            println!(
                "{}",
                json!({
                    "client": self.client, "binds": self.binds, "window": self.window,
                    "messages": self.count, "seconds": self.seconds, "submit_sm_per_s": self.rate().round(),
                    "p50_ms": q(0.5), "p99_ms": q(0.99), "p999_ms": q(0.999), "smsc_counted": self.smsc_counted,
                })
            );
        } else {
            let fmt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
            println!(
                "{:<8} binds {:>2} window {:>3}: {:>9.0} submit_sm/s  ({} in {:.2} s)  p50 {} ms  p99 {} ms  p99.9 {} ms  smsc counted {}",
                self.client,
                self.binds,
                self.window,
                self.rate(),
                self.count,
                self.seconds,
                fmt(q(0.5)),
                fmt(q(0.99)),
                fmt(q(0.999)),
                self.smsc_counted.map_or("-".to_owned(), |n| n.to_string()),
            );
        }
    }
}

fn main() {
    let cli = Cli::parse();
    for &binds in &cli.binds {
        for &window in &cli.windows {
            let before = smsc_submits(&cli);
            let mut result = actix_rt::System::new().block_on(run_otpgate(&cli, binds, window));
            result.smsc_counted = smsc_submits(&cli).zip(before).map(|(a, b)| a - b);
            result.print(cli.json);
            #[cfg(feature = "peer-smpp34")]
            if !cli.no_peer {
                let before = smsc_submits(&cli);
                let mut result = peer::run(&cli, binds, window);
                result.smsc_counted = smsc_submits(&cli).zip(before).map(|(a, b)| a - b);
                result.print(cli.json);
            }
        }
    }
}

/// submit_sm the simulator has answered so far (its `/stats`).
fn smsc_submits(cli: &Cli) -> Option<u64> {
    let url = cli.control.as_ref()?;
    let stats: serde_json::Value = ureq::get(&format!("{url}/stats")).call().ok()?.into_json().ok()?;
    stats["submit_sm"].as_u64()
}

fn message(n: u64) -> OutboundMessage {
    OutboundMessage {
        request_id: format!("load-{n}"),
        application: "load".into(),
        to: format!("+1415{:07}", 2_000_000 + n % 1_000_000),
        channel: Channel::Sms,
        code: "482915".into(),
        text: "Your Acme verification code is 482915".into(),
        locale: "en".into(),
    }
}

async fn run_otpgate(cli: &Cli, binds: u32, window: u32) -> RunResult {
    let (reports, mut receipts) = report_channel();
    // Drain receipts as the engine would (it hands each to the number's actor).
    actix_rt::spawn(async move { while receipts.recv().await.is_some() {} });
    let gateway = SmppGateway::start(
        SmppConfig {
            name: "bench".into(),
            address: cli.smsc.clone(),
            system_id: cli.system_id.parse().expect("system_id"),
            password: cli.password.parse().expect("password"),
            system_type: "".parse().unwrap(),
            source: Source::parse("OTPGATE").unwrap(),
            binds,
            window,
            max_tps: 0,
            tps_share: Default::default(),
            tls: None,
            enquire_link: Duration::from_secs(30),
            response_timeout: Duration::from_secs(10),
            coverage: Coverage::default(),
        },
        reports,
    );
    assert!(
        gateway.wait_bound(Duration::from_secs(5)).await,
        "could not bind {binds} time(s) to {}",
        cli.smsc
    );
    let concurrency = (binds * window) as u64;
    // Warm-up: connections, allocator, the SMSC's own caches.
    drive(&gateway, cli.count / 10, concurrency, 0, None).await;
    let histogram = Rc::new(RefCell::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap(),
    ));
    let started = Instant::now();
    drive(&gateway, cli.count, concurrency, cli.count, Some(histogram.clone())).await;
    let seconds = started.elapsed().as_secs_f64();
    gateway.shutdown().await;
    let latency = Some(histogram.borrow().clone());
    RunResult {
        client: "otpgate",
        binds,
        window,
        count: cli.count,
        seconds,
        latency,
        smsc_counted: None,
    }
}

/// `concurrency` senders, each sending back to back, until `count` messages were accepted.
async fn drive(
    gateway: &std::sync::Arc<SmppGateway>,
    count: u64,
    concurrency: u64,
    offset: u64,
    histogram: Option<Rc<RefCell<Histogram<u64>>>>,
) {
    let next = Rc::new(std::cell::Cell::new(0u64));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (gateway, next, histogram) = (gateway.clone(), next.clone(), histogram.clone());
        tasks.push(actix_rt::spawn(async move {
            loop {
                let n = next.get();
                if n >= count {
                    break;
                }
                next.set(n + 1);
                let message = message(offset + n);
                let started = Instant::now();
                if let Err(e) = gateway.send(&message).await {
                    panic!("send failed: {e}");
                }
                if let Some(h) = &histogram {
                    let _ = h.borrow_mut().record(started.elapsed().as_micros() as u64);
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[cfg(feature = "peer-smpp34")]
mod peer {
    //! The smpp34 crate's client (its own perf_esme example, reduced): `binds` sessions, each
    //! with `window` tasks sending back to back.
    use super::{Cli, RunResult};
    use async_trait::async_trait;
    use smpp34::client::{SmppClient, SmppClientListener, BIND_TYPE, SMSC};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Instant;
    use tokio::sync::{oneshot, Mutex};

    struct Binder {
        tx: Mutex<Option<oneshot::Sender<Arc<SMSC>>>>,
    }

    #[async_trait]
    impl SmppClientListener for Binder {
        async fn on_smsc_bound(&self, smsc: SMSC, _session_id: &String) {
            if let Some(tx) = self.tx.lock().await.take() {
                let _ = tx.send(Arc::new(smsc));
            }
        }
    }

    pub fn run(cli: &Cli, binds: u32, window: u32) -> RunResult {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (host, port) = cli.smsc.rsplit_once(':').expect("host:port");
            let mut clients = Vec::new();
            let mut sessions = Vec::new();
            for _ in 0..binds {
                let (tx, rx) = oneshot::channel();
                let binder = Arc::new(Binder {
                    tx: Mutex::new(Some(tx)),
                });
                let mut client = SmppClient::new(
                    host.to_owned(),
                    port.parse().unwrap(),
                    false,
                    BIND_TYPE::TRX,
                    cli.system_id.clone(),
                    cli.password.clone(),
                    String::new(),
                    1,
                    1,
                    String::new(),
                    binder,
                    window as usize,
                );
                client.start().await;
                sessions.push(rx.await.expect("smpp34 bind"));
                clients.push(client);
            }
            let blast = |count: u64| {
                let remaining = Arc::new(AtomicU64::new(count));
                let mut handles = Vec::new();
                for smsc in &sessions {
                    for _ in 0..window {
                        let (smsc, remaining) = (smsc.clone(), remaining.clone());
                        handles.push(tokio::spawn(async move {
                            while remaining
                                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |x| x.checked_sub(1))
                                .is_ok()
                            {
                                smsc.submit_sm()
                                    .source_addr("OTPGATE")
                                    .destination_addr("14155552671")
                                    .short_message(b"Your Acme verification code is 482915")
                                    .send()
                                    .await
                                    .expect("smpp34 submit_sm failed");
                            }
                        }));
                    }
                }
                handles
            };
            for h in blast(cli.count / 10) {
                h.await.unwrap();
            }
            let started = Instant::now();
            for h in blast(cli.count) {
                h.await.unwrap();
            }
            let seconds = started.elapsed().as_secs_f64();
            for mut c in clients {
                c.stop().await;
            }
            RunResult {
                client: "smpp34",
                binds,
                window,
                count: cli.count,
                seconds,
                latency: None,
                smsc_counted: None,
            }
        })
    }
}
