//! `otpgate-fake-telegram --listen ADDR [--token T] [--secret S] [--callback-url URL] [--rules FILE]`:
//! the fake Telegram Gateway API of `otpgate_telegram::fake` as a process (see
//! `otpgate_http_kit::testing::main`).
fn main() -> std::io::Result<()> {
    otpgate_http_kit::testing::main::main::<otpgate_telegram::fake::FakeTelegram>()
}
