//! The bare consumer of `cargo xtask bench` (bench tree only, never deployed).
//!
//! Per message it does only the I/O no correct consumer can avoid: decode the job, the three
//! elite calls (concurrently, through the same service binding the optimizer uses locally, to
//! the simulated stand-in), and one R2 put of the same result object at the same key. Messages
//! of a batch are worked concurrently, as the optimizer does, and held to the same connections
//! in flight (`budget::connection_budget`, 4 of the 6 an invocation may hold open on Cloudflare,
//! which queues the rest; local workerd enforces none, so without the bound this side would open
//! 32 at once, which no deployed consumer can). There is no ledger, no dedup, no timeout, no
//! retry: every message is acked. After each batch it logs one line
//! `bench-bare-consumer: done N failed F`, which the bench sums from wrangler's log to know
//! when a sweep of the bare side is complete.

use std::collections::HashMap;

use code24_shared::elite::{classify_response, EliteRequest, EliteRole, ELITE_CONTRACT_VERSION, OPTIMIZE_PATH};
use code24_shared::ids::rfc3339;
use code24_shared::names::binding;
use code24_shared::optimization::{optimization_key, OptimizationResult};
use code24_shared::pipeline::budget::{connection_budget, Slots};
use code24_shared::wire::OptimizeJob;
use futures::future::{join3, join_all};
use wasm_bindgen::JsValue;
use worker::{console_log, event, Context, Env, Fetcher, Headers, HttpMetadata, MessageBatch, MessageExt, Method, RequestInit};

/// The custom-metadata key the optimizer writes (`code24_runtime::results::JOB_ID_METADATA`).
const JOB_ID_METADATA: &str = "job-id";

/// The prefix of the per-batch log line the bench reads.
pub const DONE_LINE: &str = "bench-bare-consumer: done";

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(queue)]
async fn queue(batch: MessageBatch<JsValue>, env: Env, _ctx: Context) -> worker::Result<()> {
    let messages: Vec<_> = batch.raw_iter().collect();
    let (Ok(elite), Ok(bucket)) = (env.service(binding::ELITE_STANDIN), env.bucket(binding::RESULTS)) else {
        console_log!("{DONE_LINE} 0 failed {}", messages.len());
        batch.ack_all();
        return Ok(());
    };
    let slots = Slots::new(connection_budget());
    let outcomes = join_all(messages.iter().map(|m| work(m.body().as_string().unwrap_or_default(), &elite, &bucket, &slots))).await;
    let failed = outcomes.iter().filter(|o| o.is_err()).count();
    for m in &messages {
        m.ack();
    }
    console_log!("{DONE_LINE} {} failed {failed}", messages.len() - failed);
    Ok(())
}

/// One message: decode, three elite calls, one R2 put, each holding one of the invocation's
/// connection slots while it runs.
async fn work(body: String, elite: &Fetcher, bucket: &worker::Bucket, slots: &Slots) -> Result<(), String> {
    let job = OptimizeJob::decode(&body).map_err(|e| e.to_string())?;
    let request = |role| EliteRequest {
        v: ELITE_CONTRACT_VERSION,
        role,
        job_id: job.job_id.as_str().to_owned(),
        customer_id: job.customer_id.as_str().to_owned(),
        site_url: job.site_url.as_str().to_owned(),
        scheduled_at: rfc3339(job.scheduled),
        platform_context: None,
    };
    let (b, d, v) = join3(
        slots.run(|| call(elite, request(EliteRole::Brand))),
        slots.run(|| call(elite, request(EliteRole::Designer))),
        slots.run(|| call(elite, request(EliteRole::Developer))),
    )
    .await;
    let result = OptimizationResult::new(&job, 1, job.scheduled, [b?, d?, v?]);
    let bytes = serde_json::to_vec_pretty(&result).map_err(|e| e.to_string())?;
    let metadata = HashMap::from([(JOB_ID_METADATA.to_owned(), job.job_id.as_str().to_owned())]);
    let key = optimization_key(&job.customer_id, job.scheduled);
    let put = || {
        bucket
            .put(key, bytes)
            .http_metadata(HttpMetadata { content_type: Some("application/json".into()), ..HttpMetadata::default() })
            .custom_metadata(metadata)
            .execute()
    };
    slots.run(put).await.map_err(|e| e.to_string())?;
    Ok(())
}

async fn call(elite: &Fetcher, request: EliteRequest) -> Result<code24_shared::elite::EliteResponse, String> {
    let body = serde_json::to_string(&request).map_err(|e| e.to_string())?;
    let headers = Headers::new();
    headers.set("content-type", "application/json").map_err(|e| e.to_string())?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(headers).with_body(Some(body.into()));
    let mut response =
        elite.fetch(format!("https://{}.elite{OPTIMIZE_PATH}", request.role.as_str()), Some(init)).await.map_err(|e| e.to_string())?;
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    classify_response(request.role, response.status_code(), &bytes).map_err(|e| e.to_string())
}
