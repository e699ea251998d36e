//! The webhook's outbox: the message of an incident's opening or resolution, and which pending
//! messages a tick sends, holds or suppresses.
//!
//! - **One body for every receiver**: `{"text": "...", "incident": {...}}`. Slack's incoming
//!   webhooks read `text` (and ignore the rest); a generic receiver reads `incident`.
//! - **Dedup**: a message's id is `{incident id}.{phase}`; the store inserts it once, in the
//!   transaction that opens or resolves the incident.
//! - **Rate cap**: at most [`OPENINGS_PER_KEY_PER_HOUR`] openings of one incident key are sent
//!   in any hour; a further opening is *suppressed* (recorded, never sent), and so is the
//!   resolution of an incident whose opening was not sent. A resolution of a sent opening is
//!   never capped, so every announced incident is announced resolved. Keys are few (health,
//!   three breakers, sweep, dead letters, two reports), which bounds every hour's messages.
//! - **Retry**: a failed send is tried again at a later tick, after [`retry_delay_ms`]
//!   (exponential from a minute, at most an hour), at most [`MAX_ATTEMPTS`] times and for at most
//!   [`MAX_AGE_MS`]; then it is given up (`failed`). A resolution waits for its opening.
//! - **Never blocking**: at most [`SENDS_PER_TICK`] sends a tick, each within the dispatcher's
//!   webhook timeout, after the tick's fan-out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::incidents::Incident;
use crate::ids::rfc3339;

/// Openings of one key sent in any hour, at most.
pub const OPENINGS_PER_KEY_PER_HOUR: usize = 3;
/// Sends one tick makes, at most (the rest wait for the next tick).
pub const SENDS_PER_TICK: usize = 5;
/// Pending messages one tick reads and plans, oldest first (the rest wait for the next tick).
pub const PENDING_PER_TICK: u32 = 50;
/// Attempts of one message before it is given up.
pub const MAX_ATTEMPTS: u32 = 8;
/// A message not delivered this long after it was written is given up.
pub const MAX_AGE_MS: i64 = 24 * 3_600_000;
const HOUR_MS: i64 = 3_600_000;

/// Whether a message announces an incident or its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Open,
    Resolve,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Resolve => "resolve",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Open, Self::Resolve].into_iter().find(|p| p.as_str() == raw)
    }
}

/// Where a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not sent yet (or failed and due again at `next_attempt_ms`).
    Pending,
    Sent,
    /// Given up after its attempts or its age.
    Failed,
    /// Held back by the rate cap, never sent.
    Suppressed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Suppressed => "suppressed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Sent, Self::Failed, Self::Suppressed].into_iter().find(|s| s.as_str() == raw)
    }
}

/// One message of the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// `{incident id}.{phase}`.
    pub id: String,
    pub incident_id: String,
    pub key: String,
    pub phase: Phase,
    pub created_ms: i64,
    pub status: Status,
    pub attempts: u32,
    pub next_attempt_ms: i64,
    pub sent_ms: Option<i64>,
    pub last_error: Option<String>,
    /// The JSON body, exactly as it is (or was) sent.
    pub body: String,
}

impl Message {
    pub fn id_of(incident_id: &str, phase: Phase) -> String {
        format!("{incident_id}.{}", phase.as_str())
    }

    /// The `text` of its body (what a Slack channel shows), or the body itself.
    pub fn text(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["text"].as_str().map(str::to_owned))
            .unwrap_or_else(|| self.body.clone())
    }

    /// The pending message of `incident`'s `phase`, written at `now_ms`.
    pub fn new(environment: &str, incident: &Incident, phase: Phase, now_ms: i64) -> Self {
        Self {
            id: Self::id_of(&incident.id, phase),
            incident_id: incident.id.clone(),
            key: incident.key.clone(),
            phase,
            created_ms: now_ms,
            status: Status::Pending,
            attempts: 0,
            next_attempt_ms: now_ms,
            sent_ms: None,
            last_error: None,
            body: body(environment, incident, phase),
        }
    }
}

