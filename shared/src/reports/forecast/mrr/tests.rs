//! The MRR forecast and its backtest on hand-computed histories. Every history starts with a
//! payment in December 2025, so its history (the months that began with a paying customer)
//! starts in January 2026. Numbers are cents; `x bp` are basis points.

use super::*;

const DAY: i64 = 86_400_000;

fn month(m: u32) -> Month {
    Month::new(2026, m).unwrap()
}

/// `day` days into month `m` of 2026 (month 0: December 2025).
fn at(m: u32, day: i64) -> i64 {
    let start = if m == 0 { Month::new(2025, 12).unwrap() } else { month(m) };
    start.start().timestamp_millis() + day * DAY
}

fn ev(customer: &str, at_ms: i64, mrr_cents: i64) -> BillingEvent {
    BillingEvent { customer_id: customer.into(), at_ms, mrr_cents }
}

/// One horizon as a test states it.
#[derive(Debug, PartialEq)]
enum Want {
    /// Point, interval, and the backtest's months, MAPE and largest miss.
    Estimate {
        mrr: i64,
        low: i64,
        high: i64,
        measured: u32,
        mape_bp: Option<i64>,
        max_miss: i64,
    },
    Short {
        available: u32,
        needed: u32,
    },
}

fn want(f: &MrrForecast) -> Want {
    match f {
        MrrForecast::Estimate { mrr_cents, low_cents, high_cents, backtest, .. } => Want::Estimate {
            mrr: *mrr_cents,
            low: *low_cents,
            high: *high_cents,
            measured: backtest.months,
            mape_bp: backtest.mape_bp,
            max_miss: backtest.max_absolute_error_cents,
        },
        MrrForecast::InsufficientHistory { months_available, months_needed, .. } => {
            Want::Short { available: *months_available, needed: *months_needed }
        }
    }
}

/// The outlook after `reported` of 2026: its history, its rates, and each horizon in order.
fn check(events: &[BillingEvent], reported: u32, available: u32, rates: Option<BridgeRates>, horizons: [Want; 3]) {
    let o = mrr_outlook(events, month(reported));
    assert_eq!((o.method.as_str(), o.months_available, o.rates), (METHOD, available, rates));
    let labels: Vec<String> = o
        .months
        .iter()
        .map(|f| match f {
            MrrForecast::Estimate { month, .. } | MrrForecast::InsufficientHistory { month, .. } => month.clone(),
        })
        .collect();
    let next: Vec<String> =
        (1..=3).map(|h| Month::new(2026 + (reported + h - 1) as i32 / 12, (reported + h - 1) % 12 + 1).unwrap().label()).collect();
    assert_eq!(labels, next);
    assert_eq!(o.months.iter().map(want).collect::<Vec<_>>(), horizons);
}

fn rates(new: i64, reactivation: i64, expansion_bp: i64, contraction_bp: i64, churn_bp: i64) -> Option<BridgeRates> {
    Some(BridgeRates {
        months: 3,
        new_mrr_cents: new,
        reactivation_mrr_cents: reactivation,
        expansion_rate_bp: expansion_bp,
        contraction_rate_bp: contraction_bp,
        churn_rate_bp: churn_bp,
    })
}

/// Steady growth: a pays 100.00 from December; from January to August one new customer a
/// month joins at 100.00, nothing else moves. MRR ends January at 200.00, ..., August at
/// 900.00 (8 months of history).
///
/// Rates of June-August: new 10,000 a month, every rate 0 bp. September: 90,000 + 10,000 =
/// 100,000; October 110,000; November 120,000. Every backtested month was forecast exactly
/// (each window also had one new 100.00 a month), so each interval has width 0:
/// - 1 month ahead: April-August, 5 months, coverage 5/6;
/// - 2 months ahead: May-August, 4 months; 3 months ahead: June-August, 3 months.
#[test]
fn forecast_of_steady_growth_continues_it_exactly() {
    let mut events = vec![ev("a", at(0, 9), 10_000)];
    events.extend((1..=8).map(|m| ev(&format!("new-{m}"), at(m, 9), 10_000)));
    let exact = |mrr, measured| Want::Estimate { mrr, low: mrr, high: mrr, measured, mape_bp: Some(0), max_miss: 0 };
    check(&events, 8, 8, rates(10_000, 0, 0, 0, 0), [exact(100_000, 5), exact(110_000, 4), exact(120_000, 3)]);
    let o = mrr_outlook(&events, month(8));
    let MrrForecast::Estimate { backtest, .. } = &o.months[0] else { panic!("{o:?}") };
    assert_eq!((backtest.coverage_bp, backtest.misses.first().map(|m| m.month.as_str())), (8_333, Some("2026-04")));
}

