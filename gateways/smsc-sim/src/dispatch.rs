//! Getting receipts to a bind that can take them.
//!
//! A receipt goes back on the connection that submitted the message while that connection lives
//! and can receive; otherwise to any other receiver or transceiver bind of the same system_id
//! (as a real SMSC does when an ESME splits transmitter and receiver binds, or reconnects before
//! a delayed receipt falls due). With `receipts_on_other_bind` it prefers any other live bind of
//! the account to the submitting one (an SMSC free to pick a bind). Delayed receipts wait in one [`DelayQueue`] task rather than one
//! timer task per message.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::time::DelayQueue;

use crate::receipt::Receipt;
use crate::stats::Stats;

struct ReceiverBind {
    system_id: Arc<str>,
    outbox: mpsc::UnboundedSender<Receipt>,
}

/// Live receiver and transceiver binds, by connection id.
#[derive(Default)]
pub struct Router {
    binds: Mutex<HashMap<u64, ReceiverBind>>,
    /// Prefer a bind other than the submitting one.
    elsewhere: bool,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router").finish_non_exhaustive()
    }
}

impl Router {
    /// `elsewhere`: prefer another live bind of the account to the submitting one.
    pub fn new(elsewhere: bool) -> Self {
        Router {
            binds: Mutex::default(),
            elsewhere,
        }
    }

    pub fn register(&self, connection_id: u64, system_id: Arc<str>, outbox: mpsc::UnboundedSender<Receipt>) {
        self.lock().insert(connection_id, ReceiverBind { system_id, outbox });
    }

    pub fn unregister(&self, connection_id: u64) {
        self.lock().remove(&connection_id);
    }

    /// Hands the receipt to a bind's outbox; false if no bind of its system_id is live.
    pub fn route(&self, receipt: Receipt) -> bool {
        let binds = self.lock();
        let mut receipt = receipt;
        if self.elsewhere {
            let (origin, system_id) = (receipt.origin_connection, receipt.system_id.clone());
            let others = binds
                .iter()
                .filter(|(id, bind)| **id != origin && bind.system_id == system_id);
            for (_, bind) in others {
                match bind.outbox.send(receipt) {
                    Ok(()) => return true,
                    Err(returned) => receipt = returned.0,
                }
            }
        }
        if let Some(origin) = binds.get(&receipt.origin_connection) {
            match origin.outbox.send(receipt) {
                Ok(()) => return true,
                Err(returned) => receipt = returned.0,
            }
        }
        for bind in binds.values() {
            if bind.system_id == receipt.system_id {
                match bind.outbox.send(receipt) {
                    Ok(()) => return true,
                    Err(returned) => receipt = returned.0,
                }
            }
        }
        false
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, ReceiverBind>> {
        self.binds.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Starts the task that holds delayed receipts until they fall due, and returns its inbox.
pub fn spawn_scheduler(
    router: Arc<Router>,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
) -> mpsc::UnboundedSender<(Receipt, Duration)> {
    let (inbox, mut incoming) = mpsc::unbounded_channel::<(Receipt, Duration)>();
    tokio::spawn(async move {
        let mut due = DelayQueue::new();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                scheduled = incoming.recv() => match scheduled {
                    Some((receipt, delay)) => {
                        due.insert(receipt, delay);
                    }
                    None => break,
                },
                Some(expired) = due.next(), if !due.is_empty() => {
                    if !router.route(expired.into_inner()) {
                        stats.receipt_undeliverable();
                    }
                }
            }
        }
    });
    inbox
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receipt::Address;
    use crate::rules::FinalState;

    fn receipt(origin: u64, system_id: &str) -> Receipt {
        Receipt {
            origin_connection: origin,
            system_id: system_id.into(),
            message_id: "1".into(),
            text_id: "1".into(),
            from: Address::default(),
            to: Address::default(),
            state: FinalState::Delivered,
            err: 0,
            submitted_at_secs: 0,
            text: String::new(),
            form: Default::default(),
        }
    }

    #[test]
    fn origin_first_then_same_system_id_then_nothing() {
        let router = Router::default();
        let (a_tx, mut a_rx) = mpsc::unbounded_channel();
        let (b_tx, mut b_rx) = mpsc::unbounded_channel();
        router.register(1, "esme".into(), a_tx);
        router.register(2, "esme".into(), b_tx);
        assert!(router.route(receipt(2, "esme")));
        assert!(b_rx.try_recv().is_ok() && a_rx.try_recv().is_err());
        router.unregister(2);
        assert!(router.route(receipt(2, "esme")));
        assert!(a_rx.try_recv().is_ok());
        assert!(!router.route(receipt(2, "other")));
        drop(a_rx);
        assert!(!router.route(receipt(1, "esme")));
    }
}
