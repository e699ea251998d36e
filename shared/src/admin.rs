//! The admin API's dead-letter contract: filters (parsed and validated from a query string or
//! a JSON body), cursor pages, replay and purge requests and answers, and the pure decisions
//! behind them (the SQL `WHERE` of a filter, which entries a replay takes and when each is
//! delivered). The dispatcher runs these against D1; the ops CLI speaks the same types.

use serde::{Deserialize, Serialize};

use crate::error::ErrorClass;
use crate::ids::{CustomerId, SweepId};
use crate::wire::OptimizeJob;

/// Largest page a list returns, and most entries one replay or purge touches.
pub const MAX_LIMIT: u32 = 1_000;
/// Default page size and default replay/purge limit.
pub const DEFAULT_LIMIT: u32 = 100;
/// Largest accepted JSON body of an admin request.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The status of a stored dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeadLetterStatus {
    /// Waiting for an operator.
    Dead,
    /// Sent again for its original sweep; if it dies again it comes back as `dead`.
    Replayed,
    /// Removed by an operator; kept for the audit trail, hidden from default lists.
    Purged,
}

impl DeadLetterStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dead => "dead",
            Self::Replayed => "replayed",
            Self::Purged => "purged",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Dead, Self::Replayed, Self::Purged].into_iter().find(|s| s.as_str() == raw)
    }
}

/// Which dead letters a list, replay or purge is about. Every field narrows; none means all
/// (but `purged` entries only when `status` asks for them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_queue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<CustomerId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep_id: Option<SweepId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_class: Option<ErrorClass>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeadLetterStatus>,
    /// Last failure at or after this instant (epoch ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_ms: Option<i64>,
    /// Last failure before this instant (epoch ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_ms: Option<i64>,
}

/// A SQL parameter of a filter's `WHERE` clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlParam {
    Text(String),
    Int(i64),
}

/// Names every query parameter a filter understands, for the "unknown parameter" error.
pub const FILTER_PARAMS: &[&str] = &["origin_queue", "customer_id", "sweep_id", "error_class", "status", "from_ms", "to_ms"];

impl DeadLetterFilter {
    /// Parses a filter from query pairs, refusing unknown or malformed parameters by name.
    /// `extra` lists other parameters the route accepts (e.g. `limit`, `cursor`).
    pub fn from_query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>, extra: &[&str]) -> Result<Self, String> {
        let mut f = Self::default();
        for (key, value) in pairs {
            match key {
                "origin_queue" => f.origin_queue = Some(queue_name(value)?),
                "customer_id" => f.customer_id = Some(CustomerId::parse(value).map_err(|e| e.to_string())?),
                "sweep_id" => f.sweep_id = Some(SweepId::parse(value).ok_or_else(|| format!("{value:?} is not a sweep id"))?),
                "error_class" => {
                    f.error_class = Some(match value {
                        "transient" => ErrorClass::Transient,
                        "permanent" => ErrorClass::Permanent,
                        _ => return Err(format!("error_class must be transient or permanent, not {value:?}")),
                    })
                }
                "status" => {
                    f.status = Some(
                        DeadLetterStatus::parse(value).ok_or_else(|| format!("status must be dead, replayed or purged, not {value:?}"))?,
                    )
                }
                "from_ms" => f.from_ms = Some(epoch_ms(key, value)?),
                "to_ms" => f.to_ms = Some(epoch_ms(key, value)?),
                other if extra.contains(&other) => {}
                other => {
                    return Err(format!("unknown parameter {other:?}; filters are {} (and {})", FILTER_PARAMS.join(", "), extra.join(", ")))
                }
            }
        }
        f.check()?;
        Ok(f)
    }

    /// Checks what deserialization alone cannot.
    pub fn check(&self) -> Result<(), String> {
        if let Some(q) = &self.origin_queue {
            queue_name(q)?;
        }
        if let (Some(from), Some(to)) = (self.from_ms, self.to_ms) {
            if from >= to {
                return Err(format!("from_ms ({from}) must be before to_ms ({to})"));
            }
        }
        Ok(())
    }

    /// The `WHERE` clause (without the keyword) and its parameters, numbered from `?1`.
    pub fn where_sql(&self) -> (String, Vec<SqlParam>) {
        let mut clauses = Vec::new();
        let mut params = Vec::new();
        let mut add = |clause: &str, param: SqlParam| {
            params.push(param);
            clauses.push(clause.replace('?', &format!("?{}", params.len())));
        };
        if let Some(v) = &self.origin_queue {
            add("origin_queue = ?", SqlParam::Text(v.clone()));
        }
        if let Some(v) = &self.customer_id {
            add("customer_id = ?", SqlParam::Text(v.as_str().to_owned()));
        }
        if let Some(v) = &self.sweep_id {
            add("sweep_id = ?", SqlParam::Text(v.as_str().to_owned()));
        }
        if let Some(v) = self.error_class {
            add("error_class = ?", SqlParam::Text(v.as_str().to_owned()));
        }
        match self.status {
            Some(v) => add("status = ?", SqlParam::Text(v.as_str().to_owned())),
            None => add("status <> ?", SqlParam::Text(DeadLetterStatus::Purged.as_str().to_owned())),
        }
        if let Some(v) = self.from_ms {
            add("last_failed_ms >= ?", SqlParam::Int(v));
        }
        if let Some(v) = self.to_ms {
            add("last_failed_ms < ?", SqlParam::Int(v));
        }
        (clauses.join(" AND "), params)
    }
}

