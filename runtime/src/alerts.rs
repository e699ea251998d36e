//! Alerts over the platform: the incidents and the webhook's outbox in D1 ([`D1Alerts`], the
//! tables of `migrations/0009_alerts.sql`), the breakers' state from the ledger's `breakers`
//! instance ([`breakers`]), and the webhook itself ([`Webhook`]).
//!
//! Why D1 and not a Durable Object: the state is two small tables written a few rows per tick
//! and read by the dashboard like the dead-letter store and the audit log; its only race (two
//! ticks at once) is settled by a partial unique index and conditional inserts in one D1 batch,
//! which D1 runs as a transaction. A Durable Object would add a class, a migration and a
//! request per read for no stronger guarantee.

use std::time::Duration;

use code24_shared::alerts::incidents::{Decisions, Incident};
use code24_shared::alerts::outbox::{Message, Outgoing, Phase, Status, PENDING_PER_TICK};
use code24_shared::alerts::Severity;
use code24_shared::breaker::BreakersView;
use code24_shared::error::JobError;
use code24_shared::limits::usage::Counted;
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, Env, Fetch, Fetcher, Headers, Method, Request, RequestInit};

use crate::d1::rows;
use crate::meter::Meter;

/// How long one webhook call may take: a slow receiver delays nothing but its own message.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);
/// The stand-in's receiver (local only).
pub const STANDIN_RECEIVER: &str = "https://standin/__standin/alerts";

const OPEN_INCIDENT: &str = "INSERT OR IGNORE INTO incidents (id, key, severity, summary, opened_ms) VALUES (?1, ?2, ?3, ?4, ?5)";
const RESOLVE_INCIDENT: &str = "UPDATE incidents SET resolved_ms = ?2 WHERE id = ?1 AND resolved_ms IS NULL";
/// The message of a change that is in the table: `?10` is the condition on the incident.
const MESSAGE: &str = "INSERT OR IGNORE INTO alert_messages (id, incident_id, key, phase, created_ms, status, attempts, \
     next_attempt_ms, body) SELECT ?1, ?2, ?3, ?4, ?5, 'pending', 0, ?5, ?6 WHERE EXISTS (SELECT 1 FROM incidents WHERE id = ?2 AND ";
const COLUMNS: &str = "m.id, m.incident_id, m.key, m.phase, m.created_ms, m.status, m.attempts, m.next_attempt_ms, m.sent_ms, \
     m.last_error, m.body";

/// An incident row as D1 returns it (numbers are JavaScript numbers).
#[derive(Deserialize)]
struct IncidentRow {
    id: String,
    key: String,
    severity: String,
    summary: String,
    opened_ms: f64,
    resolved_ms: Option<f64>,
}

impl IncidentRow {
    fn into_incident(self) -> Incident {
        let severity = if self.severity == Severity::Warning.as_str() { Severity::Warning } else { Severity::Critical };
        Incident {
            id: self.id,
            key: self.key,
            severity,
            summary: self.summary,
            opened_ms: self.opened_ms as i64,
            resolved_ms: self.resolved_ms.map(|v| v as i64),
        }
    }
}

#[derive(Deserialize)]
struct MessageRow {
    id: String,
    incident_id: String,
    key: String,
    phase: String,
    created_ms: f64,
    status: String,
    attempts: f64,
    next_attempt_ms: f64,
    sent_ms: Option<f64>,
    last_error: Option<String>,
    body: String,
    #[serde(default)]
    opening: Option<String>,
}

impl MessageRow {
    fn into_outgoing(self) -> Outgoing {
        let opening = self.opening.as_deref().and_then(Status::parse);
        let message = Message {
            id: self.id,
            incident_id: self.incident_id,
            key: self.key,
            phase: Phase::parse(&self.phase).unwrap_or(Phase::Open),
            created_ms: self.created_ms as i64,
            status: Status::parse(&self.status).unwrap_or(Status::Pending),
            attempts: self.attempts as u32,
            next_attempt_ms: self.next_attempt_ms as i64,
            sent_ms: self.sent_ms.map(|v| v as i64),
            last_error: self.last_error,
            body: self.body,
        };
        Outgoing { message, opening }
    }
}

#[derive(Deserialize)]
struct SentRow {
    key: String,
    sent_ms: f64,
}

/// The row an `UPDATE ... RETURNING id` changed.
#[derive(Deserialize)]
struct IdRow {
    id: String,
}

fn num(v: i64) -> JsValue {
    JsValue::from_f64(v as f64)
}

/// The incidents and the outbox in D1.
pub struct D1Alerts {
    db: D1Database,
    meter: Meter,
}

