//! The tests every HTTP channel passes against its own fake over real HTTP: sends reported
//! once, forged callbacks refused, refusals classified, the carrier's fault told apart, the fake
//! binary. A channel crate implements [`UnderTest`] and runs them all with
//! [`conformance_tests!`](crate::conformance_tests).
use super::fake::{Fake, FakePlatform, FakeServer, FakeSettings};
use super::harness::{message, Arrived, CallbackReceiver, RunningFake};
use super::rules::{Action, Rule, Rules};
use crate::callback::CallbackRejection;
use crate::channel::{ChannelSettings, HttpCarrier, HttpGateway, Platform};
use otpgate_gateway::config::{CarrierContext, Problems};
use otpgate_gateway::{
    report_channel, Coverage, Delivery, DeliveryReport, ErrorKind, Fault, Gateway, GatewayError, ReportReceiver,
};
use std::sync::Arc;
use std::time::Duration;

/// The token sends present to the fakes.
pub const TOKEN: &str = "conformance-token";
/// The secret the fakes sign callbacks with.
pub const SECRET: &str = "conformance-signing-secret";
/// The carrier's name in reports.
pub const CARRIER: &str = "carrier";
/// The gateway's per-request timeout in the suite; a rule delaying longer times out.
pub const TIMEOUT: Duration = Duration::from_millis(800);

/// One channel under test.
pub trait UnderTest: 'static {
    type Platform: Platform;
    type Fake: FakePlatform;

    /// The platform's `[[carriers]]` keys (TOML) but `base_url`, with `{token}` for the token
    /// sends present and `{secret}` for the secret callbacks are signed with.
    const KEYS: &'static str;

    /// Refusals in the platform's own words and how they must be classified. The suite adds
    /// the ones every platform shares (throttling, 5xx, timeouts, cut connections).
    fn refusals() -> Vec<Case>;

    /// Checks what the fake recorded for `accepted`, the send of
    /// `message(CHANNEL, "+14155550100")`.
    fn check_received(received: &serde_json::Value, accepted: &str);
}

/// Asserts that every field of `expected` (a JSON object) has the same value in `received`.
pub fn assert_fields(received: &serde_json::Value, expected: serde_json::Value) {
    for (key, value) in expected.as_object().expect("an object of expected fields") {
        assert_eq!(&received[key], value, "{key} in {received}");
    }
}

/// A rule that refuses and what the gateway must make of it.
pub struct Case {
    pub rule: Rule,
    pub kind: ErrorKind,
    pub fault: Option<Fault>,
    pub reason: &'static str,
    pub retry_after: Option<Duration>,
}

impl Case {
    fn new(rule: Rule, kind: ErrorKind, fault: Option<Fault>, reason: &'static str) -> Case {
        Case {
            rule,
            kind,
            fault,
            reason,
            retry_after: None,
        }
    }

    /// Refused for the destination's sake.
    pub fn number(rule: Rule, reason: &'static str) -> Case {
        Case::new(rule, ErrorKind::Permanent, Some(Fault::Number), reason)
    }

    /// Refused for the carrier account's sake.
    pub fn carrier(rule: Rule, reason: &'static str) -> Case {
        Case::new(rule, ErrorKind::Permanent, Some(Fault::Carrier), reason)
    }

    /// This request refused.
    pub fn message(rule: Rule, reason: &'static str) -> Case {
        Case::new(rule, ErrorKind::Permanent, Some(Fault::Message), reason)
    }

    pub fn transient(rule: Rule, reason: &'static str) -> Case {
        Case::new(rule, ErrorKind::Transient, None, reason)
    }

    /// Throttled, to retry after `seconds`.
    pub fn throttled(rule: Rule, seconds: u64) -> Case {
        Case {
            retry_after: Some(Duration::from_secs(seconds)),
            ..Case::new(rule, ErrorKind::Throttled, None, "throttled")
        }
    }
}

/// A fake with `rules`, a receiver for its callbacks, and a gateway presenting `token`.
pub struct Setup<T: UnderTest> {
    pub fake: Fake<T::Fake>,
    pub receiver: CallbackReceiver,
    pub gateway: Arc<HttpGateway<T::Platform>>,
    pub reports: ReportReceiver,
    _server: FakeServer,
}

