//! Delivery reports from the gateways → the number's actor, which records them on the
//! verification (lifecycle, `verification_method`) and persists the change.
use crate::actors::DeliveryReceipt;
use crate::engine::Engine;
use otpgate_gateway::ReportReceiver;
use std::sync::Arc;

/// Runs until every gateway is gone (all senders dropped).
pub async fn dispatch(engine: Arc<Engine>, mut reports: ReportReceiver) {
    while let Some(report) = reports.recv().await {
        let key = (report.application.clone(), report.to.clone());
        let engine = engine.clone();
        // Each report waits for its own actor (and store commit); one slow number does not
        // hold up the others.
        actix::spawn(async move {
            let request_id = report.request_id.clone();
            match engine.registry.ask(&engine, &key, DeliveryReceipt(report)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) | Err(e) => {
                    tracing::error!(%request_id, error = %e, "delivery receipt could not be recorded")
                }
            }
        });
    }
}