/// A month with a reactivation (reported: June, 6 months of history):
/// - a pays 300.00 from December, upgrades to 330.00 on April 5th;
/// - r pays 100.00 from December 15th, churns January 20th, comes back at 150.00 on May 10th.
///
/// Ending MRR: January 30,000 (r's 10,000 churned from 40,000), February and March 30,000,
/// April 33,000 (expansion 3,000), May 48,000 (reactivation 15,000), June 48,000.
///
/// Rates of April-June: starting MRR 30,000 + 33,000 + 48,000 = 111,000; expansion
/// 3,000 / 111,000 = 270.27 → 270 bp; reactivation 15,000 / 3 = 5,000 a month.
/// July: 48,000 + 5,000 + 48,000 × 2.70 % (1,296) = 54,296.
///
/// One-month backtest (April-June):
/// - April, from January-March (churn 10,000 / 100,000 = 1,000 bp): 30,000 − 3,000 = 27,000;
///   actual 33,000, miss 6,000, 6,000 / 33,000 = 1,818 bp.
/// - May, from February-April (expansion 3,000 / 90,000 = 333 bp): 33,000 + 1,098.9 → 1,099 =
///   34,099; actual 48,000 (the reactivation), miss 13,901, 2,896 bp.
/// - June, from March-May (expansion 3,000 / 93,000 = 323 bp, reactivation 5,000): 48,000 +
///   5,000 + 1,550.4 → 1,550 = 54,550; actual 48,000, miss −6,550, 1,365 bp.
///
/// MAPE (1,818 + 2,896 + 1,365) / 3 = 2,026 bp; the largest miss 13,901 makes the interval
/// 40,395-68,197. Two and three months ahead need 7 and 8 months of history.
#[test]
fn forecast_after_a_month_with_a_reactivation() {
    let events = vec![
        ev("a", at(0, 0), 30_000),
        ev("a", at(4, 4), 33_000),
        ev("r", at(0, 14), 10_000),
        ev("r", at(1, 19), 0),
        ev("r", at(5, 9), 15_000),
    ];
    let estimate = Want::Estimate { mrr: 54_296, low: 40_395, high: 68_197, measured: 3, mape_bp: Some(2_026), max_miss: 13_901 };
    let short = |needed| Want::Short { available: 6, needed };
    check(&events, 6, 6, rates(0, 5_000, 270, 0, 0), [estimate, short(7), short(8)]);
    let history = bridges(&events, month(6), 6);
    let b = backtest(&history, 1);
    // (6,000 + 13,901 + 6,550) / 3 = 8,817; three misses hold the interval with 3/4.
    assert_eq!((b.mean_absolute_error_cents, b.coverage_bp), (8_817, 7_500));
}

