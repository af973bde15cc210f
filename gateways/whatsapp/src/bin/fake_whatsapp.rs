//! `otpgate-fake-whatsapp --listen 127.0.0.1:0 [--access-token T] [--app-secret S]
//! [--webhook-url URL] [--rules FILE]`: the fake WhatsApp Cloud API of `otpgate_whatsapp::fake`
//! as a process. Prints `fake-whatsapp http=http://HOST:PORT` once it accepts connections.
use otpgate_whatsapp::fake::{self, FakeConfig, Rules};
use std::io::Write;
use std::net::TcpListener;

fn usage(problem: &str) -> ! {
    eprintln!(
        "otpgate-fake-whatsapp: {problem}\nusage: otpgate-fake-whatsapp --listen ADDR [--access-token T] \
         [--app-secret S] [--webhook-url URL] [--rules FILE]"
    );
    std::process::exit(2)
}

fn main() -> std::io::Result<()> {
    let mut listen = "127.0.0.1:0".to_owned();
    let mut config = FakeConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--listen" => listen = value(),
            "--access-token" => config.access_token = value(),
            "--app-secret" => config.app_secret = value(),
            "--webhook-url" => config.webhook_url = Some(value()),
            "--rules" => {
                let path = value();
                let text = std::fs::read_to_string(&path).unwrap_or_else(|e| usage(&format!("{path}: {e}")));
                let rules: Rules = toml::from_str(&text).unwrap_or_else(|e| usage(&format!("{path}: {e}")));
                config.rules = rules.rules;
            }
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let listener = TcpListener::bind(&listen)?;
    let address = listener.local_addr()?;
    actix_web::rt::System::new().block_on(async move {
        let server = fake::server(listener, config)?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "fake-whatsapp http=http://{address}")?;
        stdout.flush()?;
        server.await
    })
}
