//! The insights of a seeded month whose answer is computed by hand in the comments, and the
//! rules that keep a claim out: too few customers, no gain, no gain over the others.

use super::*;
use crate::reports::advice::InsightSample;
use crate::site::Plan;

fn advice(role: EliteRole, area: &str, action: &str) -> Advice {
    Advice { role, area: area.into(), action: action.into() }
}

fn lazy() -> Advice {
    advice(EliteRole::Developer, "performance", "lazy-load below-the-fold images")
}
fn css() -> Advice {
    advice(EliteRole::Developer, "performance", "inline critical CSS")
}
fn headline() -> Advice {
    advice(EliteRole::Brand, "brand", "tighten the headline")
}

fn section(id: &str, plan: Option<Plan>, given: Option<Vec<Advice>>, first: Option<[u8; 3]>, last: [u8; 3]) -> CustomerMonthly {
    CustomerMonthly {
        customer_id: id.into(),
        runs: 10,
        successes: 10,
        failures: 0,
        average_scores: [None; 3],
        score_trend_per_day: [None; 3],
        first_scores: first,
        last_scores: Some(last),
        transient_failures: 0,
        permanent_failures: 0,
        duration_ms_sum: 0,
        duration_buckets: Vec::new(),
        insight_sample: given.map(|advice| InsightSample { plan, advice }),
    }
}

/// Seven customers counted (h has no first scores, i no sample). Gains per role
/// (brand, designer, developer): a (2, 0, 10), b (0, 0, 6), c (-2, 0, 2), d (0, 0, -1),
/// e (5, 0, 0), f (0, 0, 1), g (1, 0, -1).
fn seeded_month() -> Vec<CustomerMonthly> {
    use Plan::{Enterprise, Growth, Starter};
    vec![
        section("a", Some(Growth), Some(vec![lazy(), headline()]), Some([50, 50, 50]), [52, 50, 60]),
        section("b", Some(Growth), Some(vec![lazy()]), Some([50, 50, 40]), [50, 50, 46]),
        section("c", Some(Growth), Some(vec![lazy(), headline()]), Some([60, 60, 60]), [58, 60, 62]),
        section("d", Some(Starter), Some(vec![lazy()]), Some([50, 50, 50]), [50, 50, 49]),
        section("e", Some(Starter), Some(vec![css(), headline()]), Some([40, 40, 40]), [45, 40, 40]),
        section("f", Some(Starter), Some(vec![css()]), Some([40, 40, 40]), [40, 40, 41]),
        section("g", Some(Enterprise), Some(vec![css(), headline()]), Some([70, 70, 70]), [71, 70, 69]),
        section("h", Some(Growth), Some(vec![lazy()]), None, [99, 99, 99]),
        section("i", Some(Growth), None, Some([0, 0, 0]), [99, 99, 99]),
    ]
}

#[test]
fn insight_of_a_seeded_month_is_the_hand_computed_answer() {
    let found = insights(&seeded_month());
    type Row<'a> = (&'a str, &'a str, u64, u64, i64, u64, Option<i64>);
    let summary: Vec<Row<'_>> = found
        .iter()
        .map(|i| {
            (i.cohort.as_str(), i.action.as_str(), i.customers, i.improved, i.mean_gain_hundredths, i.others, i.others_mean_gain_hundredths)
        })
        .collect();
    assert_eq!(
        summary,
        [
            // Growth: a, b, c were all advised to lazy-load; developer gains 10 + 6 + 2 = 18 over 3.
            ("plan:growth", "lazy-load below-the-fold images", 3, 3, 600, 0, None),
            // All: a, b, c, d (17 over 4 = 4.25) against e, f, g (0 + 1 - 1 = 0 over 3).
            ("all", "lazy-load below-the-fold images", 4, 3, 425, 3, Some(0)),
            // All: a, c, e, g's brand gains 2 - 2 + 5 + 1 = 6 over 4 against b, d, f's 0 over 3.
            ("all", "tighten the headline", 4, 3, 150, 3, Some(0)),
        ]
    );
    // Left out: "inline critical CSS" (e, f, g: mean 0, no gain), and every other plan's
    // advice (fewer than 3 advised customers in the cohort).
    assert_eq!(
        found[1].claim,
        "3 of 4 customers advised by the developer worker to \"lazy-load below-the-fold images\" (performance) scored higher \
         there by the month's last run: mean +4.25 points, against +0.00 for the 3 not so advised."
    );
    assert_eq!(
        found[0].claim,
        "3 of 3 growth-plan customers advised by the developer worker to \"lazy-load below-the-fold images\" (performance) \
         scored higher there by the month's last run: mean +6.00 points."
    );
}

#[test]
fn insight_needs_a_gain_above_the_others_and_enough_customers() {
    // Everyone rose by 5: the advised did no better than the others, so nothing is claimed.
    let rising: Vec<CustomerMonthly> = (0..6)
        .map(|i| {
            let given = if i < 3 { vec![lazy()] } else { vec![css()] };
            section(&format!("c{i}"), None, Some(given), Some([50, 50, 50]), [55, 55, 55])
        })
        .collect();
    assert_eq!(insights(&rising), Vec::new());
    // Without others, a positive mean is enough, but only from MIN_CUSTOMERS advised on.
    let two: Vec<CustomerMonthly> =
        (0..2).map(|i| section(&format!("c{i}"), None, Some(vec![lazy()]), Some([50, 50, 50]), [50, 50, 60])).collect();
    assert_eq!(insights(&two), Vec::new());
    let three: Vec<CustomerMonthly> =
        (0..3).map(|i| section(&format!("c{i}"), None, Some(vec![lazy()]), Some([50, 50, 50]), [50, 50, 60])).collect();
    assert_eq!(insights(&three).len(), 1);
    assert_eq!(insights(&[]), Vec::new());
}

#[test]
fn insight_context_is_the_top_few_of_the_month() {
    let month = Month::new(2026, 11).unwrap();
    let found = insights(&seeded_month());
    let context = platform_context(month, &found).expect("the seeded month taught something");
    assert_eq!((context.v, context.month.as_str(), context.insights.len()), (PLATFORM_CONTEXT_VERSION, "2026-11", 3));
    assert_eq!(context.insights[0].claim, found[0].claim);
    assert_eq!(context.insights[0].mean_gain_hundredths, 600);
    // More than MAX_CONTEXT_INSIGHTS: only the best travel.
    let many: Vec<Insight> = (0..8).map(|_| found[0].clone()).collect();
    assert_eq!(platform_context(month, &many).map(|c| c.insights.len()), Some(MAX_CONTEXT_INSIGHTS));
    assert_eq!(platform_context(month, &[]), None);
    assert_eq!(context_key(month), "analytics/monthly/2026/11/platform-context.json");
    assert_eq!(context_month(Month::new(2027, 1).unwrap()), Month::new(2026, 12).unwrap());
}

#[test]
fn insight_gains_round_half_away_from_zero() {
    assert_eq!((mean_hundredths(2, 3), mean_hundredths(-1, 3), mean_hundredths(1, 8), mean_hundredths(-1, 8)), (67, -33, 13, -13));
    assert_eq!((points(425).as_str(), points(-25).as_str(), points(0).as_str()), ("+4.25", "-0.25", "+0.00"));
}

#[test]
fn insight_tally_fed_page_by_page_finds_the_same() {
    let month = seeded_month();
    let mut tally = InsightTally::default();
    for page in month.chunks(2) {
        for s in page {
            tally.add(s);
        }
    }
    assert_eq!(tally.finish(), insights(&month));
}