/// A customer churning and returning (reported: August, 8 months of history):
/// - a pays 1,000.00 from December; d joins at 100.00 on March 10th;
/// - b pays 200.00 from December, churns June 10th, returns at 200.00 on July 10th;
/// - c pays 100.00 from December, churns August 5th and returns at 100.00 on August 20th
///   (in one month: both a churn and a reactivation of 10,000).
///
/// Ending MRR: January-February 130,000, March-May 140,000, June 120,000, July-August 140,000.
/// Rates of June-August: starting 140,000 + 120,000 + 140,000 = 400,000; churn 30,000 → 750
/// bp; reactivation 30,000 / 3 = 10,000 a month.
/// - September: 140,000 + 10,000 − 10,500 = 139,500;
/// - October: 139,500 + 10,000 − 10,462.5 → 10,463 = 139,037;
/// - November: 139,037 + 10,000 − 10,427.8 → 10,428 = 138,609.
///
/// One month ahead (April-August): windows without movement but March's new customer forecast
/// +3,333 a month (10,000 / 3): April 143,333 (miss 3,333, 238 bp), May 143,333 (3,333, 238
/// bp), June 143,333 (23,333, 1,944 bp); July from April-June (churn 20,000 / 420,000 = 476
/// bp): 120,000 − 5,712 = 114,288 (25,712, 1,837 bp); August from May-July (churn 500 bp,
/// reactivation 6,667): 140,000 + 6,667 − 7,000 = 139,667 (333, 24 bp). MAPE 4,281 / 5 = 856
/// bp, largest miss 25,712.
///
/// Two months ahead (May-August): May and July 146,666 (6,666, 476 bp each), June 146,666
/// (26,666, 2,222 bp), August from April-June 114,288 then 114,288 − 5,440 = 108,848 (31,152,
/// 2,225 bp). MAPE 5,399 / 4 = 1,350 bp.
///
/// Three months ahead (June-August): 149,999 each; misses 29,999 (2,500 bp), 9,999 (714 bp),
/// 9,999 (714 bp). MAPE 3,928 / 3 = 1,309 bp.
#[test]
fn forecast_with_a_customer_churning_and_returning() {
    let events = vec![
        ev("a", at(0, 0), 100_000),
        ev("b", at(0, 0), 20_000),
        ev("b", at(6, 9), 0),
        ev("b", at(7, 9), 20_000),
        ev("c", at(0, 0), 10_000),
        ev("c", at(8, 4), 0),
        ev("c", at(8, 19), 10_000),
        ev("d", at(3, 9), 10_000),
    ];
    let august = revenue_metrics(&events, at(8, 0), at(9, 0));
    assert_eq!((august.churned_mrr_cents, august.reactivation_mrr_cents, august.ending_mrr_cents), (10_000, 10_000, 140_000));
    let estimate = |mrr: i64, measured, mape, max_miss: i64| Want::Estimate {
        mrr,
        low: mrr - max_miss,
        high: mrr + max_miss,
        measured,
        mape_bp: Some(mape),
        max_miss,
    };
    check(
        &events,
        8,
        8,
        rates(0, 10_000, 0, 0, 750),
        [estimate(139_500, 5, 856, 25_712), estimate(139_037, 4, 1_350, 31_152), estimate(138_609, 3, 1_309, 29_999)],
    );
}

/// Too little history says how much there is and how much each horizon needs (3 months to fit
/// the rates, h − 1 months to look ahead, 3 measured misses): 6, 7 and 8 months.
#[test]
fn forecast_with_too_little_history_says_so() {
    let short = |available| [6, 7, 8].map(|needed| Want::Short { available, needed });
    // Nothing at all; a first payment in the reported month (a partial month is no history).
    check(&[], 3, 0, None, short(0));
    check(&[ev("a", at(3, 4), 4_900)], 3, 0, None, short(0));
    // A customer who only ever paid zero is no history either.
    check(&[ev("a", at(0, 4), 0)], 3, 0, None, short(0));
    // Paying from January 15th: February and March.
    check(&[ev("a", at(1, 14), 4_900)], 3, 2, None, short(2));
    // A payment at the first instant of a month makes that month the first paid one.
    check(&[ev("a", at(1, 0), 4_900)], 3, 2, None, short(2));
    // Five months: the rates exist, no horizon has three measured misses yet.
    check(&[ev("a", at(0, 4), 4_900)], 5, 5, rates(0, 0, 0, 0, 0), short(5));
}

/// One backtest as the test states it: each miss (month, forecast, actual), then MAPE, mean
/// and largest absolute miss and coverage.
fn check_backtest(
    events: &[BillingEvent],
    reported: u32,
    horizon: usize,
    misses: &[(&str, i64, i64)],
    expected: (Option<i64>, i64, i64, i64),
) {
    let history = bridges(events, month(reported), months_available(events, month(reported)) as usize);
    let b = backtest(&history, horizon);
    let got: Vec<(&str, i64, i64)> = b.misses.iter().map(|m| (m.month.as_str(), m.forecast_cents, m.actual_cents)).collect();
    assert_eq!(got, misses);
    assert_eq!((b.mape_bp, b.mean_absolute_error_cents, b.max_absolute_error_cents, b.coverage_bp), expected);
    assert_eq!(b.months as usize, misses.len());
}

