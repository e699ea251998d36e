//! End to end on local workerd: the whole local stack is killed mid-sweep and started again on
//! the same persisted state (`Stack::restart`, served by the e2e tier). Local queues live only
//! in memory, so every message not yet acked is lost with the stack (Cloudflare's queues keep
//! them; this is the harsher case). The sweep's time is then fired again, which re-drives the
//! incomplete sweep: the sweep finishes, no site is lost, and no site that had succeeded
//! before the kill is called or written again.

use std::collections::BTreeMap;
use std::time::Duration;

use code24_tests::faults::{assert_every_site_ends_once, calls, objects, progress, result_key, sweep_id, Ending, Object, SWEEP_CRON};
use code24_tests::{wait_until, Stack};
use serde_json::json;

const SITES: usize = 30;
const SETTLE: Duration = Duration::from_secs(300);
/// The ledger re-drives a sweep fired again more than one producer lease after its fan-out.
const PRODUCER_LEASE_MS: i64 = code24_shared::pipeline::producer::PRODUCER_LEASE_MS;

fn customer(i: usize) -> String {
    format!("rst-{i:03}")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn a_stack_killed_mid_sweep_finishes_the_sweep_after_restart_without_reworking_a_success() {
    let stack = Stack::from_env();
    for i in 0..SITES {
        stack
            .post_json("/api/sites", &json!({"customer_id": customer(i), "url": format!("https://{i}.restart.example"), "plan": "growth"}));
    }
    // Every call is slow, and a few sites hang once (past the 5 s timeout, then retry): the
    // sweep is surely still running when some of its sites have succeeded.
    let mut rules = vec![json!({"fault": {"kind": "latency", "ms": 1500}})];
    rules.splice(0..0, (0..5).map(|i| json!({"customer_id": customer(i), "fault": {"kind": "hang"}, "times": 1})));
    stack.put_json("/api/standin/faults", &json!({ "rules": rules }));
    let (time, active) = (stack.next_sweep_time(), stack.active_customers());
    let sweep = sweep_id(time);
    let instance_before = calls(&stack).0;
    stack.fire_cron(SWEEP_CRON, time);
    wait_until("some sites succeeded while the sweep still runs", SETTLE, || match progress(&stack, &sweep) {
        Ok(p) if p["succeeded"].as_u64() > Some(0) && p["complete"] == json!(false) => Ok(()),
        other => Err(other),
    });
    // The results written before the kill: those sites must never be worked again.
    let written_before: BTreeMap<String, Object> = objects(&stack, "optimizations/")
        .into_iter()
        .filter(|(_, o)| o.job_id.as_deref().is_some_and(|j| j.starts_with(&format!("{sweep}."))))
        .collect();
    assert!(!written_before.is_empty());

    stack.restart();

    let (instance_after, _) = calls(&stack);
    assert_ne!(instance_after, instance_before, "the stand-in did not restart: the stack was not killed");
    let before_refire = progress(&stack, &sweep).expect("the ledger kept the sweep");
    assert_eq!(before_refire["enqueued"], json!(active.len()), "the fan-out was recorded before the kill: {before_refire}");
    // Fire the same time again once a producer lease has passed since the fan-out (a
    // condition on the clock, not a guess at how long anything takes).
    let fanout_done_ms = before_refire["fanout_done_ms"].as_i64().expect("fan-out done");
    wait_until("a producer lease passed since the fan-out", SETTLE, || {
        if now_ms() > fanout_done_ms + PRODUCER_LEASE_MS + 1_000 {
            Ok(())
        } else {
            Err(now_ms())
        }
    });
    // The messages that were in the local queues died with the stack: nothing but the
    // re-drive finishes the sweep now.
    let stalled = progress(&stack, &sweep).unwrap();
    println!("before the second firing: {stalled}");
    assert_eq!(stalled["complete"], json!(false), "nothing was lost with the stack; the test proved nothing: {stalled}");
    stack.fire_cron(SWEEP_CRON, time);

    let endings = assert_every_site_ends_once(&stack, time, &active, SETTLE);
    assert!(endings.values().all(|e| matches!(e, Ending::Result { .. })), "every site succeeds: {endings:?}");
    let p = progress(&stack, &sweep).unwrap();
    assert_eq!((p["firings"].as_u64(), p["enqueued"].as_u64()), (Some(2), Some(active.len() as u64)), "{p}");
    assert!(p["duplicates"].as_u64() > Some(0), "the re-drive's copies of ended jobs were absorbed as duplicates: {p}");

    let after = objects(&stack, "optimizations/");
    let (_, calls_after) = calls(&stack);
    for (key, object) in &written_before {
        assert_eq!(after.get(key), Some(object), "{key} was written again after it succeeded");
    }
    for c in &active {
        if written_before.contains_key(&result_key(c, time)) {
            assert_eq!(calls_after.get(c).copied().unwrap_or(0), 0, "{c} succeeded before the kill and was called again");
        }
    }
}
