//! The gateway against the fake platform over real HTTP, with events POSTed back to a small
//! receiver that hands each raw request to `handle_callback`, as the engine's route does.
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use otpgate_gateway::{
    report_channel, Channel, Coverage, Delivery, ErrorKind, Gateway, OutboundMessage, ReportReceiver,
};
use otpgate_rcs::api::{AgentEvent, PushEnvelope};
use otpgate_rcs::fake::{Action, FakeRcs, FakeRcsConfig, Rule, Rules};
use otpgate_rcs::{signature, CallbackError, RcsConfig, RcsGateway, SIGNATURE_HEADER};
use parking_lot::Mutex;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "ya29.fake-access-token";
const WEBHOOK_TOKEN: &str = "fake-client-token";
const AGENT: &str = "otpgate-agent";

type Calls = Arc<Mutex<Vec<Result<usize, CallbackError>>>>;

struct Harness {
    fake: FakeRcs,
    gateway: Arc<RcsGateway>,
    reports: ReportReceiver,
    /// Every `handle_callback` result the receiver produced, in order.
    calls: Calls,
    callback_url: String,
}

fn bind() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

async fn receive(
    gateway: web::Data<Arc<RcsGateway>>,
    calls: web::Data<Calls>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let signature = request.headers().get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    let result = gateway.handle_callback(signature, &body);
    let status = result.as_ref().map_or_else(CallbackError::http_status, |_| 200);
    calls.lock().push(result);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}

fn config(base_url: String, token: &str) -> RcsConfig {
    RcsConfig {
        name: "rbm".into(),
        base_url,
        agent_id: AGENT.into(),
        token: token.into(),
        webhook_token: WEBHOOK_TOKEN.into(),
        coverage: Coverage::default(),
        timeout: Duration::from_millis(800),
    }
}

/// The fake (rules `rules`), an event receiver, and a gateway using `gateway_token`.
fn start(rules: Vec<Rule>, gateway_token: &str) -> Harness {
    let (fake_listener, fake_url) = bind();
    let (receiver_listener, receiver_url) = bind();
    let callback_url = format!("{receiver_url}/callbacks/rcs");
    let fake = FakeRcs::new(FakeRcsConfig {
        token: Some(TOKEN.into()),
        webhook_token: Some(WEBHOOK_TOKEN.into()),
        callback_url: Some(callback_url.clone()),
        rules: Rules { rules },
    });
    actix_rt::spawn(fake.serve(fake_listener).unwrap());

    let (tx, reports) = report_channel();
    let gateway = RcsGateway::new(config(fake_url, gateway_token), tx);
    let calls = Calls::default();
    let (g, c) = (gateway.clone(), calls.clone());
    let receiver = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(g.clone()))
            .app_data(web::Data::new(c.clone()))
            .route("/callbacks/rcs", web::post().to(receive))
    })
    .workers(1)
    .listen(receiver_listener)
    .unwrap()
    .run();
    actix_rt::spawn(receiver);
    Harness {
        fake,
        gateway,
        reports,
        calls,
        callback_url,
    }
}

fn rule(prefix: &str, action: Action) -> Rule {
    Rule {
        prefix: prefix.into(),
        action,
        ..Rule::default()
    }
}

fn message(to: &str) -> OutboundMessage {
    OutboundMessage {
        request_id: format!("req-{}", to.trim_start_matches('+')),
        application: "app".into(),
        to: to.into(),
        channel: Channel::Rcs,
        code: "482913".into(),
        text: "Your code is 482913".into(),
        locale: "en".into(),
    }
}

/// A webhook body for `event_type` about `message_id`, and the signature over its data.
fn event_body(message_id: &str, event_type: &str, key: &str) -> (Vec<u8>, String) {
    let event = AgentEvent {
        sender_phone_number: "+14155550100".into(),
        event_type: Some(event_type.into()),
        event_id: "e-1".into(),
        message_id: message_id.into(),
        send_time: "2024-01-01T00:00:00Z".into(),
        agent_id: AGENT.into(),
    };
    let data = serde_json::to_vec(&event).unwrap();
    let body = serde_json::to_vec(&PushEnvelope::wrap(&data, "push-1", "2024-01-01T00:00:00Z")).unwrap();
    (body, signature::sign(key, &data))
}