/// A small history (January-May): a pays 1,000.00 from December and grows by 50.00 a month;
/// one new customer a month joins at 100.00. MRR ends January at 115,000, then 130,000,
/// 145,000, 160,000 and 175,000: growth in fixed amounts, which a rate of the base overshoots.
///
/// One month ahead:
/// - April from January-March: expansion 15,000 / 345,000 = 434.8 → 435 bp, new 10,000:
///   145,000 + 10,000 + 6,307.5 → 6,308 = 161,308; actual 160,000; 1,308 / 160,000 = 82 bp.
/// - May from February-April: 15,000 / 390,000 = 384.6 → 385 bp: 160,000 + 10,000 + 6,160 =
///   176,160; actual 175,000; 1,160 / 175,000 = 66 bp.
///
/// MAPE (82 + 66) / 2 = 74 bp, mean miss 1,234, largest 1,308, coverage 2/3 = 6,667 bp.
/// Two months ahead, May from January-March: 161,308, then 161,308 + 10,000 + 7,016.9 → 7,017 =
/// 178,325; miss 3,325 / 175,000 = 190 bp.
#[test]
fn forecast_backtest_on_a_small_history() {
    let mut events = vec![ev("a", at(0, 0), 100_000)];
    events.extend((1..=5).map(|m| ev("a", at(m, 14), 100_000 + 5_000 * i64::from(m))));
    events.extend((1..=5).map(|m| ev(&format!("new-{m}"), at(m, 9), 10_000)));
    check_backtest(&events, 5, 1, &[("2026-04", 161_308, 160_000), ("2026-05", 176_160, 175_000)], (Some(74), 1_234, 1_308, 6_667));
    check_backtest(&events, 5, 2, &[("2026-05", 178_325, 175_000)], (Some(190), 3_325, 3_325, 5_000));
    check_backtest(&events, 5, 3, &[], (None, 0, 0, 0));
    // With two misses measured, the outlook states no number yet.
    assert!(matches!(mrr_outlook(&events, month(5)).months[0], MrrForecast::InsufficientHistory { months_available: 5, .. }));
}

/// A month that ended at zero MRR has no percentage error: it counts in the cents, not in MAPE.
#[test]
fn forecast_backtest_leaves_zero_mrr_months_out_of_the_percentage() {
    // a pays 100.00 from December and leaves on April 10th: April ends at zero.
    let events = vec![ev("a", at(0, 0), 10_000), ev("a", at(4, 9), 0)];
    check_backtest(&events, 4, 1, &[("2026-04", 10_000, 0)], (None, 10_000, 10_000, 5_000));
}

/// Only the last twelve months are measured, and only as many bridges as that needs are read.
#[test]
fn forecast_backtests_measure_the_last_year() {
    let events = vec![ev("a", Month::new(2020, 1).unwrap().start().timestamp_millis(), 10_000)];
    let o = mrr_outlook(&events, month(6));
    assert_eq!(o.months_available, 77); // February 2020 to June 2026.
    for (i, f) in o.months.iter().enumerate() {
        let MrrForecast::Estimate { backtest, mrr_cents, .. } = f else { panic!("{f:?}") };
        assert_eq!((backtest.months, backtest.coverage_bp, *mrr_cents), (12, 9_231, 10_000), "horizon {}", i + 1);
        assert_eq!(backtest.misses.last().map(|m| m.month.as_str()), Some("2026-06"));
    }
}

