//! The `main` of every fake-platform binary:
//!
//! ```text
//! otpgate-fake-NAME --listen ADDR [--token TOKEN] [--secret SIGNING_SECRET] [--callback-url URL]
//!     [--rules FILE.toml]
//! ```
//!
//! It prints `fake-NAME http=http://HOST:PORT` once it accepts connections, and exits 2 on a
//! bad argument.
use super::fake::{Fake, FakePlatform, FakeSettings};
use super::rules::Rules;
use std::io::Write;

/// Runs `P`'s fake as a process, configured from the command line.
pub fn main<P: FakePlatform>() -> std::io::Result<()> {
    let usage = format!(
        "usage: otpgate-{} --listen ADDR [--token TOKEN] [--secret SIGNING_SECRET] [--callback-url URL] \
         [--rules FILE.toml]",
        P::NAME
    );
    let fail = |problem: &str| -> ! {
        eprintln!("otpgate-{}: {problem}\n{usage}", P::NAME);
        std::process::exit(2)
    };
    let mut listen = "127.0.0.1:0".to_owned();
    let mut settings = FakeSettings::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| fail(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--listen" => listen = value(),
            "--token" => settings.token = Some(value()),
            "--secret" => settings.secret = Some(value()),
            "--callback-url" => settings.callback_url = Some(value()),
            "--rules" => {
                let path = value();
                let text = std::fs::read_to_string(&path).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
                settings.rules = toml::from_str::<Rules>(&text).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
            }
            "-h" | "--help" => {
                println!("{usage}");
                return Ok(());
            }
            other => fail(&format!("unknown argument {other}")),
        }
    }
    let listener = std::net::TcpListener::bind(&listen)?;
    let address = listener.local_addr()?;
    let fake = Fake::<P>::new(settings);
    actix_web::rt::System::new().block_on(async move {
        let server = fake.serve(listener)?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "{} http=http://{address}", P::NAME)?;
        stdout.flush()?;
        server.await
    })
}
