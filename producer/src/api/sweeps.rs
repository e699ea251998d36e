//! Sweep progress, read from the ledger's coordinator, and the elite circuit breakers, read
//! from its `breakers` instance (what holds a sweep's jobs back).

use code24_runtime::http::{error, json};
use code24_runtime::ledger_client::DurableLedger;
use code24_shared::ids::RunId;
use worker::Response;

use super::Call;

pub(super) async fn list(call: &Call<'_>) -> worker::Result<Response> {
    let limit = match call.limit() {
        Ok(l) => l,
        Err(e) => return error(400, e),
    };
    match DurableLedger::from_env(call.env)?.recent(limit).await {
        Ok(sweeps) => json(200, &sweeps),
        Err(e) => error(502, e.to_string()),
    }
}

pub(super) async fn show(call: &Call<'_>, id: &str) -> worker::Result<Response> {
    let Some(sweep_id) = RunId::parse(id) else {
        return error(400, format!("{:?} is not a sweep id", code24_shared::api::truncated(id, 80)));
    };
    match DurableLedger::from_env(call.env)?.progress(sweep_id.as_str()).await {
        Ok(Some(p)) => json(200, &p),
        Ok(None) => error(404, format!("no sweep {sweep_id}")),
        Err(e) => error(502, e.to_string()),
    }
}

/// `GET /api/breakers`: the ledger's `GET /breakers` answer, unchanged.
pub(super) async fn breakers(call: &Call<'_>) -> worker::Result<Response> {
    match DurableLedger::from_env(call.env)?.breakers_view().await {
        Ok(view) => json(200, &view),
        Err(e) => error(502, e.to_string()),
    }
}
