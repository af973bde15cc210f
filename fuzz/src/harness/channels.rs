//! The HTTP channels' callbacks: a body and its signature headers, as each platform posts them.
use otpgate_http_kit::{CallbackRejection, Encoding, Event, HmacScheme, Platform, Secret};
use otpgate_rcs::{wire as rcs_wire, Rcs};
use otpgate_telegram::{wire as tg_wire, Telegram};
use otpgate_viber::{wire as viber_wire, Viber};
use otpgate_whatsapp::{wire as wa_wire, WhatsApp};

const SECRET: &str = "fuzz-secret";

/// `data[0] % 4` picks the channel (WhatsApp, Telegram, Viber, RCS). With `data[1]` even the
/// rest is the body and the harness signs it as the platform would, so the body decoder is
/// reached (for RCS with bit 1 set the rest is the event, wrapped in a push envelope). With
/// `data[1]` odd the rest is `header NUL body`, the header being the signature (Telegram:
/// `timestamp LF signature`); then a callback may only be accepted if that header is the
/// right signature.
pub fn channel_callback(data: &[u8]) {
    let [channel, mode, rest @ ..] = data else {
        return;
    };
    let signed = mode & 1 == 0;
    let (header, body) = if signed {
        (String::new(), rest.to_vec())
    } else {
        let split = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        let body = rest.get(split + 1..).unwrap_or_default();
        (String::from_utf8_lossy(&rest[..split]).into_owned(), body.to_vec())
    };
    match channel % 4 {
        0 => whatsapp(signed, &header, &body),
        1 => telegram(signed, &header, &body),
        2 => viber(signed, &header, &body),
        _ => rcs(signed, mode & 2 != 0, &header, &body),
    }
}

/// What must hold of one callback's result.
fn check(
    result: &Result<Vec<Event>, CallbackRejection>,
    signed: bool,
    scheme: HmacScheme,
    message: &[&[u8]],
    header: &str,
) {
    if signed {
        assert_ne!(
            result,
            &Err(CallbackRejection::BadSignature),
            "a correct signature is accepted"
        );
    } else if result.is_ok() {
        let right = scheme.sign(SECRET, message);
        let given = header.trim();
        // Hex tags are accepted in either case; base64 only exactly.
        let same = given == right || scheme.encoding == Encoding::Hex && given.eq_ignore_ascii_case(&right);
        assert!(same, "accepted a signature that is not the right one: {given:?}");
    }
    if let Err(rejection) = result {
        assert!(matches!(rejection.http_status(), 400 | 401));
    }
}

fn whatsapp(signed: bool, header: &str, body: &[u8]) {
    let platform = WhatsApp {
        phone_number_id: "1".into(),
        access_token: Secret::new("access"),
        template: "otp_code".into(),
        language: "en_US".into(),
        app_secret: Secret::new(SECRET),
        verify_token: None,
    };
    let header = if signed {
        wa_wire::SIGNATURE.sign(SECRET, &[body])
    } else {
        header.to_owned()
    };
    let headers = |name: &str| (name == wa_wire::SIGNATURE_HEADER).then(|| header.clone());
    let result = platform.callback(&headers, body);
    check(&result, signed, wa_wire::SIGNATURE, &[body], &header);
}

fn telegram(signed: bool, header: &str, body: &[u8]) {
    let platform = Telegram {
        token: Secret::new(SECRET),
        ttl_seconds: 300,
        callback_url: None,
    };
    let (timestamp, signature) = if signed {
        let now = otpgate_http_kit::unix_now().to_string();
        let signature = tg_wire::SIGNATURE.sign(SECRET, &[now.as_bytes(), b"\n", body]);
        (now, signature)
    } else {
        let (t, s) = header.split_once('\n').unwrap_or((header, ""));
        (t.to_owned(), s.to_owned())
    };
    let headers = |name: &str| match name {
        tg_wire::TIMESTAMP_HEADER => Some(timestamp.clone()),
        tg_wire::SIGNATURE_HEADER => Some(signature.clone()),
        _ => None,
    };
    let result = platform.callback(&headers, body);
    let message: [&[u8]; 3] = [timestamp.as_bytes(), b"\n", body];
    check(&result, signed, tg_wire::SIGNATURE, &message, &signature);
}

fn viber(signed: bool, header: &str, body: &[u8]) {
    let platform = Viber {
        token: Secret::new(SECRET),
    };
    let header = if signed {
        viber_wire::SIGNATURE.sign(SECRET, &[body])
    } else {
        header.to_owned()
    };
    let headers = |name: &str| (name == viber_wire::SIGNATURE_HEADER).then(|| header.clone());
    let result = platform.callback(&headers, body);
    check(&result, signed, viber_wire::SIGNATURE, &[body], &header);
}

fn rcs(signed: bool, wrap: bool, header: &str, body: &[u8]) {
    let platform = Rcs {
        agent_id: "agent".into(),
        token: Secret::new("access"),
        webhook_token: Secret::new(SECRET),
    };
    let body = if signed && wrap {
        serde_json::to_vec(&rcs_wire::PushEnvelope::wrap(body, "push", "2026-01-01T00:00:00Z")).expect("serializes")
    } else {
        body.to_vec()
    };
    // The signature covers the envelope's decoded `message.data`.
    let data = serde_json::from_slice::<rcs_wire::PushEnvelope>(&body)
        .ok()
        .and_then(|envelope| envelope.data().ok());
    let header = match (&data, signed) {
        (Some(data), true) => rcs_wire::SIGNATURE.sign(SECRET, &[data]),
        (None, true) => "unsigned".to_owned(),
        (_, false) => header.to_owned(),
    };
    let headers = |name: &str| (name == rcs_wire::SIGNATURE_HEADER).then(|| header.clone());
    let result = platform.callback(&headers, &body);
    if signed && data.is_none() {
        assert!(matches!(result, Err(CallbackRejection::Malformed(_))), "{result:?}");
        return;
    }
    let data = data.unwrap_or_default();
    check(&result, signed, rcs_wire::SIGNATURE, &[&data], &header);
}
