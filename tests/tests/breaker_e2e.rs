//! End to end on local workerd: the elite circuit breaker (`code24_shared::breaker`) with the
//! brand worker down for a while. One site's brand calls fail first, so it dies just before
//! the outage is noticed; then every brand call answers 503 for a sweep. The breaker opens
//! within its first window, holds the sweep's jobs back without calling brand (only probes do),
//! and, once brand answers again, closes by itself; the held jobs then finish, and at the next
//! sweep the dispatcher replays (`BREAKER_AUTO_REPLAY = "on"` locally, each replay in the audit
//! log) the dead letters the
//! outage caused, which end succeeded.
//!
//! Sites `brk-000`..`brk-005` are this file's; every active site is swept alike. The test
//! leaves the breaker closed, as every other test expects it.

use std::sync::Once;
use std::time::Duration;

use code24_tests::faults::{assert_every_site_ends_once, dead_letters, Ending, SWEEP_CRON};
use code24_tests::{wait_until, Stack};
use serde_json::{json, Value};

const SITES: usize = 6;
const SLOT_MS: i64 = 180_000;
/// The longest cool-down is 4 minutes; a recovery takes at most that and a probe's round trip.
const RECOVERY: Duration = Duration::from_secs(360);
const SETTLE: Duration = Duration::from_secs(420);
/// The stated bound on the sweep's dead letters while brand is down: jobs that failed their
/// last attempt before the breaker opened, and failed probes (2 per half-open period).
const MAX_DEAD: usize = 6;

fn customer(i: usize) -> String {
    format!("brk-{i:03}")
}

fn stack() -> Stack {
    static SEED: Once = Once::new();
    let stack = Stack::from_env();
    SEED.call_once(|| {
        for i in 0..SITES {
            stack.post_json(
                "/api/sites",
                &json!({"customer_id": customer(i), "url": format!("https://site-{i}.breaker.example"), "plan": "growth"}),
            );
        }
    });
    stack.delete("/api/standin/faults", None);
    stack
}

/// Brand's breaker as `GET /api/breakers` shows it, and the whole answer.
fn brand(stack: &Stack) -> (String, Value) {
    let view = stack.get_json("/api/breakers");
    let brand = view["breakers"].as_array().expect("breakers").iter().find(|b| b["role"] == "brand").expect("a brand breaker").clone();
    (brand["state"].as_str().expect("a state").to_owned(), view)
}

