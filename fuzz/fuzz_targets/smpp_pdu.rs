#![no_main]
//! libFuzzer entry: [`otpgate_fuzz::smpp_pdu`].
libfuzzer_sys::fuzz_target!(|data: &[u8]| otpgate_fuzz::smpp_pdu(data));
