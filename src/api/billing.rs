//! `GET /v3/billing/usage/?month=YYYY-MM`: what the calling application was charged in a UTC
//! calendar month (the current one when `month` is omitted), from the store's ledger.
use super::error::ApiError;
use super::{authenticate, EngineData};
use crate::billing::{self, UsageRow};
use crate::engine::{now_ms, EngineError};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Deserialize)]
pub struct Query {
    month: Option<String>,
}

/// Sums rows that share a key (channel or country) into `[{key, verifications, free, billable, amount_usd}]`.
fn group(rows: &[UsageRow], name: &str, key: impl Fn(&UsageRow) -> &str) -> Vec<Value> {
    let mut groups: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
    for row in rows {
        let g = groups.entry(key(row)).or_default();
        g.0 += row.verifications;
        g.1 += row.free;
        g.2 += row.amount_micros;
    }
    groups
        .into_iter()
        .map(|(k, (verifications, free, amount))| {
            json!({
                name: k,
                "verifications": verifications,
                "free": free,
                "billable": verifications - free,
                "amount_usd": billing::usd(amount),
            })
        })
        .collect()
}

pub async fn usage(req: HttpRequest, engine: EngineData) -> Result<HttpResponse, ApiError> {
    let application = authenticate(&req, &engine)?.name.clone();
    let query = web::Query::<Query>::from_query(req.query_string())
        .map_err(|e| ApiError::bad_request("invalid_query", format!("invalid query string: {e}")))?;
    let month = match query.month.as_deref() {
        None => billing::month_of(now_ms()),
        Some(raw) => billing::parse_month(raw)
            .ok_or_else(|| ApiError::field("month", "invalid_format", format!("month must be YYYY-MM, not {raw:?}")))?,
    };
    let rows = engine
        .store
        .usage(&application, &month)
        .await
        .map_err(EngineError::from)?;
    let verifications: u64 = rows.iter().map(|r| r.verifications).sum();
    let free: u64 = rows.iter().map(|r| r.free).sum();
    let amount: u64 = rows.iter().map(|r| r.amount_micros).sum();
    Ok(HttpResponse::Ok().json(json!({
        "month": month,
        "verifications": verifications,
        "free": free,
        "billable": verifications - free,
        "amount_usd": billing::usd(amount),
        "free_allowance": billing::FREE_PER_MONTH,
        "price_usd": billing::usd(billing::PRICE_MICROS),
        "by_channel": group(&rows, "channel", |r| &r.channel),
        "by_country": group(&rows, "country", |r| &r.country),
    })))
}
