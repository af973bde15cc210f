//! One transceiver bind: an actix actor under a `Supervisor`, so a lost connection is a restart.
//!
//! Life of a bind: connect (TCP_NODELAY, optional TLS) → bind_transceiver → bound: write
//! submit_sm as they come, match answers by sequence number ([`Window`]), answer the SMSC's
//! enquire_link, deliver_sm and data_sm, send our own enquire_link every `enquire_link_seconds`. Any
//! connection failure, an unanswered enquire_link, or a run of unanswered submits stops the
//! actor; `restarting` fails whatever was in flight (the gateway retries it) and `started`
//! reconnects after an exponential, jittered back-off.
use crate::codec::{Frame, FrameCodec};
use crate::connect::{self, BoxedIo, ConnectError};
use crate::pdu::{self, Event, Response};
use crate::status;
use crate::tracker::Tracked;
use crate::window::Window;
use crate::{Shared, SmppConfig};
use actix::io::{FramedWrite, WriteHandler};
use actix::prelude::*;
use metrics::Histogram;
use otpgate_gateway::GatewayError;
use rand::Rng;
use rusmpp::pdus::SubmitSm;
use rusmpp::tokio_codec::EncodeError;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::WriteHalf;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use tokio_util::codec::FramedRead;

/// Unanswered submits in a row (no answer to anything in between) after which the peer is
/// considered dead even though the TCP connection stands.
const DEAD_AFTER_TIMEOUTS: u32 = 3;
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// After the SMSC refused our credentials, retry no faster than this: a config fix or an
/// operator on the other side is needed, not a rebind storm.
const BACKOFF_AFTER_REFUSAL: Duration = Duration::from_secs(60);

/// What the gateway shares with one bind: whether it is bound, and its window of slots.
pub struct BindState {
    pub up: AtomicBool,
    pub window: Arc<Semaphore>,
}

/// A window slot: held from the moment a submit is handed to a bind until its answer (or
/// timeout, or the connection's loss). `otpgate_smpp_window_in_use` is read off the semaphores
/// when metrics are scraped, not counted per message.
pub type Slot = OwnedSemaphorePermit;

/// Who waits for a submit_sm's answer.
pub struct Waiter {
    pub reply: oneshot::Sender<Result<String, GatewayError>>,
    pub tracked: Arc<Tracked>,
    /// Held only to be dropped with the waiter: that frees the window slot.
    pub _slot: Slot,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Submit {
    pub sm: SubmitSm,
    pub waiter: Waiter,
}

/// Unbind cleanly and stay disconnected; answered once the SMSC acknowledged (or didn't in time).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unbind(pub oneshot::Sender<()>);

type Writer = FramedWrite<Command, WriteHalf<BoxedIo>, FrameCodec>;

pub struct Bind {
    index: usize,
    config: Arc<SmppConfig>,
    shared: Arc<Shared>,
    state: Arc<BindState>,
    writer: Option<Writer>,
    window: Window<Waiter>,
    /// Consecutive failed connection attempts; drives the back-off.
    failures: u32,
    refused: bool,
    timeouts_in_a_row: u32,
    enquire_pending: Option<(u32, Instant)>,
    unbinding: Option<(u32, Instant, oneshot::Sender<()>)>,
    stopping: bool,
    round_trip: Histogram,
}

impl Bind {
    pub fn new(index: usize, config: Arc<SmppConfig>, shared: Arc<Shared>, state: Arc<BindState>) -> Self {
        let round_trip = metrics::histogram!(crate::SUBMIT_DURATION, "carrier" => config.name.clone());
        Self {
            index,
            window: Window::new(config.response_timeout),
            config,
            shared,
            state,
            writer: None,
            failures: 0,
            refused: false,
            timeouts_in_a_row: 0,
            enquire_pending: None,
            unbinding: None,
            stopping: false,
            round_trip,
        }
    }

    fn backoff(&self) -> Duration {
        if self.failures == 0 {
            return Duration::ZERO;
        }
        let exp = BACKOFF_FIRST
            .saturating_mul(1 << (self.failures - 1).min(16))
            .min(BACKOFF_MAX);
        let base = if self.refused {
            exp.max(BACKOFF_AFTER_REFUSAL)
        } else {
            exp
        };
        // ±25 % jitter, so binds of one carrier (and several engines) do not reconnect in step.
        base.mul_f64(rand::rng().random_range(0.75..1.25))
    }

    fn set_up(&mut self, up: bool) {
        if self.state.up.swap(up, Ordering::AcqRel) != up {
            self.shared.bind_changed(up);
        }
    }

