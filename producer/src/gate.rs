//! The `Gate` Durable Object (hosted by the dispatcher, one instance) and its client: failed
//! logins per client and the dashboard's sessions, in SQLite. Every decision is the core's
//! (`code24_shared::gate`); the object keeps the rows and answers [`GateRequest`]s.

use code24_runtime::http;
use code24_shared::audit::Actor;
use code24_shared::gate::{decide_login, GateRequest, LoginVerdict, GATE_INSTANCE, GATE_PATH, LOGIN_WINDOW_MS};
use code24_shared::names::binding;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use wasm_bindgen::JsValue;
use worker::{durable_object, DurableObject, Env, Method, Request, RequestInit, Response, Result, SqlStorage, SqlStorageValue, State};

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS login_failures (client TEXT NOT NULL, at_ms INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS login_failures_client ON login_failures (client, at_ms)",
    "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, actor_kind TEXT NOT NULL, actor TEXT NOT NULL, expires_ms INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS sessions_actor ON sessions (actor_kind, actor)",
];

#[durable_object]
pub struct Gate {
    /// SQLite storage: `login_failures` and `sessions`.
    state: State,
    /// Whether the schema could be created when the instance started (`new` cannot fail: a
    /// failure is answered as a 500 on every request instead).
    schema: std::result::Result<(), String>,
}

impl DurableObject for Gate {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        let schema = SCHEMA.iter().try_for_each(|statement| sql.exec(statement, None).map(drop)).map_err(|e| e.to_string());
        Self { state, schema }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if req.path() != GATE_PATH || req.method() != Method::Post {
            return http::error(404, "the gate answers POST /gate only");
        }
        let request: GateRequest = match serde_json::from_slice(&req.bytes().await?) {
            Ok(r) => r,
            Err(e) => return http::error(400, format!("not a gate request: {e}")),
        };
        if let Err(e) = &self.schema {
            return http::error(500, format!("the gate cannot create its tables: {e}"));
        }
        http::json(200, &answer(&self.state.storage().sql(), request)?)
    }
}

fn text(s: &str) -> SqlStorageValue {
    SqlStorageValue::String(s.to_owned())
}

fn int(i: i64) -> SqlStorageValue {
    SqlStorageValue::Integer(i)
}

fn rows<T: DeserializeOwned>(sql: &SqlStorage, query: &str, params: Vec<SqlStorageValue>) -> Result<Vec<T>> {
    sql.exec(query, params)?.to_array()
}

/// Deletes with `query` and answers how many rows went.
fn delete(sql: &SqlStorage, query: &str, params: Vec<SqlStorageValue>) -> Result<Value> {
    #[derive(Deserialize)]
    struct Gone {
        #[allow(dead_code)]
        id: String,
    }
    let gone: Vec<Gone> = rows(sql, &format!("{query} RETURNING id"), params)?;
    Ok(json!(gone.len()))
}

fn answer(sql: &SqlStorage, request: GateRequest) -> Result<Value> {
    match request {
        GateRequest::Login { client, token_ok, now_ms } => {
            #[derive(Deserialize)]
            struct At {
                at_ms: i64,
            }
            sql.exec("DELETE FROM login_failures WHERE at_ms <= ?", vec![int(now_ms - LOGIN_WINDOW_MS)])?;
            let failures: Vec<At> = rows(sql, "SELECT at_ms FROM login_failures WHERE client = ?", vec![text(&client)])?;
            let verdict = decide_login(&failures.iter().map(|f| f.at_ms).collect::<Vec<_>>(), token_ok, now_ms);
            if verdict == LoginVerdict::Refused {
                sql.exec("INSERT INTO login_failures (client, at_ms) VALUES (?, ?)", vec![text(&client), int(now_ms)])?;
            }
            Ok(serde_json::to_value(verdict)?)
        }
        GateRequest::Open { id, actor, expires_ms } => {
            sql.exec(
                "INSERT OR REPLACE INTO sessions (id, actor_kind, actor, expires_ms) VALUES (?, ?, ?, ?)",
                vec![text(&id), text(actor.kind()), text(actor.name()), int(expires_ms)],
            )?;
            Ok(Value::Null)
        }
        GateRequest::Check { id, now_ms } => {
            #[derive(Deserialize)]
            struct Row {
                actor_kind: String,
                actor: String,
            }
            sql.exec("DELETE FROM sessions WHERE expires_ms <= ?", vec![int(now_ms)])?;
            let found: Vec<Row> = rows(sql, "SELECT actor_kind, actor FROM sessions WHERE id = ?", vec![text(&id)])?;
            Ok(serde_json::to_value(found.first().and_then(|r| Actor::from_parts(&r.actor_kind, &r.actor)))?)
        }
        GateRequest::Revoke { id } => delete(sql, "DELETE FROM sessions WHERE id = ?", vec![text(&id)]),
        GateRequest::RevokeAll { actor } => {
            delete(sql, "DELETE FROM sessions WHERE actor_kind = ? AND actor = ?", vec![text(actor.kind()), text(actor.name())])
        }
    }
}

/// Sends one request to the gate and decodes its answer.
pub(crate) async fn ask<T: DeserializeOwned>(env: &Env, request: &GateRequest) -> Result<T> {
    let namespace = env.durable_object(binding::GATE)?;
    let stub = namespace.id_from_name(GATE_INSTANCE)?.get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(JsValue::from_str(&serde_json::to_string(request)?)));
    let mut response = stub.fetch_with_request(Request::new_with_init(&format!("https://gate{GATE_PATH}"), &init)?).await?;
    if response.status_code() != 200 {
        return Err(worker::Error::RustError(format!("the gate answered HTTP {}: {}", response.status_code(), response.text().await?)));
    }
    Ok(serde_json::from_str(&response.text().await?)?)
}
