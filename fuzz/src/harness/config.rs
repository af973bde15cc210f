//! The config file: TOML text through the parser and the validation `otpgate check-config` runs.
use otpgate::config::RawConfig;

/// Parses and validates a config file; every problem is a message, never a panic. Inputs naming
/// device or process files are skipped: validation reads `tls_ca_file`, and `/dev/zero` would
/// only measure the machine's memory.
pub fn config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if ["/dev/", "/proc/", "/sys/"].iter().any(|p| text.contains(p)) {
        return;
    }
    match RawConfig::parse(text).and_then(RawConfig::build_and_validate) {
        Ok(_) => {}
        Err(problems) => assert!(!problems.0.is_empty(), "a refused config says why"),
    }
}
