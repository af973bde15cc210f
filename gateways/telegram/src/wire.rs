//! The Telegram Gateway API's JSON shapes (<https://core.telegram.org/gateway/api>), its report
//! headers and signature, shared by the gateway and the fake platform. No I/O here.
use otpgate_http_kit::{Encoding, Hash, HmacScheme, KeyFrom};
use serde::{Deserialize, Serialize};

/// Delivery reports carry the unix second they were signed at in this header...
pub const TIMESTAMP_HEADER: &str = "X-Request-Timestamp";
/// ...and their signature in this one.
pub const SIGNATURE_HEADER: &str = "X-Request-Signature";
/// Hex HMAC-SHA256 keyed with SHA-256 of the API token, over `timestamp + "\n" + body`.
pub const SIGNATURE: HmacScheme = HmacScheme::new(Hash::Sha256, Encoding::Hex, KeyFrom::Sha256OfSecret, "");

/// The body of `sendVerificationMessage`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SendVerificationMessage {
    /// E.164 with the leading `+`.
    pub phone_number: String,
    pub code: String,
    /// Seconds the message stays valid (Telegram accepts 30..=3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// Echoed back in delivery reports; we put our own request id here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
}

/// The body of `checkSendAbility`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckSendAbility {
    pub phone_number: String,
}

/// Every method answers `{ok: true, result}` or `{ok: false, error}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub ok: bool,
    // A missing `Option` field is `None` already; `default` here would demand `T: Default`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What Telegram knows about one verification request; also the body of a delivery report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RequestStatus {
    pub request_id: String,
    pub phone_number: String,
    #[serde(default)]
    pub request_cost: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_status: Option<DeliveryStatus>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeliveryStatus {
    /// `sent`, `delivered`, `read`, `expired` or `revoked`.
    pub status: String,
    /// Unix seconds.
    pub updated_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_documented_answer_parses() {
        let body = r#"{"ok":true,"result":{"request_id":"r-1","phone_number":"+391234567890",
            "request_cost":0.01,"remaining_balance":9.99,
            "delivery_status":{"status":"sent","updated_at":1700000000}}}"#;
        let envelope: Envelope<RequestStatus> = serde_json::from_str(body).unwrap();
        let result = envelope.result.unwrap();
        assert_eq!(result.request_id, "r-1");
        assert_eq!(result.delivery_status.unwrap().status, "sent");
    }

    #[test]
    fn optional_fields_are_left_out_of_the_request() {
        let body = SendVerificationMessage {
            phone_number: "+391234567890".into(),
            code: "1234".into(),
            ttl: None,
            callback_url: None,
            payload: None,
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"phone_number":"+391234567890","code":"1234"}"#
        );
    }

    #[test]
    fn the_signature_matches_an_independent_implementation() {
        // Computed with Python's hmac/hashlib.
        let vector = "91f168791b367b3920fb9b152189c894e6229fe756c2b6eebf37a2b89288681d";
        let report: [&[u8]; 3] = [b"1700000000", b"\n", br#"{"request_id":"r1"}"#];
        assert_eq!(SIGNATURE.sign("123:secret", &report), vector);
        assert!(SIGNATURE
            .verify("123:secret", &report, Some(&vector.to_uppercase()))
            .is_ok());
    }
}
