//! Each customer's expected average scores next month, from its trend in the monthly analytics
//! (`CustomerMonthly`: the month's average score and the least-squares slope of its daily
//! averages, per role), and the method's backtest on the month before.
//!
//! **Method.** A month's average sits at the middle of its days; next month's, half a month
//! plus half a month later. So the expected average is this month's average plus the daily
//! slope times that gap ([`gap_days`]: 30.5 days from November to December), kept within the
//! score scale 0-100. A role with no scored run this month, or scored on one day only (no
//! slope), gets no expectation (`null`), not a guess.
//!
//! **Backtest.** The same method applied to last month's sections predicts this month's
//! averages; the report gives its mean absolute error in score points over every (customer,
//! role) it could predict, beside the error of assuming no change (last month's average), so a
//! reader sees whether following the trend beats standing still.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::reports::analytics::CustomerMonthly;
use crate::reports::period::Month;

/// The identifier of this method in the report.
pub const METHOD: &str = "daily-score-trend";

/// One customer's expectation, per role (brand, designer, developer), to a tenth of a point:
/// ample for a 0-100 scale, and it keeps the report short (about 100 bytes a customer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreForecast {
    pub customer_id: String,
    /// This month's average scores (the monthly analytics' `average_scores`, rounded).
    pub average_scores: [Option<f64>; 3],
    /// Next month's expected averages; `null` where this month gives no trend.
    pub expected_scores: [Option<f64>; 3],
}

/// How well last month's trends predicted this month's averages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreBacktest {
    /// `YYYY-MM`: the month predicted (the reported month).
    pub month: String,
    /// (customer, role) pairs predicted, and the customers they belong to.
    pub predictions: u64,
    pub customers: u64,
    /// Mean |actual − expected|, score points; `None` without predictions.
    pub mean_absolute_error: Option<f64>,
    /// Mean |actual − last month's average| over the same pairs.
    pub no_change_mean_absolute_error: Option<f64>,
}

/// The score section of the forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreOutlook {
    /// [`METHOD`].
    pub method: String,
    /// `YYYY-MM`: the month expected.
    pub month: String,
    pub backtest: ScoreBacktest,
    /// Every customer of the reported month, ordered by customer id.
    pub customers: Vec<ScoreForecast>,
}

/// Days from the middle of `month` to the middle of the next one.
pub fn gap_days(month: Month) -> f64 {
    let days = |m: Month| m.end().signed_duration_since(m.start()).num_days() as f64;
    (days(month) + days(month.next())) / 2.0
}

