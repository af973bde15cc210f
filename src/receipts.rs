//! Delivery reports from the gateways → the number's actor, which records them on the
//! verification (lifecycle, `verification_method`) and persists the change.
//!
//! A report the gateway could not match ([`DeliveryReport::is_unmatched`]: the message was sent
//! before a restart, or by another node) is matched here through the store's messages, by
//! carrier and carrier message id (for SMPP every hex/decimal spelling of the id, a reinterpreted
//! one only when the receipt names the same handset, as the gateway itself matches). A message
//! the store already holds a final outcome for is not reported twice.
use crate::actors::DeliveryReceipt;
use crate::engine::Engine;
use crate::store::{MessageState, StoredMessage};
use otpgate_gateway::{Channel, DeliveryReport, ReportReceiver};
use std::sync::Arc;

/// Runs until every gateway is gone (all senders dropped).
pub async fn dispatch(engine: Arc<Engine>, mut reports: ReportReceiver) {
    while let Some(report) = reports.recv().await {
        let engine = engine.clone();
        // Each report waits for its own actor (and store commit); one slow number does not
        // hold up the others.
        actix::spawn(async move {
            let report = if report.is_unmatched() {
                match match_stored(&engine, report).await {
                    Some(report) => report,
                    None => return,
                }
            } else {
                report
            };
            let key = (report.application.clone(), report.to.clone());
            let request_id = report.request_id.clone();
            match engine
                .registry
                .ask(&engine.actor_parts, &key, DeliveryReceipt(report))
                .await
            {
                Ok(Ok(())) => {}
                Ok(Err(e)) | Err(e) => {
                    tracing::error!(%request_id, error = %e, "delivery receipt could not be recorded")
                }
            }
        });
    }
}

/// The spellings a receipt's id may have been stored under, the exact one first.
pub fn stored_ids(channel: Channel, carrier_message_id: &str) -> Vec<String> {
    match channel {
        Channel::Sms => otpgate_smpp::receipt::id_forms(carrier_message_id),
        _ => vec![carrier_message_id.to_owned()],
    }
}

/// Completes an unmatched report from the stored message it is about; `None` (logged) when the
/// store knows no such message or already has its outcome.
async fn match_stored(engine: &Engine, mut report: DeliveryReport) -> Option<DeliveryReport> {
    let ids = stored_ids(report.channel, &report.carrier_message_id);
    let found = match engine.store.find_messages(&report.carrier, &ids).await {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(carrier = %report.carrier, error = %e, "cannot look up a receipt's message");
            return None;
        }
    };
    let handset = std::mem::take(&mut report.to);
    // The exact spelling counts whatever the handset; another base must also name the number.
    let plausible = |m: &StoredMessage| {
        m.carrier_message_id == ids[0]
            || handset.is_empty()
            || otpgate_smpp::same_handset(&handset, m.phone.trim_start_matches('+'))
    };
    let Some(message) = found.into_iter().find(plausible) else {
        tracing::debug!(carrier = %report.carrier, "receipt for a message this engine never stored");
        return None;
    };
    if message.state != MessageState::Accepted {
        tracing::debug!(request_id = %message.request_id, "receipt for a message already settled");
        return None;
    }
    report.request_id = message.request_id;
    report.application = message.application;
    report.to = message.phone;
    report.carrier_message_id = message.carrier_message_id;
    Some(report)
}
