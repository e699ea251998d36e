//! The end-of-month final report and its executive summary. The summary is computed from the
//! final report value itself (headline KPIs with month-over-month change, and a few sentences
//! generated from the numbers, next month's forecast among them), so the two objects written to
//! R2 always agree.

use serde::{Deserialize, Serialize};

use crate::reports::analytics::{platform_report, CustomerMonthly, PlatformMonthly};
use crate::reports::forecast::scores::ScoreBacktest;
use crate::reports::forecast::{forecast, Forecast, MrrForecast};
use crate::reports::period::Month;
use crate::reports::revenue::{basis_points, revenue_metrics, BillingEvent, RevenueMetrics};

/// Version of both end-of-month objects.
pub const REPORT_VERSION: u32 = 1;

/// `reports/end-of-month/{year}/{month}/final-report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalReport {
    pub v: u32,
    /// `YYYY-MM`.
    pub month: String,
    pub generated_at: String,
    pub revenue: RevenueMetrics,
    /// The previous month, for month-over-month changes.
    pub previous_revenue: RevenueMetrics,
    /// Technical performance of the month's optimization jobs (from the daily rollups).
    pub technical: PlatformMonthly,
    pub previous_technical: PlatformMonthly,
    /// MRR of the next months and each customer's expected scores, with their backtests.
    /// Absent from reports written before forecasts existed.
    #[serde(default)]
    pub forecast: Option<Forecast>,
}

/// What the end-of-month report of a month is computed from.
#[derive(Debug, Clone, Copy)]
pub struct MonthInputs<'a> {
    /// Every billing event before the month's end (earlier ones give the starting MRR).
    pub billing: &'a [BillingEvent],
    /// Every customer's section of the month, and of the month before (from the daily rollups).
    pub sections: &'a [CustomerMonthly],
    pub previous_sections: &'a [CustomerMonthly],
}

/// The final report of `month`: revenue of the month and of the month before from the billing
/// history, technical performance of both from the rollups, and the forecast from both.
pub fn final_report(month: Month, generated_at: &str, inputs: MonthInputs<'_>) -> FinalReport {
    let metrics = |m: Month| revenue_metrics(inputs.billing, m.start().timestamp_millis(), m.end().timestamp_millis());
    FinalReport {
        v: REPORT_VERSION,
        month: month.label(),
        generated_at: generated_at.to_owned(),
        revenue: metrics(month),
        previous_revenue: metrics(month.previous()),
        technical: platform_report(inputs.sections),
        previous_technical: platform_report(inputs.previous_sections),
        forecast: Some(forecast(month, inputs.billing, inputs.sections, inputs.previous_sections)),
    }
}

/// One headline number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kpi {
    pub name: String,
    /// `cents`, `bp` (basis points) or `count`.
    pub unit: String,
    pub value: Option<i64>,
    pub previous: Option<i64>,
    /// `value - previous`, in the same unit.
    pub change: Option<i64>,
    /// The change relative to `previous`, in basis points.
    pub change_bp: Option<i64>,
}

impl Kpi {
    fn new(name: &str, unit: &str, value: Option<i64>, previous: Option<i64>) -> Self {
        let change = value.zip(previous).map(|(v, p)| v - p);
        let change_bp = change.zip(previous).and_then(|(c, p)| basis_points(c, p.abs()));
        Self { name: name.into(), unit: unit.into(), value, previous, change, change_bp }
    }
}

/// `reports/end-of-month/{year}/{month}/executive-summary.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutiveSummary {
    pub v: u32,
    pub month: String,
    pub headline: Vec<Kpi>,
    pub sentences: Vec<String>,
}

/// `12345` cents → `$123.45`, with thousands separators.
pub fn dollars(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let (whole, frac) = (cents.unsigned_abs() / 100, cents.unsigned_abs() % 100);
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}${grouped}.{frac:02}")
}

