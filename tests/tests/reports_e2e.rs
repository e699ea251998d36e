//! End to end on local workerd: the report jobs, in one story told in calendar order (January
//! and February 2031, later than anything the other e2e files schedule, so no optimization
//! sweep of theirs is superseded and `Stack::next_sweep_time` stays monotonic):
//!
//! 1. two optimization sweeps in January feed the daily rollups;
//! 2. the hourly health check writes its object;
//! 3. the end-of-month slot of January is *dropped*; the first sweep tick of February catches
//!    it up, exactly once, and the report agrees with the seeded billing data;
//! 4. monthly analytics of January fan out per customer and fan in to one report;
//! 5. firing any of these crons again for the same time does no new work;
//! 6. what January's analytics learned across customers (some Developer scores were made to
//!    rise) travels as platform context in every elite call of February's next sweep.

use std::time::Duration;

use code24_shared::elite::{EliteRequest, EliteRole};
use code24_shared::reports::health::CANARY_CUSTOMER;
use code24_shared::reports::revenue::{revenue_metrics, BillingEvent};
use code24_shared::standin::simulated_answer;
use code24_tests::{wait_until, Stack};
use serde_json::{json, Value};
use ureq::http::Method;

const SETTLE: Duration = Duration::from_secs(120);
const DAY: i64 = 86_400_000;
/// 2031-01-01T00:00:00Z.
const JAN: i64 = 1_924_992_000_000;
/// 2031-02-01T00:00:00Z.
const FEB: i64 = JAN + 31 * DAY;

/// The report customers, their site URLs, and January's billing history (the unit test's
/// hand-computed month, see `shared/src/reports/revenue.rs`).
const CUSTOMERS: [&str; 7] = ["rpt-a", "rpt-b", "rpt-c", "rpt-d", "rpt-e", "rpt-f", "rpt-g"];

fn url(customer: &str) -> String {
    format!("https://{customer}.reports.example")
}

fn billing() -> Vec<BillingEvent> {
    let ev = |c: &str, at_ms: i64, mrr_cents: i64| BillingEvent { customer_id: c.into(), at_ms, mrr_cents };
    vec![
        ev("rpt-a", JAN - 40 * DAY, 10_000),
        ev("rpt-a", JAN + 3 * DAY, 15_000),
        ev("rpt-b", JAN - 10 * DAY, 20_000),
        ev("rpt-b", JAN + 5 * DAY, 12_000),
        ev("rpt-c", JAN - 90 * DAY, 30_000),
        ev("rpt-c", JAN + 9 * DAY, 0),
        ev("rpt-d", JAN - 200 * DAY, 5_000),
        ev("rpt-d", JAN - 20 * DAY, 0),
        ev("rpt-d", JAN + 12 * DAY, 8_000),
        ev("rpt-e", JAN + 15 * DAY, 9_900),
        ev("rpt-f", JAN - 60 * DAY, 40_000),
        ev("rpt-f", JAN + DAY, 0),
        ev("rpt-f", JAN + 2 * DAY, 40_000),
        ev("rpt-g", JAN - 5 * DAY, 25_000),
    ]
}

fn run_complete(stack: &Stack, run_id: &str) -> Value {
    wait_until(&format!("run {run_id} is complete"), SETTLE, || {
        let r = stack.send(Method::GET, &format!("/api/sweeps/{run_id}"), None, true);
        if r.status == 200 && r.json()["complete"] == json!(true) {
            Ok(r.json())
        } else {
            Err(r)
        }
    })
}

fn object(stack: &Stack, key: &str) -> Option<Value> {
    let r = stack.send(Method::GET, &format!("/api/results/{key}"), None, true);
    match r.status {
        200 => Some(r.json()),
        404 => None,
        other => panic!("GET {key}: {other} {}", r.body),
    }
}

fn etag(stack: &Stack, key: &str) -> String {
    let listing = stack.get_json(&format!("/api/results?prefix={key}"));
    listing["objects"][0]["etag"].as_str().unwrap_or_else(|| panic!("no object {key}: {listing}")).to_owned()
}

