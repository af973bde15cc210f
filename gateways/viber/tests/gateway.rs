//! The gateway against the fake platform over real HTTP, with callbacks POSTed to a small
//! receiver that hands each raw request to `handle_callback`, as the engine's route does.
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use otpgate_gateway::{
    report_channel, Channel, Coverage, Delivery, ErrorKind, Gateway, OutboundMessage, ReportReceiver,
};
use otpgate_viber::api::Callback;
use otpgate_viber::fake::{Action, FakeViber, Rule, Rules};
use otpgate_viber::{signature, CallbackError, ViberConfig, ViberGateway, SIGNATURE_HEADER};
use parking_lot::Mutex;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9";

type Calls = Arc<Mutex<Vec<Result<usize, CallbackError>>>>;

struct Harness {
    fake: FakeViber,
    gateway: Arc<ViberGateway>,
    reports: ReportReceiver,
    /// Where the fake POSTs its callbacks.
    callback_url: String,
    /// Every `handle_callback` result the receiver produced, in order.
    calls: Calls,
}

fn bind() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

async fn receive(
    gateway: web::Data<Arc<ViberGateway>>,
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

fn config(base_url: String, token: &str) -> ViberConfig {
    ViberConfig {
        name: "vb".into(),
        base_url,
        token: token.into(),
        coverage: Coverage::default(),
        timeout: Duration::from_millis(800),
    }
}

/// The fake (rules `rules`, calling back the receiver), the receiver, and a gateway using
/// `gateway_token`.
fn start(rules: Vec<Rule>, gateway_token: &str) -> Harness {
    let (receiver_listener, receiver_url) = bind();
    let callback_url = format!("{receiver_url}/callbacks/viber");
    let fake = FakeViber::new(Some(TOKEN.into()), Some(callback_url.clone()), Rules { rules });
    let (fake_listener, fake_url) = bind();
    actix_rt::spawn(fake.serve(fake_listener).unwrap());

    let (tx, reports) = report_channel();
    let gateway = ViberGateway::new(config(fake_url, gateway_token), tx);
    let calls = Calls::default();
    let (g, c) = (gateway.clone(), calls.clone());
    let receiver = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(g.clone()))
            .app_data(web::Data::new(c.clone()))
            .route("/callbacks/viber", web::post().to(receive))
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
        callback_url,
        calls,
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
        request_id: format!("req-{to}"),
        application: "app".into(),
        to: to.into(),
        channel: Channel::Viber,
        code: "482913".into(),
        text: "Your code is 482913".into(),
        locale: "en".into(),
    }
}

async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn delivered(message_token: u64) -> Vec<u8> {
    serde_json::to_vec(&Callback {
        event: "delivered".into(),
        timestamp: Some(1_700_000_000_000),
        message_token: Some(message_token),
        user_id: Some("u".into()),
        desc: None,
    })
    .unwrap()
}

#[actix_rt::test]
async fn a_delivered_message_is_reported_once_and_seen_adds_nothing() {
    let mut h = start(vec![rule("", Action::Deliver)], TOKEN);

    let accepted = h.gateway.send(&message("+14155550100")).await.unwrap();
    assert_eq!((accepted.parts, accepted.delivery), (1, None));
    let received = h.fake.messages();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].message_token.to_string(), accepted.carrier_message_id);
    assert_eq!(received[0].receiver, "14155550100");
    assert_eq!(received[0].code, "482913");
    assert_eq!(received[0].tracking_data, "req-+14155550100");

    // `delivered`, then `seen`.
    eventually("two callbacks", || h.calls.lock().len() == 2).await;
    assert_eq!(*h.calls.lock(), vec![Ok(1), Ok(0)]);
    let report = h.reports.try_recv().unwrap();
    assert_eq!(report.request_id, "req-+14155550100");
    assert_eq!(report.application, "app");
    assert_eq!(report.to, "+14155550100");
    assert_eq!(report.carrier, "vb");
    assert_eq!(report.channel, Channel::Viber);
    assert_eq!(report.carrier_message_id, accepted.carrier_message_id);
    assert_eq!(
        (report.delivery, report.status.as_str()),
        (Delivery::Delivered, "delivered")
    );
    assert!(h.reports.try_recv().is_err());
    assert_eq!(h.gateway.tracked(), 0);
}

#[actix_rt::test]
async fn a_failed_message_is_reported_failed_once() {
    let mut h = start(vec![rule("44", Action::Fail)], TOKEN);
    h.gateway.send(&message("+447700900123")).await.unwrap();
    eventually("the callback", || !h.calls.lock().is_empty()).await;
    assert_eq!(*h.calls.lock(), vec![Ok(1)]);
    let report = h.reports.try_recv().unwrap();
    assert_eq!((report.delivery, report.status.as_str()), (Delivery::Failed, "failed"));
    assert_eq!(report.error.as_deref(), Some("fake failure"));
    assert!(h.reports.try_recv().is_err());
}

