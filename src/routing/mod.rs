//! Channel and carrier choice for one verification.
//!
//! The plan is the country's channel order from `[routing]` (or the pinned channel), each
//! channel expanded into the carriers that serve the country, cheapest first; carriers that
//! are down are skipped. The per-number actor walks the plan and falls back step by step.
//! Sandbox numbers only ever go to the sandbox; other numbers use it only when no carrier is
//! configured at all (the embedded defaults).
//!
//! Carriers of one channel with the same fee are ordered by measured deliverability: a decayed
//! delivered / sent ratio per (carrier, country), fed by receipts and by fallbacks for want of
//! one. The router is a shared struct rather than an actor: every send reads it, and a mailbox
//! hop per send would cost more than the few atomic reads it needs.
use crate::config::RoutingTable;
use crate::number::NumberInfo;
use dashmap::DashMap;
use otpgate_gateway::{Channel, Gateway};
use std::sync::Arc;

/// Weight of the newest outcome in the decayed ratio: about the last 20 messages count.
const DECAY: f64 = 0.05;
/// What a (carrier, country) is assumed to deliver before any receipt says otherwise.
const PRIOR: f64 = 0.9;

/// Decayed delivered / sent ratios per (carrier, country).
#[derive(Default)]
pub struct Deliverability {
    ratios: DashMap<(String, String), f64>,
}

impl Deliverability {
    pub fn record(&self, carrier: &str, country: &str, delivered: bool) {
        let outcome = if delivered { 1.0 } else { 0.0 };
        let mut ratio = self
            .ratios
            .entry((carrier.to_owned(), country.to_owned()))
            .or_insert(PRIOR);
        *ratio += DECAY * (outcome - *ratio);
    }

    pub fn ratio(&self, carrier: &str, country: &str) -> f64 {
        self.ratios
            .get(&(carrier.to_owned(), country.to_owned()))
            .map_or(PRIOR, |r| *r)
    }
}

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

pub struct Router {
    table: RoutingTable,
    carriers: Vec<Arc<dyn Gateway>>,
    sandbox: Option<Arc<dyn Gateway>>,
    pub deliverability: Deliverability,
}

impl Router {
    pub fn new(table: RoutingTable, carriers: Vec<Arc<dyn Gateway>>, sandbox: Option<Arc<dyn Gateway>>) -> Self {
        Self {
            table,
            carriers,
            sandbox,
            deliverability: Deliverability::default(),
        }
    }

    pub fn carriers(&self) -> impl Iterator<Item = &Arc<dyn Gateway>> {
        self.carriers.iter().chain(self.sandbox.iter())
    }

    /// `None` without configured carriers (sandbox only); otherwise whether any is up.
    pub fn any_carrier_up(&self) -> Option<bool> {
        (!self.carriers.is_empty()).then(|| self.carriers.iter().any(|c| c.is_up()))
    }

    /// The steps for a send to `number`: only the `pinned` channel when there is one; else the
    /// `preferred` channel first, then the rest of the country's channel order.
    pub fn plan(&self, number: &NumberInfo, pinned: Option<Channel>, preferred: Option<Channel>) -> Plan {
        let country = number.country_code.as_deref().unwrap_or("*");
        let order = self.table.order_for(country);
        let first_channel = pinned
            .or(preferred)
            .unwrap_or_else(|| order.first().copied().unwrap_or(Channel::Sms));
        let sandbox_step = |gateway: &Arc<dyn Gateway>| {
            Plan::Route(vec![Step {
                channel: first_channel,
                gateway: gateway.clone(),
            }])
        };

        if number.sandbox.is_some() {
            return self.sandbox.as_ref().map_or(Plan::NoRoute, sandbox_step);
        }
        if self.carriers.is_empty() {
            return self.sandbox.as_ref().map_or(Plan::NoRoute, sandbox_step);
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
            let mut serving: Vec<_> = self
                .carriers
                .iter()
                .filter(|g| g.channels().contains(&channel) && g.serves_country(country))
                .collect();
            // Cheapest first; among equal fees, the one that has been delivering best.
            let ratio = |g: &Arc<dyn Gateway>| self.deliverability.ratio(g.name(), country);
            serving.sort_by(|a, b| {
                a.fee_micros(country)
                    .cmp(&b.fee_micros(country))
                    .then(ratio(b).total_cmp(&ratio(a)))
            });
            for gateway in serving {
                if gateway.is_up() {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::number;
    use async_trait::async_trait;
    use otpgate_gateway::sandbox::{Inbox, SandboxGateway};
    use otpgate_gateway::{Accepted, GatewayError, OutboundMessage};

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
        let router = Router::new(
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
        let router = Router::new(
            RoutingTable::default(),
            vec![
                fake("sms-a", Channel::Sms, 10, true),
                fake("sms-b", Channel::Sms, 10, true),
            ],
            None,
        );
        let es = number::parse("+34612345678").unwrap();
        let first = |r: &Router, n| names(r.plan(n, None, None))[0].1.clone();
        let before = first(&router, &es);
        for _ in 0..5 {
            router.deliverability.record(&before, "ES", false);
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
        let cheap = Router::new(
            RoutingTable::default(),
            vec![
                fake("sms-a", Channel::Sms, 5, true),
                fake("sms-b", Channel::Sms, 10, true),
            ],
            None,
        );
        for _ in 0..20 {
            cheap.deliverability.record("sms-a", "ES", false);
        }
        assert_eq!(first(&cheap, &es), "sms-a");
    }

    #[test]
    fn all_down_is_told_apart_from_no_route() {
        let router = Router::new(
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
        let router = Router::new(
            RoutingTable::default(),
            vec![fake("sms", Channel::Sms, 1, true)],
            Some(sandbox),
        );
        let plan = names(router.plan(&number::parse("+12025550123").unwrap(), Some(Channel::Call), None));
        assert_eq!(plan, [(Channel::Call, "sandbox".into())]);
        let without = Router::new(RoutingTable::default(), vec![fake("sms", Channel::Sms, 1, true)], None);
        assert!(names(without.plan(&number::parse("+12025550123").unwrap(), None, None)).is_empty());
    }
}
