//! The `Ledger` Durable Object: decodes a route's JSON body, runs the shared decision over the
//! SQLite tables in one transaction, and answers JSON. Its one alarm folds a job shard's rows
//! written behind, flushes dirty rollups to D1 within `ROLLUP_FLUSH_SECONDS` of the request
//! that dirtied them (an hour deployed, 30 s locally) and prunes hourly while there is data
//! ([`crate::alarm`]).
//!
//! One class, two kinds of instance, told apart only by the routes their callers use: the
//! sweep coordinator ([`code24_shared::ledger::RUNS_OBJECT`]) and the job shards
//! ([`code24_shared::ledger::shard_object`]).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use worker::{
    console_error, console_log, durable_object, DurableObject, Env, Method, Request, Response, Result, SqlStorage, State, Storage,
};

use code24_runtime::env::{now_ms, vars};
use code24_runtime::http;
use code24_runtime::meter::Meter;
use code24_shared::config::LedgerConfig;
use code24_shared::ids::from_epoch_ms;
use code24_shared::ledger::journal::Shard;
use code24_shared::ledger::runs::{self, RunTable};
use code24_shared::ledger::stats::{LedgerStats, Rows, ROWS_LOG};
use code24_shared::ledger::{
    CountsRequest, FanoutDone, FinalizeRequest, JobRequest, OpenRun, PageDone, ProgressRequest, RecentRequest, RunProgress, RunRow,
    StoreError,
};

use crate::alarm::{early_enough, prune_at, prune_due, ring_at, set_prune_at};
use crate::body::decode;
use crate::breakers;
use crate::coordinator::{progress_of, run_counts};
use crate::flush::{any_dirty, flush, state as flush_state, Flushed};
use crate::prune::{self, prune_d1, PRUNE_INTERVAL_MS};
use crate::shard;
use crate::sql_tables::{create_schema, SqlRunTable};
use crate::transaction::atomically;
use crate::usage::measured;
use code24_shared::ledger::route::Route;

#[durable_object(alarm)]
pub struct Ledger {
    /// Storage (SQLite and the alarm).
    state: State,
    /// The `LEDGER` binding (the coordinator calls the shards) and the retention variable.
    env: Env,
    /// Whether the schema could be created when the instance started. `new` cannot fail, so a
    /// failure is kept here and answered as a 500 on every request instead of a crash.
    schema: std::result::Result<(), StoreError>,
    /// When the alarm this instance last saw (or set) pending rings, so most writes skip the
    /// `get_alarm` round trip. Cleared when the alarm rings.
    alarm_at: Cell<Option<i64>>,
    /// Requests, rows read and rows written since the instance started, per route and for the
    /// alarm (`Route::Stats`): kept in memory, since writing them would be billed too.
    stats: RefCell<LedgerStats>,
    /// Whether `ENVIRONMENT` is `local`: then every charge is also logged (`ledger rows: ...`),
    /// because local workerd evicts an idle instance after about ten seconds, and its
    /// counters with it; the bench adds the lines up.
    log_rows: bool,
    /// Whether a request wrote a rollup (set by [`shard::run`]): looking for dirty rows after
    /// every request would read the whole table, which has no index of dirty rows any more.
    dirtied: Cell<bool>,
    /// A job shard's rows not folded yet and where its journal stands ([`crate::shard`]).
    shard: Rc<RefCell<Shard>>,
    /// The `breakers` instance's breakers, window counters included ([`breakers::Held`]).
    breakers: breakers::Held,
}

