//! Delivery: what carriers, receipts and fallbacks did to a verification (lifecycle, charge,
//! `verification_method`), and what a stored fallback plan needs to run.
use super::*;

/// Charges `v` for the message just logged as sent, unless it was charged before (a resend or
/// a fallback of an already charged verification) or the step is not billed; the lifecycle
/// entry shows the amount.
fn charge_once(v: &mut Verification, channel: Channel, carrier: &str, fee_micros: Option<u64>, now_ms: i64) {
    let Some(carrier_fee_micros) = fee_micros.filter(|_| v.charge.is_none()) else {
        return;
    };
    let charge = Charge {
        at_ms: now_ms,
        channel,
        carrier: carrier.to_owned(),
        country: v.number.country_code.clone().unwrap_or_else(|| "unknown".into()),
        carrier_fee_micros,
    };
    if let Some(entry) = v.lifecycle.last_mut() {
        entry.fee = Some(billing::usd(charge.amount_micros()));
    }
    v.charge = Some(charge);
}

impl NumberState {
    /// Records how delivery went. Returns the changed record: the current verification, or one
    /// replaced while this send was in flight (a message that went out is logged and charged
    /// on the verification it belongs to).
    pub fn finish_send(
        &mut self,
        request_id: &str,
        started_ms: i64,
        result: &SendResult,
        now_ms: i64,
    ) -> Option<Verification> {
        self.record_send(request_id, started_ms, result, now_ms, true)
    }

    /// [`Self::finish_send`] again, after its write lost and the state was refreshed from the
    /// store: records the same result on the stored record, without counting the send answered
    /// a second time.
    pub fn finish_send_again(
        &mut self,
        request_id: &str,
        started_ms: i64,
        result: &SendResult,
        now_ms: i64,
    ) -> Option<Verification> {
        self.record_send(request_id, started_ms, result, now_ms, false)
    }

    fn record_send(
        &mut self,
        request_id: &str,
        started_ms: i64,
        result: &SendResult,
        now_ms: i64,
        first: bool,
    ) -> Option<Verification> {
        let is_current = self.current.as_ref().is_some_and(|v| v.request_id == request_id);
        if matches!(result, SendResult::Undeliverable { .. }) {
            if let Some(i) = self.sends_ms.iter().position(|t| *t == started_ms) {
                self.sends_ms.remove(i);
            }
        }
        let mut clear_code = false;
        let Some(v) = self.record_mut(request_id) else {
            if first {
                self.send_answered(request_id);
            }
            return None;
        };
        match result {
            SendResult::Accepted {
                channel,
                carrier,
                delivered,
                fallbacks,
                fee_micros,
                ..
            } => {
                for (from, to) in fallbacks {
                    v.log(
                        LifecycleKind::PhoneChannelFallback,
                        now_ms,
                        Some(json!({ "from": from, "to": to })),
                    );
                }
                // Reserved by begin_send; a record reloaded from an older writer may lack it.
                if !v.sends_ms.contains(&started_ms) {
                    v.sends_ms.push(started_ms);
                }
                v.channel = Some(*channel);
                let details = json!({ "channel": channel, "carrier": carrier, "resend": v.sends_ms.len() > 1 });
                v.log(LifecycleKind::PhoneVerificationMessageSent, now_ms, Some(details));
                charge_once(v, *channel, carrier, *fee_micros, now_ms);
                if *delivered {
                    v.verification_method = Some(*channel);
                    v.log(
                        LifecycleKind::PhoneDeliveryDelivered,
                        now_ms,
                        Some(json!({ "channel": channel, "carrier": carrier })),
                    );
                }
            }
            SendResult::Undeliverable { failures } => {
                // Nothing went out: the send begin_send reserved is given back.
                if let Some(i) = v.sends_ms.iter().position(|t| *t == started_ms) {
                    v.sends_ms.remove(i);
                }
                let failures: Vec<_> = failures
                    .iter()
                    .map(|(channel, carrier, reason)| json!({ "channel": channel, "carrier": carrier, "reason": reason }))
                    .collect();
                v.log(
                    LifecycleKind::PhoneDeliveryFailed,
                    now_ms,
                    Some(json!({ "failures": failures })),
                );
                // A resend that failed leaves the earlier message and its code valid.
                if v.sends_ms.is_empty() && v.state == State::Pending {
                    v.state = State::Undeliverable;
                    clear_code = true;
                }
            }
        }
        let changed = v.clone();
        if first {
            self.send_answered(request_id);
        }
        if clear_code && is_current {
            self.code = None;
        }
        Some(changed)
    }

