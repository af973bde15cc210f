//! `GET /v3/billing/usage/?month=YYYY-MM`: what the calling application was charged in a UTC
//! calendar month (the current one when `month` is omitted), from the store's ledger.
use super::error::ApiError;
use super::{authenticate, EngineData};
use crate::billing::{self, UsageRow};
use crate::engine::{now_ms, EngineError};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Deserialize)]
pub struct Query {
    month: Option<String>,
}

/// A month's usage. Amounts are USD as decimal strings (`"0.035"`), never floats.
#[derive(Serialize, ToSchema)]
pub struct Usage {
    /// `YYYY-MM` (UTC).
    #[schema(example = "2026-11")]
    month: String,
    /// Verifications billed this month (free ones included).
    verifications: u64,
    /// Of which within the free allowance.
    free: u64,
    billable: u64,
    #[schema(example = "0.0379")]
    amount_usd: String,
    /// Free verifications per application and calendar month.
    free_allowance: u64,
    /// Price of one verification, carrier fees excluded.
    #[schema(example = "0.03")]
    price_usd: String,
    by_channel: Vec<ChannelUsage>,
    by_country: Vec<CountryUsage>,
}

/// A month's usage on one channel.
#[derive(Serialize, ToSchema)]
pub struct ChannelUsage {
    /// Lowercase channel (`sms`, `whatsapp`, …).
    channel: String,
    #[serde(flatten)]
    counts: Counts,
}

/// A month's usage in one country.
#[derive(Serialize, ToSchema)]
pub struct CountryUsage {
    /// ISO 3166-1 alpha-2.
    country: String,
    #[serde(flatten)]
    counts: Counts,
}

/// Counts and amount of a group of verifications.
#[derive(Serialize, ToSchema)]
pub struct Counts {
    verifications: u64,
    free: u64,
    billable: u64,
    #[schema(example = "0.0379")]
    amount_usd: String,
}

/// Sums rows that share a key (channel or country) into `(key, counts)`, ordered by key.
fn group(rows: &[UsageRow], key: impl Fn(&UsageRow) -> &str) -> Vec<(String, Counts)> {
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
            let counts = Counts {
                verifications,
                free,
                billable: verifications - free,
                amount_usd: billing::usd(amount),
            };
            (k.to_owned(), counts)
        })
        .collect()
}

/// What the calling application was charged in a UTC calendar month.
#[utoipa::path(
    get,
    path = "/v3/billing/usage/",
    operation_id = "billing_usage",
    tag = "billing",
    security(("x-api-key" = [])),
    params(("month" = Option<String>, Query, description = "`YYYY-MM`; the current UTC month when omitted", pattern = "^[0-9]{4}-[0-9]{2}$", example = "2026-11")),
    responses(
        (status = 200, description = "The month's usage", body = Usage),
        (status = 400, description = "`month` is not `YYYY-MM`", body = ApiError),
    )
)]
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
    Ok(HttpResponse::Ok().json(Usage {
        month,
        verifications,
        free,
        billable: verifications - free,
        amount_usd: billing::usd(amount),
        free_allowance: billing::FREE_PER_MONTH,
        price_usd: billing::usd(billing::PRICE_MICROS),
        by_channel: group(&rows, |r| &r.channel)
            .into_iter()
            .map(|(channel, counts)| ChannelUsage { channel, counts })
            .collect(),
        by_country: group(&rows, |r| &r.country)
            .into_iter()
            .map(|(country, counts)| CountryUsage { country, counts })
            .collect(),
    }))
}
