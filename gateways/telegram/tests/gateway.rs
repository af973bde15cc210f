//! The gateway against the fake platform over real HTTP, with delivery reports POSTed back to a
//! small receiver that hands each raw request to `handle_report`, as the engine's route does.
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use otpgate_gateway::{
    report_channel, Channel, Coverage, Delivery, ErrorKind, Gateway, OutboundMessage, ReportReceiver,
};
use otpgate_telegram::api::{DeliveryStatus, RequestStatus};
use otpgate_telegram::fake::{Action, FakeTelegram, Rule, Rules};
use otpgate_telegram::{signature, ReportError, TelegramConfig, TelegramGateway, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use parking_lot::Mutex;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const TOKEN: &str = "12345:fake-token";

type Calls = Arc<Mutex<Vec<Result<usize, ReportError>>>>;

struct Harness {
    fake: FakeTelegram,
    gateway: Arc<TelegramGateway>,
    reports: ReportReceiver,
    /// Every `handle_report` result the receiver produced, in order.
    calls: Calls,
}

fn bind() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

async fn receive(
    gateway: web::Data<Arc<TelegramGateway>>,
    calls: web::Data<Calls>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let header = |name| request.headers().get(name).and_then(|v| v.to_str().ok());
    let result = gateway.handle_report(header(TIMESTAMP_HEADER), header(SIGNATURE_HEADER), &body);
    let status = result.as_ref().map_or_else(ReportError::http_status, |_| 200);
    calls.lock().push(result);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}

fn config(base_url: String, token: &str, callback_url: Option<String>) -> TelegramConfig {
    TelegramConfig {
        name: "tg".into(),
        base_url,
        token: token.into(),
        callback_url,
        ttl_seconds: 300,
        coverage: Coverage::default(),
        timeout: Duration::from_millis(800),
    }
}

/// The fake (rules `rules`), a report receiver, and a gateway using `gateway_token`.
fn start(rules: Vec<Rule>, gateway_token: &str) -> Harness {
    let fake = FakeTelegram::new(Some(TOKEN.into()), Rules { rules });
    let (fake_listener, fake_url) = bind();
    actix_rt::spawn(fake.serve(fake_listener).unwrap());

    let (receiver_listener, receiver_url) = bind();
    let (tx, reports) = report_channel();
    let gateway = TelegramGateway::new(
        config(
            fake_url,
            gateway_token,
            Some(format!("{receiver_url}/reports/telegram")),
        ),
        tx,
    );
    let calls = Calls::default();
    let (g, c) = (gateway.clone(), calls.clone());
    let receiver = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(g.clone()))
            .app_data(web::Data::new(c.clone()))
            .route("/reports/telegram", web::post().to(receive))
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
        channel: Channel::Telegram,
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

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[actix_rt::test]
async fn a_delivered_message_is_reported_once_and_read_adds_nothing() {
    let mut read = rule("", Action::Deliver);
    read.read = true;
    let mut h = start(vec![read], TOKEN);

    let accepted = h.gateway.send(&message("+14155550100")).await.unwrap();
    assert_eq!((accepted.parts, accepted.delivery), (1, None));
    let received = h.fake.messages();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].request_id, accepted.carrier_message_id);
    assert_eq!(received[0].phone_number, "+14155550100");
    assert_eq!(received[0].code, "482913");
    assert_eq!(received[0].ttl, Some(300));
    assert_eq!(received[0].payload.as_deref(), Some("req-+14155550100"));
    assert!(received[0]
        .callback_url
        .as_deref()
        .unwrap()
        .ends_with("/reports/telegram"));

    // `delivered`, then `read`.
    eventually("two reports", || h.calls.lock().len() == 2).await;
    assert_eq!(*h.calls.lock(), vec![Ok(1), Ok(0)]);
    let report = h.reports.try_recv().unwrap();
    assert_eq!(report.request_id, "req-+14155550100");
    assert_eq!(report.application, "app");
    assert_eq!(report.carrier, "tg");
    assert_eq!(report.channel, Channel::Telegram);
    assert_eq!(report.carrier_message_id, accepted.carrier_message_id);
    assert_eq!(
        (report.delivery, report.status.as_str()),
        (Delivery::Delivered, "delivered")
    );
    assert!(h.reports.try_recv().is_err());
    assert_eq!(h.gateway.tracked(), 0);
}

#[actix_rt::test]
async fn an_expired_message_is_reported_failed() {
    let mut h = start(vec![rule("44", Action::Expire)], TOKEN);
    h.gateway.send(&message("+447700900123")).await.unwrap();
    eventually("the report", || !h.calls.lock().is_empty()).await;
    let report = h.reports.try_recv().unwrap();
    assert_eq!((report.delivery, report.status.as_str()), (Delivery::Failed, "expired"));
    assert!(h.reports.try_recv().is_err());
}

