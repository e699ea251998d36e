//! The Analytics Engine limits, tested on the points the pipeline builds and on points built to
//! break them; and the invocation budget against the consumers' largest batches.

use super::*;
use crate::reports::analytics::{monthly_report, sections_of};
use crate::reports::period::Month;
use crate::reports::summary::{final_report, MonthInputs};

fn finished(customer: &str, scores: Option<[u8; 3]>) -> JobFinished {
    JobFinished {
        job_id: format!("local.optimize.20261129T011500Z.{customer}"),
        run_id: "local.optimize.20261129T011500Z".into(),
        customer_id: customer.into(),
        succeeded: scores.is_some(),
        attempts: 2,
        duration_ms: 840,
        scores,
    }
}

fn within_limits(p: &DataPoint) {
    assert!(p.index.len() <= MAX_INDEX_BYTES && p.blobs.len() <= MAX_BLOBS && p.doubles.len() <= MAX_DOUBLES, "{p:?}");
    assert!(p.blobs.iter().map(String::len).sum::<usize>() <= MAX_BLOB_BYTES);
}

#[test]
fn a_finished_optimization_writes_its_outcome_and_scores() {
    let p = job_point(&finished("acme", Some([70, 80, 90]))).unwrap();
    assert_eq!(p.index, "acme");
    assert_eq!(p.blobs, ["job", "local.optimize.20261129T011500Z.acme", "local.optimize.20261129T011500Z", "succeeded"]);
    assert_eq!(p.doubles, [2.0, 840.0, 1.0, 70.0, 80.0, 90.0]);
    let dead = job_point(&finished("acme", None)).unwrap();
    assert_eq!((dead.blobs[3].as_str(), &dead.doubles[2..]), ("dead", &[0.0, 0.0, 0.0, 0.0][..]));
    // The longest customer id (64 bytes) is a valid index.
    within_limits(&job_point(&finished(&"c".repeat(64), None)).unwrap());
}

#[test]
fn every_report_point_is_within_the_limits() {
    let rollups = vec![crate::ledger::rollups::empty("acme", "2026-11-02")];
    let report = monthly_report("2026-11", "now", sections_of(&rollups));
    let revenue = crate::reports::revenue::revenue_metrics(&[], 0, 1);
    let customer = monthly_customer_point("2026-11", &report.customers[0], &revenue, [Some(71.5), None, None]).unwrap();
    within_limits(&customer);
    assert_eq!(&customer.doubles[8..], &[0.0, 0.0, 71.5, -1.0, -1.0]);
    let platform = monthly_platform_point("2026-11", &report.platform, 3).unwrap();
    within_limits(&platform);
    assert_eq!((platform.index.as_str(), platform.blobs[0].as_str(), platform.doubles[9]), ("platform", "monthly-platform", 3.0));
    let month = Month::new(2026, 11).unwrap();
    let eom = end_of_month_point(&final_report(month, "now", MonthInputs { billing: &[], sections: &[], previous_sections: &[] })).unwrap();
    within_limits(&eom);
    assert_eq!(eom.blobs, ["end-of-month", "2026-11"]);
}

#[test]
fn points_over_a_limit_are_refused() {
    assert!(DataPoint::new(Kind::Job, &"i".repeat(MAX_INDEX_BYTES), &[], &[]).is_ok());
    assert!(DataPoint::new(Kind::Job, &"i".repeat(MAX_INDEX_BYTES + 1), &[], &[]).unwrap_err().contains("index"));
    let blobs = vec!["b"; MAX_BLOBS - 1];
    assert!(DataPoint::new(Kind::Job, "i", &blobs, &[]).is_ok(), "the kind is the first of the 20 blobs");
    let blobs = vec!["b"; MAX_BLOBS];
    assert!(DataPoint::new(Kind::Job, "i", &blobs, &[]).unwrap_err().contains("blobs"));
    let big = "x".repeat(MAX_BLOB_BYTES);
    assert!(DataPoint::new(Kind::Job, "i", &[&big], &[]).unwrap_err().contains("bytes"));
    assert!(DataPoint::new(Kind::Job, "i", &[], &[0.0; MAX_DOUBLES]).is_ok());
    assert!(DataPoint::new(Kind::Job, "i", &[], &[0.0; MAX_DOUBLES + 1]).unwrap_err().contains("doubles"));
}

#[test]
fn an_invocation_writes_at_most_its_budget_of_points() {
    let budget = PointBudget::default();
    assert_eq!((0..MAX_POINTS_PER_INVOCATION + 10).filter(|_| budget.take()).count(), MAX_POINTS_PER_INVOCATION);
    assert_eq!(budget.written(), MAX_POINTS_PER_INVOCATION);
}

/// The consumers' largest batches within one invocation's points, with the design's headroom:
/// an optimization batch (at most the queue's largest consumer batch) writes one point per
/// message, a reports batch (its `max_batch_size` in every environment of
/// consumers/reports/wrangler.toml) at most two per message.
#[test]
fn the_largest_batches_write_points_within_the_headroom() {
    use crate::limits::{within_headroom, AE_POINTS_PER_INVOCATION, QUEUE_CONSUMER_BATCH};
    assert!(within_headroom(QUEUE_CONSUMER_BATCH, AE_POINTS_PER_INVOCATION));
    let toml = include_str!("../../../consumers/reports/wrangler.toml");
    let sizes: Vec<u64> =
        toml.lines().filter_map(|l| l.trim().strip_prefix("max_batch_size = ")).map(|v| v.trim().parse().unwrap()).collect();
    let largest = sizes.iter().copied().max().expect("the reports consumer sets max_batch_size");
    assert!(within_headroom(2 * largest, AE_POINTS_PER_INVOCATION), "{largest} messages of two points each");
}
