//! The audit log in D1 (`audit_log`, `migrations/0008_audit_log.sql`): one append per
//! recorded request, and `GET /api/audit`. There is deliberately no route that changes or
//! deletes an entry, and the table's triggers refuse both.

use code24_runtime::http::{error, json};
use code24_shared::audit::{self, Actor, AuditEntry, AuditQuery};
use code24_shared::dead_letters::query::SqlParam;
use code24_shared::names::binding;
use wasm_bindgen::JsValue;
use worker::{console_error, Env, Response};

use super::Call;

fn js(p: &SqlParam) -> JsValue {
    match p {
        SqlParam::Text(s) => JsValue::from_str(s),
        SqlParam::Int(i) => JsValue::from_f64(*i as f64),
    }
}

/// What one answered request was, for its entry.
pub(crate) struct Answered<'a> {
    pub(crate) actor: &'a Actor,
    pub(crate) action: &'a str,
    pub(crate) path: &'a str,
    pub(crate) body: &'a str,
    pub(crate) status: u16,
    pub(crate) answer: &'a str,
    pub(crate) endpoint: code24_shared::api::Endpoint,
}

/// Appends the entry of an answered request. A failed append is logged as an error (the action
/// itself has happened and cannot be taken back); the caller's answer says so in a header.
pub(crate) async fn record(env: &Env, a: &Answered<'_>, now_ms: i64) -> bool {
    let write = async {
        let params = [
            JsValue::from_f64(now_ms as f64),
            JsValue::from_str(a.actor.kind()),
            JsValue::from_str(a.actor.name()),
            JsValue::from_str(a.action),
            JsValue::from_str(&audit::normalise(a.path, a.body)),
            JsValue::from_f64(f64::from(audit::count(a.endpoint, a.status, a.answer))),
            JsValue::from_f64(f64::from(a.status)),
            JsValue::from_str(&audit::outcome(a.status, a.answer)),
            audit::reason_of(a.body).map_or(JsValue::NULL, |r| JsValue::from_str(&r)),
        ];
        env.d1(binding::DB)?
            .prepare(
                "INSERT INTO audit_log (at_ms, actor_kind, actor, action, request, count, status, outcome, reason) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .bind(&params)?
            .run()
            .await
            .map(drop)
    };
    match write.await {
        Ok(()) => true,
        Err(e) => {
            console_error!(
                "{}",
                serde_json::json!({"event": "audit_write_failed", "action": a.action, "actor": a.actor.name(), "error": e.to_string()})
            );
            false
        }
    }
}

/// `GET /api/audit?actor=&action=&from_ms=&to_ms=&cursor=&limit=`: newest first.
pub(super) async fn list(call: &Call<'_>) -> worker::Result<Response> {
    let pairs: Vec<(String, String)> = call.url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let query = match AuditQuery::from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        Ok(q) => q,
        Err(e) => return error(400, e),
    };
    let (clause, params) = query.where_sql();
    let mut params: Vec<JsValue> = params.iter().map(js).collect();
    params.push(JsValue::from_f64(f64::from(query.limit + 1)));
    let sql = format!(
        "SELECT id, at_ms, actor_kind, actor, action, request, count, status, outcome, reason FROM audit_log \
         WHERE {clause} ORDER BY id DESC LIMIT ?{}",
        params.len()
    );
    let rows = call.env.d1(binding::DB)?.prepare(sql).bind(&params)?.all().await?.results::<AuditEntry>()?;
    json(200, &query.page(rows))
}
