//! Phone numbers over the real HTTP API: what libphonenumber calls valid is accepted in its
//! country with its carrier type (every example number of every region), what it calls invalid
//! is refused naming the field, and a line written with or without a mobile token is one number
//! with one set of limits, addressed to carriers in its E.164 mobile form.
mod common;

use common::smsc::{smpp_carrier, Smsc};
use common::Server;
use phonenumber::metadata::{Metadata, DATABASE};
use serde_json::{json, Value};

fn examples(meta: &Metadata) -> Vec<&str> {
    let types = otpgate::number::NUMBER_TYPES.iter();
    types
        .filter_map(|kind| meta.descriptors().get(*kind)?.example())
        .collect()
}

/// libphonenumber's `getInvalidExampleNumber`: an example cut short, digit by digit, until the
/// library (the crate's `is_valid`, on a number its parse splits at the calling code) says no.
fn invalid_example(meta: &Metadata) -> Option<String> {
    let code = meta.country_code();
    // The fixed-line example, as libphonenumber takes, else any.
    let fixed_line = meta.descriptors().fixed_line().and_then(|d| d.example());
    let example = fixed_line.or_else(|| examples(meta).first().copied())?;
    (1..example.len())
        .rev()
        .map(|len| format!("+{code}{}", &example[..len]))
        .find(|candidate| {
            (4..=16).contains(&candidate.len())
                && phonenumber::parse(None, candidate)
                    .is_ok_and(|n| candidate.ends_with(&n.national().to_string()) && !phonenumber::is_valid(&n))
        })
}

fn check(server: &Server, phone: &str) -> (u16, Value) {
    server.post("/v3/phone/check/", &json!({ "phone_number": phone, "code": "000000" }))
}

/// A send, the code from the sandbox inbox, and the check: the report.
fn verify(server: &Server, phone: &str) -> Value {
    let sent = server.send(phone);
    assert_eq!(sent["status"], "Success", "{phone}: {sent}");
    let checked = server.check(phone, &server.latest_code(phone));
    assert_eq!(checked["status"], "Approved", "{phone}: {checked}");
    checked["phone"].clone()
}

#[test]
fn every_example_number_of_every_region_is_accepted_and_each_invalid_example_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "");
    let mut regions: Vec<&Metadata> = DATABASE.iter().collect();
    regions.sort_by_key(|m| (m.id(), m.country_code()));
    let (mut accepted, mut refused, mut failures) = (0, 0, Vec::new());
    for meta in &regions {
        for example in examples(meta) {
            let phone = format!("+{}{example}", meta.country_code());
            match check(&server, &phone) {
                (200, body) if body["status"] == "Expired or Not Found" => accepted += 1,
                other => failures.push(format!("{} {phone}: {other:?}", meta.id())),
            }
        }
        if let Some(phone) = invalid_example(meta) {
            match check(&server, &phone) {
                (400, body) if body["field"] == "phone_number" && body["code"] == "invalid_phone_number" => {
                    refused += 1
                }
                other => failures.push(format!("{} invalid {phone}: {other:?}", meta.id())),
            }
        }
    }
    println!("{accepted} example numbers accepted, {refused} invalid examples refused");
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(accepted > 1000 && refused > 200, "{accepted} / {refused}");
}

#[test]
fn numbers_with_a_leading_zero_after_the_country_code_verify_in_their_country() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "");
    // (number, country, carrier type, national number as reported)
    let cases = [
        // The Italian landline: the 0 of 06 (Rome) stays after +39.
        ("+390612345678", "IT", "landline", "0612345678"),
        // The Vatican's numbers sit in Rome's 06 range; only the leading zero places them.
        ("+390669812345", "VA", "landline", "0669812345"),
        // Ivory Coast's 10-digit plan of 2021: mobiles 01 / 05 / 07, landlines 2x.
        ("+2250123456789", "CI", "mobile", "0123456789"),
        ("+2250712345678", "CI", "mobile", "0712345678"),
        ("+2252123456789", "CI", "landline", "2123456789"),
        // Benin's 10-digit plan has the same shape (01 + 8 digits).
        ("+2290195123456", "BJ", "mobile", "0195123456"),
    ];
    for (phone, country, line_type, national) in cases {
        let report = verify(&server, phone);
        assert_eq!(report["full_number"], phone, "{report}");
        assert_eq!(report["country_code"], country, "{report}");
        assert_eq!(report["carrier"]["type"], line_type, "{report}");
        assert_eq!(report["phone_number"], national, "{report}");
    }
    // The old 8-digit Ivorian numbers were retired in 2021: refused, naming the field.
    let (status, body) = check(&server, "+22507123456");
    assert_eq!((status, &body["field"]), (400, &json!("phone_number")), "{body}");
}

