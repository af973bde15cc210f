//! Actors. One [`NumberActor`] per active (application, number) owns that number's state; the
//! [`Registry`] finds or starts it. Carrier connection actors live in their gateway crates.
mod error;
mod number_actor;
mod receipts;
mod registry;

pub use error::{now_ms, EngineError};
pub use number_actor::{
    ActorParts, CheckCode, CheckOutcome, DeliveryReceipt, Forget, HostedSend, NumberActor, ResolveReview, RunFallback,
    SendCode, SendOutcome, SendStatus, SessionHook,
};
pub use registry::{NumberKey, Registry};
