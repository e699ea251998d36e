//! The end-to-end fault tests' view of a sweep: how every active site of one sweep ended (its
//! result object, its dead letter, or neither: superseded), read from R2, the dead-letter
//! store and the ledger, and the pipeline's invariant checked over all three
//! ([`assert_every_site_ends_once`]). Also snapshots of what must not change after success:
//! R2 objects (etag, upload time, job id) and the stand-in's call counters.

use std::collections::BTreeMap;
use std::time::Duration;

use code24_shared::ids::{from_epoch_ms, CustomerId, RunId};
use code24_shared::optimization::optimization_key;
use code24_shared::schedule::Task;
use serde_json::{json, Value};
use ureq::http::Method;

use crate::{percent_encode, wait_until, Stack};

/// The optimize cron of the schedule table.
pub const SWEEP_CRON: &str = "*/3 * * * *";

/// The local sweep id of the optimize sweep scheduled at `time_ms`.
pub fn sweep_id(time_ms: i64) -> String {
    RunId::new("local", Task::Optimize, from_epoch_ms(time_ms).expect("a valid time")).as_str().to_owned()
}

/// The R2 key of `customer`'s result of the sweep scheduled at `time_ms`.
pub fn result_key(customer: &str, time_ms: i64) -> String {
    optimization_key(&CustomerId::parse(customer).expect("a valid id"), from_epoch_ms(time_ms).expect("a valid time"))
}

/// The sweep's progress, or the reply when the ledger does not know it (yet).
pub fn progress(stack: &Stack, sweep: &str) -> Result<Value, String> {
    let reply = stack.send(Method::GET, &format!("/api/sweeps/{sweep}"), None, true);
    if reply.status == 200 {
        Ok(reply.json())
    } else {
        Err(format!("{} {}", reply.status, reply.body))
    }
}

/// Waits until the ledger reports the sweep complete, and returns its progress.
#[track_caller]
pub fn wait_complete(stack: &Stack, sweep: &str, timeout: Duration) -> Value {
    wait_until(&format!("sweep {sweep} is complete"), timeout, || match progress(stack, sweep) {
        Ok(p) if p["complete"] == json!(true) => Ok(p),
        other => Err(other),
    })
}

/// One R2 object as the results listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub etag: String,
    pub uploaded_ms: i64,
    pub job_id: Option<String>,
}

/// Every object under `prefix`, by key, page by page.
#[track_caller]
pub fn objects(stack: &Stack, prefix: &str) -> BTreeMap<String, Object> {
    let mut out = BTreeMap::new();
    let mut cursor = String::new();
    loop {
        let listing = stack.get_json(&format!("/api/results?prefix={}&limit=1000{cursor}", percent_encode(prefix)));
        for o in listing["objects"].as_array().expect("objects") {
            let object = Object {
                etag: o["etag"].as_str().unwrap_or_default().to_owned(),
                uploaded_ms: o["uploaded_ms"].as_i64().unwrap_or_default(),
                job_id: o["job_id"].as_str().map(str::to_owned),
            };
            out.insert(o["key"].as_str().expect("key").to_owned(), object);
        }
        match (listing["truncated"].as_bool(), listing["cursor"].as_str()) {
            (Some(true), Some(next)) => cursor = format!("&cursor={}", percent_encode(next)),
            _ => return out,
        }
    }
}

/// The stand-in's instance id and its elite calls per customer (all roles).
#[track_caller]
pub fn calls(stack: &Stack) -> (String, BTreeMap<String, u64>) {
    let stats = stack.get_json("/api/standin/stats");
    let per_customer = stats["calls"]
        .as_object()
        .map(|m| {
            m.iter().map(|(c, roles)| (c.clone(), roles.as_object().map_or(0, |r| r.values().filter_map(Value::as_u64).sum()))).collect()
        })
        .unwrap_or_default();
    (stats["instance"].as_str().unwrap_or_default().to_owned(), per_customer)
}

/// The dead letters stored for a sweep, by customer (every one of them: a sweep of a test
/// has far fewer than a page).
#[track_caller]
pub fn dead_letters(stack: &Stack, sweep: &str) -> BTreeMap<String, Vec<Value>> {
    let page = stack.get_json(&format!("/api/dead-letters?sweep_id={}&limit=1000", percent_encode(sweep)));
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for letter in page["dead_letters"].as_array().expect("dead_letters") {
        out.entry(letter["customer_id"].as_str().unwrap_or_default().to_owned()).or_default().push(letter.clone());
    }
    out
}

