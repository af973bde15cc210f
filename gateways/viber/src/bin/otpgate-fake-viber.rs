//! `otpgate-fake-viber --listen ADDR [--token T] [--secret S] [--callback-url URL] [--rules FILE]`:
//! the fake Viber platform of `otpgate_viber::fake` as a process (see `otpgate_http_kit::testing::main`).
fn main() -> std::io::Result<()> {
    otpgate_http_kit::testing::main::main::<otpgate_viber::fake::FakeViber>()
}
