//! End to end on local workerd: the daily rollups. A sweep fired twice for the same time counts
//! each of two fresh sites once in its ledger shard, and the shard's alarm copies the rows to
//! D1, where `GET /api/rollups` reads them: a success with its duration and the scores of the
//! result object it wrote, a permanent failure by its class; `GET /api/rollups/freshness` then
//! names the flush of the sites' shards, after the sweep. The route refuses bad parameters.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use code24_shared::ids::{from_epoch_ms, CustomerId, RunId};
use code24_shared::ledger::freshness::Freshness;
use code24_shared::ledger::{shard_object, shard_of};
use code24_shared::optimization::{optimization_key, OptimizationResult};
use code24_shared::reports::analytics::DailyRollup;
use code24_shared::reports::period::Month;
use code24_shared::schedule::Task;
use code24_tests::{wait_until, Stack};
use serde_json::{json, Value};
use ureq::http::Method;

const SWEEP_CRON: &str = "*/3 * * * *";
/// The sweep settles, then the shards flush within 30 s.
const SETTLE: Duration = Duration::from_secs(150);
const GOOD: &str = "rollup-e2e-good";
const BAD: &str = "rollup-e2e-bad";

fn rollups(stack: &Stack, customer_id: &str, month: Month) -> Vec<DailyRollup> {
    let page = stack.get_json(&format!("/api/rollups?customer_id={customer_id}&month={month}"));
    serde_json::from_value(page["rollups"].clone()).unwrap_or_else(|e| panic!("{e}: {page}"))
}

/// Waits until D1 holds `customer_id`'s rollup of the day of `time`, with `runs` runs.
fn wait_rollup(stack: &Stack, customer_id: &str, time: i64, runs: u64) -> DailyRollup {
    let at = from_epoch_ms(time).unwrap();
    let day = at.format("%Y-%m-%d").to_string();
    wait_until(&format!("D1 holds {customer_id}'s rollup of {day} with {runs} run(s)"), SETTLE, || {
        let all = rollups(stack, customer_id, Month::of(at));
        match all.iter().find(|r| r.day == day) {
            Some(r) if r.runs >= runs => Ok(r.clone()),
            _ => Err(all),
        }
    })
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn a_sweep_fired_twice_is_rolled_up_once_and_reaches_d1() {
    let stack = Stack::from_env();
    for customer_id in [GOOD, BAD] {
        stack.post_json(
            "/api/sites",
            &json!({"customer_id": customer_id, "url": format!("https://{customer_id}.e2e.example"), "plan": "starter"}),
        );
    }
    stack.put_json(
        "/api/standin/faults",
        &json!({"rules": [{"customer_id": BAD, "role": "brand", "fault": {"kind": "status", "code": 400}}]}),
    );
    let started = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let time = stack.next_sweep_time();
    let sweep = RunId::new("local", Task::Optimize, from_epoch_ms(time).unwrap()).as_str().to_owned();
    stack.fire_cron(SWEEP_CRON, time);
    stack.fire_cron(SWEEP_CRON, time);
    wait_until(&format!("sweep {sweep} is complete"), SETTLE, || {
        let p = stack.get_json(&format!("/api/sweeps/{sweep}"));
        if p["complete"] == json!(true) {
            Ok(p)
        } else {
            Err(p)
        }
    });

    let good = wait_rollup(&stack, GOOD, time, 1);
    assert_eq!((good.runs, good.successes, good.transient_failures, good.permanent_failures), (1, 1, 0, 0), "{good:?}");
    let key = optimization_key(&CustomerId::parse(GOOD).unwrap(), from_epoch_ms(time).unwrap());
    let result: OptimizationResult =
        serde_json::from_str(&stack.send(Method::GET, &format!("/api/results/{key}"), None, true).body).unwrap();
    let scores = [result.brand.score, result.designer.score, result.developer.score];
    assert_eq!(good.score_sums, scores.map(u64::from));
    assert_eq!(
        (good.first_scores, good.first_at_ms, good.last_scores, good.last_at_ms),
        (Some(scores), Some(time), Some(scores), Some(time))
    );
    assert_eq!(good.duration_buckets.iter().sum::<u64>(), 1, "one measured run: {good:?}");

    let bad = wait_rollup(&stack, BAD, time, 1);
    assert_eq!((bad.runs, bad.successes, bad.transient_failures, bad.permanent_failures), (1, 0, 0, 1), "{bad:?}");
    assert_eq!((bad.score_sums, bad.first_scores), ([0; 3], None));

    // The shards that hold the two sites say when they flushed: after the sweep started.
    for customer_id in [GOOD, BAD] {
        let shard = shard_object(shard_of(customer_id));
        let f = wait_until(&format!("{shard} reports a flush after the sweep"), SETTLE, || {
            let f: Freshness = serde_json::from_value(stack.get_json("/api/rollups/freshness")).unwrap();
            let flushed = f.shards.iter().find(|s| s.shard == shard).and_then(|s| s.state.as_ref()).and_then(|s| s.flushed_ms);
            if flushed.is_some_and(|t| t >= started) {
                Ok(f)
            } else {
                Err(f)
            }
        });
        assert_eq!((f.shards.len(), f.stale, f.interval_s), (8, 0, 30), "{f:?}");
        assert!(f.oldest_flush_ms.is_some_and(|t| t <= f.now_ms), "{f:?}");
    }

    stack.delete("/api/standin/faults", None);
    for customer_id in [GOOD, BAD] {
        stack.post_json(&format!("/api/sites/{customer_id}/deactivate"), &json!({}));
    }
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn the_rollups_route_refuses_bad_parameters() {
    let stack = Stack::from_env();
    let check = |query: &str, status: u16, fragment: &str| {
        let reply = stack.send(Method::GET, &format!("/api/rollups{query}"), None, true);
        assert_eq!(reply.status, status, "{query}: {}", reply.body);
        let body: Value = reply.json();
        assert!(body["error"].as_str().unwrap_or_default().contains(fragment), "{query}: {body}");
    };
    check("?month=2026-11", 400, "customer_id is required");
    check("?customer_id=acme", 400, "month is required");
    check("?customer_id=acme&month=2026-13", 400, "is not a month");
    check("?customer_id=a%20b&month=2026-11", 400, "customer_id");
    let reply = stack.send(Method::POST, "/api/rollups", Some(&json!({})), true);
    assert_eq!(reply.status, 405, "{}", reply.body);
    let none = stack.get_json("/api/rollups?customer_id=nobody-at-all&month=2026-11");
    assert_eq!(none, json!({"rollups": []}));
}
