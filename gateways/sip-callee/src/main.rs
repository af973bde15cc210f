//! `otpgate-sip-callee`: runs the SIP callee simulator until Ctrl-C.
#![forbid(unsafe_code)]

use anyhow::Context;
use clap::Parser;
use otpgate_sip_callee::{digest::Algorithm, Config, Mode, Rules};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(version, about = "SIP callee simulator for otpgate's voice gateway tests")]
struct Args {
    /// UDP address for SIP.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    /// answer | busy | reject:CODE | ring-forever | challenge | hangup-after:MS
    /// (hangup-after:MS answers, then sends its own BYE MS milliseconds after the ACK)
    #[arg(long, default_value = "answer")]
    mode: Mode,
    /// TOML file: `default = "answer"` and a `[users]` table mapping called user to mode.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Directory for `<call-id>.wav` and `<call-id>.json` of answered calls.
    #[arg(long)]
    record_dir: Option<PathBuf>,
    /// JSON-lines log of every call's outcome.
    #[arg(long)]
    report_file: Option<PathBuf>,
    /// Digest user accepted in challenge mode.
    #[arg(long, default_value = "otpgate")]
    user: String,
    /// Digest password accepted in challenge mode.
    #[arg(long, default_value = "secret")]
    password: String,
    /// MD5 or SHA-256.
    #[arg(long, default_value = "MD5")]
    digest_algorithm: Algorithm,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rules = match &args.rules {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Rules::parse_toml(&text, args.mode)
                .map_err(anyhow::Error::msg)
                .context("parsing rules")?
        }
        None => Rules::single(args.mode),
    };
    let socket = tokio::net::UdpSocket::bind(args.listen)
        .await
        .context("binding the SIP socket")?;
    println!("sip-callee sip={}", socket.local_addr()?);
    let config = Config {
        rules,
        record_dir: args.record_dir,
        report_file: args.report_file,
        user: args.user,
        password: args.password,
        digest_algorithm: args.digest_algorithm,
    };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    otpgate_sip_callee::run(socket, config, shutdown).await?;
    Ok(())
}
