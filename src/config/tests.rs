//! Tests of reading, validating and defaulting the config file.

use super::*;

#[test]
fn empty_file_gives_the_embedded_defaults() {
    let config = RawConfig::parse("").unwrap().build_and_validate().unwrap();
    assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(
        config.store,
        StoreLocation::Sqlite {
            path: "data/otpgate.db".into()
        }
    );
    assert_eq!(config.store.data_dir(), PathBuf::from("data"));
    assert!(config.sandbox_enabled);
    assert_eq!(config.verification, VerificationPolicy::default());
    assert_eq!(config.routing.order_for("US")[0], Channel::Sms);
    assert_eq!(config.routing.order_for("BR")[0], Channel::Whatsapp);
}

#[test]
fn a_postgres_url_selects_the_postgresql_store_and_its_password_is_not_printed() {
    let text = "[store]\nurl = \"postgres://otpgate:hunter22@db.internal:5432/otpgate\"\n";
    let config = RawConfig::parse(text).unwrap().build_and_validate().unwrap();
    assert_eq!(
        config.store,
        StoreLocation::Postgres {
            url: "postgres://otpgate:hunter22@db.internal:5432/otpgate".into()
        }
    );
    assert!(!format!("{:?}", config.store).contains("hunter22"));
    let bad = "[store]\nurl = \"postgres://otpgate@db.internal:notaport/otpgate\"\n";
    let err = RawConfig::parse(bad)
        .unwrap()
        .build_and_validate()
        .unwrap_err()
        .to_string();
    assert!(err.contains("store.url"), "{err}");
    let other = "[store]\nurl = \"mysql://db/otpgate\"\n";
    let err = RawConfig::parse(other)
        .unwrap()
        .build_and_validate()
        .unwrap_err()
        .to_string();
    assert!(err.contains("store.url") && err.contains("postgres://"), "{err}");
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let err = RawConfig::parse("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `lisen`"), "{err}");
    assert!(err.contains("line 3"), "{err}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = "[verification]\ncode_length = 3\nmax_code_attempts = 0\n[routing]\nBR = [\"pigeon\"]\n";
    let err = RawConfig::parse(text).unwrap().build_and_validate().unwrap_err();
    assert_eq!(err.0.len(), 3, "{err}");
    assert!(err.to_string().contains("verification.code_length"));
    assert!(err.to_string().contains("\"pigeon\""));
}

#[test]
fn routing_overrides_one_country_and_keeps_the_rest() {
    let text = "[routing]\nDE = [\"telegram\", \"sms\"]\n";
    let config = RawConfig::parse(text).unwrap().build_and_validate().unwrap();
    assert_eq!(config.routing.order_for("DE"), [Channel::Telegram, Channel::Sms]);
    assert_eq!(config.routing.order_for("FR")[0], Channel::Sms);
}

#[test]
fn an_unknown_protocol_is_refused_not_ignored() {
    let text = "[[carriers]]\nname = \"wa\"\nprotocol = \"carrier-pigeon\"\nbase_url = \"http://127.0.0.1:1\"\n";
    let err = RawConfig::parse(text)
        .unwrap()
        .build_and_validate()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("(wa).protocol") && err.contains("is not one of smpp, sip"),
        "{err}"
    );
}

#[test]
fn the_example_config_is_valid_with_and_without_its_carriers() {
    let example = include_str!("../../config/otpgate.example.toml");
    RawConfig::parse(example).unwrap().build_and_validate().unwrap();
    // Uncomment every [[carriers]] block: every key they document must be accepted.
    let mut text = String::new();
    let mut in_block = false;
    for line in example.lines() {
        in_block = (in_block || line == "# [[carriers]]") && !line.is_empty();
        let line = if in_block {
            line.strip_prefix("# ").unwrap_or(line)
        } else {
            line
        };
        if !line.starts_with("tls_ca_file") {
            text.push_str(line);
            text.push('\n');
        }
    }
    let config = RawConfig::parse(&text).unwrap().build_and_validate().unwrap();
    let names: Vec<_> = config.carriers.iter().map(|c| c.name().to_owned()).collect();
    assert_eq!(names, ["smsc-a", "wa", "tg", "vb", "rbm", "voice-trunk"]);
}

#[test]
fn api_keys_are_not_printed_by_debug() {
    let app = ApplicationConfig {
        name: "acme".into(),
        api_key: "super-secret-key-123".into(),
        retention_days: None,
    };
    assert!(!format!("{app:?}").contains("super-secret"));
}

#[test]
fn each_problem_names_its_line() {
    let text = "[verification]\ncode_length = 3\n\n[[carriers]]\nname = \"vb\"\nprotocol = \"viber\"\n\
                token = \"t\"\nttl_seconds = 30\n\n[[carriers]]\nname = \"tg\"\nprotocol = \"telegram\"\n";
    let err = RawConfig::parse(text).unwrap().build_and_validate().unwrap_err();
    assert_eq!(
        err.0,
        [
            "verification.code_length: 3 is outside 4..10 (line 2)",
            "carriers[0] (vb).ttl_seconds: not a key of protocol \"viber\" (line 8)",
            "carriers[1] (tg).token: required for protocol \"telegram\" (a secret: no default) (line 10)",
        ]
    );
}

#[test]
fn store_encryption_keys_are_checked_and_never_printed() {
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let text = format!(
        "[store.encryption]\nkey_id = \"k2\"\nkey = \"{key}\"\n\n[[store.encryption.previous]]\nkey_id = \"k1\"\nkey = \"{key}\"\n"
    );
    let config = RawConfig::parse(&text).unwrap().build_and_validate().unwrap();
    let keys = config.encryption.expect("configured");
    assert_eq!(keys.key_id(), "k2");
    assert!(!format!("{keys:?}").contains(key));
    let bad = "[store.encryption]\nkey = \"c2hvcnQ=\"\n";
    let err = RawConfig::parse(bad)
        .unwrap()
        .build_and_validate()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("store.encryption.key: decodes to 5 bytes, want 32"),
        "{err}"
    );
    assert!(!err.contains("c2hvcnQ="), "{err}");
    let bad_id = format!("[store.encryption]\nkey_id = \"a:b\"\nkey = \"{key}\"\n");
    let err = RawConfig::parse(&bad_id)
        .unwrap()
        .build_and_validate()
        .unwrap_err()
        .to_string();
    assert!(err.contains("store.encryption.key_id"), "{err}");
}

#[test]
fn retention_days_must_lie_between_30_days_and_10_years() {
    let app = |days: &str| {
        format!("[[applications]]\nname = \"acme\"\napi_key = \"0123456789abcdef0\"\nretention_days = {days}\n")
    };
    let config = RawConfig::parse(&app("30")).unwrap().build_and_validate().unwrap();
    assert_eq!(config.applications[0].retention_days, Some(30));
    let config = RawConfig::parse(&app("3650")).unwrap().build_and_validate().unwrap();
    assert_eq!(config.applications[0].retention_days, Some(3650));
    for days in ["29", "3651", "0"] {
        let err = RawConfig::parse(&app(days))
            .unwrap()
            .build_and_validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("applications[0].retention_days"), "{days}: {err}");
    }
    let none = "[[applications]]\nname = \"acme\"\napi_key = \"0123456789abcdef0\"\n";
    let config = RawConfig::parse(none).unwrap().build_and_validate().unwrap();
    assert_eq!(config.applications[0].retention_days, None);
}