/// `4160` bp → `41.6%`.
pub fn percent(bp: i64) -> String {
    let sign = if bp < 0 { "-" } else { "" };
    let tenths = (bp.unsigned_abs() + 5) / 10;
    format!("{sign}{}.{}%", tenths / 10, tenths % 10)
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Next month's MRR forecast with its interval and backtest error, or why there is none.
fn mrr_forecast_sentence(next: &MrrForecast) -> String {
    match next {
        MrrForecast::Estimate { month, mrr_cents, low_cents, high_cents, backtest, .. } => format!(
            "MRR for {month} is forecast at {} (interval {} to {}); this method's one-month forecasts of the last {} were off by {}{} at most.",
            dollars(*mrr_cents),
            dollars(*low_cents),
            dollars(*high_cents),
            plural(u64::from(backtest.months), "month", "months"),
            backtest.mape_bp.map_or(String::new(), |bp| format!("{} on average, ", percent(bp))),
            dollars(backtest.max_absolute_error_cents),
        ),
        MrrForecast::InsufficientHistory { month, months_available, months_needed, .. } => format!(
            "Too little billing history to forecast MRR for {month}: {} available, {months_needed} needed.",
            plural(u64::from(*months_available), "month", "months")
        ),
    }
}

/// How well last month's score trends forecast this month, beside assuming no change; nothing
/// when no customer was scored in both months.
fn score_backtest_sentence(b: &ScoreBacktest) -> Option<String> {
    let (trend, still) = (b.mean_absolute_error?, b.no_change_mean_absolute_error?);
    Some(format!(
        "Last month's score trends forecast this month's average scores within {trend:.1} points on average \
         ({still:.1} assuming no change), over {}.",
        plural(b.customers, "customer", "customers")
    ))
}

/// The summary of a final report.
pub fn executive_summary(r: &FinalReport) -> ExecutiveSummary {
    let (now, before) = (&r.revenue, &r.previous_revenue);
    let count = |n: u64| Some(i64::try_from(n).unwrap_or(i64::MAX));
    let headline = vec![
        Kpi::new("ending_mrr", "cents", Some(now.ending_mrr_cents), Some(before.ending_mrr_cents)),
        Kpi::new(
            "net_new_mrr",
            "cents",
            Some(now.ending_mrr_cents - now.starting_mrr_cents),
            Some(before.ending_mrr_cents - before.starting_mrr_cents),
        ),
        Kpi::new("paying_customers", "count", count(now.customers_at_end), count(before.customers_at_end)),
        Kpi::new("customer_churn_rate", "bp", now.customer_churn_rate_bp, before.customer_churn_rate_bp),
        Kpi::new("net_revenue_retention", "bp", now.net_revenue_retention_bp, before.net_revenue_retention_bp),
        Kpi::new("arpa", "cents", now.arpa_cents, before.arpa_cents),
        Kpi::new("optimization_success_rate", "bp", r.technical.success_rate_bp, r.previous_technical.success_rate_bp),
    ];
    let mut sentences = Vec::new();
    let direction = match now.ending_mrr_cents.cmp(&now.starting_mrr_cents) {
        std::cmp::Ordering::Greater => "up",
        std::cmp::Ordering::Less => "down",
        std::cmp::Ordering::Equal => "flat",
    };
    let change = basis_points(now.ending_mrr_cents - now.starting_mrr_cents, now.starting_mrr_cents)
        .map_or(String::new(), |bp| format!(" ({})", percent(bp)));
    sentences.push(format!(
        "MRR ended {} at {}, {direction} from {} at the start of the month{change}.",
        r.month,
        dollars(now.ending_mrr_cents),
        dollars(now.starting_mrr_cents)
    ));
    sentences.push(format!(
        "{} added {} of new MRR; {} added {} through upgrades and {} returned {} through reactivation.",
        plural(now.new_customers, "new customer", "new customers"),
        dollars(now.new_mrr_cents),
        "existing customers",
        dollars(now.expansion_mrr_cents),
        "returning customers",
        dollars(now.reactivation_mrr_cents)
    ));
    sentences.push(format!(
        "Churn took {} and downgrades {}; {} of {} paying customers left{}.",
        dollars(now.churned_mrr_cents),
        dollars(now.contraction_mrr_cents),
        now.churned_customers,
        now.customers_at_start,
        now.customer_churn_rate_bp.map_or(String::new(), |bp| format!(" ({})", percent(bp)))
    ));
    if let Some(nrr) = now.net_revenue_retention_bp {
        sentences.push(format!("Net revenue retention was {}.", percent(nrr)));
    }
    if let Some(next) = r.forecast.as_ref().and_then(Forecast::next_month_mrr) {
        sentences.push(mrr_forecast_sentence(next));
    }
    let t = &r.technical;
    match t.success_rate_bp {
        Some(rate) => sentences.push(format!(
            "{} optimization runs completed with a {} success rate{}.",
            t.runs,
            percent(rate),
            t.p95_duration_ms.map_or(String::new(), |p| format!("; 95% finished within {p} ms"))
        )),
        None => sentences.push("No optimization runs were recorded this month.".into()),
    }
    if let Some(best) = t.top_improvers.first() {
        sentences.push(format!("Most improved site: {} (+{:.1} points).", best.customer_id, best.change));
    }
    sentences.extend(r.forecast.as_ref().and_then(|f| score_backtest_sentence(&f.scores.backtest)));
    ExecutiveSummary { v: REPORT_VERSION, month: r.month.clone(), headline, sentences }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::analytics::{platform_report, ScoreChange};

    #[test]
    fn money_and_percentages_format_plainly() {
        assert_eq!(dollars(109_900), "$1,099.00");
        assert_eq!(dollars(123_456_789), "$1,234,567.89");
        assert_eq!(dollars(-5), "-$0.05");
        assert_eq!(percent(4_160), "41.6%");
        assert_eq!(percent(-1_205), "-12.1%");
        assert_eq!(percent(10_000), "100.0%");
    }

    #[test]
    fn the_final_report_covers_the_month_and_the_one_before() {
        use crate::reports::analytics::{customer_section, sections_of, DailyRollup};
        let nov = Month::new(2026, 11).unwrap();
        let at = |m: Month, day: i64| m.start().timestamp_millis() + day * 86_400_000;
        let ev = |c: &str, at_ms, mrr_cents| BillingEvent { customer_id: c.into(), at_ms, mrr_cents };
        let billing = vec![ev("a", at(nov.previous(), -3), 10_000), ev("b", at(nov.previous(), 4), 5_000), ev("a", at(nov, 2), 0)];
        let rollup = |c: &str, day: &str, runs| DailyRollup { runs, successes: runs, ..crate::ledger::rollups::empty(c, day) };
        let (now, before) = (vec![rollup("a", "2026-11-01", 4), rollup("b", "2026-11-02", 6)], vec![rollup("b", "2026-10-09", 3)]);
        let (sections, previous_sections) = (sections_of(&now), sections_of(&before));
        let r = final_report(
            nov,
            "2026-11-30T23:59:00Z",
            MonthInputs { billing: &billing, sections: &sections, previous_sections: &previous_sections },
        );
        assert_eq!((r.v, r.month.as_str(), r.generated_at.as_str()), (1, "2026-11", "2026-11-30T23:59:00Z"));
        // October: a paid 100.00 from before, b is new at 50.00. November: a churns.
        assert_eq!(
            (r.previous_revenue.starting_mrr_cents, r.previous_revenue.new_mrr_cents, r.previous_revenue.ending_mrr_cents),
            (10_000, 5_000, 15_000)
        );
        assert_eq!((r.revenue.starting_mrr_cents, r.revenue.churned_mrr_cents, r.revenue.ending_mrr_cents), (15_000, 10_000, 5_000));
        assert_eq!((r.technical.customers, r.technical.runs, r.previous_technical.runs), (2, 10, 3));
        assert_eq!(r.previous_technical, platform_report(&[customer_section("b", &before)]));
        assert_eq!(r.forecast, Some(forecast(nov, &billing, &sections, &previous_sections)));
    }

    /// Next month's forecast in the summary: a steady history (one new 100.00 customer a month
    /// from January to August 2026, after one from December) forecast exactly, and a short one.
    #[test]
    fn the_summary_states_next_months_mrr_forecast_or_too_little_history() {
        use crate::reports::analytics::sections_of;
        let ev =
            |c: String, m: Month| BillingEvent { customer_id: c, at_ms: m.start().timestamp_millis() + 9 * 86_400_000, mrr_cents: 10_000 };
        let months: Vec<Month> = std::iter::successors(Month::new(2025, 12), |m| Some(m.next())).take(9).collect();
        let billing: Vec<BillingEvent> = months.iter().map(|m| ev(format!("c-{m}"), *m)).collect();
        let check = |month: Month, billing: &[BillingEvent], expected: &str| {
            let report = final_report(month, "now", MonthInputs { billing, sections: &[], previous_sections: &[] });
            let s = executive_summary(&report);
            assert!(s.sentences.iter().any(|l| l == expected), "{:?}", s.sentences);
        };
        check(
            months[8],
            &billing,
            "MRR for 2026-09 is forecast at $1,000.00 (interval $1,000.00 to $1,000.00); \
             this method's one-month forecasts of the last 5 months were off by 0.0% on average, $0.00 at most.",
        );
        check(months[4], &billing, "Too little billing history to forecast MRR for 2026-05: 4 months available, 6 needed.");
        check(months[1], &billing[..1], "Too little billing history to forecast MRR for 2026-02: 1 month available, 6 needed.");
        // Scores: a was forecast 60 + 0.2 × 30.5 = 66.1 for September (from August's middle to
        // September's: 31 / 2 + 30 / 2 = 30.5 days) and scored 67: 0.9 off, 7 assuming no change.
        let scored = |avg: f64, trend: f64| CustomerMonthly {
            average_scores: [Some(avg), None, None],
            score_trend_per_day: [Some(trend), None, None],
            ..sections_of(&[crate::ledger::rollups::empty("a", "2026-08-01")])[0].clone()
        };
        let (aug, sep) = ([scored(60.0, 0.2)], [scored(67.0, 0.0)]);
        let report = final_report(months[8].next(), "now", MonthInputs { billing: &billing, sections: &sep, previous_sections: &aug });
        let s = executive_summary(&report).sentences;
        let expected = "Last month's score trends forecast this month's average scores within 0.9 points on average \
                        (7.0 assuming no change), over 1 customer.";
        assert_eq!(s.last().map(String::as_str), Some(expected));
        // A report written before forecasts existed reads back without one and says nothing of it.
        let mut old =
            serde_json::to_value(final_report(months[8], "now", MonthInputs { billing: &billing, sections: &[], previous_sections: &[] }))
                .unwrap();
        old.as_object_mut().unwrap().remove("forecast");
        let old: FinalReport = serde_json::from_value(old).unwrap();
        assert_eq!(old.forecast, None);
        assert!(!executive_summary(&old).sentences.iter().any(|l| l.contains("forecast")));
    }

    #[test]
    fn the_summary_agrees_with_the_report() {
        let revenue = RevenueMetrics {
            starting_mrr_cents: 125_000,
            ending_mrr_cents: 109_900,
            new_mrr_cents: 9_900,
            new_customers: 1,
            churned_mrr_cents: 70_000,
            churned_customers: 1,
            customers_at_start: 5,
            customers_at_end: 6,
            net_revenue_retention_bp: Some(4_160),
            customer_churn_rate_bp: Some(2_000),
            arpa_cents: Some(18_316),
            ..RevenueMetrics::default()
        };
        let previous =
            RevenueMetrics { ending_mrr_cents: 125_000, starting_mrr_cents: 120_000, customers_at_end: 5, ..RevenueMetrics::default() };
        let mut technical = platform_report(&[]);
        technical.runs = 200;
        technical.success_rate_bp = Some(9_750);
        technical.p95_duration_ms = Some(5_000);
        technical.top_improvers = vec![ScoreChange { customer_id: "acme".into(), change: 4.26 }];
        let report = FinalReport {
            v: 1,
            month: "2026-11".into(),
            generated_at: "2026-11-30T23:59:00Z".into(),
            revenue,
            previous_revenue: previous,
            technical,
            previous_technical: platform_report(&[]),
            forecast: None,
        };
        let s = executive_summary(&report);
        let kpi = |name: &str| s.headline.iter().find(|k| k.name == name).unwrap().clone();
        assert_eq!(kpi("ending_mrr").value, Some(report.revenue.ending_mrr_cents));
        assert_eq!((kpi("ending_mrr").change, kpi("ending_mrr").change_bp), (Some(-15_100), Some(-1_208)));
        assert_eq!(kpi("net_new_mrr").value, Some(-15_100));
        assert_eq!(kpi("paying_customers").change, Some(1));
        assert_eq!(kpi("optimization_success_rate").previous, None);
        assert_eq!(s.sentences[0], "MRR ended 2026-11 at $1,099.00, down from $1,250.00 at the start of the month (-12.1%).");
        assert!(s.sentences.iter().any(|l| l == "Net revenue retention was 41.6%."), "{:?}", s.sentences);
        assert!(s
            .sentences
            .iter()
            .any(|l| l.contains("200 optimization runs completed with a 97.5% success rate; 95% finished within 5000 ms")));
        assert!(s.sentences.iter().any(|l| l == "Most improved site: acme (+4.3 points)."), "{:?}", s.sentences);
    }
}
