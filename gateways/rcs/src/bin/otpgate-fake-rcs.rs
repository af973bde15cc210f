//! `otpgate-fake-rcs --listen 127.0.0.1:0 [--token T] [--webhook-token W] [--callback-url URL]
//! [--rules FILE]`: a fake RBM platform. Prints `fake-rcs http=http://ADDR` once it is listening.
use otpgate_rcs::fake::{FakeRcs, FakeRcsConfig};
use std::io::Write;

const USAGE: &str = "usage: otpgate-fake-rcs --listen ADDR [--token TOKEN] [--webhook-token CLIENT_TOKEN] \
                     [--callback-url URL] [--rules FILE.toml]";

fn main() -> std::io::Result<()> {
    let mut listen = "127.0.0.1:0".to_owned();
    let mut config = FakeRcsConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| fail(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--listen" => listen = value(),
            "--token" => config.token = Some(value()),
            "--webhook-token" => config.webhook_token = Some(value()),
            "--callback-url" => config.callback_url = Some(value()),
            "--rules" => {
                let path = value();
                let text = std::fs::read_to_string(&path).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
                config.rules = toml::from_str(&text).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
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
    let fake = FakeRcs::new(config);
    actix_web::rt::System::new().block_on(async move {
        let server = fake.serve(listener)?;
        println!("fake-rcs http=http://{address}");
        std::io::stdout().flush()?;
        server.await
    })
}

fn fail(message: &str) -> ! {
    eprintln!("otpgate-fake-rcs: {message}\n{USAGE}");
    std::process::exit(2)
}
