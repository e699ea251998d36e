//! The dispatcher's admin API: sweep progress, result objects, and (local configuration
//! only) the elite stand-in's fault knobs. Every `/api/` route requires
//! `Authorization: Bearer <ADMIN_TOKEN>`; JSON in and out.
//!
//! - `GET /health` (no token): liveness.
//! - `GET /api/sweeps?limit=N`: recent sweeps with progress, newest first.
//! - `GET /api/sweeps/{sweep_id}`: one sweep's progress.
//! - `GET /api/results?prefix=P&cursor=C&limit=N`: result objects (key, size, uploaded, job id).
//! - `GET /api/results/{key}`: one result object's JSON.
//! - `GET /api/sites?after=C&limit=N`: the registry by customer id (keyset pages).
//! - `POST /api/sites`: add or update a customer and its site (body: `SiteRegistration`).
//! - `GET /api/dead-letters?sweep_id=S&customer_id=C&limit=N`: stored dead letters, newest first.
//! - `GET|PUT|DELETE /api/standin/{faults|stats}`: forwarded to the local stand-in; 404 where
//!   the stand-in is not bound (every deployed environment).

use code24_runtime::http::{bearer_ok, error, json};
use code24_runtime::ledger_client::DurableLedger;
use code24_runtime::results::JOB_ID_METADATA;
use code24_shared::ids::SweepId;
use code24_shared::names::{binding, var};
use code24_shared::site::SiteRegistration;
use code24_shared::standin::CONTROL_PREFIX;
use serde_json::json as j;
use worker::{Env, Method, Request, Response};

/// Largest page of results or sweeps one request returns.
const MAX_LIMIT: u32 = 1_000;

pub(crate) async fn handle(req: Request, env: &Env) -> worker::Result<Response> {
    let url = req.url()?;
    let path = url.path().to_owned();
    if path == "/health" {
        return json(200, &j!({"status": "ok", "worker": code24_shared::names::DISPATCHER_WORKER}));
    }
    let Some(route) = path.strip_prefix("/api/") else { return error(404, format!("no route {path}")) };
    let token = env.secret(var::ADMIN_TOKEN).map(|s| s.to_string()).unwrap_or_default();
    if token.is_empty() {
        return error(503, "the admin API is disabled: the ADMIN_TOKEN secret is not set");
    }
    if !bearer_ok(&req, &token) {
        return error(401, "missing or wrong bearer token");
    }
    let query = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    let limit = match query("limit").map(|l| l.parse::<u32>()) {
        None => 100,
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => return error(400, format!("limit must be a whole number in 1..={MAX_LIMIT}")),
    };
    let method = req.method();
    let segments: Vec<&str> = route.split('/').collect();
    match (method.clone(), segments.as_slice()) {
        (Method::Get, ["sweeps"]) => {
            let ledger = DurableLedger::from_env(env)?;
            match ledger.recent(limit).await {
                Ok(sweeps) => json(200, &sweeps),
                Err(e) => error(502, e.to_string()),
            }
        }
        (Method::Get, ["sweeps", id]) => {
            let Some(sweep_id) = SweepId::parse(id) else { return error(400, format!("{id:?} is not a sweep id")) };
            let ledger = DurableLedger::from_env(env)?;
            match ledger.progress(sweep_id.as_str()).await {
                Ok(Some(p)) => json(200, &p),
                Ok(None) => error(404, format!("no sweep {sweep_id}")),
                Err(e) => error(502, e.to_string()),
            }
        }
        (Method::Get, ["results"]) => list_results(env, query("prefix"), query("cursor"), limit).await,
        (Method::Get, ["results", ..]) => {
            let key = route.strip_prefix("results/").unwrap_or_default();
            if key.is_empty() || key.len() > 1_024 || key.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
                return error(400, format!("{key:?} is not an object key"));
            }
            let bucket = env.bucket(binding::RESULTS)?;
            match bucket.get(key).execute().await? {
                Some(object) => match object.body() {
                    Some(body) => {
                        let text = body.text().await?;
                        let mut response = Response::ok(text)?;
                        response.headers_mut().set("content-type", "application/json")?;
                        Ok(response)
                    }
                    None => error(500, format!("object {key} has no body")),
                },
                None => error(404, format!("no object {key}")),
            }
        }
        (Method::Get, ["sites"]) => list_sites(env, query("after"), limit).await,
        (Method::Post, ["sites"]) => add_site(req, env).await,
        (Method::Get, ["dead-letters"]) => list_dead_letters(env, query("sweep_id"), query("customer_id"), limit).await,
        (_, ["standin", knob]) if matches!(*knob, "faults" | "stats") => forward_to_standin(req, env, knob).await,
        _ => error(404, format!("no route {method:?} /api/{route}")),
    }
}

