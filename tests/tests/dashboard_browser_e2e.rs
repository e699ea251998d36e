//! End to end in a real browser (headless Chromium through chromedriver): the operator
//! dashboard. Log in (a wrong token first), add a site through the Sites form, watch a sweep
//! run and the page refresh itself until it completes, see its progress with the site's
//! forced dead letter, open the dead letter, preview and
//! confirm its replay, watch its status and the sweep's counts change; then the refusals: a
//! page or a POST without the session, a POST with a missing or wrong CSRF token or from
//! another origin, all changing nothing (and the same POST with everything right does work);
//! the audit page lists the replay and the purge with who, how many and why.
//! Screenshots of the main pages land in `tests/artifacts/`.

use std::path::PathBuf;
use std::time::Duration;

use code24_shared::ids::{from_epoch_ms, RunId};
use code24_shared::schedule::Task;
use code24_tests::browser::{Browser, Driver};
use code24_tests::{wait_until, Stack, TOKEN_VAR};
use serde_json::{json, Value};
use ureq::http::{self, Method};

const SWEEP_CRON: &str = "*/3 * * * *";
const SETTLE: Duration = Duration::from_secs(120);
const CUSTOMER: &str = "dash-e2e-1";
/// The added latency of the test site's Developer call.
const LATENCY_MS: u64 = 3_000;

fn artifact(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("artifacts").join(name)
}

/// A raw form POST to the dashboard with the given cookie, fields and `Origin`.
fn post_form(stack: &Stack, path: &str, cookie: Option<&str>, fields: &[(&str, &str)], origin: Option<&str>) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).proxy(None).max_redirects(0).build().into();
    let body = fields.iter().map(|(k, v)| format!("{k}={}", code24_tests::percent_encode(v))).collect::<Vec<_>>().join("&");
    let mut request =
        http::Request::builder().method(Method::POST).uri(stack.url(path)).header("content-type", "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        request = request.header("cookie", format!("code24_session={c}"));
    }
    if let Some(o) = origin {
        request = request.header("origin", o);
    }
    let mut reply = agent.run(request.body(body.into_bytes()).unwrap()).expect("the stack answers");
    (reply.status().as_u16(), reply.body_mut().read_to_string().unwrap_or_default())
}

