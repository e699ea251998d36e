//! The audit log, sans IO: which admin requests are recorded, and what an entry says.
//!
//! Every mutating route of the admin API ([`action_of`]) is recorded once it has answered:
//! who ([`Actor`]: an operator's email from Cloudflare Access or a dashboard session, or a
//! service identity such as the bearer token), when, what (the route's action and the request,
//! normalised by [`normalise`]: path parameters and the JSON body with sorted keys), how many
//! items it touched ([`count`], read from the answer), the outcome (the answer's status), and,
//! for replays and purges, the operator's reason. Dry runs change nothing and are not recorded.
//! The log is append-only: the admin API has one route to it, a `GET` ([`AuditQuery`]: filters
//! and cursor pages, newest first).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::{Endpoint, DEFAULT_LIMIT, MAX_LIMIT};
use crate::dead_letters::query::SqlParam;

/// The service identity of a request that presented the admin bearer token.
pub const ADMIN_TOKEN_SERVICE: &str = "admin-token";

/// Longest stored normalised request; a longer one is cut (and says so).
pub const MAX_REQUEST_CHARS: usize = 4_000;

/// Longest reason an operator may give.
pub const MAX_REASON_CHARS: usize = 500;

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Actor {
    /// A person: their email, as Cloudflare Access vouched for it.
    Operator(String),
    /// Automation: the admin bearer token ([`ADMIN_TOKEN_SERVICE`]) or an Access service token.
    Service(String),
}

impl Actor {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Operator(_) => "operator",
            Self::Service(_) => "service",
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Self::Operator(n) | Self::Service(n) => n,
        }
    }

    /// Back from the stored kind and name.
    pub fn from_parts(kind: &str, name: &str) -> Option<Self> {
        match kind {
            "operator" => Some(Self::Operator(name.to_owned())),
            "service" => Some(Self::Service(name.to_owned())),
            _ => None,
        }
    }
}

/// The action a mutating route records; `None` for a read.
pub fn action_of(endpoint: Endpoint) -> Option<&'static str> {
    Some(match endpoint {
        Endpoint::AddSite => "site.add",
        Endpoint::DeactivateSite => "site.deactivate",
        Endpoint::BackfillRun => "run.backfill",
        Endpoint::AddBillingEvent => "billing.record",
        Endpoint::ReplayDeadLetters => "dead_letters.replay",
        Endpoint::PurgeDeadLetters => "dead_letters.purge",
        _ => return None,
    })
}

/// Whether a request body asks for a dry run (which changes nothing and is not recorded).
pub fn is_dry_run(body: &str) -> bool {
    serde_json::from_str::<Value>(body).ok().is_some_and(|v| v["dry_run"] == Value::Bool(true))
}

/// The request as recorded: `{"body": .., "path": ..}` with every object's keys sorted
/// (serde_json's map is ordered), the reason left out (it has its own column), cut at
/// [`MAX_REQUEST_CHARS`]. A body that is not JSON is kept as a string.
pub fn normalise(path: &str, body: &str) -> String {
    let mut body: Value =
        if body.trim().is_empty() { Value::Null } else { serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned())) };
    if let Some(object) = body.as_object_mut() {
        object.remove("reason");
    }
    let text = serde_json::json!({"path": path, "body": body}).to_string();
    if text.len() <= MAX_REQUEST_CHARS {
        return text;
    }
    let mut cut = MAX_REQUEST_CHARS;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..cut], text.len())
}

/// The reason a replay or purge gives (`reason` in its body), trimmed; `None` when absent.
pub fn reason_of(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    v["reason"].as_str().map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned)
}

/// How many items an answered request touched, from its JSON answer: the ids a replay or purge
/// did, or 1 for any other change that succeeded, 0 for a refusal.
pub fn count(endpoint: Endpoint, status: u16, answer: &str) -> u32 {
    if !(200..300).contains(&status) {
        return 0;
    }
    match endpoint {
        Endpoint::ReplayDeadLetters | Endpoint::PurgeDeadLetters => {
            serde_json::from_str::<Value>(answer).ok().and_then(|v| v["done"].as_array().map(|d| d.len() as u32)).unwrap_or(0)
        }
        _ => 1,
    }
}

/// The outcome column: `ok`, or the refusal's status and message.
pub fn outcome(status: u16, answer: &str) -> String {
    if (200..300).contains(&status) {
        return "ok".into();
    }
    let message = serde_json::from_str::<Value>(answer).ok().and_then(|v| v["error"].as_str().map(str::to_owned)).unwrap_or_default();
    format!("{status} {}", crate::api::truncated(&message, 200))
}

/// One recorded entry, as stored and as the API answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at_ms: i64,
    pub actor_kind: String,
    pub actor: String,
    pub action: String,
    pub request: String,
    pub count: u32,
    pub status: u16,
    pub outcome: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// A page of the log, newest first; `next_cursor` continues it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

/// `GET /api/audit`'s parameters: filters, a cursor (an entry id: the page continues below it)
/// and a limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// The query parameters `GET /api/audit` reads.
pub const QUERY_PARAMS: &[&str] = &["actor", "action", "from_ms", "to_ms", "cursor", "limit"];

