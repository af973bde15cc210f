//! Walking a plan until a carrier accepts, and the one table that says what a refusal leads to.
//! It branches on nothing but the error's kind and fault (`otpgate_gateway::ErrorKind`,
//! `otpgate_gateway::Fault`):
//!
//! | refusal                               | next step                                          |
//! |---------------------------------------|----------------------------------------------------|
//! | throttled, `retry_after` within budget | wait `retry_after`, send again on the same carrier |
//! | throttled beyond the budget            | the next carrier                                   |
//! | transient                              | the next carrier of the channel, then the next channel |
//! | permanent, the number's fault          | skip the rest of the channel for this number       |
//! | permanent, the carrier's fault         | mark the carrier down (alert), then the next carrier |
//! | permanent, this message's fault        | the next carrier                                   |
use super::{Router, Step};
use crate::metrics as m;
use crate::number_state::SendResult;
use otpgate_gateway::{Channel, Delivery, ErrorKind, Fault, GatewayError, OutboundMessage};
use std::time::{Duration, Instant};

/// Sends of one step again after throttling, at most.
const MAX_RETRIES: u32 = 3;
/// The least wait before sending again, whatever `Retry-After` said (0, or a date past).
const MIN_WAIT: Duration = Duration::from_millis(100);

/// What follows a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// Wait this long, then send again on the same carrier.
    RetryAfter(Duration),
    /// The next step of the plan: the same channel's next carrier, then the next channel.
    NextCarrier,
    /// Skip the remaining steps of this channel: the number cannot get messages on it.
    SkipChannel,
    /// Mark the carrier down and alert, then the next step.
    CarrierDown,
}

/// The next step after `error`, when the send may wait `budget` longer before it must move on.
pub fn next_step(error: &GatewayError, budget: Duration) -> NextStep {
    match (error.kind(), error.fault()) {
        (ErrorKind::Throttled, _) => match error.retry_after() {
            Some(wait) if wait.max(MIN_WAIT) <= budget => NextStep::RetryAfter(wait.max(MIN_WAIT)),
            _ => NextStep::NextCarrier,
        },
        (ErrorKind::Transient, _) => NextStep::NextCarrier,
        (ErrorKind::Permanent, Some(Fault::Number)) => NextStep::SkipChannel,
        (ErrorKind::Permanent, Some(Fault::Carrier)) => NextStep::CarrierDown,
        (ErrorKind::Permanent, _) => NextStep::NextCarrier,
    }
}

/// What a walk of the plan ended with.
pub struct Delivered {
    pub result: SendResult,
    /// The steps after the one that accepted: the fallback if its message is never delivered.
    pub remaining: Vec<Step>,
    /// Channels the number cannot get messages on, as a refusal said.
    pub skipped: Vec<Channel>,
}

/// Walks `steps` until a carrier accepts `message`, recording metrics per attempt. A throttled
/// carrier is waited for until `deadline`, the verification's budget for this send.
pub async fn deliver(
    router: Router,
    steps: Vec<Step>,
    mut message: OutboundMessage,
    country: String,
    received: Instant,
    deadline: Instant,
) -> Delivered {
    let mut failures = Vec::new();
    let mut fallbacks = Vec::new();
    let mut skipped: Vec<Channel> = Vec::new();
    let mut down: Vec<String> = Vec::new();
    let mut previous: Option<Channel> = None;
    let mut steps = steps.into_iter();
    while let Some(step) = steps.next() {
        let carrier = step.gateway.name().to_owned();
        if skipped.contains(&step.channel) || down.contains(&carrier) {
            continue;
        }
        if let Some(from) = previous.filter(|from| *from != step.channel) {
            m::fallback(from, step.channel, "refused");
            fallbacks.push((from, step.channel));
        }
        message.channel = step.channel;
        let mut retries = 0;
        let error = loop {
            let asked = Instant::now();
            let answer = step.gateway.send(&message).await;
            m::channel_send(step.channel, &carrier, answer.is_ok(), asked.elapsed());
            let error = match answer {
                Ok(accepted) => {
                    metrics::histogram!(m::SEND_DURATION).record(received.elapsed().as_secs_f64());
                    let fee_micros = step.gateway.billable().then(|| step.gateway.fee_micros(&country));
                    let labels = [
                        ("channel", step.channel.as_str().to_owned()),
                        ("carrier", carrier.clone()),
                        ("country", country),
                    ];
                    metrics::counter!(m::MESSAGES_SENT, &labels).increment(1);
                    let delivered = accepted.delivery == Some(Delivery::Delivered);
                    if delivered {
                        metrics::counter!(m::MESSAGES_DELIVERED, &labels).increment(1);
                    }
                    let result = SendResult::Accepted {
                        channel: step.channel,
                        carrier,
                        delivered,
                        fallbacks,
                        fee_micros,
                        message_id: accepted.carrier_message_id,
                    };
                    let remaining = steps
                        .filter(|s| !skipped.contains(&s.channel) && !down.iter().any(|d| d == s.gateway.name()))
                        .collect();
                    return Delivered {
                        result,
                        remaining,
                        skipped,
                    };
                }
                Err(error) => error,
            };
            tracing::warn!(carrier = %carrier, channel = %step.channel, error = %error, "carrier refused message");
            let labels = [
                ("channel", step.channel.as_str().to_owned()),
                ("carrier", carrier.clone()),
                ("reason", error.reason().to_owned()),
            ];
            metrics::counter!(m::MESSAGES_FAILED, &labels).increment(1);
            match next_step(&error, deadline.saturating_duration_since(Instant::now())) {
                NextStep::RetryAfter(wait) if retries < MAX_RETRIES => {
                    retries += 1;
                    tokio::time::sleep(wait).await;
                }
                NextStep::SkipChannel => {
                    skipped.push(step.channel);
                    break error;
                }
                NextStep::CarrierDown => {
                    router.carrier_refused(&carrier, error.reason());
                    down.push(carrier.clone());
                    break error;
                }
                NextStep::RetryAfter(_) | NextStep::NextCarrier => break error,
            }
        };
        failures.push((step.channel, carrier, error.reason()));
        previous = Some(step.channel);
    }
    Delivered {
        result: SendResult::Undeliverable { failures },
        remaining: Vec::new(),
        skipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_gives_each_kind_its_step() {
        let budget = Duration::from_secs(20);
        let cases = [
            (
                GatewayError::throttled(Duration::from_secs(2), ""),
                NextStep::RetryAfter(Duration::from_secs(2)),
            ),
            (
                GatewayError::throttled(Duration::ZERO, ""),
                NextStep::RetryAfter(MIN_WAIT),
            ),
            (
                GatewayError::throttled(Duration::from_secs(21), ""),
                NextStep::NextCarrier,
            ),
            (GatewayError::transient("timeout", ""), NextStep::NextCarrier),
            (
                GatewayError::number_at_fault("not_whatsapp_user", ""),
                NextStep::SkipChannel,
            ),
            (GatewayError::carrier_at_fault("auth_failed", ""), NextStep::CarrierDown),
            (GatewayError::permanent("invalid_request", ""), NextStep::NextCarrier),
        ];
        for (error, step) in cases {
            assert_eq!(next_step(&error, budget), step, "{error}");
        }
        let spent = GatewayError::throttled(Duration::from_secs(1), "");
        assert_eq!(next_step(&spent, Duration::from_millis(999)), NextStep::NextCarrier);
    }
}