fn queue_name(raw: &str) -> Result<String, String> {
    let ok = !raw.is_empty() && raw.len() <= 63 && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    ok.then(|| raw.to_owned()).ok_or_else(|| format!("{raw:?} is not a queue name"))
}

fn epoch_ms(key: &str, raw: &str) -> Result<i64, String> {
    raw.parse::<i64>()
        .ok()
        .filter(|v| (0..=253_402_300_799_999).contains(v))
        .ok_or_else(|| format!("{key} must be epoch milliseconds, not {raw:?}"))
}

/// A position in the list order (newest failure first, then id descending). Opaque to
/// clients: `{last_failed_ms}.{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub last_failed_ms: i64,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{}.{}", self.last_failed_ms, self.id)
    }

    pub fn decode(raw: &str) -> Result<Self, String> {
        let (ms, id) = raw.split_once('.').ok_or_else(|| format!("{raw:?} is not a cursor"))?;
        let last_failed_ms = ms.parse().map_err(|_| format!("{raw:?} is not a cursor"))?;
        if id.is_empty() || id.len() > 256 {
            return Err(format!("{raw:?} is not a cursor"));
        }
        Ok(Self { last_failed_ms, id: id.to_owned() })
    }
}

/// One stored dead letter, as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterEntry {
    pub id: String,
    pub origin_queue: String,
    pub job_id: Option<String>,
    pub sweep_id: Option<String>,
    pub customer_id: Option<String>,
    pub error_class: String,
    pub error_message: String,
    pub attempts: u32,
    pub first_failed_ms: i64,
    pub last_failed_ms: i64,
    pub status: String,
    pub replay_count: u32,
    pub replayed_ms: Option<i64>,
    /// The original message body; only in the single-entry view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// Size of the store and whether it nears its configured warning size. The store never drops
/// entries; this is how it says it is filling up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStats {
    /// Rows in the store, purged ones included.
    pub rows: u64,
    pub warn_at: u64,
    pub near_capacity: bool,
}

impl StoreStats {
    pub fn new(rows: u64, warn_at: u64) -> Self {
        Self { rows, warn_at, near_capacity: rows >= warn_at }
    }
}

/// `GET /api/dead-letters` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterPage {
    pub dead_letters: Vec<DeadLetterEntry>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
    pub store: StoreStats,
}

/// `GET /api/dead-letters/{id}` answer: the entry with its body, and what became of its job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterDetail {
    pub entry: DeadLetterEntry,
    /// The job's state in the ledger now (`succeeded` after a healed replay), if known.
    pub job_state: Option<String>,
    /// The R2 key the job writes.
    pub result_key: Option<String>,
}

/// Which entries a replay or purge takes: explicit ids, or a filter; never neither.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<DeadLetterFilter>,
    /// Report what would happen; change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// At most this many entries ([`DEFAULT_LIMIT`] when absent, at most [`MAX_LIMIT`]).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Replays only: deliver at most this many per second (spread with queue delays).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_s: Option<u32>,
}

