#![no_main]
//! libFuzzer entry: [`otpgate_fuzz::api_json`].
libfuzzer_sys::fuzz_target!(|data: &[u8]| otpgate_fuzz::api_json(data));
