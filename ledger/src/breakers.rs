//! The `breakers` instance's one row: every elite role's circuit breaker and the recent
//! transitions (`code24_shared::breaker::Breakers`), as JSON in the table `breakers`. The
//! instance holds the breakers in memory ([`Held`], loaded from the row on first use); each
//! route runs the core's decision on them and writes the row back, in one transaction, only
//! when what must survive changed (`Breakers::durable`: a state, a transition, the probes; not a
//! closed breaker's window counters, which every report of a batch's calls changes), as an
//! update in place (one row written; `INSERT OR REPLACE` wrote two). The table is created on
//! first use, so the other instances of the class never hold it.

use std::cell::RefCell;
use std::rc::Rc;

use serde::Deserialize;
use worker::SqlStorage;

use code24_shared::breaker::{BreakerPolicy, BreakerReport, Breakers, BreakersView, GateAnswer, GateRequest};
use code24_shared::ledger::StoreError;

use crate::sql_tables::{exec, rows};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS breakers (name TEXT PRIMARY KEY, body TEXT NOT NULL)";
/// The one row's key.
const BOOK: &str = "book";

/// The breakers as the instance holds them (`None` until first used).
pub(crate) type Held = Rc<RefCell<Option<Breakers>>>;

/// The breakers as held, else as stored.
fn current(sql: &SqlStorage, held: &Held, now_ms: i64) -> Result<Breakers, StoreError> {
    match held.borrow().as_ref() {
        Some(book) => Ok(book.clone()),
        None => load(sql, now_ms),
    }
}

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

/// Holds `book`, and writes it when what must survive changed since `loaded`.
fn save(sql: &SqlStorage, held: &Held, book: Breakers, loaded: &Breakers) -> Result<(), StoreError> {
    if book.durable() != loaded.durable() {
        write(sql, &book)?;
    }
    *held.borrow_mut() = Some(book);
    Ok(())
}

fn write(sql: &SqlStorage, book: &Breakers) -> Result<(), StoreError> {
    let body = serde_json::to_string(book).map_err(|e| StoreError(format!("cannot encode the breakers: {e}")))?;
    exec(
        sql,
        "INSERT INTO breakers (name, body) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET body = excluded.body",
        vec![BOOK.into(), body.into()],
    )
}

/// `POST /breakers/gate`, over the breakers `held`.
pub(crate) fn gate(held: Held) -> impl FnOnce(SqlStorage, GateRequest) -> Result<GateAnswer, StoreError> {
    move |sql, req| decide(&sql, &held, req.now_ms, |book| book.gate(&req))
}

/// `POST /breakers/report`, over the breakers `held`.
pub(crate) fn report(held: Held) -> impl FnOnce(SqlStorage, BreakerReport) -> Result<(), StoreError> {
    move |sql, req| decide(&sql, &held, req.now_ms, |book| book.report(&req))
}

/// Runs `decision` on the breakers as held (else as stored) and keeps the result ([`save`]).
fn decide<T>(sql: &SqlStorage, held: &Held, now_ms: i64, decision: impl FnOnce(&mut Breakers) -> T) -> Result<T, StoreError> {
    let loaded = current(sql, held, now_ms)?;
    let mut book = loaded.clone();
    let answer = decision(&mut book);
    save(sql, held, book, &loaded)?;
    Ok(answer)
}

/// `GET /breakers`.
pub(crate) fn view(sql: SqlStorage, held: &Held, now_ms: i64) -> Result<BreakersView, StoreError> {
    Ok(current(&sql, held, now_ms)?.view())
}