/// How one site ended in one sweep.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// Its result object, written by this attempt.
    Result { attempt: u64 },
    /// Its dead letter: error class, attempts, error message.
    Dead { class: String, attempts: u64, message: String },
    /// Neither: a newer sweep took the site over (the ledger counts it as superseded).
    Superseded,
}

/// Waits until the sweep is complete and its dead letters are stored, then asserts the
/// pipeline's invariant over every site in `active`: each ends with exactly one result object
/// (whose job id is this sweep's) or one dead letter, or (counted by the ledger) neither,
/// superseded; the ledger's counts equal what R2 and the store hold, and add up to the sites.
/// Returns each site's ending.
#[track_caller]
pub fn assert_every_site_ends_once(stack: &Stack, time_ms: i64, active: &[String], timeout: Duration) -> BTreeMap<String, Ending> {
    let sweep = sweep_id(time_ms);
    let progress = wait_complete(stack, &sweep, timeout);
    let n = |k: &str| progress[k].as_u64().unwrap_or_else(|| panic!("{k} in {progress}"));
    // The dead-letters consumer stores letters shortly after the ledger records the deaths.
    let letters = wait_until(&format!("the {} dead letters of {sweep} are stored", n("dead")), timeout, || {
        let letters = dead_letters(stack, &sweep);
        if letters.values().map(Vec::len).sum::<usize>() as u64 >= n("dead") {
            Ok(letters)
        } else {
            Err(letters)
        }
    });
    let objects = objects(stack, "optimizations/");
    let mut endings = BTreeMap::new();
    let mut violations = Vec::new();
    for customer in active {
        let job_id = format!("{sweep}.{customer}");
        let object = objects.get(&result_key(customer, time_ms)).filter(|o| o.job_id.as_deref() == Some(job_id.as_str()));
        let letter = letters.get(customer);
        if letter.is_some_and(|l| l.len() > 1) {
            violations.push(format!("{customer}: {} dead letters", letter.map_or(0, Vec::len)));
        }
        let ending = match (object, letter.and_then(|l| l.first())) {
            (Some(_), Some(letter)) => {
                violations.push(format!("{customer}: both a result and a dead letter {letter}"));
                continue;
            }
            (Some(_), None) => {
                let body = stack.get_json(&format!("/api/results/{}", result_key(customer, time_ms)));
                Ending::Result { attempt: body["attempt"].as_u64().unwrap_or(0) }
            }
            (None, Some(letter)) => Ending::Dead {
                class: letter["error_class"].as_str().unwrap_or_default().to_owned(),
                attempts: letter["attempts"].as_u64().unwrap_or(0),
                message: letter["error_message"].as_str().unwrap_or_default().to_owned(),
            },
            (None, None) => Ending::Superseded,
        };
        endings.insert(customer.clone(), ending);
    }
    let count = |f: fn(&Ending) -> bool| endings.values().filter(|e| f(e)).count() as u64;
    let (results, dead, superseded) =
        (count(|e| matches!(e, Ending::Result { .. })), count(|e| matches!(e, Ending::Dead { .. })), count(|e| *e == Ending::Superseded));
    let ledger = (n("expected"), n("succeeded"), n("dead"), n("superseded"));
    if ledger != (active.len() as u64, results, dead, superseded) {
        violations.push(format!(
            "ledger (expected, succeeded, dead, superseded) = {ledger:?}, but {} active sites, {results} results, {dead} dead letters, {superseded} with neither",
            active.len()
        ));
    }
    if n("succeeded") + n("dead") + n("superseded") != n("expected") || n("in_flight") + n("retrying") != 0 {
        violations.push(format!("the ledger's counts do not add up: {progress}"));
    }
    assert!(violations.is_empty(), "sweep {sweep} broke the invariant:\n{}\nprogress: {progress}", violations.join("\n"));
    endings
}

/// The optimize job message of `customer`'s site in the sweep scheduled at `time_ms`, exactly
/// as the producer encodes it.
pub fn job_body(time_ms: i64, customer: &str, site_url: &str) -> String {
    let scheduled = from_epoch_ms(time_ms).expect("a valid time");
    code24_shared::wire::OptimizeJob::new(
        RunId::new("local", Task::Optimize, scheduled),
        scheduled,
        CustomerId::parse(customer).expect("a valid id"),
        code24_shared::site::SiteUrl::parse(site_url).expect("a valid url"),
    )
    .encode()
}