impl D1Alerts {
    pub fn new(db: D1Database, meter: &Meter) -> Self {
        Self { db, meter: meter.clone() }
    }

    async fn read<T: serde::de::DeserializeOwned>(&self, sql: &str, params: &[JsValue], what: &str) -> Result<Vec<T>, JobError> {
        let _query = self.meter.start(Counted::D1Query);
        rows(&self.db, sql, params, what).await
    }

    pub async fn open_incidents(&self) -> Result<Vec<Incident>, JobError> {
        let sql = "SELECT id, key, severity, summary, opened_ms, resolved_ms FROM incidents WHERE resolved_ms IS NULL ORDER BY opened_ms";
        Ok(self.read::<IncidentRow>(sql, &[], "open incidents").await?.into_iter().map(IncidentRow::into_incident).collect())
    }

    /// The newest `limit` incidents, open or resolved.
    pub async fn recent_incidents(&self, limit: u32) -> Result<Vec<Incident>, JobError> {
        let sql = "SELECT id, key, severity, summary, opened_ms, resolved_ms FROM incidents ORDER BY opened_ms DESC, id LIMIT ?1";
        let found = self.read::<IncidentRow>(sql, &[f64::from(limit).into()], "recent incidents").await?;
        Ok(found.into_iter().map(IncidentRow::into_incident).collect())
    }

    /// The newest `limit` messages, whatever their status.
    pub async fn recent_messages(&self, limit: u32) -> Result<Vec<Message>, JobError> {
        let sql = format!("SELECT {COLUMNS} FROM alert_messages m ORDER BY m.created_ms DESC, m.phase DESC LIMIT ?1");
        let found = self.read::<MessageRow>(&sql, &[f64::from(limit).into()], "recent alert messages").await?;
        Ok(found.into_iter().map(|r| r.into_outgoing().message).collect())
    }

    /// Carries out one tick's decisions, each incident with its message, in one transaction.
    pub async fn apply(&self, environment: &str, decisions: &Decisions, now_ms: i64) -> Result<(), JobError> {
        let fail = |e: worker::Error| JobError::transient(format!("incidents write: {e}"));
        let mut statements = Vec::new();
        let message = |incident: &Incident, phase: Phase, condition: &str| {
            let m = Message::new(environment, incident, phase, now_ms);
            self.db.prepare(format!("{MESSAGE}{condition})")).bind(&[
                m.id.as_str().into(),
                m.incident_id.as_str().into(),
                m.key.as_str().into(),
                phase.as_str().into(),
                num(now_ms),
                m.body.as_str().into(),
            ])
        };
        for i in &decisions.open {
            let row =
                [i.id.as_str().into(), i.key.as_str().into(), i.severity.as_str().into(), i.summary.as_str().into(), num(i.opened_ms)];
            statements.push(self.db.prepare(OPEN_INCIDENT).bind(&row).map_err(fail)?);
            statements.push(message(i, Phase::Open, "resolved_ms IS NULL").map_err(fail)?);
        }
        for i in &decisions.resolve {
            let resolved = i.resolved_ms.unwrap_or(now_ms);
            statements.push(self.db.prepare(RESOLVE_INCIDENT).bind(&[i.id.as_str().into(), num(resolved)]).map_err(fail)?);
            statements.push(message(i, Phase::Resolve, "resolved_ms IS NOT NULL").map_err(fail)?);
        }
        if statements.is_empty() {
            return Ok(());
        }
        let _batch = self.meter.start(Counted::D1Batch { statements: statements.len() as u64 });
        self.db.batch(statements).await.map_err(fail)?;
        Ok(())
    }

    /// Pending messages, oldest first, each resolution with its opening's status.
    pub async fn pending(&self) -> Result<Vec<Outgoing>, JobError> {
        let sql = format!(
            "SELECT {COLUMNS}, o.status AS opening FROM alert_messages m LEFT JOIN alert_messages o \
             ON m.phase = 'resolve' AND o.id = m.incident_id || '.open' WHERE m.status = 'pending' \
             ORDER BY m.created_ms, m.phase, m.id LIMIT ?1"
        );
        let found = self.read::<MessageRow>(&sql, &[f64::from(PENDING_PER_TICK).into()], "pending alert messages").await?;
        Ok(found.into_iter().map(MessageRow::into_outgoing).collect())
    }

    /// Keys and send times of the openings sent since `since_ms` (the rate cap's window).
    pub async fn openings_sent_since(&self, since_ms: i64) -> Result<Vec<(String, i64)>, JobError> {
        let sql = "SELECT key, sent_ms FROM alert_messages WHERE phase = 'open' AND status = 'sent' AND sent_ms >= ?1";
        let found = self.read::<SentRow>(sql, &[num(since_ms)], "sent openings").await?;
        Ok(found.into_iter().map(|r| (r.key, r.sent_ms as i64)).collect())
    }

