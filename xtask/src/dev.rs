//! `cargo xtask dev`: the whole pipeline on local workerd, driven by a local cron clock.
//!
//! Crons never fire by themselves under `wrangler dev`, so this task is the clock: at every
//! minute boundary it fires each schedule of [`SCHEDULES`] whose cron matches that minute
//! (decided by `code24_shared::schedule::fires_at`, i.e. Cloudflare's own cron parser), with
//! that minute as the event's scheduled time, exactly as Cloudflare would.

use std::path::Path;
use std::thread;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use code24_shared::schedule::{fires_at, latest_at_or_before, Schedule, SCHEDULES};

use crate::interrupt::{self, Interrupt};
use crate::setup::{self, Tools};
use crate::stack::{self, Stack};
use crate::{cmd, workers, Result};

pub(crate) const DEFAULT_PORT: u16 = 8787;
/// The local state of `dev`, kept across runs (git-ignored).
const STATE_DIR: &str = ".state";
/// Demo customer sites; optional, must be idempotent (`INSERT OR IGNORE`).
const DEMO_SEED: &str = "seed/demo.sql";

#[derive(Debug)]
pub(crate) struct Options {
    pub(crate) port: u16,
    /// `false` with `--no-build`: reuse the bundles already in each crate's `build/`.
    pub(crate) build: bool,
}

pub(crate) fn run(root: &Path, options: Options) -> Result<()> {
    setup::run(root)?;
    if options.build {
        workers::build(root, None)?;
    }
    let tools = Tools::at(root);
    let persist_dir = root.join(STATE_DIR);
    stack::apply_migrations(root, &tools, &persist_dir)?;
    let seed = root.join(DEMO_SEED);
    if seed.is_file() {
        stack::execute_sql(root, &tools, &persist_dir, &seed)?;
    } else {
        println!("dev: no {DEMO_SEED}; the site registry starts empty");
    }
    let token = crate::dev_vars::ensure(root)?;

    let interrupt = interrupt::install()?;
    let mut stack = Stack::start(
        root,
        &tools,
        &stack::Options { log_path: persist_dir.join("wrangler.log"), persist_dir, port: options.port, inspector_port: None, echo: true },
    )?;
    let ready_in = stack
        .wait_ready(&interrupt)
        .map_err(|e| format!("the local stack did not come up: {e}\n--- wrangler log (tail) ---\n{}", stack.log_tail(40)))?;
    println!("dev: stack answers on {} after {}", stack.base_url(), cmd::duration(ready_in));
    print_where_to_look(stack.base_url(), &token);

    // The most recent slot of every schedule at once, so a fresh `dev` shows every kind of
    // result (a sweep, a health check, last month's analytics and end-of-month reports) without
    // waiting weeks for their next slots. On a restart over the same state the ledger
    // recognises each run and enqueues nothing twice.
    for schedule in SCHEDULES {
        match latest_at_or_before(schedule.cron, Utc::now()) {
            Ok(Some(slot)) => fire(&stack, schedule, slot, &token),
            Ok(None) => {}
            Err(e) => println!("[clock] {e}"),
        }
    }
    clock(&mut stack, &interrupt, &token)
}

/// Fires every matching schedule at each minute boundary until interrupted or wrangler exits.
fn clock(stack: &mut Stack, interrupt: &Interrupt, token: &str) -> Result<()> {
    println!(
        "dev: local cron clock running ({}); Ctrl-C stops everything",
        SCHEDULES.iter().map(|s| s.cron).collect::<Vec<_>>().join(", ")
    );
    let mut next = floor_to_minute(Utc::now()) + TimeDelta::minutes(1);
    loop {
        // Short naps keep Ctrl-C and a crashed wrangler responsive; the firing time itself
        // comes from the boundary, not from when the nap ended.
        while Utc::now() < next {
            if interrupt.requested() {
                println!("\ndev: stopping");
                stack.stop();
                return Ok(());
            }
            if let Some(status) = stack.exited() {
                return Err(format!("wrangler exited ({status})\n{}", stack.log_tail(40)));
            }
            thread::sleep(Duration::from_millis(200));
        }
        for schedule in SCHEDULES {
            match fires_at(schedule.cron, next) {
                Ok(true) => fire(stack, schedule, next, token),
                Ok(false) => {}
                Err(e) => println!("[clock] {e}"),
            }
        }
        next += TimeDelta::minutes(1);
    }
}

/// Fires one schedule and prints one line about it; a failed firing is reported, not fatal.
/// A background watcher then prints the sweep's progress until it completes.
fn fire(stack: &Stack, schedule: &Schedule, at: DateTime<Utc>, token: &str) {
    let time_ms = at.timestamp_millis();
    let outcome = match stack.fire_cron(schedule.cron, time_ms) {
        Ok((status, _)) if (200..300).contains(&status) => format!("{status}"),
        Ok((status, body)) => format!("{status} {}", body.trim()),
        Err(e) => format!("failed: {e}"),
    };
    println!("[clock] {} fired `{}` ({}) time={time_ms} -> {outcome}", at.format("%Y-%m-%d %H:%MZ"), schedule.cron, schedule.task);
    stack.watch_sweep(schedule.task.as_str(), time_ms, token);
}

fn floor_to_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::minutes(1)).unwrap_or(t)
}

fn print_where_to_look(base: &str, token: &str) {
    println!(
        "\ndev: where to look (dispatcher admin API):\n  \
         curl -H 'Authorization: Bearer {token}' {base}/api/sweeps\n  \
         curl -H 'Authorization: Bearer {token}' {base}/api/sweeps/<id>\n  \
         curl -H 'Authorization: Bearer {token}' '{base}/api/results?prefix=optimizations/'\n"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_clock_fires_on_whole_minutes() {
        let t = Utc.with_ymd_and_hms(2026, 11, 29, 2, 21, 0).unwrap();
        assert_eq!(floor_to_minute(t + TimeDelta::milliseconds(59_999)), t);
        assert_eq!(floor_to_minute(t).timestamp_millis() % 60_000, 0);
    }
}