async fn list_results(env: &Env, prefix: Option<String>, cursor: Option<String>, limit: u32) -> worker::Result<Response> {
    let bucket = env.bucket(binding::RESULTS)?;
    let mut list = bucket.list().limit(limit).include(vec![worker::Include::CustomMetadata]);
    if let Some(prefix) = prefix {
        list = list.prefix(prefix);
    }
    if let Some(cursor) = cursor {
        list = list.cursor(cursor);
    }
    let objects = list.execute().await?;
    let items: Vec<serde_json::Value> = objects
        .objects()
        .iter()
        .map(|o| {
            j!({
                "key": o.key(),
                "size": o.size(),
                "etag": o.etag(),
                "uploaded_ms": o.uploaded().as_millis(),
                "job_id": o.custom_metadata().ok().and_then(|m| m.get(JOB_ID_METADATA).cloned()),
            })
        })
        .collect();
    json(200, &j!({"objects": items, "truncated": objects.truncated(), "cursor": objects.cursor()}))
}

async fn forward_to_standin(mut req: Request, env: &Env, knob: &str) -> worker::Result<Response> {
    let Ok(standin) = env.service(binding::ELITE_STANDIN) else {
        return error(404, "the elite stand-in is not bound in this environment");
    };
    let mut init = worker::RequestInit::new();
    init.with_method(req.method());
    if req.method() == Method::Put {
        init.with_body(Some(req.text().await?.into()));
    }
    standin.fetch(format!("https://standin{CONTROL_PREFIX}/{knob}"), Some(init)).await
}

async fn list_dead_letters(env: &Env, sweep_id: Option<String>, customer_id: Option<String>, limit: u32) -> worker::Result<Response> {
    let db = env.d1(binding::DB)?;
    let filter = |v: Option<String>| v.map_or(wasm_bindgen::JsValue::NULL, |s| s.as_str().into());
    let rows = db
        .prepare(
            "SELECT id, origin_queue, job_id, sweep_id, customer_id, body, error_class, error_message, attempts, \
             first_failed_ms, last_failed_ms, status, replay_count FROM dead_letters \
             WHERE (?1 IS NULL OR sweep_id = ?1) AND (?2 IS NULL OR customer_id = ?2) \
             ORDER BY last_failed_ms DESC, id LIMIT ?3",
        )
        .bind(&[filter(sweep_id), filter(customer_id), wasm_bindgen::JsValue::from_f64(f64::from(limit))])?
        .all()
        .await?
        .results::<serde_json::Value>()?;
    json(200, &j!({ "dead_letters": rows }))
}

async fn list_sites(env: &Env, after: Option<String>, limit: u32) -> worker::Result<Response> {
    let db = env.d1(binding::DB)?;
    let rows = db
        .prepare(
            "SELECT s.customer_id, s.url, s.active, c.plan, c.name, s.created_at, s.updated_at \
             FROM sites s JOIN customers c ON c.id = s.customer_id \
             WHERE s.customer_id > ?1 ORDER BY s.customer_id LIMIT ?2",
        )
        .bind(&[after.unwrap_or_default().as_str().into(), wasm_bindgen::JsValue::from_f64(f64::from(limit))])?
        .all()
        .await?
        .results::<serde_json::Value>()?;
    json(200, &j!({ "sites": rows }))
}

/// Largest site registration body accepted.
const MAX_SITE_BODY: usize = 8 * 1024;

async fn add_site(mut req: Request, env: &Env) -> worker::Result<Response> {
    let body = req.text().await?;
    if body.len() > MAX_SITE_BODY {
        return error(413, format!("site registration is {} bytes; at most {MAX_SITE_BODY} are accepted", body.len()));
    }
    let site = match SiteRegistration::decode(&body) {
        Ok(site) => site,
        Err(message) => return error(400, message),
    };
    let db = env.d1(binding::DB)?;
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
        .bind(&[id.into(), site.url.as_str().into(), wasm_bindgen::JsValue::from_f64(if site.active { 1.0 } else { 0.0 })])?;
    db.batch(vec![customer, row]).await?;
    json(201, &site)
}
