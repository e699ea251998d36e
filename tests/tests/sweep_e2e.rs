//! End to end on local workerd: the 3-minute sweep from cron to R2 through every real local
//! part (D1 registry, Queues, the ledger Durable Object, R2, service bindings to the elite
//! stand-in). Run by `cargo xtask test`, which starts a fresh stack; the tests (of every e2e
//! file) share it and run one at a time. Each test fires a scheduled time later than any the
//! ledger knows ([`Stack::next_sweep_time`]), so no sweep is superseded by another test's, and
//! counts are taken against the sites active at that moment (other files add sites too).

use std::collections::BTreeMap;
use std::sync::Once;
use std::time::Duration;

use code24_shared::elite::{EliteRequest, EliteRole};
use code24_shared::ids::{from_epoch_ms, CustomerId, RunId};
use code24_shared::optimization::{optimization_key, OptimizationResult};
use code24_shared::schedule::Task;
use code24_shared::standin::simulated_answer;
use code24_tests::{wait_until, Stack};
use serde_json::{json, Value};

const SWEEP_CRON: &str = "*/3 * * * *";
/// Active sites seeded for every test, plus one inactive site that must never be swept.
const SITES: usize = 20;
const INACTIVE: &str = "e2e-inactive";
const SETTLE: Duration = Duration::from_secs(90);

fn customer(i: usize) -> String {
    format!("e2e-{i:03}")
}

fn site_url(i: usize) -> String {
    format!("https://site-{i}.e2e.example")
}

/// Registers the sites once per test process (the API upserts, so a re-run is harmless).
fn stack() -> Stack {
    static SEED: Once = Once::new();
    let stack = Stack::from_env();
    SEED.call_once(|| {
        for i in 0..SITES {
            stack.post_json("/api/sites", &json!({"customer_id": customer(i), "url": site_url(i), "plan": "growth"}));
        }
        stack.post_json(
            "/api/sites",
            &json!({"customer_id": INACTIVE, "url": "https://off.e2e.example", "plan": "starter", "active": false}),
        );
    });
    stack.delete("/api/standin/faults", None);
    stack
}

fn sweep_id(time_ms: i64) -> String {
    RunId::new("local", Task::Optimize, from_epoch_ms(time_ms).unwrap()).as_str().to_owned()
}

/// Waits until the ledger reports the sweep complete, and returns its progress.
fn wait_complete(stack: &Stack, sweep: &str) -> Value {
    wait_until(&format!("sweep {sweep} is complete"), SETTLE, || {
        let reply = stack.send(ureq::http::Method::GET, &format!("/api/sweeps/{sweep}"), None, true);
        match reply.status {
            200 if reply.json()["complete"] == json!(true) => Ok(reply.json()),
            _ => Err(reply),
        }
    })
}

fn result_object(stack: &Stack, customer_id: &str, time_ms: i64) -> Option<OptimizationResult> {
    let key = optimization_key(&CustomerId::parse(customer_id).unwrap(), from_epoch_ms(time_ms).unwrap());
    let reply = stack.send(ureq::http::Method::GET, &format!("/api/results/{key}"), None, true);
    match reply.status {
        200 => Some(serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("{key}: {e}: {}", reply.body))),
        404 => None,
        other => panic!("GET {key}: {other} {}", reply.body),
    }
}

/// Every object under `optimizations/` with its etag, page by page.
fn etags(stack: &Stack) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut cursor = String::new();
    loop {
        let listing = stack.get_json(&format!("/api/results?prefix=optimizations/&limit=1000{cursor}"));
        for o in listing["objects"].as_array().unwrap() {
            out.insert(o["key"].as_str().unwrap().to_owned(), o["etag"].as_str().unwrap().to_owned());
        }
        match (listing["truncated"].as_bool(), listing["cursor"].as_str()) {
            (Some(true), Some(next)) => cursor = format!("&cursor={}", code24_tests::percent_encode(next)),
            _ => return out,
        }
    }
}

fn total_calls(stack: &Stack) -> (String, u64) {
    let stats = stack.get_json("/api/standin/stats");
    (stats["instance"].as_str().unwrap().to_owned(), stats["total_calls"].as_u64().unwrap())
}

