//! End to end on local workerd: bad input gets a clear refusal and changes nothing else.
//!
//! - Every route of the route table (`code24_shared::api::ROUTES`) refuses a missing, wrong or
//!   malformed token with the same 401 body; unknown `/api/` paths are refused before routing.
//! - Unknown routes and methods, malformed, truncated, non-UTF-8, wrong-typed and oversized
//!   (by declared length; a chunked body declares none and is refused) admin bodies, path-traversal customer ids, bad site URLs and bad
//!   query parameters each get a 4xx with an `{"error"}` naming what was wrong.
//! - Malformed, truncated, wrong-version and near-limit queue bodies, sent onto the real queues
//!   through the stand-in's injection hook, each end in the dead-letter store with their reason;
//!   a body over the queue's limit is refused by the queue itself.
//!
//! Around it, the registry, the dead-letter store, the result objects and the ledger's sweeps
//! are read before and after: nothing changed but the injected bodies' own dead letters.

use std::io::Cursor;
use std::time::{Duration, Instant};

use code24_shared::api::ROUTES;
use code24_shared::auth::REFUSED_MESSAGE;
use code24_shared::ids::stable_hash;
use code24_tests::{wait_until, Reply, Stack, TOKEN_VAR};
use serde_json::{json, Value};
use ureq::http;

const SETTLE: Duration = Duration::from_secs(180);

/// How a raw request authenticates.
#[derive(Clone, Copy)]
enum Auth<'a> {
    Token,
    None,
    Header(&'a str),
}

/// Sends any bytes with any method and `Authorization`; `chunked` sends the body without a
/// length. Never panics on a status.
fn raw(stack: &Stack, method: &str, path: &str, body: &[u8], auth: Auth<'_>, chunked: bool) -> Reply {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).proxy(None).build().into();
    let mut request = http::Request::builder().method(method).uri(stack.url(path)).header("content-type", "application/json");
    match auth {
        Auth::Token => request = request.header("authorization", format!("Bearer {}", std::env::var(TOKEN_VAR).expect("the token"))),
        Auth::Header(value) => request = request.header("authorization", value),
        Auth::None => {}
    }
    let response = if chunked {
        agent.run(request.body(ureq::SendBody::from_owned_reader(Cursor::new(body.to_vec()))).expect("a request"))
    } else {
        agent.run(request.body(body.to_vec()).expect("a request"))
    };
    let response = response.unwrap_or_else(|e| panic!("{method} {path}: the stack did not answer: {e}"));
    let status = response.status().as_u16();
    Reply { status, body: response.into_body().read_to_string().unwrap_or_default() }
}

/// A refusal: the expected status and a JSON `error` containing `fragment`.
#[track_caller]
fn refused(reply: &Reply, status: u16, fragment: &str, what: &str) {
    assert_eq!(reply.status, status, "{what}: {}", reply.body);
    let error = reply.json()["error"].as_str().map(str::to_owned).unwrap_or_else(|| panic!("{what}: no error: {}", reply.body));
    assert!(error.contains(fragment), "{what}: {error:?} lacks {fragment:?}");
    assert!(error.len() <= 1_024, "{what}: an error of {} bytes", error.len());
}

/// Every page of a listing route, by its cursor.
fn all_pages(stack: &Stack, path: &str, items: &str, cursor_field: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let page = match &cursor {
            Some(c) => stack.get_json(&format!("{path}{sep}limit=1000&cursor={}", code24_tests::percent_encode(c))),
            None => stack.get_json(&format!("{path}{sep}limit=1000")),
        };
        out.extend(page[items].as_array().cloned().unwrap_or_default());
        match page[cursor_field].as_str() {
            Some(c) if !c.is_empty() && page.get("truncated").is_none_or(|t| t == true) => cursor = Some(c.to_owned()),
            _ => return out,
        }
    }
}

/// What bad input must never change: registry, dead-letter store, result objects, sweeps.
#[derive(Debug, PartialEq)]
struct Snapshot {
    sites: Vec<Value>,
    dead_letters: Vec<Value>,
    results: Vec<Value>,
    sweeps: Value,
}