impl DurableObject for Ledger {
    fn new(state: State, env: Env) -> Self {
        console_error_panic_hook::set_once();
        let (sql, retention) = (state.storage().sql(), retention_hours(&env));
        let (schema, shard) = match create_schema(&sql, now_ms()).and_then(|()| shard::recover(&sql, retention)) {
            Ok(shard) => (Ok(()), shard),
            Err(e) => (Err(e), Shard::default()),
        };
        if let Err(e) = &schema {
            console_error!("ledger: cannot create the schema or run the journal again: {e}");
        }
        let stats = RefCell::new(LedgerStats { since_ms: now_ms(), ..LedgerStats::default() });
        let log_rows = code24_shared::config::environment(&vars(&env)) == Ok(code24_shared::names::Environment::Local);
        let shard = Rc::new(RefCell::new(shard));
        Self { state, env, schema, alarm_at: Cell::new(None), stats, log_rows, dirtied: Cell::new(false), shard, breakers: Rc::default() }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        let Some(route) = Route::parse(&path) else {
            return http::error(404, format!("no ledger route {path}"));
        };
        let method = if route.is_get() { Method::Get } else { Method::Post };
        if req.method() != method {
            return http::error(405, format!("{path} takes {method}, not {}", req.method()));
        }
        if let Err(e) = &self.schema {
            return http::error(500, e.to_string());
        }
        let body = req.bytes().await?;
        self.stats.borrow_mut().record(route.path(), Rows::default());
        let response = self.handle(route, &body).await?;
        if route.writes() && response.status_code() == 200 {
            // Set by any request that wrote a rollup since a request last looked: the flush it
            // plans covers every dirty rollup, whichever request's they are.
            let dirty = route.rolls_up() && self.dirtied.replace(false);
            self.ensure_alarm(route.path(), dirty).await;
        }
        Ok(response)
    }

    /// Flushes dirty rollups, prunes when that is due, and sets the alarm again for whichever
    /// of the two comes next. A failed flush is logged and retried by that next alarm; a failed
    /// prune fails the alarm, which the runtime retries with backoff.
    async fn alarm(&self) -> Result<Response> {
        self.alarm_at.set(None);
        if let Err(e) = &self.schema {
            console_error!("ledger: alarm does nothing, no schema: {e}");
            return Response::ok("nothing done: no schema");
        }
        let storage = self.state.storage();
        let sql = storage.sql();
        let now = now_ms();
        let meter = Meter::new("ledger", "alarm");
        self.stats.borrow_mut().record(ALARM, Rows::default());
        // The flush and the pruning read the tables: the overlay goes into them first. Without
        // the fold a flush would copy older rollups and record D1 as current: none, until the
        // next alarm, an interval later, folds.
        let flushed = match self.charged(ALARM, || shard::fold(&storage, &self.shard)) {
            Ok(()) => flush(&self.env, &storage, now, &meter).await,
            Err(e) => Flushed { failed: Some(format!("cannot fold the journal: {e}")), ..Flushed::default() },
        };
        self.charge(ALARM, flushed.cost);
        meter.log_figures();
        match &flushed.failed {
            Some(e) => console_error!("ledger: rollup flush stopped after {} rows, retried at the next alarm: {e}", flushed.rows),
            None if flushed.rows > 0 => console_log!("ledger: flushed {} rollups to D1", flushed.rows),
            None => {}
        }
        let mut next_prune = self.charged(ALARM, || prune_at(&sql)).map_err(storage_error)?;
        if prune_due(next_prune, now) {
            next_prune = self.prune_now(&storage, now)?;
            self.charged(ALARM, || set_prune_at(&sql, next_prune)).map_err(storage_error)?;
            prune_d1(&self.env, now, &meter).await;
        }
        let pending = self.shard.borrow().pending_rollups() > 0;
        let flush_at = match pending || self.charged(ALARM, || any_dirty(&sql)).map_err(storage_error)? {
            false => None,
            // More than one flush takes, and D1 is answering: go on at once.
            true if flushed.capped && flushed.failed.is_none() => Some(now),
            true => Some(now + self.config().rollup_flush_ms()),
        };
        if let Some(at) = ring_at(next_prune, flush_at) {
            self.arm_by(at, now).await?;
        }
        Response::ok("done")
    }
}

