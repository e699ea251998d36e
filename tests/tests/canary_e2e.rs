//! End to end on local workerd: the canary's admin route and its promise not to disturb
//! customers. Canary sites can only be registered inactive; a sweep never works them; a canary
//! run (`POST /api/canary`) works exactly them, through the real queue, optimizer, stand-in and
//! R2, as a run of its own. (The whole `cargo xtask canary` then runs after every e2e test, in
//! the tier itself, against the same stack.)

use std::time::Duration;

use code24_shared::canary::{self, Started};
use code24_shared::ids::{from_epoch_ms, CustomerId, RunId};
use code24_shared::optimization::{optimization_key, OptimizationResult};
use code24_shared::schedule::Task;
use code24_tests::{wait_until, Stack};
use serde_json::{json, Value};

const SETTLE: Duration = Duration::from_secs(90);

fn wait_complete(stack: &Stack, run: &str) -> Value {
    wait_until(&format!("run {run} is complete"), SETTLE, || {
        let reply = stack.send(ureq::http::Method::GET, &format!("/api/sweeps/{run}"), None, true);
        match reply.status {
            200 if reply.json()["complete"] == json!(true) => Ok(reply.json()),
            _ => Err(reply.body),
        }
    })
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn a_canary_run_works_only_the_inactive_canary_sites() {
    let stack = Stack::from_env();
    let sites = canary::site_ids();

    // An active canary site would be swept and reported like a customer's: refused.
    let mut active = canary::registration(&sites[0]);
    active["active"] = json!(true);
    let refused = stack.send(ureq::http::Method::POST, "/api/sites", Some(&active), true);
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("canary site"), "{}", refused.body);

    for site in &sites {
        stack.post_json("/api/sites", &canary::registration(site));
    }
    assert!(stack.active_customers().iter().all(|c| !canary::is_canary(c)), "no canary site is active");

    // A sweep does not see them.
    let time = stack.next_sweep_time();
    stack.fire_cron("*/3 * * * *", time);
    let sweep = RunId::new("local", Task::Optimize, from_epoch_ms(time).unwrap());
    wait_complete(&stack, sweep.as_str());
    for site in &sites {
        let key = optimization_key(site, from_epoch_ms(time).unwrap());
        let reply = stack.send(ureq::http::Method::GET, &format!("/api/results/{key}"), None, true);
        assert_eq!(reply.status, 404, "the sweep wrote {key}");
    }

    // The canary run works exactly them, as a run of its own.
    let reply = stack.send(ureq::http::Method::POST, "/api/canary", None, true);
    assert_eq!(reply.status, 202, "{}", reply.body);
    let started: Started = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(started.sent, canary::SITES as u64);
    assert!(started.run_id.starts_with("local.canary."), "{}", started.run_id);
    let progress = wait_complete(&stack, &started.run_id);
    assert_eq!((progress["expected"].as_u64(), progress["succeeded"].as_u64()), (Some(3), Some(3)), "{progress}");
    assert_eq!(progress["task"], json!(canary::TASK));
    let customers: Vec<CustomerId> = started.results.iter().map(|(c, _)| CustomerId::parse(c).unwrap()).collect();
    assert_eq!(customers, sites);
    for (customer, key) in &started.results {
        let result: OptimizationResult = serde_json::from_value(stack.get_json(&format!("/api/results/{key}"))).unwrap();
        assert_eq!(result.job_id, format!("{}.{customer}", started.run_id));
    }
}
