//! The routing actor: the one owner of what routing knows and learns — the routing table, the
//! measured deliverability per (carrier, country), the carriers marked down for their own
//! fault. Every change is published as a read-only [`Snapshot`] that sends load without a lock
//! or a mailbox hop; what was learned is saved in the store, so a restart keeps it.
use super::deliverability::Deliverability;
use crate::config::RoutingTable;
use crate::metrics as m;
use crate::store::{Store, StoreError};
use actix::prelude::*;
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The store setting that keeps learned deliverability (JSON, see [`Deliverability::to_json`]).
pub const DELIVERABILITY_SETTING: &str = "routing.deliverability";
/// Outcomes are published to sends at most this much later.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// Learned deliverability is saved at most this much later.
const SAVE_EVERY: Duration = Duration::from_secs(1);
/// A carrier refused for its own fault (credentials, balance) is skipped this long; the first
/// send after that is the probe.
pub const CARRIER_DOWN_FOR: Duration = Duration::from_secs(300);

/// What routing reads for one send.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub table: Arc<RoutingTable>,
    pub deliverability: Deliverability,
    /// Carriers marked down, until when.
    pub down_until: HashMap<String, Instant>,
}

impl Snapshot {
    pub fn marked_down(&self, carrier: &str, now: Instant) -> bool {
        self.down_until.get(carrier).is_some_and(|until| now < *until)
    }
}

/// The outcome of a message `carrier` accepted for `country`: a receipt, or silence until the
/// fallback moved on.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Outcome {
    pub carrier: String,
    pub country: String,
    pub delivered: bool,
}

/// The carrier's platform refused it for the carrier's own fault: mark it down and alert.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CarrierRefused {
    pub carrier: String,
    pub reason: &'static str,
}

/// Publishes and saves now what was learned; resolves once it is durable (shutdown, tests).
#[derive(Message)]
#[rtype(result = "Result<(), StoreError>")]
pub struct Flush;

pub struct RoutingActor {
    table: Arc<RoutingTable>,
    deliverability: Deliverability,
    down_until: HashMap<String, Instant>,
    published: Arc<ArcSwap<Snapshot>>,
    store: Arc<dyn Store>,
    /// Learned since the last publish / the last save.
    unpublished: bool,
    unsaved: bool,
    saving: bool,
}

impl RoutingActor {
    /// The actor and the snapshot it publishes to, starting from what the store kept.
    pub async fn load(
        table: RoutingTable,
        store: Arc<dyn Store>,
    ) -> Result<(Self, Arc<ArcSwap<Snapshot>>), StoreError> {
        let kept = store.get_setting(DELIVERABILITY_SETTING).await?;
        let deliverability = match kept.as_deref().map(Deliverability::from_json) {
            Some(Ok(learned)) => learned,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "stored deliverability is unreadable; starting afresh");
                Deliverability::default()
            }
            None => Deliverability::default(),
        };
        let table = Arc::new(table);
        let published = Arc::new(ArcSwap::from_pointee(Snapshot {
            table: table.clone(),
            deliverability: deliverability.clone(),
            down_until: HashMap::new(),
        }));
        let actor = RoutingActor {
            table,
            deliverability,
            down_until: HashMap::new(),
            published: published.clone(),
            store,
            unpublished: false,
            unsaved: false,
            saving: false,
        };
        Ok((actor, published))
    }

    fn publish(&mut self) {
        let now = Instant::now();
        self.down_until.retain(|_, until| *until > now);
        self.published.store(Arc::new(Snapshot {
            table: self.table.clone(),
            deliverability: self.deliverability.clone(),
            down_until: self.down_until.clone(),
        }));
        self.unpublished = false;
    }

    /// Starts saving what was learned, unless a save is under way.
    fn save(&mut self, ctx: &mut Context<Self>) {
        if self.saving || !self.unsaved {
            return;
        }
        self.saving = true;
        self.unsaved = false;
        let json = self.deliverability.to_json();
        let store = self.store.clone();
        ctx.spawn(
            async move { store.put_setting(DELIVERABILITY_SETTING, &json).await }
                .into_actor(self)
                .map(|saved, act, _| {
                    act.saving = false;
                    if let Err(e) = saved {
                        act.unsaved = true;
                        tracing::error!(error = %e, "could not save learned deliverability; will retry");
                    }
                }),
        );
    }
}

impl Actor for RoutingActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(PUBLISH_EVERY, |act, _| {
            if act.unpublished {
                act.publish();
            }
        });
        ctx.run_interval(SAVE_EVERY, |act, ctx| act.save(ctx));
    }
}

impl Handler<Outcome> for RoutingActor {
    type Result = ();

    fn handle(&mut self, outcome: Outcome, _: &mut Context<Self>) {
        self.deliverability
            .record(&outcome.carrier, &outcome.country, outcome.delivered);
        self.unpublished = true;
        self.unsaved = true;
    }
}

impl Handler<CarrierRefused> for RoutingActor {
    type Result = ();

    fn handle(&mut self, refused: CarrierRefused, _: &mut Context<Self>) {
        // An alert: the carrier's account needs a person (credentials, balance, suspension).
        tracing::error!(
            carrier = %refused.carrier,
            reason = refused.reason,
            down_for_seconds = CARRIER_DOWN_FOR.as_secs(),
            "the carrier's platform refused our account; marked down"
        );
        metrics::gauge!(m::CARRIER_UP, "carrier" => refused.carrier.clone()).set(0.0);
        self.down_until
            .insert(refused.carrier, Instant::now() + CARRIER_DOWN_FOR);
        // At once: the next send must already skip it.
        self.publish();
    }
}

impl Handler<Flush> for RoutingActor {
    type Result = ResponseFuture<Result<(), StoreError>>;

    fn handle(&mut self, _: Flush, _: &mut Context<Self>) -> Self::Result {
        self.publish();
        self.unsaved = false;
        let json = self.deliverability.to_json();
        let store = self.store.clone();
        Box::pin(async move { store.put_setting(DELIVERABILITY_SETTING, &json).await })
    }
}