impl Selection {
    /// Decodes and validates a replay or purge body.
    pub fn decode(body: &str) -> Result<Self, String> {
        let mut s: Self = serde_json::from_str(body).map_err(|e| format!("invalid request: {e}"))?;
        // A repeated id is one entry: selected (and replayed) once, in first-seen order.
        if let Some(ids) = &mut s.ids {
            let mut seen = std::collections::BTreeSet::new();
            ids.retain(|id| seen.insert(id.clone()));
        }
        match (&s.ids, &s.filter) {
            (None, None) => return Err("give either ids or a filter".into()),
            (Some(_), Some(_)) => return Err("give either ids or a filter, not both".into()),
            (Some(ids), None) => {
                if ids.is_empty() || ids.len() > MAX_LIMIT as usize {
                    return Err(format!("ids must list 1 to {MAX_LIMIT} entries"));
                }
                if let Some(bad) = ids.iter().find(|id| !valid_entry_id(id)) {
                    return Err(format!("{:?} is not a dead-letter id", crate::api::truncated(bad, 80)));
                }
            }
            (None, Some(f)) => f.check()?,
        }
        if s.limit.is_some_and(|l| l == 0 || l > MAX_LIMIT) {
            return Err(format!("limit must be in 1..={MAX_LIMIT}"));
        }
        if s.rate_per_s == Some(0) {
            return Err("rate_per_s must be at least 1".into());
        }
        Ok(s)
    }

    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(DEFAULT_LIMIT)
    }
}

/// Whether `raw` can be a dead-letter id: a job id or a body hash id, printable and short.
pub fn valid_entry_id(raw: &str) -> bool {
    !raw.is_empty() && raw.len() <= 256 && raw.chars().all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c))
}

/// An entry a replay or purge did not take, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub id: String,
    pub reason: String,
}

/// `POST /api/dead-letters/replay` and `/purge` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectionOutcome {
    pub dry_run: bool,
    /// Entries the selection matched (before skips).
    pub matched: u32,
    /// Entries replayed or purged (or that would be, in a dry run).
    pub done: Vec<String>,
    pub skipped: Vec<Skipped>,
}

/// One replay to send: the job body to enqueue (marked as a replay) and its delivery delay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedReplay {
    pub id: String,
    pub body: String,
    pub delay_s: u32,
}

/// How old (by its sweep's scheduled time) a dead job may be to be replayed: the ledger keeps
/// a job's record at least this long ([`crate::config::LedgerConfig::MIN_RETENTION_HOURS`]).
/// An older job's record may be pruned, and a replay would then count it in the daily rollups
/// a second time.
pub const MAX_REPLAY_AGE_MS: i64 = crate::config::LedgerConfig::MIN_RETENTION_HOURS as i64 * 3_600_000;

