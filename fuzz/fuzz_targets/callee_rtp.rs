#![no_main]
//! libFuzzer entry: [`otpgate_fuzz::callee_rtp`].
libfuzzer_sys::fuzz_target!(|data: &[u8]| otpgate_fuzz::callee_rtp(data));
