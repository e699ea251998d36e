//! End to end on local workerd: an operator identified through Cloudflare Access (the elite
//! stand-in's SIMULATED Access team: a WebCrypto key set and RS256 tokens it mints) replays and
//! purges a dead letter; the audit log shows both with the operator's email, the counts and the
//! reasons; tokens with a wrong audience, issuer, expiry or signature are refused by the real
//! WebCrypto check; and the API offers no way to change or delete an entry.

use std::time::Duration;

use code24_shared::access::HEADER;
use code24_shared::ids::{from_epoch_ms, RunId};
use code24_shared::schedule::Task;
use code24_tests::{csrf_of, session_of, wait_until, Reply, Stack};
use serde_json::{json, Value};
use ureq::http::Method;

const SWEEP_CRON: &str = "*/3 * * * *";
const SETTLE: Duration = Duration::from_secs(120);
const CUSTOMER: &str = "audit-e2e-1";

/// A token minted by the stand-in with `claims` (defaults: a good token).
fn mint(stack: &Stack, claims: Value) -> String {
    stack.post_json("/api/standin/access/token", &claims)["token"].as_str().expect("a minted token").to_owned()
}

/// A request carrying only the Access token (no bearer token).
fn as_operator(stack: &Stack, token: &str, method: Method, path: &str, body: Option<&Value>) -> Reply {
    stack.send_with(method, path, body, &[(HEADER, token)])
}

