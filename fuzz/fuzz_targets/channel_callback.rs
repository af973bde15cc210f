#![no_main]
//! libFuzzer entry: [`otpgate_fuzz::channel_callback`].
libfuzzer_sys::fuzz_target!(|data: &[u8]| otpgate_fuzz::channel_callback(data));
