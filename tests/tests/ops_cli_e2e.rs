//! End to end on local workerd: the ops CLI (`code24-ops`) against the stack of
//! `cargo xtask test`, run as an operator or a script runs it: the real binary, its exit
//! codes, its `--json` output. `--url` is the stack's address and the token travels in
//! `CODE24_API_TOKEN`, so neither a config file nor a `.dev.vars` is read.
//!
//! How the binary is found: `CARGO_BIN_EXE_<name>` exists only for integration tests of the
//! binary's own package, and a binary cannot be a dev-dependency. So each test process runs
//! `cargo build -p code24-ops --message-format=json` once, with the cargo that runs the tests
//! (`$CARGO`), and takes the path of the executable from cargo's own report. That build is a
//! no-op when the binary is fresh, so the test never runs a stale binary, and the path is right
//! under any `CARGO_TARGET_DIR`, profile or target triple; no path is guessed.
//!
//! The replay test drives the dead-letter workflow through the CLI only, the harness serving
//! as the operator's hands (fault knobs, the cron, the R2 object): a site failing permanently
//! is dead-lettered, found, shown, dry-run, refused without `--yes`, replayed by id into its
//! original sweep, refused a second replay (exit 1) and purged. Its sweep is scheduled later
//! than any the ledger knows ([`Stack::next_sweep_time`]), so no other test's sweep supersedes
//! it, and the sites this file registers end inactive, so later sweeps do not count them. The
//! chunked replay (60 entries: more than one request of 50) keeps its sites failing, so it
//! writes no result objects and the R2 listings of other tests stay within one page.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use code24_shared::ids::{from_epoch_ms, CustomerId, RunId};
use code24_shared::optimization::optimization_key;
use code24_shared::schedule::Task;
use code24_tests::{wait_until, Stack, TOKEN_VAR};
use serde_json::{json, Value};
use ureq::http::Method;

const CUSTOMER: &str = "ops-cli-1";
const SITE_URL: &str = "https://ops-cli-1.e2e.example";
/// The site the replay test breaks and heals.
const BROKEN: &str = "ops-cli-replay";
const SWEEP_CRON: &str = "*/3 * * * *";
const SETTLE: Duration = Duration::from_secs(120);

/// The `code24-ops` executable, built (or found fresh) once per test process.
fn binary() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let output = Command::new(&cargo)
            .args(["build", "--quiet", "-p", "code24-ops", "--message-format=json"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run `{cargo} build -p code24-ops`: {e}"));
        assert!(output.status.success(), "`cargo build -p code24-ops` failed ({}); its errors are above", output.status);
        let executable = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "code24-ops")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from));
        executable.expect("cargo reported no code24-ops executable")
    })
}

/// What one run of the CLI did.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The standard output as JSON; panics (showing the run) when it is not.
    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

/// Runs `code24-ops --url <url> ARGS` with `token` in `CODE24_API_TOKEN`, from a directory
/// without a `.dev.vars`, and without a terminal on stdin.
fn run_at(url: &str, token: &str, args: &[&str]) -> Run {
    let output = Command::new(binary())
        .arg("--url")
        .arg(url)
        .args(args)
        .env("CODE24_API_TOKEN", token)
        .env_remove("CODE24_OPS_CONFIG")
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary().display()));
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn token() -> String {
    std::env::var(TOKEN_VAR).expect("set with CODE24_E2E_URL by `cargo xtask test`")
}

/// Runs the CLI against the stack with the right token.
fn cli(stack: &Stack, args: &[&str]) -> Run {
    run_at(stack.base_url(), &token(), args)
}

#[track_caller]
fn assert_exit(run: &Run, code: i32, stderr_fragment: &str) {
    assert_eq!(run.code, code, "{run:#?}");
    assert!(run.stderr.contains(stderr_fragment), "stderr lacks {stderr_fragment:?}: {run:#?}");
}

