//! The monthly analytics' folds, pages, percentiles and rankings on hand-computed rollups.

use super::*;

fn day(customer: &str, day: &str, successes: u64, scores: [u8; 3], first: [u8; 3], last: [u8; 3]) -> DailyRollup {
    let mut buckets = vec![0; DURATION_BUCKETS_MS.len()];
    buckets[bucket_of(400)] = successes;
    DailyRollup {
        customer_id: customer.into(),
        day: day.into(),
        runs: successes + 1,
        successes,
        transient_failures: 1,
        permanent_failures: 0,
        duration_ms_sum: 400 * successes as i64,
        duration_buckets: buckets,
        score_sums: scores.map(|s| u64::from(s) * successes),
        scored: successes,
        first_scores: Some(first),
        first_at_ms: Some(0),
        last_scores: Some(last),
        last_at_ms: Some(1),
    }
}

#[test]
fn a_customers_month_averages_trends_and_first_last() {
    let rollups = vec![
        day("a", "2026-11-02", 10, [60, 70, 80], [59, 70, 80], [61, 70, 80]),
        day("a", "2026-11-01", 10, [50, 70, 90], [50, 70, 90], [52, 70, 90]),
        day("b", "2026-11-01", 5, [10, 10, 10], [10, 10, 10], [10, 10, 10]),
    ];
    let s = customer_section("a", &rollups);
    assert_eq!((s.runs, s.successes, s.failures), (22, 20, 2));
    assert_eq!(s.average_scores, [Some(55.0), Some(70.0), Some(85.0)]);
    assert_eq!(s.score_trend_per_day, [Some(10.0), Some(0.0), Some(-10.0)]);
    assert_eq!((s.first_scores, s.last_scores), (Some([50, 70, 90]), Some([61, 70, 80])));
    assert!((s.improvement().unwrap() - (211.0 - 210.0) / 3.0).abs() < 1e-9);
    // A success without scores (recovered from a crashed attempt) moves no average.
    let mut recovered = rollups.clone();
    recovered[0].successes += 5;
    recovered[0].runs += 5;
    assert_eq!(customer_section("a", &recovered).average_scores, s.average_scores);
}

#[test]
fn the_monthly_report_lists_sections_by_customer_and_sums_them() {
    let rollups = vec![
        day("b", "2026-11-01", 2, [50, 50, 50], [50, 50, 50], [50, 50, 50]),
        day("a", "2026-11-01", 3, [60, 60, 60], [60, 60, 60], [61, 61, 61]),
        day("b", "2026-11-02", 1, [50, 50, 50], [50, 50, 50], [40, 40, 40]),
    ];
    let sections = sections_of(&rollups);
    assert_eq!(sections.iter().map(|s| s.customer_id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(sections[0], customer_section("a", &rollups));
    assert_eq!(sections[1], customer_section("b", &rollups), "grouping matches the per-customer fold");
    let reversed: Vec<CustomerMonthly> = sections.iter().rev().cloned().collect();
    let r = monthly_report("2026-11", "2026-12-01T15:00:00Z", reversed);
    assert_eq!(r.customers, sections);
    assert_eq!(r.platform, platform_report(&sections));
    assert_eq!((r.v, r.month.as_str(), r.platform.customers, r.platform.runs), (1, "2026-11", 2, 9));
}

#[test]
fn percentiles_come_from_the_histogram() {
    let mut buckets = vec![0; DURATION_BUCKETS_MS.len()];
    buckets[bucket_of(90)] = 50;
    buckets[bucket_of(900)] = 45;
    buckets[bucket_of(20_000)] = 5;
    assert_eq!(percentile_bucket(&buckets, 50), Some(100));
    assert_eq!(percentile_bucket(&buckets, 95), Some(1_000));
    assert_eq!(percentile_bucket(&buckets, 96), Some(30_000));
    assert_eq!(percentile_bucket(&[0; 10], 50), None);
    assert_eq!(bucket_of(i64::MAX), DURATION_BUCKETS_MS.len() - 1);
}

#[test]
fn the_platform_report_ranks_improvers_and_regressions() {
    let rollups = vec![
        day("up", "2026-11-01", 4, [50, 50, 50], [40, 40, 40], [70, 70, 70]),
        day("down", "2026-11-01", 4, [50, 50, 50], [80, 80, 80], [60, 60, 60]),
        day("flat", "2026-11-01", 2, [50, 50, 50], [50, 50, 50], [50, 50, 50]),
    ];
    let sections: Vec<CustomerMonthly> = ["up", "down", "flat"].iter().map(|c| customer_section(c, &rollups)).collect();
    let r = platform_report(&sections);
    assert_eq!((r.customers, r.runs, r.successes, r.failures), (3, 13, 10, 3));
    assert_eq!(r.success_rate_bp, Some(7_692));
    assert_eq!(r.p50_duration_ms, Some(500));
    assert_eq!(r.top_improvers.iter().map(|c| c.customer_id.as_str()).collect::<Vec<_>>(), ["up"]);
    assert_eq!(r.top_regressions.iter().map(|c| c.customer_id.as_str()).collect::<Vec<_>>(), ["down"]);
    assert!((r.top_regressions[0].change + 20.0).abs() < 1e-9);
}
