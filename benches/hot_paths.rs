//! criterion benches for the functions on every verification's path.
//!
//! Run: `cargo bench --bench hot_paths` (HTML reports are off; figures print to the terminal).
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use otpgate::code::{self, CodeSecret};
use otpgate::config::VerificationPolicy;
use otpgate::number;
use otpgate::number_state::{NumberState, RiskActions, SendRequest, SendResult, SendStart};
use otpgate_gateway::Channel;

fn codes(c: &mut Criterion) {
    let secret = CodeSecret::from_bytes(&[7u8; 32]);
    c.bench_function("code/generate_6_and_mac", |b| {
        b.iter(|| {
            let code = code::generate(6);
            black_box(secret.mac(black_box("7d1e2c1a-3f0e-4b51-9a51-1f1c2b3d4e5f"), &code))
        })
    });
    let mac = secret.mac("req", "123456");
    c.bench_function("code/verify", |b| {
        b.iter(|| black_box(secret.verify("req", black_box("123457"), &mac)))
    });
}

fn numbers(c: &mut Criterion) {
    // First use loads libphonenumber's metadata; keep that out of the measurement.
    number::parse("+34612345678").unwrap();
    c.bench_function("number/parse_uncached_es_mobile", |b| {
        b.iter(|| number::parse_uncached(black_box("+34612345678")).unwrap())
    });
    c.bench_function("number/parse_cached_es_mobile", |b| {
        b.iter(|| number::parse(black_box("+34612345678")).unwrap())
    });
    c.bench_function("number/parse_us_sandbox", |b| {
        b.iter(|| number::parse(black_box("+12025550123")).unwrap())
    });
    c.bench_function("number/reject_not_e164", |b| {
        b.iter(|| number::parse(black_box("2025550123")).unwrap_err())
    });
}

/// One full verification through the number rules, without actors, HTTP or disk.
fn rules(c: &mut Criterion) {
    let secret = CodeSecret::from_bytes(&[7u8; 32]);
    let policy = VerificationPolicy::default();
    let request = SendRequest {
        application: "default".into(),
        number: number::parse("+12025550123").unwrap(),
        channel: None,
        preferred: None,
        blocklisted: None,
        high_risk: None,
        vendor_data: None,
        metadata: None,
        code_length: 6,
        locale: "en".into(),
    };
    let accepted = SendResult::Accepted {
        channel: Channel::Sms,
        carrier: "sandbox".into(),
        delivered: true,
        fallbacks: vec![],
        fee_micros: Some(7_900),
        message_id: "1".into(),
    };
    c.bench_function("rules/send_then_check", |b| {
        b.iter(|| {
            let mut state = NumberState::default();
            let (start, _) = state.begin_send(&request, &policy, &secret, 1_800_000_000_000);
            let SendStart::Deliver { request_id, code, .. } = start else {
                unreachable!()
            };
            state.finish_send(&request_id, 1_800_000_000_000, &accepted, 1_800_000_000_001);
            black_box(state.check(&code, RiskActions::default(), &secret, 1_800_000_000_002))
        })
    });
    let mut state = NumberState::default();
    let (start, _) = state.begin_send(&request, &policy, &secret, 1_800_000_000_000);
    let SendStart::Deliver { request_id, .. } = start else {
        unreachable!()
    };
    let stored = state
        .finish_send(&request_id, 1_800_000_000_000, &accepted, 1_800_000_000_001)
        .unwrap();
    c.bench_function("rules/serialize_record", |b| {
        b.iter(|| serde_json::to_string(black_box(&stored)).unwrap())
    });
    c.bench_function("rules/serialize_report", |b| {
        b.iter(|| serde_json::to_string(&black_box(&stored).report()).unwrap())
    });
}

/// What every send now does before the number's actor: enrich, blocklist, risk admission.
fn risk(c: &mut Criterion) {
    let intel = otpgate::intel::Intel::load(None, None).unwrap();
    let parsed = number::parse("+34610123456").unwrap();
    c.bench_function("intel/enrich_es_mobile", |b| {
        b.iter(|| {
            let mut n = parsed.clone();
            intel.enrich(black_box(&mut n));
            n
        })
    });
    let blocklist = otpgate::blocklist::Blocklist::new(
        (0..10_000)
            .map(|i| otpgate::blocklist::Entry {
                application: "default".into(),
                value: format!("+1415{i:07}"),
                kind: otpgate::blocklist::EntryKind::PhoneNumber,
                created_at_ms: 0,
            })
            .collect(),
    );
    c.bench_function("blocklist/miss_among_10k", |b| {
        b.iter(|| blocklist.matching("default", black_box("+34610123456")))
    });
    let risk = otpgate::risk::Risk::new(otpgate::config::RiskPolicy {
        sends_per_minute_per_ip: 0,
        ..Default::default()
    });
    let mut now = 0;
    c.bench_function("risk/admit_and_record_send", |b| {
        b.iter(|| {
            now += 1;
            let admitted = risk.admit("default", None, black_box("+34610123456"), now).is_ok();
            risk.record_send("default", "+34610123456", now);
            risk.record_completion("default", "+34610123456", now);
            admitted
        })
    });
}

criterion_group!(benches, codes, numbers, rules, risk);
criterion_main!(benches);
