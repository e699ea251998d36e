//! The ledger Durable Object seen from a Worker: [`DurableLedger`] implements
//! [`code24_shared::ports::Ledger`] (and the read-only progress, recent-runs, job and counts
//! lookups) as JSON `POST`s to the object's routes ([`Route`], the core's one table).
//!
//! A Rust Durable Object cannot be an RPC target in workers-rs 0.8.7, so every call is an HTTP
//! request through `Stub::fetch_with_request`. Run calls go to the coordinator instance
//! ([`RUNS_OBJECT`]), job calls to the shard behind their slot ([`ShardMap::slot_object`]; with
//! the build's one map, `jobs-{slot}`). Every failure —
//! network, non-2xx answer, undecodable body — becomes a transient [`JobError`] whose message
//! names the instance, the route and the status, so a retried message leaves a readable trail.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;
use worker::{Env, Headers, Method, ObjectNamespace, Request, RequestInit, Response};

use code24_shared::breaker::{BreakerReport, BreakersView, GateAnswer, GateRequest, BREAKERS_OBJECT};
use code24_shared::error::JobError;
use code24_shared::ledger::heads::{HeadRequest, HeadRow};
use code24_shared::ledger::route::Route;
use code24_shared::ledger::shard_map::{ShardMap, MAPS};
use code24_shared::ledger::stats::LedgerStats;
use code24_shared::ledger::{
    ClaimRequest, ClaimResponse, CompleteRequest, CompleteResponse, CountsRequest, FanoutDone, FinalizeDecision, FinalizeRequest,
    JobRequest, JobRow, OpenDecision, OpenRun, PageDone, ProgressRequest, RecentRequest, RunProgress, SettleDecision, SettleRequest,
    ShardCounts, RUNS_OBJECT,
};
use code24_shared::limits::usage::Counted;
use code24_shared::names::binding;
use code24_shared::ports::{Breakers, Ledger};

use crate::meter::Meter;

/// Origin of every request to a ledger instance. The host is never resolved (the stub routes
/// the request to the object), but the runtime insists on an absolute URL.
const ORIGIN: &str = "https://ledger";

/// How much of an unexpected (non-JSON-error) body an error message quotes.
const QUOTED_BODY_CHARS: usize = 200;

/// The ledger Durable Object namespace, bound as [`binding::LEDGER`].
pub struct DurableLedger {
    /// Every instance, coordinator and shards alike, is reached by name through this one
    /// namespace: the instance kind is only a naming convention.
    namespace: ObjectNamespace,
    meter: Meter,
}

impl DurableLedger {
    pub fn from_env(env: &Env) -> worker::Result<Self> {
        Ok(Self { namespace: env.durable_object(binding::LEDGER)?, meter: Meter::detached() })
    }

    /// Counts every request into `meter` (the invocation's).
    pub fn metered(self, meter: &Meter) -> Self {
        Self { meter: meter.clone(), ..self }
    }

    /// A run's progress, with every shard's counters summed; `None` for an unknown run.
    pub async fn progress(&self, run_id: &str) -> Result<Option<RunProgress>, JobError> {
        self.call(RUNS_OBJECT, Route::Progress, &ProgressRequest { run_id: run_id.to_owned() }).await
    }

    /// The newest `limit` runs by scheduled time, newest first, with their progress.
    pub async fn recent(&self, limit: u32) -> Result<Vec<RunProgress>, JobError> {
        self.call(RUNS_OBJECT, Route::Recent, &RecentRequest { limit }).await
    }

    /// The fan-in of run `run_id`: ask after one of its jobs ended (was completed in its
    /// shard). The first request that finds every job of the run ended is answered
    /// [`FinalizeDecision::Enqueue`]; see there for what the other answers mean.
    pub async fn request_finalize(&self, run_id: &str, now_ms: i64) -> Result<FinalizeDecision, JobError> {
        let request = FinalizeRequest { run_id: run_id.to_owned(), now_ms };
        self.call(RUNS_OBJECT, Route::Finalize, &request).await
    }

    /// One job as shard `shard` stores it; `None` when unknown (or pruned).
    pub async fn job(&self, shard: u32, job_id: &str) -> Result<Option<JobRow>, JobError> {
        self.call(&slot_object(shard)?, Route::Job, &JobRequest { job_id: job_id.to_owned() }).await
    }

    /// Shard `shard`'s counters of each run in `request`, in request order. The coordinator
    /// uses it to compute progress.
    pub async fn counts(&self, shard: u32, request: &CountsRequest) -> Result<Vec<ShardCounts>, JobError> {
        self.call(&slot_object(shard)?, Route::Counts, request).await
    }

    /// What the instance named `object` cost since it started, with (on a job shard) its
    /// rollups' write-behind to D1.
    pub async fn stats(&self, object: &str) -> Result<LedgerStats, JobError> {
        self.call(object, Route::Stats, &serde_json::json!({})).await
    }

    /// The elite circuit breakers' state (`GET /breakers` on the `breakers` instance), as the
    /// instance answered it: the admin API passes the JSON on unchanged.
    pub async fn breakers_view(&self) -> Result<BreakersView, JobError> {
        let fail = |what: String| JobError::transient(format!("ledger {BREAKERS_OBJECT} /breakers: {what}"));
        let mut init = RequestInit::new();
        init.with_method(Method::Get);
        let request = Request::new_with_init(&format!("{ORIGIN}{}", Route::Breakers.path()), &init).map_err(|e| fail(e.to_string()))?;
        let stub = self.namespace.id_from_name(BREAKERS_OBJECT).and_then(|id| id.get_stub()).map_err(|e| fail(e.to_string()))?;
        let mut response = {
            let _connection = self.meter.start(Counted::Subrequest);
            stub.fetch_with_request(request).await.map_err(|e| fail(format!("request failed: {e}")))?
        };
        let status = response.status_code();
        let text = response.text().await.map_err(|e| fail(format!("HTTP {status}, unreadable body: {e}")))?;
        if !(200..300).contains(&status) {
            return Err(fail(format!("HTTP {status}: {}", error_text(&text))));
        }
        serde_json::from_str(&text).map_err(|e| fail(format!("HTTP {status}, undecodable answer: {e}")))
    }

