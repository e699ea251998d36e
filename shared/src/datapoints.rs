//! Workers Analytics Engine data points: what each point of the dataset `code24_jobs` holds,
//! built here so the Workers only hand them to the binding, and the platform's limits, checked
//! here so no point the pipeline builds can be refused (`crate::limits`: per point at most
//! [`MAX_BLOBS`] blobs, [`MAX_DOUBLES`] doubles, one index of at most [`MAX_INDEX_BYTES`]
//! bytes; at most [`MAX_POINTS_PER_INVOCATION`] points per invocation).
//!
//! One dataset holds every kind of point; `blob1` says which ([`Kind`]), so a SQL API query
//! filters on it (docs/ANALYTICS.md has the queries). The columns of each kind:
//!
//! | kind (`blob1`) | index | blobs 2.. | doubles |
//! | --- | --- | --- | --- |
//! | `job` | customer id, or a report job's subject | job id, run id, outcome (`succeeded`, `dead`) | attempts, duration ms, scored (0/1), brand, designer, developer score |
//! | `monthly-customer` | customer id | month, plan (or empty) | runs, successes, failures, average brand, designer, developer score, score change first→last run, duration ms sum, MRR cents at the month's start and end, expected brand, designer, developer score next month (-1: none) |
//! | `monthly-platform` | `platform` | month | customers, runs, successes, failures, success rate bp, p50 ms, p95 ms, transient failures, permanent failures, insights |
//! | `end-of-month` | `platform` | month | starting, new, expansion, contraction, churned, reactivation, ending MRR cents, customers at start, at end, churned, new, customer churn bp, NRR bp, next month's forecast, its low, its high, its MAPE bp |
//!
//! A missing number is written as 0 with a flag beside it where 0 is a real value (a job's
//! scores) or left 0 where the report's JSON says more (a rate of a month with no base).

use crate::limits;
use crate::ports::JobFinished;
use crate::reports::analytics::{CustomerMonthly, PlatformMonthly};
use crate::reports::forecast::MrrForecast;
use crate::reports::revenue::RevenueMetrics;
use crate::reports::summary::FinalReport;

// The limits' one home is `crate::limits`; these are its figures as `usize`.
/// Data points one Worker invocation may write.
pub const MAX_POINTS_PER_INVOCATION: usize = limits::AE_POINTS_PER_INVOCATION as usize;
/// Blobs per point.
pub const MAX_BLOBS: usize = limits::AE_BLOBS as usize;
/// Doubles per point.
pub const MAX_DOUBLES: usize = limits::AE_DOUBLES as usize;
/// Bytes of a point's one index.
pub const MAX_INDEX_BYTES: usize = limits::AE_INDEX_BYTES as usize;
/// Bytes of all of a point's blobs together.
pub const MAX_BLOB_BYTES: usize = limits::AE_BLOB_BYTES as usize;

/// The index of platform-wide points.
pub const PLATFORM_INDEX: &str = "platform";

/// What a point describes: its `blob1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Job,
    MonthlyCustomer,
    MonthlyPlatform,
    EndOfMonth,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Job => "job",
            Self::MonthlyCustomer => "monthly-customer",
            Self::MonthlyPlatform => "monthly-platform",
            Self::EndOfMonth => "end-of-month",
        }
    }
}

/// One data point, within the limits by construction ([`DataPoint::new`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DataPoint {
    pub index: String,
    /// `blobs[0]` is the [`Kind`].
    pub blobs: Vec<String>,
    pub doubles: Vec<f64>,
}

impl DataPoint {
    /// A point of `kind`, or why the platform would refuse it.
    pub fn new(kind: Kind, index: &str, blobs: &[&str], doubles: &[f64]) -> Result<Self, String> {
        let mut all = vec![kind.as_str().to_owned()];
        all.extend(blobs.iter().map(|b| (*b).to_owned()));
        let blob_bytes: usize = all.iter().map(String::len).sum();
        if index.len() > MAX_INDEX_BYTES {
            return Err(format!("index of {} bytes; at most {MAX_INDEX_BYTES}", index.len()));
        }
        if all.len() > MAX_BLOBS || blob_bytes > MAX_BLOB_BYTES {
            return Err(format!("{} blobs of {blob_bytes} bytes; at most {MAX_BLOBS} of {MAX_BLOB_BYTES}", all.len()));
        }
        if doubles.len() > MAX_DOUBLES {
            return Err(format!("{} doubles; at most {MAX_DOUBLES}", doubles.len()));
        }
        Ok(Self { index: index.to_owned(), blobs: all, doubles: doubles.to_vec() })
    }
}

