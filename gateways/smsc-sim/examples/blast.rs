//! How fast can the simulator answer? Opens N transceiver binds, keeps W submit_sm outstanding
//! on each for a fixed time and reports submit_sm_resp per second.
//!
//! The client is deliberately cheaper than the server: one pre-encoded submit_sm whose sequence
//! number is patched in place, and responses counted from their 16-byte headers, so the figure
//! is the simulator's ceiling rather than the client's.
//!
//! ```text
//! # against a simulator process (the realistic figure: two processes share the cores)
//! otpgate-smsc-sim --listen 127.0.0.1:2775 --no-record &
//! cargo run --release -p otpgate-smsc-sim --example blast -- --addr 127.0.0.1:2775
//! # or in-process, simulator and client on one runtime
//! cargo run --release -p otpgate-smsc-sim --example blast -- --connections 4 --window 256
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use rusmpp::pdus::{BindTransceiver, SubmitSm};
use rusmpp::tokio_codec::CommandCodec;
use rusmpp::types::{COctetString, OctetString};
use rusmpp::values::{EsmClass, InterfaceVersion, Npi, RegisteredDelivery, Ton};
use rusmpp::{Command, CommandStatus};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::bytes::{Buf, BytesMut};
use tokio_util::codec::{Encoder, Framed};

const SUBMIT_SM_RESP: u32 = 0x8000_0004;
const DELIVER_SM: u32 = 0x0000_0005;

#[derive(Debug, Parser)]
struct Args {
    /// A running simulator; without it one is started in-process with recording off.
    #[arg(long)]
    addr: Option<SocketAddr>,
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// submit_sm outstanding per connection.
    #[arg(long, default_value_t = 256)]
    window: usize,
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Ask for delivery receipts (registered_delivery 1) and acknowledge them.
    #[arg(long)]
    receipts: bool,
    #[arg(long, default_value = "otpgate")]
    system_id: String,
    #[arg(long, default_value = "secret")]
    password: String,
}

#[derive(Default)]
struct Counts {
    responses: AtomicU64,
    errors: AtomicU64,
    receipts: AtomicU64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _in_process;
    let addr = match args.addr {
        Some(addr) => addr,
        None => {
            let sim = otpgate_smsc_sim::start(otpgate_smsc_sim::SimConfig {
                record: false,
                ..otpgate_smsc_sim::SimConfig::ephemeral()
            })
            .await?;
            let addr = sim.smpp_addr();
            _in_process = sim;
            addr
        }
    };
    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut connections = Vec::new();
    for index in 0..args.connections {
        let stream = bind(addr, &args.system_id, &args.password).await?;
        let template = submit_template(index, args.receipts);
        connections.push(tokio::spawn(blast(
            stream,
            template,
            args.window,
            counts.clone(),
            stop.clone(),
        )));
    }
    // Warm up, then measure a steady window.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = (Instant::now(), counts.responses.load(Ordering::Relaxed));
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let elapsed = started.0.elapsed().as_secs_f64();
    let responses = counts.responses.load(Ordering::Relaxed) - started.1;
    stop.store(true, Ordering::Relaxed);
    for connection in connections {
        connection.abort();
    }
    println!(
        "{} connections x window {}{}: {:.0} submit_sm/s ({} responses in {:.2} s, {} errors, {} receipts)",
        args.connections,
        args.window,
        if args.receipts { " with receipts" } else { "" },
        responses as f64 / elapsed,
        responses,
        elapsed,
        counts.errors.load(Ordering::Relaxed),
        counts.receipts.load(Ordering::Relaxed),
    );
    Ok(())
}