impl Ledger {
    async fn handle(&self, route: Route, body: &[u8]) -> Result<Response> {
        match route {
            Route::OpenRun => self.transact(route, body, |sql, r: OpenRun| runs::open(&mut SqlRunTable::new(sql), &r)),
            Route::RecordPage => self.transact(route, body, |sql, r: PageDone| runs::record_page(&mut SqlRunTable::new(sql), &r)),
            Route::FinishFanout => self.transact(route, body, |sql, r: FanoutDone| runs::finish_fanout(&mut SqlRunTable::new(sql), &r)),
            Route::Claim | Route::Complete | Route::Settle | Route::Head => self.shard_write(route, body),
            Route::Counts => {
                let held = Rc::clone(&self.shard);
                self.transact(route, body, move |sql, r: CountsRequest| shard::counts(sql, &held.borrow(), &r.run_ids))
            }
            Route::Job => {
                let held = Rc::clone(&self.shard);
                self.transact(route, body, move |sql, r: JobRequest| shard::job(sql, &held.borrow(), &r.job_id))
            }
            Route::Stats => {
                let (sql, interval_s) = (self.state.storage().sql(), self.config().rollup_flush_s);
                let rollups = flush_state(&sql, interval_s, &self.shard.borrow()).inspect_err(|e| console_error!("ledger: {e}")).ok();
                let mut stats = LedgerStats { database_bytes: sql.database_size() as u64, rollups, ..self.stats.borrow().clone() };
                (stats.journal_entries, stats.journal_bytes) = shard::journal_size(&sql).unwrap_or_default();
                http::json(200, &stats)
            }
            Route::BreakerGate => self.transact(route, body, breakers::gate(Rc::clone(&self.breakers))),
            Route::BreakerReport => self.transact(route, body, breakers::report(Rc::clone(&self.breakers))),
            Route::Breakers => match breakers::view(self.state.storage().sql(), &self.breakers, now_ms()) {
                Ok(view) => http::json(200, &view),
                Err(e) => http::error(500, e.to_string()),
            },
            Route::Progress => {
                let read = |t: &SqlRunTable, r: ProgressRequest| Ok(t.run(&r.run_id)?.into_iter().collect());
                self.progress_read(route, body, read, |mut all| http::json(200, &all.pop())).await
            }
            Route::Recent => {
                let read = |t: &SqlRunTable, r: RecentRequest| t.recent(r.limit);
                self.progress_read(route, body, read, |all| http::json(200, &all)).await
            }
            Route::Finalize => {
                let request: FinalizeRequest = match decode(route, body) {
                    Ok(request) => request,
                    Err(message) => return http::error(400, message),
                };
                // The shards' counters first (awaited), then the decision and its record in
                // one transaction: two requests that both see the run complete are decided
                // one after the other, and only the first is answered `Enqueue`.
                let shards = match run_counts(&self.env, &request.run_id).await {
                    Ok(shards) => shards,
                    Err(e) => return http::error(502, format!("cannot read the job shards: {}", e.message)),
                };
                let sql = self.state.storage().sql();
                let decided = self.charged(route.path(), || {
                    atomically(&self.state.storage(), move || runs::request_finalize(&mut SqlRunTable::new(sql), &request, &shards))
                });
                match decided {
                    Ok(decision) => http::json(200, &decision),
                    Err(e) => http::error(500, e.to_string()),
                }
            }
        }
    }

    /// A job shard's write route: decided and journaled in one transaction (see [`shard::run`]).
    fn shard_write(&self, route: Route, body: &[u8]) -> Result<Response> {
        let write = match shard::write_of(route, body) {
            Some(Ok(write)) => write,
            Some(Err(message)) => return http::error(400, message),
            None => return http::error(404, format!("{} is not a job shard's write", route.path())),
        };
        let storage = self.state.storage();
        match self.charged(route.path(), || shard::run(&storage, &self.shard, retention_hours(&self.env), write, &self.dirtied)) {
            Ok(answer) => http::json(200, &answer),
            Err(e) => http::error(500, e.to_string()),
        }
    }

    /// Decodes the body as `Req`, runs `decision` in one SQLite transaction and answers its
    /// result as JSON: 400 for a bad body, 500 for a storage failure (nothing written then).
    fn transact<Req, Resp>(
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
        match self.charged(route.path(), || atomically(&storage, move || decision(sql, request))) {
            Ok(answer) => http::json(200, &answer),
            Err(e) => http::error(500, e.to_string()),
        }
    }

    /// Decodes the body as `Req`, reads the run rows it asks for with `read`, and answers
    /// their progress through `answer`. The rows are read outside a transaction: the shards'
    /// counters are read later anyway, so the answer is a snapshot of moving parts either way.
    /// A shard that cannot be read fails the whole read with 502.
    async fn progress_read<Req: DeserializeOwned>(
        &self,
        route: Route,
        body: &[u8],
        read: impl FnOnce(&SqlRunTable, Req) -> std::result::Result<Vec<RunRow>, StoreError>,
        answer: impl FnOnce(Vec<RunProgress>) -> Result<Response>,
    ) -> Result<Response> {
        let request: Req = match decode(route, body) {
            Ok(request) => request,
            Err(message) => return http::error(400, message),
        };
        let rows = match self.charged(route.path(), || read(&SqlRunTable::new(self.state.storage().sql()), request)) {
            Ok(rows) => rows,
            Err(e) => return http::error(500, e.to_string()),
        };
        match progress_of(&self.env, &self.state.storage(), rows).await {
            Ok(all) => answer(all),
            Err(e) => http::error(502, format!("cannot read the job shards: {}", e.message)),
        }
    }

