//! The `Ledger` Durable Object: decodes a route's JSON body, runs the shared decision over the
//! SQLite tables in one transaction, and answers JSON. It also keeps the hourly pruning alarm
//! armed while there is data, and prunes when it rings.
//!
//! One class, two kinds of instance, told apart only by the routes their callers use: the
//! sweep coordinator ([`code24_shared::ledger::SWEEPS_OBJECT`]) and the job shards
//! ([`code24_shared::ledger::shard_object`]).

use std::cell::Cell;

use serde::de::DeserializeOwned;
use serde::Serialize;
use worker::{
    console_error, console_log, durable_object, DurableObject, Env, Method, Request, Response, Result, SqlStorage,
    State,
};

use code24_runtime::env::{now_ms, vars};
use code24_runtime::http;
use code24_shared::config::LedgerConfig;
use code24_shared::ledger::jobs::{self, JobTable};
use code24_shared::ledger::sweeps::{self, SweepTable};
use code24_shared::ledger::{
    ClaimRequest, CompleteRequest, CountsRequest, FanoutDone, JobRequest, OpenSweep, PageDone, ProgressRequest, SettleRequest,
    RecentRequest, StoreError, SweepProgress, SweepRow,
};

use crate::body::decode;
use crate::coordinator::progress_of;
use crate::prune::{anything_left, cutoff_ms, prune, PRUNE_INTERVAL_MS};
use crate::routes::Route;
use crate::sql_tables::{create_schema, SqlJobTable, SqlSweepTable};
use crate::transaction::atomically;

#[durable_object(alarm)]
pub struct Ledger {
    /// Storage (SQLite and the alarm).
    state: State,
    /// The `LEDGER` binding (the coordinator calls the shards) and the retention variable.
    env: Env,
    /// Whether the schema could be created when the instance started. `new` cannot fail, so a
    /// failure is kept here and answered as a 500 on every request instead of a crash.
    schema: std::result::Result<(), StoreError>,
    /// Set once this instance has seen (or set) a pending alarm, so most writes skip the
    /// `get_alarm` round trip. Cleared when the alarm rings.
    alarm_armed: Cell<bool>,
}

impl DurableObject for Ledger {
    fn new(state: State, env: Env) -> Self {
        console_error_panic_hook::set_once();
        let schema = create_schema(&state.storage().sql());
        if let Err(e) = &schema {
            console_error!("ledger: cannot create the schema: {e}");
        }
        Self { state, env, schema, alarm_armed: Cell::new(false) }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        let Some(route) = Route::parse(&path) else {
            return http::error(404, format!("no ledger route {path}"));
        };
        if req.method() != Method::Post {
            return http::error(405, format!("{path} takes POST, not {}", req.method()));
        }
        if let Err(e) = &self.schema {
            return http::error(500, e.to_string());
        }
        let body = req.bytes().await?;
        let response = self.handle(route, &body).await?;
        if route.writes() && response.status_code() == 200 {
            self.ensure_alarm().await;
        }
        Ok(response)
    }

    async fn alarm(&self) -> Result<Response> {
        self.alarm_armed.set(false);
        if let Err(e) = &self.schema {
            console_error!("ledger: not pruning, no schema: {e}");
            return Response::ok("not pruned: no schema");
        }
        let config = LedgerConfig::from_vars(&vars(&self.env));
        let config = match config {
            Ok(config) => config,
            Err(e) => {
                // Pruning nothing is the safe reading of a bad retention: data is kept, and
                // the next write arms the alarm again, which logs this again.
                console_error!("ledger: not pruning: {e}");
                return Response::ok("not pruned: bad configuration");
            }
        };
        let storage = self.state.storage();
        let sql = storage.sql();
        let cutoff = cutoff_ms(now_ms(), config.retention_hours);
        let pruned = {
            let sql = sql.clone();
            // An error makes the runtime retry the alarm, with backoff.
            atomically(&storage, move || prune(&sql, cutoff)).map_err(|e| worker::Error::RustError(e.to_string()))?
        };
        console_log!(
            "ledger: pruned {} sweeps, {} jobs, {} counters scheduled before {cutoff}",
            pruned.sweeps,
            pruned.jobs,
            pruned.counts
        );
        if anything_left(&sql).map_err(|e| worker::Error::RustError(e.to_string()))? {
            storage.set_alarm(PRUNE_INTERVAL_MS).await?;
            self.alarm_armed.set(true);
        }
        Response::ok("pruned")
    }
}

