//! End to end on local workerd: the stand-in's queue injection hook, which the fault and
//! bad-input tests use to deliver duplicates and malformed bodies. A raw body sent through it
//! reaches the optimize consumer as-is (a poison body ends in the dead-letter store, verbatim,
//! under the hash of its text); the hook refuses what it cannot send, with the reason.

use std::time::Duration;

use code24_shared::ids::stable_hash;
use code24_tests::{wait_until, Stack};
use serde_json::json;
use ureq::http::Method;

const SETTLE: Duration = Duration::from_secs(120);

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn a_raw_body_reaches_the_consumer_as_sent() {
    let stack = Stack::from_env();
    // Unique per run, so the store's row is this run's (the store keys poison by its hash).
    let poison = format!("not a job: injection-e2e {}", stack.next_sweep_time());
    let reply = stack.inject_raw("optimize", std::slice::from_ref(&poison));
    assert_eq!((reply.status, reply.json()), (200, json!({"queue": "code24-optimize", "sent": 1})), "{}", reply.body);

    let id = format!("body:{:016x}", stable_hash(poison.as_bytes()));
    let detail = wait_until("the poison body is in the dead-letter store", SETTLE, || {
        let r = stack.send(Method::GET, &format!("/api/dead-letters/{id}"), None, true);
        if r.status == 200 {
            Ok(r.json())
        } else {
            Err(r)
        }
    });
    let entry = &detail["entry"];
    assert_eq!(entry["body"], json!(poison), "{detail}");
    assert_eq!(entry["origin_queue"], json!("code24-optimize"), "{detail}");
    assert_eq!(entry["error_class"], json!("permanent"), "{detail}");
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn the_hook_refuses_what_it_cannot_send() {
    let stack = Stack::from_env();
    let body = |bodies: serde_json::Value| json!({ "bodies": bodies });
    let cases = [
        (Method::POST, "/api/standin/queue/optimize-dlq", Some(body(json!(["x"]))), true, 404),
        (Method::POST, "/api/standin/queue/optimize", Some(body(json!([]))), true, 400),
        (Method::POST, "/api/standin/queue/optimize", Some(json!({"bodies": "x"})), true, 400),
        (Method::GET, "/api/standin/queue/optimize", None, true, 405),
        (Method::POST, "/api/standin/queue/optimize", Some(body(json!(["x"]))), false, 401),
    ];
    for (method, path, payload, authorized, status) in cases {
        let reply = stack.send(method.clone(), path, payload.as_ref(), authorized);
        assert_eq!(reply.status, status, "{method} {path}: {}", reply.body);
        assert!(reply.json()["error"].is_string(), "{method} {path}: {}", reply.body);
    }
}
