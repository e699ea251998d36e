//! The finalize and end-of-month jobs read in pages and written as a stream: the objects are
//! byte for byte those of the whole-report functions, whether they fit one write or go in
//! parts, and a failed part leaves no object and no upload behind.

use futures::executor::block_on;

use super::streamed::{end_of_month, finalize};
use crate::ports::ReportStore;
use crate::reports::analytics::{monthly_report, sections_of, DailyRollup};
use crate::reports::jobs::{monthly_run_id, ReportJob, ReportWork};
use crate::reports::period::Month;
use crate::reports::revenue::BillingEvent;
use crate::reports::summary::{executive_summary, final_report, MonthInputs};
use crate::schedule::{END_OF_MONTH, MONTHLY_ANALYTICS};
use crate::testkit::ports::{MemoryMetrics, MemoryResults};
use crate::testkit::reports::MemoryReportStore;

const NOV: Month = Month { year: 2026, month: 11 };
const SLOT_MS: i64 = 1_796_137_200_000;
const AT: &str = "2026-12-01T15:00:00Z";

/// A varied day of `customer`: counts, durations and scores that differ by customer and day.
fn rollup(customer: usize, day: &str, seed: usize) -> DailyRollup {
    let mut r = crate::ledger::rollups::empty(&format!("c{customer:03}"), day);
    let successes = (customer * 7 + seed) % 13;
    r.duration_buckets[(customer + seed) % 10] = successes as u64 + 1;
    let score = |k: usize| ((customer * 11 + seed * 3 + k * 17) % 100) as u8;
    DailyRollup {
        runs: successes as u64 + 1,
        successes: successes as u64,
        transient_failures: 1,
        duration_ms_sum: 700 * (successes as i64 + 1),
        score_sums: [0, 1, 2].map(|k| u64::from(score(k)) * successes as u64),
        scored: successes as u64,
        first_scores: (successes > 0).then(|| [score(0), score(1), score(2)]),
        last_scores: (successes > 0).then(|| [score(2), score(0), score(1)]),
        ..r
    }
}

/// `n` customers over October and November, some in one month only, 1-4 days each.
fn rollups(n: usize) -> Vec<DailyRollup> {
    (0..n)
        .flat_map(|c| {
            let days = 1 + c % 4;
            let months: &[&str] = match c % 5 {
                0 => &["2026-10"],
                1 => &["2026-11"],
                _ => &["2026-10", "2026-11"],
            };
            months.iter().flat_map(move |m| (1..=days).map(move |d| rollup(c, &format!("{m}-{d:02}"), d)))
        })
        .collect()
}

/// Billing over 18 months: customers join, change plans, churn and return.
fn billing(n: usize) -> Vec<BillingEvent> {
    let start = Month::new(2025, 6).unwrap();
    let months: Vec<Month> = std::iter::successors(Some(start), |m| Some(m.next())).take(19).collect();
    (0..n)
        .flat_map(|c| {
            let months = months.clone();
            (0..4).filter_map(move |k| {
                let m = months.get((c * 3 + k * 5) % months.len())?;
                let at_ms = m.start().timestamp_millis() + ((c * 13 + k) % 27) as i64 * 86_400_000 + k as i64;
                let mrr_cents = if (c + k) % 6 == 5 { 0 } else { ((c % 7) as i64 + 1) * 1_000 * (k as i64 + 1) };
                Some(BillingEvent { customer_id: format!("c{c:03}"), at_ms, mrr_cents })
            })
        })
        .collect()
}

/// The written object against the whole report's pretty JSON: byte for byte when written
/// whole; in parts, the same JSON (the head is padded with spaces to its reserve in part 1),
/// and the same bytes once that padding is taken out.
fn same_report(written: &[u8], expected: &[u8], in_parts: bool, what: &str) {
    let (written, expected) = (String::from_utf8(written.to_vec()).unwrap(), String::from_utf8(expected.to_vec()).unwrap());
    if !in_parts {
        assert_eq!(written, expected, "{what}");
        return;
    }
    let parsed = |t: &str| serde_json::from_str::<serde_json::Value>(t).unwrap();
    assert_eq!(parsed(&written), parsed(&expected), "{what}");
    // The padding is where the two first differ: that many spaces more, nothing else.
    let at = written.bytes().zip(expected.bytes()).position(|(a, b)| a != b).unwrap_or(expected.len());
    let extra = written.len() - expected.len();
    assert!(written[at..at + extra].bytes().all(|b| b == b' ') && written[..at].ends_with('['), "{what}: padding at {at}");
    assert_eq!(format!("{}{}", &written[..at], &written[at + extra..]), expected, "{what}: only the padding differs");
}

fn job(task: &str, work: ReportWork) -> ReportJob {
    ReportJob::single(&monthly_run_id("local", task, NOV), Some(NOV), SLOT_MS, work)
}