#[actix_rt::test]
async fn forged_and_missing_signatures_change_nothing() {
    // The fake's own callbacks come far too late to interfere.
    let mut late = rule("", Action::Deliver);
    late.report_after_ms = 60_000;
    let mut h = start(vec![late], TOKEN);
    let accepted = h.gateway.send(&message("+14155550100")).await.unwrap();
    let body = delivered(accepted.carrier_message_id.parse().unwrap());
    let good = signature::sign(TOKEN, &body);
    let forged = signature::sign("someone-else", &body);
    let gw = &h.gateway;

    assert_eq!(gw.handle_callback(None, &body), Err(CallbackError::BadSignature));
    assert_eq!(
        gw.handle_callback(Some(&forged), &body),
        Err(CallbackError::BadSignature)
    );
    assert_eq!(gw.handle_callback(Some(&good), b"{}"), Err(CallbackError::BadSignature));
    assert_eq!(gw.handle_callback(Some("zz"), &body), Err(CallbackError::BadSignature));
    let garbage = signature::sign(TOKEN, b"not json");
    assert!(matches!(
        gw.handle_callback(Some(&garbage), b"not json"),
        Err(CallbackError::Malformed(_))
    ));
    let no_token = br#"{"event":"delivered","timestamp":1}"#;
    assert!(matches!(
        gw.handle_callback(Some(&signature::sign(TOKEN, no_token)), no_token),
        Err(CallbackError::Malformed(_))
    ));
    assert!(h.reports.try_recv().is_err());
    assert_eq!(gw.tracked(), 1);

    // Over HTTP too: a forged callback gets 401, an unsigned one too, and nothing is reported.
    let http = reqwest::Client::new();
    let forged_answer = http
        .post(&h.callback_url)
        .header(SIGNATURE_HEADER, &forged)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged_answer.status().as_u16(), 401);
    let unsigned_answer = http.post(&h.callback_url).body(body.clone()).send().await.unwrap();
    assert_eq!(unsigned_answer.status().as_u16(), 401);
    assert!(h.reports.try_recv().is_err());

    // Other events and unknown tokens are accepted and ignored.
    let other = br#"{"event":"subscribed","timestamp":1,"user_id":"u"}"#;
    assert_eq!(gw.handle_callback(Some(&signature::sign(TOKEN, other)), other), Ok(0));
    let unknown = delivered(1);
    assert_eq!(
        gw.handle_callback(Some(&signature::sign(TOKEN, &unknown)), &unknown),
        Ok(0)
    );
    assert!(h.reports.try_recv().is_err());

    // The genuine callback still applies, once.
    assert_eq!(gw.handle_callback(Some(&good), &body), Ok(1));
    assert_eq!(gw.handle_callback(Some(&good.to_uppercase()), &body), Ok(0));
    assert_eq!(h.reports.try_recv().unwrap().delivery, Delivery::Delivered);
    assert!(h.reports.try_recv().is_err());
}

#[actix_rt::test]
async fn refusals_and_failures_are_classified() {
    let refuse = |prefix: &str, status| Rule {
        status: Some(status),
        ..rule(prefix, Action::Refuse)
    };
    let mut slow = rule("7", Action::Deliver);
    slow.delay_ms = 3_000;
    let rules = vec![
        rule("1", Action::Refuse),
        refuse("2", 12),
        rule("3", Action::Throttle),
        rule("4", Action::ServerError),
        rule("5", Action::Drop),
        refuse("6", 3),
        slow,
        refuse("8", 1),
        refuse("9", 4),
    ];
    let h = start(rules, TOKEN);
    let cases = [
        ("+14155550100", ErrorKind::Permanent, "not_viber_user", None),
        ("+22500000000", ErrorKind::Throttled, "throttled", Some(1)),
        ("+33600000000", ErrorKind::Throttled, "throttled", Some(1)),
        ("+49150000000", ErrorKind::Transient, "server_error", None),
        ("+55110000000", ErrorKind::Transient, "connection", None),
        ("+61400000000", ErrorKind::Permanent, "invalid_request", None),
        ("+79000000000", ErrorKind::Transient, "timeout", None),
        ("+81900000000", ErrorKind::Permanent, "invalid_request", None),
        ("+91900000000", ErrorKind::Permanent, "invalid_request", None),
    ];
    for (to, kind, reason, retry_after) in cases {
        let error = h.gateway.send(&message(to)).await.unwrap_err();
        assert_eq!((error.kind(), error.reason()), (kind, reason), "{to}: {error}");
        assert_eq!(error.retry_after(), retry_after.map(Duration::from_secs), "{to}");
    }
    assert!(h.fake.messages().is_empty());
    assert_eq!(h.gateway.tracked(), 0);
}

#[actix_rt::test]
async fn a_wrong_token_is_a_permanent_auth_failure() {
    let h = start(vec![], "wrong-token");
    let error = h.gateway.send(&message("+14155550100")).await.unwrap_err();
    assert_eq!((error.kind(), error.reason()), (ErrorKind::Permanent, "auth_failed"));
    assert!(h.fake.messages().is_empty());
}

#[actix_rt::test]
async fn nothing_listening_is_transient() {
    let (listener, url) = bind();
    drop(listener);
    let (tx, _rx) = report_channel();
    let gateway = ViberGateway::new(config(url, TOKEN), tx);
    let error = gateway.send(&message("+14155550100")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transient);
    assert_eq!(gateway.channels(), &[Channel::Viber]);
    assert!(!format!("{:?}", config("x".into(), TOKEN)).contains("dazcczb"));
}
