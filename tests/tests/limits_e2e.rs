//! End to end on local workerd: the dispatcher's fan-out rides out refused queue sends. The
//! local stand-in's send-fault switch (`PUT /api/standin/send-faults`, honoured only where
//! `ENVIRONMENT` is `local`) makes the next fan-out's `send_batch` calls fail as a 429 would;
//! the producer retries them with backoff inside its invocation, and the sweep still ends with
//! one result per active site. The Workers count their per-invocation limits as they go
//! (`code24_runtime::meter`): the dispatcher's invocation logs its figures, and no overrun.
//!
//! Sites `lim-000`..`lim-149` are this file's, deactivated again at the end so later files'
//! sweeps stay their size.

use std::time::Duration;

use code24_tests::faults::{assert_every_site_ends_once, sweep_id, Ending, SWEEP_CRON};
use code24_tests::logs::log_lines;
use code24_tests::{wait_until, Stack};
use serde_json::{json, Value};

/// Enough sites, with the other files', for two send batches or more (100 messages each).
const SITES: usize = 150;
const SETTLE: Duration = Duration::from_secs(240);

fn customer(i: usize) -> String {
    format!("lim-{i:03}")
}

#[test]
#[ignore = "end to end: run by `cargo xtask test`"]
fn limits_refused_queue_sends_are_retried_and_the_sweep_ends_once_per_site() {
    let stack = Stack::from_env();
    stack.delete("/api/standin/faults", None);
    for i in 0..SITES {
        stack.post_json(
            "/api/sites",
            &json!({"customer_id": customer(i), "url": format!("https://site-{i}.limits.example"), "plan": "growth"}),
        );
    }
    // The first three send attempts fail, whichever batches they carry: each is retried after a
    // backoff (and every later send waits too).
    let armed = stack.put_json("/api/standin/send-faults", &json!({"every": 1, "times": 3}));
    assert_eq!(armed, json!({"every": 1, "times": 3}));
    let active = stack.active_customers();
    let time = stack.next_sweep_time();
    stack.fire_cron(SWEEP_CRON, time);
    let sweep = sweep_id(time);

    // The fan-out took the faults (they are disarmed), logged its retries, and sent every site.
    assert_eq!(stack.get_json("/api/standin/send-faults"), json!({"every": 0, "times": 0}), "the fan-out took the armed faults");
    let fanout = wait_until("the dispatcher logged the sweep's fan-out", SETTLE, || {
        let lines = log_lines(&[r#""event":"fanout""#, &sweep]);
        lines.last().map(|l| json_of(l)).ok_or(lines)
    });
    let report = &fanout["report"];
    assert_eq!(report["send_retries"], json!(3), "{fanout}");
    assert_eq!(report["sent"], json!(active.len()), "{fanout}");

    let endings = assert_every_site_ends_once(&stack, time, &active, SETTLE);
    assert!(endings.values().all(|e| matches!(e, Ending::Result { .. })), "every site has its result: {endings:?}");

    // The dispatcher counted its invocation and went over no limit.
    let usage = log_lines(&[r#""event":"invocation_usage""#, r#""worker":"dispatcher""#]);
    assert!(!usage.is_empty(), "the dispatcher logs its figures after each scheduled invocation");
    let overruns = log_lines(&[r#""event":"limit_overrun""#, r#""worker":"dispatcher""#]);
    assert!(overruns.is_empty(), "the dispatcher went over a limit:\n{}", overruns.join("\n"));

    for i in 0..SITES {
        stack.post_json(&format!("/api/sites/{}/deactivate", customer(i)), &json!({}));
    }
}

/// The JSON object a log line carries (wrangler may prefix the line).
fn json_of(line: &str) -> Value {
    let start = line.find('{').unwrap_or_else(|| panic!("no JSON in {line}"));
    serde_json::from_str(&line[start..]).unwrap_or_else(|e| panic!("{e}: {line}"))
}
