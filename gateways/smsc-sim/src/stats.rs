//! Counters the simulator keeps even with recording off.
//!
//! Connections count into a plain [`Tally`] while they work through a batch of PDUs and add it
//! to the shared atomics once per batch, before the batch's responses are written: a client that
//! has seen a response always finds it counted, and the hot path touches no shared cache line
//! per PDU.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// Per-batch counts of one connection.
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
        pub struct Tally {
            $(pub $name: u64,)*
        }

        /// The shared counters.
        #[derive(Debug, Default)]
        pub struct Stats {
            /// A gauge, not a counter: `reset` leaves it alone.
            connections_active: AtomicU64,
            $($name: AtomicU64,)*
        }

        /// A point-in-time copy of [`Stats`], as served by `GET /stats`.
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub struct StatsSnapshot {
            pub connections_active: u64,
            $($(#[$doc])* pub $name: u64,)*
        }

        impl Stats {
            /// Adds a connection's batch and clears it.
            pub fn add(&self, tally: &mut Tally) {
                $(if tally.$name != 0 {
                    self.$name.fetch_add(tally.$name, Ordering::Relaxed);
                })*
                *tally = Tally::default();
            }

            pub fn snapshot(&self) -> StatsSnapshot {
                StatsSnapshot {
                    connections_active: self.connections_active.load(Ordering::Relaxed),
                    $($name: self.$name.load(Ordering::Relaxed),)*
                }
            }

            pub fn reset(&self) {
                $(self.$name.store(0, Ordering::Relaxed);)*
            }
        }
    };
}

counters! {
    connections_total,
    binds_ok,
    binds_failed,
    submit_sm,
    submit_sm_resp_ok,
    submit_sm_resp_error,
    enquire_link,
    unbind,
    deliver_sm_sent,
    deliver_sm_resp,
    /// Receipts sent as data_sm (a rule's `receipt_pdu = "data_sm"`).
    data_sm_sent,
    data_sm_resp,
    /// deliver_sm_resp or data_sm_resp with a non-zero command_status.
    receipt_resp_error,
    /// Connections the simulator closed on purpose (`drop`, `hold_then_drop`).
    dropped_connections,
    /// generic_nack sent for unknown or malformed PDUs.
    generic_nack,
    /// Receipts that found no live receiver or transceiver bind of their system_id.
    receipts_undeliverable,
    /// TLS connections closed because the handshake failed or did not finish in time.
    tls_handshake_failed,
}

impl Stats {
    pub fn connection_opened(&self) {
        self.connections_active.fetch_add(1, Ordering::Relaxed);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_closed(&self) {
        self.connections_active.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn receipt_undeliverable(&self) {
        self.receipts_undeliverable.fetch_add(1, Ordering::Relaxed);
    }

    pub fn tls_handshake_failed(&self) {
        self.tls_handshake_failed.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_add_and_reset_keeps_the_gauge() {
        let stats = Stats::default();
        stats.connection_opened();
        let mut tally = Tally {
            submit_sm: 3,
            submit_sm_resp_ok: 2,
            ..Tally::default()
        };
        stats.add(&mut tally);
        assert_eq!(tally, Tally::default());
        let snapshot = stats.snapshot();
        assert_eq!(
            (
                snapshot.submit_sm,
                snapshot.submit_sm_resp_ok,
                snapshot.connections_total
            ),
            (3, 2, 1)
        );
        stats.reset();
        let snapshot = stats.snapshot();
        assert_eq!((snapshot.submit_sm, snapshot.connections_active), (0, 1));
    }

    #[test]
    fn snapshot_serializes_every_counter() {
        let json = serde_json::to_value(Stats::default().snapshot()).unwrap();
        for key in [
            "connections_total",
            "connections_active",
            "binds_ok",
            "binds_failed",
            "submit_sm",
            "submit_sm_resp_ok",
            "submit_sm_resp_error",
            "enquire_link",
            "unbind",
            "deliver_sm_sent",
            "deliver_sm_resp",
            "dropped_connections",
            "tls_handshake_failed",
        ] {
            assert_eq!(json[key], 0, "{key}");
        }
    }
}
