//! The `otpgate` command: `serve` and `check-config` (CONTRACT §1).
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use otpgate::config::{Config, ConfigError, RawConfig};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "otpgate", version, about = "Self-hostable phone-verification engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine. With no config it starts on embedded defaults (sandbox, ./data).
    Serve {
        #[arg(long, env = "OTPGATE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Validate a config file, print every problem, exit 1 if there is any.
    CheckConfig {
        #[arg(long, env = "OTPGATE_CONFIG")]
        config: Option<PathBuf>,
    },
}

fn load(path: Option<&PathBuf>) -> Result<Config, ConfigError> {
    match path {
        Some(path) => RawConfig::load(path)?.build_and_validate(),
        None => RawConfig::default().build_and_validate(),
    }
}

/// mimalloc instead of glibc malloc: a verification allocates and frees a few hundred small
/// buffers across threads (JSON, sealed records, actor messages, SQLite rows), where glibc spent
/// ~10 % of the engine's CPU (`malloc_consolidate`, `unlink_chunk`, arena `mprotect`s). Measured
/// on the whole path, alternating in one invocation: ~10 % less CPU per verification, +7 %
/// verifications/s (benches/RESULTS.md, issue 14). An allocator is not ours to write.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { config } => match load(config.as_ref()) {
            Ok(_) => {
                let name = config.map_or("embedded defaults".into(), |p| p.display().to_string());
                println!("{name}: OK");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Serve { config } => {
            let config = match load(config.as_ref()) {
                Ok(config) => config,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            match otpgate::serve::run(config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("otpgate: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
