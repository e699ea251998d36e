//! `POST /api/canary`: starts the post-deploy canary, one optimization run over the canary
//! sites only (`code24_shared::canary`: reserved ids, registered inactive), through the same
//! fan-out, queue, optimizer, elite workers, R2 and ledger as a sweep. Answers 202 with the
//! run id and each site's result key (`canary::Started`); 409 when no canary site is
//! registered. The caller (`cargo xtask canary`) follows the run with `GET /api/sweeps/{id}`
//! and reads the results back with `GET /api/results/{key}`.

use std::cell::RefCell;

use code24_runtime::canary::CanarySites;
use code24_runtime::env::{now_ms, token, vars, WorkerClock};
use code24_runtime::http::{error, json};
use code24_runtime::ledger_client::DurableLedger;
use code24_runtime::queue::TextQueue;
use code24_shared::canary::{self, Started};
use code24_shared::config::{self, ProducerConfig};
use code24_shared::ids::{from_epoch_ms, CustomerId};
use code24_shared::names::{binding, OPTIMIZE_QUEUE};
use code24_shared::pipeline::producer::{Producer, Run};
use code24_shared::ports::SiteRegistry;
use code24_shared::schedule::Task;
use code24_shared::site::Site;
use code24_shared::wire::OptimizeJob;
use worker::Response;

use super::Call;

pub(super) async fn start(call: &Call<'_>) -> worker::Result<Response> {
    let environment = match config::environment(&vars(call.env)) {
        Ok(e) => e,
        Err(e) => return error(500, e.to_string()),
    };
    // To the second, as run ids and result keys are.
    let now = now_ms();
    let Some(at) = from_epoch_ms(now - now.rem_euclid(1_000)) else { return error(500, "the clock is out of range") };
    let sites = CanarySites::new(call.env.d1(binding::DB)?);
    match sites.count_active().await {
        Ok(0) => {
            return error(
                409,
                format!(
                    "no canary site is registered: register {} (customer ids {}N, inactive) first; `cargo xtask canary` does",
                    canary::SITES,
                    canary::PREFIX
                ),
            )
        }
        Ok(_) => {}
        Err(e) => return error(502, e.message),
    }
    let run_id = canary::run_id(environment.as_str(), at);
    let run = Run {
        run_id: run_id.as_str().to_owned(),
        task: Task::Canary,
        scheduled_ms: at.timestamp_millis(),
        owner: token(),
        work_fronts: Vec::new(),
        unread_shards: 0,
    };
    let queue = TextQueue::new(call.env.queue(binding::OPTIMIZE_QUEUE)?, OPTIMIZE_QUEUE);
    let ledger = DurableLedger::from_env(call.env)?;
    let config = match ProducerConfig::from_vars(&vars(call.env)) {
        Ok(c) => c,
        Err(e) => return error(500, e.to_string()),
    };
    let producer = Producer { registry: &sites, queue: &queue, ledger: &ledger, clock: &WorkerClock, config: &config };
    let sent: RefCell<Vec<CustomerId>> = RefCell::default();
    let message = |s: Site| {
        sent.borrow_mut().push(s.customer_id.clone());
        Some(OptimizeJob::new(run_id.clone(), at, s.customer_id, s.url).encode())
    };
    match producer.fan_out_sites(&run, &message).await {
        Ok(report) => json(202, &Started::new(&run_id, at, report.sent, &sent.borrow())),
        Err(e) => error(502, format!("canary run {run_id}: {}", e.message)),
    }
}
