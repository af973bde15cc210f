//! `otpgate-fake-rcs --listen ADDR [--token T] [--secret S] [--callback-url URL] [--rules FILE]`:
//! the fake RBM platform of `otpgate_rcs::fake` as a process (see
//! `otpgate_http_kit::testing::main`). `--secret` is the agent's webhook client token.
fn main() -> std::io::Result<()> {
    otpgate_http_kit::testing::main::main::<otpgate_rcs::fake::FakeRcs>()
}
