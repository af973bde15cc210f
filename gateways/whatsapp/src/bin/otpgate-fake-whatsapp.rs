//! `otpgate-fake-whatsapp --listen ADDR [--token T] [--secret S] [--callback-url URL] [--rules FILE]`:
//! the fake WhatsApp Cloud API of `otpgate_whatsapp::fake` as a process (see
//! `otpgate_http_kit::testing::main`). `--secret` is the app secret webhooks are signed with.
fn main() -> std::io::Result<()> {
    otpgate_http_kit::testing::main::main::<otpgate_whatsapp::fake::FakeWhatsApp>()
}
