//! The work of each kind of report job, once claimed: read its inputs through the store,
//! compute the report with the pure functions of [`crate::reports`], write the result. Every
//! write is idempotent (an upsert, or an object rewritten at its key), so a retry simply does
//! the work again. Storage failures are transient; a job without the month its kind needs is
//! permanent (retrying cannot give it one).
//!
//! The monthly and end-of-month jobs also write their aggregates to Analytics Engine
//! (`crate::datapoints`) once their report is written: a customer job its customer's month, the
//! finalize job the platform's month, the end-of-month job the revenue bridge and forecast. A
//! customer's point is written by its own job, so a run's per-customer points are spread over
//! as many invocations as its customer jobs (at most a batch of 10 per invocation).

use serde::Serialize;

use super::{health, streamed};
use crate::datapoints::{monthly_customer_point, DataPoint};
use crate::error::JobError;
use crate::ids::rfc3339;
use crate::ids::{from_epoch_ms, CustomerId};
use crate::optimization::{optimization_key, OptimizationResult};
use crate::ports::{HealthProbes, Metrics, ObjectReader, PartUploads, ReportStore, ResultStore};
use crate::reports::advice::{advice_of, InsightSample};
use crate::reports::analytics::{customer_section, DailyRollup};
use crate::reports::forecast::scores::{expected_scores, gap_days};
use crate::reports::health::HealthReport;
use crate::reports::jobs::{ReportJob, ReportWork};
use crate::reports::period::{health_check_key, Month};
use crate::reports::revenue::revenue_metrics;

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
    results: &(impl ResultStore + PartUploads + ObjectReader),
    probes: &impl HealthProbes,
    metrics: &impl Metrics,
    job: &ReportJob,
    now: &dyn Fn() -> i64,
) -> Result<(), JobError> {
    match &job.work {
        ReportWork::MonthlyCustomer { customer_id } => {
            let month = month_of(job)?;
            let rollups = store.month_rollups(customer_id.as_str(), month).await?;
            let mut section = customer_section(customer_id.as_str(), &rollups);
            section.insight_sample = Some(insight_sample(store, results, customer_id.as_str(), &rollups).await?);
            store.put_section(&job.run_id, &section).await?;
            // The customer's revenue and expected scores ride on its own job's point, so the
            // per-customer figures of a month are spread over the run's invocations.
            let billing = store.customer_billing(customer_id.as_str(), month.end().timestamp_millis()).await?;
            let revenue = revenue_metrics(&billing, month.start().timestamp_millis(), month.end().timestamp_millis());
            let expected = expected_scores(&section, gap_days(month));
            aggregate(metrics, monthly_customer_point(&month.label(), &section, &revenue, expected));
            Ok(())
        }
        // Both read every customer in pages and write as they read (`streamed`), then their
        // aggregates (and the finalize its platform context).
        ReportWork::MonthlyFinalize => streamed::finalize(store, results, metrics, job, month_of(job)?, &generated_at(now)).await,
        ReportWork::EndOfMonth => streamed::end_of_month(store, results, metrics, job, month_of(job)?, &generated_at(now)).await,
        ReportWork::HealthCheck => {
            let scheduled = job.scheduled().ok_or_else(|| JobError::permanent("health check without a scheduled time"))?;
            let checks = health::run_checks(probes, &job.run_id, scheduled, now).await;
            let report = HealthReport::new(&job.run_id, &rfc3339(scheduled), &generated_at(now), checks.checks, checks.sites);
            put_json(results, &health_check_key(scheduled), &report, job).await
        }
    }
}

/// A customer's part of the insights: its plan, and the recommendations of its first scored
/// optimization of the month, read back from that one R2 object (its key is a function of the
/// customer and the run's scheduled time, which the rollup of its day recorded). An object
/// that is gone or unreadable leaves the advice empty: the customer then counts in no claim.
async fn insight_sample(
    store: &impl ReportStore,
    results: &impl ObjectReader,
    customer_id: &str,
    rollups: &[DailyRollup],
) -> Result<InsightSample, JobError> {
    let plan = store.plan_of(customer_id).await?;
    let first = rollups.iter().filter(|r| r.customer_id == customer_id && r.first_scores.is_some()).min_by(|a, b| a.day.cmp(&b.day));
    let key = first
        .and_then(|r| r.first_at_ms)
        .and_then(from_epoch_ms)
        .zip(CustomerId::parse(customer_id).ok())
        .map(|(at, c)| optimization_key(&c, at));
    let Some(key) = key else { return Ok(InsightSample { plan, advice: Vec::new() }) };
    let result: Option<OptimizationResult> = results.get(&key).await?.and_then(|body| serde_json::from_slice(&body).ok());
    Ok(InsightSample { plan, advice: result.as_ref().map(advice_of).unwrap_or_default() })
}

/// Writes a report's aggregate; a point the core refuses is left out (it would be refused by
/// the platform too, and the report in R2 holds the numbers).
pub(super) fn aggregate(metrics: &impl Metrics, point: Result<DataPoint, String>) {
    if let Ok(point) = point {
        metrics.aggregate(&point);
    }
}

/// Writes `value` as pretty JSON at `key`, tagged with the job id.
pub(super) async fn put_json<T: Serialize>(results: &impl ResultStore, key: &str, value: &T, job: &ReportJob) -> Result<(), JobError> {
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