fn sweep(stack: &Stack, at_ms: i64) {
    stack.fire_cron("*/3 * * * *", at_ms);
    let at = chrono::DateTime::from_timestamp_millis(at_ms).unwrap();
    run_complete(stack, &format!("local.optimize.{}", at.format("%Y%m%dT%H%M%SZ")));
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn report_jobs_run_once_from_rollups_and_billing_and_catch_up_a_dropped_slot() {
    let stack = Stack::from_env();
    stack.delete("/api/standin/faults", None);
    assert!(stack.next_sweep_time() < JAN, "another e2e file scheduled past January 2031");
    for c in CUSTOMERS {
        stack.post_json("/api/sites", &json!({"customer_id": c, "url": url(c), "plan": "growth"}));
    }
    for e in billing() {
        stack.post_json("/api/billing-events", &json!({"customer_id": e.customer_id, "at_ms": e.at_ms, "mrr_cents": e.mrr_cents}));
    }

    // 1. Two sweeps in January. The first run's Developer score of the customers whose
    //    simulated score is above 5 is forced to 5, so their score rises by their second run:
    //    what the monthly analytics' insights look for (step 6).
    let developer = |c: &str| {
        let request = EliteRequest {
            v: 1,
            role: EliteRole::Developer,
            job_id: String::new(),
            customer_id: c.into(),
            site_url: url(c),
            platform_context: None,
            scheduled_at: String::new(),
        };
        simulated_answer(&request).score
    };
    let risers: Vec<&str> = CUSTOMERS.iter().copied().filter(|c| developer(c) > 5).collect();
    assert!(risers.len() >= 3, "too few customers can rise: {risers:?}");
    let rules: Vec<Value> =
        risers.iter().map(|c| json!({"customer_id": c, "role": "developer", "fault": {"kind": "score", "score": 5}, "times": 1})).collect();
    stack.put_json("/api/standin/faults", &json!({ "rules": rules }));
    sweep(&stack, JAN + 9 * DAY);
    sweep(&stack, JAN + 10 * DAY);

    // 2. The hourly health check.
    let hc_time = JAN + 10 * DAY + 3_600_000;
    stack.fire_cron("0 * * * *", hc_time);
    run_complete(&stack, "local.health-check.20310111T010000Z");
    let health = object(&stack, "dev/health-checks/20310111T010000Z.json").expect("the health check object");
    assert_eq!(health["elite"]["healthy"], json!(3), "{health}");
    assert!(health.to_string().contains("latency"), "every check reports its latency: {health}");

    // The rollups reach D1 (flushed by each ledger shard's alarm), every customer's: the
    //    monthly analytics of step 4 read them, and step 6 needs every customer's scores.
    for c in CUSTOMERS {
        let rollups = wait_until(&format!("{c}'s January rollups are in D1"), SETTLE, || {
            let r = stack.get_json(&format!("/api/rollups?customer_id={c}&month=2031-01"));
            let runs: u64 = r["rollups"].as_array().unwrap().iter().map(|d| d["runs"].as_u64().unwrap_or(0)).sum();
            if runs == 2 {
                Ok(r)
            } else {
                Err(r)
            }
        });
        assert_eq!(rollups["rollups"].as_array().unwrap().len(), 2, "one rollup a day: {rollups}");
    }

    // 3. January's end-of-month slot (Friday the 31st, 23:59) is never fired. The first
    //    sweep tick of February catches it up.
    sweep(&stack, FEB + 180_000);
    let eom = run_complete(&stack, "local.end-of-month.2031-01");
    assert_eq!((eom["succeeded"].clone(), eom["expected"].clone()), (json!(1), json!(1)));
    let report = object(&stack, "reports/end-of-month/2031/01/final-report.json").expect("the final report");
    let summary = object(&stack, "reports/end-of-month/2031/01/executive-summary.json").expect("the summary");
    let expected = revenue_metrics(&billing(), JAN, FEB);
    assert_eq!(report["revenue"], serde_json::to_value(&expected).unwrap(), "{report}");
    assert_eq!(report["revenue"]["ending_mrr_cents"], json!(109_900));
    let headline = |name: &str| summary["headline"].as_array().unwrap().iter().find(|k| k["name"] == name).cloned().unwrap();
    assert_eq!(headline("ending_mrr")["value"], report["revenue"]["ending_mrr_cents"], "the summary agrees with the report");
    assert_eq!(headline("net_revenue_retention")["value"], json!(4_160));
    println!("executive summary of January 2031:\n{}", serde_json::to_string_pretty(&summary).unwrap());
    // A second tick catches up nothing new.
    let before = etag(&stack, "reports/end-of-month/2031/01/final-report.json");
    sweep(&stack, FEB + 360_000);
    let again = stack.get_json("/api/sweeps/local.end-of-month.2031-01");
    assert_eq!(again["succeeded"], json!(1));
    assert_eq!(etag(&stack, "reports/end-of-month/2031/01/final-report.json"), before, "the catch-up ran twice");

    // 4. Monthly analytics of January, on its slot (the 1st of February, 15:00).
    let analytics_time = FEB + 15 * 3_600_000;
    stack.fire_cron("0 15 1 * *", analytics_time);
    let key = "analytics/monthly/2031/01/report.json";
    let analytics = wait_until("the monthly report is written", SETTLE, || object(&stack, key).ok_or(()));
    // The finalize job is one more job of the same run (fan-in: exactly one), expected once it
    // was requested, so the run completes when the report's job is recorded, at N+1 of N+1.
    let run = run_complete(&stack, "local.monthly-analytics.2031-01");
    let sections = analytics["customers"].as_array().unwrap();
    assert_eq!(sections.len() as u64 + 1, run["expected"].as_u64().unwrap(), "one section per customer job, and the finalize job");
    assert_eq!(run["succeeded"], run["expected"], "{run}");
    let a = sections.iter().find(|s| s["customer_id"] == "rpt-a").expect("rpt-a's section");
    assert_eq!((a["runs"].clone(), a["successes"].clone()), (json!(2), json!(2)), "{a}");
    // Its average brand score is the stand-in's deterministic answer for its site.
    let request = EliteRequest {
        v: 1,
        role: EliteRole::Brand,
        job_id: String::new(),
        customer_id: "rpt-a".into(),
        site_url: url("rpt-a"),
        platform_context: None,
        scheduled_at: String::new(),
    };
    assert_eq!(a["average_scores"][0], json!(f64::from(simulated_answer(&request).score)));
    assert!(analytics["platform"]["runs"].as_u64().unwrap() >= 2 * CUSTOMERS.len() as u64);

    // 5. The same crons and times again: no new work, no rewrite.
    let analytics_etag = etag(&stack, key);
    stack.fire_cron("0 15 1 * *", analytics_time);
    stack.fire_cron("0 * * * *", hc_time);
    let firings = wait_until("the duplicate firing is counted", SETTLE, || {
        let r = stack.get_json("/api/sweeps/local.monthly-analytics.2031-01");
        if r["firings"] == json!(2) {
            Ok(r)
        } else {
            Err(r)
        }
    });
    assert_eq!(firings["succeeded"], run["succeeded"]);
    assert_eq!(etag(&stack, key), analytics_etag, "the monthly report was rewritten");
    assert_eq!(stack.get_json("/api/sweeps/local.health-check.20310111T010000Z")["succeeded"], json!(1));

    // 6. What January taught reaches the elite workers with February's next sweep: the
    //    insights are in the report, their top is the platform context in R2, and every elite
    //    call of the sweep carries exactly that context to the stand-in.
    let insights = analytics["insights"].as_array().expect("insights in the report");
    let lazy = insights.iter().find(|i| i["cohort"] == "all" && i["role"] == "developer").expect("the developer's advice, overall");
    assert!(lazy["improved"].as_u64().unwrap() >= risers.len() as u64 && lazy["mean_gain_hundredths"].as_i64().unwrap() > 0, "{lazy}");
    // Written right after the report.
    let context = wait_until("the platform context is written", SETTLE, || {
        object(&stack, "analytics/monthly/2031/01/platform-context.json").ok_or(())
    });
    assert_eq!(context["month"], json!("2031-01"));
    assert_eq!(context["insights"][0]["claim"], insights[0]["claim"], "{context}");
    stack.delete("/api/standin/stats", None);
    let context_sweep = FEB + 16 * 3_600_000;
    sweep(&stack, context_sweep);
    let stats = stack.get_json("/api/standin/stats");
    let calls = stats["platform_context_calls"]["2031-01"].as_u64().unwrap_or(0);
    // A health check's canary (no context) may call meanwhile; every sweep call carries it.
    let canary: u64 = stats["calls"][CANARY_CUSTOMER].as_object().map_or(0, |roles| roles.values().filter_map(Value::as_u64).sum());
    assert_eq!(calls, stats["total_calls"].as_u64().unwrap() - canary, "every call of the sweep carried January's context: {stats}");
    assert!(calls >= 3 * CUSTOMERS.len() as u64, "{stats}");
    assert_eq!(stats["last_platform_context"], context, "the stand-in read what R2 holds");

    // An operator's backfill of an already reported month is the same run: nothing new.
    let backfill = stack.post_json("/api/runs", &json!({"task": "end-of-month", "month": "2031-01"}));
    assert_eq!(backfill["report"]["sent"], json!(0), "{backfill}");
    let bad = stack.send(Method::POST, "/api/runs", Some(&json!({"task": "optimize", "month": "2031-01"})), true);
    assert_eq!(bad.status, 400, "{}", bad.body);
}