/// Counts the points of one invocation against [`MAX_POINTS_PER_INVOCATION`].
#[derive(Debug, Default)]
pub struct PointBudget {
    written: std::cell::Cell<usize>,
}

impl PointBudget {
    /// Takes one point from the budget: `false` once the invocation has written its limit.
    pub fn take(&self) -> bool {
        let n = self.written.get();
        if n >= MAX_POINTS_PER_INVOCATION {
            return false;
        }
        self.written.set(n + 1);
        true
    }

    pub fn written(&self) -> usize {
        self.written.get()
    }
}

fn num(v: Option<i64>) -> f64 {
    v.unwrap_or(0) as f64
}

/// A finished job (optimization or report): its outcome and, when it wrote them, its scores.
pub fn job_point(e: &JobFinished) -> Result<DataPoint, String> {
    let outcome = if e.succeeded { "succeeded" } else { "dead" };
    let s = e.scores.map_or([0.0; 3], |s| s.map(f64::from));
    let doubles = [f64::from(e.attempts), e.duration_ms as f64, if e.scores.is_some() { 1.0 } else { 0.0 }, s[0], s[1], s[2]];
    DataPoint::new(Kind::Job, &e.customer_id, &[&e.job_id, &e.run_id, outcome], &doubles)
}

/// One customer's month, as its monthly-analytics job folded it, with its MRR over the month and
/// its expected scores next month (`-1` where there is no expectation).
pub fn monthly_customer_point(
    month: &str,
    s: &CustomerMonthly,
    revenue: &RevenueMetrics,
    expected: [Option<f64>; 3],
) -> Result<DataPoint, String> {
    let plan = s.insight_sample.as_ref().and_then(|i| i.plan).map_or("", |p| p.as_str());
    let avg = s.average_scores.map(|a| a.unwrap_or(0.0));
    let doubles = [
        s.runs as f64,
        s.successes as f64,
        s.failures as f64,
        avg[0],
        avg[1],
        avg[2],
        s.improvement().unwrap_or(0.0),
        s.duration_ms_sum as f64,
        revenue.starting_mrr_cents as f64,
        revenue.ending_mrr_cents as f64,
        expected[0].unwrap_or(-1.0),
        expected[1].unwrap_or(-1.0),
        expected[2].unwrap_or(-1.0),
    ];
    DataPoint::new(Kind::MonthlyCustomer, &s.customer_id, &[month, plan], &doubles)
}

/// The platform's month, as the monthly analytics' finalize job reported it.
pub fn monthly_platform_point(month: &str, p: &PlatformMonthly, insights: usize) -> Result<DataPoint, String> {
    let doubles = [
        p.customers as f64,
        p.runs as f64,
        p.successes as f64,
        p.failures as f64,
        num(p.success_rate_bp),
        num(p.p50_duration_ms),
        num(p.p95_duration_ms),
        p.transient_failures as f64,
        p.permanent_failures as f64,
        insights as f64,
    ];
    DataPoint::new(Kind::MonthlyPlatform, PLATFORM_INDEX, &[month], &doubles)
}

/// The end-of-month report's revenue bridge and next month's MRR forecast.
pub fn end_of_month_point(r: &FinalReport) -> Result<DataPoint, String> {
    let v = &r.revenue;
    let (forecast, low, high, mape) = match r.forecast.as_ref().and_then(|f| f.next_month_mrr()) {
        Some(MrrForecast::Estimate { mrr_cents, low_cents, high_cents, backtest, .. }) => {
            (*mrr_cents, *low_cents, *high_cents, backtest.mape_bp.unwrap_or(0))
        }
        _ => (0, 0, 0, 0),
    };
    let doubles = [
        v.starting_mrr_cents,
        v.new_mrr_cents,
        v.expansion_mrr_cents,
        v.contraction_mrr_cents,
        v.churned_mrr_cents,
        v.reactivation_mrr_cents,
        v.ending_mrr_cents,
        v.customers_at_start as i64,
        v.customers_at_end as i64,
        v.churned_customers as i64,
        v.new_customers as i64,
        v.customer_churn_rate_bp.unwrap_or(0),
        v.net_revenue_retention_bp.unwrap_or(0),
        forecast,
        low,
        high,
        mape,
    ]
    .map(|c| c as f64);
    DataPoint::new(Kind::EndOfMonth, PLATFORM_INDEX, &[&r.month], &doubles)
}

#[cfg(test)]
mod tests;