/// Decides which of the selected entries (id, status, stored body) a replay sends, and when:
/// only `dead` entries whose body is a job younger than [`MAX_REPLAY_AGE_MS`]; the `n`-th is
/// delayed `n / rate` seconds.
pub fn plan_replay(entries: &[(String, String, String)], rate_per_s: Option<u32>, now_ms: i64) -> (Vec<PlannedReplay>, Vec<Skipped>) {
    let mut planned = Vec::new();
    let mut skipped = Vec::new();
    for (id, status, body) in entries {
        if status != DeadLetterStatus::Dead.as_str() {
            skipped.push(Skipped { id: id.clone(), reason: format!("status is {status}, not dead") });
            continue;
        }
        match OptimizeJob::decode(body) {
            Ok(job) if now_ms - job.scheduled.timestamp_millis() > MAX_REPLAY_AGE_MS => skipped.push(Skipped {
                id: id.clone(),
                reason: "older than the ledger's retention: its record may be pruned, so a replay could count it twice".into(),
            }),
            Ok(mut job) => {
                job.replay = true;
                let n = planned.len() as u32;
                let delay_s = rate_per_s.map_or(0, |r| n / r.max(1));
                planned.push(PlannedReplay { id: id.clone(), body: job.encode(), delay_s });
            }
            Err(e) => skipped.push(Skipped { id: id.clone(), reason: format!("not replayable: {}", e.message) }),
        }
    }
    (planned, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::from_epoch_ms;
    use crate::schedule::Task;
    use crate::site::SiteUrl;

    fn query(q: &[(&'static str, &'static str)]) -> Result<DeadLetterFilter, String> {
        DeadLetterFilter::from_query(q.iter().copied(), &["limit", "cursor"])
    }

    #[test]
    fn filters_parse_and_refuse_by_name() {
        let f = query(&[("customer_id", "acme"), ("error_class", "permanent"), ("limit", "5")]).unwrap();
        assert_eq!(f.customer_id.unwrap().as_str(), "acme");
        assert_eq!(f.error_class, Some(ErrorClass::Permanent));
        let check = |q: &[(&'static str, &'static str)], fragment: &str| {
            let e = query(q).unwrap_err();
            assert!(e.contains(fragment), "{q:?}: {e}");
        };
        check(&[("customer_id", "../x")], "customer id contains");
        check(&[("error_class", "fatal")], "transient or permanent");
        check(&[("status", "gone")], "dead, replayed or purged");
        check(&[("from_ms", "yesterday")], "epoch milliseconds");
        check(&[("from_ms", "10"), ("to_ms", "5")], "must be before");
        check(&[("colour", "red")], "unknown parameter \"colour\"");
        check(&[("origin_queue", "a b")], "not a queue name");
    }

    #[test]
    fn where_clauses_number_their_parameters_and_hide_purged_by_default() {
        let (sql, params) = DeadLetterFilter::default().where_sql();
        assert_eq!(sql, "status <> ?1");
        assert_eq!(params, vec![SqlParam::Text("purged".into())]);
        let f = query(&[("customer_id", "acme"), ("status", "replayed"), ("from_ms", "7")]).unwrap();
        let (sql, params) = f.where_sql();
        assert_eq!(sql, "customer_id = ?1 AND status = ?2 AND last_failed_ms >= ?3");
        assert_eq!(params, vec![SqlParam::Text("acme".into()), SqlParam::Text("replayed".into()), SqlParam::Int(7)]);
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let c = Cursor { last_failed_ms: 42, id: "local.optimize.20261129T011500Z.acme".into() };
        assert_eq!(Cursor::decode(&c.encode()), Ok(c));
        assert!(Cursor::decode("nope").is_err());
        assert!(Cursor::decode("x.y").is_err());
    }

    #[test]
    fn selections_need_exactly_one_of_ids_or_filter() {
        assert!(Selection::decode(r#"{"ids":["a.b"],"dry_run":true}"#).is_ok());
        let repeated = Selection::decode(r#"{"ids":["b","a","b","a"]}"#).unwrap();
        assert_eq!(repeated.ids, Some(vec!["b".to_owned(), "a".to_owned()]), "a repeated id is one entry");
        assert!(Selection::decode(r#"{"filter":{"customer_id":"acme"},"limit":10,"rate_per_s":5}"#).is_ok());
        let check = |body: &str, fragment: &str| {
            let e = Selection::decode(body).unwrap_err();
            assert!(e.contains(fragment), "{body}: {e}");
        };
        check("{}", "either ids or a filter");
        check(r#"{"ids":["a"],"filter":{}}"#, "not both");
        check(r#"{"ids":[]}"#, "1 to 1000");
        check(r#"{"ids":["a b"]}"#, "not a dead-letter id");
        check(r#"{"ids":["a"],"limit":0}"#, "limit must be");
        check(r#"{"ids":["a"],"rate_per_s":0}"#, "at least 1");
        check(r#"{"ids":["a"],"force":true}"#, "unknown field");
        check(r#"{"filter":{"customer_id":"../x"}}"#, "customer id contains");
        check("[", "invalid request");
    }

    #[test]
    fn replays_take_dead_jobs_only_and_spread_by_rate() {
        let at = from_epoch_ms(1_795_914_900_000).unwrap();
        let job = |c: &str| {
            OptimizeJob::new(
                SweepId::new("local", Task::Optimize, at),
                at,
                CustomerId::parse(c).unwrap(),
                SiteUrl::parse("https://a.example").unwrap(),
            )
        };
        let entries = vec![
            ("1".to_owned(), "dead".to_owned(), job("a").encode()),
            ("2".to_owned(), "replayed".to_owned(), job("b").encode()),
            ("3".to_owned(), "dead".to_owned(), "poison".to_owned()),
            ("4".to_owned(), "dead".to_owned(), job("c").encode()),
            ("5".to_owned(), "dead".to_owned(), job("d").encode()),
        ];
        let (planned, skipped) = plan_replay(&entries, Some(2), 1_795_914_900_000 + 1_000);
        assert_eq!(planned.iter().map(|p| (p.id.as_str(), p.delay_s)).collect::<Vec<_>>(), vec![("1", 0), ("4", 0), ("5", 1)]);
        assert!(OptimizeJob::decode(&planned[0].body).unwrap().replay, "replays are marked");
        assert_eq!(skipped.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), vec!["2", "3"]);
        let (planned, skipped) = plan_replay(&entries, None, 1_795_914_900_000 + MAX_REPLAY_AGE_MS + 1);
        assert!(planned.is_empty());
        assert!(skipped.iter().any(|s| s.id == "1" && s.reason.contains("retention")), "{skipped:?}");
    }
}
