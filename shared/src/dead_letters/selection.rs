//! Which dead letters a replay or purge takes, and the pure decision behind a replay: a
//! request names explicit ids or a filter (never neither), a limit and an optional rate; the
//! answer says what was done and what was skipped and why. [`plan_replay`] decides which of the
//! selected entries are sent again and when each is delivered.

use serde::{Deserialize, Serialize};

use crate::api::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::dead_letters::query::DeadLetterFilter;
use crate::dead_letters::query::DeadLetterStatus;
use crate::dead_letters::record::valid_entry_id;
use crate::wire::OptimizeJob;

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
    /// Why: required unless `dry_run` (at most `audit::MAX_REASON_CHARS`), stored with the
    /// audit log's entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
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
        match s.reason.as_deref().map(str::trim) {
            Some(r) if r.chars().count() > crate::audit::MAX_REASON_CHARS => {
                return Err(format!("reason must be at most {} characters", crate::audit::MAX_REASON_CHARS))
            }
            None | Some("") if !s.dry_run => return Err("a reason is required: say why (it is kept in the audit log)".into()),
            _ => {}
        }
        Ok(s)
    }

    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(DEFAULT_LIMIT)
    }
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
                job.replay_at_ms = Some(now_ms);
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
    use crate::ids::{from_epoch_ms, CustomerId, RunId};
    use crate::schedule::Task;
    use crate::site::SiteUrl;

    #[test]
    fn selections_need_exactly_one_of_ids_or_filter() {
        assert!(Selection::decode(r#"{"ids":["a.b"],"dry_run":true}"#).is_ok());
        let repeated = Selection::decode(r#"{"ids":["b","a","b","a"],"reason":"r"}"#).unwrap();
        assert_eq!(repeated.ids, Some(vec!["b".to_owned(), "a".to_owned()]), "a repeated id is one entry");
        assert!(Selection::decode(r#"{"filter":{"customer_id":"acme"},"limit":10,"rate_per_s":5,"reason":"ticket 7"}"#).is_ok());
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
        check(r#"{"ids":["a"]}"#, "a reason is required");
        check(r#"{"ids":["a"],"reason":"  "}"#, "a reason is required");
        check(&format!(r#"{{"ids":["a"],"reason":"{}"}}"#, "x".repeat(501)), "at most 500");
    }

    #[test]
    fn replays_take_dead_jobs_only_and_spread_by_rate() {
        let at = from_epoch_ms(1_795_914_900_000).unwrap();
        let job = |c: &str| {
            OptimizeJob::new(
                RunId::new("local", Task::Optimize, at),
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
