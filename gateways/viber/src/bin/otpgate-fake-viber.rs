//! `otpgate-fake-viber --listen 127.0.0.1:0 [--token T] [--callback-url URL] [--rules FILE]`: a
//! fake Viber Business Messages platform. Prints `fake-viber http=http://ADDR` once listening.
use otpgate_viber::fake::{FakeViber, Rules};
use std::io::Write;

const USAGE: &str = "usage: otpgate-fake-viber --listen ADDR [--token TOKEN] [--callback-url URL] [--rules FILE.toml]";

fn main() -> std::io::Result<()> {
    let mut listen = "127.0.0.1:0".to_owned();
    let mut token = None;
    let mut callback_url = None;
    let mut rules = Rules::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| fail(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--listen" => listen = value(),
            "--token" => token = Some(value()),
            "--callback-url" => callback_url = Some(value()),
            "--rules" => {
                let path = value();
                let text = std::fs::read_to_string(&path).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
                rules = toml::from_str(&text).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => fail(&format!("unknown argument {other}")),
        }
    }
    let listener = std::net::TcpListener::bind(&listen)?;
    let address = listener.local_addr()?;
    let fake = FakeViber::new(token, callback_url, rules);
    actix_web::rt::System::new().block_on(async move {
        let server = fake.serve(listener)?;
        println!("fake-viber http=http://{address}");
        std::io::stdout().flush()?;
        server.await
    })
}

fn fail(message: &str) -> ! {
    eprintln!("otpgate-fake-viber: {message}\n{USAGE}");
    std::process::exit(2)
}
