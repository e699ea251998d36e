//! The work of each kind of report job, once claimed: read its inputs through the store,
//! compute the report with the pure functions of [`crate::reports`], write the result. Every
//! write is idempotent (an upsert, or an object rewritten at its key), so a retry simply does
//! the work again. Storage failures are transient; a job without the month its kind needs is
//! permanent (retrying cannot give it one).

use serde::Serialize;

use super::{health, streamed};
use crate::error::JobError;
use crate::ids::from_epoch_ms;
use crate::ids::rfc3339;
use crate::ports::{HealthProbes, PartUploads, ReportStore, ResultStore};
use crate::reports::analytics::customer_section;
use crate::reports::health::HealthReport;
use crate::reports::jobs::{ReportJob, ReportWork};
use crate::reports::period::{health_check_key, Month};

/// The service-binding calls of one job's work: the health check's (each elite worker's
/// `/health` and the canary's three optimization calls); nothing else calls an elite worker.
pub(super) fn service_binding_calls(job: &ReportJob) -> u32 {
    match job.work {
        ReportWork::HealthCheck => health::SERVICE_BINDING_CALLS,
        _ => 0,
    }
}

/// The connections one job's work holds open at once: the health check's widest phase, the
/// end-of-month's three concurrent reads, one otherwise (its reads and writes in sequence).
pub(super) fn connections(job: &ReportJob) -> u32 {
    match job.work {
        ReportWork::HealthCheck => health::CONNECTIONS,
        ReportWork::EndOfMonth => 3,
        ReportWork::MonthlyCustomer { .. } | ReportWork::MonthlyFinalize => 1,
    }
}

/// Does the work of one claimed job.
pub(super) async fn run(
    store: &impl ReportStore,
    results: &(impl ResultStore + PartUploads),
    probes: &impl HealthProbes,
    job: &ReportJob,
    now: &dyn Fn() -> i64,
) -> Result<(), JobError> {
    match &job.work {
        ReportWork::MonthlyCustomer { customer_id } => {
            let rollups = store.month_rollups(customer_id.as_str(), month_of(job)?).await?;
            store.put_section(&job.run_id, &customer_section(customer_id.as_str(), &rollups)).await
        }
        // Both read every customer in pages and write as they read (`streamed`).
        ReportWork::MonthlyFinalize => streamed::finalize(store, results, job, month_of(job)?, &generated_at(now)).await,
        ReportWork::EndOfMonth => streamed::end_of_month(store, results, job, month_of(job)?, &generated_at(now)).await,
        ReportWork::HealthCheck => {
            let scheduled = job.scheduled().ok_or_else(|| JobError::permanent("health check without a scheduled time"))?;
            let checks = health::run_checks(probes, &job.run_id, scheduled, now).await;
            let report = HealthReport::new(&job.run_id, &rfc3339(scheduled), &generated_at(now), checks.checks, checks.sites);
            put_json(results, &health_check_key(scheduled), &report, job).await
        }
    }
}

/// Writes `value` as pretty JSON at `key`, tagged with the job id.
async fn put_json<T: Serialize>(results: &impl ResultStore, key: &str, value: &T, job: &ReportJob) -> Result<(), JobError> {
    let body = serde_json::to_vec_pretty(value).map_err(|e| JobError::permanent(format!("{key} does not serialize: {e}")))?;
    results.put(key, body, &job.job_id).await
}

/// The month a monthly job reports on (decoding guarantees one; this keeps it explicit).
fn month_of(job: &ReportJob) -> Result<Month, JobError> {
    job.month.ok_or_else(|| JobError::permanent(format!("report job {} names no month", job.job_id)))
}

/// `generated_at` of a report: now, RFC 3339.
fn generated_at(now: &dyn Fn() -> i64) -> String {
    from_epoch_ms(now()).map(rfc3339).unwrap_or_default()
}
