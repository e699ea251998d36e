//! End to end on local workerd: alerts. The dispatcher evaluates its alert conditions on every
//! cron tick and posts each incident's opening and resolution to the environment's webhook,
//! which locally is the stand-in's receiver (`/api/standin/alerts` reads what it kept).
//!
//! - A failing health check (the canary's elite calls answer 503 through the stand-in's fault
//!   rules), then healed: exactly one opening and one resolving message for `health:failing`,
//!   however many ticks see it (dedup), and the health page's API shows both sent.
//! - A refused send (the receiver answers 503 once): the opening waits with its error and
//!   arrives at a later tick, once.
//! - A breaker incident: the Brand role answers 503 to every call, sweeps run until its breaker
//!   opens; healed, until it closes: exactly one opening and one resolving message for
//!   `breaker:brand`. It needs the ledger's breakers (`GET /breakers` on the instance
//!   `breakers`); without them there is no breaker data and it fails saying so.

use std::time::{Duration, Instant};

use code24_shared::ids::{basic_timestamp, from_epoch_ms};
use code24_shared::reports::health::CANARY_CUSTOMER;
use code24_tests::faults::SWEEP_CRON;
use code24_tests::{wait_until, Stack};
use serde_json::{json, Value};
use ureq::http::Method;

const HEALTH_CRON: &str = "0 * * * *";
const HOUR_MS: i64 = 3_600_000;
const SLOT_MS: i64 = 180_000;
const SETTLE: Duration = Duration::from_secs(180);
/// Wall time between two sweep ticks of the breaker test.
const TICK: Duration = Duration::from_secs(5);

/// The bodies the local receiver kept whose incident key is `key`.
fn received(stack: &Stack, key: &str) -> Vec<Value> {
    let all = stack.get_json("/api/standin/alerts");
    all["received"].as_array().cloned().unwrap_or_default().into_iter().filter(|b| b["incident"]["key"] == json!(key)).collect()
}

/// The phases of the messages of `key`, in the order they arrived.
fn phases(stack: &Stack, key: &str) -> Vec<String> {
    received(stack, key).iter().map(|b| b["incident"]["phase"].as_str().unwrap_or_default().to_owned()).collect()
}

fn run_complete(stack: &Stack, run_id: &str) {
    wait_until(&format!("run {run_id} is complete"), SETTLE, || {
        let r = stack.send(Method::GET, &format!("/api/sweeps/{run_id}"), None, true);
        if r.status == 200 && r.json()["complete"] == json!(true) {
            Ok(())
        } else {
            Err(r)
        }
    });
}

/// Fires the hourly health check at `at` and waits until its report is written; its status.
fn health_check(stack: &Stack, at: i64) -> String {
    stack.fire_cron(HEALTH_CRON, at);
    let stamp = basic_timestamp(from_epoch_ms(at).expect("a time"));
    run_complete(stack, &format!("local.health-check.{stamp}"));
    let report = stack.get_json(&format!("/api/results/dev/health-checks/{stamp}.json"));
    report["status"].as_str().unwrap_or_default().to_owned()
}

fn wait_for_phases(stack: &Stack, key: &str, expected: &[&str]) {
    wait_until(&format!("the receiver holds {expected:?} for {key}"), SETTLE, || {
        let got = phases(stack, key);
        if got == expected {
            Ok(())
        } else {
            Err(got)
        }
    });
}

/// Ticks (`fire`), one every [`TICK`] of wall time (the local stand-in for the cron's period),
/// until `done` holds.
fn ticks_until<O: std::fmt::Debug>(description: &str, mut fire: impl FnMut(), mut done: impl FnMut() -> Result<(), O>) {
    let mut last: Option<Instant> = None;
    wait_until(description, Duration::from_secs(600), || {
        if last.is_none_or(|t| t.elapsed() >= TICK) {
            fire();
            last = Some(Instant::now());
        }
        done()
    });
}

