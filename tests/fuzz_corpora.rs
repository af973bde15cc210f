//! Regression replay of the fuzz corpora (no fuzzing time, stable Rust): every file under
//! `fuzz/corpus/<target>/` goes through the same entry point its libFuzzer target calls
//! (`fuzz/src/harness`, compiled here through `#[path]`), which asserts no panic and the
//! target's own invariants. Crash inputs found by fuzzing are kept in the corpora, so each
//! fixed crash stays fixed. See fuzz/README.md.
#[allow(dead_code)]
#[path = "../fuzz/src/harness/mod.rs"]
mod harness;

use std::path::Path;

fn replay(target: &str) {
    let (_, run) = harness::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no target {target}"));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{target}: empty corpus");
    for file in &files {
        let data = std::fs::read(file).expect("corpus file");
        // A panic names the file that caused it.
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{target}: {} panicked", file.display());
    }
    eprintln!("{target}: {} corpus files replayed", files.len());
}

macro_rules! replay_tests {
    ($($target:ident),*) => {
        $(#[test] fn $target() { replay(stringify!($target)); })*

        #[test]
        fn every_target_has_a_replay_test() {
            let tested = [$(stringify!($target)),*];
            for (name, _) in harness::TARGETS {
                assert!(tested.contains(name), "{name} has no replay test");
            }
        }
    };
}

replay_tests!(
    smpp_pdu,
    smpp_receipt,
    sip_message,
    sip_sdp,
    callee_rtp,
    channel_callback,
    api_json,
    config_toml
);
