//! Billing events, the input of the end-of-month revenue report (`migrations/0005_billing.sql`):
//! `POST /api/billing-events` with `{customer_id, at_ms, mrr_cents}` records "from `at_ms` the
//! customer pays `mrr_cents` a month". The body is validated by the core's
//! `BillingEvent::decode` before any write; the customer must exist (404 otherwise). The write
//! is an upsert on (customer, instant), so a retried request leaves one row.

use code24_runtime::http::{error, json};
use code24_shared::names::binding;
use code24_shared::reports::revenue::BillingEvent;
use serde::Deserialize;
use serde_json::json as j;
use wasm_bindgen::JsValue;
use worker::{Request, Response};

use super::{body_text, Call};

/// Inserts the event only when its customer exists, so an unknown customer is a clear 404
/// rather than a foreign-key failure.
const UPSERT: &str = "INSERT INTO billing_events (customer_id, at_ms, mrr_cents) \
     SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM customers WHERE id = ?1) \
     ON CONFLICT (customer_id, at_ms) DO UPDATE SET mrr_cents = excluded.mrr_cents RETURNING id";

#[derive(Deserialize)]
struct Inserted {
    id: f64,
}

pub(super) async fn add(call: &Call<'_>, req: &mut Request) -> worker::Result<Response> {
    let body = match body_text(req).await {
        Ok(b) => b,
        Err((status, message)) => return error(status, message),
    };
    let event = match BillingEvent::decode(&body) {
        Ok(event) => event,
        Err(message) => return error(400, message),
    };
    // Epoch milliseconds and cents stay far below 2^53, so f64 carries them exactly (an i64
    // would be bound as a BigInt, which D1 refuses).
    let rows = call
        .env
        .d1(binding::DB)?
        .prepare(UPSERT)
        .bind(&[event.customer_id.as_str().into(), JsValue::from_f64(event.at_ms as f64), JsValue::from_f64(event.mrr_cents as f64)])?
        .all()
        .await?
        .results::<Inserted>()?;
    let Some(row) = rows.first() else {
        return error(404, format!("no customer {}: register its site first (POST /api/sites)", event.customer_id));
    };
    json(201, &j!({"id": row.id as i64, "customer_id": event.customer_id, "at_ms": event.at_ms, "mrr_cents": event.mrr_cents}))
}
