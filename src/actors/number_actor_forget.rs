//! Delete on demand (issue 18): the number's actor deletes the number's data and stops, so
//! nothing it holds is written back afterwards.
use super::EngineError;
use super::NumberActor;
use crate::store::Erased;
use actix::prelude::*;

/// Deletes every stored verification of the actor's number (with messages and fallback plans)
/// and stops the actor. Handled atomically: no other message of the number runs until the
/// delete is durable; the next one starts a fresh actor that loads the (now empty) history.
#[derive(Message, Clone)]
#[rtype(result = "Result<Erased, EngineError>")]
pub struct Forget;

impl Handler<Forget> for NumberActor {
    type Result = AtomicResponse<Self, Result<Erased, EngineError>>;

    fn handle(&mut self, _: Forget, _: &mut Context<Self>) -> Self::Result {
        // Dropped now: a fallback step or a receipt handled later has nothing to write.
        self.state = None;
        self.fallback = None;
        let store = self.parts.store.clone();
        let (application, phone) = self.key.clone();
        AtomicResponse::new(Box::pin(
            async move {
                // Saves this actor queued before are applied first (PostgreSQL deletes on a
                // connection of its own, beside the writer).
                store.flush().await?;
                Ok(store.delete_number(&application, &phone).await?)
            }
            .into_actor(self)
            .map(|result, act, ctx| {
                act.parts.registry.remove(&act.key, &ctx.address());
                ctx.stop();
                result
            }),
        ))
    }
}