#[test]
fn a_number_needing_its_national_prefix_digit_is_kept_whole() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "");
    // Russia's trunk prefix is 8, and its freephone range starts with 8 too; Belarus alike.
    for (phone, country) in [("+78001234567", "RU"), ("+3758011234567", "BY")] {
        let report = verify(&server, phone);
        assert_eq!(report["full_number"], phone, "{report}");
        assert_eq!(report["country_code"], country, "{report}");
    }
}

#[test]
fn an_argentine_line_written_with_or_without_the_9_is_one_number_with_one_limit() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "");
    // With the 9, without it, and as dialled in Buenos Aires (area code, then 15).
    let spellings = ["+541112345678", "+5491112345678", "+54111512345678"];
    let first = server.send(spellings[0]);
    assert_eq!(first["status"], "Success", "{first}");
    for spelling in &spellings[1..] {
        let again = server.send(spelling);
        assert_eq!(again["status"], "Retry", "{spelling}: {again}");
        assert_eq!(again["request_id"], first["request_id"], "one verification");
    }
    // One inbox, whichever spelling asks.
    for spelling in spellings {
        assert_eq!(server.inbox(spelling).len(), 3, "{spelling}");
    }
    let code = server.latest_code("+5491112345678");
    let checked = server.check("+541112345678", &code);
    assert_eq!(checked["status"], "Approved", "{checked}");
    let report = &checked["phone"];
    assert_eq!(report["full_number"], "+5491112345678", "{report}");
    assert_eq!(report["phone_number"], "91112345678", "{report}");
    assert_eq!(report["carrier"]["type"], "mobile", "{report}");
    // Three messages to the line in 24 h: a fourth is refused, however it is spelled.
    let fourth = server.send("+54111512345678");
    assert_eq!(
        (&fourth["status"], &fourth["reason"]),
        (&json!("Blocked"), &json!("repeated_attempts"))
    );

    // Córdoba (area code 351): same rule, another area-code length.
    assert_eq!(server.send("+543514123456")["status"], "Success");
    assert_eq!(server.send("+5493514123456")["status"], "Retry");
}

#[test]
fn a_mexican_line_written_with_the_abolished_1_is_the_same_number() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(dir.path(), "");
    let first = server.send("+5215512345678");
    assert_eq!(first["status"], "Success", "{first}");
    let again = server.send("+525512345678");
    assert_eq!(
        (&again["status"], &again["request_id"]),
        (&json!("Retry"), &first["request_id"])
    );
    let checked = server.check("+5215512345678", &server.latest_code("+525512345678"));
    assert_eq!(checked["phone"]["full_number"], "+525512345678", "{checked}");
    assert_eq!(checked["phone"]["country_code"], "MX", "{checked}");
    // Monterrey (81): the same.
    assert_eq!(server.send("+5218112345678")["status"], "Success");
    assert_eq!(server.send("+528112345678")["status"], "Retry");
}

#[test]
fn the_smsc_gets_the_e164_mobile_form_whatever_spelling_the_request_used() {
    let dir = tempfile::tempdir().unwrap();
    let smsc = Smsc::start(dir.path(), &[]);
    let server = Server::with_config(dir.path(), &smpp_carrier(&smsc.smpp, ""));
    for (given, routed, not_routed) in [
        ("+541112345678", "5491112345678", "541112345678"),
        ("+5215512345678", "525512345678", "5215512345678"),
    ] {
        let sent = server.send(given);
        assert_eq!(
            (&sent["status"], &sent["channel"]),
            (&json!("Success"), &json!("sms")),
            "{sent}"
        );
        let messages = smsc.messages_to(routed);
        assert_eq!(messages.len(), 1, "{given}: {messages:?}");
        assert!(smsc.messages_to(not_routed).is_empty(), "{given}");
        let code = messages[0]["text"].as_str().unwrap().rsplit(' ').next().unwrap();
        let checked = server.check(given, code);
        assert_eq!(checked["status"], "Approved", "{checked}");
    }
}
