//! `otpgate-smsc-sim`: the SMSC simulator as a program. Prints one ready line on stdout, logs on
//! stderr, stops on SIGTERM or SIGINT.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use otpgate_smsc_sim::{parse_rules_toml, start, IdFormat, SimConfig, DEFAULT_MAX_RECORDS};

#[derive(Debug, Parser)]
#[command(name = "otpgate-smsc-sim", version, about = "SMPP 3.4 SMSC simulator")]
struct Cli {
    /// SMPP listen address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:2775")]
    listen: SocketAddr,
    /// Control HTTP endpoint address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    control: SocketAddr,
    /// system_id an ESME must bind with.
    #[arg(long, default_value = "otpgate")]
    system_id: String,
    /// Password an ESME must bind with.
    #[arg(long, default_value = "secret")]
    password: String,
    /// TOML file of [[rules]] applied to submit_sm by destination prefix.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Delay before a delivery receipt when the rule names none.
    #[arg(long, default_value_t = 0)]
    receipt_delay_ms: u64,
    /// Keep only counters, no per-message records (for benchmarks).
    #[arg(long)]
    no_record: bool,
    /// Cap on stored records.
    #[arg(long, default_value_t = DEFAULT_MAX_RECORDS)]
    max_records: usize,
    /// message_id format in submit_sm_resp: decimal or hex.
    #[arg(long, default_value = "decimal")]
    message_id_format: IdFormat,
    /// Id format inside the receipt text (default: same as --message-id-format).
    #[arg(long)]
    receipt_text_id: Option<IdFormat>,
    /// Leave receipted_message_id and message_state TLVs out of receipts.
    #[arg(long)]
    no_receipt_tlvs: bool,
    /// Send each receipt on another receiving bind of the account than the submitting one,
    /// when one is live.
    #[arg(long)]
    receipts_on_other_bind: bool,
    /// Send every error response as the bare 16-octet header (no body), as npm smpp does.
    #[arg(long)]
    header_only_errors: bool,
    /// PEM certificate chain (leaf first): SMPP over TLS. Needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let cli = Cli::parse();
    let rules = match &cli.rules {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            parse_rules_toml(&text).with_context(|| format!("rules in {}", path.display()))?
        }
        None => Vec::new(),
    };
    let config = SimConfig {
        smpp_listen: cli.listen,
        control_listen: cli.control,
        system_id: cli.system_id,
        password: cli.password,
        rules,
        receipt_delay: Duration::from_millis(cli.receipt_delay_ms),
        record: !cli.no_record,
        max_records: cli.max_records,
        message_id_format: cli.message_id_format,
        receipt_text_id_format: cli.receipt_text_id,
        receipt_tlvs: !cli.no_receipt_tlvs,
        header_only_errors: cli.header_only_errors,
        receipts_on_other_bind: cli.receipts_on_other_bind,
        tls_cert: cli.tls_cert,
        tls_key: cli.tls_key,
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(config))
}

async fn run(config: SimConfig) -> anyhow::Result<()> {
    let sim = start(config).await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", sim.ready_line())?;
    stdout.flush()?;
    drop(stdout);
    wait_for_signal().await?;
    tracing::info!(stats = ?sim.stats(), "stopping");
    sim.shutdown();
    // Let connections write what they have buffered before the runtime goes away.
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = terminate.recv() => {}
        result = tokio::signal::ctrl_c() => result?,
    }
    Ok(())
}