impl Ledger {
    async fn handle(&self, route: Route, body: &[u8]) -> Result<Response> {
        match route {
            Route::OpenSweep => {
                self.decide(route, body, |sql, r: OpenSweep| sweeps::open(&mut SqlSweepTable::new(sql), &r))
            }
            Route::RecordPage => {
                self.decide(route, body, |sql, r: PageDone| sweeps::record_page(&mut SqlSweepTable::new(sql), &r))
            }
            Route::FinishFanout => {
                self.decide(route, body, |sql, r: FanoutDone| sweeps::finish_fanout(&mut SqlSweepTable::new(sql), &r))
            }
            Route::Claim => {
                self.decide(route, body, |sql, r: ClaimRequest| jobs::claim_batch(&mut SqlJobTable::new(sql), &r))
            }
            Route::Complete => {
                self.decide(route, body, |sql, r: CompleteRequest| jobs::complete_batch(&mut SqlJobTable::new(sql), &r))
            }
            Route::Settle => self.decide(route, body, |sql, r: SettleRequest| jobs::settle(&mut SqlJobTable::new(sql), &r)),
            Route::Counts => self.decide(route, body, |sql, r: CountsRequest| {
                let table = SqlJobTable::new(sql);
                r.sweep_ids.iter().map(|id| table.counts(id)).collect::<std::result::Result<Vec<_>, _>>()
            }),
            Route::Job => self.decide(route, body, |sql, r: JobRequest| SqlJobTable::new(sql).job(&r.job_id)),
            Route::Progress => {
                let read = |t: &SqlSweepTable, r: ProgressRequest| Ok(t.sweep(&r.sweep_id)?.into_iter().collect());
                self.progress_read(route, body, read, |mut all| http::json(200, &all.pop())).await
            }
            Route::Recent => {
                let read = |t: &SqlSweepTable, r: RecentRequest| t.recent(r.limit);
                self.progress_read(route, body, read, |all| http::json(200, &all)).await
            }
        }
    }

    /// Decodes the body as `Req`, runs `decision` in one SQLite transaction and answers its
    /// result as JSON: 400 for a bad body, 500 for a storage failure (nothing written then).
    fn decide<Req, Resp>(
        &self,
        route: Route,
        body: &[u8],
        decision: impl FnOnce(SqlStorage, Req) -> std::result::Result<Resp, StoreError> + 'static,
    ) -> Result<Response>
    where
        Req: DeserializeOwned + 'static,
        Resp: Serialize + 'static,
    {
        let request: Req = match decode(route, body) {
            Ok(request) => request,
            Err(message) => return http::error(400, message),
        };
        let storage = self.state.storage();
        let sql = storage.sql();
        match atomically(&storage, move || decision(sql, request)) {
            Ok(answer) => http::json(200, &answer),
            Err(e) => http::error(500, e.to_string()),
        }
    }

    /// Decodes the body as `Req`, reads the sweep rows it asks for with `read`, and answers
    /// their progress through `answer`. The rows are read outside a transaction: the shards'
    /// counters are read later anyway, so the answer is a snapshot of moving parts either way.
    /// A shard that cannot be read fails the whole read with 502.
    async fn progress_read<Req: DeserializeOwned>(
        &self,
        route: Route,
        body: &[u8],
        read: impl FnOnce(&SqlSweepTable, Req) -> std::result::Result<Vec<SweepRow>, StoreError>,
        answer: impl FnOnce(Vec<SweepProgress>) -> Result<Response>,
    ) -> Result<Response> {
        let request: Req = match decode(route, body) {
            Ok(request) => request,
            Err(message) => return http::error(400, message),
        };
        let rows = match read(&SqlSweepTable::new(self.state.storage().sql()), request) {
            Ok(rows) => rows,
            Err(e) => return http::error(500, e.to_string()),
        };
        match progress_of(&self.env, &self.state.storage(), rows).await {
            Ok(all) => answer(all),
            Err(e) => http::error(502, format!("cannot read the job shards: {}", e.message)),
        }
    }

    /// Makes sure the pruning alarm is pending, without moving one that already is (a busy
    /// ledger would otherwise push its alarm forward forever). A failure is logged, not
    /// answered: the write it follows is already committed.
    async fn ensure_alarm(&self) {
        if self.alarm_armed.get() {
            return;
        }
        let storage = self.state.storage();
        let armed = async {
            if storage.get_alarm().await?.is_none() {
                storage.set_alarm(PRUNE_INTERVAL_MS).await?;
            }
            Ok::<_, worker::Error>(())
        }
        .await;
        match armed {
            Ok(()) => self.alarm_armed.set(true),
            Err(e) => console_error!("ledger: cannot arm the pruning alarm: {e}"),
        }
    }
}
