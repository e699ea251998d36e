//! The site registry: list, add (or update), deactivate. Input is validated by the core's
//! `SiteRegistration` before any write.

use code24_runtime::http::{error, json};
use code24_shared::canary;
use code24_shared::ids::CustomerId;
use code24_shared::names::binding;
use code24_shared::site::SiteRegistration;
use serde_json::json as j;
use wasm_bindgen::JsValue;
use worker::{Request, Response};

use super::{body_text, Call};

pub(super) async fn list(call: &Call<'_>) -> worker::Result<Response> {
    let limit = match call.limit() {
        Ok(l) => l,
        Err(e) => return error(400, e),
    };
    let after = call.query("after").unwrap_or_default();
    let rows = call
        .env
        .d1(binding::DB)?
        .prepare(
            "SELECT s.customer_id, s.url, s.active, c.plan, c.name, s.created_at, s.updated_at \
             FROM sites s JOIN customers c ON c.id = s.customer_id \
             WHERE s.customer_id > ?1 ORDER BY s.customer_id LIMIT ?2",
        )
        .bind(&[after.as_str().into(), JsValue::from_f64(f64::from(limit))])?
        .all()
        .await?
        .results::<serde_json::Value>()?;
    json(200, &j!({ "sites": rows }))
}

pub(super) async fn add(call: &Call<'_>, req: &mut Request) -> worker::Result<Response> {
    let body = match body_text(req).await {
        Ok(b) => b,
        Err((status, message)) => return error(status, message),
    };
    let site = match SiteRegistration::decode(&body) {
        Ok(site) => site,
        Err(message) => return error(400, message),
    };
    // A canary site must never be swept, analysed or probed as a customer's.
    if canary::is_canary(site.customer_id.as_str()) && site.active {
        return error(
            400,
            format!("{} is a canary site (prefix {:?}): register it with \"active\": false", site.customer_id, canary::PREFIX),
        );
    }
    let db = call.env.d1(binding::DB)?;
    let id = site.customer_id.as_str();
    let name = site.name.clone().unwrap_or_else(|| id.to_owned());
    let customer = db
        .prepare(
            "INSERT INTO customers (id, name, plan) VALUES (?1, ?2, ?3) ON CONFLICT (id) DO UPDATE SET \
             name = excluded.name, plan = excluded.plan, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')",
        )
        .bind(&[id.into(), name.as_str().into(), site.plan.as_str().into()])?;
    let row = db
        .prepare(
            "INSERT INTO sites (customer_id, url, active) VALUES (?1, ?2, ?3) ON CONFLICT (customer_id) DO UPDATE SET \
             url = excluded.url, active = excluded.active, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')",
        )
        .bind(&[id.into(), site.url.as_str().into(), JsValue::from_f64(if site.active { 1.0 } else { 0.0 })])?;
    db.batch(vec![customer, row]).await?;
    json(201, &site)
}

pub(super) async fn deactivate(call: &Call<'_>, id: &str) -> worker::Result<Response> {
    let customer = match CustomerId::parse(id) {
        Ok(c) => c,
        Err(e) => return error(400, e.to_string()),
    };
    let db = call.env.d1(binding::DB)?;
    let changed = db
        .prepare(
            "UPDATE sites SET active = 0, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE customer_id = ?1 \
             RETURNING customer_id",
        )
        .bind(&[customer.as_str().into()])?
        .all()
        .await?
        .results::<serde_json::Value>()?;
    if changed.is_empty() {
        return error(404, format!("no site for customer {customer}"));
    }
    json(200, &j!({"customer_id": customer.as_str(), "active": false}))
}