    /// Tears the connection down: everything in flight is answered with a transient error
    /// (the gateway retries it on a live bind), so nothing waits forever and nothing is lost.
    fn disconnect(&mut self, reason: &'static str) {
        self.set_up(false);
        self.writer = None;
        self.enquire_pending = None;
        self.timeouts_in_a_row = 0;
        for waiter in self.window.drain() {
            let _ = waiter.reply.send(Err(GatewayError::transient(
                reason,
                "the SMPP connection closed before the answer",
            )));
        }
    }

    fn write(&mut self, command: Command) {
        if let Some(writer) = self.writer.as_mut() {
            writer.write(command);
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        for (seq, waiter) in self.window.expired(now) {
            tracing::warn!(carrier = %self.config.name, bind = self.index, seq, "submit_sm unanswered: slot released");
            let _ = waiter.reply.send(Err(GatewayError::transient(
                "timeout",
                format!("no submit_sm_resp within {:?}", self.config.response_timeout),
            )));
            self.timeouts_in_a_row += 1;
        }
        let enquire_overdue = self
            .enquire_pending
            .is_some_and(|(_, at)| now.duration_since(at) >= self.config.response_timeout);
        if self.timeouts_in_a_row >= DEAD_AFTER_TIMEOUTS || enquire_overdue {
            tracing::warn!(carrier = %self.config.name, bind = self.index, "SMSC stopped answering: reconnecting");
            self.failures = self.failures.max(1);
            ctx.stop();
        }
        if let Some((_, at, _)) = &self.unbinding {
            if now.duration_since(*at) >= self.config.response_timeout {
                self.finish_unbind();
            }
        }
    }

    fn enquire(&mut self, _ctx: &mut Context<Self>) {
        if self.writer.is_none() || self.enquire_pending.is_some() || self.unbinding.is_some() {
            return;
        }
        let seq = self.window.next_sequence();
        self.enquire_pending = Some((seq, Instant::now()));
        self.write(pdu::enquire_link(seq));
    }

    fn finish_unbind(&mut self) {
        if let Some((_, _, done)) = self.unbinding.take() {
            self.disconnect("shutting_down");
            let _ = done.send(());
        }
    }

    fn on_frame(&mut self, frame: Frame, ctx: &mut Context<Self>) {
        let inbound = pdu::read(frame);
        if let Some(reply) = inbound.reply {
            self.write(reply);
        }
        match inbound.event {
            Event::Response(response) => self.on_response(response),
            Event::Receipt { receipt, source_addr } => {
                self.shared.tracker.on_receipt(receipt, Some(&source_addr));
            }
            Event::NotAReceipt => {
                tracing::debug!(carrier = %self.config.name, "message that is not a receipt ignored")
            }
            Event::EnquireLink => {}
            Event::Unbind => {
                tracing::info!(carrier = %self.config.name, bind = self.index, "SMSC unbound us");
                self.set_up(false);
                ctx.stop();
            }
            Event::Unsupported { command_id } => {
                tracing::debug!(carrier = %self.config.name, command_id = format!("{command_id:#010x}"), "unsupported PDU");
            }
        }
    }

    /// Matches a response to what waits for it by sequence_number, whatever its kind and
    /// whether or not it has a body: a refusal is classified from its command_status at once.
    fn on_response(&mut self, response: Response) {
        let seq = response.sequence_number;
        let status = response.command_status;
        self.timeouts_in_a_row = 0;
        if self.enquire_pending.is_some_and(|(s, _)| s == seq) {
            self.enquire_pending = None;
            return;
        }
        if self.unbinding.as_ref().is_some_and(|(s, _, _)| *s == seq) {
            self.finish_unbind();
            return;
        }
        let Some((waiter, took)) = self.window.complete(seq, Instant::now()) else {
            tracing::debug!(carrier = %self.config.name, seq, command = ?response.command_id, "late or unknown response");
            return;
        };
        self.round_trip.record(took.as_secs_f64());
        let result = match (status, response.command_id, response.message_id) {
            (0, CommandId::SubmitSmResp, Some(id)) => {
                // Registered before the next PDU is read: a receipt right behind the answer on
                // this bind finds its message.
                self.shared.tracker.track(&id, waiter.tracked.clone());
                Ok(id)
            }
            (0, command_id, _) => Err(GatewayError::permanent(
                "protocol_error",
                format!("SMSC answered submit_sm with {command_id:?} and no error"),
            )),
            (status, _, _) => Err(status::classify(status)),
        };
        let _ = waiter.reply.send(result);
    }

    fn connected(&mut self, io: BoxedIo, leftover: bytes::BytesMut, ctx: &mut Context<Self>) {
        let (read, write) = tokio::io::split(io);
        let mut reader = FramedRead::new(read, FrameCodec::default());
        reader.read_buffer_mut().extend_from_slice(&leftover);
        ctx.add_stream(reader);
        let mut writer = FramedWrite::new(write, FrameCodec::default(), ctx);
        // Large enough to hold a full window of PDUs between flushes.
        writer.set_buffer_capacity(64 * 1024, 1024 * 1024);
        self.writer = Some(writer);
        self.failures = 0;
        self.refused = false;
        self.set_up(true);
        tracing::info!(carrier = %self.config.name, bind = self.index, "bound");
    }
}

impl Actor for Bind {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        let tick = (self.config.response_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
        ctx.run_interval(tick, Self::tick);
        ctx.run_interval(self.config.enquire_link, Self::enquire);
        ctx.run_interval(Duration::from_secs(60), |act, _| {
            act.shared.tracker.sweep(crate::RECEIPT_WAIT)
        });

        let delay = self.backoff();
        if self.failures > 0 {
            self.shared.reconnects.increment(1);
        }
        let config = self.config.clone();
        ctx.wait(
            async move {
                tokio::time::sleep(delay).await;
                connect::open_and_bind(&config).await
            }
            .into_actor(self)
            .map(|result, act, ctx| match result {
                Ok((io, leftover)) => act.connected(io, leftover, ctx),
                Err(e) => {
                    act.failures += 1;
                    act.refused = matches!(e, ConnectError::Refused { permanent: true, .. });
                    tracing::warn!(carrier = %act.config.name, bind = act.index, error = %e, retry_in = ?act.backoff(), "bind failed");
                    ctx.stop();
                }
            }),
        );
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        tracing::debug!(carrier = %self.config.name, bind = self.index, "bind actor stopped");
        self.disconnect("connection_lost");
    }
}

impl Supervised for Bind {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.disconnect("connection_lost");
    }
}

impl Handler<Submit> for Bind {
    type Result = ();

