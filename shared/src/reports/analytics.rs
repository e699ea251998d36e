//! Monthly analytics from per-customer daily rollups (never from the optimization objects in
//! R2: a site writes ~14,400 of them a month). A rollup is a customer's day: runs, outcomes,
//! a duration histogram and score sums, updated exactly once per finished job. From a month
//! of rollups come one customer's section ([`customer_section`]); from every section and the
//! merged histograms, the platform report ([`platform_report`]).

use serde::{Deserialize, Serialize};

use crate::reports::advice::{Insight, InsightSample};
use crate::reports::revenue::basis_points;

/// Upper bounds (inclusive, ms) of the duration histogram's buckets; the last is open.
pub const DURATION_BUCKETS_MS: [i64; 10] = [100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, i64::MAX];
/// Elite roles in score arrays: brand, designer, developer.
pub const ROLES: [&str; 3] = ["brand", "designer", "developer"];
/// How many customers the report lists as top improvers and top regressions.
pub const TOP: usize = 5;

/// The histogram bucket of a duration.
pub fn bucket_of(duration_ms: i64) -> usize {
    DURATION_BUCKETS_MS.iter().position(|b| duration_ms <= *b).unwrap_or(DURATION_BUCKETS_MS.len() - 1)
}

/// One customer's day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyRollup {
    pub customer_id: String,
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub runs: u64,
    pub successes: u64,
    pub transient_failures: u64,
    pub permanent_failures: u64,
    pub duration_ms_sum: i64,
    /// Job counts per [`DURATION_BUCKETS_MS`] bucket.
    pub duration_buckets: Vec<u64>,
    /// Score sums of successful runs, per role.
    pub score_sums: [u64; 3],
    /// Successes that carried scores (a result recovered from a crashed attempt has none):
    /// the denominator of score averages.
    #[serde(default)]
    pub scored: u64,
    /// Scores of the day's first and last successful run, with their times.
    pub first_scores: Option<[u8; 3]>,
    pub first_at_ms: Option<i64>,
    pub last_scores: Option<[u8; 3]>,
    pub last_at_ms: Option<i64>,
}

/// One customer's section of the monthly report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerMonthly {
    pub customer_id: String,
    pub runs: u64,
    pub successes: u64,
    pub failures: u64,
    /// Average score of successful runs per role (brand, designer, developer).
    pub average_scores: [Option<f64>; 3],
    /// Least-squares slope of the daily average score, points per day, per role.
    pub score_trend_per_day: [Option<f64>; 3],
    pub first_scores: Option<[u8; 3]>,
    pub last_scores: Option<[u8; 3]>,
    pub transient_failures: u64,
    pub permanent_failures: u64,
    pub duration_ms_sum: i64,
    pub duration_buckets: Vec<u64>,
    /// The customer's part of the cross-customer insights, added by its monthly job after the
    /// fold (absent in sections written before insights existed).
    #[serde(default)]
    pub insight_sample: Option<InsightSample>,
}

impl CustomerMonthly {
    /// Change of the mean of the three scores from the first to the last run of the month.
    pub fn improvement(&self) -> Option<f64> {
        let mean = |s: [u8; 3]| s.iter().map(|v| f64::from(*v)).sum::<f64>() / 3.0;
        Some(mean(self.last_scores?) - mean(self.first_scores?))
    }
}

/// Least-squares slope of `points` (x, y); `None` with fewer than two distinct x.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + (x - mx) * (y - my), b + (x - mx) * (x - mx)));
    (den > 0.0).then(|| num / den)
}

/// Folds a customer's rollups of one month into their section. Days are ordered by date.
pub fn customer_section(customer_id: &str, rollups: &[DailyRollup]) -> CustomerMonthly {
    section_of_days(customer_id, rollups.iter().filter(|r| r.customer_id == customer_id).collect())
}