impl<T: UnderTest> Setup<T> {
    pub fn start(rules: Vec<Rule>, token: &str) -> Setup<T> {
        let receiver = CallbackReceiver::start();
        let fake = Fake::<T::Fake>::new(FakeSettings {
            token: Some(TOKEN.into()),
            callback_url: Some(receiver.url.clone()),
            secret: Some(SECRET.into()),
            rules: Rules::new(rules),
        });
        let server = fake.start().expect("the fake starts");
        let (gateway, reports) = gateway::<T>(&server.url, token, &receiver.url);
        Setup {
            fake,
            receiver,
            gateway,
            reports,
            _server: server,
        }
    }

    /// Applies one arrived callback (with another `body` when given).
    pub fn apply(&self, arrived: &Arrived, body: Option<&[u8]>) -> Result<usize, CallbackRejection> {
        self.gateway
            .handle_callback(&|name| arrived.header(name), body.unwrap_or(&arrived.body))
    }

    async fn send(&self, to: &str) -> Result<otpgate_gateway::Accepted, GatewayError> {
        let channel = <T::Platform as Platform>::CHANNEL;
        self.gateway.send(&message(channel, to)).await
    }

    fn report(&mut self) -> DeliveryReport {
        self.matched_report().expect("a report")
    }

    /// The next report the gateway matched itself; unmatched ones (callbacks for messages it does
    /// not know, left to the engine's store) are skipped.
    fn matched_report(&mut self) -> Option<DeliveryReport> {
        while let Ok(report) = self.reports.try_recv() {
            if !report.is_unmatched() {
                return Some(report);
            }
        }
        None
    }
}

/// `T`'s platform read from its [`UnderTest::KEYS`] and checked, as the engine does.
pub fn platform<T: UnderTest>(token: &str, callback_url: &str) -> T::Platform {
    let secret = if T::Fake::SIGNS_WITH_TOKEN { token } else { SECRET };
    let keys = T::KEYS.replace("{token}", token).replace("{secret}", secret);
    let mut platform: T::Platform = toml::from_str(&keys).expect("the keys are the platform's");
    let carrier = CarrierContext {
        name: CARRIER.into(),
        callback_url: callback_url.into(),
    };
    let mut problems = Problems::new("under test");
    platform.check(&carrier, &mut problems);
    assert!(problems.is_empty(), "{:?}", problems.into_vec());
    platform
}

/// A gateway of `T` named [`CARRIER`] at `base_url`, and where its reports go.
pub fn gateway<T: UnderTest>(
    base_url: &str,
    token: &str,
    callback_url: &str,
) -> (Arc<HttpGateway<T::Platform>>, ReportReceiver) {
    let (tx, reports) = report_channel();
    let carrier = HttpCarrier {
        settings: ChannelSettings {
            name: CARRIER.into(),
            coverage: Coverage::default(),
            base_url: base_url.into(),
            timeout: TIMEOUT,
        },
        platform: platform::<T>(token, callback_url),
    };
    (HttpGateway::new(carrier, tx), reports)
}

/// A delivered and a failed message are each reported once, whatever follows.
pub async fn delivered_and_failed<T: UnderTest>() {
    let mut s = Setup::<T>::start(vec![Rule::new("44", Action::Fail)], TOKEN);
    let delivered = s.send("+14155550100").await.expect("accepted");
    let failed = s.send("+447700900123").await.expect("accepted");
    assert_eq!((delivered.parts, delivered.delivery), (1, None));
    let received = s.fake.received();
    assert_eq!(received.len(), 2);
    T::check_received(&received[0], &delivered.carrier_message_id);

    let arrived = s.receiver.wait_after(0).await;
    let applied: usize = arrived.iter().map(|a| s.apply(a, None).expect("signed")).sum();
    assert_eq!(applied, 2, "one report per message from {} callbacks", arrived.len());
    let mut reports = [s.report(), s.report()];
    reports.sort_by(|a, b| a.to.cmp(&b.to));
    let [to_us, to_uk] = reports;
    assert_eq!(
        (
            to_us.request_id.as_str(),
            to_us.application.as_str(),
            to_us.carrier.as_str()
        ),
        ("req-+14155550100", "app", CARRIER)
    );
    assert_eq!(to_us.channel, <T::Platform as Platform>::CHANNEL);
    assert_eq!(
        (to_us.carrier_message_id, to_us.delivery),
        (delivered.carrier_message_id, Delivery::Delivered)
    );
    assert_eq!(
        (to_uk.carrier_message_id, to_uk.delivery),
        (failed.carrier_message_id, Delivery::Failed)
    );
    assert!(s.matched_report().is_none());
    assert_eq!(s.gateway.tracked(), 0);
}

