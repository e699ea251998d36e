//! The report pages from reports computed by the core itself: headline figures, charts, the
//! states of a missing report and an empty month, links to the JSON, and escaping.

use super::*;
use crate::pages::analytics;
use code24_shared::reports::analytics::{monthly_report, sections_of};
use code24_shared::reports::revenue::BillingEvent;
use code24_shared::reports::summary::{executive_summary, final_report, MonthInputs};

fn nov() -> Month {
    Month::new(2026, 11).unwrap()
}

/// Ten months of billing: one new customer at 100.00 a month from January, one churning in
/// October.
fn billing() -> Vec<BillingEvent> {
    let ev = |c: String, m: u32, cents: i64| BillingEvent {
        customer_id: c,
        at_ms: Month::new(2026, m).unwrap().start().timestamp_millis() + 86_400_000,
        mrr_cents: cents,
    };
    let mut events: Vec<BillingEvent> = (1..=11).map(|m| ev(format!("c{m}"), m, 10_000)).collect();
    events.push(ev("c1".into(), 10, 0));
    events
}

fn report() -> FinalReport {
    let mut rollup = code24_shared::ledger::rollups::empty("acme", "2026-11-03");
    rollup.successes = 2;
    rollup.runs = 2;
    rollup.scored = 2;
    rollup.score_sums = [140, 160, 180];
    rollup.first_scores = Some([60, 70, 80]);
    rollup.last_scores = Some([80, 90, 100]);
    let sections = sections_of(&[rollup]);
    final_report(nov(), "2026-11-30T23:59:00Z", MonthInputs { billing: &billing(), sections: &sections, previous_sections: &[] })
}

#[test]
fn report_page_puts_the_summary_first_and_draws_every_chart() {
    let r = report();
    let s = executive_summary(&r);
    let html = end_of_month(nov(), Some(&r), Some(&s));
    let summary_at = html.find("Executive summary").expect("the summary");
    assert!(summary_at < html.find("<svg").expect("a chart"), "the summary comes first");
    // Each headline KPI shows its value as the JSON has it, formatted.
    let ending = kpi(&s, "ending_mrr").and_then(|k| k.value).unwrap();
    assert_eq!(ending, 100_000, "ten paying customers at 100.00");
    assert!(
        html.contains("data-kpi=\"ending_mrr\"><span class=\"name\">Ending MRR</span><strong class=\"value\">$1,000.00</strong>"),
        "{html}"
    );
    for sentence in &s.sentences {
        assert!(html.contains(&esc(sentence)), "{sentence}");
    }
    // Waterfall, a year of MRR with its forecast band, churn, NRR, three score distributions,
    // top improvers.
    assert_eq!(html.matches("<svg").count(), 1 + 1 + 2 + 3 + 1, "{html}");
    assert!(html.contains("class=\"band\"") && html.contains("MRR bridge of 2026-11"));
    assert!(html.contains("href=\"/reports/2026-11/final-report.json\">reports/end-of-month/2026/11/final-report.json</a>"));
    assert!(html.contains("href=\"/reports/2026-11/executive-summary.json\""));
    assert!(!html.contains("style="), "the CSP forbids style attributes");
}

#[test]
fn report_page_states_a_missing_report_and_an_empty_month() {
    let html = end_of_month(nov(), None, None);
    assert!(html.contains("No end-of-month report for 2026-11 has been written.") && !html.contains("<svg"), "{html}");
    assert!(html.contains("href=\"/reports/2026-10\"") && html.contains("href=\"/reports/2026-11/analytics\""));
    let empty = final_report(nov(), "now", MonthInputs { billing: &[], sections: &[], previous_sections: &[] });
    let html = end_of_month(nov(), Some(&empty), Some(&executive_summary(&empty)));
    assert!(
        html.contains("2026-11 was empty") && html.contains("No MRR history to chart yet.") && html.contains("No scored runs"),
        "{html}"
    );
    assert!(html.contains("Too little history"), "{html}");
}

#[test]
fn report_page_of_the_monthly_analytics_lists_insights_or_says_why_not() {
    assert!(analytics::monthly(nov(), None).contains("No monthly analytics for 2026-11 have been written."));
    let mut r = monthly_report("2026-11", "now", Vec::new());
    let html = analytics::monthly(nov(), Some(&r));
    assert!(html.contains("had no customer") && html.contains("No insight this month."), "{html}");
    r.insights.push(code24_shared::reports::advice::Insight {
        cohort: "all".into(),
        role: code24_shared::elite::EliteRole::Developer,
        area: "performance".into(),
        action: "<lazy>".into(),
        customers: 4,
        improved: 3,
        mean_gain_hundredths: 425,
        others: 3,
        others_mean_gain_hundredths: Some(0),
        claim: "3 of 4 customers advised to \"<lazy>\" gained".into(),
    });
    let html = analytics::monthly(nov(), Some(&r));
    assert!(html.contains("<td>+4.25</td><td>+0.00 (3)</td>") && html.contains("&lt;lazy&gt;") && !html.contains("<lazy>"), "{html}");
    assert!(html.contains("href=\"/reports/2026-11/analytics.json\""));
}

#[test]
fn report_page_index_marks_written_reports() {
    let have = vec![nov().final_report_key()];
    let html = index(nov(), 3, &have);
    assert!(html.contains("<td>2026-11</td><td><a href=\"/reports/2026-11\">Report and executive summary</a>"), "{html}");
    assert_eq!(html.matches("not written").count(), 5, "{html}");
    assert!(html.contains("<td>2026-09</td>") && !html.contains("2026-08"));
}