#[actix_rt::test]
async fn forged_missing_and_stale_reports_change_nothing() {
    // The fake's own report comes far too late to interfere.
    let mut late = rule("", Action::Deliver);
    late.report_after_ms = 60_000;
    let mut h = start(vec![late], TOKEN);
    let accepted = h.gateway.send(&message("+14155550100")).await.unwrap();
    let body = serde_json::to_vec(&RequestStatus {
        request_id: accepted.carrier_message_id.clone(),
        phone_number: "+14155550100".into(),
        request_cost: 0.01,
        payload: None,
        delivery_status: Some(DeliveryStatus {
            status: "delivered".into(),
            updated_at: now() as i64,
        }),
    })
    .unwrap();
    let ts = now().to_string();
    let good = signature::sign(TOKEN, &ts, &body);
    let forged = signature::sign("12345:someone-else", &ts, &body);
    let stale_ts = (now() - 600).to_string();
    let stale = signature::sign(TOKEN, &stale_ts, &body);
    let gw = &h.gateway;

    assert_eq!(gw.handle_report(Some(&ts), None, &body), Err(ReportError::BadSignature));
    assert_eq!(
        gw.handle_report(None, Some(&good), &body),
        Err(ReportError::BadSignature)
    );
    assert_eq!(
        gw.handle_report(Some(&ts), Some(&forged), &body),
        Err(ReportError::BadSignature)
    );
    assert_eq!(
        gw.handle_report(Some(&ts), Some(&good), b"{}"),
        Err(ReportError::BadSignature)
    );
    assert_eq!(
        gw.handle_report(Some(&stale_ts), Some(&stale), &body),
        Err(ReportError::Stale)
    );
    let garbage = signature::sign(TOKEN, &ts, b"not json");
    assert!(matches!(
        gw.handle_report(Some(&ts), Some(&garbage), b"not json"),
        Err(ReportError::Malformed(_))
    ));
    assert!(h.reports.try_recv().is_err());
    assert_eq!(gw.tracked(), 1);

    // Over HTTP too: a forged report gets 401 and nothing.
    let url = h.fake.messages()[0].callback_url.clone().unwrap();
    let answer = reqwest::Client::new()
        .post(&url)
        .header(TIMESTAMP_HEADER, &ts)
        .header(SIGNATURE_HEADER, &forged)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 401);
    assert!(h.reports.try_recv().is_err());

    // The genuine report still applies, once.
    assert_eq!(gw.handle_report(Some(&ts), Some(&good), &body), Ok(1));
    assert_eq!(gw.handle_report(Some(&ts), Some(&good), &body), Ok(0));
    assert_eq!(h.reports.try_recv().unwrap().delivery, Delivery::Delivered);
    assert!(h.reports.try_recv().is_err());
}

#[actix_rt::test]
async fn refusals_and_failures_are_classified() {
    let mut not_found = rule("1", Action::Refuse);
    not_found.error = Some("PHONE_NUMBER_NOT_FOUND".into());
    let mut no_balance = rule("6", Action::Refuse);
    no_balance.error = Some("BALANCE_NOT_ENOUGH".into());
    let mut flood = rule("3", Action::Throttle);
    flood.flood_wait = Some(7);
    let mut slow = rule("7", Action::Deliver);
    slow.delay_ms = 3_000;
    let mut other = rule("8", Action::Refuse);
    other.error = Some("CODE_INVALID".into());
    let rules = vec![
        not_found,
        no_balance,
        rule("2", Action::Throttle),
        flood,
        rule("4", Action::Fail),
        rule("5", Action::Drop),
        slow,
        other,
        rule("9", Action::Deliver),
    ];
    let h = start(rules, TOKEN);
    let cases = [
        ("+14155550100", ErrorKind::Permanent, "not_telegram_user", None),
        ("+61400000000", ErrorKind::Permanent, "no_balance", None),
        ("+22500000000", ErrorKind::Throttled, "throttled", Some(1)),
        ("+33600000000", ErrorKind::Throttled, "throttled", Some(7)),
        ("+49150000000", ErrorKind::Transient, "server_error", None),
        ("+55110000000", ErrorKind::Transient, "connection", None),
        ("+79000000000", ErrorKind::Transient, "timeout", None),
        ("+81900000000", ErrorKind::Permanent, "refused", None),
    ];
    for (to, kind, reason, retry_after) in cases {
        let error = h.gateway.send(&message(to)).await.unwrap_err();
        assert_eq!((error.kind(), error.reason()), (kind, reason), "{to}: {error}");
        assert_eq!(error.retry_after(), retry_after.map(Duration::from_secs), "{to}");
    }
    assert!(h.fake.messages().is_empty());
    assert_eq!(h.gateway.tracked(), 0);

    assert!(!h.gateway.check_send_ability("+14155550100").await.unwrap());
    assert!(h.gateway.check_send_ability("+91900000000").await.unwrap());
    let throttled = h.gateway.check_send_ability("+22500000000").await.unwrap_err();
    assert_eq!(throttled.kind(), ErrorKind::Throttled);
}

#[actix_rt::test]
async fn a_wrong_token_is_a_permanent_auth_failure() {
    let h = start(vec![], "12345:wrong");
    let error = h.gateway.send(&message("+14155550100")).await.unwrap_err();
    assert_eq!((error.kind(), error.reason()), (ErrorKind::Permanent, "auth_failed"));
    let error = h.gateway.check_send_ability("+14155550100").await.unwrap_err();
    assert_eq!(error.reason(), "auth_failed");
}

#[actix_rt::test]
async fn nothing_listening_is_transient() {
    let (listener, url) = bind();
    drop(listener);
    let (tx, _rx) = report_channel();
    let gateway = TelegramGateway::new(config(url, TOKEN, None), tx);
    let error = gateway.send(&message("+14155550100")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transient);
    assert_eq!(gateway.channels(), &[Channel::Telegram]);
    assert!(!format!("{:?}", config("x".into(), TOKEN, None)).contains("fake-token"));
}