    /// The ledger's variables; when one is unreadable, the defaults (and the error logged; the
    /// configuration check refuses such a value before a deploy).
    fn config(&self) -> LedgerConfig {
        LedgerConfig::from_vars(&vars(&self.env)).unwrap_or_else(|e| {
            console_error!("ledger: {e}; using the defaults");
            LedgerConfig { retention_hours: LedgerConfig::MIN_RETENTION_HOURS, rollup_flush_s: LedgerConfig::DEFAULT_ROLLUP_FLUSH_S }
        })
    }

    /// Prunes what is older than the retention (`prune::run`); returns when to prune next.
    fn prune_now(&self, storage: &Storage, now: i64) -> Result<Option<i64>> {
        let (next, rows) = prune::run(storage, LedgerConfig::from_vars(&vars(&self.env)), now);
        self.charge(ALARM, rows);
        next.map_err(storage_error)
    }

    /// After a write: makes sure the alarm rings by the planned pruning (planning one an hour
    /// from now if none is), and within the rollup flush delay when rollups are `dirty`. A failure
    /// is logged, not answered: the write it follows is already committed.
    async fn ensure_alarm(&self, route: &str, dirty: bool) {
        let now = now_ms();
        let flush_by = now + self.config().rollup_flush_ms();
        if let Some(at) = self.alarm_at.get().filter(|at| *at > now) {
            if !dirty || at <= flush_by {
                return;
            }
        }
        let sql = self.state.storage().sql();
        let prune = self.charged(route, || match prune_at(&sql) {
            Ok(Some(at)) => Ok(at),
            Ok(None) => set_prune_at(&sql, Some(now + PRUNE_INTERVAL_MS)).map(|()| now + PRUNE_INTERVAL_MS),
            Err(e) => Err(e),
        });
        let armed = match prune {
            Ok(prune) => self.arm_by(ring_at(Some(prune), dirty.then_some(flush_by)).unwrap_or(prune), now).await,
            Err(e) => Err(storage_error(e)),
        };
        if let Err(e) = armed {
            console_error!("ledger: cannot set the alarm: {e}");
        }
    }

    /// Runs synchronous storage work and charges the rows it read and wrote to `route`.
    fn charged<T>(&self, route: &str, work: impl FnOnce() -> T) -> T {
        let (out, rows) = measured(work);
        self.charge(route, rows);
        out
    }

    /// Adds `rows` to `route`'s stats (and, locally, logs them).
    fn charge(&self, route: &str, rows: Rows) {
        self.stats.borrow_mut().charge(route, rows);
        if self.log_rows && rows != Rows::default() {
            console_log!("{ROWS_LOG}{route} read {} written {}", rows.read, rows.written);
        }
    }

    /// Sets the alarm to ring at `at`, unless a pending one rings earlier. A pending time not
    /// after `now` is an alarm ringing (or about to): it does not count as pending.
    async fn arm_by(&self, at: i64, now: i64) -> Result<()> {
        let storage = self.state.storage();
        let pending = storage.get_alarm().await?.filter(|p| *p > now);
        if early_enough(pending, at) {
            self.alarm_at.set(pending);
            return Ok(());
        }
        let when = from_epoch_ms(at).ok_or_else(|| worker::Error::RustError(format!("alarm time {at} is out of range")))?;
        storage.set_alarm(when).await?;
        self.alarm_at.set(Some(at));
        Ok(())
    }
}

/// The job retention (`SWEEP_RETENTION_HOURS`), which is also how long a lane remembers its
/// succeeded jobs; the shortest allowed when the variable is unreadable (the pruning then
/// keeps everything and logs why).
fn retention_hours(env: &Env) -> u32 {
    LedgerConfig::from_vars(&vars(env)).map_or(LedgerConfig::MIN_RETENTION_HOURS, |c| c.retention_hours)
}

/// The alarm's line in [`LedgerStats`].
const ALARM: &str = "alarm";

fn storage_error(e: StoreError) -> worker::Error {
    worker::Error::RustError(e.to_string())
}
