//! Identifiers that cross the wire and become storage keys: customer ids (validated, since they
//! become R2 key segments), run ids and job ids (deterministic, so a retried or duplicated
//! message names the same job), the ISO 8601 basic timestamp used in R2 keys, and the RFC 3339
//! form of times inside objects and answers.

use std::fmt;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::schedule::Task;

/// A validated customer id: `[A-Za-z0-9_-]{1,64}`. It is an R2 key segment and a ledger key,
/// so nothing else may enter: no `/`, no `.`, no empty string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct CustomerId(String);

/// Why a string is not a customer id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerIdError {
    Empty,
    TooLong(usize),
    BadCharacter(char),
}

impl fmt::Display for CustomerIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "customer id is empty"),
            Self::TooLong(n) => write!(f, "customer id is {n} characters long; at most 64 are allowed"),
            Self::BadCharacter(c) => {
                write!(f, "customer id contains {c:?}; only A-Z, a-z, 0-9, '_' and '-' are allowed")
            }
        }
    }
}

impl std::error::Error for CustomerIdError {}

impl CustomerId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, CustomerIdError> {
        if raw.is_empty() {
            return Err(CustomerIdError::Empty);
        }
        if let Some(bad) = raw.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
            return Err(CustomerIdError::BadCharacter(bad));
        }
        if raw.len() > Self::MAX_LEN {
            return Err(CustomerIdError::TooLong(raw.len()));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for CustomerId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for CustomerId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Formats an instant as ISO 8601 basic UTC with second precision, e.g. `20261129T011500Z`:
/// the `{timestamp}` of the seed's R2 keys.
pub fn basic_timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// Formats an instant as RFC 3339 with second precision and a `Z` suffix, e.g.
/// `2026-11-29T01:15:00Z`: the times inside R2 objects, reports and API answers.
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Converts epoch milliseconds (as the runtime reports them) to an instant, refusing values
/// chrono cannot represent instead of panicking.
pub fn from_epoch_ms(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

/// Identifies one run of one scheduled task: `{environment}.{task}.{slot}`. A run is one firing
/// of a task: an optimization *sweep* (the slot is the scheduled time) or a report *run* (the
/// slot is the reported month, or the health check's hour; see `reports::jobs`). Two firings of
/// the same cron for the same slot produce the same run id, which is how the ledger absorbs
/// duplicated cron firings.
///
/// The ledger, the queues, the dead-letter store and the admin API carry it in fields named
/// `sweep_id` on the wire: the optimization sweep was the first kind of run, and an old and a
/// new Worker version exchange these bodies during a deploy, so the wire name stays.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RunId(String);

impl<'de> Deserialize<'de> for RunId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        // Deserialized from the admin API's `sweep_id` fields: the refusal names them as the
        // API and its operators spell them.
        Self::parse(&raw).ok_or_else(|| serde::de::Error::custom(format!("{raw:?} is not a sweep id")))
    }
}

impl RunId {
    /// `{environment}.{task}.{basic timestamp}`, e.g. `local.optimize.20261129T011500Z`.
    /// The scheduled time is truncated to the second, matching the R2 key's precision.
    pub fn new(environment: &str, task: Task, scheduled: DateTime<Utc>) -> Self {
        Self(format!("{environment}.{}.{}", task.as_str(), basic_timestamp(scheduled)))
    }

    /// Accepts a run id from an untrusted source (an API path), checking only its shape:
    /// three dot-separated, non-empty parts of safe characters.
    pub fn parse(raw: &str) -> Option<Self> {
        let parts: Vec<&str> = raw.split('.').collect();
        let safe = |p: &str| !p.is_empty() && p.len() <= 64 && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        (parts.len() == 3 && parts.iter().all(|p| safe(p))).then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The deterministic id of one optimization job: `{run id}.{customer id}`. The same (sweep,
/// customer) always yields the same job id, whatever message or retry carries it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    pub fn new(run: &RunId, customer: &CustomerId) -> Self {
        Self(format!("{run}.{customer}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stable 64-bit FNV-1a hash. Used where a hash must be identical on every build and
/// platform (ledger sharding, the stand-in's deterministic results), which std's randomly
/// keyed hasher is not.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_customer(raw: &str, expected: Result<&str, CustomerIdError>) {
        assert_eq!(CustomerId::parse(raw).map(|c| c.0), expected.map(str::to_owned), "input {raw:?}");
    }

    #[test]
    fn customer_ids_are_validated() {
        check_customer("acme", Ok("acme"));
        check_customer("A-b_9", Ok("A-b_9"));
        check_customer(&"x".repeat(64), Ok(&"x".repeat(64)));
        check_customer("", Err(CustomerIdError::Empty));
        check_customer(&"x".repeat(65), Err(CustomerIdError::TooLong(65)));
        check_customer("../etc", Err(CustomerIdError::BadCharacter('.')));
        check_customer("a/b", Err(CustomerIdError::BadCharacter('/')));
        check_customer("a b", Err(CustomerIdError::BadCharacter(' ')));
        check_customer("é", Err(CustomerIdError::BadCharacter('é')));
    }

    #[test]
    fn customer_id_deserialization_validates() {
        assert!(serde_json::from_str::<CustomerId>("\"ok-1\"").is_ok());
        let err = serde_json::from_str::<CustomerId>("\"../x\"").unwrap_err();
        assert!(err.to_string().contains("customer id contains '.'"), "{err}");
    }

    #[test]
    fn run_and_job_ids_are_deterministic() {
        let at = from_epoch_ms(1_795_914_900_123).unwrap(); // 2026-11-29T01:15:00.123Z
        let sweep = RunId::new("local", Task::Optimize, at);
        assert_eq!(sweep.as_str(), "local.optimize.20261129T011500Z");
        let job = JobId::new(&sweep, &CustomerId::parse("acme").unwrap());
        assert_eq!(job.as_str(), "local.optimize.20261129T011500Z.acme");
        assert_eq!(RunId::parse(sweep.as_str()), Some(sweep));
        assert_eq!(RunId::parse("a.b"), None);
        assert_eq!(RunId::parse("a.b/c.d"), None);
    }

    #[test]
    fn stable_hash_is_fnv1a() {
        assert_eq!(stable_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
