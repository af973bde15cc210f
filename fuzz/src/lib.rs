//! The fuzz targets' bodies, one public function per target, callable on stable Rust.
//!
//! `fuzz_targets/*.rs` hand libFuzzer's bytes to these; the workspace test
//! `tests/fuzz_corpora.rs` compiles the same module and feeds it every file under `corpus/`,
//! so the corpora replay as regression tests without nightly or fuzzing time.
#![forbid(unsafe_code)]

mod harness;
pub use harness::*;