/// Unsigned callbacks, and a signature over another body, are refused; the genuine ones apply
/// once, and a replay changes nothing.
pub async fn forged_callbacks_change_nothing<T: UnderTest>() {
    let mut s = Setup::<T>::start(vec![], TOKEN);
    let first = s.send("+14155550100").await.expect("accepted");
    let genuine = s.receiver.wait_after(0).await;
    s.send("+14155550111").await.expect("accepted");
    let other = s.receiver.wait_after(genuine.len()).await;

    let unsigned = s.gateway.handle_callback(&|_| None, &genuine[0].body);
    assert_eq!(unsigned, Err(CallbackRejection::BadSignature));
    for arrived in &genuine {
        let swapped = s.apply(arrived, Some(&other[0].body));
        assert_eq!(swapped, Err(CallbackRejection::BadSignature));
    }
    assert!(s.matched_report().is_none());
    assert_eq!(s.gateway.tracked(), 2);

    let applied: usize = genuine.iter().map(|a| s.apply(a, None).expect("signed")).sum();
    assert_eq!(applied, 1);
    assert_eq!(s.apply(&genuine[0], None), Ok(0), "a replay reports nothing");
    assert_eq!(s.report().carrier_message_id, first.carrier_message_id);
    assert!(s.matched_report().is_none());
    assert_eq!(s.gateway.tracked(), 1);
}

/// Every refusal is classified: the platform's own cases and the ones all platforms share.
pub async fn refusals_are_classified<T: UnderTest>() {
    let slow = Rule {
        delay_ms: 3 * TIMEOUT.as_millis() as u64,
        ..Rule::new("", Action::Deliver)
    };
    let mut cases = T::refusals();
    cases.extend([
        Case::throttled(Rule::new("", Action::Throttle).retry_after(3), 3),
        Case::transient(Rule::new("", Action::ServerError), "server_error"),
        Case::transient(Rule::new("", Action::Drop), "connection"),
        Case::transient(slow, "timeout"),
    ]);
    // Each case gets a prefix of its own.
    let prefix = |i: usize| format!("{}", 100 + i);
    let rules = cases
        .iter()
        .enumerate()
        .map(|(i, c)| Rule {
            prefix: prefix(i),
            ..c.rule.clone()
        })
        .collect();
    let s = Setup::<T>::start(rules, TOKEN);
    for (i, case) in cases.iter().enumerate() {
        let to = format!("+{}00000000", prefix(i));
        let e = s.send(&to).await.expect_err("refused");
        let expected = (case.kind, case.fault, case.reason);
        assert_eq!((e.kind(), e.fault(), e.reason()), expected, "{:?}: {e}", case.rule);
        if case.retry_after.is_some() {
            assert_eq!(e.retry_after(), case.retry_after, "{:?}", case.rule);
        }
    }
    assert!(s.fake.received().is_empty());
    assert_eq!(s.gateway.tracked(), 0);
}