#[test]
fn forecast_arithmetic_rounds_half_away_from_zero() {
    assert_eq!((div_round(5, 2), div_round(-5, 2), div_round(4, 3), div_round(-4, 3)), (3, -3, 1, -1));
    let r = BridgeRates {
        months: 3,
        new_mrr_cents: 0,
        reactivation_mrr_cents: 0,
        expansion_rate_bp: 0,
        contraction_rate_bp: 0,
        churn_rate_bp: 12_000,
    };
    assert_eq!(r.step(10_000), 0, "MRR never goes below zero");
    assert_eq!(BridgeRates::fit(&[RevenueMetrics { new_mrr_cents: 7, ..RevenueMetrics::default() }]).churn_rate_bp, 0, "no base: rate 0");
}

/// `cargo xtask dev` reports on the last month with an end-of-month slot: the demo's billing
/// history must give that report a forecast (November 2026, or a later month with no events).
#[test]
fn forecast_of_the_demo_billing_history_is_stated() {
    let seed = include_str!("../../../../../seed/demo.sql");
    let events: Vec<BillingEvent> = seed
        .lines()
        .filter_map(|l| l.strip_prefix("INSERT OR IGNORE INTO billing_events (customer_id, at_ms, mrr_cents) VALUES ("))
        .map(|values| {
            let fields: Vec<&str> = values.trim_end_matches(");").split(", ").collect();
            ev(fields[0].trim_matches('\''), fields[1].parse().unwrap(), fields[2].parse().unwrap())
        })
        .collect();
    assert!(events.len() > 20, "{} billing events read from the seed", events.len());
    for (reported, available) in [(11, 10), (12, 11)] {
        let o = mrr_outlook(&events, month(reported));
        assert_eq!(o.months_available, available);
        assert!(o.months.iter().all(|f| matches!(f, MrrForecast::Estimate { .. })), "{o:?}");
    }
    // The demo's executive summary states next month's forecast, its interval and its error.
    use crate::reports::summary::{dollars, executive_summary, final_report, MonthInputs};
    let report = final_report(month(11), "now", MonthInputs { billing: &events, sections: &[], previous_sections: &[] });
    let Some(MrrForecast::Estimate { mrr_cents, low_cents, high_cents, backtest, .. }) =
        report.forecast.as_ref().and_then(|f| f.next_month_mrr())
    else {
        panic!("no estimate for December: {:?}", report.forecast)
    };
    let stated = format!(
        "MRR for 2026-12 is forecast at {} (interval {} to {}); this method's one-month forecasts of the last {} months were off by",
        dollars(*mrr_cents),
        dollars(*low_cents),
        dollars(*high_cents),
        backtest.months
    );
    let summary = executive_summary(&report);
    assert!(summary.sentences.iter().any(|s| s.starts_with(&stated)), "{stated:?} not in {:#?}", summary.sentences);
}

/// The history the charts draw: the last 12 months up to the reported one, oldest first, with
/// each month's ending MRR, churn and NRR; fewer months when the history is shorter.
#[test]
fn forecast_history_lists_the_last_year_for_the_charts() {
    let mut events = vec![ev("a", at(0, 9), 10_000)];
    events.extend((1..=8).map(|m| ev(&format!("new-{m}"), at(m, 9), 10_000)));
    let o = mrr_outlook(&events, month(8));
    let months: Vec<(&str, i64)> = o.history.iter().map(|h| (h.month.as_str(), h.ending_mrr_cents)).collect();
    let expected: Vec<(String, i64)> = (1..=8).map(|m| (month(m).label(), 10_000 * (i64::from(m) + 1))).collect();
    assert_eq!(months, expected.iter().map(|(m, c)| (m.as_str(), *c)).collect::<Vec<_>>());
    // February starts at 200.00 and keeps it all: NRR 100 %, no churn.
    assert_eq!((o.history[1].customer_churn_rate_bp, o.history[1].net_revenue_retention_bp), (Some(0), Some(10_000)));
    // Two years of history: only the last 12 months are listed.
    let long: Vec<BillingEvent> = vec![ev("a", Month::new(2024, 6).unwrap().start().timestamp_millis(), 10_000)];
    let o = mrr_outlook(&long, month(8));
    assert_eq!((o.history.len(), o.history.first().map(|h| h.month.as_str())), (HISTORY_MONTHS, Some("2025-09")));
    assert_eq!(o.history.last().map(|h| h.month.as_str()), Some("2026-08"));
}
