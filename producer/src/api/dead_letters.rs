//! The dead-letter store's admin routes: list with filters and cursor pages, show one entry
//! with what became of its job, replay (the original job, for its original sweep, marked as a
//! replay so no newer sweep supersedes it), and purge. Replay and purge take ids or a filter,
//! honour `dry_run` and a limit, and answer what they did and what they skipped and why.

use code24_runtime::env::vars;
use code24_runtime::http::{error, json};
use code24_runtime::ledger_client::DurableLedger;
use code24_runtime::queue::TextQueue;
use code24_shared::api::truncated;
use code24_shared::breaker::replay::Outage;
use code24_shared::config;
use code24_shared::dead_letters::query::{
    Cursor, DeadLetterDetail, DeadLetterEntry, DeadLetterFilter, DeadLetterPage, DeadLetterStatus, SqlParam,
};
use code24_shared::dead_letters::record::{valid_entry_id, StoreStats};
use code24_shared::dead_letters::selection::{plan_replay, PlannedReplay, Selection, SelectionOutcome, Skipped};
use code24_shared::error::ErrorClass;
use code24_shared::ledger::JobClaim;
use code24_shared::names::{binding, OPTIMIZE_QUEUE};
use code24_shared::optimization::optimization_key;
use code24_shared::wire::OptimizeJob;
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, Request, Response};

use super::{body_text, Call};

/// D1 accepts at most 100 bound parameters per statement; id lists are chunked below that.
const IDS_PER_STATEMENT: usize = 90;
const COLUMNS: &str = "id, origin_queue, job_id, sweep_id, customer_id, error_class, error_message, attempts, \
                       first_failed_ms, last_failed_ms, status, replay_count, replayed_ms";

/// A row as D1 returns it: every number is a JS number.
#[derive(Deserialize)]
struct Row {
    id: String,
    origin_queue: String,
    job_id: Option<String>,
    /// The run's id: the D1 column keeps its first name (see `code24_shared::ids::RunId`).
    #[serde(rename = "sweep_id")]
    run_id: Option<String>,
    customer_id: Option<String>,
    error_class: String,
    error_message: String,
    attempts: f64,
    first_failed_ms: f64,
    last_failed_ms: f64,
    status: String,
    replay_count: f64,
    replayed_ms: Option<f64>,
    #[serde(default)]
    body: Option<String>,
}

impl From<Row> for DeadLetterEntry {
    fn from(r: Row) -> Self {
        Self {
            id: r.id,
            origin_queue: r.origin_queue,
            job_id: r.job_id,
            run_id: r.run_id,
            customer_id: r.customer_id,
            error_class: r.error_class,
            error_message: r.error_message,
            attempts: r.attempts as u32,
            first_failed_ms: r.first_failed_ms as i64,
            last_failed_ms: r.last_failed_ms as i64,
            status: r.status,
            replay_count: r.replay_count as u32,
            replayed_ms: r.replayed_ms.map(|v| v as i64),
            body: r.body,
        }
    }
}

fn js(p: &SqlParam) -> JsValue {
    match p {
        SqlParam::Text(s) => JsValue::from_str(s),
        SqlParam::Int(i) => JsValue::from_f64(*i as f64),
    }
}

async fn store_stats(db: &D1Database, warn_at: u64) -> worker::Result<StoreStats> {
    #[derive(Deserialize)]
    struct Count {
        n: f64,
    }
    let rows = db.prepare("SELECT COUNT(*) AS n FROM dead_letters").all().await?.results::<Count>()?;
    Ok(StoreStats::new(rows.first().map_or(0, |c| c.n as u64), warn_at))
}

pub(super) async fn list(call: &Call<'_>) -> worker::Result<Response> {
    let pairs: Vec<(String, String)> = call.url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let filter = match DeadLetterFilter::from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), &["limit", "cursor"]) {
        Ok(f) => f,
        Err(e) => return error(400, e),
    };
    let limit = match call.limit() {
        Ok(l) => l,
        Err(e) => return error(400, e),
    };
    let cursor = match call.query("cursor").map(|c| Cursor::decode(&c)).transpose() {
        Ok(c) => c,
        Err(e) => return error(400, e),
    };
    // Read as the dead-letters consumer reads it: a malformed value is an error that names it
    // (and `config-check` refuses it before a deploy), never silently a default.
    let warn_at = match config::dead_letter_warn_rows(&vars(call.env)) {
        Ok(warn_at) => warn_at,
        Err(e) => return error(500, e.to_string()),
    };
    let (mut sql, params) = filter.where_sql();
    let mut params: Vec<JsValue> = params.iter().map(js).collect();
    if let Some(c) = &cursor {
        let (ms, id) = (params.len() + 1, params.len() + 2);
        sql.push_str(&format!(" AND (last_failed_ms < ?{ms} OR (last_failed_ms = ?{ms} AND id < ?{id}))"));
        params.push(JsValue::from_f64(c.last_failed_ms as f64));
        params.push(JsValue::from_str(&c.id));
    }
    params.push(JsValue::from_f64(f64::from(limit) + 1.0));
    let query = format!("SELECT {COLUMNS} FROM dead_letters WHERE {sql} ORDER BY last_failed_ms DESC, id DESC LIMIT ?{}", params.len());
    let db = call.env.d1(binding::DB)?;
    let mut entries: Vec<DeadLetterEntry> =
        db.prepare(query).bind(&params)?.all().await?.results::<Row>()?.into_iter().map(Into::into).collect();
    // One row more than the page tells whether another page follows.
    let next_cursor = (entries.len() > limit as usize).then(|| {
        entries.truncate(limit as usize);
        let last = entries.last().expect("a full page");
        Cursor { last_failed_ms: last.last_failed_ms, id: last.id.clone() }.encode()
    });
    json(200, &DeadLetterPage { dead_letters: entries, next_cursor, store: store_stats(&db, warn_at).await? })
}