/// Credentials the platform refuses are the carrier's fault; a platform that does not answer
/// at all is a transient failure; secrets stay out of `{:?}`.
pub async fn the_carrier_is_at_fault_for_its_credentials<T: UnderTest>() {
    let s = Setup::<T>::start(vec![], "wrong-token");
    let e = s.send("+14155550100").await.expect_err("refused");
    assert_eq!(
        (e.kind(), e.fault(), e.reason()),
        (ErrorKind::Permanent, Some(Fault::Carrier), "auth_failed")
    );
    assert!(s.fake.received().is_empty());

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let nowhere = format!("http://{}", listener.local_addr().expect("bound"));
    drop(listener);
    let (gateway, _reports) = gateway::<T>(&nowhere, TOKEN, &nowhere);
    let e = gateway
        .send(&message(<T::Platform as Platform>::CHANNEL, "+14155550100"))
        .await
        .expect_err("nothing listens");
    assert_eq!((e.kind(), e.reason()), (ErrorKind::Transient, "connection"));
    let shown = format!("{:?}", platform::<T>(TOKEN, &nowhere));
    assert!(!shown.contains(TOKEN) && !shown.contains(SECRET), "{shown}");
}

/// The fake as a process (`binary`): flags, TOML rules, the ready line, control routes, signed
/// callbacks.
pub async fn the_fake_binary_serves_rules_and_calls_back<T: UnderTest>(binary: &str) {
    let receiver = CallbackReceiver::start();
    let rules = std::env::temp_dir().join(format!("{}-rules-{}.toml", T::Fake::NAME, std::process::id()));
    std::fs::write(&rules, "[[rules]]\nprefix = \"44\"\naction = \"refuse\"\n").expect("a temporary file");
    let rules_path = rules.to_str().expect("a UTF-8 path");
    let args = [
        "--token",
        TOKEN,
        "--secret",
        SECRET,
        "--callback-url",
        &receiver.url,
        "--rules",
        rules_path,
    ];
    let fake = RunningFake::spawn(binary, &args);
    let _ = std::fs::remove_file(&rules);
    let (gateway, mut reports) = gateway::<T>(&fake.url, TOKEN, &receiver.url);
    let channel = <T::Platform as Platform>::CHANNEL;
    let accepted = gateway.send(&message(channel, "+14155550100")).await.expect("accepted");
    let refused = gateway
        .send(&message(channel, "+447700900123"))
        .await
        .expect_err("refused");
    assert_eq!(
        (refused.kind(), refused.fault()),
        (ErrorKind::Permanent, Some(Fault::Number))
    );

    let applied: usize = receiver
        .wait_after(0)
        .await
        .iter()
        .map(|a| {
            gateway
                .handle_callback(&|name| a.header(name), &a.body)
                .expect("signed")
        })
        .sum();
    assert_eq!(applied, 1);
    let report = reports.try_recv().expect("a report");
    assert_eq!(report.carrier_message_id, accepted.carrier_message_id);

    fake.put_rules(serde_json::json!({"rules": [{"action": "throttle", "retry_after": 2}]}))
        .await;
    let throttled = gateway
        .send(&message(channel, "+14155550100"))
        .await
        .expect_err("throttled");
    assert_eq!(throttled.retry_after(), Some(Duration::from_secs(2)));
    assert_eq!(fake.received().await.len(), 1);
}

/// Runs the whole suite for a channel: `conformance_tests!(MyChannel, "otpgate-fake-my")` in a
/// test file of the channel crate, where `MyChannel` implements [`UnderTest`] and the second
/// argument names the crate's fake binary.
#[macro_export]
macro_rules! conformance_tests {
    ($under_test:ty, $binary:literal) => {
        #[tokio::test]
        async fn a_delivered_and_a_failed_message_are_each_reported_once() {
            $crate::testing::suite::delivered_and_failed::<$under_test>().await;
        }

        #[tokio::test]
        async fn forged_callbacks_change_nothing() {
            $crate::testing::suite::forged_callbacks_change_nothing::<$under_test>().await;
        }

        #[tokio::test]
        async fn refusals_are_classified() {
            $crate::testing::suite::refusals_are_classified::<$under_test>().await;
        }

        #[tokio::test]
        async fn the_carrier_is_at_fault_for_its_credentials() {
            $crate::testing::suite::the_carrier_is_at_fault_for_its_credentials::<$under_test>().await;
        }

        #[tokio::test]
        async fn the_fake_binary_serves_rules_and_calls_back() {
            let binary = env!(concat!("CARGO_BIN_EXE_", $binary));
            $crate::testing::suite::the_fake_binary_serves_rules_and_calls_back::<$under_test>(binary).await;
        }
    };
}