fn audit(stack: &Stack, query: &str) -> Value {
    stack.get_json(&format!("/api/audit?{query}"))
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn audit_an_operator_through_access_replays_and_purges_and_the_log_shows_who_what_and_why() {
    let stack = Stack::from_env();
    let email = format!("ops-{}@example.com", stack.next_sweep_time());
    let token = mint(&stack, json!({"email": email}));

    // The Access token alone identifies the operator; bad tokens are refused like a bad bearer.
    let me = as_operator(&stack, &token, Method::GET, "/api/whoami", None);
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.json(), json!({"kind": "operator", "name": email}));
    let mut tampered = token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    for (what, bad) in [
        ("expired", mint(&stack, json!({"email": email, "exp_in_s": -600}))),
        ("not yet valid", mint(&stack, json!({"email": email, "nbf_in_s": 600}))),
        ("wrong audience", mint(&stack, json!({"email": email, "aud": "another-app"}))),
        ("wrong issuer", mint(&stack, json!({"email": email, "iss": "https://evil.cloudflareaccess.com"}))),
        ("bad signature", tampered),
        ("not a token", "x.y.z".to_owned()),
    ] {
        let reply = as_operator(&stack, &bad, Method::GET, "/api/whoami", None);
        assert_eq!(reply.status, 401, "{what}: {}", reply.body);
    }

    // A site whose Designer answers 400 (permanent): its job dies at once.
    stack.post_json("/api/sites", &json!({"customer_id": CUSTOMER, "url": "https://audit.e2e.example", "plan": "starter"}));
    stack.put_json(
        "/api/standin/faults",
        &json!({"rules": [{"customer_id": CUSTOMER, "role": "designer", "fault": {"kind": "status", "code": 400}}]}),
    );
    let time = stack.next_sweep_time();
    let sweep = RunId::new("local", Task::Optimize, from_epoch_ms(time).unwrap()).as_str().to_owned();
    let job_id = format!("{sweep}.{CUSTOMER}");
    stack.fire_cron(SWEEP_CRON, time);
    wait_until("the dead letter is stored", SETTLE, || {
        let r = stack.send(Method::GET, &format!("/api/dead-letters/{job_id}"), None, true);
        if r.status == 200 {
            Ok(())
        } else {
            Err(r)
        }
    });
    stack.delete("/api/standin/faults", None);

    // A replay without a reason is refused (and recorded as refused); a dry run is not recorded.
    let ids = json!({"ids": [job_id]});
    let refused = as_operator(&stack, &token, Method::POST, "/api/dead-letters/replay", Some(&ids));
    assert!(refused.status == 400 && refused.body.contains("a reason is required"), "{} {}", refused.status, refused.body);
    let dry = as_operator(&stack, &token, Method::POST, "/api/dead-letters/replay", Some(&json!({"ids": [job_id], "dry_run": true})));
    assert_eq!(dry.json()["done"], json!([job_id]));
    let replay_reason = "designer fixed, ticket OPS-17";
    let replay =
        as_operator(&stack, &token, Method::POST, "/api/dead-letters/replay", Some(&json!({"ids": [job_id], "reason": replay_reason})));
    assert_eq!(replay.json()["done"], json!([job_id]), "{}", replay.body);
    wait_until("the replayed job succeeds", SETTLE, || {
        let d = stack.get_json(&format!("/api/dead-letters/{job_id}"));
        if d["job_state"] == json!("succeeded") {
            Ok(())
        } else {
            Err(d)
        }
    });
    let purge_reason = "replayed fine; clearing the store";
    let purge =
        as_operator(&stack, &token, Method::POST, "/api/dead-letters/purge", Some(&json!({"ids": [job_id], "reason": purge_reason})));
    assert_eq!(purge.json()["done"], json!([job_id]), "{}", purge.body);

    // The log, newest first: the purge, the replay, the refused replay; no dry run.
    let page = audit(&stack, &format!("actor={}", code24_tests::percent_encode(&email)));
    let entries = page["entries"].as_array().expect("entries").clone();
    let seen: Vec<(String, u64, String, Value)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["count"].as_u64().unwrap(),
                e["outcome"].as_str().unwrap().to_owned(),
                e["reason"].clone(),
            )
        })
        .collect();
    assert_eq!(seen.len(), 3, "{page}");
    assert_eq!(seen[0], ("dead_letters.purge".into(), 1, "ok".into(), json!(purge_reason)));
    assert_eq!(seen[1], ("dead_letters.replay".into(), 1, "ok".into(), json!(replay_reason)));
    assert_eq!((seen[2].0.as_str(), seen[2].1, seen[2].3.clone()), ("dead_letters.replay", 0, Value::Null));
    assert!(seen[2].2.starts_with("400 a reason is required"), "{:?}", seen[2]);
    for e in &entries {
        assert_eq!((e["actor"].as_str(), e["actor_kind"].as_str()), (Some(email.as_str()), Some("operator")));
        assert!(e["request"].as_str().unwrap().contains(&job_id), "the request, normalised: {e}");
        assert!(!e["request"].as_str().unwrap().contains("reason"), "the reason has its own field: {e}");
    }
    // Bearer-token changes are recorded as the service identity.
    let site_adds = audit(&stack, "action=site.add&actor=admin-token");
    assert!(site_adds["entries"].as_array().unwrap().iter().any(|e| e["request"].as_str().unwrap().contains(CUSTOMER)), "{site_adds}");
    // Cursor pages: one entry a page, continued by the cursor.
    let first = audit(&stack, &format!("actor={}&limit=1", code24_tests::percent_encode(&email)));
    let cursor = first["next_cursor"].as_str().expect("a next page").to_owned();
    let second = audit(&stack, &format!("actor={}&limit=1&cursor={cursor}", code24_tests::percent_encode(&email)));
    assert_eq!(second["entries"][0]["action"], json!("dead_letters.replay"));
    assert_eq!(second["entries"][0]["reason"], json!(replay_reason));

    // No way to change or delete an entry: every other method and path is refused, and the
    // log is unchanged afterwards.
    let before = audit(&stack, "limit=1000");
    let id = entries[0]["id"].as_i64().unwrap();
    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        for path in ["/api/audit".to_owned(), format!("/api/audit/{id}")] {
            for reply in [
                stack.send(method.clone(), &path, Some(&json!({"reason": "edited"})), true),
                as_operator(&stack, &token, method.clone(), &path, Some(&json!({}))),
            ] {
                assert!(reply.status == 405 || reply.status == 404, "{method} {path}: {} {}", reply.status, reply.body);
            }
        }
    }
    assert_eq!(audit(&stack, "limit=1000"), before, "the audit log changed");

    // The dashboard signs the operator in by the Access token alone (no token form), and a
    // change made there is recorded as theirs, not as the token the dashboard calls the API with.
    let access = [(HEADER, token.as_str())];
    let (status, cookie, page) = stack.dashboard(Method::GET, "/sites", None, &access, None);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(&format!("id=\"who\">{email}<")), "the header names the operator: {page}");
    let cookie = session_of(&cookie.expect("a session for the Access operator"));
    let deactivate = format!("/sites/{CUSTOMER}/deactivate");
    let (status, _, body) = stack.dashboard(Method::POST, &deactivate, Some(&cookie), &access, Some(&[("csrf", &csrf_of(&page))]));
    assert_eq!(status, 303, "{body}");
    let by_operator = audit(&stack, &format!("actor={}&action=site.deactivate", code24_tests::percent_encode(&email)));
    assert_eq!(by_operator["entries"][0]["request"].as_str().map(|r| r.contains(CUSTOMER)), Some(true), "{by_operator}");
    assert!(!stack.active_customers().contains(&CUSTOMER.to_owned()), "deactivated, as other tests expect");
}
