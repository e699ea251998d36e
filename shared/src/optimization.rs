//! What a finished optimization job writes to R2, and where: the seed's layout
//! `optimizations/{customerId}/{timestamp}.json`, where `{timestamp}` is the sweep's
//! *scheduled* time in ISO 8601 basic UTC, so a retried job overwrites its own object instead
//! of adding a second one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::elite::EliteResponse;
use crate::ids::{basic_timestamp, rfc3339, CustomerId};
use crate::wire::OptimizeJob;

/// Version of [`OptimizationResult`] this build writes.
pub const RESULT_VERSION: u32 = 1;

/// The prefix of every optimization result: the only objects the results bucket expires (its
/// lifecycle rule, applied by `cargo xtask deploy` after `OPTIMIZATIONS_RETENTION_DAYS`);
/// reports and health checks live under other prefixes and are kept.
pub const OPTIMIZATIONS_PREFIX: &str = "optimizations/";

/// The R2 key of a customer's result for the sweep scheduled at `scheduled`.
pub fn optimization_key(customer: &CustomerId, scheduled: DateTime<Utc>) -> String {
    format!("{OPTIMIZATIONS_PREFIX}{customer}/{}.json", basic_timestamp(scheduled))
}

/// The R2 object of one optimization job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptimizationResult {
    pub v: u32,
    pub job_id: String,
    pub sweep_id: String,
    pub customer_id: String,
    pub site_url: String,
    /// RFC 3339 scheduled time of the sweep.
    pub scheduled_at: String,
    /// Which attempt produced this object (1 = first try).
    pub attempt: u32,
    /// RFC 3339 time the object was written.
    pub generated_at: String,
    pub brand: EliteResponse,
    pub designer: EliteResponse,
    pub developer: EliteResponse,
}

impl OptimizationResult {
    pub fn new(job: &OptimizeJob, attempt: u32, now: DateTime<Utc>, answers: [EliteResponse; 3]) -> Self {
        let [brand, designer, developer] = answers;
        Self {
            v: RESULT_VERSION,
            job_id: job.job_id.as_str().to_owned(),
            sweep_id: job.sweep_id.as_str().to_owned(),
            customer_id: job.customer_id.as_str().to_owned(),
            site_url: job.site_url.as_str().to_owned(),
            scheduled_at: rfc3339(job.scheduled),
            attempt,
            generated_at: rfc3339(now),
            brand,
            designer,
            developer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::from_epoch_ms;

    fn check(customer: &str, ms: i64, expected: &str) {
        let key = optimization_key(&CustomerId::parse(customer).unwrap(), from_epoch_ms(ms).unwrap());
        assert_eq!(key, expected);
    }

    #[test]
    fn keys_follow_the_seed_layout() {
        check("acme", 1_795_914_900_000, "optimizations/acme/20261129T011500Z.json");
        // Sub-second parts of the scheduled time never reach the key.
        check("acme", 1_795_914_900_999, "optimizations/acme/20261129T011500Z.json");
        check("a-b_9", 0, "optimizations/a-b_9/19700101T000000Z.json");
    }
}
