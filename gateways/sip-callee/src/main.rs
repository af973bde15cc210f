//! `otpgate-sip-callee`: runs the SIP callee simulator until Ctrl-C.
#![forbid(unsafe_code)]

use anyhow::Context;
use clap::Parser;
use otpgate_sip_callee::{digest::Algorithm, AnswerShape, Config, Listener, Mode, Rules};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(version, about = "SIP callee simulator for otpgate's voice gateway tests")]
struct Args {
    /// Address for SIP.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    /// udp | tcp | tls (tls needs --tls-cert and --tls-key).
    #[arg(long, default_value = "udp")]
    transport: String,
    /// PEM certificate chain (leaf first) for --transport tls.
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// How answered calls carry the SDP answer: in-200 | early-and-200 | early-only |
    /// reliable-early | pcma-first | telephone-event | media-level-c | sendonly | inactive |
    /// port-zero | hold
    #[arg(long, default_value = "in-200")]
    answer_shape: AnswerShape,
    /// Behave as a callee behind a NAT: send its own RTP (silence) from another port than its SDP
    /// names, to the offer's address; the report counts what the caller sent there.
    #[arg(long)]
    nat_media: bool,
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
    let listener = Listener::bind(
        args.listen,
        &args.transport,
        args.tls_cert.as_deref(),
        args.tls_key.as_deref(),
    )
    .await
    .context("binding the SIP listener")?;
    println!("sip-callee sip={}", listener.local_addr()?);
    let config = Config {
        rules,
        record_dir: args.record_dir,
        report_file: args.report_file,
        user: args.user,
        password: args.password,
        digest_algorithm: args.digest_algorithm,
        answer_shape: args.answer_shape,
        nat_media: args.nat_media,
    };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    otpgate_sip_callee::run(listener, config, shutdown).await?;
    Ok(())
}