fn counts(progress: &Value) -> (u64, u64, u64, u64) {
    let n = |k: &str| progress[k].as_u64().unwrap_or_else(|| panic!("{k} in {progress}"));
    (n("expected"), n("succeeded"), n("dead"), n("superseded"))
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn a_sweep_writes_one_result_per_active_site_at_its_scheduled_key() {
    let stack = stack();
    let (time, active) = (stack.next_sweep_time(), stack.active_customers().len() as u64);
    stack.fire_cron(SWEEP_CRON, time);
    let progress = wait_complete(&stack, &sweep_id(time));
    assert_eq!(counts(&progress), (active, active, 0, 0), "{progress}");
    assert_eq!(progress["enqueued"], json!(active));
    for i in 0..SITES {
        let result = result_object(&stack, &customer(i), time).unwrap_or_else(|| panic!("no result for {}", customer(i)));
        assert_eq!(result.job_id, format!("{}.{}", sweep_id(time), customer(i)));
        assert_eq!((result.customer_id.as_str(), result.site_url.as_str()), (customer(i).as_str(), site_url(i).as_str()));
        assert_eq!(result.attempt, 1);
        // The content is the stand-in's deterministic answer for this site, role by role.
        for (role, answer) in
            [(EliteRole::Brand, &result.brand), (EliteRole::Designer, &result.designer), (EliteRole::Developer, &result.developer)]
        {
            let request = EliteRequest {
                v: 1,
                role,
                job_id: result.job_id.clone(),
                customer_id: customer(i),
                site_url: site_url(i),
                platform_context: None,
                scheduled_at: result.scheduled_at.clone(),
            };
            assert_eq!(answer, &simulated_answer(&request), "{} {role:?}", customer(i));
        }
    }
    assert_eq!(result_object(&stack, INACTIVE, time), None, "an inactive site was swept");
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn a_second_firing_for_the_same_time_calls_and_writes_nothing() {
    let stack = stack();
    let time = stack.next_sweep_time();
    stack.fire_cron(SWEEP_CRON, time);
    let first = wait_complete(&stack, &sweep_id(time));
    let (instance, calls_before) = total_calls(&stack);
    let objects_before = etags(&stack);

    stack.fire_cron(SWEEP_CRON, time);
    let again = wait_until("the ledger counted the second firing", SETTLE, || {
        let p = stack.get_json(&format!("/api/sweeps/{}", sweep_id(time)));
        if p["firings"] == json!(2) {
            Ok(p)
        } else {
            Err(p)
        }
    });
    assert_eq!(counts(&again), counts(&first), "a duplicate firing changed the sweep's counts");
    assert_eq!(again["enqueued"], first["enqueued"]);
    let (instance_after, calls_after) = total_calls(&stack);
    assert_eq!(instance_after, instance, "the stand-in restarted; its counters prove nothing");
    assert_eq!(calls_after, calls_before, "the elite workers were called again");
    assert_eq!(etags(&stack), objects_before, "R2 objects were written again");
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn a_transient_failure_succeeds_on_retry() {
    let stack = stack();
    let flaky = customer(3);
    // Its first Brand call answers 503; the retry succeeds.
    stack.put_json(
        "/api/standin/faults",
        &json!({"rules": [{"customer_id": flaky, "role": "brand", "fault": {"kind": "status", "code": 503}, "times": 1}]}),
    );
    let (time, active) = (stack.next_sweep_time(), stack.active_customers().len() as u64);
    stack.fire_cron(SWEEP_CRON, time);
    let progress = wait_complete(&stack, &sweep_id(time));
    assert_eq!(counts(&progress), (active, active, 0, 0), "{progress}");
    let result = result_object(&stack, &flaky, time).expect("the retried site has its result");
    assert_eq!(result.attempt, 2, "the result was written by the retry");
    assert_eq!(result_object(&stack, &customer(4), time).map(|r| r.attempt), Some(1));
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn a_permanent_failure_reaches_the_dead_letter_store_while_the_rest_finish() {
    let stack = stack();
    let broken = customer(7);
    stack.put_json(
        "/api/standin/faults",
        &json!({"rules": [{"customer_id": broken, "role": "designer", "fault": {"kind": "status", "code": 400}}]}),
    );
    let (time, active) = (stack.next_sweep_time(), stack.active_customers().len() as u64);
    let sweep = sweep_id(time);
    stack.fire_cron(SWEEP_CRON, time);
    let progress = wait_complete(&stack, &sweep);
    assert_eq!(counts(&progress), (active, active - 1, 1, 0), "{progress}");
    assert_eq!(result_object(&stack, &broken, time), None, "a dead job wrote a result");
    for i in (0..SITES).filter(|i| *i != 7) {
        assert!(result_object(&stack, &customer(i), time).is_some(), "{} has no result", customer(i));
    }
    let letters = wait_until("the dead letter is stored", SETTLE, || {
        let page = stack.get_json(&format!("/api/dead-letters?sweep_id={sweep}"));
        if page["dead_letters"].as_array().is_some_and(|l| !l.is_empty()) {
            Ok(page)
        } else {
            Err(page)
        }
    });
    let letter = &letters["dead_letters"][0];
    assert_eq!(letter["customer_id"], json!(broken));
    assert_eq!(letter["error_class"], json!("permanent"));
    assert_eq!(letter["attempts"], json!(1), "a permanent failure is not retried");
    assert!(letter["error_message"].as_str().unwrap().contains("elite designer answered HTTP 400"), "{letter}");
    let detail = stack.get_json(&format!("/api/dead-letters/{}", letter["id"].as_str().unwrap()));
    let body: Value = serde_json::from_str(detail["entry"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["job_id"], json!(format!("{sweep}.{broken}")), "the original message is kept");
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn an_unknown_cron_enqueues_nothing() {
    let stack = stack();
    let sweep_ids =
        || -> Vec<Value> { stack.get_json("/api/sweeps?limit=1000").as_array().unwrap().iter().map(|s| s["sweep_id"].clone()).collect() };
    let before = sweep_ids();
    let (_, calls_before) = total_calls(&stack);
    stack.fire_cron("*/7 * * * *", stack.next_sweep_time());
    // The scheduled handler has returned when fire_cron does: a sweep it opened would
    // already be in the ledger.
    assert_eq!(sweep_ids(), before, "an unknown cron opened a sweep");
    assert_eq!(total_calls(&stack).1, calls_before);
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn the_admin_api_refuses_bad_tokens_and_bad_sites() {
    let stack = stack();
    let unauthorized = stack.send(ureq::http::Method::GET, "/api/sweeps", None, false);
    assert_eq!(unauthorized.status, 401, "{}", unauthorized.body);
    let bad = stack.send(
        ureq::http::Method::POST,
        "/api/sites",
        Some(&json!({"customer_id": "../../etc", "url": "https://x.example", "plan": "growth"})),
        true,
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("customer id contains"), "{}", bad.body);
}