/// The webhook body of `incident`'s `phase`.
pub fn body(environment: &str, incident: &Incident, phase: Phase) -> String {
    let at = |ms: i64| crate::ids::from_epoch_ms(ms).map(rfc3339);
    let text = match phase {
        Phase::Open => format!("[{environment}] {} incident {}: {}", incident.severity.as_str(), incident.key, incident.summary),
        Phase::Resolve => format!(
            "[{environment}] resolved {}: {} (opened {})",
            incident.key,
            incident.summary,
            at(incident.opened_ms).unwrap_or_default()
        ),
    };
    serde_json::json!({
        "text": text,
        "incident": {
            "id": incident.id,
            "key": incident.key,
            "phase": phase.as_str(),
            "environment": environment,
            "severity": incident.severity.as_str(),
            "summary": incident.summary,
            "opened_at": at(incident.opened_ms),
            "resolved_at": incident.resolved_ms.and_then(at),
        }
    })
    .to_string()
}

/// A pending message, and (for a resolution) where its incident's opening is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub message: Message,
    /// The opening's status; `None` for an opening, or an opening the store lost.
    pub opening: Option<Status>,
}

/// What a tick does with one pending message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Send,
    /// Left pending: not due, waiting for its opening, or over this tick's sends.
    Wait,
    Suppress(String),
    GiveUp(String),
}

/// The step of every pending message, in the order given (oldest first). `openings_sent` are
/// the keys and send times of the openings sent in the last hour.
pub fn plan(pending: &[Outgoing], openings_sent: &[(String, i64)], now_ms: i64) -> Vec<Step> {
    // Openings per key within the hour: those already sent, plus those this plan sends.
    let mut openings: BTreeMap<&str, usize> = BTreeMap::new();
    for (key, _) in openings_sent.iter().filter(|(_, at)| now_ms - at < HOUR_MS) {
        *openings.entry(key.as_str()).or_default() += 1;
    }
    // Whether this plan sends (true) or drops (false) an incident's opening.
    let mut opening_planned: BTreeMap<&str, bool> = BTreeMap::new();
    let mut sends = 0;
    let mut steps = Vec::with_capacity(pending.len());
    for out in pending {
        let m = &out.message;
        let step = if now_ms - m.created_ms >= MAX_AGE_MS {
            Step::GiveUp(format!("not delivered within {} h", MAX_AGE_MS / HOUR_MS))
        } else if m.next_attempt_ms > now_ms {
            Step::Wait
        } else {
            match m.phase {
                Phase::Open if openings.get(m.key.as_str()).copied().unwrap_or(0) >= OPENINGS_PER_KEY_PER_HOUR => {
                    Step::Suppress(format!("rate cap: at most {OPENINGS_PER_KEY_PER_HOUR} openings of {} an hour", m.key))
                }
                Phase::Open if sends < SENDS_PER_TICK => Step::Send,
                Phase::Open => Step::Wait,
                Phase::Resolve => match opening_planned.get(m.incident_id.as_str()).copied().map(Some).unwrap_or(match out.opening {
                    Some(Status::Sent) => Some(true),
                    Some(Status::Suppressed | Status::Failed) => Some(false),
                    Some(Status::Pending) | None => None,
                }) {
                    Some(true) if sends < SENDS_PER_TICK => Step::Send,
                    Some(false) => Step::Suppress("its opening was not sent".to_owned()),
                    _ => Step::Wait,
                },
            }
        };
        if m.phase == Phase::Open {
            match &step {
                Step::Send => {
                    *openings.entry(m.key.as_str()).or_default() += 1;
                    opening_planned.insert(m.incident_id.as_str(), true);
                }
                Step::Suppress(_) | Step::GiveUp(_) => {
                    opening_planned.insert(m.incident_id.as_str(), false);
                }
                Step::Wait => {}
            }
        }
        if step == Step::Send {
            sends += 1;
        }
        steps.push(step);
    }
    steps
}

/// After a failed attempt (the `attempts`-th): when to try again, or `None` to give up.
pub fn after_failure(attempts: u32, now_ms: i64) -> Option<i64> {
    (attempts < MAX_ATTEMPTS).then(|| now_ms + retry_delay_ms(attempts))
}

/// The delay after the `attempts`-th failure: a minute, doubling, at most an hour. Every tick
/// (3 minutes in staging and production) looks, so the first retries come at the next ticks.
pub fn retry_delay_ms(attempts: u32) -> i64 {
    (60_000i64 << attempts.saturating_sub(1).min(6)).min(HOUR_MS)
}

#[cfg(test)]
#[path = "outbox_tests.rs"]
mod tests;
