//! Channel and carrier choice for one verification, and what a refusal leads to.
//!
//! The plan is the country's channel order from `[routing]` (or the pinned channel), each
//! channel expanded into the carriers that serve the country, cheapest first; carriers that
//! are down are skipped. The per-number actor walks the plan ([`deliver()`]) and falls back step
//! by step, as [`next_step`] says for each refusal. Sandbox numbers only ever go to the
//! sandbox; other numbers use it only when no carrier is configured at all (the embedded
//! defaults).
//!
//! Carriers of one channel with the same fee are ordered by measured deliverability: a decayed
//! delivered / sent ratio per (carrier, country), fed by receipts and by fallbacks for want of
//! one. The [`actor`] owns it, with the routing table and the carriers marked down; sends read
//! the [`Snapshot`] it publishes, without a lock or a mailbox hop.
//!
//! # Layout
//! - [`actor`]: the routing actor and the snapshot it publishes; what it learns is kept in the
//!   store.
//! - [`deliverability`]: the decayed ratios, pure data.
//! - [`mod@deliver`]: walking a plan, and the one table from a refusal to the next step.
//! - This file: [`Router`], the handle sends use, and [`Router::plan`].
pub mod actor;
pub mod deliver;
pub mod deliverability;

pub use actor::Snapshot;
pub use deliver::{deliver, next_step, Delivered, NextStep};

use crate::config::RoutingTable;
use crate::metrics as m;
use crate::number::NumberInfo;
use crate::store::{Store, StoreError};
use actix::{Actor, Addr};
use actor::{CarrierRefused, Flush, Outcome, RoutingActor};
use arc_swap::ArcSwap;
use otpgate_gateway::{Channel, Gateway};
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone)]
pub struct Step {
    pub channel: Channel,
    pub gateway: Arc<dyn Gateway>,
}

pub enum Plan {
    Route(Vec<Step>),
    /// Carriers exist for this number but every one of them is down.
    AllDown,
    /// No carrier serves this number on any allowed channel.
    NoRoute,
}

/// What sends use of routing: the carriers, the published [`Snapshot`], and the routing actor
/// to tell outcomes to. Cloning shares it.
#[derive(Clone)]
pub struct Router {
    carriers: Arc<[Arc<dyn Gateway>]>,
    sandbox: Option<Arc<dyn Gateway>>,
    snapshot: Arc<ArcSwap<Snapshot>>,
    actor: Addr<RoutingActor>,
}

impl Router {
    /// Starts the routing actor with what `store` kept of earlier runs. Needs a running actix
    /// system.
    pub async fn start(
        table: RoutingTable,
        carriers: Vec<Arc<dyn Gateway>>,
        sandbox: Option<Arc<dyn Gateway>>,
        store: Arc<dyn Store>,
    ) -> Result<Router, StoreError> {
        let (actor, snapshot) = RoutingActor::load(table, store).await?;
        Ok(Router {
            carriers: carriers.into(),
            sandbox,
            snapshot,
            actor: actor.start(),
        })
    }

    pub fn carriers(&self) -> impl Iterator<Item = &Arc<dyn Gateway>> {
        self.carriers.iter().chain(self.sandbox.iter())
    }

    /// Whether `carrier` can take messages: its own word, unless routing marked it down.
    pub fn is_up(&self, carrier: &dyn Gateway) -> bool {
        carrier.is_up() && !self.snapshot.load().marked_down(carrier.name(), Instant::now())
    }

    /// `None` without configured carriers (sandbox only); otherwise whether any is up.
    pub fn any_carrier_up(&self) -> Option<bool> {
        (!self.carriers.is_empty()).then(|| self.carriers.iter().any(|c| self.is_up(c.as_ref())))
    }

    /// Counts one outcome of a message `carrier` accepted for `country`.
    pub fn record(&self, carrier: &str, country: &str, delivered: bool) {
        self.actor.do_send(Outcome {
            carrier: carrier.to_owned(),
            country: country.to_owned(),
            delivered,
        });
    }

