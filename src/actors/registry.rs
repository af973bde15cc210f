use super::{ActorParts, EngineError, NumberActor};
use actix::prelude::*;
use dashmap::DashMap;
use std::sync::Arc;

/// (application, E.164 number).
pub type NumberKey = (String, String);

/// Finds the actor of a number, starting it on first use. Actors remove themselves when idle.
/// Cloning shares it (the engine holds one, each actor's [`super::ActorParts`] a clone).
#[derive(Default, Clone)]
pub struct Registry {
    actors: Arc<DashMap<NumberKey, Addr<NumberActor>>>,
}

impl Registry {
    /// Sends `message` to the number's actor, starting it with `parts` if there is none. If the
    /// actor stopped between lookup and delivery (it went idle), a fresh one is started and the
    /// message sent once more.
    pub async fn ask<M>(&self, parts: &Arc<ActorParts>, key: &NumberKey, message: M) -> Result<M::Result, EngineError>
    where
        M: Message + Send + Clone + 'static,
        M::Result: Send,
        NumberActor: Handler<M>,
    {
        for _ in 0..2 {
            let addr = self
                .actors
                .entry(key.clone())
                .or_insert_with(|| {
                    metrics::gauge!(crate::metrics::NUMBER_ACTORS).increment(1.0);
                    NumberActor::new(key.clone(), parts.clone()).start()
                })
                .clone();
            match addr.send(message.clone()).await {
                Ok(result) => return Ok(result),
                Err(_) => self.remove(key, &addr),
            }
        }
        Err(EngineError::ActorGone)
    }

    /// Forgets `addr` for `key`, unless the key already points at a newer actor.
    pub fn remove(&self, key: &NumberKey, addr: &Addr<NumberActor>) {
        if self.actors.remove_if(key, |_, current| current == addr).is_some() {
            metrics::gauge!(crate::metrics::NUMBER_ACTORS).decrement(1.0);
        }
    }

    pub fn len(&self) -> usize {
        self.actors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.actors.is_empty()
    }
}