/// `x` to the nearest tenth, halves away from zero.
fn tenth(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Next month's expected average per role from a month's section.
pub fn expected_scores(section: &CustomerMonthly, gap_days: f64) -> [Option<f64>; 3] {
    std::array::from_fn(|role| {
        let (average, slope) = (section.average_scores[role]?, section.score_trend_per_day[role]?);
        Some((average + slope * gap_days).clamp(0.0, 100.0))
    })
}

/// Last month's trends against this month's averages.
pub fn score_backtest(month: Month, sections: &[CustomerMonthly], previous_sections: &[CustomerMonthly]) -> ScoreBacktest {
    let now: BTreeMap<&str, &CustomerMonthly> = sections.iter().map(|s| (s.customer_id.as_str(), s)).collect();
    let mut fold = BacktestFold::new(month);
    for before in previous_sections {
        fold.add(before, now.get(before.customer_id.as_str()).copied());
    }
    fold.finish()
}

/// The backtest folded one customer at a time, in the order of last month's sections.
#[derive(Debug, Clone)]
pub struct BacktestFold {
    month: Month,
    gap: f64,
    predictions: u64,
    customers: u64,
    trend_error: f64,
    still_error: f64,
}

impl BacktestFold {
    pub fn new(month: Month) -> Self {
        Self { month, gap: gap_days(month.previous()), predictions: 0, customers: 0, trend_error: 0.0, still_error: 0.0 }
    }

    /// A customer's section of last month, and of this month if it has one.
    pub fn add(&mut self, before: &CustomerMonthly, after: Option<&CustomerMonthly>) {
        let Some(after) = after else { return };
        let expected = expected_scores(before, self.gap);
        let mut predicted = false;
        for (role, expected) in expected.iter().enumerate() {
            if let (Some(e), Some(actual), Some(previous)) = (expected, after.average_scores[role], before.average_scores[role]) {
                self.trend_error += (actual - e).abs();
                self.still_error += (actual - previous).abs();
                self.predictions += 1;
                predicted = true;
            }
        }
        self.customers += u64::from(predicted);
    }

    pub fn finish(self) -> ScoreBacktest {
        let predictions = self.predictions;
        let mean = |total: f64| (predictions > 0).then(|| total / predictions as f64);
        ScoreBacktest {
            month: self.month.label(),
            predictions,
            customers: self.customers,
            mean_absolute_error: mean(self.trend_error),
            no_change_mean_absolute_error: mean(self.still_error),
        }
    }
}

/// One customer's line of the outlook after a month whose [`gap_days`] is `gap`.
pub fn score_forecast(s: &CustomerMonthly, gap: f64) -> ScoreForecast {
    ScoreForecast {
        customer_id: s.customer_id.clone(),
        average_scores: s.average_scores.map(|v| v.map(tenth)),
        expected_scores: expected_scores(s, gap).map(|v| v.map(tenth)),
    }
}

/// Every customer's expected scores after `month`, and the method's backtest on `month`.
pub fn score_outlook(month: Month, sections: &[CustomerMonthly], previous_sections: &[CustomerMonthly]) -> ScoreOutlook {
    let gap = gap_days(month);
    let mut customers: Vec<ScoreForecast> = sections.iter().map(|s| score_forecast(s, gap)).collect();
    customers.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
    ScoreOutlook { customers, ..outlook_head(month, score_backtest(month, sections, previous_sections)) }
}

/// The outlook without its customers: what comes before them in the report.
pub fn outlook_head(month: Month, backtest: ScoreBacktest) -> ScoreOutlook {
    ScoreOutlook { method: METHOD.to_owned(), month: month.next().label(), backtest, customers: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn month(y: i32, m: u32) -> Month {
        Month::new(y, m).unwrap()
    }

    fn section(customer: &str, average_scores: [Option<f64>; 3], score_trend_per_day: [Option<f64>; 3]) -> CustomerMonthly {
        CustomerMonthly {
            customer_id: customer.into(),
            runs: 0,
            successes: 0,
            failures: 0,
            average_scores,
            score_trend_per_day,
            first_scores: None,
            last_scores: None,
            transient_failures: 0,
            permanent_failures: 0,
            duration_ms_sum: 0,
            duration_buckets: Vec::new(),
            insight_sample: None,
        }
    }

    fn check(averages: [Option<f64>; 3], trends: [Option<f64>; 3], gap: f64, expected: [Option<f64>; 3]) {
        let got = expected_scores(&section("a", averages, trends), gap);
        for (g, e) in got.iter().zip(expected) {
            match (g, e) {
                (Some(g), Some(e)) => assert!((g - e).abs() < 1e-9, "{got:?} != {expected:?}"),
                (g, e) => assert_eq!(*g, e, "{got:?} != {expected:?}"),
            }
        }
    }

    #[test]
    fn score_forecast_follows_the_daily_trend_within_the_scale() {
        // November to December: 30 / 2 + 31 / 2 = 30.5 days; February 2028 (29 days) to March: 30.
        assert_eq!((gap_days(month(2026, 11)), gap_days(month(2028, 2)), gap_days(month(2026, 12))), (30.5, 30.0, 31.0));
        // 60 + 0.5 × 30.5 = 75.25; 80 − 0.2 × 30.5 = 73.9; flat stays.
        check([Some(60.0), Some(80.0), Some(70.0)], [Some(0.5), Some(-0.2), Some(0.0)], 30.5, [Some(75.25), Some(73.9), Some(70.0)]);
        // 90 + 1 × 30.5 and 5 − 1 × 30.5 leave the scale: kept at 100 and 0.
        check([Some(90.0), Some(5.0), None], [Some(1.0), Some(-1.0), None], 30.5, [Some(100.0), Some(0.0), None]);
        // One scored day has an average but no slope: no expectation, not a guess.
        check([Some(50.0), Some(50.0), Some(50.0)], [None, Some(0.1), None], 30.0, [None, Some(53.0), None]);
    }

    /// October's sections predict November's averages over a 30.5-day gap (31 / 2 + 30 / 2):
    /// - a: brand 60 rising 0.2 a day → 66.1, November 67: error 0.9, no change 7;
    ///   designer 70 flat → 70, November 68.04: error 1.96, no change 1.96; developer unscored
    ///   in November.
    /// - b: brand 80 falling 0.4 a day → 67.8, November 75: error 7.2, no change 5.
    /// - c: only in October; d: only in November. Neither is predicted.
    ///
    /// Three predictions of two customers: trend (0.9 + 1.96 + 7.2) / 3 = 3.3533 points, no
    /// change (7 + 1.96 + 5) / 3 = 4.6533 points.
    #[test]
    fn score_forecast_backtest_against_standing_still() {
        let october = vec![
            section("a", [Some(60.0), Some(70.0), Some(50.0)], [Some(0.2), Some(0.0), Some(0.1)]),
            section("b", [Some(80.0), None, None], [Some(-0.4), None, None]),
            section("c", [Some(10.0), Some(10.0), Some(10.0)], [Some(1.0), Some(1.0), Some(1.0)]),
        ];
        let november = vec![
            section("d", [Some(40.0), None, None], [None, None, None]),
            section("b", [Some(75.0), Some(60.0), None], [Some(0.1), None, None]),
            section("a", [Some(67.0), Some(68.04), None], [Some(0.0), Some(-0.2), None]),
        ];
        let nov = month(2026, 11);
        let b = score_backtest(nov, &november, &october);
        assert_eq!((b.month.as_str(), b.predictions, b.customers), ("2026-11", 3, 2));
        assert!((b.mean_absolute_error.unwrap() - 10.06 / 3.0).abs() < 1e-9, "{b:?}");
        assert!((b.no_change_mean_absolute_error.unwrap() - 13.96 / 3.0).abs() < 1e-9, "{b:?}");

        let outlook = score_outlook(nov, &november, &october);
        assert_eq!((outlook.method.as_str(), outlook.month.as_str()), (METHOD, "2026-12"));
        assert_eq!(outlook.customers.iter().map(|c| c.customer_id.as_str()).collect::<Vec<_>>(), ["a", "b", "d"]);
        // a in December, to a tenth: 67 + 0 = 67, 68.04 − 0.2 × 30.5 = 61.94 → 61.9; d has no
        // trend yet.
        assert_eq!(outlook.customers[0].average_scores, [Some(67.0), Some(68.0), None]);
        assert_eq!(outlook.customers[0].expected_scores, [Some(67.0), Some(61.9), None]);
        assert_eq!(outlook.customers[2].expected_scores, [None, None, None]);

        // Without last month there is nothing to measure: no error is invented.
        let alone = score_backtest(nov, &november, &[]);
        assert_eq!(
            (alone.predictions, alone.customers, alone.mean_absolute_error, alone.no_change_mean_absolute_error),
            (0, 0, None, None)
        );
    }
}