    /// The carrier's platform refused it for the carrier's own fault.
    pub fn carrier_refused(&self, carrier: &str, reason: &'static str) {
        self.actor.do_send(CarrierRefused {
            carrier: carrier.to_owned(),
            reason,
        });
    }

    /// Saves what was learned now; resolves once it is durable.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.actor
            .send(Flush)
            .await
            .map_err(|e| StoreError::Unavailable(format!("routing actor: {e}")))?
    }

    /// The snapshot sends read now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Sets the gauges read at scrape time: `otpgate_carrier_up` per carrier and
    /// `otpgate_carrier_deliverability` per learned (carrier, country).
    pub fn refresh_metrics(&self) {
        for carrier in self.carriers() {
            let up = if self.is_up(carrier.as_ref()) { 1.0 } else { 0.0 };
            metrics::gauge!(m::CARRIER_UP, "carrier" => carrier.name().to_owned()).set(up);
            carrier.refresh_metrics();
        }
        let snapshot = self.snapshot.load();
        for (carrier, country, ratio) in snapshot.deliverability.learned() {
            let labels = [("carrier", carrier.to_owned()), ("country", country.to_owned())];
            // Four decimals: a gauge for people and alerts, not a record of the float.
            metrics::gauge!(m::CARRIER_DELIVERABILITY, &labels).set((ratio * 10_000.0).round() / 10_000.0);
        }
    }

    /// The steps for a send to `number`: only the `pinned` channel when there is one; else the
    /// `preferred` channel first, then the rest of the country's channel order.
    pub fn plan(&self, number: &NumberInfo, pinned: Option<Channel>, preferred: Option<Channel>) -> Plan {
        let snapshot = self.snapshot.load();
        let now = Instant::now();
        let up = |g: &Arc<dyn Gateway>| g.is_up() && !snapshot.marked_down(g.name(), now);
        plan(
            &snapshot,
            &self.carriers,
            self.sandbox.as_ref(),
            &up,
            (number, pinned, preferred),
        )
    }
}