    /// Takes `id` for one send until `until_ms`; `false` when another tick holds it or it is no
    /// longer pending.
    pub async fn claim(&self, id: &str, now_ms: i64, until_ms: i64) -> Result<bool, JobError> {
        let sql = "UPDATE alert_messages SET lease_until_ms = ?2 WHERE id = ?1 AND status = 'pending' \
                   AND (lease_until_ms IS NULL OR lease_until_ms < ?3) RETURNING id";
        let changed = self.read::<IdRow>(sql, &[id.into(), num(until_ms), num(now_ms)], "claim alert message").await?;
        Ok(changed.iter().any(|row| row.id == id))
    }

    pub async fn sent(&self, id: &str, now_ms: i64) -> Result<(), JobError> {
        let sql = "UPDATE alert_messages SET status = 'sent', sent_ms = ?2, attempts = attempts + 1, lease_until_ms = NULL \
                   WHERE id = ?1 RETURNING id";
        self.read::<IdRow>(sql, &[id.into(), num(now_ms)], "alert message sent").await.map(drop)
    }

    /// A failed attempt: due again at `retry_at_ms`, or given up (`None`).
    pub async fn failed(&self, id: &str, attempts: u32, retry_at_ms: Option<i64>, error: &str) -> Result<(), JobError> {
        let (status, next) = match retry_at_ms {
            Some(at) => (Status::Pending, at),
            None => (Status::Failed, 0),
        };
        let sql =
            "UPDATE alert_messages SET status = ?2, attempts = ?3, next_attempt_ms = CASE WHEN ?4 > 0 THEN ?4 ELSE next_attempt_ms END, \
                   last_error = ?5, lease_until_ms = NULL WHERE id = ?1 RETURNING id";
        let params = [id.into(), status.as_str().into(), f64::from(attempts).into(), num(next), error.into()];
        self.read::<IdRow>(sql, &params, "alert message failed").await.map(drop)
    }

    /// Ends a pending message unsent: `suppressed` (the rate cap) or `failed` (given up).
    pub async fn end_unsent(&self, id: &str, status: Status, why: &str) -> Result<(), JobError> {
        let sql = "UPDATE alert_messages SET status = ?2, last_error = ?3 WHERE id = ?1 AND status = 'pending' RETURNING id";
        self.read::<IdRow>(sql, &[id.into(), status.as_str().into(), why.into()], "alert message ended").await.map(drop)
    }
}

/// The breakers from the ledger's `breakers` instance (the admin API's one reader,
/// `DurableLedger::breakers_view`); `None` (no breaker data) when the route is absent or
/// answers anything but the breakers' JSON.
pub async fn breakers(env: &Env, meter: &Meter) -> Option<BreakersView> {
    crate::ledger_client::DurableLedger::from_env(env).ok()?.metered(meter).breakers_view().await.ok()
}

/// Where this environment's alerts go.
pub enum Webhook {
    /// The local stand-in's receiver, over its service binding.
    Standin(Fetcher),
    /// `ALERT_WEBHOOK_URL` (a secret: never logged).
    Url(String),
}

impl Webhook {
    /// Posts one body; an error names the status or the failure, never the URL.
    pub async fn send(&self, body: &str, meter: &Meter) -> Result<(), String> {
        let headers = Headers::new();
        headers.set("content-type", "application/json").map_err(|e| e.to_string())?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_headers(headers).with_body(Some(JsValue::from_str(body)));
        // The answer's body is read too, whatever the status: a body left unread keeps its
        // subrequest open, and the cron event with it (found by the bench's fan-out, whose
        // stack has no receiver: the 503's body held `scheduled()` open for good).
        let call = async {
            let mut response = match self {
                Self::Standin(fetcher) => {
                    let _connection = meter.start(Counted::ServiceBinding);
                    fetcher.fetch(STANDIN_RECEIVER, Some(init)).await?
                }
                Self::Url(url) => {
                    let _connection = meter.start(Counted::Subrequest);
                    let request = Request::new_with_init(url, &init)?;
                    Fetch::Request(request).send().await?
                }
            };
            let status = response.status_code();
            response.bytes().await.map(|_| status)
        };
        match crate::timeout::within(WEBHOOK_TIMEOUT, call).await {
            None => Err(format!("no answer within {} s", WEBHOOK_TIMEOUT.as_secs())),
            Some(Err(_)) => Err("the request failed (network)".to_owned()),
            Some(Ok(status)) if (200..300).contains(&status) => Ok(()),
            Some(Ok(status)) => Err(format!("HTTP {status}")),
        }
    }
}