    /// Sends `body` (JSON text) as-is to `route` of the instance named `object` and returns the
    /// raw answer. The typed calls go through here; the ledger Worker's local-only debug route
    /// uses it to forward a request unchanged.
    pub async fn forward(&self, object: &str, route: &str, body: &str) -> worker::Result<Response> {
        let headers = Headers::new();
        headers.set("content-type", "application/json")?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_headers(headers).with_body(Some(JsValue::from_str(body)));
        let request = Request::new_with_init(&format!("{ORIGIN}{route}"), &init)?;
        let stub = self.namespace.id_from_name(object)?.get_stub()?;
        let _connection = self.meter.start(Counted::Subrequest);
        stub.fetch_with_request(request).await
    }

    /// One JSON call: serializes `request`, posts it, and decodes a 2xx answer as `Resp`.
    async fn call<Req: Serialize, Resp: DeserializeOwned>(&self, object: &str, route: Route, request: &Req) -> Result<Resp, JobError> {
        let route = route.path();
        let fail = |what: String| JobError::transient(format!("ledger {object} {route}: {what}"));
        let body = serde_json::to_string(request).map_err(|e| fail(format!("cannot encode the request: {e}")))?;
        let mut response = self.forward(object, route, &body).await.map_err(|e| fail(format!("request failed: {e}")))?;
        let status = response.status_code();
        let text = response.text().await.map_err(|e| fail(format!("HTTP {status}, unreadable body: {e}")))?;
        if !(200..300).contains(&status) {
            return Err(fail(format!("HTTP {status}: {}", error_text(&text))));
        }
        serde_json::from_str(&text).map_err(|e| fail(format!("HTTP {status}, undecodable answer: {e}")))
    }
}

/// The instance behind job shard `slot` of the build's maps ([`ShardMap::slot_object`]); a
/// slot beyond them is a bug of the caller, answered as a permanent error.
fn slot_object(slot: u32) -> Result<String, JobError> {
    ShardMap::slot_object(MAPS, slot).ok_or_else(|| JobError::permanent(format!("ledger: no job shard {slot} in the shard maps")))
}

/// The ledger's error body, `{"error": "..."}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: String,
}

/// What a failed answer says: the ledger's own error message when the body is its JSON error,
/// else the start of the body (a runtime error page, an empty body).
fn error_text(body: &str) -> String {
    if let Ok(ErrorBody { error }) = serde_json::from_str(body) {
        return error;
    }
    if body.trim().is_empty() {
        return "(empty body)".into();
    }
    let mut quoted: String = body.chars().take(QUOTED_BODY_CHARS).collect();
    if body.chars().count() > QUOTED_BODY_CHARS {
        quoted.push('…');
    }
    quoted
}

/// The elite circuit breakers live in the ledger's `breakers` instance.
impl Breakers for DurableLedger {
    async fn gate(&self, req: &GateRequest) -> Result<GateAnswer, JobError> {
        self.call(BREAKERS_OBJECT, Route::BreakerGate, req).await
    }

    async fn report(&self, req: &BreakerReport) -> Result<(), JobError> {
        self.call(BREAKERS_OBJECT, Route::BreakerReport, req).await
    }
}

impl Ledger for DurableLedger {
    async fn open_run(&self, req: &OpenRun) -> Result<OpenDecision, JobError> {
        self.call(RUNS_OBJECT, Route::OpenRun, req).await
    }

    async fn record_page(&self, req: &PageDone) -> Result<(), JobError> {
        self.call(RUNS_OBJECT, Route::RecordPage, req).await
    }

    async fn finish_fanout(&self, req: &FanoutDone) -> Result<(), JobError> {
        self.call(RUNS_OBJECT, Route::FinishFanout, req).await
    }

    async fn claim(&self, shard: u32, req: &ClaimRequest) -> Result<ClaimResponse, JobError> {
        self.call(&slot_object(shard)?, Route::Claim, req).await
    }

    async fn complete(&self, shard: u32, req: &CompleteRequest) -> Result<CompleteResponse, JobError> {
        self.call(&slot_object(shard)?, Route::Complete, req).await
    }

    async fn settle(&self, shard: u32, req: &SettleRequest) -> Result<SettleDecision, JobError> {
        self.call(&slot_object(shard)?, Route::Settle, req).await
    }

    async fn head(&self, shard: u32, req: &HeadRequest) -> Result<HeadRow, JobError> {
        self.call(&slot_object(shard)?, Route::Head, req).await
    }
}

#[cfg(test)]
mod tests {
    use super::error_text;

    fn check(body: &str, expected: &str) {
        assert_eq!(error_text(body), expected, "body {body:?}");
    }

    #[test]
    fn error_text_prefers_the_ledgers_message() {
        check(r#"{"error":"ledger storage: disk full"}"#, "ledger storage: disk full");
        check("", "(empty body)");
        check("  \n", "(empty body)");
        check("Internal Server Error", "Internal Server Error");
        check(&"x".repeat(250), &format!("{}…", "x".repeat(200)));
    }
}