/// Brand calls the stand-in answered so far, over every site.
fn brand_calls(stack: &Stack) -> u64 {
    let stats = stack.get_json("/api/standin/stats");
    stats["calls"].as_object().expect("calls").values().map(|roles| roles["brand"].as_u64().unwrap_or(0)).sum()
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn breaker_one_role_down_opens_holds_closes_by_itself_and_replays_what_it_killed() {
    let stack = stack();
    assert_eq!(brand(&stack).0, "closed", "the breaker starts closed");
    let active = stack.active_customers();

    // One site's brand calls fail for good: it dies after MAX_ATTEMPTS, the others succeed
    // (too few failures for the breaker).
    let doomed = customer(0);
    stack.put_json(
        "/api/standin/faults",
        &json!({"rules": [{"customer_id": doomed, "role": "brand", "fault": {"kind": "status", "code": 503}}]}),
    );
    let first = stack.next_sweep_time();
    stack.fire_cron(SWEEP_CRON, first);
    let endings = assert_every_site_ends_once(&stack, first, &active, SETTLE);
    assert!(matches!(endings[&doomed], Ending::Dead { attempts: 4, .. }), "{:?}", endings[&doomed]);
    assert_eq!(brand(&stack).0, "closed", "one failing site does not open the breaker");

    // Brand down for everyone: the breaker opens within its first window.
    stack.put_json("/api/standin/faults", &json!({"rules": [{"role": "brand", "fault": {"kind": "status", "code": 503}}]}));
    let second = first + SLOT_MS;
    stack.fire_cron(SWEEP_CRON, second);
    let opened = wait_until("brand's breaker opens", Duration::from_secs(60), || match brand(&stack) {
        (state, view) if state == "open" => Ok(view),
        other => Err(other),
    });
    let opening = &opened["transitions"][0];
    assert_eq!((opening["from"].as_str(), opening["to"].as_str()), (Some("closed"), Some("open")), "{opened}");
    assert!(opening["failures"].as_u64().unwrap() * 2 >= opening["calls"].as_u64().unwrap(), "{opening}");
    let calls_at_open = brand_calls(&stack);
    // The history is the stack's: earlier tests (the alerts' breaker incident) left transitions
    // in it, so only this opening's successors count.
    let opened_at = opening["at_ms"].as_i64().expect("a transition time");
    let after_open = |view: &Value, field: &str, state: &str| {
        view["transitions"].as_array().unwrap().iter().filter(|t| t[field] == state && t["at_ms"].as_i64() > Some(opened_at)).count()
    };

    // While open, only probes call brand: wait for the first probe round to fail.
    let reopened = wait_until("a probe fails and the breaker re-opens", RECOVERY, || {
        let (state, view) = brand(&stack);
        let probes = after_open(&view, "from", "half_open");
        if state == "open" && probes >= 1 {
            Ok(view)
        } else {
            Err(view)
        }
    });
    let half_opens = after_open(&reopened, "to", "half_open") as u64;
    // A batch admitted just before the open was recorded may still have called (8 jobs).
    let since_open = brand_calls(&stack) - calls_at_open;
    assert!(since_open <= 2 * half_opens + 8, "{since_open} brand calls while open ({half_opens} probe rounds)");
    let longer = reopened["breakers"].as_array().unwrap().iter().find(|b| b["role"] == "brand").unwrap()["cool_down_ms"].as_i64();
    assert_eq!(longer, Some(60_000), "a failed probe doubles the cool-down: {reopened}");

    // Brand heals: the breaker closes by itself, and the held jobs finish.
    stack.delete("/api/standin/faults", None);
    wait_until("brand's breaker closes", RECOVERY, || match brand(&stack) {
        (state, _) if state == "closed" => Ok(()),
        other => Err(other),
    });
    let endings = assert_every_site_ends_once(&stack, second, &active, SETTLE);
    let dead: Vec<&String> = endings.iter().filter(|(_, e)| matches!(e, Ending::Dead { .. })).map(|(c, _)| c).collect();
    assert!(dead.len() <= MAX_DEAD, "{} dead letters while brand was down: {dead:?}", dead.len());

    // The next sweep's dispatcher replays what the outage killed: the doomed site's letter
    // (it died within a window of the opening) and any failed probe's; each ends succeeded.
    let mut replayed: Vec<Value> = dead_letters(&stack, &code24_tests::faults::sweep_id(first)).remove(&doomed).unwrap_or_default();
    replayed.extend(dead_letters(&stack, &code24_tests::faults::sweep_id(second)).into_values().flatten());
    assert!(!replayed.is_empty(), "the doomed site's dead letter is stored");
    stack.fire_cron(SWEEP_CRON, second + SLOT_MS);
    for letter in &replayed {
        let id = letter["id"].as_str().expect("an id");
        wait_until(&format!("{id} is auto-replayed and succeeds"), SETTLE, || {
            let detail = stack.get_json(&format!("/api/dead-letters/{id}"));
            if detail["entry"]["status"] == "replayed" && detail["job_state"] == "succeeded" {
                Ok(())
            } else {
                Err(detail)
            }
        });
    }
    // Each auto-replay is in the audit log, as the API's replays are: by the dispatcher's
    // auto-replay service, naming every replayed letter and the brand outage.
    let audit = stack.get_json("/api/audit?actor=breaker-auto-replay&action=dead_letters.replay&limit=50");
    let entries = audit["entries"].as_array().cloned().unwrap_or_default();
    for letter in &replayed {
        let id = letter["id"].as_str().expect("an id");
        let entry = entries.iter().find(|e| e["request"].as_str().is_some_and(|r| r.contains(id)));
        let entry = entry.unwrap_or_else(|| panic!("no audit entry replays {id}: {audit}"));
        assert_eq!((entry["actor_kind"].as_str(), entry["status"].as_u64()), (Some("service"), Some(200)), "{entry}");
        assert!(entry["count"].as_u64() >= Some(1) && entry["reason"].as_str().is_some_and(|r| r.contains("brand breaker")), "{entry}");
    }
    assert_eq!(brand(&stack).0, "closed");
}
