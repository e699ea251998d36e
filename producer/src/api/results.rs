//! Result objects in R2: listing by prefix and reading one object.

use code24_runtime::http::{error, json};
use code24_runtime::results::JOB_ID_METADATA;
use code24_shared::names::binding;
use serde_json::json as j;
use worker::Response;

use super::Call;

pub(super) async fn list(call: &Call<'_>) -> worker::Result<Response> {
    let limit = match call.limit() {
        Ok(l) => l,
        Err(e) => return error(400, e),
    };
    let bucket = call.env.bucket(binding::RESULTS)?;
    let mut list = bucket.list().limit(limit).include(vec![worker::Include::CustomMetadata]);
    if let Some(prefix) = call.query("prefix") {
        list = list.prefix(prefix);
    }
    if let Some(cursor) = call.query("cursor") {
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

pub(super) async fn get(call: &Call<'_>, key: &str) -> worker::Result<Response> {
    if key.is_empty() || key.len() > 1_024 || key.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return error(400, format!("{:?} is not an object key", code24_shared::api::truncated(key, 80)));
    }
    let bucket = call.env.bucket(binding::RESULTS)?;
    let Some(object) = bucket.get(key).execute().await? else { return error(404, format!("no object {key}")) };
    let Some(body) = object.body() else { return error(500, format!("object {key} has no body")) };
    let mut response = Response::ok(body.text().await?)?;
    response.headers_mut().set("content-type", "application/json")?;
    Ok(response)
}
