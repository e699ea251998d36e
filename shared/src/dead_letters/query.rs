//! What the admin API lists of the dead-letter store: the entry statuses, filters (parsed and
//! validated from a query string or a JSON body, turned into the SQL `WHERE` the dispatcher
//! runs against D1), cursor pages, and the list and single-entry answers. The ops CLI and the
//! dashboard speak the same types.

use serde::{Deserialize, Serialize};

use crate::dead_letters::record::StoreStats;
use crate::error::ErrorClass;
use crate::ids::{CustomerId, RunId};

/// The status of a stored dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeadLetterStatus {
    /// Waiting for an operator.
    Dead,
    /// Sent again for its original run; if it dies again it comes back as `dead`.
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
    /// Dead letters of one run; the query parameter is `sweep_id`, which the ops CLI and the
    /// dashboard send (see [`RunId`]).
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "sweep_id")]
    pub run_id: Option<RunId>,
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
                "sweep_id" => f.run_id = Some(RunId::parse(value).ok_or_else(|| format!("{value:?} is not a sweep id"))?),
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
        if let Some(v) = &self.run_id {
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
    /// The run the job belonged to; `sweep_id` in the admin API's answer, which the ops CLI
    /// and the dashboard read (see [`RunId`]).
    #[serde(rename = "sweep_id")]
    pub run_id: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
