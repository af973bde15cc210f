//! What arrived: one [`MessageRecord`] per submit_sm, in arrival order, capped so a long benchmark
//! cannot eat the machine. Connections append a batch at a time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::text::Udh;

/// One received submit_sm, as served by `GET /messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub connection_id: u64,
    pub system_id: String,
    pub sequence_number: u32,
    /// The id returned in submit_sm_resp; empty when the submit got no id (refused, unanswered).
    pub message_id: String,
    pub source_addr: String,
    pub source_addr_ton: u8,
    pub source_addr_npi: u8,
    pub destination_addr: String,
    pub dest_addr_ton: u8,
    pub dest_addr_npi: u8,
    pub esm_class: u8,
    pub data_coding: u8,
    pub registered_delivery: u8,
    /// The short_message (or message_payload TLV) bytes, header included.
    pub short_message_hex: String,
    pub udh: Option<UdhRecord>,
    /// The user data after the header, decoded by data_coding; `null` for binary codings.
    pub text: Option<String>,
    /// The action applied: a rule's action, or `deliver`/`accept` by default.
    pub action: String,
    pub received_at_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UdhRecord {
    pub reference: u16,
    pub total: u8,
    pub part: u8,
}

impl From<Udh> for UdhRecord {
    fn from(udh: Udh) -> Self {
        UdhRecord {
            reference: udh.reference,
            total: udh.total,
            part: udh.part,
        }
    }
}

#[derive(Debug, Default)]
struct Records {
    all: Vec<MessageRecord>,
    /// Positions in `all` per destination (without '+'): `GET /messages?destination=` stays as
    /// fast with a million records as with ten, so a benchmark that reads each code back does not
    /// measure the simulator slowing down.
    by_destination: HashMap<String, Vec<usize>>,
}

#[derive(Debug)]
pub struct RecordStore {
    records: Mutex<Records>,
    cap: usize,
    /// Set once the cap is reached, so connections stop building records nobody will keep.
    full: AtomicBool,
}

impl RecordStore {
    pub fn new(cap: usize) -> Self {
        RecordStore {
            records: Mutex::new(Records::default()),
            cap,
            full: AtomicBool::new(cap == 0),
        }
    }

    /// Appends a batch, dropping what exceeds the cap.
    pub fn append(&self, batch: &mut Vec<MessageRecord>) {
        if batch.is_empty() {
            return;
        }
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let room = self.cap.saturating_sub(records.all.len());
        batch.truncate(room);
        for record in batch.drain(..) {
            let position = records.all.len();
            let destination = strip_plus(&record.destination_addr).to_owned();
            records.by_destination.entry(destination).or_default().push(position);
            records.all.push(record);
        }
        if records.all.len() >= self.cap && !self.full.swap(true, Ordering::Relaxed) {
            tracing::warn!(cap = self.cap, "record store full; further submits are only counted");
        }
    }

    pub fn is_full(&self) -> bool {
        self.full.load(Ordering::Relaxed)
    }

    /// Records to `destination` (ignoring a leading '+'), or all of them.
    pub fn list(&self, destination: Option<&str>) -> Vec<MessageRecord> {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        matching(&records, destination).into_iter().cloned().collect()
    }

    /// The same selection as [`RecordStore::list`] as a JSON array, without copying records.
    pub fn to_json(&self, destination: Option<&str>) -> Vec<u8> {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let selected = matching(&records, destination);
        serde_json::to_vec(&selected).unwrap_or_else(|_| b"[]".to_vec())
    }

    pub fn clear(&self) {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records.all.clear();
        records.by_destination.clear();
        self.full.store(self.cap == 0, Ordering::Relaxed);
    }
}

fn matching<'a>(records: &'a Records, destination: Option<&str>) -> Vec<&'a MessageRecord> {
    match destination {
        None => records.all.iter().collect(),
        Some(wanted) => records
            .by_destination
            .get(strip_plus(wanted))
            .map(|positions| positions.iter().map(|&i| &records.all[i]).collect())
            .unwrap_or_default(),
    }
}

fn strip_plus(number: &str) -> &str {
    number.strip_prefix('+').unwrap_or(number)
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0F)]));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(destination: &str) -> MessageRecord {
        MessageRecord {
            connection_id: 1,
            system_id: "otpgate".into(),
            sequence_number: 1,
            message_id: "1".into(),
            source_addr: "otpgate".into(),
            source_addr_ton: 5,
            source_addr_npi: 0,
            destination_addr: destination.into(),
            dest_addr_ton: 1,
            dest_addr_npi: 1,
            esm_class: 0,
            data_coding: 0,
            registered_delivery: 1,
            short_message_hex: String::new(),
            udh: None,
            text: Some(String::new()),
            action: "deliver".into(),
            received_at_ms: 0,
        }
    }

    #[test]
    fn cap_and_destination_filter() {
        let store = RecordStore::new(2);
        store.append(&mut vec![record("+1555")]);
        assert!(!store.is_full());
        store.append(&mut vec![record("1666"), record("1555")]);
        assert!(store.is_full());
        assert_eq!(store.list(None).len(), 2);
        assert_eq!(store.list(Some("1555")).len(), 1);
        assert_eq!(store.list(Some("+1666")).len(), 1);
        let json: serde_json::Value = serde_json::from_slice(&store.to_json(Some("1555"))).unwrap();
        assert_eq!(json[0]["destination_addr"], "+1555");
        store.clear();
        assert!(store.list(None).is_empty() && !store.is_full());
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(hex(&[0x00, 0xAB, 0x7f]), "00ab7f");
    }
}