/// A local address nothing listens on: a request there would exit 5.
fn closed_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("a bound address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn cli_registers_a_site_and_lists_it() {
    let stack = Stack::from_env();
    let added = cli(&stack, &["sites", "add", CUSTOMER, SITE_URL, "--plan", "starter", "--name", "Ops CLI", "--inactive"]);
    assert_exit(&added, 0, "");
    assert!(added.stdout.contains(&format!("Registered {CUSTOMER}")), "{added:#?}");

    let listed = cli(&stack, &["sites", "list", "--all", "--json"]);
    assert_exit(&listed, 0, "");
    let sites = listed.json()["sites"].as_array().cloned().unwrap_or_default();
    let site = sites.iter().find(|s| s["customer_id"] == CUSTOMER).unwrap_or_else(|| panic!("{CUSTOMER} not listed: {listed:#?}"));
    assert_eq!(site["url"], SITE_URL);
    assert_eq!(site["plan"], "starter");
    assert_eq!(site["name"], "Ops CLI");
    assert!(site["active"] == 0 || site["active"] == false, "registered --inactive: {site}");

    let table = cli(&stack, &["sites", "list", "--all"]);
    assert_exit(&table, 0, "");
    let row = table.stdout.lines().find(|l| l.starts_with(CUSTOMER)).unwrap_or_else(|| panic!("no row: {table:#?}"));
    assert!(row.contains(" no ") && row.contains(SITE_URL), "{row}");
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn cli_deactivates_a_site_and_names_an_unknown_one() {
    let stack = Stack::from_env();
    assert_exit(&cli(&stack, &["sites", "add", CUSTOMER, SITE_URL, "--plan", "starter", "--inactive"]), 0, "");
    let done = cli(&stack, &["sites", "deactivate", CUSTOMER, "--json"]);
    assert_exit(&done, 0, "");
    assert_eq!(done.json()["active"], false, "{done:#?}");
    let unknown = cli(&stack, &["sites", "deactivate", "ops-cli-never-registered"]);
    assert_exit(&unknown, 4, "sites list");
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn cli_reads_sweeps_for_scripts_and_humans() {
    let stack = Stack::from_env();
    let listed = cli(&stack, &["sweeps", "list", "--limit", "5", "--json"]);
    assert_exit(&listed, 0, "");
    let sweeps = listed.json();
    let sweeps = sweeps.as_array().unwrap_or_else(|| panic!("not a list: {listed:#?}"));
    assert!(sweeps.len() <= 5, "{listed:#?}");
    assert!(sweeps.iter().all(|s| s["sweep_id"].is_string() && s["complete"].is_boolean()), "{listed:#?}");
    let table = cli(&stack, &["sweeps", "list"]);
    assert_exit(&table, 0, "");
    assert!(table.stdout.starts_with("SWEEP ") || table.stdout == "No sweeps yet.\n", "{table:#?}");
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn cli_exit_codes_tell_scripts_what_went_wrong() {
    let stack = Stack::from_env();
    // 3: a refused token, with the variable to fix.
    let refused = run_at(stack.base_url(), "not-the-token", &["sweeps", "list"]);
    assert_exit(&refused, 3, "CODE24_API_TOKEN");
    // 4: an unknown sweep.
    let unknown = cli(&stack, &["sweeps", "show", "local.optimize.19990101T000000Z"]);
    assert_exit(&unknown, 4, "no sweep local.optimize.19990101T000000Z");
    // 2 before any request: at an address where a request would exit 5.
    let nowhere = closed_address();
    let invalid = run_at(&nowhere, &token(), &["dlq", "list", "--customer-id", "../x"]);
    assert_exit(&invalid, 2, "customer id contains '.'");
    let invalid = run_at(&nowhere, &token(), &["sites", "add", "ops-cli-2", "ftp://x.example", "--plan", "growth"]);
    assert_exit(&invalid, 2, "must start with http");
    // 5: nothing listening, with the command that starts the stack.
    let unreachable = run_at(&nowhere, &token(), &["sweeps", "list"]);
    assert_exit(&unreachable, 5, "cargo xtask dev");
}

/// Deactivates sites and clears the stand-in's faults when dropped, so a failed test does not
/// leave broken, active sites to the tests after it.
struct Restore<'a> {
    stack: &'a Stack,
    customers: Vec<String>,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        // `send` panics only when the stack is gone; caught, so that a failed test unwinding
        // through here reports its own failure.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.stack.send(Method::DELETE, "/api/standin/faults", None, true);
            for customer in &self.customers {
                self.stack.send(Method::POST, &format!("/api/sites/{customer}/deactivate"), Some(&json!({})), true);
            }
        }));
    }
}

