//! The `breakers` instance's one row: every elite role's circuit breaker and the recent
//! transitions (`code24_shared::breaker::Breakers`), as JSON in the table `breakers`. Each route
//! loads it, runs the core's decision and stores it back when it changed (a gate while every
//! breaker is closed changes nothing), in one transaction, as an update in place (one row
//! written; `INSERT OR REPLACE` wrote two); the table is created on first use, so the other
//! instances of the class never hold it.

use serde::Deserialize;
use worker::SqlStorage;

use code24_shared::breaker::{BreakerPolicy, BreakerReport, Breakers, BreakersView, GateAnswer, GateRequest};
use code24_shared::ledger::StoreError;

use crate::sql_tables::{exec, rows};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS breakers (name TEXT PRIMARY KEY, body TEXT NOT NULL)";
/// The one row's key.
const BOOK: &str = "book";

/// The stored breakers, or every role closed since `now_ms`; always under this build's policy.
fn load(sql: &SqlStorage, now_ms: i64) -> Result<Breakers, StoreError> {
    #[derive(Deserialize)]
    struct Body {
        body: String,
    }
    exec(sql, SCHEMA, Vec::new())?;
    let found: Option<Body> = rows(sql, "SELECT body FROM breakers WHERE name = ?", vec![BOOK.into()])?.into_iter().next();
    let mut book = match found {
        Some(b) => serde_json::from_str(&b.body).map_err(|e| StoreError(format!("undecodable breakers row: {e}")))?,
        None => Breakers::new(BreakerPolicy::DEFAULT, now_ms),
    };
    book.policy = BreakerPolicy::DEFAULT;
    Ok(book)
}

fn save(sql: &SqlStorage, book: &Breakers, loaded: &Breakers) -> Result<(), StoreError> {
    if book == loaded {
        return Ok(());
    }
    let body = serde_json::to_string(book).map_err(|e| StoreError(format!("cannot encode the breakers: {e}")))?;
    exec(
        sql,
        "INSERT INTO breakers (name, body) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET body = excluded.body",
        vec![BOOK.into(), body.into()],
    )
}

/// `POST /breakers/gate`.
pub(crate) fn gate(sql: SqlStorage, req: &GateRequest) -> Result<GateAnswer, StoreError> {
    let loaded = load(&sql, req.now_ms)?;
    let mut book = loaded.clone();
    let answer = book.gate(req);
    save(&sql, &book, &loaded)?;
    Ok(answer)
}

/// `POST /breakers/report`.
pub(crate) fn report(sql: SqlStorage, req: &BreakerReport) -> Result<(), StoreError> {
    let loaded = load(&sql, req.now_ms)?;
    let mut book = loaded.clone();
    book.report(req);
    save(&sql, &book, &loaded)
}

/// `GET /breakers`.
pub(crate) fn view(sql: SqlStorage, now_ms: i64) -> Result<BreakersView, StoreError> {
    Ok(load(&sql, now_ms)?.view())
}
