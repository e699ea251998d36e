//! The ledger Worker: hosts the `Ledger` Durable Object class, which keeps every sweep's
//! progress (the coordinator instance) and every job's claim and outcome, with the customers'
//! daily rollups (the job shards).
//! The decisions are `code24_shared::ledger`'s; this crate stores their rows in SQLite and
//! carries them out.
//!
//! Map of the crate:
//! - [`object`]: the Durable Object: routing, one transaction per request, the alarm.
//! - [`alarm`]: the one alarm's two timers (rollup flush, pruning).
//! - [`flush`]: copies dirty daily rollups to D1.
//! - [`routes`]: the local debug passage, as pure functions (the object's routes are the core's
//!   `code24_shared::ledger::route::Route`).
//! - [`sql_tables`]: the schema, the statement helpers and the `RunTable` implementation.
//! - [`shard_rows`]: a job shard's rows (`code24_shared::ledger::compact::ShardRows`), which
//!   the decisions reach through `code24_shared::ledger::compact::CompactJobTable`.
//! - [`shard`]: a job shard's routes written behind, with their journal
//!   (`code24_shared::ledger::journal`): decided, journaled, folded, run again after a restart.
//! - [`transaction`]: `transactionSync`, which 0.8.7 does not bind.
//! - [`usage`]: rows read and written, as workerd counts what Cloudflare bills (`Route::Stats`).
//! - [`coordinator`]: progress reads and fan-in requests, which gather every shard's counters.
//! - [`prune`]: what the hourly alarm deletes.
//! - [`body`]: decoding a route's JSON body, with a 400-worthy message.
//! - [`breakers`]: the `breakers` instance's row (the elite circuit breakers) in SQLite.
//! - this file: the Worker's own `fetch`, which serves nothing but the local debug passage.
//!
//! Architecture invariant: no ledger decision is made here; every branch about sweeps and
//! jobs is in `code24_shared::ledger`, which the simulation runs over in-memory tables.

mod alarm;
mod body;
mod breakers;
mod coordinator;
mod flush;
mod object;
mod prune;
mod routes;
mod shard;
mod shard_rows;
mod sql_tables;
mod transaction;
mod usage;

use worker::{event, Context, Env, Method, Request, Response, Result};

use code24_runtime::env::vars;
use code24_runtime::http;
use code24_runtime::ledger_client::DurableLedger;
use code24_shared::config::environment;

pub use object::Ledger;

/// The ledger Worker's own `fetch`. The class is meant to be reached through the `LEDGER`
/// binding only, so everything is a 404 — except, when `ENVIRONMENT` is `local`, the debug
/// passage `POST /debug/{object}/{route}`, which forwards the body to that route of that
/// instance (e.g. `/debug/jobs-3/jobs/claim`) so a developer can curl the ledger on local
/// workerd. Deployed environments never set `ENVIRONMENT = "local"`, so there it is a 404 too.
#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> Result<Response> {
    console_error_panic_hook::set_once();
    let path = req.path();
    let deployed_as = environment(&vars(&env)).ok();
    if let Some((object, route)) = routes::debug_passage(deployed_as, req.method() == Method::Post, &path) {
        let body = req.text().await?;
        return DurableLedger::from_env(&env)?.forward(object, route, &body).await;
    }
    http::error(404, "the ledger Worker serves no routes: its Durable Object is reached through the LEDGER binding")
}
