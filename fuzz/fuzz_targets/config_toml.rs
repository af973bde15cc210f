#![no_main]
//! libFuzzer entry: [`otpgate_fuzz::config_toml`].
libfuzzer_sys::fuzz_target!(|data: &[u8]| otpgate_fuzz::config_toml(data));
