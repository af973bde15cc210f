//! Done means 1: the hosted page in a real browser. Debian's headless `chromium`, driven by npm
//! `playwright-core` (tests/peers/browser, installed by tests/run.sh), opens each session URL,
//! enters a Spanish mobile number, reads the code from the SMSC simulator's record of the SMS,
//! types it and sees success: in English on a desktop and on a 320 px screen, in Arabic (right
//! to left), with the keyboard alone, and in Spanish while the code falls back from SMS to RCS.
//!
//! Screenshots of every step go to a temporary directory; with `OTPGATE_UPDATE_SCREENSHOTS=1`
//! they replace the committed ones in tests/browser/screenshots (shown in the README).
mod common;

use common::hosted::{decision, destination, session, workflow, Receiver};
use common::smsc::{smpp_carrier, Peer, Smsc};
use common::Server;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";

fn flow(name: &str, url: &str, (width, height): (u32, u32), locale: &str, national: &str) -> Value {
    json!({
        "name": name,
        "url": url,
        "width": width,
        "height": height,
        "locale": locale,
        "country": "ES",
        "countryName": "Spain",
        "national": national,
        "destination": format!("34{national}"),
    })
}

#[test]
fn the_hosted_page_verifies_a_number_in_headless_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let peer = root.join("tests/peers/browser");
    assert!(
        Path::new(CHROMIUM).exists() && peer.join("node_modules/playwright-core").exists(),
        "needs {CHROMIUM} (Debian `chromium`) and npm playwright-core in {}: run `bash tests/run.sh`, which installs both",
        peer.display()
    );
    let dir = tempfile::tempdir().unwrap();
    // 612345005 gets no receipt, so its code falls back from SMS to RCS after 2 s.
    let smsc = Smsc::with_rules(
        dir.path(),
        "[[rules]]\npattern = \"34612345005\"\naction = \"accept\"\n",
        &[],
    );
    let rcs = Peer::start(
        dir.path(),
        "otpgate-fake-rcs",
        &["--token", "rbm-token", "--secret", "rbm-client-token"],
        "http",
    );
    let config = format!(
        "[verification]\nfallback_after_seconds = 2\n[sessions]\nresend_cooldown_seconds = 3\n\
         [routing]\nES = [\"sms\", \"rcs\"]\n\
         [[carriers]]\nname = \"rbm\"\nprotocol = \"rcs\"\nbase_url = \"{}\"\nagent_id = \"otp-agent\"\ntoken = \"rbm-token\"\n\
         webhook_token = \"rbm-client-token\"\n{}",
        rcs.address,
        smpp_carrier(&smsc.smpp, "")
    );
    let server = Server::with_config(dir.path(), &config);
    let receiver = Receiver::start(dir.path(), 0, 200);
    destination(&server, &receiver);
    let workflow_id = workflow(&server, json!({}));
    let mut sessions = Vec::new();
    let mut url = || {
        let (id, url) = session(
            &server,
            json!({ "workflow_id": workflow_id, "vendor_data": "José Müller" }),
        );
        sessions.push(id);
        url
    };
    let mut flows = vec![
        flow("desktop-en", &url(), (1280, 800), "en-US", "612345001"),
        flow("mobile-en", &url(), (320, 640), "en-US", "612345002"),
        flow("mobile-ar", &url(), (320, 640), "ar-EG", "612345003"),
        flow("keyboard-en", &url(), (1280, 800), "en-US", "612345004"),
        flow("fallback-es", &url(), (320, 640), "es-ES", "612345005"),
    ];
    flows[0]["resend"] = true.into();
    flows[3]["keyboard"] = true.into();
    flows[4]["fallback"] = true.into();

    let update = std::env::var("OTPGATE_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1");
    let shots = if update {
        root.join("tests/browser/screenshots")
    } else {
        dir.path().join("screenshots")
    };
    std::fs::create_dir_all(&shots).unwrap();
    let plan = dir.path().join("plan.json");
    let plan_body = json!({ "smsc": smsc.control, "screenshots": shots, "flows": flows });
    std::fs::write(&plan, plan_body.to_string()).unwrap();
    let output = Command::new("node")
        .arg(peer.join("e2e.js"))
        .arg(&plan)
        .output()
        .expect("run node tests/peers/browser/e2e.js");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let results: Vec<Value> = stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(
        output.status.success() && results.len() == 5,
        "browser run failed:\n{stdout}\n{}\nengine:\n{}",
        String::from_utf8_lossy(&output.stderr),
        server.stderr()
    );
    let by_name = |name: &str| results.iter().find(|r| r["name"] == name).unwrap().clone();

    for r in &results {
        assert_eq!(r["status"], "Approved", "{r}");
        assert_eq!(
            r["codeInput"],
            json!({ "autocomplete": "one-time-code", "inputmode": "numeric" }),
            "{r}"
        );
        assert_eq!(r["webotpHost"], "127.0.0.1", "the SMS ends with the WebOTP line: {r}");
        assert!(r["csp"].as_str().unwrap().contains("frame-ancestors 'none'"), "{r}");
        assert!(r["scrollWidth"].as_u64().unwrap() <= 1280, "{r}");
        assert!(r["shots"].as_array().unwrap().len() >= 5, "a screenshot per step: {r}");
    }
    let desktop = by_name("desktop-en");
    assert_eq!(desktop["h1"], "Verify your phone number");
    assert!(
        desktop["sent"].as_str().unwrap().contains("We sent a code by SMS to"),
        "{desktop}"
    );
    assert!(
        desktop["numberCheck"].as_str().unwrap().contains("+34612345001"),
        "{desktop}"
    );
    assert!(
        desktop["countdown"]
            .as_str()
            .unwrap()
            .starts_with("You can ask for a new code in"),
        "{desktop}"
    );
    assert_eq!(desktop["resent"], "We sent the code again.");
    let mobile = by_name("mobile-en");
    assert!(mobile["scrollWidth"].as_u64().unwrap() <= 320, "fits 320 px: {mobile}");
    let arabic = by_name("mobile-ar");
    assert_eq!(
        (arabic["dir"].as_str(), arabic["lang"].as_str()),
        (Some("rtl"), Some("ar")),
        "{arabic}"
    );
    assert_eq!(arabic["h1"], "تحقق من رقم هاتفك");
    assert!(arabic["scrollWidth"].as_u64().unwrap() <= 320, "{arabic}");
    let keyboard = by_name("keyboard-en");
    assert_eq!(
        keyboard["countryByKeyboard"], "ES",
        "typing \"Spain\" selects it: {keyboard}"
    );
    assert_eq!(keyboard["status"], "Approved");
    let fallback = by_name("fallback-es");
    assert_eq!(fallback["dir"], "ltr");
    assert!(
        fallback["fallback"]
            .as_str()
            .unwrap()
            .contains("SMS no llegó, así que te enviamos el mismo código por mensaje RCS"),
        "{fallback}"
    );

    for id in &sessions {
        let decided = decision(&server, id);
        assert_eq!(decided["status"], "Approved", "{decided}");
    }
    let lifecycle = decision(&server, &sessions[4])["phone_verifications"][0]["lifecycle"].clone();
    assert!(
        lifecycle
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "PHONE_CHANNEL_FALLBACK" && e["details"]["to"] == "rcs"),
        "{lifecycle:#}"
    );
    let deliveries = receiver.wait_for(10, Duration::from_secs(15));
    assert_eq!(
        deliveries.len(),
        10,
        "In Progress and Approved per session: {deliveries:#?}"
    );
    assert!(deliveries.iter().all(|d| d["verified"] == true));
}
