//! One D1 query, its rows decoded: the shape every read of the adapters shares. Any failure
//! (binding, query, decoding) is transient and names what was read, so a retried message
//! leaves a readable trail.

use code24_shared::error::JobError;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;
use worker::D1Database;

/// Runs `sql` with `params` and decodes every row as `T`; `what` names the read in errors.
pub async fn rows<T: DeserializeOwned>(db: &D1Database, sql: &str, params: &[JsValue], what: &str) -> Result<Vec<T>, JobError> {
    let fail = |step: &str, e: worker::Error| JobError::transient(format!("{what} {step}: {e}"));
    db.prepare(sql)
        .bind(params)
        .map_err(|e| fail("bind", e))?
        .all()
        .await
        .map_err(|e| fail("read", e))?
        .results::<T>()
        .map_err(|e| fail("decode", e))
}