fn snapshot(stack: &Stack) -> Snapshot {
    let mut dead_letters = Vec::new();
    for status in ["dead", "replayed", "purged"] {
        dead_letters.extend(all_pages(stack, &format!("/api/dead-letters?status={status}"), "dead_letters", "next_cursor"));
    }
    let mut sites = Vec::new();
    let mut after = String::new();
    loop {
        let page = stack.get_json(&format!("/api/sites?limit=1000&after={}", code24_tests::percent_encode(&after)));
        let batch = page["sites"].as_array().cloned().unwrap_or_default();
        let Some(last) = batch.last() else { break };
        after = last["customer_id"].as_str().unwrap_or_default().to_owned();
        sites.extend(batch);
    }
    Snapshot {
        sites,
        dead_letters,
        results: all_pages(stack, "/api/results", "objects", "cursor"),
        sweeps: stack.get_json("/api/sweeps?limit=1000"),
    }
}

/// A snapshot once the stack is quiet: the same state observed over five seconds (earlier tests
/// may still have retries in flight).
fn quiet_snapshot(stack: &Stack) -> Snapshot {
    let mut last = (snapshot(stack), Instant::now());
    wait_until("the stack is quiet (no change for 5 s)", SETTLE, || {
        let now = snapshot(stack);
        if now != last.0 {
            last = (now, Instant::now());
            Err("changing")
        } else if last.1.elapsed() >= Duration::from_secs(5) {
            Ok(())
        } else {
            Err("unchanged so far")
        }
    });
    last.0
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn bad_admin_requests_are_refused_and_change_nothing() {
    let stack = Stack::from_env();
    let before = quiet_snapshot(&stack);
    let mut tried = 0;

    // Tokens: every route, and unknown /api/ paths, refuse alike before routing.
    let mut paths: Vec<(&str, String)> =
        ["/api/nope", "/api/", "/api/../api/sites", "/api/sites/acme/../../x"].iter().map(|p| ("GET", (*p).to_owned())).collect();
    paths.extend(ROUTES.iter().map(|r| (r.method, r.example_path())));
    let auths = [
        Auth::None,
        Auth::Header("Bearer wrong-token"),
        Auth::Header("Basic ZGV2LXRva2Vu"),
        Auth::Header("Bearer "),
        Auth::Header("dev-token"),
    ];
    let mut first_refusal: Option<String> = None;
    for (method, path) in &paths {
        for auth in auths {
            let reply = raw(&stack, method, path, b"{}", auth, false);
            refused(&reply, 401, REFUSED_MESSAGE, &format!("{method} {path}"));
            let body = first_refusal.get_or_insert_with(|| reply.body.clone());
            assert_eq!(&reply.body, body, "{method} {path}: every refusal is the same");
            tried += 1;
        }
    }
    let long = format!("Bearer {}", "x".repeat(5_000));
    refused(&raw(&stack, "GET", "/api/sweeps", b"", Auth::Header(&long), false), 401, REFUSED_MESSAGE, "a 5 KB token");
    tried += 1;

    // Unknown routes and methods, with the token.
    for (method, path, status) in [
        ("GET", "/api/nope", 404),
        ("GET", "/api/sweeps/a/b", 405),
        ("PATCH", "/api/sweeps", 405),
        ("DELETE", "/api/sites", 405),
        ("PUT", "/api/dead-letters/replay", 405),
        ("GET", "/api/sites/acme/deactivate", 405),
        ("POST", "/api/sweeps/local.optimize.20261129T011500Z", 405),
        ("GET", "/api/standin/nope", 404),
    ] {
        let reply = raw(&stack, method, path, b"", Auth::Token, false);
        assert_eq!(reply.status, status, "{method} {path}: {}", reply.body);
        assert!(reply.json()["error"].is_string(), "{method} {path}: {}", reply.body);
        tried += 1;
    }

    // Bodies: malformed, truncated, wrong-typed, traversal ids, bad URLs, not UTF-8, oversized.
    let big = format!("{{\"customer_id\":\"acme\",\"url\":\"https://a.example/{}\",\"plan\":\"growth\"}}", "x".repeat(70_000));
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("/api/sites", b"".to_vec(), 400, "invalid site registration"),
        ("/api/sites", b"customer_id=acme".to_vec(), 400, "invalid site registration"),
        ("/api/sites", br#"{"customer_id":"acme","url":"https://a.exa"#.to_vec(), 400, "invalid site registration"),
        ("/api/sites", br#"[{"customer_id":"acme"}]"#.to_vec(), 400, "invalid site registration"),
        ("/api/sites", deep.clone().into_bytes(), 400, "invalid site registration"),
        ("/api/sites", b"{\"customer_id\":\"ac\xffme\"}".to_vec(), 400, "not UTF-8"),
        (
            "/api/sites",
            br#"{"customer_id":"../../etc/passwd","url":"https://a.example","plan":"growth"}"#.to_vec(),
            400,
            "customer id contains '.'",
        ),
        ("/api/sites", br#"{"customer_id":"a/b","url":"https://a.example","plan":"growth"}"#.to_vec(), 400, "customer id contains '/'"),
        ("/api/sites", br#"{"customer_id":"acme\u0000","url":"https://a.example","plan":"growth"}"#.to_vec(), 400, "customer id contains"),
        ("/api/sites", br#"{"customer_id":42,"url":"https://a.example","plan":"growth"}"#.to_vec(), 400, "invalid type"),
        ("/api/sites", br#"{"customer_id":"bad-url","url":"ftp://a.example","plan":"growth"}"#.to_vec(), 400, "must start with http"),
        ("/api/sites", br#"{"customer_id":"bad-url","url":"javascript:alert(1)","plan":"growth"}"#.to_vec(), 400, "must start with http"),
        (
            "/api/sites",
            br#"{"customer_id":"bad-url","url":"https://admin:hunter2@a.example","plan":"growth"}"#.to_vec(),
            400,
            "credentials",
        ),
        (
            "/api/sites",
            format!(r#"{{"customer_id":"bad-url","url":"https://a.example/{}","plan":"growth"}}"#, "x".repeat(3_000)).into_bytes(),
            400,
            "at most 2048",
        ),
        ("/api/sites", br#"{"customer_id":"bad-url","url":"https://a.example:99999","plan":"growth"}"#.to_vec(), 400, "a port is a number"),
        ("/api/sites", br#"{"customer_id":"bad-url","url":"https://a.example","plan":"gold"}"#.to_vec(), 400, "unknown variant"),
        (
            "/api/sites",
            br#"{"customer_id":"bad-url","url":"https://a.example","plan":"growth","admin":true}"#.to_vec(),
            400,
            "unknown field",
        ),
        ("/api/sites", big.clone().into_bytes(), 413, "at most 65536 bytes"),
        ("/api/dead-letters/replay", b"{}".to_vec(), 400, "either ids or a filter"),
        ("/api/dead-letters/replay", br#"{"ids":"x"}"#.to_vec(), 400, "invalid type"),
        ("/api/dead-letters/replay", br#"{"ids":["x' OR 1=1 --"]}"#.to_vec(), 400, "not a dead-letter id"),
        ("/api/dead-letters/replay", br#"{"filter":{"customer_id":"../x"}}"#.to_vec(), 400, "customer id contains"),
        ("/api/dead-letters/replay", br#"{"ids":["a"],"limit":100000}"#.to_vec(), 400, "limit must be"),
        ("/api/dead-letters/purge", br#"{"filter":{"status":"gone"}}"#.to_vec(), 400, "unknown variant"),
        ("/api/dead-letters/purge", br#"{"ids":["a"],"dry_run":"no"}"#.to_vec(), 400, "invalid type"),
        ("/api/dead-letters/purge", format!(r#"{{"ids":["{}"]}}"#, "a".repeat(70_000)).into_bytes(), 413, "at most 65536 bytes"),
        ("/api/runs", br#"{"task":5,"month":[]}"#.to_vec(), 400, "invalid backfill request"),
        ("/api/runs", br#"{"task":"optimize","month":"2026-10"}"#.to_vec(), 400, "task must be"),
        ("/api/runs", br#"{"task":"end-of-month","month":"2026-13"}"#.to_vec(), 400, "month must be"),
        ("/api/runs", br#"{"task":"end-of-month","month":"../2026"}"#.to_vec(), 400, "month must be"),
        ("/api/billing-events", br#"{"customer_id":"../x","at_ms":1,"mrr_cents":1}"#.to_vec(), 400, "customer id contains"),
        ("/api/billing-events", br#"{"customer_id":"acme","at_ms":1,"mrr_cents":"10"}"#.to_vec(), 400, "invalid type"),
        ("/api/billing-events", br#"{"customer_id":"acme","at_ms":-1,"mrr_cents":10}"#.to_vec(), 400, "not an instant"),
    ];
    for (path, body, status, fragment) in &cases {
        refused(&raw(&stack, "POST", path, body, Auth::Token, false), *status, fragment, &format!("POST {path} ({} bytes)", body.len()));
        tried += 1;
    }
    // A chunked body declares no length: refused before it is read, whatever its size.
    refused(&raw(&stack, "POST", "/api/sites", big.as_bytes(), Auth::Token, true), 411, "Content-Length", "a chunked oversized body");
    refused(&raw(&stack, "POST", "/api/sites", b"{}", Auth::Token, true), 411, "Content-Length", "a chunked small body");
    tried += 2;

    // Path parameters and query strings.
    for (path, status, fragment) in [
        ("/api/sites/..%2F..%2Fx/deactivate", 400, "customer id contains"),
        ("/api/sites/a%00b/deactivate", 400, "customer id contains"),
        ("/api/sweeps/..%2F..", 400, "not a sweep id"),
        ("/api/dead-letters/a%20b", 400, "not a dead-letter id"),
        ("/api/results/optimizations//x.json", 400, "not an object key"),
        ("/api/rollups?customer_id=..%2Fx&month=2026-11", 400, "customer id contains"),
        ("/api/rollups?customer_id=acme&month=2026-13", 400, "not a month"),
        ("/api/dead-letters?customer_id=..%2Fx", 400, "customer id contains"),
        ("/api/dead-letters?from_ms=yesterday", 400, "epoch milliseconds"),
        ("/api/dead-letters?colour=red", 400, "unknown parameter"),
        ("/api/dead-letters?cursor=nope", 400, "not a cursor"),
        ("/api/sweeps?limit=0", 400, "limit must be"),
        ("/api/sites?limit=abc", 400, "limit must be"),
        ("/api/results?limit=100000", 400, "limit must be"),
    ] {
        let method = if path.ends_with("/deactivate") { "POST" } else { "GET" };
        refused(&raw(&stack, method, path, b"", Auth::Token, false), status, fragment, path);
        tried += 1;
    }
    // A traversal through the results route never leaves the bucket's keys: refused or absent.
    let reply = raw(&stack, "GET", "/api/results/optimizations/%2e%2e/%2e%2e/x", b"", Auth::Token, false);
    assert!(matches!(reply.status, 400 | 404), "{}", reply.body);
    tried += 1;

    let after = snapshot(&stack);
    assert_eq!(after, before, "bad admin requests changed the stack's state");
    eprintln!("bad_input_e2e: {tried} bad admin requests refused; registry, dead letters, results and sweeps unchanged");
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn bad_queue_bodies_are_dead_lettered_alone_and_change_nothing_else() {
    let stack = Stack::from_env();
    let before = quiet_snapshot(&stack);
    // Unique per run, so each store row is this run's (the store keys poison by its hash).
    let run = stack.next_sweep_time();
    let customer = format!("bi{run}");
    let good = format!(
        r#"{{"v":1,"job_id":"local.optimize.20261129T011500Z.{customer}","sweep_id":"local.optimize.20261129T011500Z","scheduled_ms":1795914900000,"customer_id":"{customer}","site_url":"https://acme.example"}}"#
    );
    let optimize = vec![
        format!("not json {run}"),
        good[..good.len() / 2].to_owned(),
        good.replace("\"v\":1", "\"v\":0"),
        good.replace("\"v\":1,", "\"v\":1,\"x\":1,"),
        good.replace("\"v\":1,", ""),
        good.replace(&format!("\"customer_id\":\"{customer}\""), "\"customer_id\":\"../../etc\""),
        good.replace("https://acme.example", "ftp://acme.example"),
        format!("{{\"v\":1,\"nonce\":{run},\"pad\":\"{}\"}}", "\u{1}".repeat(60_000)),
    ];
    let month_13 = format!(
        r#"{{"v":1,"job_id":"local.monthly-analytics.2026-10.acme","run_id":"local.monthly-analytics.2026-10","month":{{"year":2026,"month":13}},"scheduled_ms":{run},"work":{{"kind":"monthly_customer","customer_id":"acme"}}}}"#
    );
    let reports = vec![format!("{{\"v\":0,\"nonce\":{run}}}"), format!("[{run}]"), month_13];
    for (queue, bodies) in [("optimize", &optimize), ("reports", &reports)] {
        let reply = stack.inject_raw(queue, bodies);
        assert_eq!(reply.status, 200, "{queue}: {}", reply.body);
        assert_eq!(reply.json()["sent"], json!(bodies.len()), "{}", reply.body);
    }
    // Over the queue's own limit: the queue refuses it, and the hook says which body.
    let oversized = vec![format!("{run}{}", "x".repeat(200_000))];
    let reply = stack.inject_raw("optimize", &oversized);
    assert!(reply.status >= 400 && reply.json()["error"].as_str().is_some_and(|e| e.contains("refused body 0")), "{}", reply.body);

    // Each body's dead letter: stored under its hash (a body cut to fit the dead-letter queue is
    // found by the original's hash, which its error names).
    let expected: Vec<(String, &str)> =
        optimize.iter().map(|b| (b.clone(), "code24-optimize")).chain(reports.iter().map(|b| (b.clone(), "code24-reports"))).collect();
    let stored = wait_until("every injected body is in the dead-letter store", SETTLE, || {
        let entries = all_pages(&stack, "/api/dead-letters?status=dead", "dead_letters", "next_cursor");
        let found: Vec<Option<Value>> = expected
            .iter()
            .map(|(body, _)| {
                let hash = format!("{:016x}", stable_hash(body.as_bytes()));
                entries
                    .iter()
                    .find(|e| e["id"] == json!(format!("body:{hash}")) || e["error_message"].as_str().is_some_and(|m| m.contains(&hash)))
                    .cloned()
            })
            .collect();
        if found.iter().all(Option::is_some) {
            Ok(found.into_iter().flatten().collect::<Vec<_>>())
        } else {
            Err(found.iter().filter(|f| f.is_none()).count())
        }
    });
    for (entry, (body, queue)) in stored.iter().zip(&expected) {
        assert_eq!(entry["origin_queue"], json!(queue), "{entry}");
        assert_eq!(entry["error_class"], json!("permanent"), "{entry}");
        assert!(entry["error_message"].as_str().is_some_and(|m| !m.is_empty()), "{entry}");
        let detail = stack.get_json(&format!("/api/dead-letters/{}", entry["id"].as_str().expect("an id")));
        let kept = detail["entry"]["body"].as_str().expect("the body");
        assert!(
            body.starts_with(kept) && (kept == body || entry["error_message"].as_str().is_some_and(|m| m.contains("cut to fit"))),
            "{entry}"
        );
    }

    // Nothing else: the same registry, results and sweeps; the store gained exactly these.
    let after = quiet_snapshot(&stack);
    assert_eq!(
        (&after.sites, &after.results, &after.sweeps),
        (&before.sites, &before.results, &before.sweeps),
        "bad bodies changed more than the store"
    );
    let new: Vec<&Value> = after.dead_letters.iter().filter(|e| !before.dead_letters.contains(e)).collect();
    assert_eq!(new.len(), expected.len(), "one new store entry per bad body: {new:#?}");
    eprintln!("bad_input_e2e: {} bad queue bodies dead-lettered, 1 oversized refused by the queue; nothing else changed", expected.len());
}