pub(super) async fn show(call: &Call<'_>, id: &str) -> worker::Result<Response> {
    if !valid_entry_id(id) {
        return error(400, format!("{:?} is not a dead-letter id", truncated(id, 80)));
    }
    let db = call.env.d1(binding::DB)?;
    let rows =
        db.prepare(format!("SELECT {COLUMNS}, body FROM dead_letters WHERE id = ?1")).bind(&[id.into()])?.all().await?.results::<Row>()?;
    let Some(row) = rows.into_iter().next() else { return error(404, format!("no dead letter {id}")) };
    let entry = DeadLetterEntry::from(row);
    let job = entry.body.as_deref().and_then(|b| OptimizeJob::decode(b).ok());
    let result_key = job.as_ref().map(|j| optimization_key(&j.customer_id, j.scheduled));
    let job_state = match &job {
        Some(j) => DurableLedger::from_env(call.env)?
            .job(JobClaim::of(j).shard(), j.job_id.as_str())
            .await
            .ok()
            .flatten()
            .map(|row| row.state.as_str().to_owned()),
        None => None,
    };
    json(200, &DeadLetterDetail { entry, job_state, result_key })
}

/// The (id, status, body) of the entries a selection takes, and the ids it named that do
/// not exist.
async fn select(db: &D1Database, selection: &Selection) -> worker::Result<(Vec<(String, String, String)>, Vec<Skipped>)> {
    #[derive(Deserialize)]
    struct Picked {
        id: String,
        status: String,
        body: String,
    }
    let limit = selection.limit() as usize;
    let mut picked = Vec::new();
    let mut missing = Vec::new();
    if let Some(ids) = &selection.ids {
        for chunk in ids[..ids.len().min(limit)].chunks(IDS_PER_STATEMENT) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("?{i}")).collect();
            let params: Vec<JsValue> = chunk.iter().map(|id| JsValue::from_str(id)).collect();
            let found = db
                .prepare(format!("SELECT id, status, body FROM dead_letters WHERE id IN ({})", marks.join(", ")))
                .bind(&params)?
                .all()
                .await?
                .results::<Picked>()?;
            for id in chunk {
                match found.iter().find(|p| &p.id == id) {
                    Some(p) => picked.push((p.id.clone(), p.status.clone(), p.body.clone())),
                    None => missing.push(Skipped { id: id.clone(), reason: "no such dead letter".into() }),
                }
            }
        }
    } else if let Some(filter) = &selection.filter {
        let (sql, params) = filter.where_sql();
        let mut params: Vec<JsValue> = params.iter().map(js).collect();
        params.push(JsValue::from_f64(limit as f64));
        let query =
            format!("SELECT id, status, body FROM dead_letters WHERE {sql} ORDER BY last_failed_ms DESC, id DESC LIMIT ?{}", params.len());
        for p in db.prepare(query).bind(&params)?.all().await?.results::<Picked>()? {
            picked.push((p.id, p.status, p.body));
        }
    }
    Ok((picked, missing))
}

/// Runs one `UPDATE ... WHERE id IN (...)` per chunk of ids; `set` uses `?1` for `now_ms`.
async fn update_ids(db: &D1Database, set: &str, ids: &[String], now_ms: i64) -> worker::Result<()> {
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let marks: Vec<String> = (2..=chunk.len() + 1).map(|i| format!("?{i}")).collect();
        let mut params = vec![JsValue::from_f64(now_ms as f64)];
        params.extend(chunk.iter().map(|id| JsValue::from_str(id)));
        db.prepare(format!("UPDATE dead_letters SET {set} WHERE id IN ({})", marks.join(", "))).bind(&params)?.run().await?;
    }
    Ok(())
}

async fn decode_selection(req: &mut Request) -> Result<Selection, (u16, String)> {
    let body = body_text(req).await?;
    Selection::decode(&body).map_err(|e| (400, e))
}

pub(super) async fn replay(call: &Call<'_>, req: &mut Request) -> worker::Result<Response> {
    let selection = match decode_selection(req).await {
        Ok(s) => s,
        Err((status, message)) => return error(status, message),
    };
    let db = call.env.d1(binding::DB)?;
    let (picked, mut skipped) = select(&db, &selection).await?;
    let (planned, not_replayable) = plan_replay(&picked, selection.rate_per_s, code24_runtime::env::now_ms());
    skipped.extend(not_replayable);
    let done: Vec<String> = planned.iter().map(|p| p.id.clone()).collect();
    if !selection.dry_run {
        if let Err(e) = send_replays(call.env, &db, planned).await? {
            return error(502, format!("nothing was marked replayed: {e}"));
        }
    }
    json(200, &SelectionOutcome { dry_run: selection.dry_run, matched: picked.len() as u32, done, skipped })
}

