//! Contested writes (issue 14): several nodes on one store may each hold an actor for the same
//! number, so every decision that changes a verification (a send, a check, a receipt) is written
//! only over the versions it was made from ([`crate::store::Store::save_if_versions`]), and a
//! decision that starts a verification only while no other node started one meanwhile.
//!
//! The actor holds its mailbox while it decides and writes (`ctx.wait`): the next message then
//! decides from what is stored, so this actor's own writes never race each other. When another
//! node's write came first, the actor reloads the number from the store and decides again, up to
//! [`TRIES`] times; the client sees the decision made on fresh data, and a 503 (retry) only when
//! the number keeps changing under it.
use super::NumberActor;
use super::{now_ms, EngineError};
use crate::number_state::NumberState;
use crate::store::{DeliveryChange, Head, SavedWithSession, SessionSaved, SessionUpdate, StoreError};
use crate::verification::Verification;
use actix::prelude::*;
use tokio::sync::oneshot;

/// Decisions made (and written) per request before it is answered 503. A lost write means
/// another node's write went through, so all of them together always progress; a burst on one
/// number (8 sends split over two nodes) can make one request lose 3 times in a row, not 5.
pub(super) const TRIES: u32 = 5;

/// What one decision changed, to be written only over the versions it was made from.
pub(super) struct Decision<T> {
    /// What the request is answered with, if the write applies.
    pub value: T,
    pub records: Vec<Verification>,
    /// Written in the same transaction, only if the records are.
    pub delivery: Vec<DeliveryChange>,
    /// Set when the decision starts a verification.
    pub head: Option<Head>,
    /// The change a hosted session makes when it follows the decision (its
    /// [`super::SessionHook`] on the decided verification): written in the same transaction as
    /// the records, only if they apply, and only over the session's version
    /// ([`crate::store::Store::save_session_if_versions`]), so a crash between two commits
    /// cannot leave the session behind its verification.
    pub session: Option<SessionUpdate>,
}

/// Makes a decision on the state; called again (with the attempt number, 0 first) on the state
/// reloaded from the store when the previous decision's write lost.
pub(super) type Decide<T> = Box<dyn FnMut(&mut NumberState, u32) -> Decision<T>>;

/// The written decision's value, and whether its session change was written.
type Reply<T> = oneshot::Sender<Result<(T, bool), EngineError>>;

impl NumberActor {
    /// Decides and writes the decision conditionally, holding the mailbox until it is written or
    /// given up; the decision is made once every earlier contested write of this actor is done
    /// (not when this is called), so this actor's decisions never race each other. Resolves to
    /// the value of the decision that was written.
    pub(super) fn contested<T: 'static>(
        &mut self,
        ctx: &mut Context<Self>,
        decide: Decide<T>,
    ) -> impl std::future::Future<Output = Result<T, EngineError>> {
        let written = self.contested_with_session(ctx, decide);
        async move { written.await.map(|(value, _)| value) }
    }

    /// Like [`Self::contested`], and resolves also to whether the written decision's session
    /// change ([`Decision::session`]) was written: false when it had none, or when someone else
    /// changed the session first (the records were written all the same).
    pub(super) fn contested_with_session<T: 'static>(
        &mut self,
        ctx: &mut Context<Self>,
        decide: Decide<T>,
    ) -> impl std::future::Future<Output = Result<(T, bool), EngineError>> {
        let (reply, answer) = oneshot::channel();
        // Decided when this wait's turn comes, not now: actix moves a wait queued by a handler
        // into its wait list only after it has polled the actor's other futures once more, so a
        // send's continuation could still run and decide from the state before this write
        // landed, and lose its own write to this one (measured: one reload and 1–5 ms pause per
        // send with a DELIVRD receipt, half the single-node send rate, RESULTS.md issue 14).
        ctx.wait(fut::ready(()).then(move |(), act: &mut Self, _| act.attempt(decide, 0, reply)));
        async move { answer.await.unwrap_or(Err(EngineError::ActorGone)) }
    }

    fn attempt<T: 'static>(&mut self, mut decide: Decide<T>, n: u32, reply: Reply<T>) -> ResponseActFuture<Self, ()> {
        let Some(state) = self.state.as_mut() else {
            let _ = reply.send(Err(EngineError::Store(StoreError::Unavailable(
                "could not load this number's history".into(),
            ))));
            return Box::pin(fut::ready(()));
        };
        let Decision {
            value,
            records,
            delivery,
            head,
            session,
        } = decide(state, n);
        if records.is_empty() && delivery.is_empty() && session.is_none() {
            let _ = reply.send(Ok((value, false)));
            return Box::pin(fut::ready(()));
        }
        // What the state needs once the write applied; the records themselves go to the store.
        let written: Vec<(String, i64)> = records.iter().map(|v| (v.request_id.clone(), v.version)).collect();
        let store = &self.parts.store;
        let applied: SavedWithSession = match session {
            Some(update) => store.save_session_if_versions(SessionUpdate { records, ..update }, head, delivery),
            None => {
                let applied = store.save_if_versions(records, head, delivery);
                Box::pin(async move {
                    applied.await.map(|records| SessionSaved {
                        records,
                        session: false,
                    })
                })
            }
        };
        Box::pin(
            applied
                .into_actor(self)
                .then(move |applied, act, _| -> ResponseActFuture<Self, ()> {
                    match applied {
                        Ok(saved) if saved.records => {
                            if let Some(state) = act.state.as_mut() {
                                state.stored_up(written.iter().map(|(id, version)| (id.as_str(), *version)));
                            }
                            let _ = reply.send(Ok((value, saved.session)));
                        }
                        Ok(_) if n + 1 < TRIES => {
                            metrics::counter!(crate::metrics::STORE_WRITE_CONFLICTS, "outcome" => "retried")
                                .increment(1);
                            tracing::info!(attempt = n + 1, "another node changed this number first; reloading");
                            return Box::pin(act.reload(n).then(move |loaded, act, _| match loaded {
                                Ok(()) => act.attempt(decide, n + 1, reply),
                                Err(e) => {
                                    let _ = reply.send(Err(e));
                                    Box::pin(fut::ready(()))
                                }
                            }));
                        }
                        Ok(_) => {
                            metrics::counter!(crate::metrics::STORE_WRITE_CONFLICTS, "outcome" => "gave_up")
                                .increment(1);
                            tracing::warn!(attempts = TRIES, "this number kept changing on other nodes; giving up");
                            let _ = reply.send(Err(EngineError::ActorGone));
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e.into()));
                        }
                    }
                    Box::pin(fut::ready(()))
                }),
        )
    }

    /// Reads the number's records again and refreshes the state with them, after a short random
    /// pause that grows with `lost` (the writes lost so far), so two nodes' actors for one
    /// number do not keep colliding in step.
    fn reload(&mut self, lost: u32) -> impl ActorFuture<Self, Output = Result<(), EngineError>> {
        let store = self.parts.store.clone();
        let (application, phone) = self.key.clone();
        let since = self.history_since();
        let pause =
            std::time::Duration::from_millis(rand::Rng::random_range(&mut rand::rng(), 1..=5) * (lost as u64 + 1));
        async move {
            tokio::time::sleep(pause).await;
            store.load_for_actor(&application, &phone, since).await
        }
        .into_actor(self)
        .map(|loaded, act, _| {
            let (history, approvals) = loaded?;
            if let Some(state) = act.state.as_mut() {
                state.refresh(history, approvals, &act.parts.secret, now_ms());
            }
            Ok(())
        })
    }
}
