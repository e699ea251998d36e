//! End to end on local workerd: the dead-letter workflow through the admin API. A site that
//! keeps failing is retried until the ledger gives up and lands in the D1 store with its error
//! and attempts; filters and cursor pages find it; a dry-run replay changes nothing; after the
//! fault is cleared a replay fills the original sweep's gap in R2 and marks the entry; purge
//! hides it. Every route refuses a missing or wrong token and malformed input.

use std::time::Duration;

use code24_shared::ids::{from_epoch_ms, CustomerId, RunId};
use code24_shared::optimization::optimization_key;
use code24_shared::schedule::Task;
use code24_tests::{wait_until, Stack};
use serde_json::{json, Value};
use ureq::http::Method;

const SWEEP_CRON: &str = "*/3 * * * *";
const SETTLE: Duration = Duration::from_secs(120);
const CUSTOMER: &str = "dlq-e2e-1";

fn list(stack: &Stack, query: &str) -> Value {
    stack.get_json(&format!("/api/dead-letters?{query}"))
}

fn ids(page: &Value) -> Vec<String> {
    page["dead_letters"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect()
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn a_dead_site_is_stored_found_replayed_into_its_original_sweep_and_purged() {
    let stack = Stack::from_env();
    stack.post_json("/api/sites", &json!({"customer_id": CUSTOMER, "url": "https://dlq.e2e.example", "plan": "starter"}));
    // Every call about this site answers 503: retried until MAX_ATTEMPTS, then dead.
    stack.put_json("/api/standin/faults", &json!({"rules": [{"customer_id": CUSTOMER, "fault": {"kind": "status", "code": 503}}]}));
    let time = stack.next_sweep_time();
    let sweep = RunId::new("local", Task::Optimize, from_epoch_ms(time).unwrap()).as_str().to_owned();
    let job_id = format!("{sweep}.{CUSTOMER}");
    stack.fire_cron(SWEEP_CRON, time);

    // Stored with its error and the attempts made.
    let page = wait_until("the dead letter is stored", SETTLE, || {
        let page = list(&stack, &format!("customer_id={CUSTOMER}&sweep_id={sweep}"));
        if ids(&page) == [job_id.clone()] {
            Ok(page)
        } else {
            Err(page)
        }
    });
    let entry = &page["dead_letters"][0];
    assert_eq!((entry["status"].as_str(), entry["error_class"].as_str()), (Some("dead"), Some("transient")));
    assert_eq!(entry["attempts"], json!(4), "MAX_ATTEMPTS of the local config: {entry}");
    assert!(entry["error_message"].as_str().unwrap().contains("gave up after 4 attempts"), "{entry}");
    assert!(page["store"]["rows"].as_u64().unwrap() >= 1 && page["store"]["near_capacity"] == json!(false));
    let progress = wait_until("the sweep completes", SETTLE, || {
        let p = stack.get_json(&format!("/api/sweeps/{sweep}"));
        if p["complete"] == json!(true) {
            Ok(p)
        } else {
            Err(p)
        }
    });
    assert_eq!(progress["dead"], json!(1), "{progress}");

    // Filters find it, and exclude it when they should.
    assert_eq!(ids(&list(&stack, &format!("sweep_id={sweep}&error_class=transient&status=dead"))), std::slice::from_ref(&job_id));
    assert!(ids(&list(&stack, &format!("sweep_id={sweep}&error_class=permanent"))).is_empty());
    assert!(ids(&list(&stack, &format!("sweep_id={sweep}&to_ms=1"))).is_empty());

    // The detail view has the original body and the job's ledger state.
    let detail = stack.get_json(&format!("/api/dead-letters/{job_id}"));
    assert_eq!(detail["job_state"], json!("dead"));
    let key = optimization_key(&CustomerId::parse(CUSTOMER).unwrap(), from_epoch_ms(time).unwrap());
    assert_eq!(detail["result_key"], json!(key));
    assert!(detail["entry"]["body"].as_str().unwrap().contains(&job_id));

    // A dry run reports it and changes nothing.
    let dry = stack.post_json("/api/dead-letters/replay", &json!({"filter": {"customer_id": CUSTOMER}, "dry_run": true}));
    assert_eq!((dry["done"].clone(), dry["dry_run"].clone()), (json!([job_id]), json!(true)));
    assert_eq!(stack.get_json(&format!("/api/dead-letters/{job_id}"))["entry"]["status"], json!("dead"));
    let object = stack.send(Method::GET, &format!("/api/results/{key}"), None, true);
    assert_eq!(object.status, 404, "a dry run wrote: {}", object.body);

    // Fault cleared: the replay fills the original sweep's gap.
    stack.delete("/api/standin/faults", None);
    let replay =
        stack.post_json("/api/dead-letters/replay", &json!({"ids": [job_id], "rate_per_s": 10, "reason": "e2e: the fault is cleared"}));
    assert_eq!(replay["done"], json!([job_id]), "{replay}");
    let result = wait_until("the replay wrote the original sweep's object", SETTLE, || {
        let r = stack.send(Method::GET, &format!("/api/results/{key}"), None, true);
        if r.status == 200 {
            Ok(r.json())
        } else {
            Err(r)
        }
    });
    assert_eq!(result["job_id"], json!(job_id));
    let healed = wait_until("the ledger records the replayed job", SETTLE, || {
        let d = stack.get_json(&format!("/api/dead-letters/{job_id}"));
        if d["job_state"] == json!("succeeded") {
            Ok(d)
        } else {
            Err(d)
        }
    });
    assert_eq!((healed["entry"]["status"].as_str(), healed["entry"]["replay_count"].as_u64()), (Some("replayed"), Some(1)));
    // A second replay is refused: the entry is no longer dead.
    let again = stack.post_json("/api/dead-letters/replay", &json!({"ids": [job_id], "reason": "e2e: again"}));
    assert_eq!((again["done"].clone(), again["skipped"][0]["id"].clone()), (json!([]), json!(job_id)));

    // Purge: a dry run first, then for real; purged entries leave the default list.
    let dry = stack.post_json("/api/dead-letters/purge", &json!({"ids": [job_id], "dry_run": true}));
    assert_eq!(dry["done"], json!([job_id]));
    assert_eq!(ids(&list(&stack, &format!("sweep_id={sweep}"))), std::slice::from_ref(&job_id));
    stack.post_json("/api/dead-letters/purge", &json!({"ids": [job_id], "reason": "e2e: done with it"}));
    assert!(ids(&list(&stack, &format!("sweep_id={sweep}"))).is_empty());
    assert_eq!(ids(&list(&stack, &format!("sweep_id={sweep}&status=purged"))), std::slice::from_ref(&job_id));

    // Leave the registry as other tests expect it.
    stack.post_json(&format!("/api/sites/{CUSTOMER}/deactivate"), &json!({}));
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn cursor_pages_walk_the_store_without_repeats() {
    let stack = Stack::from_env();
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = list(&stack, &format!("limit=1&status=purged{cursor}"));
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    let all = ids(&list(&stack, "limit=1000&status=purged"));
    assert_eq!(seen, all, "pages of one must walk the same order as one page");
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn every_admin_route_refuses_bad_tokens_and_bad_input() {
    let stack = Stack::from_env();
    let routes: [(Method, &str); 12] = [
        (Method::GET, "/api/sweeps"),
        (Method::GET, "/api/sweeps/local.optimize.20261129T011500Z"),
        (Method::GET, "/api/results"),
        (Method::GET, "/api/results/optimizations/a/b.json"),
        (Method::GET, "/api/sites"),
        (Method::POST, "/api/sites"),
        (Method::POST, "/api/sites/acme/deactivate"),
        (Method::GET, "/api/dead-letters"),
        (Method::GET, "/api/dead-letters/x"),
        (Method::POST, "/api/dead-letters/replay"),
        (Method::POST, "/api/dead-letters/purge"),
        (Method::GET, "/api/standin/stats"),
    ];
    let wrong = Stack::new(stack.base_url(), "not-the-token");
    for (method, path) in &routes {
        for (who, client) in [("no token", (&stack, false)), ("wrong token", (&wrong, true))] {
            let reply = client.0.send(method.clone(), path, Some(&json!({})), client.1);
            assert_eq!(reply.status, 401, "{who}: {method} {path}: {}", reply.body);
        }
    }
    let bad: [(Method, &str, Option<Value>, u16, &str); 9] = [
        (Method::GET, "/api/dead-letters?colour=red", None, 400, "unknown parameter"),
        (Method::GET, "/api/dead-letters?limit=0", None, 400, "limit must be"),
        (Method::GET, "/api/dead-letters?cursor=zzz", None, 400, "not a cursor"),
        (Method::GET, "/api/dead-letters?customer_id=..%2Fx", None, 400, "customer id contains"),
        (Method::GET, "/api/dead-letters/a%20b", None, 400, "not a dead-letter id"),
        (Method::POST, "/api/dead-letters/replay", Some(json!({})), 400, "either ids or a filter"),
        (Method::POST, "/api/dead-letters/purge", Some(json!({"ids": ["x"], "everything": true})), 400, "unknown field"),
        (Method::POST, "/api/sites/..%2Fx/deactivate", None, 400, "customer id"),
        (Method::DELETE, "/api/dead-letters", None, 405, "not allowed"),
    ];
    for (method, path, body, status, fragment) in bad {
        let reply = stack.send(method.clone(), path, body.as_ref(), true);
        assert_eq!(reply.status, status, "{method} {path}: {}", reply.body);
        assert!(reply.body.contains(fragment), "{method} {path}: {}", reply.body);
    }
    let oversized = json!({"ids": ["x"], "filter": "y".repeat(70_000)});
    let reply = stack.send(Method::POST, "/api/dead-letters/replay", Some(&oversized), true);
    assert_eq!(reply.status, 413, "{}", reply.body);
    let missing = stack.send(Method::GET, "/api/dead-letters/no-such-entry", None, true);
    assert_eq!(missing.status, 404, "{}", missing.body);
}