/// A customer's section from their own days, in any order.
fn section_of_days(customer_id: &str, mut days: Vec<&DailyRollup>) -> CustomerMonthly {
    days.sort_by(|a, b| a.day.cmp(&b.day));
    let mut s = CustomerMonthly {
        customer_id: customer_id.to_owned(),
        runs: 0,
        successes: 0,
        failures: 0,
        average_scores: [None; 3],
        score_trend_per_day: [None; 3],
        first_scores: days.iter().find_map(|d| d.first_scores),
        last_scores: days.iter().rev().find_map(|d| d.last_scores),
        transient_failures: 0,
        permanent_failures: 0,
        duration_ms_sum: 0,
        duration_buckets: vec![0; DURATION_BUCKETS_MS.len()],
        insight_sample: None,
    };
    let mut sums = [0u64; 3];
    let scored: u64 = days.iter().map(|d| d.scored).sum();
    for d in &days {
        s.runs += d.runs;
        s.successes += d.successes;
        s.transient_failures += d.transient_failures;
        s.permanent_failures += d.permanent_failures;
        s.duration_ms_sum += d.duration_ms_sum;
        for (total, n) in s.duration_buckets.iter_mut().zip(&d.duration_buckets) {
            *total += n;
        }
        for (total, n) in sums.iter_mut().zip(d.score_sums) {
            *total += n;
        }
    }
    s.failures = s.transient_failures + s.permanent_failures;
    for (role, sum) in sums.iter().enumerate() {
        if scored > 0 {
            s.average_scores[role] = Some(*sum as f64 / scored as f64);
        }
        let points: Vec<(f64, f64)> = days
            .iter()
            .enumerate()
            .filter(|(_, d)| d.scored > 0)
            .map(|(i, d)| (i as f64, d.score_sums[role] as f64 / d.scored as f64))
            .collect();
        s.score_trend_per_day[role] = slope(&points);
    }
    s
}

/// Every customer's section from a month of everyone's rollups, ordered by customer id. One
/// pass to group the rollups by customer, then one section per group: linear in the rollups
/// (a section per customer over the whole slice would be customers × rollups, hours of CPU at
/// 100,000 customers).
pub fn sections_of(rollups: &[DailyRollup]) -> Vec<CustomerMonthly> {
    let mut by_customer: std::collections::BTreeMap<&str, Vec<&DailyRollup>> = std::collections::BTreeMap::new();
    for r in rollups {
        by_customer.entry(r.customer_id.as_str()).or_default().push(r);
    }
    by_customer.into_iter().map(|(c, days)| section_of_days(c, days)).collect()
}

/// A customer's score change, for the improvers and regressions lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreChange {
    pub customer_id: String,
    /// Mean score at the last run minus mean score at the first run of the month.
    pub change: f64,
}

/// The platform-wide monthly report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlatformMonthly {
    pub customers: u64,
    pub runs: u64,
    pub successes: u64,
    pub failures: u64,
    pub success_rate_bp: Option<i64>,
    /// Job duration percentiles, as the upper bound of the histogram bucket they fall in.
    pub p50_duration_ms: Option<i64>,
    pub p95_duration_ms: Option<i64>,
    pub transient_failures: u64,
    pub permanent_failures: u64,
    pub top_improvers: Vec<ScoreChange>,
    pub top_regressions: Vec<ScoreChange>,
}

/// The upper bound of the bucket holding the `p`-th percentile (0-100) of a histogram.
pub fn percentile_bucket(buckets: &[u64], p: u32) -> Option<i64> {
    let total: u64 = buckets.iter().sum();
    if total == 0 {
        return None;
    }
    // The smallest bucket whose cumulative count reaches p % of all jobs.
    let rank = (total * u64::from(p)).div_ceil(100).max(1);
    let mut seen = 0;
    for (i, n) in buckets.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return DURATION_BUCKETS_MS.get(i).copied();
        }
    }
    None
}

/// Combines every customer's section into the platform report.
pub fn platform_report(sections: &[CustomerMonthly]) -> PlatformMonthly {
    let mut fold = PlatformFold::default();
    sections.iter().for_each(|s| fold.add(s));
    fold.finish()
}

