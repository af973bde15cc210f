#![no_main]
//! libFuzzer entry: [`otpgate_fuzz::sip_sdp`].
libfuzzer_sys::fuzz_target!(|data: &[u8]| otpgate_fuzz::sip_sdp(data));