    fn handle(&mut self, msg: Submit, _ctx: &mut Context<Self>) {
        if self.writer.is_none() || self.unbinding.is_some() {
            let _ = msg
                .waiter
                .reply
                .send(Err(GatewayError::transient("not_bound", "this bind is not connected")));
            return;
        }
        let seq = self.window.next_sequence();
        self.write(Command::new(CommandStatus::EsmeRok, seq, Pdu::SubmitSm(msg.sm)));
        self.window.insert(seq, msg.waiter, Instant::now());
    }
}

impl Handler<Unbind> for Bind {
    type Result = ();

    fn handle(&mut self, msg: Unbind, _ctx: &mut Context<Self>) {
        tracing::debug!(carrier = %self.config.name, bind = self.index, bound = self.writer.is_some(), "unbinding");
        self.stopping = true;
        if self.writer.is_none() {
            let _ = msg.0.send(());
            return;
        }
        // No new submits from here on; the gateway stops routing here first.
        self.set_up(false);
        let seq = self.window.next_sequence();
        self.write(pdu::unbind(seq));
        self.unbinding = Some((seq, Instant::now(), msg.0));
    }
}

impl StreamHandler<Result<Frame, std::io::Error>> for Bind {
    fn handle(&mut self, item: Result<Frame, std::io::Error>, ctx: &mut Context<Self>) {
        match item {
            Ok(frame) => self.on_frame(frame, ctx),
            Err(e) => {
                // A PDU we cannot frame leaves the stream unsynchronised: start over.
                tracing::warn!(carrier = %self.config.name, bind = self.index, error = %e, "undecodable PDU: reconnecting");
                self.failures = self.failures.max(1);
                ctx.stop();
            }
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        if self.unbinding.is_some() {
            self.finish_unbind();
            return;
        }
        if !self.stopping {
            tracing::warn!(carrier = %self.config.name, bind = self.index, "SMSC closed the connection: reconnecting");
            self.failures = self.failures.max(1);
            ctx.stop();
        }
    }
}

impl WriteHandler<EncodeError> for Bind {
    fn error(&mut self, err: EncodeError, _ctx: &mut Context<Self>) -> Running {
        tracing::warn!(carrier = %self.config.name, bind = self.index, error = %err, "write failed: reconnecting");
        self.failures = self.failures.max(1);
        Running::Stop
    }
}
