//! The engine's shared parts, wired once at start-up and handed to the API and the actors.
/// Where they are defined (the actors answer with them); kept reachable under `engine`.
pub use crate::actors::{now_ms, EngineError};
use crate::actors::{ActorParts, Registry};
use crate::applications::Applications;
use crate::blocklist::Blocklist;
use crate::code::CodeSecret;
use crate::config::VerificationPolicy;
use crate::intel::Intel;
use crate::lookup::Lookup;
use crate::risk::Risk;
use crate::routing::Router;
use crate::store::Store;
use crate::webhooks::Webhooks;
use otpgate_gateway::sandbox::Inbox;
use std::sync::Arc;

pub struct Engine {
    pub policy: VerificationPolicy,
    pub store: Arc<dyn Store>,
    /// Per-application blocked numbers and prefixes, mirrored from the store.
    pub blocklist: Blocklist,
    /// Rate limits, high-risk prefixes and pumping protection.
    pub risk: Risk,
    /// Carrier names and disposable numbers, reloadable.
    pub intel: Intel,
    /// The configured number-lookup provider, if any.
    pub lookup: Option<Lookup>,
    pub secret: CodeSecret,
    /// Routing: the carriers, the routing actor's published snapshot, and where outcomes go.
    pub router: Router,
    pub registry: Registry,
    /// What number actors use of the above, shared by all of them.
    pub actor_parts: Arc<ActorParts>,
    pub applications: Applications,
    /// Present when the sandbox channel is enabled.
    pub inbox: Option<Inbox>,
    /// Callback handlers of carriers whose platforms call back (WhatsApp, Telegram, Viber, RCS).
    pub webhooks: Webhooks,
}

impl Engine {
    // The engine's parts, each wired once; a builder would only restate them.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        policy: VerificationPolicy,
        risk: Risk,
        intel: Intel,
        lookup: Option<Lookup>,
        store: Arc<dyn Store>,
        secret: CodeSecret,
        router: Router,
        applications: Applications,
        inbox: Option<Inbox>,
        webhooks: Webhooks,
    ) -> Arc<Self> {
        router.refresh_metrics();
        let registry = Registry::default();
        let actor_parts = Arc::new(ActorParts {
            policy,
            store: store.clone(),
            secret: secret.clone(),
            router: router.clone(),
            registry: registry.clone(),
        });
        Arc::new(Self {
            policy,
            store,
            blocklist: Blocklist::default(),
            lookup,
            risk,
            intel,
            secret,
            router,
            registry,
            actor_parts,
            applications,
            inbox,
            webhooks,
        })
    }
}