/// No `key` incident is open: a test's condition would otherwise not be a new incident.
fn assert_none_open(stack: &Stack, key: &str) {
    let incidents = stack.get_json("/api/health")["incidents"].clone();
    let open = incidents.as_array().unwrap().iter().any(|i| i["key"] == json!(key) && i["resolved_ms"].is_null());
    assert!(!open, "a {key} incident is already open: this test's would not be a new one: {incidents}");
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn alert_a_failing_health_check_sends_one_opening_and_one_resolution() {
    let stack = Stack::from_env();
    let key = "health:failing";
    let open_before =
        stack.get_json("/api/health")["incidents"].as_array().unwrap().iter().any(|i| i["key"] == json!(key) && i["resolved_ms"].is_null());
    assert!(!open_before, "a {key} incident is already open: this test's would not be a new one");
    stack.delete("/api/standin/alerts", None);
    // An hour slot a day after every run the ledger knows, so this test's ticks are the newest
    // and none is a slot another test's health check uses (the health page's test checks the
    // current hour).
    let first = (stack.next_sweep_time() / HOUR_MS + 24) * HOUR_MS;
    let canary_down = json!({"rules": [{"customer_id": CANARY_CUSTOMER, "fault": {"kind": "status", "code": 503}}]});
    stack.put_json("/api/standin/faults", &canary_down);

    // The failing check, then the ticks that see it: one opening, however many ticks.
    assert_eq!(health_check(&stack, first), "failing", "the canary's 503s fail the check");
    assert_eq!(health_check(&stack, first + HOUR_MS), "failing");
    wait_for_phases(&stack, key, &["open"]);
    let opened = received(&stack, key)[0].clone();
    assert!(opened["text"].as_str().unwrap_or_default().contains("critical incident health:failing"), "{opened}");
    assert!(opened["incident"]["summary"].as_str().unwrap_or_default().contains("canary"), "{opened}");

    // Healed: the next checks pass (or only the offline test sites fail: degraded), and a tick
    // that sees one resolves the incident, once.
    stack.delete("/api/standin/faults", None);
    assert_ne!(health_check(&stack, first + 2 * HOUR_MS), "failing");
    assert_ne!(health_check(&stack, first + 3 * HOUR_MS), "failing");
    wait_for_phases(&stack, key, &["open", "resolve"]);
    assert_ne!(health_check(&stack, first + 4 * HOUR_MS), "failing");
    assert_eq!(phases(&stack, key), ["open", "resolve"], "no tick after the resolution sends anything more");
    let ids: Vec<Value> = received(&stack, key).iter().map(|b| b["incident"]["id"].clone()).collect();
    assert_eq!(ids[0], ids[1], "the resolution names the incident it closes");

    // The health page's API: the incident resolved, both messages sent.
    let health = stack.get_json("/api/health");
    let incident = health["incidents"].as_array().unwrap().iter().find(|i| i["id"] == ids[0]).cloned().expect("the incident");
    assert!(incident["resolved_ms"].is_i64(), "{incident}");
    let sent: Vec<&Value> = health["alerts"].as_array().unwrap().iter().filter(|m| m["incident_id"] == ids[0]).collect();
    assert_eq!(sent.len(), 2, "{health}");
    assert!(sent.iter().all(|m| m["status"] == json!("sent")), "{health}");
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn alert_a_refused_send_is_retried_at_a_later_tick() {
    let stack = Stack::from_env();
    let key = "health:failing";
    assert_none_open(&stack, key);
    // Its own hours, two days after every run the ledger knows.
    let first = (stack.next_sweep_time() / HOUR_MS + 48) * HOUR_MS;
    stack.delete("/api/standin/alerts", None);
    stack.put_json("/api/standin/alerts", &json!({"fail_next": 1}));
    stack.put_json("/api/standin/faults", &json!({"rules": [{"customer_id": CANARY_CUSTOMER, "fault": {"kind": "status", "code": 503}}]}));
    assert_eq!(health_check(&stack, first), "failing");
    stack.delete("/api/standin/faults", None);

    // The tick that opens the incident (a duplicate firing of the check's slot): the receiver
    // refuses the opening, which waits for a retry with its error.
    stack.fire_cron(HEALTH_CRON, first);
    let receiver = stack.get_json("/api/standin/alerts");
    assert_eq!((receiver["refused"].clone(), phases(&stack, key).len()), (json!(1), 0), "{receiver}");
    let message = |stack: &Stack| {
        let alerts = stack.get_json("/api/health")["alerts"].clone();
        alerts.as_array().unwrap().iter().find(|m| m["key"] == json!(key) && m["phase"] == json!("open")).cloned().expect("the opening")
    };
    let waiting = message(&stack);
    assert_eq!(
        (waiting["status"].clone(), waiting["attempts"].clone(), waiting["last_error"].clone()),
        (json!("pending"), json!(1), json!("HTTP 503")),
        "{waiting}"
    );

    // The next ticks retry it once it is due (a minute after the failure): it arrives once.
    ticks_until(
        "the retried opening arrives",
        || {
            stack.fire_cron(HEALTH_CRON, first);
        },
        || {
            let got = phases(&stack, key);
            if got == ["open"] {
                Ok(())
            } else {
                Err(got)
            }
        },
    );
    let sent = message(&stack);
    assert_eq!((sent["status"].clone(), sent["attempts"].clone()), (json!("sent"), json!(2)), "{sent}");
    assert_eq!(received(&stack, key)[0]["incident"]["id"], waiting["incident_id"]);

    // Healed, the incident resolves (so no later test finds it open).
    assert_ne!(health_check(&stack, first + HOUR_MS), "failing");
    stack.fire_cron(HEALTH_CRON, first + HOUR_MS);
    wait_for_phases(&stack, key, &["open", "resolve"]);
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`, and the ledger's breakers (overload14)"]
fn alert_a_breaker_incident_sends_one_opening_and_one_resolution() {
    let stack = Stack::from_env();
    let key = "breaker:brand";
    for i in 0..4 {
        stack.post_json(
            "/api/sites",
            &json!({"customer_id": format!("alert-brk-{i}"), "url": format!("https://brk-{i}.alerts.example"), "plan": "growth"}),
        );
    }
    stack.delete("/api/standin/alerts", None);
    stack.put_json("/api/standin/faults", &json!({"rules": [{"role": "brand", "fault": {"kind": "status", "code": 503}}]}));
    let mut at = stack.next_sweep_time();
    let state = |stack: &Stack| {
        let health = stack.get_json("/api/health");
        assert!(!health["breakers"].is_null(), "no breaker data: the ledger has no `GET /breakers` on its `breakers` instance yet");
        health["breakers"]["breakers"].as_array().unwrap().iter().find(|b| b["role"] == json!("brand")).map(|b| b["state"].clone())
    };
    // Sweeps until the breaker opens and a tick announces it; healed, until it closes by itself
    // and a tick resolves the incident.
    let mut sweep = || {
        stack.fire_cron(SWEEP_CRON, at);
        at += SLOT_MS;
    };
    ticks_until("the brand breaker opens and its opening is sent", &mut sweep, || {
        let s = state(&stack);
        if phases(&stack, key) == ["open"] {
            Ok(())
        } else {
            Err(s)
        }
    });
    stack.delete("/api/standin/faults", None);
    ticks_until("the brand breaker closes and its resolution is sent", &mut sweep, || {
        let s = state(&stack);
        if phases(&stack, key) == ["open", "resolve"] {
            Ok(())
        } else {
            Err(s)
        }
    });
    sweep();
    assert_eq!(state(&stack), Some(json!("closed")));
    assert_eq!(phases(&stack, key), ["open", "resolve"], "exactly one opening and one resolution");
}
