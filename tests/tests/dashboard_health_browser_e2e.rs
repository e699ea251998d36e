//! End to end in a real browser (headless Chromium through chromedriver): the dashboard's
//! health page (`/status`). A health check whose canary fails, then a tick that sees it: the
//! page shows the check's status and each check with its latency, the open `health:failing`
//! incident and its alert as sent, and the breakers' state as the API reports it ("No breaker
//! data." until the ledger has breakers). Healed afterwards, so the incident resolves. (Its own
//! file: `dashboard_browser_e2e.rs` is at the line budget.) A screenshot lands in
//! `tests/artifacts/health.png`.

use std::path::PathBuf;
use std::time::Duration;

use code24_shared::ids::{basic_timestamp, from_epoch_ms};
use code24_shared::reports::health::CANARY_CUSTOMER;
use code24_tests::browser::{Browser, Driver};
use code24_tests::{wait_until, Stack, TOKEN_VAR};
use serde_json::json;
use ureq::http::Method;

const HEALTH_CRON: &str = "0 * * * *";
const HOUR_MS: i64 = 3_600_000;
const SETTLE: Duration = Duration::from_secs(180);

/// Fires the hourly health check at `at` and waits until its report is written.
fn health_check(stack: &Stack, at: i64) {
    stack.fire_cron(HEALTH_CRON, at);
    let stamp = basic_timestamp(from_epoch_ms(at).expect("a time"));
    wait_until("the health check's report is written", SETTLE, || {
        let r = stack.send(Method::GET, &format!("/api/results/dev/health-checks/{stamp}.json"), None, true);
        if r.status == 200 {
            Ok(())
        } else {
            Err(r)
        }
    });
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn an_operator_sees_the_health_check_breakers_incidents_and_alerts() {
    let stack = Stack::from_env();
    let token = std::env::var(TOKEN_VAR).expect("the admin token");
    // The page shows the last two hourly slots before now: this hour's check is the latest.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let hour = now / HOUR_MS * HOUR_MS;
    stack.put_json("/api/standin/faults", &json!({"rules": [{"customer_id": CANARY_CUSTOMER, "fault": {"kind": "status", "code": 503}}]}));
    health_check(&stack, hour);
    stack.delete("/api/standin/faults", None);
    // A tick that sees the failing check (a duplicate firing of its slot: no new check, but
    // every firing evaluates the alerts): the incident opens and is sent.
    stack.fire_cron(HEALTH_CRON, hour);
    let api = wait_until("the incident's opening is sent", SETTLE, || {
        let health = stack.get_json("/api/health");
        let sent = health["alerts"].as_array().unwrap().iter().any(|m| m["key"] == json!("health:failing") && m["status"] == json!("sent"));
        if sent {
            Ok(health)
        } else {
            Err(health)
        }
    });

    let driver = Driver::start();
    let browser = Browser::open(&driver);
    browser.goto(&stack.url("/status"));
    browser.type_into(&browser.find("input[name=token]"), &token);
    browser.click(&browser.find("#login"));
    browser.wait_for_text("h1", "Health");
    assert_eq!(browser.text("[data-section=health-check] [data-field=status]"), "failing", "{}", browser.text("main"));
    assert_eq!(browser.text("tr[data-check=canary] [data-field=ok]"), "failed");
    for check in ["elite_brand", "r2_round_trip", "d1", "canary"] {
        let latency = browser.text(&format!("tr[data-check={check}] [data-field=latency]"));
        assert!(latency.ends_with(" ms"), "{check}: {latency}");
    }
    let incident = "[data-section=incidents] tr[data-key=\"health:failing\"]";
    assert_eq!(browser.text(&format!("{incident} [data-field=state]")), "open", "{}", browser.text("main"));
    assert!(browser.text("[data-section=alerts]").contains("critical incident health:failing"), "{}", browser.text("main"));
    assert!(browser.count("[data-section=alerts] [data-field=status]") >= 1);
    // The breakers exactly as the API has them: a table, or "No breaker data."
    if api["breakers"].is_null() {
        assert!(browser.text("[data-section=breakers]").contains("No breaker data."), "{}", browser.text("main"));
    } else {
        let roles = api["breakers"]["breakers"].as_array().unwrap().len();
        assert_eq!(browser.count("[data-section=breakers] tr[data-breaker]"), roles);
    }
    assert!(browser.try_find("main form[method=post]").is_none(), "the health page changes nothing");
    browser.resize(1280, 1400);
    browser.screenshot(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("artifacts").join("health.png"));

    // Healed: the next hour's check passes the platform's probes, and a tick that sees it
    // resolves the incident.
    health_check(&stack, hour + HOUR_MS);
    stack.fire_cron(HEALTH_CRON, hour + HOUR_MS);
    wait_until("the incident resolves", SETTLE, || {
        let health = stack.get_json("/api/health");
        let open =
            health["incidents"].as_array().unwrap().iter().any(|i| i["key"] == json!("health:failing") && i["resolved_ms"].is_null());
        if open {
            Err(health)
        } else {
            Ok(())
        }
    });
}
