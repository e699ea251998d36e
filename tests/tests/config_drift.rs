//! The wrangler tomls and `code24_shared::names` / `schedule` must agree: a binding renamed
//! on one side only would surface as a runtime "binding not found" in production. These
//! checks read every toml of the repository and fail naming the Worker and the binding.

use std::path::{Path, PathBuf};

use code24_shared::names::{self, binding};
use code24_shared::schedule::SCHEDULES;
use toml::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ lives in the repository").to_path_buf()
}

fn load(relative: &str) -> Value {
    let path = repo().join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// The entries of an array of tables at a dotted path (e.g. `queues.producers`).
fn tables<'a>(v: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut cur = Some(v);
    for part in path.split('.') {
        cur = cur.and_then(|c| c.get(part));
    }
    cur.and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default()
}

/// Asserts the entry of `path` whose `key_field` is `key` has `field` = `expected`.
fn check_binding(worker: &str, toml: &Value, path: &str, key_field: &str, key: &str, field: &str, expected: &str) {
    let entry = tables(toml, path)
        .into_iter()
        .find(|t| str_at(t, key_field) == Some(key))
        .unwrap_or_else(|| panic!("{worker}: no [[{path}]] with {key_field} = {key:?}"));
    assert_eq!(str_at(entry, field), Some(expected), "{worker}: [[{path}]] {key}: {field}");
}

#[test]
fn dispatcher_toml_matches_names_and_schedule() {
    let t = load("wrangler.toml");
    let w = names::DISPATCHER_WORKER;
    assert_eq!(str_at(&t, "name"), Some(w));
    let crons: Vec<&str> = t["triggers"]["crons"].as_array().expect("crons").iter().filter_map(Value::as_str).collect();
    let expected: Vec<&str> = SCHEDULES.iter().map(|s| s.cron).collect();
    assert_eq!(crons, expected, "{w}: triggers.crons must equal the schedule table");
    check_binding(w, &t, "d1_databases", "binding", binding::DB, "database_name", names::PLATFORM_DB);
    check_binding(w, &t, "durable_objects.bindings", "name", binding::LEDGER, "class_name", names::LEDGER_CLASS);
    check_binding(w, &t, "durable_objects.bindings", "name", binding::LEDGER, "script_name", names::LEDGER_WORKER);
    check_binding(w, &t, "queues.producers", "binding", binding::OPTIMIZE_QUEUE, "queue", names::OPTIMIZE_QUEUE);
    check_binding(w, &t, "r2_buckets", "binding", binding::RESULTS, "bucket_name", names::RESULTS_BUCKET);
    check_binding(w, &t, "services", "binding", binding::ELITE_STANDIN, "service", names::ELITE_STANDIN_WORKER);
}

#[test]
fn ledger_toml_hosts_the_sqlite_class() {
    let t = load("ledger/wrangler.toml");
    let w = names::LEDGER_WORKER;
    assert_eq!(str_at(&t, "name"), Some(w));
    check_binding(w, &t, "durable_objects.bindings", "name", binding::LEDGER, "class_name", names::LEDGER_CLASS);
    let sqlite = tables(&t, "migrations")
        .iter()
        .flat_map(|m| m.get("new_sqlite_classes").and_then(Value::as_array).cloned().unwrap_or_default())
        .any(|c| c.as_str() == Some(names::LEDGER_CLASS));
    assert!(sqlite, "{w}: {} must be created with new_sqlite_classes", names::LEDGER_CLASS);
}

/// Every consumer sets every option explicitly: local defaults differ from production.
fn check_consumer(worker: &str, t: &Value, queue: &str, dlq: Option<&str>) {
    let c = tables(t, "queues.consumers")
        .into_iter()
        .find(|c| str_at(c, "queue") == Some(queue))
        .unwrap_or_else(|| panic!("{worker}: does not consume {queue}"));
    for option in ["max_batch_size", "max_batch_timeout", "max_retries"] {
        assert!(c.get(option).and_then(Value::as_integer).is_some(), "{worker}: consumer of {queue} must set {option}");
    }
    assert_eq!(str_at(c, "dead_letter_queue"), dlq, "{worker}: dead_letter_queue of {queue}");
}

#[test]
fn optimizer_toml_matches_names() {
    let t = load("consumers/optimizer/wrangler.toml");
    let w = names::OPTIMIZER_WORKER;
    assert_eq!(str_at(&t, "name"), Some(w));
    check_consumer(w, &t, names::OPTIMIZE_QUEUE, Some(names::OPTIMIZE_DLQ));
    // The consumer's own dead-lettering (after MAX_ATTEMPTS) must come before the queue's.
    let max_attempts: i64 = t["vars"][code24_shared::names::var::MAX_ATTEMPTS].as_str().expect("MAX_ATTEMPTS set").parse().unwrap();
    let consumer = tables(&t, "queues.consumers").into_iter().find(|c| str_at(c, "queue") == Some(names::OPTIMIZE_QUEUE)).unwrap();
    let max_retries = consumer["max_retries"].as_integer().unwrap();
    assert!(max_attempts < max_retries, "{w}: MAX_ATTEMPTS {max_attempts} must be below max_retries {max_retries}");
    check_binding(w, &t, "queues.producers", "binding", binding::DEAD_LETTER_QUEUE, "queue", names::OPTIMIZE_DLQ);
    check_binding(w, &t, "durable_objects.bindings", "name", binding::LEDGER, "script_name", names::LEDGER_WORKER);
    check_binding(w, &t, "r2_buckets", "binding", binding::RESULTS, "bucket_name", names::RESULTS_BUCKET);
    check_binding(w, &t, "analytics_engine_datasets", "binding", binding::JOB_ANALYTICS, "dataset", "code24_jobs");
    for role in code24_shared::elite::EliteRole::ALL {
        assert!(
            tables(&t, "services").iter().any(|s| str_at(s, "binding") == Some(role.binding())),
            "{w}: no service binding {}",
            role.binding()
        );
    }
}

#[test]
fn dead_letters_toml_matches_names() {
    let t = load("consumers/dead-letters/wrangler.toml");
    let w = names::DEAD_LETTERS_WORKER;
    assert_eq!(str_at(&t, "name"), Some(w));
    check_consumer(w, &t, names::OPTIMIZE_DLQ, None);
    check_binding(w, &t, "d1_databases", "binding", binding::DB, "database_name", names::PLATFORM_DB);
    check_binding(w, &t, "durable_objects.bindings", "name", binding::LEDGER, "script_name", names::LEDGER_WORKER);
    check_binding(w, &t, "r2_buckets", "binding", binding::RESULTS, "bucket_name", names::RESULTS_BUCKET);
}

#[test]
fn standin_toml_is_named_as_the_stand_in() {
    let t = load("elite-standin/wrangler.toml");
    assert_eq!(str_at(&t, "name"), Some(names::ELITE_STANDIN_WORKER));
}
