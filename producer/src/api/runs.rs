//! Operators' backfill of a monthly report run: `POST /api/runs` with
//! `{"task": "monthly-analytics" | "end-of-month", "month": "YYYY-MM"}`. It enqueues exactly the
//! run the regular slot would, so it is idempotent: a month already reported enqueues nothing.

use code24_runtime::env::vars;
use code24_runtime::http::{error, json};
use code24_shared::config;
use code24_shared::reports::period::Month;
use code24_shared::reports::runs::backfill;
use code24_shared::schedule::Task;
use serde::Deserialize;
use serde_json::json as j;
use worker::{Request, Response};

use super::{body_text, Call};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackfillRequest {
    task: String,
    month: String,
}

pub(super) async fn backfill_run(call: &Call<'_>, req: &mut Request) -> worker::Result<Response> {
    let body = match body_text(req).await {
        Ok(b) => b,
        Err((status, message)) => return error(status, message),
    };
    let request: BackfillRequest = match serde_json::from_str(&body) {
        Ok(r) => r,
        Err(e) => return error(400, format!("invalid backfill request: {e}")),
    };
    let task = match Task::parse(&request.task) {
        Some(t @ (Task::MonthlyAnalytics | Task::EndOfMonth)) => t,
        _ => return error(400, format!("task must be monthly-analytics or end-of-month, not {:?}", request.task)),
    };
    let Some(month) = Month::parse(&request.month) else {
        return error(400, format!("month must be YYYY-MM, not {:?}", request.month));
    };
    let environment = match config::environment(&vars(call.env)) {
        Ok(e) => e,
        Err(e) => return error(500, e.to_string()),
    };
    let run = match backfill(environment.as_str(), task, month) {
        Ok(r) => r,
        Err(e) => return error(400, e),
    };
    match crate::runs::enqueue(call.env, &run, &code24_runtime::meter::Meter::new("dispatcher", "fetch")).await {
        Ok(report) => json(202, &j!({"run_id": run.run_id, "slot": code24_shared::ids::rfc3339(run.slot), "report": report})),
        Err(e) => error(502, e.to_string()),
    }
}