/// Registers active sites, makes every Designer call about them answer 400 (permanent: dead
/// at the first attempt), fires a sweep, and returns its scheduled time and id once every
/// site's dead letter is stored.
fn dead_sweep(stack: &Stack, customers: &[String]) -> (i64, String) {
    for customer in customers {
        stack
            .post_json("/api/sites", &json!({"customer_id": customer, "url": format!("https://{customer}.e2e.example"), "plan": "growth"}));
    }
    let rules: Vec<Value> =
        customers.iter().map(|c| json!({"customer_id": c, "role": "designer", "fault": {"kind": "status", "code": 400}})).collect();
    stack.put_json("/api/standin/faults", &json!({ "rules": rules }));
    let time = stack.next_sweep_time();
    let sweep = RunId::new("local", Task::Optimize, from_epoch_ms(time).unwrap()).as_str().to_owned();
    stack.fire_cron(SWEEP_CRON, time);
    wait_until(&format!("{} dead letters of {sweep} are stored", customers.len()), SETTLE, || {
        let page = stack.get_json(&format!("/api/dead-letters?sweep_id={sweep}&limit=1000"));
        let stored = page["dead_letters"].as_array().map_or(0, Vec::len);
        if stored == customers.len() {
            Ok(())
        } else {
            Err(stored)
        }
    });
    (time, sweep)
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn cli_replays_a_dead_letter_into_its_original_sweep() {
    let stack = Stack::from_env();
    let _restore = Restore { stack: &stack, customers: vec![BROKEN.to_owned()] };
    assert_exit(&cli(&stack, &["sites", "add", BROKEN, "https://replay.e2e.example", "--plan", "growth"]), 0, "");
    // Every Designer call for this site answers 400: permanent, dead at the first attempt.
    stack.put_json(
        "/api/standin/faults",
        &json!({"rules": [{"customer_id": BROKEN, "role": "designer", "fault": {"kind": "status", "code": 400}}]}),
    );
    let time = stack.next_sweep_time();
    let sweep = RunId::new("local", Task::Optimize, from_epoch_ms(time).unwrap()).as_str().to_owned();
    let job_id = format!("{sweep}.{BROKEN}");
    stack.fire_cron(SWEEP_CRON, time);

    // Found by filter, as a script sees it.
    let filter = ["--customer", BROKEN, "--sweep", sweep.as_str()];
    let listed = wait_until("the dead letter is listed", SETTLE, || {
        let run = cli(&stack, &[&["dlq", "list", "--json"][..], &filter].concat());
        match run.code {
            0 if run.json()["dead_letters"].as_array().is_some_and(|l| !l.is_empty()) => Ok(run.json()),
            _ => Err(run),
        }
    });
    let entry = &listed["dead_letters"][0];
    assert_eq!((entry["id"].as_str(), entry["status"].as_str()), (Some(job_id.as_str()), Some("dead")), "{listed}");
    assert_eq!((entry["error_class"].as_str(), entry["attempts"].as_u64()), (Some("permanent"), Some(1)), "{listed}");

    // As an operator sees it: the table row, and the whole error in `show`.
    let table = cli(&stack, &[&["dlq", "list"][..], &filter].concat());
    assert_exit(&table, 0, "");
    assert!(table.stdout.lines().any(|l| l.starts_with(&job_id) && l.contains(" dead ")), "{table:#?}");
    let shown = cli(&stack, &["dlq", "show", &job_id]);
    assert_exit(&shown, 0, "");
    for line in ["status         dead, 0 replays", "permanent: elite designer answered HTTP 400", "job state      dead"] {
        assert!(shown.stdout.contains(line), "show lacks {line:?}: {shown:#?}");
    }

    // A dry run reports it and changes nothing; a filter replay without a terminal needs --yes.
    let dry = cli(&stack, &[&["dlq", "replay", "--dry-run"][..], &filter].concat());
    assert_exit(&dry, 0, "");
    assert!(dry.stdout.starts_with("Would replay 1 dead letter (1 matched)") && dry.stdout.contains(&job_id), "{dry:#?}");
    let unconfirmed = cli(&stack, &[&["dlq", "replay", "--reason", "e2e"][..], &filter].concat());
    assert_exit(&unconfirmed, 2, "add --yes");
    assert_eq!(cli(&stack, &["dlq", "show", &job_id, "--json"]).json()["entry"]["status"], "dead", "a dry run changed the entry");

    // Fault cleared: the replay writes the original sweep's object.
    stack.delete("/api/standin/faults", None);
    let replayed = cli(&stack, &["dlq", "replay", "--id", &job_id, "--yes", "--reason", "e2e"]);
    assert_exit(&replayed, 0, "");
    assert!(replayed.stdout.starts_with("Replayed 1 dead letter."), "{replayed:#?}");
    let key = optimization_key(&CustomerId::parse(BROKEN).unwrap(), from_epoch_ms(time).unwrap());
    let object = wait_until("the replay wrote the original sweep's object", SETTLE, || {
        let reply = stack.send(Method::GET, &format!("/api/results/{key}"), None, true);
        if reply.status == 200 {
            Ok(reply.json())
        } else {
            Err(reply)
        }
    });
    assert_eq!(object["job_id"], json!(job_id));

    // Replaying it again skips it: exit 1, saying so.
    let again = cli(&stack, &["dlq", "replay", "--id", &job_id, "--yes", "--reason", "e2e"]);
    assert_exit(&again, 1, "1 of the 1 selected dead letter was not replayed");
    assert!(again.stdout.contains("status is replayed"), "{again:#?}");

    // Purged: gone from the default list, kept with status purged.
    let purged = cli(&stack, &["dlq", "purge", "--id", &job_id, "--json", "--reason", "cli e2e: healed, clearing"]);
    assert_exit(&purged, 0, "");
    assert_eq!(purged.json()["done"], json!([job_id]));
    // Without a reason a purge is refused before anything is sent (exit 2).
    assert_exit(&cli(&stack, &["dlq", "purge", "--id", &job_id]), 2, "a reason is required");
    // The audit log shows the purge with its reason and count, as a table and as JSON.
    let audit = cli(&stack, &["audit", "list", "--action", "dead_letters.purge", "--limit", "1"]);
    assert_exit(&audit, 0, "");
    assert!(audit.stdout.contains("admin-token") && audit.stdout.contains("cli e2e: healed, clearing"), "{audit:#?}");
    let entry = cli(&stack, &["audit", "list", "--action", "dead_letters.purge", "--limit", "1", "--json"]).json()["entries"][0].clone();
    assert_eq!((entry["count"].clone(), entry["reason"].clone()), (json!(1), json!("cli e2e: healed, clearing")), "{entry}");
    assert!(entry["request"].as_str().unwrap().contains(&job_id), "{entry}");
    let remaining = cli(&stack, &[&["dlq", "list", "--json"][..], &filter].concat());
    assert_eq!(remaining.json()["dead_letters"], json!([]), "{remaining:#?}");
    assert_eq!(cli(&stack, &["dlq", "show", &job_id, "--json"]).json()["entry"]["status"], "purged");

    assert_exit(&cli(&stack, &["sites", "deactivate", BROKEN]), 0, "");
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn cli_replays_and_purges_more_than_one_chunk_with_progress() {
    let stack = Stack::from_env();
    let customers: Vec<String> = (0..60).map(|i| format!("ops-cli-bulk-{i:02}")).collect();
    let _restore = Restore { stack: &stack, customers: customers.clone() };
    let (_, sweep) = dead_sweep(&stack, &customers);

    // Pages of 25, followed to the end.
    let listed = cli(&stack, &["dlq", "list", "--sweep", &sweep, "--limit", "25", "--all", "--json"]);
    assert_exit(&listed, 0, "");
    assert_eq!(listed.json()["dead_letters"].as_array().map(Vec::len), Some(60), "{listed:#?}");

    // 60 entries: listed through the API, sent as ids 50 and then 10, one progress line each.
    // The fault stays on, so every replay dies again and writes no object (the R2 listings of
    // other tests stay within one page).
    let replayed = cli(&stack, &["dlq", "replay", "--sweep", &sweep, "--rate", "200", "--yes", "--reason", "e2e"]);
    assert_exit(&replayed, 0, "replaying  50/60 [#########################.....] 83%");
    assert!(replayed.stderr.contains("replaying  60/60 [##############################] 100%"), "{replayed:#?}");
    assert!(replayed.stdout.contains("Would replay 60 dead letters (60 matched)"), "the preview: {replayed:#?}");
    assert!(replayed.stdout.contains("Replayed 60 dead letters.\n"), "{replayed:#?}");
    wait_until("every replay died again and is back as dead", SETTLE, || {
        let run = cli(&stack, &["dlq", "list", "--sweep", &sweep, "--status", "dead", "--limit", "1000", "--json"]);
        let page = run.json();
        let again = page["dead_letters"].as_array().map_or(0, |l| l.iter().filter(|e| e["replay_count"] == 1).count());
        if again == 60 {
            Ok(())
        } else {
            Err(again)
        }
    });

    // A filter purge of the same 60 entries, chunked the same way.
    let purged = cli(&stack, &["dlq", "purge", "--sweep", &sweep, "--yes", "--json", "--reason", "e2e"]);
    assert_exit(&purged, 0, "purging    60/60");
    assert_eq!(purged.json()["done"].as_array().map(Vec::len), Some(60), "{purged:#?}");
    let left = cli(&stack, &["dlq", "list", "--sweep", &sweep, "--json"]);
    assert_eq!(left.json()["dead_letters"], json!([]), "{left:#?}");
}
