//! The gateway against the fake Cloud API over real HTTP: the template body it sends, the
//! classification of every refusal, and status webhooks turned into exactly one report.
mod common;

use common::{config, message, WebhookReceiver, APP_SECRET, TOKEN};
use otpgate_gateway::{report_channel, Delivery, ErrorKind, Gateway};
use otpgate_whatsapp::fake::{Action, FakeConfig, FakeServer, Recorded, Rule, Rules};
use otpgate_whatsapp::webhook::signature;
use otpgate_whatsapp::{WebhookError, WhatsAppGateway};
use std::time::Duration;

fn fake(webhook_url: Option<String>, rules: Vec<Rule>) -> FakeServer {
    FakeServer::start(FakeConfig {
        access_token: TOKEN.into(),
        app_secret: APP_SECRET.into(),
        webhook_url,
        rules,
    })
    .unwrap()
}

fn rule(prefix: &str, action: Action) -> Rule {
    Rule {
        prefix: prefix.into(),
        action,
        statuses: None,
        code: None,
        http_status: None,
        retry_after_seconds: None,
        delay_ms: None,
    }
}

async fn recorded(fake: &FakeServer) -> Vec<Recorded> {
    reqwest::get(format!("{}/_control/messages", fake.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_accepted_send_carries_the_code_in_the_body_and_the_url_button() {
    let fake = fake(None, vec![]);
    let (tx, _rx) = report_channel();
    let gateway = WhatsAppGateway::new(config(&fake.url), tx);
    assert_eq!(gateway.channels(), [otpgate_gateway::Channel::Whatsapp]);
    assert!(gateway.serves_country("BR") && !gateway.serves_country("US"));

    let accepted = gateway.send(&message("+5511999990001", "482913")).await.unwrap();
    assert!(accepted.carrier_message_id.starts_with("wamid."));
    assert_eq!((accepted.parts, accepted.delivery), (1, None));

    let messages = recorded(&fake).await;
    assert_eq!(
        messages,
        vec![Recorded {
            to: "5511999990001".into(),
            template: "otp_code".into(),
            language: "pt_BR".into(),
            body_code: Some("482913".into()),
            button_code: Some("482913".into()),
            wamid: Some(accepted.carrier_message_id.clone()),
        }]
    );
    assert_eq!(gateway.tracked(), 1);
}

#[tokio::test]
async fn read_before_delivered_and_repeated_statuses_give_one_delivered_report() {
    let receiver = WebhookReceiver::start().await;
    let mut out_of_order = rule("55", Action::Accept);
    out_of_order.statuses = Some(vec!["read".into(), "sent".into(), "read".into(), "delivered".into()]);
    let fake = fake(Some(receiver.url.clone()), vec![out_of_order]);
    let (tx, mut rx) = report_channel();
    let gateway = WhatsAppGateway::new(config(&fake.url), tx);

    let accepted = gateway.send(&message("+5511999990002", "111222")).await.unwrap();
    let webhooks = receiver.wait_for(4).await;
    let mut applied = 0;
    for webhook in &webhooks {
        applied += gateway
            .handle_webhook(webhook.signature.as_deref(), &webhook.body)
            .unwrap();
    }
    assert_eq!(applied, 1);
    let report = rx.try_recv().unwrap();
    assert_eq!(report.request_id, "req-+5511999990002");
    assert_eq!(report.to, "+5511999990002");
    assert_eq!(report.carrier, "wa");
    assert_eq!(report.carrier_message_id, accepted.carrier_message_id);
    assert_eq!((report.delivery, report.status.as_str()), (Delivery::Delivered, "read"));
    assert!(rx.try_recv().is_err(), "one report only");
    assert_eq!(gateway.tracked(), 0);
}

#[tokio::test]
async fn forged_missing_and_malformed_webhooks_are_refused_and_change_nothing() {
    let receiver = WebhookReceiver::start().await;
    let mut delivered_only = rule("", Action::Accept);
    delivered_only.statuses = Some(vec!["delivered".into()]);
    let fake = fake(Some(receiver.url.clone()), vec![delivered_only]);
    let (tx, mut rx) = report_channel();
    let gateway = WhatsAppGateway::new(config(&fake.url), tx);
    gateway.send(&message("+5511999990003", "333444")).await.unwrap();
    let genuine = receiver.wait_for(1).await.remove(0);
    assert!(genuine.signature.as_deref().unwrap().starts_with("sha256="));

    let forged = signature("not-the-app-secret", &genuine.body);
    let mut tampered = genuine.body.clone();
    tampered.extend_from_slice(b" ");
    for (header, body) in [
        (None, &genuine.body),
        (Some(forged.as_str()), &genuine.body),
        (genuine.signature.as_deref(), &tampered),
        (Some("sha256="), &genuine.body),
    ] {
        assert_eq!(gateway.handle_webhook(header, body), Err(WebhookError::BadSignature));
    }
    let garbage = b"{not json";
    assert!(matches!(
        gateway.handle_webhook(Some(&signature(APP_SECRET, garbage)), garbage),
        Err(WebhookError::Malformed(_))
    ));
    assert!(rx.try_recv().is_err());
    assert_eq!(gateway.tracked(), 1);

    assert_eq!(
        gateway.handle_webhook(genuine.signature.as_deref(), &genuine.body),
        Ok(1)
    );
    assert_eq!(rx.try_recv().unwrap().delivery, Delivery::Delivered);
}

#[tokio::test]
async fn a_failed_status_gives_one_failed_report_with_its_error_code() {
    let receiver = WebhookReceiver::start().await;
    let fake = fake(Some(receiver.url.clone()), vec![rule("55", Action::Fail)]);
    let (tx, mut rx) = report_channel();
    let gateway = WhatsAppGateway::new(config(&fake.url), tx);
    gateway.send(&message("+5511999990004", "555666")).await.unwrap();
    let webhooks = receiver.wait_for(2).await;
    let applied: usize = webhooks
        .iter()
        .chain(webhooks.iter())
        .map(|w| gateway.handle_webhook(w.signature.as_deref(), &w.body).unwrap())
        .sum();
    assert_eq!(applied, 1);
    let report = rx.try_recv().unwrap();
    assert_eq!(report.delivery, Delivery::Failed);
    assert_eq!(report.status, "failed");
    assert_eq!(report.error.as_deref(), Some("131026"));
    assert!(rx.try_recv().is_err());
}

#[tokio::test]
async fn refusals_are_classified_as_documented() {
    let fake = fake(None, vec![]);
    let mut not_a_user = rule("551", Action::Refuse);
    not_a_user.code = Some(131026);
    let mut throttled = rule("552", Action::Throttle);
    throttled.retry_after_seconds = Some(3);
    let mut platform_down = rule("553", Action::Refuse);
    platform_down.http_status = Some(500);
    platform_down.code = Some(131000);
    let mut slow = rule("555", Action::Delay);
    slow.delay_ms = Some(1_000);
    let rules = Rules {
        rules: vec![not_a_user, throttled, platform_down, rule("554", Action::Drop), slow],
    };
    let put = reqwest::Client::new()
        .put(format!("{}/_control/rules", fake.url))
        .json(&rules)
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());

    let (tx, _rx) = report_channel();
    let mut impatient = config(&fake.url);
    impatient.timeout = Duration::from_millis(300);
    let gateway = WhatsAppGateway::new(impatient, tx);
    let classify = |to: &'static str| {
        let gateway = gateway.clone();
        async move {
            let error = gateway.send(&message(to, "000111")).await.unwrap_err();
            (error.kind(), error.reason(), error.retry_after())
        }
    };
    assert_eq!(
        classify("+5511000000001").await,
        (ErrorKind::Permanent, "not_whatsapp_user", None)
    );
    assert_eq!(
        classify("+5521000000001").await,
        (ErrorKind::Throttled, "throttled", Some(Duration::from_secs(3)))
    );
    assert_eq!(
        classify("+5531000000001").await,
        (ErrorKind::Transient, "platform_error", None)
    );
    assert!(gateway.is_up());
    assert_eq!(
        classify("+5541000000001").await,
        (ErrorKind::Transient, "connection_failed", None)
    );
    assert_eq!(
        classify("+5551000000001").await,
        (ErrorKind::Transient, "timeout", None)
    );
    assert!(gateway.is_up(), "two transport failures in a row keep it up");
    classify("+5541000000002").await;
    assert!(!gateway.is_up(), "the third takes it down");
}

#[tokio::test]
async fn a_wrong_token_is_a_permanent_auth_failure() {
    let fake = fake(None, vec![]);
    let (tx, _rx) = report_channel();
    let mut wrong = config(&fake.url);
    wrong.access_token = "expired".into();
    let gateway = WhatsAppGateway::new(wrong, tx);
    let error = gateway.send(&message("+5511999990005", "777888")).await.unwrap_err();
    assert_eq!((error.kind(), error.reason()), (ErrorKind::Permanent, "auth_failed"));
    assert!(recorded(&fake).await.is_empty());
    assert!(gateway.is_up(), "a refusal proves the platform reachable");
}

#[tokio::test]
async fn the_fake_refuses_a_template_without_the_url_button_parameter_with_131008() {
    let fake = fake(None, vec![]);
    let mut body = otpgate_whatsapp::wire::template_body("+5511999990006", "otp_code", "en_US", "123456");
    body["template"]["components"].as_array_mut().unwrap().pop();
    let answer = reqwest::Client::new()
        .post(format!("{}/1234/messages", fake.url))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 400);
    let error: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(error["error"]["code"], 131008);
    assert!(recorded(&fake).await.is_empty());
}
