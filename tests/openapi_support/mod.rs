//! What the OpenAPI tests share: the engine started for fuzzing, and the Python tools
//! (schemathesis, openapi-spec-validator) in a pinned virtualenv that `tests/run.sh` prepares
//! and these tests prepare themselves when it is missing.
#![allow(dead_code)]

use crate::common::Server;
use std::path::PathBuf;
use std::process::Command;

/// Pinned versions: a new release may add checks or change the CLI; update them together.
pub const SCHEMATHESIS: &str = "schemathesis==4.32.5";
pub const SPEC_VALIDATOR: &str = "openapi-spec-validator==0.9.0";

/// The engine on embedded defaults (sandbox on, no carriers, a generated key) with the limits
/// that would turn a fuzzer's hundreds of requests into 429s switched off: failed
/// authentication per address (the fuzzer sends requests without the key on purpose) and sends
/// per address.
pub fn fuzzable_server(dir: &std::path::Path) -> Server {
    Server::with_config(
        dir,
        "[limits]\nfailed_auth_per_minute_per_ip = 0\n[risk]\nsends_per_minute_per_ip = 0\n",
    )
}

/// `~/.cache/otpgate/schemathesis-4.32.5` (or `$OTPGATE_PY_VENV`).
pub fn venv() -> PathBuf {
    if let Some(dir) = std::env::var_os("OTPGATE_PY_VENV") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache/otpgate").join(SCHEMATHESIS.replace("==", "-"))
}

/// The virtualenv's `bin/` with both tools, installed now if missing; `None` only when python3
/// is missing (the caller skips and says so). A failed install fails the test.
pub fn tools() -> Option<PathBuf> {
    let venv = venv();
    let bin = venv.join("bin");
    if bin.join("schemathesis").exists() && bin.join("openapi-spec-validator").exists() {
        return Some(bin);
    }
    if Command::new("python3").arg("--version").output().is_err() {
        return None;
    }
    let run = |cmd: &mut Command| {
        let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        assert!(
            out.status.success(),
            "{cmd:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    eprintln!("installing {SCHEMATHESIS} and {SPEC_VALIDATOR} into {}", venv.display());
    run(Command::new("python3").arg("-m").arg("venv").arg(&venv));
    run(Command::new(bin.join("pip")).args(["install", "-q", SCHEMATHESIS, SPEC_VALIDATOR]));
    Some(bin)
}