    /// Records a delivery receipt for `request_id`. Returns the changed record, if that
    /// verification is still the current one (a receipt for an older one changes nothing).
    pub fn on_delivery(&mut self, request_id: &str, report: &DeliveryReport, now_ms: i64) -> Option<Verification> {
        let v = self.current.as_mut().filter(|v| v.request_id == request_id)?;
        let details = json!({
            "channel": report.channel,
            "carrier": report.carrier,
            "status": report.status,
            "error": report.error,
        });
        match report.delivery {
            Delivery::Delivered => {
                v.verification_method.get_or_insert(report.channel);
                v.log(LifecycleKind::PhoneDeliveryDelivered, now_ms, Some(details));
            }
            Delivery::Failed => v.log(LifecycleKind::PhoneDeliveryFailed, now_ms, Some(details)),
        }
        Some(v.clone())
    }

    /// Records a fallback: the message on `from` (channel, carrier) was not delivered
    /// (`reason`), and the same code went out on the next step, or nothing could take it.
    /// A fallback is not a resend: it does not count against the resend limit.
    pub fn on_fallback(
        &mut self,
        request_id: &str,
        from: (Channel, &str, &str),
        result: &SendResult,
        now_ms: i64,
    ) -> Option<Verification> {
        let v = self.current.as_mut().filter(|v| v.request_id == request_id)?;
        let (from_channel, from_carrier, reason) = from;
        match result {
            SendResult::Accepted {
                channel,
                carrier,
                delivered,
                fee_micros,
                ..
            } => {
                v.log(
                    LifecycleKind::PhoneChannelFallback,
                    now_ms,
                    Some(json!({
                        "from": from_channel, "from_carrier": from_carrier,
                        "to": channel, "to_carrier": carrier, "reason": reason,
                    })),
                );
                v.channel = Some(*channel);
                let details = json!({ "channel": channel, "carrier": carrier, "resend": false, "fallback": true });
                v.log(LifecycleKind::PhoneVerificationMessageSent, now_ms, Some(details));
                charge_once(v, *channel, carrier, *fee_micros, now_ms);
                if *delivered {
                    v.verification_method.get_or_insert(*channel);
                    v.log(
                        LifecycleKind::PhoneDeliveryDelivered,
                        now_ms,
                        Some(json!({ "channel": channel, "carrier": carrier })),
                    );
                }
            }
            SendResult::Undeliverable { failures } => {
                let failures: Vec<_> = failures
                    .iter()
                    .map(|(channel, carrier, reason)| json!({ "channel": channel, "carrier": carrier, "reason": reason }))
                    .collect();
                let details = json!({ "from": from_channel, "from_carrier": from_carrier, "reason": reason, "failures": failures });
                v.log(LifecycleKind::PhoneFallbackExhausted, now_ms, Some(details));
            }
        }
        Some(v.clone())
    }

    /// A fallback's write lost and the state was refreshed from the store: the fresh record of
    /// `request_id` takes the MAC of `code`, the code the fallback sent (it had replaced the MAC).
    /// Returns the changed record; `None` when `request_id` is not the current verification.
    pub fn adopt_code(&mut self, request_id: &str, code: &str, secret: &CodeSecret) -> Option<Verification> {
        let v = self.current.as_mut().filter(|v| v.request_id == request_id)?;
        v.code_mac = secret.mac(request_id, code);
        self.code = Some(code.to_owned());
        Some(v.clone())
    }

    /// Whether `request_id`'s stored fallback should still run: it is the current verification,
    /// pending, and no message of it is known to have arrived.
    pub fn wants_fallback(&self, request_id: &str, now_ms: i64) -> bool {
        self.current
            .as_ref()
            .is_some_and(|v| v.request_id == request_id && v.is_pending_at(now_ms) && v.verification_method.is_none())
    }

    /// The code a fallback of the current verification `request_id` sends: the clear code when
    /// this state still holds it, else (the process that sent the first message is gone) a fresh
    /// one of `length` digits whose MAC replaces the stored one, as a resend after a restart does.
    /// Returns the code and the record to persist when the MAC changed; `None` when `request_id`
    /// is not the current verification.
    pub fn code_for_fallback(
        &mut self,
        request_id: &str,
        length: u32,
        secret: &CodeSecret,
    ) -> Option<(String, Option<Verification>)> {
        let v = self.current.as_mut().filter(|v| v.request_id == request_id)?;
        if let Some(code) = &self.code {
            return Some((code.clone(), None));
        }
        let code = code::generate(length);
        v.code_mac = secret.mac(&v.request_id, &code);
        self.code = Some(code.clone());
        Some((code, Some(v.clone())))
    }
}