/// [`Router::plan`] over `snapshot`, with `up` telling which carriers can take messages.
fn plan(
    snapshot: &Snapshot,
    carriers: &[Arc<dyn Gateway>],
    sandbox: Option<&Arc<dyn Gateway>>,
    up: &dyn Fn(&Arc<dyn Gateway>) -> bool,
    (number, pinned, preferred): (&NumberInfo, Option<Channel>, Option<Channel>),
) -> Plan {
    let country = number.country_code.as_deref().unwrap_or("*");
    let order = snapshot.table.order_for(country);
    let first_channel = pinned
        .or(preferred)
        .unwrap_or_else(|| order.first().copied().unwrap_or(Channel::Sms));
    let sandbox_step = |gateway: &Arc<dyn Gateway>| {
        Plan::Route(vec![Step {
            channel: first_channel,
            gateway: gateway.clone(),
        }])
    };

    if number.sandbox.is_some() || carriers.is_empty() {
        return sandbox.map_or(Plan::NoRoute, sandbox_step);
    }

    let channels: Vec<Channel> = match (pinned, preferred) {
        (Some(channel), _) => vec![channel],
        (None, Some(first)) => std::iter::once(first)
            .chain(order.iter().copied().filter(|&c| c != first))
            .collect(),
        (None, None) => order.to_vec(),
    };
    let mut steps = Vec::new();
    let mut some_down = false;
    for channel in channels {
        let mut serving: Vec<_> = carriers
            .iter()
            .filter(|g| g.channels().contains(&channel) && g.serves_country(country))
            .collect();
        // Cheapest first; among equal fees, the one that has been delivering best.
        let ratio = |g: &Arc<dyn Gateway>| snapshot.deliverability.ratio(g.name(), country);
        serving.sort_by(|a, b| {
            a.fee_micros(country)
                .cmp(&b.fee_micros(country))
                .then(ratio(b).total_cmp(&ratio(a)))
        });
        for gateway in serving {
            if up(gateway) {
                steps.push(Step {
                    channel,
                    gateway: gateway.clone(),
                });
            } else {
                some_down = true;
            }
        }
    }
    match (steps.is_empty(), some_down) {
        (false, _) => Plan::Route(steps),
        (true, true) => Plan::AllDown,
        (true, false) => Plan::NoRoute,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::number;
    use async_trait::async_trait;
    use otpgate_gateway::sandbox::{Inbox, SandboxGateway};
    use otpgate_gateway::{Accepted, GatewayError, OutboundMessage};
    use std::collections::HashMap;

    /// [`plan`] over a snapshot of its own.
    struct Planner {
        snapshot: Snapshot,
        carriers: Vec<Arc<dyn Gateway>>,
        sandbox: Option<Arc<dyn Gateway>>,
    }

    impl Planner {
        fn new(table: RoutingTable, carriers: Vec<Arc<dyn Gateway>>, sandbox: Option<Arc<dyn Gateway>>) -> Self {
            let snapshot = Snapshot {
                table: Arc::new(table),
                deliverability: Default::default(),
                down_until: HashMap::new(),
            };
            Planner {
                snapshot,
                carriers,
                sandbox,
            }
        }

        fn plan(&self, number: &NumberInfo, pinned: Option<Channel>, preferred: Option<Channel>) -> Plan {
            let now = Instant::now();
            let up = |g: &Arc<dyn Gateway>| g.is_up() && !self.snapshot.marked_down(g.name(), now);
            plan(
                &self.snapshot,
                &self.carriers,
                self.sandbox.as_ref(),
                &up,
                (number, pinned, preferred),
            )
        }
    }

    struct Fake {
        name: &'static str,
        channels: Vec<Channel>,
        countries: Vec<&'static str>,
        fee: u64,
        up: bool,
    }

    #[async_trait]
    impl Gateway for Fake {
        fn name(&self) -> &str {
            self.name
        }
        fn channels(&self) -> &[Channel] {
            &self.channels
        }
        fn serves_country(&self, country: &str) -> bool {
            self.countries.contains(&country)
        }
        fn fee_micros(&self, _: &str) -> u64 {
            self.fee
        }
        fn is_up(&self) -> bool {
            self.up
        }
        async fn send(&self, _: &OutboundMessage) -> Result<Accepted, GatewayError> {
            unreachable!("routing never sends")
        }
    }

    fn fake(name: &'static str, channel: Channel, fee: u64, up: bool) -> Arc<dyn Gateway> {
        Arc::new(Fake {
            name,
            channels: vec![channel],
            countries: vec!["ES", "BR"],
            fee,
            up,
        })
    }

    /// Two SMS carriers serving ES and BR, with fees `a` and `b`.
    fn two_sms(a: u64, b: u64) -> Planner {
        let carriers = vec![
            fake("sms-a", Channel::Sms, a, true),
            fake("sms-b", Channel::Sms, b, true),
        ];
        Planner::new(RoutingTable::default(), carriers, None)
    }

    fn names(plan: Plan) -> Vec<(Channel, String)> {
        match plan {
            Plan::Route(steps) => steps
                .into_iter()
                .map(|s| (s.channel, s.gateway.name().to_owned()))
                .collect(),
            Plan::AllDown => vec![(Channel::Sms, "ALL DOWN".into())],
            Plan::NoRoute => vec![],
        }
    }

    #[test]
    fn orders_by_channel_then_fee_and_skips_down_carriers() {
        let router = Planner::new(
            RoutingTable::default(),
            vec![
                fake("sms-dear", Channel::Sms, 50, true),
                fake("sms-cheap", Channel::Sms, 10, true),
                fake("wa", Channel::Whatsapp, 5, true),
                fake("sms-down", Channel::Sms, 1, false),
            ],
            None,
        );
        let es = number::parse("+34612345678").unwrap();
        assert_eq!(
            names(router.plan(&es, None, None)),
            [
                (Channel::Sms, "sms-cheap".into()),
                (Channel::Sms, "sms-dear".into()),
                (Channel::Whatsapp, "wa".into())
            ]
        );
        let br = number::parse("+5511987654321").unwrap();
        assert_eq!(names(router.plan(&br, None, None))[0], (Channel::Whatsapp, "wa".into()));
        assert_eq!(
            names(router.plan(&es, Some(Channel::Whatsapp), None)),
            [(Channel::Whatsapp, "wa".into())]
        );
        // Preferred: first, then the country's order without it; pinned wins over preferred.
        assert_eq!(
            names(router.plan(&es, None, Some(Channel::Whatsapp))),
            [
                (Channel::Whatsapp, "wa".into()),
                (Channel::Sms, "sms-cheap".into()),
                (Channel::Sms, "sms-dear".into())
            ]
        );
        assert_eq!(
            names(router.plan(&es, Some(Channel::Sms), Some(Channel::Whatsapp))).len(),
            2
        );
    }

    #[test]
    fn equal_fees_are_ordered_by_measured_deliverability_per_country() {
        let mut router = two_sms(10, 10);
        let es = number::parse("+34612345678").unwrap();
        let first = |r: &Planner, n| names(r.plan(n, None, None))[0].1.clone();
        let before = first(&router, &es);
        for _ in 0..5 {
            router.snapshot.deliverability.record(&before, "ES", false);
        }
        let after = first(&router, &es);
        assert_ne!(
            before, after,
            "a carrier that stopped delivering in ES should drop behind"
        );
        // Only in that country.
        let br = number::parse("+5511987654321").unwrap();
        assert_eq!(first(&router, &br), before);
        // A cheaper carrier still wins whatever its record: fee first.
        let mut cheap = two_sms(5, 10);
        for _ in 0..20 {
            cheap.snapshot.deliverability.record("sms-a", "ES", false);
        }
        assert_eq!(first(&cheap, &es), "sms-a");
    }

    #[test]
    fn a_carrier_marked_down_is_skipped_until_its_time_is_up() {
        let mut router = two_sms(1, 2);
        let es = number::parse("+34612345678").unwrap();
        let down = Instant::now() + std::time::Duration::from_secs(60);
        router.snapshot.down_until.insert("sms-a".into(), down);
        assert_eq!(names(router.plan(&es, None, None)), [(Channel::Sms, "sms-b".into())]);
        router.snapshot.down_until.insert("sms-b".into(), down);
        assert!(matches!(router.plan(&es, None, None), Plan::AllDown));
        router.snapshot.down_until.insert("sms-a".into(), Instant::now());
        assert_eq!(names(router.plan(&es, None, None))[0].1, "sms-a");
    }

    #[test]
    fn all_down_is_told_apart_from_no_route() {
        let router = Planner::new(
            RoutingTable::default(),
            vec![fake("sms-down", Channel::Sms, 1, false)],
            None,
        );
        assert!(matches!(
            router.plan(&number::parse("+34612345678").unwrap(), None, None),
            Plan::AllDown
        ));
        assert!(matches!(
            router.plan(&number::parse("+4915123456789").unwrap(), None, None),
            Plan::NoRoute
        ));
    }

    #[test]
    fn sandbox_numbers_never_reach_a_carrier() {
        let sandbox: Arc<dyn Gateway> = Arc::new(SandboxGateway::new(Inbox::new()));
        let router = Planner::new(
            RoutingTable::default(),
            vec![fake("sms", Channel::Sms, 1, true)],
            Some(sandbox),
        );
        let plan = names(router.plan(&number::parse("+12025550123").unwrap(), Some(Channel::Call), None));
        assert_eq!(plan, [(Channel::Call, "sandbox".into())]);
        let without = Planner::new(RoutingTable::default(), vec![fake("sms", Channel::Sms, 1, true)], None);
        assert!(names(without.plan(&number::parse("+12025550123").unwrap(), None, None)).is_empty());
    }
}