async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[actix_rt::test]
async fn a_delivered_message_is_reported_once_and_read_adds_nothing() {
    let mut h = start(vec![], TOKEN);

    let accepted = h.gateway.send(&message("+14155550100")).await.unwrap();
    assert_eq!((accepted.parts, accepted.delivery), (1, None));
    assert!(accepted.carrier_message_id.starts_with("req-14155550100-"));
    let received = h.fake.messages();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].phone, "+14155550100");
    assert_eq!(received[0].message_id, accepted.carrier_message_id);
    assert_eq!(received[0].agent_id, AGENT);
    assert_eq!(received[0].text, "Your code is 482913");

    // `DELIVERED`, then `READ`.
    eventually("two events", || h.calls.lock().len() == 2).await;
    assert_eq!(*h.calls.lock(), vec![Ok(1), Ok(0)]);
    let report = h.reports.try_recv().unwrap();
    assert_eq!(report.request_id, "req-14155550100");
    assert_eq!(report.application, "app");
    assert_eq!(report.to, "+14155550100");
    assert_eq!(report.carrier, "rbm");
    assert_eq!(report.channel, Channel::Rcs);
    assert_eq!(report.carrier_message_id, accepted.carrier_message_id);
    assert_eq!(
        (report.delivery, report.status.as_str()),
        (Delivery::Delivered, "DELIVERED")
    );
    assert!(h.reports.try_recv().is_err());
    assert_eq!(h.gateway.tracked(), 0);
}

#[actix_rt::test]
async fn every_send_gets_its_own_message_id() {
    let h = start(vec![], TOKEN);
    let first = h.gateway.send(&message("+14155550100")).await.unwrap();
    let resend = h.gateway.send(&message("+14155550100")).await.unwrap();
    assert_ne!(first.carrier_message_id, resend.carrier_message_id);
}

#[actix_rt::test]
async fn a_failed_event_is_reported_failed() {
    let mut h = start(vec![rule("44", Action::Fail)], TOKEN);
    h.gateway.send(&message("+447700900123")).await.unwrap();
    eventually("the event", || !h.calls.lock().is_empty()).await;
    assert_eq!(*h.calls.lock(), vec![Ok(1)]);
    let report = h.reports.try_recv().unwrap();
    assert_eq!((report.delivery, report.status.as_str()), (Delivery::Failed, "FAILED"));
    assert!(h.reports.try_recv().is_err());
}