async fn bind(addr: SocketAddr, system_id: &str, password: &str) -> anyhow::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut framed = Framed::new(stream, CommandCodec::new());
    let bind = BindTransceiver::builder()
        .system_id(COctetString::from_string(system_id.into())?)
        .password(COctetString::from_string(password.into())?)
        .interface_version(InterfaceVersion::Smpp3_4)
        .build();
    framed.send(Command::new(CommandStatus::EsmeRok, 1, bind)).await?;
    let response = framed
        .next()
        .await
        .ok_or_else(|| anyhow::anyhow!("closed during bind"))??;
    anyhow::ensure!(
        response.status() == CommandStatus::EsmeRok,
        "bind refused: {:?}",
        response.status()
    );
    Ok(framed.into_inner())
}

/// A typical OTP submit_sm, encoded once.
fn submit_template(connection: usize, receipts: bool) -> BytesMut {
    let submit = SubmitSm::builder()
        .source_addr_ton(Ton::Alphanumeric)
        .source_addr_npi(Npi::Unknown)
        .source_addr(COctetString::from_static_slice(b"otpgate\0").unwrap())
        .dest_addr_ton(Ton::International)
        .dest_addr_npi(Npi::Isdn)
        .destination_addr(COctetString::from_string(format!("1555000{connection:04}")).unwrap())
        .esm_class(EsmClass::from(0))
        .registered_delivery(RegisteredDelivery::from(u8::from(receipts)))
        .short_message(OctetString::from_static_str("Your otpgate code is 482913. It expires in 5 minutes.").unwrap())
        .build();
    let mut bytes = BytesMut::new();
    CommandCodec::new()
        .encode(Command::new(CommandStatus::EsmeRok, 0, submit), &mut bytes)
        .unwrap();
    bytes
}

async fn blast(stream: TcpStream, template: BytesMut, window: usize, counts: Arc<Counts>, stop: Arc<AtomicBool>) {
    let (mut read, mut write) = stream.into_split();
    let credit = Arc::new(Semaphore::new(window));
    let (acks, mut pending_acks) = mpsc::unbounded_channel::<u32>();

    let reader_credit = credit.clone();
    let reader = tokio::spawn(async move {
        let mut buffer = BytesMut::with_capacity(256 * 1024);
        loop {
            match read.read_buf(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let mut answered = 0;
            while buffer.len() >= 16 {
                let length = u32::from_be_bytes(buffer[0..4].try_into().unwrap()) as usize;
                if buffer.len() < length {
                    break;
                }
                let id = u32::from_be_bytes(buffer[4..8].try_into().unwrap());
                let status = u32::from_be_bytes(buffer[8..12].try_into().unwrap());
                let sequence = u32::from_be_bytes(buffer[12..16].try_into().unwrap());
                match id {
                    SUBMIT_SM_RESP => {
                        answered += 1;
                        if status != 0 {
                            counts.errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    DELIVER_SM => {
                        counts.receipts.fetch_add(1, Ordering::Relaxed);
                        let _ = acks.send(sequence);
                    }
                    _ => {}
                }
                buffer.advance(length);
            }
            counts.responses.fetch_add(answered, Ordering::Relaxed);
            reader_credit.add_permits(answered as usize);
        }
    });

    let mut out = BytesMut::with_capacity(template.len() * window + 4096);
    let mut sequence: u32 = 1;
    while !stop.load(Ordering::Relaxed) {
        let Ok(first) = credit.acquire().await else { break };
        first.forget();
        let mut batch = 1;
        while let Ok(permit) = credit.try_acquire() {
            permit.forget();
            batch += 1;
        }
        for _ in 0..batch {
            sequence = sequence.wrapping_add(1).max(2);
            let start = out.len();
            out.extend_from_slice(&template);
            out[start + 12..start + 16].copy_from_slice(&sequence.to_be_bytes());
        }
        while let Ok(acked) = pending_acks.try_recv() {
            // deliver_sm_resp with an empty message_id.
            out.extend_from_slice(&[0, 0, 0, 17, 0x80, 0, 0, 5, 0, 0, 0, 0]);
            out.extend_from_slice(&acked.to_be_bytes());
            out.extend_from_slice(&[0]);
        }
        if write.write_all(&out).await.is_err() {
            break;
        }
        out.clear();
    }
    reader.abort();
}