/// Sends planned replays to the optimize queue, then marks their entries `replayed`. The
/// admin API's replay and the dispatcher's auto-replay after an outage both go through here.
/// `Ok(Err(_))`: the send failed and nothing was marked.
pub(crate) async fn send_replays(env: &worker::Env, db: &D1Database, planned: Vec<PlannedReplay>) -> worker::Result<Result<(), String>> {
    if planned.is_empty() {
        return Ok(Ok(()));
    }
    let done: Vec<String> = planned.iter().map(|p| p.id.clone()).collect();
    let queue = TextQueue::new(env.queue(binding::OPTIMIZE_QUEUE)?, OPTIMIZE_QUEUE);
    let messages: Vec<(String, u32)> = planned.into_iter().map(|p| (p.body, p.delay_s)).collect();
    if let Err(e) = queue.send_delayed(&messages).await {
        return Ok(Err(e.to_string()));
    }
    let set = "status = 'replayed', replay_count = replay_count + 1, replayed_ms = ?1";
    update_ids(db, set, &done, code24_runtime::env::now_ms()).await?;
    Ok(Ok(()))
}

/// The dead entries a healed outage caused (`breaker::replay::Outage`): its filter's rows
/// naming its role, with the columns that say whether the role failed them, newest first, at
/// most what the outage's cap leaves after the ones replayed since it healed
/// ([`replayed_since_healed`]).
pub(crate) async fn caused_by(db: &D1Database, outage: &Outage) -> worker::Result<Vec<(String, String, String)>> {
    #[derive(Deserialize)]
    struct Row {
        id: String,
        status: String,
        body: String,
        error_class: String,
        error_message: String,
        last_failed_ms: i64,
    }
    let allowance = Outage::allowance(replayed_since_healed(db, outage).await?);
    if allowance == 0 {
        return Ok(Vec::new());
    }
    let (sql, params) = outage.filter().where_sql();
    let mut params: Vec<JsValue> = params.iter().map(js).collect();
    params.push(outage.role_pattern().into());
    params.push(JsValue::from_f64(f64::from(allowance)));
    let query = format!(
        "SELECT id, status, body, error_class, error_message, last_failed_ms FROM dead_letters WHERE {sql} \
         AND error_message LIKE ?{} ORDER BY last_failed_ms DESC, id DESC LIMIT ?{}",
        params.len() - 1,
        params.len()
    );
    let rows = db.prepare(query).bind(&params)?.all().await?.results::<Row>()?;
    Ok(rows
        .into_iter()
        .filter(|r| {
            let class = if r.error_class == ErrorClass::Transient.as_str() { ErrorClass::Transient } else { ErrorClass::Permanent };
            outage.caused_by(class, &r.error_message, r.last_failed_ms)
        })
        .map(|r| (r.id, r.status, r.body))
        .collect())
}

/// How many of `outage`'s letters were replayed since it healed (by the auto-replay's earlier
/// looks, or by an operator): they count against its cap.
async fn replayed_since_healed(db: &D1Database, outage: &Outage) -> worker::Result<u64> {
    #[derive(Deserialize)]
    struct Count {
        replayed: u64,
    }
    let (sql, params) = DeadLetterFilter { status: Some(DeadLetterStatus::Replayed), ..outage.filter() }.where_sql();
    let mut params: Vec<JsValue> = params.iter().map(js).collect();
    params.push(outage.role_pattern().into());
    params.push(JsValue::from_f64(outage.to_ms as f64));
    let query = format!(
        "SELECT COUNT(*) AS replayed FROM dead_letters WHERE {sql} AND error_message LIKE ?{} AND replayed_ms >= ?{}",
        params.len() - 1,
        params.len()
    );
    Ok(db.prepare(query).bind(&params)?.first::<Count>(None).await?.map_or(0, |c| c.replayed))
}

pub(super) async fn purge(call: &Call<'_>, req: &mut Request) -> worker::Result<Response> {
    let selection = match decode_selection(req).await {
        Ok(s) => s,
        Err((status, message)) => return error(status, message),
    };
    let db = call.env.d1(binding::DB)?;
    let (picked, mut skipped) = select(&db, &selection).await?;
    let mut done = Vec::new();
    for (id, status, _) in &picked {
        if status == DeadLetterStatus::Purged.as_str() {
            skipped.push(Skipped { id: id.clone(), reason: "already purged".into() });
        } else {
            done.push(id.clone());
        }
    }
    if !selection.dry_run && !done.is_empty() {
        update_ids(&db, "status = 'purged', purged_ms = ?1", &done, code24_runtime::env::now_ms()).await?;
    }
    json(200, &SelectionOutcome { dry_run: selection.dry_run, matched: picked.len() as u32, done, skipped })
}