#[test]
fn the_finalize_object_is_streamed_byte_for_byte_whole_or_in_parts() {
    let job = job(MONTHLY_ANALYTICS, ReportWork::MonthlyFinalize);
    let store = MemoryReportStore::default();
    let sections = sections_of(&rollups(57).into_iter().filter(|r| r.day.starts_with("2026-11")).collect::<Vec<_>>());
    for s in &sections {
        block_on(store.put_section(&job.run_id, s)).unwrap();
    }
    store.page_rows.set(Some(7));
    let expected = serde_json::to_vec_pretty(&monthly_report(&NOV.label(), AT, sections.clone())).unwrap();
    for min_part in [None, Some(3_000), Some(4_000)] {
        let results = MemoryResults::default();
        results.min_part_bytes.set(min_part);
        block_on(finalize(&store, &results, &MemoryMetrics::default(), &job, NOV, AT)).unwrap();
        let object = results.objects.borrow()[&NOV.analytics_key()].clone();
        same_report(&object.body, &expected, min_part.is_some(), &format!("parts of {min_part:?}"));
        assert_eq!(object.job_id, job.job_id);
        let in_parts = min_part.is_some();
        assert_eq!((results.uploads_started.get(), results.uploads_completed.get()), (u64::from(in_parts), u64::from(in_parts)));
        if let Some(min) = min_part {
            // Every part is the minimum exactly but the last, which is no longer: the twin
            // refuses anything else on completion, as R2 does.
            assert_eq!(results.largest_part.get(), min);
        }
    }
    assert_eq!(store.page_reads.get(), 3 * sections.len().div_ceil(7) as u64, "read in pages of 7");
}

#[test]
fn the_end_of_month_report_is_streamed_byte_for_byte_whole_or_in_parts() {
    let job = job(END_OF_MONTH, ReportWork::EndOfMonth);
    // Its head (revenue, technical figures, the MRR outlook) is about 12 KB: parts must hold
    // it in part 1's reserve (half a part here), so the cases in parts have more customers.
    let cases = [(41, None, None), (41, Some(5), None), (300, Some(50), Some(30_000)), (300, Some(90), Some(28_000))];
    for (customers, page_rows, min_part) in cases {
        let (all, events) = (rollups(customers), billing(customers));
        let (nov, oct): (Vec<DailyRollup>, Vec<DailyRollup>) = all.iter().cloned().partition(|r| r.day.starts_with("2026-11"));
        let before_end: Vec<BillingEvent> = events.iter().filter(|e| e.at_ms < NOV.end().timestamp_millis()).cloned().collect();
        let (sections, previous_sections) = (sections_of(&nov), sections_of(&oct));
        let report =
            final_report(NOV, AT, MonthInputs { billing: &before_end, sections: &sections, previous_sections: &previous_sections });
        assert!(report.forecast.as_ref().unwrap().next_month_mrr().is_some());
        let expected = serde_json::to_vec_pretty(&report).unwrap();
        let summary = serde_json::to_vec_pretty(&executive_summary(&report)).unwrap();
        let store = MemoryReportStore::default();
        store.rollups.borrow_mut().extend(all.iter().rev().cloned());
        store.billing.borrow_mut().extend(events.iter().cloned());
        store.page_rows.set(page_rows);
        let results = MemoryResults::default();
        results.min_part_bytes.set(min_part);
        block_on(end_of_month(&store, &results, &MemoryMetrics::default(), &job, NOV, AT)).unwrap();
        let objects = results.objects.borrow();
        let body = |key: &str| String::from_utf8(objects[key].body.clone()).unwrap();
        let what = format!("{customers} customers, pages of {page_rows:?}, parts of {min_part:?}");
        same_report(&objects[&NOV.final_report_key()].body, &expected, min_part.is_some(), &what);
        assert_eq!(body(&NOV.executive_summary_key()), String::from_utf8(summary.clone()).unwrap());
        assert_eq!(results.uploads_completed.get(), u64::from(min_part.is_some()), "{what}");
    }
}

#[test]
fn a_failed_part_aborts_the_upload_and_a_retry_writes_the_object() {
    let job = job(MONTHLY_ANALYTICS, ReportWork::MonthlyFinalize);
    let store = MemoryReportStore::default();
    for s in sections_of(&rollups(30)) {
        block_on(store.put_section(&job.run_id, &s)).unwrap();
    }
    let results = MemoryResults::default();
    results.min_part_bytes.set(Some(3_000));
    results.failing_parts.set(1);
    let error = block_on(finalize(&store, &results, &MemoryMetrics::default(), &job, NOV, AT)).unwrap_err();
    assert!(error.to_string().contains("simulated R2 outage"), "{error}");
    assert!(results.objects.borrow().is_empty() && results.uploads.borrow().is_empty());
    assert_eq!(results.uploads_aborted.get(), 1);
    block_on(finalize(&store, &results, &MemoryMetrics::default(), &job, NOV, AT)).unwrap();
    assert!(results.objects.borrow().contains_key(&NOV.analytics_key()));
}
