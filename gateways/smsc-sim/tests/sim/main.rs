//! The simulator over real sockets: an ESME made of rusmpp's codec on one side, the control
//! endpoint over HTTP on the other, and the shipped binary driven as a process.

mod behaviours;
mod binary;
mod control;
mod esme;
mod forms;
mod records;
mod tls;

use otpgate_smsc_sim::{start, SimConfig, SimHandle};
use serde_json::Value;

/// A simulator on free loopback ports.
pub async fn sim(configure: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut config = SimConfig::ephemeral();
    configure(&mut config);
    start(config).await.expect("simulator starts")
}

/// One HTTP exchange with the control endpoint: (status, JSON body).
pub fn http(method: &str, url: &str, body: Option<&str>) -> (u16, Value) {
    let request = ureq::request(method, url);
    let result = match body {
        Some(body) => request.set("Content-Type", "application/json").send_string(body),
        None => request.call(),
    };
    let response = match result {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(error) => panic!("{method} {url}: {error}"),
    };
    let status = response.status();
    (status, response.into_json().expect("a JSON body"))
}