#[actix_rt::test]
async fn forged_missing_and_malformed_callbacks_change_nothing() {
    // The fake's own events come far too late to interfere.
    let mut late = rule("", Action::Deliver);
    late.report_after_ms = 60_000;
    let mut h = start(vec![late], TOKEN);
    let accepted = h.gateway.send(&message("+14155550100")).await.unwrap();
    let id = accepted.carrier_message_id.as_str();
    let (body, good) = event_body(id, "DELIVERED", WEBHOOK_TOKEN);
    let (_, forged) = event_body(id, "DELIVERED", "someone-else");
    // Signed with the access token instead of the client token.
    let (_, wrong_key) = event_body(id, "DELIVERED", TOKEN);
    // A genuine signature, but for other data.
    let (failed_body, _) = event_body(id, "FAILED", WEBHOOK_TOKEN);
    let gw = &h.gateway;

    assert_eq!(gw.handle_callback(None, &body), Err(CallbackError::BadSignature));
    assert_eq!(
        gw.handle_callback(Some(&forged), &body),
        Err(CallbackError::BadSignature)
    );
    assert_eq!(
        gw.handle_callback(Some(&wrong_key), &body),
        Err(CallbackError::BadSignature)
    );
    assert_eq!(
        gw.handle_callback(Some(&good), &failed_body),
        Err(CallbackError::BadSignature)
    );
    assert_eq!(
        gw.handle_callback(Some("not base64!"), &body),
        Err(CallbackError::BadSignature)
    );
    assert!(matches!(
        gw.handle_callback(Some(&good), b"not json"),
        Err(CallbackError::Malformed(_))
    ));
    assert!(matches!(
        gw.handle_callback(Some(&good), br#"{"message":{"data":"%%%"}}"#),
        Err(CallbackError::Malformed(_))
    ));
    // Correctly signed data that is not an event.
    let envelope = serde_json::to_vec(&PushEnvelope::wrap(b"[1,2]", "p", "t")).unwrap();
    assert!(matches!(
        gw.handle_callback(Some(&signature::sign(WEBHOOK_TOKEN, b"[1,2]")), &envelope),
        Err(CallbackError::Malformed(_))
    ));
    // Typing is signed and well formed, but says nothing about delivery.
    let (typing, typing_sig) = event_body(id, "IS_TYPING", WEBHOOK_TOKEN);
    assert_eq!(gw.handle_callback(Some(&typing_sig), &typing), Ok(0));
    assert!(h.reports.try_recv().is_err());
    assert_eq!(gw.tracked(), 1);

    // Over HTTP too: a forged or unsigned event gets 401 and nothing.
    let http = reqwest::Client::new();
    for signature in [Some(forged.as_str()), None] {
        let mut request = http.post(&h.callback_url).body(body.clone());
        if let Some(signature) = signature {
            request = request.header(SIGNATURE_HEADER, signature);
        }
        assert_eq!(request.send().await.unwrap().status().as_u16(), 401);
    }
    assert!(h.reports.try_recv().is_err());

    // The genuine event still applies, once.
    assert_eq!(gw.handle_callback(Some(&good), &body), Ok(1));
    assert_eq!(gw.handle_callback(Some(&good), &body), Ok(0));
    assert_eq!(h.reports.try_recv().unwrap().delivery, Delivery::Delivered);
    assert!(h.reports.try_recv().is_err());
    // An event for a message we never sent is ignored.
    let (unknown, unknown_sig) = event_body("someone-elses-message", "DELIVERED", WEBHOOK_TOKEN);
    assert_eq!(gw.handle_callback(Some(&unknown_sig), &unknown), Ok(0));
    assert!(h.reports.try_recv().is_err());
}

#[actix_rt::test]
async fn refusals_and_failures_are_classified() {
    let refuse = |prefix: &str, status: u16| Rule {
        status: Some(status),
        ..rule(prefix, Action::Refuse)
    };
    let mut slow = rule("7", Action::Deliver);
    slow.delay_ms = 3_000;
    let mut throttle_7 = rule("32", Action::Throttle);
    throttle_7.retry_after = Some(7);
    let rules = vec![
        rule("1", Action::NotCapable),
        rule("31", Action::Throttle),
        throttle_7,
        refuse("41", 401),
        refuse("42", 403),
        refuse("43", 400),
        refuse("44", 409),
        refuse("45", 500),
        refuse("46", 503),
        rule("5", Action::Drop),
        slow,
        rule("9", Action::Deliver),
    ];
    let h = start(rules, TOKEN);
    let cases = [
        ("+14155550100", ErrorKind::Permanent, "not_rcs_capable", None),
        ("+31600000000", ErrorKind::Throttled, "throttled", Some(1)),
        ("+32400000000", ErrorKind::Throttled, "throttled", Some(7)),
        ("+41790000000", ErrorKind::Permanent, "auth_failed", None),
        ("+42000000000", ErrorKind::Permanent, "auth_failed", None),
        ("+43660000000", ErrorKind::Permanent, "invalid_request", None),
        ("+44770090012", ErrorKind::Permanent, "invalid_request", None),
        ("+45200000000", ErrorKind::Transient, "server_error", None),
        ("+46700000000", ErrorKind::Transient, "server_error", None),
        ("+55110000000", ErrorKind::Transient, "connection", None),
        ("+79000000000", ErrorKind::Transient, "timeout", None),
        ("+1 415 555", ErrorKind::Permanent, "invalid_request", None),
    ];
    for (to, kind, reason, retry_after) in cases {
        let error = h.gateway.send(&message(to)).await.unwrap_err();
        assert_eq!((error.kind(), error.reason()), (kind, reason), "{to}: {error}");
        assert_eq!(error.retry_after(), retry_after.map(Duration::from_secs), "{to}");
    }
    assert!(h.fake.messages().is_empty());
    assert_eq!(h.gateway.tracked(), 0);
    h.gateway.send(&message("+91900000000")).await.unwrap();
}

#[actix_rt::test]
async fn a_wrong_token_is_a_permanent_auth_failure() {
    let h = start(vec![], "ya29.wrong");
    let error = h.gateway.send(&message("+14155550100")).await.unwrap_err();
    assert_eq!((error.kind(), error.reason()), (ErrorKind::Permanent, "auth_failed"));
    assert!(h.fake.messages().is_empty());
}

#[actix_rt::test]
async fn nothing_listening_is_transient() {
    let (listener, url) = bind();
    drop(listener);
    let (tx, _rx) = report_channel();
    let gateway = RcsGateway::new(config(url, TOKEN), tx);
    let error = gateway.send(&message("+14155550100")).await.unwrap_err();
    assert_eq!((error.kind(), error.reason()), (ErrorKind::Transient, "connection"));
    assert_eq!(gateway.channels(), &[Channel::Rcs]);
    let debug = format!("{:?}", config("x".into(), TOKEN));
    assert!(!debug.contains("fake-access-token") && !debug.contains(WEBHOOK_TOKEN));
}