impl AuditQuery {
    pub fn from_query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, String> {
        let mut q = Self { limit: DEFAULT_LIMIT, ..Self::default() };
        let ms = |key: &str, raw: &str| {
            raw.parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(|| format!("{key} must be epoch milliseconds, not {raw:?}"))
        };
        for (key, value) in pairs {
            match key {
                "actor" if !value.is_empty() && value.len() <= 320 => q.actor = Some(value.to_owned()),
                "action" if !value.is_empty() && value.len() <= 64 => q.action = Some(value.to_owned()),
                "from_ms" => q.from_ms = Some(ms(key, value)?),
                "to_ms" => q.to_ms = Some(ms(key, value)?),
                "cursor" => q.before_id = Some(value.parse::<i64>().map_err(|_| format!("{value:?} is not a cursor of the audit log"))?),
                "limit" => {
                    q.limit = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| format!("limit must be in 1..={MAX_LIMIT}"))?
                }
                "actor" | "action" => return Err(format!("{key} must be 1 to 320 characters")),
                other => return Err(format!("unknown parameter {other:?}; the audit log takes {}", QUERY_PARAMS.join(", "))),
            }
        }
        Ok(q)
    }

    /// The `WHERE` clause (numbered parameters) of a page, without the limit.
    pub fn where_sql(&self) -> (String, Vec<SqlParam>) {
        let mut clauses = vec!["1 = 1".to_owned()];
        let mut params = Vec::new();
        let mut add = |clause: &str, param: SqlParam| {
            params.push(param);
            clauses.push(clause.replace('?', &format!("?{}", params.len())));
        };
        if let Some(v) = &self.actor {
            add("actor = ?", SqlParam::Text(v.clone()));
        }
        if let Some(v) = &self.action {
            add("action = ?", SqlParam::Text(v.clone()));
        }
        if let Some(v) = self.from_ms {
            add("at_ms >= ?", SqlParam::Int(v));
        }
        if let Some(v) = self.to_ms {
            add("at_ms < ?", SqlParam::Int(v));
        }
        if let Some(v) = self.before_id {
            add("id < ?", SqlParam::Int(v));
        }
        (clauses.join(" AND "), params)
    }

    /// The page from `limit + 1` rows read: the cursor exists when there were more.
    pub fn page(&self, mut rows: Vec<AuditEntry>) -> AuditPage {
        let more = rows.len() > self.limit as usize;
        rows.truncate(self.limit as usize);
        let next_cursor = if more { rows.last().map(|e| e.id.to_string()) } else { None };
        AuditPage { entries: rows, next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_records_only_changes() {
        let recorded: Vec<Endpoint> = crate::api::ROUTES.iter().map(|r| r.endpoint).filter(|e| action_of(*e).is_some()).collect();
        for r in crate::api::ROUTES {
            assert_eq!(action_of(r.endpoint).is_some(), r.method == "POST" && !r.local_only(), "{r:?}");
        }
        assert_eq!(recorded.len(), 6);
        assert!(is_dry_run(r#"{"ids":["a"],"dry_run":true}"#));
        assert!(!is_dry_run(r#"{"ids":["a"],"dry_run":false}"#) && !is_dry_run("not json"));
    }

    #[test]
    fn audit_request_is_normalised_and_the_reason_kept_apart() {
        let a = normalise("/api/dead-letters/purge", r#"{"reason":"why","ids":["b","a"],"dry_run":false}"#);
        let b = normalise("/api/dead-letters/purge", r#"{ "dry_run": false, "ids": ["b","a"] }"#);
        assert_eq!(a, b);
        assert_eq!(a, r#"{"body":{"dry_run":false,"ids":["b","a"]},"path":"/api/dead-letters/purge"}"#);
        assert_eq!(reason_of(r#"{"reason":"  ticket 42 "}"#).as_deref(), Some("ticket 42"));
        assert_eq!(reason_of(r#"{"reason":" "}"#), None);
        let long = normalise("/", &format!("{{\"x\":\"{}\"}}", "é".repeat(MAX_REQUEST_CHARS)));
        assert!(long.contains("bytes in all") && long.chars().count() < MAX_REQUEST_CHARS + 40);
        assert_eq!(normalise("/p", "plain"), r#"{"body":"plain","path":"/p"}"#);
    }

    #[test]
    fn audit_counts_and_outcomes_come_from_the_answer() {
        assert_eq!(count(Endpoint::ReplayDeadLetters, 200, r#"{"done":["a","b"],"skipped":[]}"#), 2);
        assert_eq!(count(Endpoint::PurgeDeadLetters, 200, r#"{"done":[]}"#), 0);
        assert_eq!(count(Endpoint::AddSite, 201, "{}"), 1);
        assert_eq!(count(Endpoint::AddSite, 400, r#"{"error":"bad url"}"#), 0);
        assert_eq!(outcome(200, "{}"), "ok");
        assert_eq!(outcome(400, r#"{"error":"bad url"}"#), "400 bad url");
    }

    #[test]
    fn audit_query_filters_and_pages_newest_first() {
        let q = AuditQuery::from_query([("actor", "ops@example.com"), ("action", "dead_letters.purge"), ("cursor", "9"), ("limit", "2")])
            .unwrap();
        let (sql, params) = q.where_sql();
        assert_eq!(sql, "1 = 1 AND actor = ?1 AND action = ?2 AND id < ?3");
        assert_eq!(params.len(), 3);
        let entry = |id| AuditEntry {
            id,
            at_ms: id,
            actor_kind: "operator".into(),
            actor: "a".into(),
            action: "x".into(),
            request: "{}".into(),
            count: 1,
            status: 200,
            outcome: "ok".into(),
            reason: None,
        };
        let page = q.page(vec![entry(8), entry(7), entry(6)]);
        assert_eq!(page.entries.len(), 2);
        assert_eq!(page.next_cursor.as_deref(), Some("7"));
        assert_eq!(q.page(vec![entry(8)]).next_cursor, None);
        for bad in [("limit", "0"), ("cursor", "x"), ("from_ms", "-1"), ("id", "1"), ("actor", "")] {
            assert!(AuditQuery::from_query([bad]).is_err(), "{bad:?}");
        }
    }
}