fn counts(progress: &Value) -> (u64, u64) {
    (progress["succeeded"].as_u64().unwrap(), progress["dead"].as_u64().unwrap())
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn an_operator_sees_a_sweep_replays_its_dead_letter_and_forged_posts_are_refused() {
    let stack = Stack::from_env();
    let token = std::env::var(TOKEN_VAR).expect("the admin token");
    let driver = Driver::start();
    let browser = Browser::open(&driver);
    let page = |path: &str| stack.url(path);

    // Without a session every page is refused (401, with the login form), and so is a POST.
    let reply = stack.send(Method::GET, "/", None, false);
    assert!(reply.status == 401 && reply.body.contains("name=\"token\""), "{} {}", reply.status, reply.body);
    let reply = stack.send(Method::GET, "/dead-letters", None, true);
    assert_eq!(reply.status, 401, "a bearer token is not a session: {}", reply.body);
    let (status, body) =
        post_form(&stack, "/sites", None, &[("customer_id", "x"), ("url", "https://x.example"), ("plan", "starter")], None);
    assert!(status == 401 && body.contains("Nothing changed"), "{status} {body}");
    assert!(!stack.active_customers().iter().any(|c| c == "x"), "the refused POST added a site");
    let (status, body) = post_form(&stack, "/login", None, &[("token", &"x".repeat(70_000))], None);
    assert!(status == 413 && body.contains("at most 65536"), "an oversized form is refused unread: {status} {body}");

    // Log in: a wrong token is refused, the right one lands on the sweeps page.
    browser.goto(&page("/"));
    browser.type_into(&browser.find("input[name=token]"), "not-the-token");
    browser.click(&browser.find("#login"));
    browser.wait_for_text("main", "That is not the admin token");
    assert!(browser.cookie("code24_session").is_none());
    browser.type_into(&browser.find("input[name=token]"), &token);
    browser.click(&browser.find("#login"));
    browser.wait_for_text("h1", "Sweeps");
    assert_eq!(browser.text("#who"), "admin-token", "a token login is the token's service identity");
    let session = browser.cookies().into_iter().find(|c| c.name() == "code24_session").expect("the session cookie");
    let same_site = session.same_site().map(|s| s.to_string());
    assert_eq!((session.http_only(), same_site.as_deref(), session.path()), (Some(true), Some("Strict"), Some("/")), "{session}");
    let cookie = session.value().to_owned();

    // Add the test's site through the Sites form; its Designer answers 400 (permanent).
    browser.goto(&page("/sites"));
    browser.type_into(&browser.find("input[name=customer_id]"), CUSTOMER);
    browser.type_into(&browser.find("input[name=url]"), "https://dash.e2e.example");
    browser.click(&browser.find("form.add-site button"));
    browser.wait_for_text(&format!("tr[data-site=\"{CUSTOMER}\"]"), "https://dash.e2e.example");
    browser.screenshot(&artifact("sites.png"));
    // Its Designer answers 400 (permanent); its Developer takes 3 s (well within the local
    // 5 s elite timeout), which keeps the sweep running while the page is first shown.
    stack.put_json(
        "/api/standin/faults",
        &json!({"rules": [
            {"customer_id": CUSTOMER, "role": "designer", "fault": {"kind": "status", "code": 400}},
            {"customer_id": CUSTOMER, "role": "developer", "fault": {"kind": "latency", "ms": LATENCY_MS}}
        ]}),
    );

    let time = stack.next_sweep_time();
    let sweep = RunId::new("local", Task::Optimize, from_epoch_ms(time).unwrap()).as_str().to_owned();
    let job_id = format!("{sweep}.{CUSTOMER}");
    stack.fire_cron(SWEEP_CRON, time);

    // The sweeps page shows it running and refreshes itself, without a reload, until it ends.
    browser.goto(&page("/"));
    let row = format!("tr[data-sweep=\"{sweep}\"]");
    assert_eq!(browser.text(&format!("{row} .status")), "running", "{}", browser.text("main"));
    assert!(browser.try_find("section[data-refresh]").is_some(), "a running sweep's page must refresh itself");
    browser.screenshot(&artifact("sweeps-running.png"));
    wait_until("the page shows the sweep ended, by itself", SETTLE, || {
        let status = browser.text(&format!("{row} .status"));
        if status == "failed" {
            Ok(())
        } else {
            Err(status)
        }
    });
    assert_eq!(
        browser.try_find("section[data-refresh]").is_some(),
        browser.try_find(".status.running").is_some(),
        "the page refreshes itself exactly while a sweep runs: {}",
        browser.text("main")
    );
    let done = wait_until("the sweep completes", SETTLE, || {
        let p = stack.get_json(&format!("/api/sweeps/{sweep}"));
        if p["complete"] == json!(true) {
            Ok(p)
        } else {
            Err(p)
        }
    });
    let (succeeded, dead) = counts(&done);
    assert!(dead >= 1, "{done}");

    // The sweeps page shows the completed sweep with the ledger's numbers.
    browser.goto(&page("/"));
    assert_eq!(browser.text(&format!("{row} [data-count=succeeded]")), format!("succeeded {succeeded}"));
    assert_eq!(browser.text(&format!("{row} [data-count=dead]")), format!("dead {dead}"));
    assert_eq!(browser.text(&format!("{row} .status")), "failed");
    browser.screenshot(&artifact("sweeps.png"));

    // The sweep's page lists the forced dead letter; its page shows the error and the body.
    // The dead letter reaches the store through the DLQ consumer, shortly after the sweep ends.
    let failure = format!("tr[data-entry=\"{job_id}\"] a");
    let link = wait_until("the sweep's page lists the dead letter", SETTLE, || {
        browser.goto(&page(&format!("/sweeps/{sweep}")));
        browser.try_find(&failure).ok_or_else(|| browser.text("main"))
    });
    browser.click(&link);
    browser.wait_for_text("h1", &job_id);
    assert_eq!(browser.text("[data-field=status]"), "dead");
    assert_eq!(browser.text("[data-field=job_state]"), "dead");
    assert!(browser.text("p.error").contains("elite designer answered HTTP 400"), "{}", browser.text("main"));
    assert!(browser.text("pre").contains(&job_id));
    browser.screenshot(&artifact("dead-letter.png"));

    // Replay: the preview is a dry run (nothing changes), the confirmation replays it.
    stack.delete("/api/standin/faults", None);
    browser.click(&browser.find("a[href^=\"/dead-letters/preview?action=replay\"]"));
    browser.wait_for_text("h1", "Replay: preview");
    assert_eq!(browser.text("[data-count=would]"), "1");
    assert_eq!(stack.get_json(&format!("/api/dead-letters/{job_id}"))["entry"]["status"], json!("dead"), "a preview changed the entry");
    browser.screenshot(&artifact("replay-preview.png"));
    browser.type_into(&browser.find("#reason"), "browser e2e: the designer is fixed");
    browser.click(&browser.find("#confirm"));
    browser.wait_for_text("main", "Replayed 1 dead letter.");

    // The entry becomes replayed and its job succeeds; the sweep's counts follow.
    let entry = page(&format!("/dead-letters/{job_id}"));
    wait_until("the dead letter's page shows the replay succeeded", SETTLE, || {
        browser.goto(&entry);
        let seen = (browser.text("[data-field=status]"), browser.text("[data-field=job_state]"));
        if seen == ("replayed".to_owned(), "succeeded".to_owned()) {
            Ok(())
        } else {
            Err(seen)
        }
    });
    let sweep_page = page(&format!("/sweeps/{sweep}"));
    let want = (format!("succeeded {}", succeeded + 1), format!("dead {}", dead - 1));
    wait_until("the sweep's page shows the new counts", SETTLE, || {
        browser.goto(&sweep_page);
        let seen = (browser.text("[data-count=succeeded]"), browser.text("[data-count=dead]"));
        if seen == want {
            Ok(())
        } else {
            Err(seen)
        }
    });
    browser.screenshot(&artifact("sweep.png"));

    // Forged POSTs change nothing: no CSRF token, a wrong one, another session's, another origin.
    let csrf = browser.attribute("form.logout input[name=csrf]", "value").expect("the page's CSRF token");
    let purge = |cookie: Option<&str>, csrf: Option<&str>, origin: Option<&str>| {
        let mut fields = vec![("ids", job_id.as_str()), ("reason", "browser e2e: purge after the replay")];
        if let Some(t) = csrf {
            fields.push(("csrf", t));
        }
        post_form(&stack, "/dead-letters/purge", cookie, &fields, origin)
    };
    let wrong = "0".repeat(64);
    for (what, reply, status) in [
        ("no session", purge(None, Some(&csrf), None), 401),
        ("a forged session", purge(Some(&format!("{}.00.{}", i64::MAX, "0".repeat(64))), Some(&csrf), None), 401),
        ("no CSRF token", purge(Some(&cookie), None, None), 403),
        ("a wrong CSRF token", purge(Some(&cookie), Some(&wrong), None), 403),
        ("another origin", purge(Some(&cookie), Some(&csrf), Some("http://evil.example")), 403),
    ] {
        assert_eq!(reply.0, status, "{what}: {}", reply.1);
        assert!(reply.1.contains("Nothing changed"), "{what}: {}", reply.1);
        assert_eq!(
            stack.get_json(&format!("/api/dead-letters/{job_id}"))["entry"]["status"],
            json!("replayed"),
            "{what} changed the entry"
        );
    }
    // The same request with the session, its token and the own origin does purge.
    let (status, body) = purge(Some(&cookie), Some(&csrf), Some(stack.base_url()));
    assert!(status == 200 && body.contains("Purged 1 dead letter."), "{status} {body}");
    assert_eq!(stack.get_json(&format!("/api/dead-letters/{job_id}"))["entry"]["status"], json!("purged"));

    // The audit page lists both changes with who, how many and why, newest first, and offers
    // no form that changes an entry.
    browser.goto(&page("/audit?action=dead_letters.purge"));
    let purge_row = "tr[data-audit-id]";
    assert_eq!(browser.text(&format!("{purge_row} [data-field=action]")), "dead_letters.purge", "{}", browser.text("main"));
    assert_eq!(browser.text(&format!("{purge_row} [data-field=count]")), "1");
    assert_eq!(browser.text(&format!("{purge_row} [data-field=reason]")), "browser e2e: purge after the replay");
    assert!(browser.text(&format!("{purge_row} [data-field=actor]")).starts_with("admin-token"), "{}", browser.text("main"));
    browser.goto(&page("/audit?action=dead_letters.replay"));
    assert_eq!(browser.text("tr[data-audit-id] [data-field=reason]"), "browser e2e: the designer is fixed", "{}", browser.text("main"));
    assert_eq!(browser.text("tr[data-audit-id] [data-field=count]"), "1");
    browser.goto(&page("/audit"));
    assert!(browser.try_find("main form[method=post]").is_none(), "the audit page changes nothing");
    browser.screenshot(&artifact("audit.png"));

    // The other pages, on a laptop and on a phone.
    browser.goto(&page("/schedules"));
    assert!(browser.text("tr[data-task=optimize]").contains(&sweep), "the last optimize run: {}", browser.text("main"));
    browser.screenshot(&artifact("schedules.png"));
    browser.goto(&page(&format!("/dead-letters?status=purged&customer_id={CUSTOMER}")));
    assert!(browser.try_find(&format!("tr[data-entry=\"{job_id}\"]")).is_some(), "{}", browser.text("main"));
    browser.screenshot(&artifact("dead-letters.png"));
    browser.resize(390, 844);
    browser.goto(&page("/"));
    browser.screenshot(&artifact("sweeps-phone.png"));
    browser.resize(1280, 900);

    // Deactivate the site from its page (leaving the registry as other tests expect it).
    browser.goto(&page("/sites"));
    browser.click(&browser.find(&format!("form[action=\"/sites/{CUSTOMER}/deactivate\"] button")));
    wait_until("the sites page shows the site inactive", Duration::from_secs(30), || {
        let cells = browser.text(&format!("tr[data-site=\"{CUSTOMER}\"] td:nth-child(5)"));
        if cells == "no" {
            Ok(())
        } else {
            Err(cells)
        }
    });
    assert!(browser.try_find(&format!("form[action=\"/sites/{CUSTOMER}/deactivate\"]")).is_none());
    assert!(!stack.active_customers().contains(&CUSTOMER.to_owned()));

    // Logout ends the session in the browser.
    browser.click(&browser.find("form.logout button"));
    browser.wait_for_text("h1", "Log in");
    assert!(browser.cookie("code24_session").is_none(), "{:?}", browser.cookies());
    browser.goto(&page("/"));
    assert!(browser.try_find("input[name=token]").is_some(), "{}", browser.text("main"));
}

/// The seeded month of the report page test, and its billing history: new, expansion,
/// contraction, churn and a reactivation in June 2029, with eight months of history before
/// it (later than the demo's data, earlier than every other test's billing, and ended on
/// 2029-08-01 so no later report counts it).
const REPORT_MONTH: &str = "2029-06";

fn seed_billing(stack: &Stack) {
    use chrono::{TimeZone, Utc};
    let at = |y: i32, m: u32, d: u32| Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap().timestamp_millis();
    let events = [
        ("rp-1", at(2028, 10, 5), 10_000),
        ("rp-8", at(2028, 10, 20), 6_000),
        ("rp-2", at(2028, 11, 3), 20_000),
        ("rp-3", at(2028, 12, 10), 15_000),
        ("rp-4", at(2029, 1, 15), 30_000),
        ("rp-5", at(2029, 2, 1), 25_000),
        ("rp-6", at(2029, 3, 11), 9_000),
        ("rp-3", at(2029, 4, 2), 0),
        ("rp-4", at(2029, 6, 3), 45_000),
        ("rp-3", at(2029, 6, 8), 18_000),
        ("rp-7", at(2029, 6, 12), 11_000),
        ("rp-5", at(2029, 6, 20), 12_000),
        ("rp-6", at(2029, 6, 25), 0),
    ];
    // After the month every one of them stops paying, so no later month's report (another
    // test's) finds them among its paying customers.
    let after: Vec<(String, i64, i64)> = (1..=8).map(|n| (format!("rp-{n}"), at(2029, 8, 1), 0)).collect();
    // Billing needs registered customers; inactive sites, so no sweep of another test works them.
    for n in 1..=8 {
        let site = json!({"customer_id": format!("rp-{n}"), "url": format!("https://rp-{n}.example"), "plan": "growth", "active": false});
        stack.post_json("/api/sites", &site);
    }
    let events = events.iter().map(|(c, at, cents)| ((*c).to_owned(), *at, *cents)).chain(after);
    for (customer, at_ms, mrr_cents) in events {
        stack.post_json("/api/billing-events", &json!({"customer_id": customer, "at_ms": at_ms, "mrr_cents": mrr_cents}));
    }
}

/// A headline figure as the page must show it: the JSON's value in its unit.
fn shown(kpi: &Value) -> String {
    use code24_shared::reports::summary::{dollars, percent};
    match (kpi["unit"].as_str(), kpi["value"].as_i64()) {
        (_, None) => "—".to_owned(),
        (Some("cents"), Some(v)) => dollars(v),
        (Some("bp"), Some(v)) => percent(v),
        (_, Some(v)) => v.to_string(),
    }
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn report_page_of_a_seeded_month_shows_its_json_figures_and_charts() {
    let stack = Stack::from_env();
    let token = std::env::var(TOKEN_VAR).expect("the admin token");
    seed_billing(&stack);
    let run = stack.post_json("/api/runs", &json!({"task": "end-of-month", "month": REPORT_MONTH}));
    assert!(run.to_string().contains(REPORT_MONTH), "{run}");
    let key = |name: &str| format!("/api/results/reports/end-of-month/2029/06/{name}");
    let summary = wait_until("the executive summary is written", SETTLE, || {
        let r = stack.send(Method::GET, &key("executive-summary.json"), None, true);
        if r.status == 200 {
            Ok(r.json())
        } else {
            Err(r.status)
        }
    });
    let report = stack.get_json(&key("final-report.json"));

    let driver = Driver::start();
    let browser = Browser::open(&driver);
    browser.goto(&stack.url("/"));
    browser.type_into(&browser.find("input[name=token]"), &token);
    browser.click(&browser.find("#login"));
    browser.wait_for_text("h1", "Sweeps");
    let _ = browser.console_errors();

    browser.goto(&stack.url(&format!("/reports/{REPORT_MONTH}")));
    assert_eq!(browser.text("h1"), format!("End-of-month report {REPORT_MONTH}"));
    // Every headline figure is the JSON's, the summary's sentences are there, in order.
    let headline = summary["headline"].as_array().expect("headline KPIs");
    assert_eq!(headline.len(), browser.count("[data-kpi]"));
    for kpi in headline {
        let name = kpi["name"].as_str().unwrap();
        assert_eq!(browser.text(&format!("[data-kpi={name}] .value")), shown(kpi), "{name}: {kpi}");
    }
    assert_eq!(headline[0]["value"], report["revenue"]["ending_mrr_cents"], "the summary is the report's");
    let sentences: Vec<String> = summary["sentences"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect();
    let page_text = browser.text(".summary");
    for s in &sentences {
        assert!(page_text.contains(s.as_str()), "{s:?} is not on the page: {page_text}");
    }
    assert!(sentences.iter().any(|s| s.contains("is forecast at") && s.contains("interval")), "{sentences:?}");
    // The charts are drawn (bridge, a year of MRR with its band, churn, NRR), with no error.
    assert!(browser.count("svg.chart") >= 4, "{}", browser.text("main"));
    assert_eq!(browser.count("svg.waterfall"), 1);
    assert_eq!(browser.count("svg.line polygon.band"), 1, "next month's forecast has its interval");
    let errors = browser.console_errors();
    assert!(errors.is_empty(), "the report page logged errors: {errors:?}");
    // A tall window shows the whole report in one screenshot (the README's).
    browser.resize(1280, 2400);
    let shot = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/img/report-page.png");
    browser.screenshot(&shot);
    browser.screenshot(&artifact("report-page.png"));
    browser.resize(1280, 900);

    // The JSON behind it is one click away, and the states of a month without reports.
    let href = browser.attribute("a.json", "href").expect("a JSON link");
    assert_eq!(href, format!("/reports/{REPORT_MONTH}/final-report.json"));
    browser.goto(&stack.url("/reports/2001-01"));
    assert!(browser.text("main").contains("No end-of-month report for 2001-01 has been written."));
    browser.goto(&stack.url("/reports/2001-01/analytics"));
    assert!(browser.text("main").contains("No monthly analytics for 2001-01 have been written."));
    assert!(browser.console_errors().is_empty());
}