/// The platform report folded one section at a time, in any order, holding only totals and the
/// top [`TOP`] of each list: what a report over every customer keeps while it reads pages.
#[derive(Debug, Clone, Default)]
pub struct PlatformFold {
    customers: u64,
    runs: u64,
    successes: u64,
    failures: u64,
    transient_failures: u64,
    permanent_failures: u64,
    buckets: Vec<u64>,
    /// The largest positive changes, best first (ties by customer id).
    improvers: Vec<ScoreChange>,
    /// The largest negative changes, worst first (ties by customer id, last first).
    regressions: Vec<ScoreChange>,
}

/// Inserts `c` into `top`, ordered by `before`, keeping at most [`TOP`].
fn keep_top(top: &mut Vec<ScoreChange>, c: ScoreChange, before: impl Fn(&ScoreChange, &ScoreChange) -> std::cmp::Ordering) {
    let at = top.partition_point(|t| before(t, &c) == std::cmp::Ordering::Less);
    if at < TOP {
        top.insert(at, c);
        top.truncate(TOP);
    }
}

impl PlatformFold {
    /// Counts one customer's section.
    pub fn add(&mut self, s: &CustomerMonthly) {
        self.customers += 1;
        self.runs += s.runs;
        self.successes += s.successes;
        self.failures += s.failures;
        self.transient_failures += s.transient_failures;
        self.permanent_failures += s.permanent_failures;
        self.buckets.resize(DURATION_BUCKETS_MS.len(), 0);
        for (total, n) in self.buckets.iter_mut().zip(&s.duration_buckets) {
            *total += n;
        }
        let Some(change) = s.improvement() else { return };
        let c = ScoreChange { customer_id: s.customer_id.clone(), change };
        // The order of a sort by change (largest first, then by customer id), read from either end.
        if change > 0.0 {
            keep_top(&mut self.improvers, c, |a, b| b.change.total_cmp(&a.change).then_with(|| a.customer_id.cmp(&b.customer_id)));
        } else if change < 0.0 {
            keep_top(&mut self.regressions, c, |a, b| a.change.total_cmp(&b.change).then_with(|| b.customer_id.cmp(&a.customer_id)));
        }
    }

    /// The platform report of every section added.
    pub fn finish(mut self) -> PlatformMonthly {
        self.buckets.resize(DURATION_BUCKETS_MS.len(), 0);
        PlatformMonthly {
            customers: self.customers,
            runs: self.runs,
            successes: self.successes,
            failures: self.failures,
            success_rate_bp: basis_points(self.successes as i64, self.runs as i64),
            p50_duration_ms: percentile_bucket(&self.buckets, 50),
            p95_duration_ms: percentile_bucket(&self.buckets, 95),
            transient_failures: self.transient_failures,
            permanent_failures: self.permanent_failures,
            top_improvers: self.improvers,
            top_regressions: self.regressions,
        }
    }
}

/// Version of the monthly analytics object.
pub const MONTHLY_REPORT_VERSION: u32 = 1;

/// `analytics/monthly/{year}/{month}/report.json`: the platform report and every section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthlyReport {
    pub v: u32,
    /// `YYYY-MM`.
    pub month: String,
    pub generated_at: String,
    pub platform: PlatformMonthly,
    /// Ordered by customer id.
    pub customers: Vec<CustomerMonthly>,
    /// What worked across customers (`crate::reports::insights`), best first.
    #[serde(default)]
    pub insights: Vec<Insight>,
}

/// The monthly analytics object of `month` from every customer's section (in any order).
pub fn monthly_report(month: &str, generated_at: &str, mut sections: Vec<CustomerMonthly>) -> MonthlyReport {
    sections.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
    MonthlyReport {
        v: MONTHLY_REPORT_VERSION,
        month: month.to_owned(),
        generated_at: generated_at.to_owned(),
        platform: platform_report(&sections),
        customers: sections,
        insights: Vec::new(),
    }
}

#[cfg(test)]
mod tests;
